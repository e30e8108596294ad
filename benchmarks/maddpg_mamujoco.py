"""Sample efficiency and speed of MADDPG / MATD3 on Multi-Agent MuJoCo (HARL's MaMuJoCo config, trmarl's defaults).

One run per call; results go to ``--out/<ALGO>_<env>_<obs_mode>_s<seed>/``: ``eval.csv`` (env steps, mean and std of
the deterministic evaluation return, wall time), ``progress.csv`` (SB3 logger), ``summary.json`` and ``model.zip``, the
same layout as ``benchmarks/onpolicy_mamujoco.py``.

    python benchmarks/maddpg_mamujoco.py --algo MADDPG --seed 1 --timesteps 1e6 --obs-mode global
    python benchmarks/maddpg_mamujoco.py --algo MATD3 --seed 1 --timesteps 5e4 --eval-every 10000

HARL evaluates 40 deterministic episodes every 10k steps; the default here is 10 episodes every 50k steps, to keep
evaluation cheap on two cores. HARL's MADDPG/MATD3 train one critic for the team, so ``--critic shared`` is the default
here; ``--critic per-agent`` gives the paper's one critic per agent (twice the critic cost for two agents). ``--n-step``
sets HARL's n-step returns (tuned HalfCheetah-2x3: 20 for MADDPG, 10 for MATD3; trmarl's default is 1, the papers').
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
from _periodic_eval import train_with_periodic_eval  # benchmarks/ is on sys.path when run as a script
from stable_baselines3.common.logger import configure

import trmarl
from trmarl import make_vec_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="MADDPG", choices=["MADDPG", "MATD3"])
    parser.add_argument("--env", default="MaMuJoCo-HalfCheetah-2x3")
    parser.add_argument("--obs-mode", default="global", choices=["global", "local"])
    parser.add_argument("--critic", default="shared", choices=["shared", "per-agent"])
    parser.add_argument("--n-step", type=int, default=1, help="n-step returns (HARL tuned HalfCheetah: 20 / 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timesteps", type=float, default=1e6)
    parser.add_argument("--eval-every", type=int, default=50_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args()

    from trmarl.agents.maddpg import MADDPG, MATD3  # MATD3 is not (yet) a top-level trmarl name

    cls = {"MADDPG": MADDPG, "MATD3": MATD3}[args.algo]
    suffix = "" if args.n_step == 1 else f"_n{args.n_step}"
    run = args.out / f"{args.algo}{suffix}_{args.env}_{args.obs_mode}_s{args.seed}"
    run.mkdir(parents=True, exist_ok=True)
    env_kwargs = {"obs_mode": args.obs_mode}
    shared = args.critic == "shared"
    model = cls(args.env, seed=args.seed, env_kwargs=env_kwargs, verbose=0, shared_critic=shared, n_step=args.n_step)
    model.set_logger(configure(str(run), ["csv"]))
    eval_env = make_vec_env(args.env, n_envs=args.eval_episodes, seed=args.seed + 10_000, env_kwargs=env_kwargs)
    callback, elapsed = train_with_periodic_eval(model, args.timesteps, eval_env, args.eval_every, args.eval_episodes, run)
    final = callback.rows[-1]
    train_seconds = elapsed - callback.eval_seconds
    summary = {
        "algo": args.algo,
        "env": args.env,
        "obs_mode": args.obs_mode,
        "critic": args.critic,
        "n_step": args.n_step,
        "seed": args.seed,
        "timesteps": int(model.num_timesteps),
        "final_mean_return": final[1],
        "best_mean_return": float(np.max([r[1] for r in callback.rows])),
        "wall_seconds": round(elapsed, 1),
        "steps_per_second_incl_eval": round(model.num_timesteps / elapsed, 1),
        "training_steps_per_second": round(model.num_timesteps / max(train_seconds, 1e-9), 1),
        "gradient_steps": int(model._n_updates),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        trmarl.__name__ + "_version": trmarl.__version__,
    }
    (run / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
