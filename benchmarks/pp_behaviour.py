"""What a trained predator-prey policy does: captures, lone-predator penalties and distance to the prey per episode.

    python benchmarks/pp_behaviour.py runs/qtran_pp/PredatorPrey-5x5_P1_QMIX_authors-steps_s0 \\
        runs/qtran_pp/PredatorPrey-5x5_P1_QTRAN_authors-steps_s0 --episodes 50

Loads each run folder's ``checkpoint.zip`` (written by ``qtran_games.py --pp-checkpoint``) and plays greedy episodes on
the folder's env and penalty (env seeds 1000, 1001, ..., the same for every run). One markdown row per run: mean
return, captures (steps with two predators next to a prey), penalties (steps with exactly one), and the mean
Manhattan distance from each prey to its nearest predator, which tells a keep-away policy (far) from a chasing one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from summarize_pp import NAME  # benchmarks/ is on sys.path when run as a script

import trmarl


def behaviour(folder: Path, n_episodes: int) -> dict[str, float]:
    """Greedy episodes of the model in ``folder/checkpoint.zip``: per-episode means of return, captures, penalties
    and the nearest-predator distance averaged over steps and prey."""
    match = NAME.match(folder.name)
    if match is None:
        raise SystemExit(f"{folder}: not a predator-prey run folder ({{env}}_P{{penalty}}_{{algo}}_...)")
    model = getattr(trmarl, match["algo"].split("-")[0]).load(folder / "checkpoint.zip", device="cpu")  # QTRAN-authors: QTRAN
    observation = "relative" if match["setting"] == "authors-agents" else "absolute"  # what the agents were trained on
    env = trmarl.make(match["env"], penalty=float(match["penalty"]), observation=observation)
    base = env.unwrapped
    totals: dict[str, list[float]] = {"return": [], "captures": [], "penalties": [], "distance": []}
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=1000 + episode)
        state, done = None, False
        ret = captures = penalties = 0.0
        distances = []
        while not done:
            actions, state = model.predict(obs, state, deterministic=True)
            obs, rewards, terms, truncs, infos = env.step(actions)
            info = next(iter(infos.values()))
            ret += float(next(iter(rewards.values())))
            captures += info["captures"]
            penalties += info["penalties"]
            gaps = np.abs(base.predator_positions[:, None] - base.prey_positions[None]).sum(-1)  # (predator, prey)
            distances.append(gaps.min(0).mean())
            done = all(terms.values()) or all(truncs.values())
        for key, value in zip(totals, (ret, captures, penalties, float(np.mean(distances)))):
            totals[key].append(value)
    env.close()
    return {key: float(np.mean(values)) for key, values in totals.items()} | {"steps": model.num_timesteps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="predator-prey run folders with a checkpoint.zip")
    parser.add_argument("--episodes", type=int, default=50)
    args = parser.parse_args()
    print("| run | steps | return | captures | penalties | nearest predator (cells) |")
    print("|---|---|---|---|---|---|")
    for folder in args.folders:
        if not (folder / "checkpoint.zip").exists():
            print(f"| {folder.name} | no checkpoint.zip (run without --pp-checkpoint) | | | | |", flush=True)
            continue
        b = behaviour(folder, args.episodes)
        print(
            f"| {folder.name} | {b['steps'] / 1e6:g}M | {b['return']:.1f} | {b['captures']:.1f} | {b['penalties']:.1f} "
            f"| {b['distance']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
