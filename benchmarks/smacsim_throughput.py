"""SMACSim throughput: env steps per second with a random legal policy.

Measures (1) one ``StarCraft2Env`` stepped from Python (SMAC's interface, actions drawn from the availability lists)
and (2) the batched ``SMACSimVecEnv`` with ``E`` battles per engine call (actions drawn from the mask with numpy).
Each number is the median of ``--repeats`` runs: ``--steps`` agent steps for the single env; for the batched env
``max(50, steps // max(1, E // 8))`` vec steps of ``E`` env steps each (so large batches do not take minutes). Kernels
are compiled (and cached) before timing.

    python benchmarks/smacsim_throughput.py                      # full table
    python benchmarks/smacsim_throughput.py --quick              # 3m and 3s5z, fewer steps
    python benchmarks/smacsim_throughput.py --maps 3m --envs 1 64 256 --steps 200 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass

import numpy as np

DEFAULT_MAPS = ("3m", "8m", "2s3z", "3s5z", "MMM2", "27m_vs_30m")
DEFAULT_ENVS = (1, 8, 64, 256)


@dataclass
class Args:
    """Command-line arguments."""

    maps: tuple[str, ...] = DEFAULT_MAPS
    """Maps to measure."""
    envs: tuple[int, ...] = DEFAULT_ENVS
    """Batch sizes ``E`` of the vectorized env."""
    steps: int = 1000
    """Agent steps per run (single env); batched runs take ``max(50, steps // max(1, E // 8))`` vec steps."""
    repeats: int = 5
    """Runs per measurement; the median is reported."""
    quick: bool = False
    """3m and 3s5z only, 300 steps, 3 repeats."""


def single_env_rate(map_name: str, steps: int, seed: int = 0) -> float:
    """Agent steps per second of one ``StarCraft2Env`` driven through SMAC's list-based interface."""
    from trmarl.envs.smacsim import StarCraft2Env

    env = StarCraft2Env(map_name=map_name, seed=seed)
    rng = np.random.default_rng(seed)
    env.reset()
    start = time.perf_counter()
    for _ in range(steps):
        avail = env.get_avail_actions()
        actions = [int(rng.choice(np.flatnonzero(a))) for a in avail]
        _, terminated, _ = env.step(actions)
        if terminated:
            env.reset()
    return steps / (time.perf_counter() - start)


def batched_rate(map_name: str, n_envs: int, steps: int, seed: int = 0) -> float:
    """Env steps per second of ``SMACSimVecEnv`` with ``n_envs`` battles (autoreset included)."""
    from trmarl.envs.smacsim.parallel import SMACSimVecEnv

    venv = SMACSimVecEnv(n_envs, seed=seed, map_name=map_name)
    rng = np.random.default_rng(seed)
    obs, _ = venv.reset()
    mask = obs.action_mask
    start = time.perf_counter()
    for _ in range(steps):
        actions = np.argmax(rng.random(mask.shape) * mask, axis=-1)
        mask = venv.step(actions).obs.action_mask
    return steps * n_envs / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    """Print the throughput table (markdown)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maps", nargs="+", default=list(DEFAULT_MAPS))
    parser.add_argument("--envs", nargs="+", type=int, default=list(DEFAULT_ENVS))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3m and 3s5z, 300 steps, 3 repeats")
    ns = parser.parse_args(argv)
    args = Args(tuple(ns.maps), tuple(ns.envs), ns.steps, ns.repeats, ns.quick)
    if args.quick:
        args = Args(("3m", "3s5z"), args.envs, 300, 3, True)
    from trmarl.envs.smacsim.engine import HAVE_NUMBA

    print(f"# SMACSim throughput ({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numba={HAVE_NUMBA})")
    print(f"# median of {args.repeats} runs of {args.steps} steps, random legal policy\n")
    header = "| map | single env (steps/s) | " + " | ".join(f"E={e} (env steps/s)" for e in args.envs) + " |"
    print(header)
    print("|" + "---|" * (2 + len(args.envs)))
    for map_name in args.maps:
        single_env_rate(map_name, 20)  # compile / warm up
        single = statistics.median(single_env_rate(map_name, args.steps, seed=r) for r in range(args.repeats))
        cells = []
        for n_envs in args.envs:
            batched_rate(map_name, n_envs, 5)
            vec_steps = max(50, args.steps // max(1, n_envs // 8))
            rate = statistics.median(batched_rate(map_name, n_envs, vec_steps, seed=r) for r in range(args.repeats))
            cells.append(f"{rate:,.0f}")
        print(f"| {map_name} | {single:,.0f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
