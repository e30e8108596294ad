"""Sample efficiency and speed of MADDPG / MATD3 on Multi-Agent MuJoCo (HARL's MaMuJoCo config, trmarl's defaults).

One run per call; results go to ``--out/<ALGO>_<env>_<obs_mode>_s<seed>/``: ``eval.csv`` (env steps, mean and std of
the deterministic evaluation return, wall time), ``progress.csv`` (SB3 logger), ``summary.json`` and ``model.zip``, the
same layout as ``benchmarks/onpolicy_mamujoco.py``.

    python benchmarks/maddpg_mamujoco.py --algo MADDPG --seed 1 --timesteps 1e6 --obs-mode global-z
    python benchmarks/maddpg_mamujoco.py --algo MATD3 --seed 1 --timesteps 5e4 --eval-every 10000

``--obs-mode global-z`` is HARL's setting (per-sample z-scored ``concat(s, one_hot(i))``; it matters here, as HARL's
MADDPG networks have no input LayerNorm). ``--checkpoint`` saves the model and the replay buffer after every
evaluation and ``--resume`` continues from them, so a 1M-step run (about 1.5 h on one core) survives interruption; a
resumed run restarts the episodes that were in flight.

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
import time
from pathlib import Path

import numpy as np
from _periodic_eval import PeriodicEval, train_with_periodic_eval  # benchmarks/ is on sys.path when run as a script

import trmarl
from trmarl import make_vec_env
from trmarl.common.logs import configure_logger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="MADDPG", choices=["MADDPG", "MATD3"])
    parser.add_argument("--env", default="MaMuJoCo-HalfCheetah-2x3")
    parser.add_argument("--obs-mode", default="global", choices=["global-z", "global", "local"])
    parser.add_argument("--critic", default="shared", choices=["shared", "per-agent"])
    parser.add_argument("--n-step", type=int, default=1, help="n-step returns (HARL tuned HalfCheetah: 20 / 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timesteps", type=float, default=1e6)
    parser.add_argument("--eval-every", type=int, default=50_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--checkpoint", action="store_true", help="save model + replay after every evaluation")
    parser.add_argument("--resume", action="store_true", help="continue from the run's checkpoint if it has one")
    args = parser.parse_args()

    from trmarl.agents.maddpg import MADDPG, MATD3  # MATD3 is not (yet) a top-level trmarl name

    cls = {"MADDPG": MADDPG, "MATD3": MATD3}[args.algo]
    suffix = "" if args.n_step == 1 else f"_n{args.n_step}"
    run = args.out / f"{args.algo}{suffix}_{args.env}_{args.obs_mode}_s{args.seed}"
    run.mkdir(parents=True, exist_ok=True)
    env_kwargs = {"obs_mode": "local" if args.obs_mode == "local" else "global", "obs_zscore": args.obs_mode == "global-z"}
    ckpt, replay, timing = run / "checkpoint.zip", run / "replay.zip", run / "timing.json"
    resume = args.resume and ckpt.exists() and replay.exists() and timing.exists()
    before = {"elapsed": 0.0, "eval_seconds": 0.0}
    if resume:
        model = cls.load(ckpt)
        model.load_replay_buffer(replay)
        before = json.loads(timing.read_text())
        print(f"resuming {run.name} at {model.num_timesteps} steps", flush=True)
    else:
        shared = args.critic == "shared"
        model = cls(args.env, seed=args.seed, env_kwargs=env_kwargs, verbose=0, shared_critic=shared, n_step=args.n_step)
    # a resumed run keeps its logger rows up to the checkpoint (older runs left theirs in progress.csv.partN)
    model.set_logger(configure_logger(run, ["csv"], resume_step=model.num_timesteps if resume else None))
    eval_env = make_vec_env(args.env, n_envs=args.eval_episodes, seed=args.seed + 10_000, env_kwargs=env_kwargs)
    start = time.perf_counter()

    def save_checkpoint(evaluator: PeriodicEval) -> None:
        model.save(ckpt)
        model.save_replay_buffer(replay)
        spent = {"elapsed": before["elapsed"] + time.perf_counter() - start}
        spent["eval_seconds"] = before["eval_seconds"] + evaluator.eval_seconds
        tmp = timing.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(spent))
        os.replace(tmp, timing)  # atomic: a kill mid-write must not leave a run that cannot resume

    after_eval = save_checkpoint if args.checkpoint else None
    callback, elapsed = train_with_periodic_eval(
        model, args.timesteps, eval_env, args.eval_every, args.eval_episodes, run, after_eval, resume
    )
    elapsed += before["elapsed"]
    callback.eval_seconds += before["eval_seconds"]
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
