"""Train HAPPO on Multi-Agent MuJoCo HalfCheetah 2x3 and plot the learning curve.

Two agents each control one leg of the HalfCheetah (3 joints each) and share the team reward. The hyperparameters are
HARL's tuned HalfCheetah-2x3 config (trmarl's defaults): 20 envs x 200 steps per iteration, 15 actor and critic
epochs, clip 0.05, learning rate 5e-4, hidden layers [128, 128, 128].

    python examples/happo_halfcheetah.py --timesteps 3e5 --seed 1 --out runs/happo_halfcheetah

writes ``model.zip``, ``progress.csv`` (training logs), ``learning_curve.csv`` and ``learning_curve.png`` (deterministic
evaluation every ``--eval-every`` steps) to ``--out`` and prints a summary. Agents observe the full state plus their
one-hot id (``obs_mode="global"``, HARL's setting; ``--obs-mode local`` gives gymnasium-robotics' partial k-hop
observations). The default 300k steps take about two to three minutes on two CPU cores and reach a deterministic
return of about 1000 (seed 1, measured: ~0 at 100k steps, ~700 at 200k, ~1000 at 300k); HARL reports about 2600 after 1M steps,
4500 after 2M and 7000 after 10M (see docs/benchmarks.md for trmarl's longer runs).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from stable_baselines3.common.logger import configure

from trmarl import HAPPO, evaluate_policy, make_vec_env
from trmarl.common.callbacks import EvalCallback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=float, default=300_000, help="environment steps to train for (default 3e5)")
    parser.add_argument("--obs-mode", choices=["global", "local"], default="global", help="MaMuJoCo observation mode")
    parser.add_argument("--eval-every", type=int, default=20_000, help="environment steps between evaluations")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1, as HARL)")
    parser.add_argument("--out", type=Path, default=Path("runs/happo_halfcheetah"), help="output folder")
    parser.add_argument("--n-envs", type=int, default=20, help="parallel environments (HARL: 20)")
    parser.add_argument("--eval-episodes", type=int, default=5, help="deterministic evaluation episodes per evaluation")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    env_kwargs = {"obs_mode": args.obs_mode}
    model = HAPPO("MaMuJoCo-HalfCheetah-2x3", seed=args.seed, n_envs=args.n_envs, env_kwargs=env_kwargs, verbose=1)
    model.set_logger(configure(str(args.out), ["stdout", "csv"]))
    # deterministic evaluation every --eval-every env steps (one callback call = one step of the n_envs envs)
    eval_env = make_vec_env(
        "MaMuJoCo-HalfCheetah-2x3", n_envs=args.eval_episodes, seed=args.seed + 1000, env_kwargs=env_kwargs
    )
    eval_freq = max(1, args.eval_every // args.n_envs)
    evaluator = EvalCallback(eval_env, n_eval_episodes=args.eval_episodes, eval_freq=eval_freq, verbose=1)
    initial, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes)
    start = time.perf_counter()
    model.learn(args.timesteps, callback=evaluator)
    elapsed = time.perf_counter() - start
    model.save(args.out / "model.zip")

    steps = [0, *evaluator.evaluations_timesteps]
    returns = [initial, *(float(np.mean(r)) for r in evaluator.evaluations_results)]
    with open(args.out / "learning_curve.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("timesteps", "eval_mean_return"), *zip(steps, returns)])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(steps, returns, marker="o")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"mean return ({args.eval_episodes} deterministic episodes)")
    ax.set_title("HAPPO on MaMuJoCo HalfCheetah 2x3")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "learning_curve.png", dpi=120)
    eval_env.close()

    train_seconds = elapsed  # includes the evaluations
    print(f"\ntrained {model.num_timesteps} steps in {train_seconds:.1f} s (evaluations included)")
    print(f"deterministic return: {returns[0]:.1f} before training -> {returns[-1]:.1f} after")
    print(f"wrote {args.out / 'model.zip'}, {args.out / 'learning_curve.csv'}, {args.out / 'learning_curve.png'}")


if __name__ == "__main__":
    main()
