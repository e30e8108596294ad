"""Sample efficiency of HAPPO / HATRPO / MAPPO / IPPO on Multi-Agent MuJoCo (HARL's tuned config, trmarl's defaults).

One run per call; results go to ``--out/<ALGO>_<env>_<obs_mode>_s<seed>/``: ``eval.csv`` (env steps, mean and std of
the deterministic evaluation return), ``progress.csv`` (SB3 logger), ``summary.json`` and ``model.zip``.
``benchmarks/summarize_onpolicy.py`` turns several runs into the median table and plot of ``docs/benchmarks.md``.

    python benchmarks/onpolicy_mamujoco.py --algo HAPPO --seed 1 --timesteps 2e6 --obs-mode global-z

``--obs-mode``: ``global-z`` is HARL's exact setting (``obs_mode="global", obs_zscore=True``: every agent observes the
per-sample z-score of ``concat(s, one_hot(i))``, the critic ``z(s)``); ``global`` the same without the z-score;
``local`` Gymnasium-Robotics' partial observations. ``--harl-exact-gae`` sets ``harl_exact=True`` (HARL's GAE: no
bootstrap from the final state of a time-limited episode); the run's obs label gets ``+harl-gae``. ``--ent-coef C``
overrides the entropy coefficient (label ``+entC``): HARL before its issue #52 fix summed the entropy over the batch
instead of averaging it, i.e. ``ent_coef = 0.01 x 4000 = 40`` on trmarl's mean, the objective its published MaMuJoCo
curves were probably made with.

HARL evaluates 40 deterministic episodes every 25 iterations (100k steps); the default here is 10 episodes every
100k steps, to keep evaluation cheap on two cores.
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
    parser.add_argument("--algo", default="HAPPO", choices=["HAPPO", "HATRPO", "MAPPO", "IPPO"])
    parser.add_argument("--env", default="MaMuJoCo-HalfCheetah-2x3")
    parser.add_argument("--obs-mode", default="global", choices=["global-z", "global", "local"])
    parser.add_argument("--harl-exact-gae", action="store_true", help="harl_exact=True (HARL's truncation GAE)")
    parser.add_argument("--ent-coef", type=float, default=None, help="entropy coefficient (default: the algorithm's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timesteps", type=float, default=2e6)
    parser.add_argument("--eval-every", type=int, default=100_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args()

    label = args.obs_mode + ("+harl-gae" if args.harl_exact_gae else "")
    extra = {} if args.ent_coef is None else {"ent_coef": args.ent_coef}
    label += "" if args.ent_coef is None else f"+ent{args.ent_coef:g}"
    run = args.out / f"{args.algo}_{args.env}_{label}_s{args.seed}"
    run.mkdir(parents=True, exist_ok=True)
    env_kwargs = {"obs_mode": "local" if args.obs_mode == "local" else "global", "obs_zscore": args.obs_mode == "global-z"}
    model = getattr(trmarl, args.algo)(
        args.env, seed=args.seed, env_kwargs=env_kwargs, verbose=0, harl_exact=args.harl_exact_gae, **extra
    )
    model.set_logger(configure(str(run), ["csv"]))
    eval_env = make_vec_env(args.env, n_envs=args.eval_episodes, seed=args.seed + 10_000, env_kwargs=env_kwargs)
    callback, elapsed = train_with_periodic_eval(model, args.timesteps, eval_env, args.eval_every, args.eval_episodes, run)
    final = callback.rows[-1]
    summary = {
        "algo": args.algo,
        "env": args.env,
        "obs_mode": label,
        "seed": args.seed,
        "timesteps": int(model.num_timesteps),
        "final_mean_return": final[1],
        "best_mean_return": float(np.max([r[1] for r in callback.rows])),
        "wall_seconds": round(elapsed, 1),
        "steps_per_second_incl_eval": round(model.num_timesteps / elapsed, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    (run / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
