"""The summary scripts that turn benchmark run folders into the tables of docs/benchmarks.md."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import summarize_pp  # noqa: E402
import summarize_smacsim  # noqa: E402

STEP, WIN = "time/total_timesteps", "eval/win_rate"


def write_progress(path: Path, rows: list[tuple[int, float | None]]) -> None:
    """A progress.csv as SB3 writes it: training rows without a test value, test rows with one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([STEP, WIN, "time/time_elapsed"])
        for step, win in rows:
            writer.writerow([step, "" if win is None else win, step / 100])


def test_test_curve_prefers_the_later_file_from_its_first_step(tmp_path: Path) -> None:
    write_progress(tmp_path / "progress.csv.part1", [(10, 0.1), (20, 0.2), (30, 0.3)])
    write_progress(tmp_path / "progress.csv", [(15, None), (20, 0.9), (40, 1.0)])
    assert summarize_pp.test_curve(tmp_path, WIN) == {10: 0.1, 20: 0.9, 40: 1.0}


@pytest.mark.parametrize(
    ("folder", "algo", "setting", "tag"),
    [
        ("PredatorPrey-5x5_P1_QMIX_authors-steps_s0", "QMIX", "authors-steps", None),
        ("PredatorPrey-5x5_P0.5_QTRAN-authors_authors-steps_s1", "QTRAN-authors", "authors-steps", None),
        ("PredatorPrey-5x5_P1_QTRAN-authors_authors-agents_s0", "QTRAN-authors", "authors-agents", None),
        ("PredatorPrey-7x7_P1.5_QTRAN_authors_s2_1M", "QTRAN", "authors", "_1M"),
    ],
)
def test_predator_prey_folder_names(folder: str, algo: str, setting: str, tag: str | None) -> None:
    match = summarize_pp.NAME.match(folder)
    assert match is not None and (match["algo"], match["setting"], match["tag"]) == (algo, setting, tag)


def test_curve_statistics() -> None:
    curve = {10: 0.0, 20: 0.96, 30: 0.5, 40: 0.85, 50: 0.9}
    assert summarize_smacsim.first_at_or_after(curve, 25) == 0.5
    assert summarize_smacsim.first_at_or_after(curve, 51) is None
    assert summarize_smacsim.first_reaching(curve, 0.95) == 20
    assert summarize_smacsim.first_reaching(curve, 0.99) is None
    assert summarize_smacsim.first_reaching(curve, 0.96) == 20  # at the target counts
    assert summarize_smacsim.stays_from(curve, 0.8) == 40
    assert summarize_smacsim.stays_from({**curve, 60: 0.7}, 0.8) is None


def test_identify_benchmark_and_zoo_folders() -> None:
    assert summarize_smacsim.identify(Path("runs/smacsim_qmix_5m_vs_6m/seed2")) == ("5m_vs_6m", "QMIX", "2")
    assert summarize_smacsim.identify(Path("runs/zoo/qmix_SMACSim-2s3z_s0")) == ("2s3z", "QMIX", "0")
    assert summarize_smacsim.identify(Path("runs/smacsim_vdn_3s5z/seed0_500k_run1")) is None


@pytest.mark.parametrize("timing", [True, False])
def test_table_has_a_median_row_per_map_and_algorithm(tmp_path: Path, timing: bool) -> None:
    curves = {
        0: [(0, 0.0), (100_000, 0.5), (200_000, 0.95), (300_000, 0.99)],
        1: [(0, 0.0), (100_000, 0.97), (200_000, 0.6), (300_000, 0.9)],
        2: [(0, 0.0), (50_000, None), (100_000, 0.0), (200_000, 0.2), (300_000, 0.4)],
    }
    folders = []
    for seed, rows in curves.items():
        folder = tmp_path / "runs" / "smacsim_qmix_3m" / f"seed{seed}"
        write_progress(folder / "progress.csv", rows)
        if timing:
            (folder / "timing.json").write_text(json.dumps({"num_timesteps": 300_000, "elapsed": 3000.0 * (seed + 1)}))
        folders.append(str(folder))
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "summarize_smacsim.py"), *folders, "--marks", "100000,200000", "--window", "150000"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| 3m")]
    assert [row[2] for row in rows] == ["0", "1", "2", "**median of 3**"]
    # seed, 100k, 200k, first >= 0.95, >= 0.8 from then on, last, mean over the last 150k steps, steps/s
    assert rows[0][3:9] == ["0.50", "0.95", "200k", "200k", "0.99", "0.97"]
    assert rows[1][5:7] == ["100k", "300k"]
    assert rows[2][5:7] == ["not reached", "not reached"]
    assert rows[3][3:9] == ["0.50", "0.60", "200k", "300k", "0.90", "0.75"]
    speeds = [row[9].rstrip(" |") for row in rows]
    assert speeds == (["100", "50", "33", "50"] if timing else ["100", "100", "100", "100"])
