"""The documentation site builds with ``mkdocs build --strict`` (broken links, missing pages and bad API references fail)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    mkdocs = [sys.executable, "-m", "mkdocs"]
    done = subprocess.run(
        [*mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site"), "--config-file", str(ROOT / "mkdocs.yml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-5000:]
    for page in ("index.html", "quickstart/index.html", "cli/index.html", "api/agents/index.html"):
        assert (tmp_path / "site" / page).exists(), page
