"""Every script in ``examples/`` runs as a smoke test with a tiny budget (``happo_halfcheetah.py``: tests/agents)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, *args: str, timeout: int = 240) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_qmix_smacsim(tmp_path: Path) -> None:
    out = run_example(
        "qmix_smacsim.py",
        "--timesteps",
        "100",
        "--n-envs",
        "2",
        "--test-episodes",
        "0",
        "--eval-episodes",
        "2",
        "--out",
        str(tmp_path),
    )
    assert "win rate" in out
    for name in ("model.zip", "progress.csv", "3m.gif"):
        assert (tmp_path / name).exists(), name


def test_qtran_matrix_game() -> None:
    out = run_example("qtran_matrix_game.py", "--timesteps", "64")
    assert out.count("greedy joint action") == 3


def test_custom_env() -> None:
    out = run_example("custom_env.py", "--timesteps", "512", "--n-envs", "2")
    assert "registered: ['MeetOnALine-v0']" in out and "after" in out and "positions:" in out


def test_embed_policy() -> None:
    from trmarl.zoo import list_pretrained

    shipped = {(e.algo, e.env_id) for e in list_pretrained()}
    if ("QTRAN", "MatrixGame-QTRAN") not in shipped:
        pytest.skip("no shipped QTRAN checkpoint")
    out = run_example("embed_policy.py", "--algo", "QTRAN", "--env", "MatrixGame-QTRAN", "--episodes", "2")
    assert out.count("return 8.00") == 2


def test_qtran_predator_prey(tmp_path: Path) -> None:
    from trmarl import QTRAN

    out = run_example(
        "qtran_predator_prey.py",
        "--timesteps",
        "300",
        "--warmup",
        "100",
        "--test-interval",
        "150",
        "--out",
        str(tmp_path),
    )
    assert out.count("greedy test return") == 2 and "one greedy episode: return" in out
    model = QTRAN.load(tmp_path / "model.zip")
    assert model.config.qtran_arch == "authors" and model.config.mlp_hidden_layers == 3
