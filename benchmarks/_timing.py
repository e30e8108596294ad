"""Shared by the throughput benchmarks: wall time spent in a model's rollout and training phases."""

from __future__ import annotations

import time
from typing import Any


def time_phases(model: Any) -> dict[str, float]:
    """Wrap ``model.collect_rollouts`` and ``model.train`` so that their wall time accumulates in the returned dict.

    Returns:
        ``{"rollout": seconds, "train": seconds}``, updated in place by every call; reset the values to zero to start
        a new measurement.
    """
    timings = {"rollout": 0.0, "train": 0.0}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timings[name] += time.perf_counter() - start

        return wrapper

    model.collect_rollouts = timed("rollout", model.collect_rollouts)
    model.train = timed("train", model.train)
    return timings
