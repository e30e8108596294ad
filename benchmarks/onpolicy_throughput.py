"""Whole-loop training throughput of the on-policy family (environment steps per second).

Measures ``learn()`` end to end with the default (HARL HalfCheetah-2x3) configuration: 20 envs x 200 steps per
iteration, 15 actor and 15 critic epochs for HAPPO/MAPPO. One warm-up iteration is excluded; the rest is split into
rollout collection and training time.

    python benchmarks/onpolicy_throughput.py --algo HAPPO --env MaMuJoCo-HalfCheetah-2x3 --iterations 5

Prints one JSON line: steps/s for the whole loop (wall clock), for the rollout (env + inference) alone, the update's
seconds per iteration, and steps per CPU-second of this process: with one torch thread and the sync backend the loop
is single-threaded, so that figure approximates the wall-clock rate on an otherwise idle core when the machine is busy
(compare ``load_average_1min`` with ``cpus``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import torch

import trmarl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="HAPPO", choices=["HAPPO", "HATRPO", "MAPPO", "IPPO"])
    parser.add_argument("--env", default="MaMuJoCo-HalfCheetah-2x3")
    parser.add_argument("--iterations", type=int, default=5, help="timed iterations (after one warm-up iteration)")
    parser.add_argument("--n-envs", type=int, default=20)
    parser.add_argument("--backend", default="sync", choices=["sync", "subprocess"])
    parser.add_argument("--n-threads", type=int, default=1, help="torch threads for the update (0: torch's default)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    algo = getattr(trmarl, args.algo)
    model = algo(
        args.env, seed=args.seed, n_envs=args.n_envs, vec_backend=args.backend, verbose=0, n_threads=args.n_threads or None
    )
    timings: dict[str, float] = {"rollout": 0.0, "train": 0.0}
    collect, train = model.collect_rollouts, model.train

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timings[name] += time.perf_counter() - start

        return wrapper

    steps_per_iteration = model.n_envs * model.config.n_steps
    model.learn(steps_per_iteration)  # warm-up
    model.collect_rollouts, model.train = timed("rollout", collect), timed("train", train)  # type: ignore[method-assign]
    start, cpu_start = time.perf_counter(), time.process_time()
    model.learn(steps_per_iteration * args.iterations, reset_num_timesteps=False)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    steps = steps_per_iteration * args.iterations
    print(
        json.dumps(
            {
                "algo": args.algo,
                "env": args.env,
                "n_envs": model.n_envs,
                "n_steps": model.config.n_steps,
                "backend": args.backend,
                "torch_threads_train": args.n_threads or torch.get_num_threads(),
                "cpus": os.cpu_count(),
                "machine": platform.processor() or platform.machine(),
                "steps": steps,
                "seconds": round(total, 3),
                "steps_per_s": round(steps / total, 1),
                "cpu_seconds": round(cpu, 3),
                "steps_per_cpu_s": round(steps / cpu, 1),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "rollout_steps_per_s": round(steps / timings["rollout"], 1),
                "train_seconds_per_iteration": round(timings["train"] / args.iterations, 3),
            }
        )
    )
    model.env.close()


if __name__ == "__main__":
    main()
