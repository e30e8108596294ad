"""Summarize sample-efficiency runs (``eval.csv`` + ``summary.json`` per run dir) into a markdown table and a plot.

    python benchmarks/summarize_onpolicy.py runs/bench --milestones 5e5 1e6 2e6 --plot docs/img/onpolicy_halfcheetah.png

Runs are grouped by (algorithm, env, obs mode); for each group the table gives the median over seeds of the
deterministic evaluation return at each milestone (the evaluation at or just before it), the number of seeds, and the
median training rate (env steps/s, evaluations included).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np


def load_runs(root: Path) -> dict[tuple[str, str, str], list[dict]]:
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for summary_path in sorted(root.glob("*/summary.json")):
        summary = json.loads(summary_path.read_text())
        with open(summary_path.parent / "eval.csv") as fh:
            rows = [(int(r["timesteps"]), float(r["mean_return"])) for r in csv.DictReader(fh)]
        summary["curve"] = rows
        groups[(summary["algo"], summary["env"], summary["obs_mode"])].append(summary)
    return groups


def value_at(curve: list[tuple[int, float]], step: float) -> float | None:
    before = [r for s, r in curve if s <= step * 1.001]
    return before[-1] if before else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--milestones", type=float, nargs="+", default=[5e5, 1e6, 2e6])
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    groups = load_runs(args.root)
    head = "| algorithm | env | obs | seeds | " + " | ".join(f"@{m / 1e6:g}M" for m in args.milestones) + " | steps/s |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for (algo, env, obs), runs in sorted(groups.items()):
        cells = []
        for m in args.milestones:
            reached = [r for r in runs if r["timesteps"] >= m * 0.999]
            vals = [v for v in (value_at(r["curve"], m) for r in reached) if v is not None]
            cells.append(f"{statistics.median(vals):.0f} ({', '.join(f'{v:.0f}' for v in vals)})" if vals else "-")
        rate = statistics.median(r["steps_per_second_incl_eval"] for r in runs)
        print(f"| {algo} | {env} | {obs} | {len(runs)} | " + " | ".join(cells) + f" | {rate:.0f} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for (algo, _env, obs), runs in sorted(groups.items()):
            steps = sorted({s for r in runs for s, _ in r["curve"]})
            grid = np.array([[value_at(r["curve"], s) or np.nan for s in steps] for r in runs], dtype=float)
            med = np.nanmedian(grid, axis=0)
            (line,) = ax.plot(steps, med, label=f"{algo} ({obs}, {len(runs)} seed{'s' * (len(runs) > 1)})")
            if len(runs) > 1:  # the band in the line's colour (fill_between would take the next one in the cycle)
                lo, hi = np.nanmin(grid, axis=0), np.nanmax(grid, axis=0)
                ax.fill_between(steps, lo, hi, alpha=0.2, color=line.get_color())
        ax.set_xlabel("environment steps")
        ax.set_ylabel("deterministic evaluation return")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
