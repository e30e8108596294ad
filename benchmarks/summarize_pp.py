"""Summarize the predator-prey learning curves of ``qtran_games.py --pp-test-interval N`` into a markdown table.

    python benchmarks/summarize_pp.py                                   # every run under runs/qtran_pp/
    python benchmarks/summarize_pp.py runs/qtran_pp/PredatorPrey-5x5_P1_* --every 500000

One row per run folder (``{env}_P{penalty}_{algo}_{setting}_s{seed}[_suffix]``; ``algo`` may carry a variant, as
``QTRAN-authors``): the greedy test return logged
nearest each milestone (within a tenth of the spacing; "n/a" where no test was logged there), the last test, and the
steps and wall time of the newest checkpoint when the run was checkpointed. A run continued with ``--resume`` logged
the steps after its checkpoint twice (older runs kept the first pass in ``progress.csv.partN``): the later rows win.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

STEP, TEST = "time/total_timesteps", "eval/ep_rew_mean"
NAME = re.compile(
    r"(?P<env>.+?)_P(?P<penalty>[\d.]+)_(?P<algo>[A-Z]+(?:-[a-z_]+)?)_(?P<setting>[a-z0-9-]+)_s(?P<seed>\d+)(?P<tag>_.*)?$"
)


def test_curve(folder: Path, column: str = TEST) -> dict[int, float]:
    """``{step: test value}`` (greedy test return by default) from ``progress.csv`` and any ``progress.csv.partN``
    before it; a resumed run's repeated steps take the later file's or row's value."""
    parts = sorted(folder.glob("progress.csv.part*"), key=lambda p: int(p.suffix[len(".part") :]))
    curve: dict[int, float] = {}
    for path in [*parts, folder / "progress.csv"]:
        if not path.exists():
            continue
        with open(path, newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get(column) and r.get(STEP)]
        if rows:  # the rows of a later file replace the earlier file's from its first step on
            first = int(float(rows[0][STEP]))
            curve = {s: v for s, v in curve.items() if s < first}
            curve.update({int(float(r[STEP])): float(r[column]) for r in rows})
    return dict(sorted(curve.items()))


def near(curve: dict[int, float], step: int, tolerance: int) -> float | None:
    """The test logged closest to ``step``, if one is within ``tolerance`` steps."""
    best = min(curve, key=lambda s: abs(s - step), default=None)
    return None if best is None or abs(best - step) > tolerance else curve[best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="run folders (default: all of runs/qtran_pp/)")
    parser.add_argument("--every", type=float, default=100_000, help="milestone spacing in env steps (default 100k)")
    parser.add_argument("--until", type=float, default=None, help="last milestone (default: the longest run's)")
    args = parser.parse_args()
    folders = args.folders or sorted(p for p in Path("runs/qtran_pp").iterdir() if p.is_dir())
    runs = []
    for folder in folders:
        match = NAME.match(folder.name)
        curve = test_curve(folder)
        if match is None or not curve:
            continue
        timing = folder / "timing.json"
        saved = json.loads(timing.read_text()) if timing.exists() else {}
        runs.append((match, curve, saved))
    if not runs:
        raise SystemExit("no predator-prey run folders with a test curve (run qtran_games.py with --pp-test-interval)")
    every = int(args.every)
    until = int(args.until) if args.until else max(max(c) for _, c, _ in runs)
    milestones = list(range(every, until + every // 10 + 1, every))
    head = ["env", "P", "algorithm", "setting", "seed"] + [f"{m / 1e6:g}M" for m in milestones] + ["last", "checkpoint"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for match, curve, saved in runs:
        cells = [match["env"], match["penalty"], match["algo"], match["setting"] + (match["tag"] or ""), match["seed"]]
        for m in milestones:
            value = near(curve, m, every // 10)
            cells.append("n/a" if value is None else f"{value:.1f}")
        last = max(curve)
        cells.append(f"{curve[last]:.1f} at {last / 1e6:.2f}M")
        ckpt = saved.get("num_timesteps")
        cells.append("n/a" if ckpt is None else f"{ckpt / 1e6:.2f}M, {saved.get('elapsed', 0) / 3600:.1f} h")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
