"""Shared by the MaMuJoCo benchmark scripts: deterministic evaluation every N env steps, appended to a CSV."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from trmarl import evaluate_policy
from trmarl.envs.vec_env import MultiAgentVecEnv


class PeriodicEval(BaseCallback):
    """Deterministic evaluation every ``every`` env steps (checked at the end of each rollout), written to ``path``.

    ``rows`` holds ``(timesteps, mean_return, std_return, wall_time)``; ``eval_seconds`` the time spent evaluating.
    ``after_eval(callback)`` (if given) runs after each evaluation (the MADDPG script checkpoints there). With ``resume`` the
    rows already in ``path`` up to the resumed model's step are kept (later ones belong to a stretch whose checkpoint was
    never written, e.g. a kill between the evaluation and the save) and the next evaluation is the first multiple of
    ``every`` after them.
    """

    def __init__(
        self,
        eval_env: MultiAgentVecEnv,
        every: int,
        episodes: int,
        path: Path,
        after_eval: Callable[[PeriodicEval], None] | None = None,
        resume: bool = False,
    ) -> None:
        super().__init__()
        self.eval_env, self.every, self.episodes, self.path = eval_env, every, episodes, path
        self.after_eval = after_eval
        self.rows: list[tuple[int, float, float, float]] = []
        if resume and path.exists():
            with open(path, newline="") as fh:
                rows = list(csv.reader(fh))[1:]
            self.rows = [(int(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in rows]
        self._set_next()
        self.eval_seconds = 0.0

    def _set_next(self) -> None:
        self.next_at = (self.rows[-1][0] // self.every + 1) * self.every if self.rows else self.every

    def _init_callback(self) -> None:
        self.rows = [row for row in self.rows if row[0] <= self.model.num_timesteps]
        self._set_next()

    def evaluate(self) -> None:
        start = time.perf_counter()
        mean, std = evaluate_policy(self.model, self.eval_env, n_eval_episodes=self.episodes, deterministic=True)
        self.eval_seconds += time.perf_counter() - start
        self.rows.append((int(self.model.num_timesteps), float(mean), float(std), time.time()))
        with open(self.path, "w", newline="") as fh:
            csv.writer(fh).writerows([("timesteps", "mean_return", "std_return", "wall_time"), *self.rows])
        if self.verbose:
            print(f"[eval] {self.model.num_timesteps:>9d} steps: return {mean:8.1f} +- {std:6.1f}", flush=True)
        if self.after_eval is not None:
            self.after_eval(self)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.model.num_timesteps >= self.next_at:
            self.next_at += self.every
            self.evaluate()


def train_with_periodic_eval(
    model: Any,
    timesteps: float,
    eval_env: MultiAgentVecEnv,
    every: int,
    episodes: int,
    run: Path,
    after_eval: Callable[[PeriodicEval], None] | None = None,
    resume: bool = False,
) -> tuple[PeriodicEval, float]:
    """Train ``model`` up to ``timesteps`` env steps in all with a :class:`PeriodicEval` into ``run/eval.csv`` (and one
    final evaluation at the last step), save ``run/model.zip``; return the callback and this call's wall time in
    seconds. With ``resume`` (a loaded model) training continues from ``model.num_timesteps``."""
    callback = PeriodicEval(eval_env, every, episodes, run / "eval.csv", after_eval, resume)
    callback.verbose = 1
    start = time.perf_counter()
    remaining = int(timesteps) - (model.num_timesteps if resume else 0)
    model.learn(remaining, callback=callback, reset_num_timesteps=not resume)
    elapsed = time.perf_counter() - start
    if not callback.rows or callback.rows[-1][0] != model.num_timesteps:
        callback.model = model
        callback.evaluate()
    model.save(run / "model.zip")
    return callback, elapsed
