"""Shared by the MaMuJoCo benchmark scripts: deterministic evaluation every N env steps, appended to a CSV."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from trmarl import evaluate_policy
from trmarl.envs.vec_env import MultiAgentVecEnv


class PeriodicEval(BaseCallback):
    """Deterministic evaluation every ``every`` env steps (checked at the end of each rollout), written to ``path``.

    ``rows`` holds ``(timesteps, mean_return, std_return, wall_time)``; ``eval_seconds`` the time spent evaluating.
    """

    def __init__(self, eval_env: MultiAgentVecEnv, every: int, episodes: int, path: Path) -> None:
        super().__init__()
        self.eval_env, self.every, self.episodes, self.path = eval_env, every, episodes, path
        self.next_at = every
        self.rows: list[tuple[int, float, float, float]] = []
        self.eval_seconds = 0.0

    def evaluate(self) -> None:
        start = time.perf_counter()
        mean, std = evaluate_policy(self.model, self.eval_env, n_eval_episodes=self.episodes, deterministic=True)
        self.eval_seconds += time.perf_counter() - start
        self.rows.append((int(self.model.num_timesteps), float(mean), float(std), time.time()))
        with open(self.path, "w", newline="") as fh:
            csv.writer(fh).writerows([("timesteps", "mean_return", "std_return", "wall_time"), *self.rows])
        if self.verbose:
            print(f"[eval] {self.model.num_timesteps:>9d} steps: return {mean:8.1f} +- {std:6.1f}", flush=True)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.model.num_timesteps >= self.next_at:
            self.next_at += self.every
            self.evaluate()


def train_with_periodic_eval(
    model: Any, timesteps: float, eval_env: MultiAgentVecEnv, every: int, episodes: int, run: Path
) -> tuple[PeriodicEval, float]:
    """Train ``model`` for ``timesteps`` with a :class:`PeriodicEval` into ``run/eval.csv`` (and one final evaluation
    at the last step), save ``run/model.zip``; return the callback and the training wall time in seconds."""
    callback = PeriodicEval(eval_env, every, episodes, run / "eval.csv")
    callback.verbose = 1
    start = time.perf_counter()
    model.learn(timesteps, callback=callback)
    elapsed = time.perf_counter() - start
    if not callback.rows or callback.rows[-1][0] != model.num_timesteps:
        callback.model = model
        callback.evaluate()
    model.save(run / "model.zip")
    return callback, elapsed
