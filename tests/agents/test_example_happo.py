"""``examples/happo_halfcheetah.py`` runs as a smoke test (one tiny iteration)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_happo_halfcheetah_example(tmp_path: Path) -> None:
    cmd = [
        sys.executable, str(ROOT / "examples" / "happo_halfcheetah.py"),
        "--timesteps", "400", "--n-envs", "2", "--eval-episodes", "2", "--eval-every", "400", "--seed", "3", "--out", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "deterministic return" in done.stdout
    for name in ("model.zip", "learning_curve.png", "learning_curve.csv", "progress.csv"):
        assert (tmp_path / name).exists(), name
    rows = (tmp_path / "learning_curve.csv").read_text().splitlines()
    assert rows[0] == "timesteps,eval_mean_return" and len(rows) == 3  # before training and after the one iteration
