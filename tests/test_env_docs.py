"""docs/envs.md lists every registered id with the spaces the code builds (regenerate: python docs/gen_envs.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trmarl

ROOT = Path(__file__).resolve().parents[1]


def test_every_id_is_documented():
    text = (ROOT / "docs" / "envs.md").read_text()
    missing = [i for i in trmarl.list_envs() if f"`{i}`" not in text]
    assert not missing, f"ids missing from docs/envs.md: {missing}"


def test_env_table_is_up_to_date():
    done = subprocess.run(
        [sys.executable, "docs/gen_envs.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
