"""Pretrained checkpoints shipped with trmarl, with the returns they were measured to reach.

>>> import trmarl
>>> from trmarl.zoo import list_pretrained
>>> [(e.algo, e.env_id) for e in list_pretrained()]  # doctest: +SKIP
[('QMIX', 'SMACSim-3m'), ('QTRAN', 'MatrixGame-QTRAN')]
>>> model = trmarl.load_pretrained("QMIX", "SMACSim-3m")  # doctest: +SKIP

Every entry of ``trmarl/zoo/index.json`` names a checkpoint zip in ``trmarl/zoo/checkpoints/`` (the ordinary trmarl
format: JSON + safetensors, nothing pickled) and records how it was made: the training configuration, the trmarl commit
(``git rev-parse HEAD`` at training time), the environment steps, and the mean and standard deviation of its
deterministic evaluation return over ``eval_episodes`` episodes. ``tests/test_zoo.py`` re-evaluates every shipped
checkpoint and checks it still scores within ``tolerance`` of that return. ``python -m trmarl.zoo.train_pretrained``
trains, evaluates and adds (or replaces) an entry.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path
from typing import Any

__all__ = [
    "CHECKPOINT_DIR",
    "INDEX_PATH",
    "PretrainedEntry",
    "get_pretrained",
    "list_pretrained",
    "load_pretrained",
    "read_index",
    "write_index",
]

#: The index of shipped checkpoints.
INDEX_PATH = Path(__file__).resolve().parent / "index.json"
#: The folder holding the shipped checkpoint zips.
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
_INDEX_FORMAT = "trmarl-zoo-index"


@dataclasses.dataclass(frozen=True)
class PretrainedEntry:
    """One shipped checkpoint and how it was made.

    Attributes:
        algo: Algorithm name (``"QMIX"``).
        env_id: Registered env id (``"SMACSim-3m"``).
        env_kwargs: Keyword arguments the env was built with (``{"obs_mode": "global"}``).
        file: Checkpoint file name inside ``trmarl/zoo/checkpoints/``.
        timesteps: Environment steps of training.
        eval_mean: Mean deterministic return over ``eval_episodes`` episodes, measured after training.
        eval_std: Standard deviation of those returns.
        eval_episodes: Episodes of that evaluation.
        eval_seed: Seed of the evaluation envs.
        tolerance: How far a short re-evaluation (``test_episodes`` episodes) may fall below ``eval_mean`` (or rise
            above it) before ``tests/test_zoo.py`` fails.
        test_episodes: Episodes of that re-evaluation.
        win_rate: Fraction of won evaluation episodes, where the env reports wins.
        config: The training configuration (hyperparameter overrides, ``n_envs``, ``seed``, full hyperparameters).
        trmarl_commit: ``git rev-parse HEAD`` of the trmarl checkout that trained it (``"+dirty"`` when it had local
            changes), or ``"unknown"``.
        trmarl_version: ``trmarl.__version__`` at training time.
        date: UTC date and time of the evaluation (ISO 8601).
        train_seconds: Wall-clock seconds of training.
        notes: Free text (machine, caveats).
    """

    algo: str
    env_id: str
    env_kwargs: dict[str, Any]
    file: str
    timesteps: int
    eval_mean: float
    eval_std: float
    eval_episodes: int
    eval_seed: int
    tolerance: float
    test_episodes: int
    win_rate: float | None
    config: dict[str, Any]
    trmarl_commit: str
    trmarl_version: str
    date: str
    train_seconds: float = 0.0
    notes: str = ""

    @property
    def path(self) -> Path:
        """Where the checkpoint zip lies."""
        return CHECKPOINT_DIR / self.file

    @property
    def key(self) -> str:
        """``"ALGO/env_id"``."""
        return f"{self.algo}/{self.env_id}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PretrainedEntry:
        """Inverse of :meth:`to_json` (unknown keys are ignored, so older trmarl can read newer indexes)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def read_index(path: str | Path | None = None) -> list[PretrainedEntry]:
    """The entries of an index file (default: the shipped :data:`INDEX_PATH`; a missing file means no entries)."""
    p = Path(path) if path is not None else INDEX_PATH
    if not p.exists():
        return []
    data = json.loads(p.read_text())
    if not isinstance(data, dict) or data.get("format") != _INDEX_FORMAT:
        raise ValueError(f"{str(p)!r} is not a trmarl zoo index")
    return [PretrainedEntry.from_json(e) for e in data.get("entries", [])]


def write_index(entries: list[PretrainedEntry], path: str | Path | None = None) -> Path:
    """Write ``entries`` (sorted by algorithm and env id) to an index file (default :data:`INDEX_PATH`)."""
    p = Path(path) if path is not None else INDEX_PATH
    ordered = sorted(entries, key=lambda e: (e.algo, e.env_id))
    data = {"format": _INDEX_FORMAT, "version": 1, "entries": [e.to_json() for e in ordered]}
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(p)
    return p


def list_pretrained() -> list[PretrainedEntry]:
    """Every shipped checkpoint, sorted by algorithm and env id."""
    return sorted(read_index(), key=lambda e: (e.algo, e.env_id))


def get_pretrained(algo: str, env_id: str) -> PretrainedEntry:
    """The index entry of ``algo`` on ``env_id`` (the algorithm name is case-insensitive).

    Raises:
        KeyError: No such entry; the message lists the shipped ones closest to it.
    """
    entries = list_pretrained()
    for entry in entries:
        if entry.algo.lower() == str(algo).lower() and entry.env_id == env_id:
            return entry
    keys = [e.key for e in entries]
    close = difflib.get_close_matches(f"{str(algo).upper()}/{env_id}", keys, n=3, cutoff=0.4)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    shipped = ", ".join(keys) if keys else "none"
    raise KeyError(f"no pretrained {algo} model for {env_id!r}.{hint} Shipped: {shipped}.")


def load_pretrained(algo: str, env_id: str, device: str = "auto", env: Any = None, **kwargs: Any) -> Any:
    """Load a shipped checkpoint, ready to ``predict`` (or to continue ``learn``).

    Args:
        algo: Algorithm name (``"QMIX"``; case-insensitive).
        env_id: Env id the checkpoint was trained on (``"SMACSim-3m"``).
        device: Where to put the networks (``"auto"``, ``"cpu"``, ``"cuda"``).
        env: Optional training env (see :meth:`trmarl.agents.base.BaseAgent.load`).
        **kwargs: Passed to :func:`trmarl.load` (``verbose``, ``n_envs``...).

    Returns:
        The trained agent (an instance of the algorithm's class).

    Raises:
        KeyError: No such shipped checkpoint (the message lists the close ones).
        FileNotFoundError: The index names a file that is missing from this installation.
    """
    from trmarl.agents.base import load

    entry = get_pretrained(algo, env_id)
    if not entry.path.exists():
        raise FileNotFoundError(
            f"pretrained checkpoint {entry.file!r} is listed in the index but missing from {CHECKPOINT_DIR}"
        )
    return load(entry.path, env=env, device=device, **kwargs)
