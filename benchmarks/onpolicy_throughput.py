"""Whole-loop training throughput of the on-policy family (environment steps per second).

Measures ``learn()`` end to end with the default (HARL HalfCheetah-2x3) configuration: 20 envs x 200 steps per
iteration, 15 actor and 15 critic epochs for HAPPO/MAPPO. One warm-up iteration is excluded; the rest is split into
rollout collection and training time.

    python benchmarks/onpolicy_throughput.py --algo HAPPO --env MaMuJoCo-HalfCheetah-2x3 --iterations 5

Each of ``--repeats`` repeats times ``--iterations`` iterations of ``learn()`` and then, in the same process, the
env-only rate: the model's own vec env stepped with random actions for as many env steps. Prints one JSON line of
medians: whole-loop steps/s (wall clock), env-only steps/s and their ratio, the rollout (env + inference) rate, the
update's seconds per iteration, and whole-loop steps per CPU-second of this process. The critic update runs in a
second thread (``concurrent_critic``), so on an idle 2-core machine the wall-clock rate can exceed the per-CPU-second
one; compare ``load_average_1min`` with ``cpus`` before trusting a wall-clock number on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch
from _timing import time_phases

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
    parser.add_argument("--obs-mode", default="global", choices=["global", "local"], help="MaMuJoCo observation mode")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (medians are reported)")
    args = parser.parse_args()

    algo = getattr(trmarl, args.algo)
    model = algo(
        args.env,
        seed=args.seed,
        n_envs=args.n_envs,
        vec_backend=args.backend,
        verbose=0,
        n_threads=args.n_threads or None,
        env_kwargs={"obs_mode": args.obs_mode} if args.env.startswith("MaMuJoCo-") else None,
    )
    steps_per_iteration = model.n_envs * model.config.n_steps
    model.learn(steps_per_iteration)  # warm-up
    timings = time_phases(model)
    steps = steps_per_iteration * args.iterations
    loop, loop_cpu, env_only, rollout, train_s = [], [], [], [], []
    env = model.env
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (64, env.num_envs, env.n_agents, env.act_dim)).astype(np.float32)
    for _ in range(args.repeats):
        timings["rollout"] = timings["train"] = 0.0
        start, cpu_start = time.perf_counter(), time.process_time()
        model.learn(steps, reset_num_timesteps=False)
        loop.append(steps / (time.perf_counter() - start))
        loop_cpu.append(steps / (time.process_time() - cpu_start))
        rollout.append(steps / timings["rollout"])
        train_s.append(timings["train"] / args.iterations)
        # env-only: the same vec env stepped with random actions, as many env steps, in the same process
        env.reset()
        start = time.perf_counter()
        for t in range(steps // env.num_envs):
            env.step(actions[t % 64])
        env_only.append(steps / (time.perf_counter() - start))
    med = statistics.median
    print(
        json.dumps(
            {
                "algo": args.algo,
                "env": args.env,
                "obs_mode": args.obs_mode,
                "n_envs": model.n_envs,
                "n_steps": model.config.n_steps,
                "backend": args.backend,
                "concurrent_critic": model.config.concurrent_critic,
                "torch_threads_train": args.n_threads or torch.get_num_threads(),
                "cpus": os.cpu_count(),
                "machine": platform.processor() or platform.machine(),
                "steps_per_repeat": steps,
                "repeats": args.repeats,
                "loop_steps_per_s": round(med(loop), 1),
                "env_only_steps_per_s": round(med(env_only), 1),
                "loop_vs_env_only": round(med(loop) / med(env_only), 3),
                "loop_steps_per_cpu_s": round(med(loop_cpu), 1),
                "rollout_steps_per_s": round(med(rollout), 1),
                "train_seconds_per_iteration": round(med(train_s), 3),
                "runs_loop_steps_per_s": [round(x, 1) for x in loop],
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
        )
    )
    model.env.close()


if __name__ == "__main__":
    main()
