"""The authors' QTRAN-base on the QTRAN paper's predator-prey, trained the way their code trains it.

Two predators on a 5x5 grid earn +1 when both stand next to the randomly walking prey and pay ``P`` when only one
does, so a predator that closes in alone is punished: keeping away (about -1 per episode) is the trap, chasing
together (about +25) the goal. This script trains QTRAN with the authors' network (``qtran_arch="authors"``), their
agents (``observation="relative"``, three hidden layers, ``N(0, 0.1)`` initialisation, 9,600 random warm-up steps)
and their learner (one gradient step on 32 single transitions per env step), prints the greedy test return as it
goes, saves the model and replays one greedy episode with the captures and penalties it collects.

Run: ``python examples/qtran_predator_prey.py`` (600k env steps, about half an hour on one CPU core: the 1M-step
benchmark run of this setting took 2,713 s; there, at ``P = 0.5`` with epsilon annealed over 450k steps rather than
the 270k of this 600k-step default, it left the trap by 200k steps and scored 28.9 at 1M, see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import trmarl
from trmarl import QTRAN


def authors_setting(timesteps: int, warmup: int) -> dict:
    """The authors' ``Predator-Prey/agents/pos_cac_fo`` learner and networks (see ``benchmarks/qtran_games.py``)."""
    return dict(
        qtran_arch="authors",
        opt_loss=1.0,
        nopt_min_loss=1.0,  # their loss weights
        n_envs=1,
        sample_unit="step",  # one gradient step on 32 transitions drawn from the replay per env step
        steps_per_update=1,
        batch_size=32,
        buffer_size=6000,  # episodes of 100 steps: their 600k transitions
        optimizer="adam",
        lr=5e-4,
        adam_eps=1.5e-4,
        td_lambda=0.0,
        double_q=False,
        epsilon_start=1.0,
        epsilon_finish=0.1,
        epsilon_anneal_time=int(0.45 * timesteps),  # their epsilon falls by 2 / T per step
        target_update_interval=100,  # episodes: every 10,000 steps
        grad_norm_clip=1e6,  # no clipping
        use_rnn=False,
        obs_last_action=False,
        obs_agent_id=False,  # the id i / n is part of the relative observation
        hidden_dim=64,
        mlp_hidden_layers=3,
        init_std=0.1,
        warmup_steps=warmup,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=600_000, help="env steps (default 600k)")
    parser.add_argument("--penalty", type=float, default=0.5, help="the miss penalty P (the paper: 0.5, 1.0, 1.5)")
    parser.add_argument("--warmup", type=int, default=9600, help="random steps before the first update (9,600)")
    parser.add_argument("--test-interval", type=int, default=50_000, help="env steps between greedy tests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/example_qtran_predator_prey"))
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny networks: one thread is fastest

    env_kwargs = {"penalty": args.penalty, "observation": "relative"}
    model = QTRAN(
        "PredatorPrey-5x5",
        seed=args.seed,
        env_kwargs=env_kwargs,
        device="cpu",
        verbose=0,
        test_nepisode=0,  # the loop below runs the tests
        **authors_setting(args.timesteps, args.warmup),
    )
    print(f"QTRAN (authors') on PredatorPrey-5x5, P = {args.penalty}, {args.timesteps} env steps")
    done = 0
    while done < args.timesteps:
        chunk = min(args.test_interval, args.timesteps - done)
        model.learn(chunk, reset_num_timesteps=done == 0)
        done = model.num_timesteps
        test = model.run_test_episodes(model.env, 16)
        print(f"  {done:>8} steps  epsilon {model.exploration_rate:.2f}  greedy test return {test['ep_rew_mean']:6.1f}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = model.save(args.out / "model")
    print(f"saved {path}")

    env = trmarl.make("PredatorPrey-5x5", render_mode="ansi", **env_kwargs)
    obs, _ = env.reset(seed=1000)
    captures = penalties = 0
    total = 0.0
    while env.agents:
        stacked = np.stack([obs[a] for a in env.possible_agents])[None]  # (1, N, D)
        actions, _ = model.predict(stacked, deterministic=True)
        obs, rewards, _, _, infos = env.step({a: int(actions[0, i]) for i, a in enumerate(env.possible_agents)})
        total += rewards["predator_0"]
        captures += infos["predator_0"]["captures"]
        penalties += infos["predator_0"]["penalties"]
    print(f"one greedy episode: return {total:.1f}, {captures} captures, {penalties} penalties; the last grid:")
    print(env.render())


if __name__ == "__main__":
    main()
