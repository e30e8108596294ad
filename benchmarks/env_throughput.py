"""Environment throughput: steps/s of trmarl's vec env backends against the stock gymnasium-robotics env.

Counts environment steps (one step of one env = 1, whatever the number of agents), with pre-sampled random actions,
including ``state()`` (the centralized critic needs it every step) and resets. Each configuration runs ``--repeats``
times in this process, interleaved, and the median is reported.

Usage:
    python benchmarks/env_throughput.py                      # HalfCheetah 2x3, E = 1, 4, 16, 5 repeats
    python benchmarks/env_throughput.py --steps 2000 --repeats 3 --env MaMuJoCo-Ant-4x2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import trmarl


def time_parallel_env(make_env: Callable[[], Any], n_steps: int) -> float:
    """Steps/s of one ParallelEnv, stepping with random actions and reading ``state()`` every step."""
    env = make_env()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    spaces = {a: env.action_space(a) for a in env.possible_agents}
    acts = [{a: rng.uniform(-1, 1, s.shape).astype(np.float32) for a, s in spaces.items()} for _ in range(256)]
    start = time.perf_counter()
    for t in range(n_steps):
        _, _, terms, truncs, _ = env.step(acts[t % 256])
        env.state()
        if not env.agents or any(terms.values()) or any(truncs.values()):
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return n_steps / elapsed


def time_vec_env(env_id: str, n_envs: int, backend: str, n_steps: int, env_kwargs: dict[str, Any]) -> float:
    """Env steps/s of ``make_vec_env(env_id, n_envs, backend=backend)`` (``n_steps`` env steps in total)."""
    vec = trmarl.make_vec_env(env_id, n_envs=n_envs, seed=0, backend=backend, env_kwargs=env_kwargs)
    vec.reset()
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (64, n_envs, vec.n_agents, vec.act_dim)).astype(np.float32)
    iters = max(1, n_steps // n_envs)
    start = time.perf_counter()
    for t in range(iters):
        vec.step(acts[t % 64])
    elapsed = time.perf_counter() - start
    vec.close()
    return iters * n_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="MaMuJoCo-HalfCheetah-2x3")
    parser.add_argument("--steps", type=int, default=10_000, help="env steps per measurement")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-envs", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args()

    spec = trmarl.envs.spec(args.env)
    scenario, conf = spec.kwargs["scenario"], spec.kwargs["agent_conf"]

    def stock() -> Any:
        from gymnasium_robotics import mamujoco_v1

        return mamujoco_v1.parallel_env(scenario, conf)

    configs: dict[str, Callable[[], float]] = {
        "stock gymnasium-robotics ParallelEnv": lambda: time_parallel_env(stock, args.steps),
        "trmarl.make ParallelEnv": lambda: time_parallel_env(lambda: trmarl.make(args.env), args.steps),
    }
    for backend in ("sync", "subprocess"):
        for n in args.n_envs:
            configs[f"make_vec_env {backend} E={n}"] = lambda b=backend, n=n: time_vec_env(args.env, n, b, args.steps, {})
    results: dict[str, list[float]] = {k: [] for k in configs}
    for _ in range(args.repeats):
        for name, fn in configs.items():
            results[name].append(fn())
    base = statistics.median(results["stock gymnasium-robotics ParallelEnv"])
    print(
        f"{args.env}: {args.steps} env steps per run, median of {args.repeats}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores"
    )
    print(f"{'configuration':42s} {'steps/s':>10s} {'vs stock':>9s}   runs")
    for name, vals in results.items():
        med = statistics.median(vals)
        print(f"{name:42s} {med:10.0f} {med / base:8.2f}x   {', '.join(f'{v:.0f}' for v in vals)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"env": args.env, "steps": args.steps, "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
