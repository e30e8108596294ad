"""Whole-loop training throughput of the value-decomposition family (environment steps per second).

Measures ``learn()`` end to end with pymarl2's defaults (8 envs, one gradient step on 128 episodes per 8 finished
episodes) once the replay holds a batch, split into episode collection (env + epsilon-greedy GRU inference) and
training, and in the same process the env-only rate: the model's own vec env stepped with random available actions
for as many env steps. Test episodes are switched off while timing.

    python benchmarks/offpolicy_throughput.py --algo QMIX --map 3m --steps 20000 --repeats 3

Prints one JSON line of medians over ``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Any

import numpy as np
import torch
from _timing import time_phases

from trmarl.agents.qmix import IQL, QMIX, VDN
from trmarl.agents.qtran import QTRAN

ALGOS: dict[str, Any] = {"QMIX": QMIX, "VDN": VDN, "QTRAN": QTRAN, "IQL": IQL}


def random_available(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random available action per ``(env, agent)`` from an ``(E, N, A)`` bool mask."""
    scores = rng.random(mask.shape) * mask
    return scores.argmax(-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="QMIX", choices=sorted(ALGOS))
    parser.add_argument("--map", default="3m")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20_000, help="timed env steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = ALGOS[args.algo](f"SMACSim-{args.map}", seed=args.seed, n_envs=args.n_envs, verbose=0, test_nepisode=0)
    batch = model.config.batch_size
    while not model.replay.can_sample(batch):  # warm-up: fill the replay so that every timed iteration trains
        model.learn(1, reset_num_timesteps=False)
    timings = time_phases(model)
    env = model.env
    assert env is not None
    rng = np.random.default_rng(0)
    loop, env_only, rollout, train_share = [], [], [], []
    for _ in range(args.repeats):
        timings["rollout"] = timings["train"] = 0.0
        before = model.num_timesteps
        start = time.perf_counter()
        model.learn(args.steps, reset_num_timesteps=False)
        elapsed = time.perf_counter() - start
        steps = model.num_timesteps - before
        loop.append(steps / elapsed)
        rollout.append(steps / timings["rollout"])
        train_share.append(timings["train"] / elapsed)
        obs = env.reset()[0]
        start = time.perf_counter()
        for _ in range(steps // env.num_envs):
            obs = env.step(random_available(obs.action_mask, rng)).obs
        env_only.append(steps / (time.perf_counter() - start))
    med = statistics.median
    print(
        json.dumps(
            {
                "algo": args.algo,
                "env": f"SMACSim-{args.map}",
                "n_envs": env.num_envs,
                "batch_size": batch,
                "torch_threads": args.threads,
                "cpus": os.cpu_count(),
                "machine": platform.processor() or platform.machine(),
                "repeats": args.repeats,
                "loop_steps_per_s": round(med(loop), 1),
                "env_only_steps_per_s": round(med(env_only), 1),
                "loop_vs_env_only": round(med(loop) / med(env_only), 3),
                "collect_steps_per_s": round(med(rollout), 1),
                "train_share_of_wall": round(med(train_share), 3),
                "runs_loop_steps_per_s": [round(x, 1) for x in loop],
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
        )
    )
    env.close()


if __name__ == "__main__":
    main()
