"""The MADDPG example runs (a tiny configuration of it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "maddpg_halfcheetah.py"


@pytest.mark.parametrize("algo", ["MADDPG", "MATD3"])
def test_example_runs_and_prints_a_summary(algo, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("maddpg_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = ["--algo", algo, "--timesteps", "300", "--n-envs", "2", "--warmup-steps", "100", "--batch-size", "32"]
    args += ["--eval-episodes", "1", "--max-episode-steps", "30", "--out", str(tmp_path)]
    result = module.main(args)
    assert set(result) == {"before", "after", "seconds"}
    assert "deterministic return" in capsys.readouterr().out
    assert (tmp_path / "model.zip").exists() and (tmp_path / "progress.csv").exists()
