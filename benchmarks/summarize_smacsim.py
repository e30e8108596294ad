"""Summarize SMACSim test win-rate curves of ``smacsim_qmix.py`` (and the zoo's QMIX runs) into a markdown table.

    python benchmarks/summarize_smacsim.py                              # every run under runs/smacsim_*/ and runs/zoo/
    python benchmarks/summarize_smacsim.py runs/smacsim_qmix_3m/seed* --marks 100000,200000 --target 0.95

One row per map, algorithm and seed (``runs/smacsim_<algo>_<map>/seed<k>``; the zoo's
``runs/zoo/<algo>_SMACSim-<map>_s<k>``, same defaults, fills in a seed the benchmark did not run): the test win rate
at the first test at or after each mark, the first test at or above ``--target``, the first test from which every test
stays at or above ``--stable``, the last test logged, the mean of the tests in the last ``--window`` steps and the
training env steps/s (``timing.json``'s steps and wall time where the run was checkpointed, else the last
``time/time_elapsed`` logged). Under the runs of each map and algorithm with more than one seed, a **median** row:
medians of the win rates and means, of the steps to the target (a run that never reached it counts as later than any
that did) and of the steps/s (for the steps, the lower of the middle two when the count is even).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

from summarize_pp import STEP, test_curve  # benchmarks/ is on sys.path when run as a script

WIN = "eval/win_rate"
BENCH = re.compile(r"smacsim_(?P<algo>[a-z]+)_(?P<map>.+)$")
ZOO = re.compile(r"(?P<algo>[a-z]+)_SMACSim-(?P<map>.+)_s(?P<seed>\d+)$")


class Run(NamedTuple):
    """One run's row: win rates at the marks, steps to the target and to a lasting floor, closing values, speed."""

    seed: str
    marked: list[float | None]
    reached: int | None
    stable: int | None
    last: float
    tail: float
    speed: float | None


def identify(folder: Path) -> tuple[str, str, str] | None:
    """``(map, ALGO, seed)`` of a benchmark or zoo run folder, None for anything else."""
    bench, seed = BENCH.match(folder.parent.name), re.fullmatch(r"seed(\d+)", folder.name)
    if bench and seed:
        return bench["map"], bench["algo"].upper(), seed[1]
    zoo = ZOO.match(folder.name)
    return (zoo["map"], zoo["algo"].upper(), zoo[3]) if zoo else None


def steps_per_second(folder: Path) -> float | None:
    """Training env steps/s: from ``timing.json`` (resumed runs add up their sessions) or the csv's last row."""
    timing = folder / "timing.json"
    if timing.exists():
        saved = json.loads(timing.read_text())
        return saved["num_timesteps"] / saved["elapsed"] if saved.get("elapsed") else None
    with open(folder / "progress.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get(STEP) and r.get("time/time_elapsed")]
    if not rows or float(rows[-1]["time/time_elapsed"]) <= 0:
        return None
    return float(rows[-1][STEP]) / float(rows[-1]["time/time_elapsed"])


def first_at_or_after(curve: dict[int, float], step: int) -> float | None:
    """The win rate of the first test logged at or after ``step``."""
    return next((value for s, value in curve.items() if s >= step), None)


def first_reaching(curve: dict[int, float], target: float) -> int | None:
    """Steps of the first test with a win rate of at least ``target``."""
    return next((s for s, value in curve.items() if value >= target), None)


def stays_from(curve: dict[int, float], floor: float) -> int | None:
    """Steps of the first test after which no test falls below ``floor`` (None if the last one is below it)."""
    since = None
    for s, value in curve.items():
        since = (since if since is not None else s) if value >= floor else None
    return since


def fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    return "n/a" if value is None else pattern.format(value)


def fmt_steps(steps: float | None) -> str:
    return "not reached" if steps is None or steps == float("inf") else f"{steps / 1e3:.0f}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="run folders (default: runs/smacsim_*/seed*, runs/zoo/)")
    parser.add_argument("--marks", default="100000,200000,300000,400000", help="env steps of the win-rate columns")
    parser.add_argument("--target", type=float, default=0.95, help="win rate whose first test is reported")
    parser.add_argument("--stable", type=float, default=0.8, help="win rate every later test must keep (default 0.8)")
    parser.add_argument("--window", type=float, default=100_000, help="env steps of the closing mean (default 100k)")
    args = parser.parse_args()
    folders = args.folders or sorted([*Path("runs").glob("smacsim_*/seed*"), *Path("runs/zoo").glob("*_SMACSim-*")])
    marks = [int(float(m)) for m in args.marks.split(",")]
    seen: set[tuple[str, str, str]] = set()
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for folder in folders:
        key = identify(folder)
        curve = test_curve(folder, WIN) if key and (folder / "progress.csv").exists() else {}
        if key is None or not curve or key in seen:
            continue
        seen.add(key)
        last = max(curve)
        marked = [first_at_or_after(curve, m) for m in marks]
        tail = statistics.fmean(v for s, v in curve.items() if s > last - args.window)
        reached, stable = first_reaching(curve, args.target), stays_from(curve, args.stable)
        groups[key[:2]].append(Run(key[2], marked, reached, stable, curve[last], tail, steps_per_second(folder)))
    if not groups:
        raise SystemExit("no SMACSim run folders with test win rates (run benchmarks/smacsim_qmix.py first)")
    head = ["map", "algorithm", "seed"] + [f"{m / 1e3:g}k" for m in marks]
    head += [
        f"first test ≥ {args.target:g}",
        f"≥ {args.stable:g} from then on",
        "last test",
        f"mean over the last {args.window / 1e3:g}k",
        "steps/s",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for (map_name, algo), runs in sorted(groups.items()):
        for run in sorted(runs, key=lambda run: int(run.seed)):
            cells = [map_name, algo, run.seed, *(fmt(r) for r in run.marked), fmt_steps(run.reached)]
            cells += [fmt_steps(run.stable), fmt(run.last), fmt(run.tail), fmt(run.speed, "{:.0f}")]
            print("| " + " | ".join(cells) + " |")
        if len(runs) > 1:
            columns = [[run.marked[i] for run in runs if run.marked[i] is not None] for i in range(len(marks))]
            reached_steps = [float("inf") if run.reached is None else run.reached for run in runs]
            stable_steps = [float("inf") if run.stable is None else run.stable for run in runs]
            rates = [statistics.median(c) if c else None for c in columns]
            speeds = [run.speed for run in runs if run.speed is not None]
            cells = [map_name, algo, f"**median of {len(runs)}**", *(fmt(r) for r in rates)]
            cells += [fmt_steps(statistics.median_low(reached_steps)), fmt_steps(statistics.median_low(stable_steps))]
            cells += [fmt(statistics.median(run.last for run in runs)), fmt(statistics.median(run.tail for run in runs))]
            cells.append(fmt(statistics.median(speeds) if speeds else None, "{:.0f}"))
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
