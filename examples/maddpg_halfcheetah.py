"""Train MADDPG (or MATD3) on Multi-Agent MuJoCo HalfCheetah 2x3 for a short run and print a summary.

Two agents each control one leg of the HalfCheetah (3 joints each) and share the team reward. Each agent has a
deterministic actor on its own observation; one centralized critic scores the state and the joint action (HARL's
setting for cooperative MaMuJoCo: ``shared_critic=True``). The other hyperparameters are trmarl's defaults, HARL's
MaMuJoCo MADDPG config: 10 envs, 10k random warm-up steps, one gradient step on 1000 transitions per vec-env step,
hidden layers [256, 256], learning rates 5e-4 / 1e-3, exploration noise 0.1.

    python examples/maddpg_halfcheetah.py --timesteps 3e4 --seed 1 --out runs/maddpg_halfcheetah
    python examples/maddpg_halfcheetah.py --algo MATD3

writes ``model.zip`` and ``progress.csv`` to ``--out`` and prints the deterministic return before and after training.
Off-policy updates with batches of 1000 are heavy for a CPU: with the defaults, training runs at roughly 140 env
steps/s on one core after the warm-up (see docs/algorithms/maddpg.md for measured numbers).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from stable_baselines3.common.logger import configure

from trmarl import evaluate_policy, make, make_vec_env
from trmarl.agents.maddpg import MADDPG, MATD3


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=["MADDPG", "MATD3"], default="MADDPG", help="MATD3: MADDPG + TD3's refinements")
    parser.add_argument("--timesteps", type=float, default=30_000, help="environment steps to train for (default 3e4)")
    parser.add_argument(
        "--obs-mode",
        choices=["global-z", "global", "local"],
        default="global-z",
        help="MaMuJoCo observations: global-z is HARL's (z-scored state + agent id), global the same raw",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1, as HARL)")
    parser.add_argument("--out", type=Path, default=Path("runs/maddpg_halfcheetah"), help="output folder")
    parser.add_argument("--n-envs", type=int, default=10, help="parallel environments (HARL: 10)")
    parser.add_argument("--warmup-steps", type=int, default=10_000, help="random-action steps before training")
    parser.add_argument("--batch-size", type=int, default=1000, help="transitions per gradient step (HARL: 1000)")
    parser.add_argument("--eval-episodes", type=int, default=5, help="deterministic evaluation episodes")
    parser.add_argument("--max-episode-steps", type=int, default=1000, help="episode time limit (MaMuJoCo: 1000)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    def factory() -> object:
        mode = "local" if args.obs_mode == "local" else "global"
        zscore = args.obs_mode == "global-z"
        return make("MaMuJoCo-HalfCheetah-2x3", obs_mode=mode, obs_zscore=zscore, max_episode_steps=args.max_episode_steps)

    cls = MATD3 if args.algo == "MATD3" else MADDPG
    model = cls(
        factory,
        seed=args.seed,
        n_envs=args.n_envs,
        shared_critic=True,
        warmup_steps=args.warmup_steps,
        batch_size=args.batch_size,
        verbose=1,
    )
    model.set_logger(configure(str(args.out), ["stdout", "csv"]))
    eval_env = make_vec_env(factory, n_envs=args.eval_episodes, seed=args.seed + 1000)
    before, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes)
    start = time.perf_counter()
    model.learn(args.timesteps)
    elapsed = time.perf_counter() - start
    after, after_std = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes)
    eval_env.close()
    model.save(args.out / "model.zip")

    print(f"\n{args.algo}: trained {model.num_timesteps} steps ({model._n_updates} gradient steps) in {elapsed:.1f} s")
    print(f"deterministic return: {before:.1f} before training -> {after:.1f} +- {after_std:.1f} after")
    print(f"wrote {args.out / 'model.zip'} and {args.out / 'progress.csv'}")
    return {"before": float(before), "after": float(after), "seconds": elapsed}


if __name__ == "__main__":
    main()
