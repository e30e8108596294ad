"""Learning curves from run folders (``progress.csv`` + ``config.json``), as ``trmarl plot`` draws them.

>>> from trmarl.common.plotting import plot_runs
>>> plot_runs(["runs/qmix_SMACSim-3m_s0", "runs/qmix_SMACSim-3m_s1"], "qmix_3m.png")  # doctest: +SKIP

Runs that share an algorithm and an env (read from their ``config.json``; else from the folder name without its
``_s<seed>`` suffix) become one curve: the mean over seeds, interpolated onto a common grid of environment steps, with
a band of one standard deviation (for two seeds: the range between them). Matplotlib draws with the ``Agg`` backend,
so no display is needed.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_METRICS", "PlotError", "load_progress", "plot_runs", "run_label"]

#: Metrics tried in order when none is given.
DEFAULT_METRICS = ("rollout/ep_rew_mean", "eval/ep_rew_mean", "eval/mean_reward")


class PlotError(ValueError):
    """Run folders that cannot be plotted: no ``progress.csv``, an unknown metric, no data."""


def load_progress(run_dir: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The columns of ``run_dir/progress.csv`` as float arrays (empty cells are NaN).

    Raises:
        PlotError: No ``progress.csv`` in ``run_dir``.
    """
    path = Path(run_dir) / "progress.csv"
    if not path.exists():
        raise PlotError(f"no progress.csv in {str(run_dir)!r} (is it a folder written by 'trmarl train'?)")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key in row:
            if key is not None:
                columns.setdefault(key, [])
    for row in rows:
        for key in columns:
            columns[key].append(_to_float(row.get(key)))
    return {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}


def _to_float(text: str | None) -> float:
    if text is None or text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def run_label(run_dir: str | os.PathLike[str]) -> str:
    """``"ALGO on ENV"`` from the run's ``config.json``, else the folder name without its ``_s<seed>`` suffix."""
    p = Path(run_dir)
    config_path = p / "config.json"
    if config_path.exists():
        try:
            config = json.loads(config_path.read_text())
            label = f"{config['algo']} on {config['env_id']}"
            if config.get("env_kwargs"):
                label += " (" + ", ".join(f"{k}={v}" for k, v in config["env_kwargs"].items()) + ")"
            return label
        except (json.JSONDecodeError, KeyError, TypeError):
            pass
    return re.sub(r"_s\d+(_\d+)?$", "", p.resolve().name)


def _series(progress: dict[str, np.ndarray], x: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = progress[x], progress[metric]
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    order = np.argsort(xs, kind="stable")
    return xs[order], ys[order]


def plot_runs(
    run_dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    metric: str | None = None,
    x: str = "time/total_timesteps",
    title: str | None = None,
    n_points: int = 200,
) -> tuple[Path, dict[str, int]]:
    """Plot ``metric`` against ``x`` for run folders, grouped by algorithm and env, and save a PNG.

    Args:
        run_dirs: Folders holding ``progress.csv`` (and ``config.json``).
        out: The image file (PNG; the suffix picks the format).
        metric: A ``progress.csv`` column (default: the first of :data:`DEFAULT_METRICS` all runs have).
        x: The x column.
        title: Figure title (default: the metric).
        n_points: Grid size for averaging several seeds.

    Returns:
        The image path and ``{curve label: number of runs}``.

    Raises:
        PlotError: A folder without ``progress.csv``, a metric some run lacks (the message lists the columns), or no
            data points.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not run_dirs:
        raise PlotError("no run folders given")
    progress = {str(r): load_progress(r) for r in run_dirs}
    if metric is None:
        metric = next((m for m in DEFAULT_METRICS if all(m in p for p in progress.values())), None)
        if metric is None:
            common = sorted(set.intersection(*(set(p) for p in progress.values())))
            raise PlotError(f"none of {', '.join(DEFAULT_METRICS)} is logged by every run; pick --metric from: {common}")
    for run, p in progress.items():
        for column in (x, metric):
            if column not in p:
                raise PlotError(f"{run!r} has no column {column!r} in progress.csv; columns: {sorted(p)}")
    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for run, p in progress.items():
        xs, ys = _series(p, x, metric)
        if xs.size:
            groups.setdefault(run_label(run), []).append((xs, ys))
    if not groups:
        raise PlotError(f"no data points for {metric!r} in the given runs (train longer, or pick another --metric)")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, series in groups.items():
        if len(series) == 1:
            (line,) = ax.plot(series[0][0], series[0][1], label=label)
            continue
        lo = max(float(s[0][0]) for s in series)
        hi = min(float(s[0][-1]) for s in series)
        grid = np.linspace(lo, hi, n_points) if hi > lo else np.array([lo])
        values = np.stack([np.interp(grid, xs, ys) for xs, ys in series])  # (runs, points)
        mean = values.mean(axis=0)
        if len(series) == 2:
            low, high = values.min(axis=0), values.max(axis=0)
        else:
            std = values.std(axis=0)
            low, high = mean - std, mean + std
        (line,) = ax.plot(grid, mean, label=f"{label} ({len(series)} seeds)")
        ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("environment steps" if x == "time/total_timesteps" else x)
    ax.set_ylabel(metric)
    ax.set_title(title or metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path, {label: len(series) for label, series in groups.items()}
