"""Checkpoint files: one zip, nothing pickled.

Layout (``DESIGN.md``, "Checkpoints")::

    checkpoint.zip
      config.json            algorithm, trmarl version, hyperparameters, env id/kwargs, spaces, step counters,
                             RNG states, and the SHA-256 of every other member
      model.safetensors      network weights and normaliser statistics
      optimizer.safetensors  optimizer state tensors (Adam moments, step counts)
      optimizer.json         optimizer param groups and non-tensor state

Only JSON and safetensors are ever parsed, so loading an untrusted file cannot run code (``torch.load`` and ``pickle``
are never called). Writes go to a temporary file in the target folder, then ``os.replace`` (atomic on POSIX and
Windows). A file that is not a zip, is truncated, misses a member or fails its checksum raises
:class:`CheckpointError` (a ``ValueError``) with a plain message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "optimizer_state_from_tensors",
    "optimizer_state_to_tensors",
    "read_checkpoint",
    "dumps_json_safe",
    "resolve_path",
    "torch_rng_from_json",
    "torch_rng_to_json",
    "write_checkpoint",
]

FORMAT_NAME = "trmarl-checkpoint"
FORMAT_VERSION = 1
_MEMBERS = ("model.safetensors", "optimizer.safetensors", "optimizer.json")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read: not a trmarl zip, truncated, tampered with, or for another algorithm/env."""


class Checkpoint(NamedTuple):
    """The decoded content of a checkpoint file."""

    config: dict[str, Any]
    model: dict[str, torch.Tensor]
    optimizer_tensors: dict[str, torch.Tensor]
    optimizer_meta: dict[str, Any]


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """SB3's convention: a path without a suffix gets ``.zip``."""
    p = Path(path)
    return p if p.suffix else p.with_suffix(".zip")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _to_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    return st_save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()})


def write_checkpoint(
    path: str | os.PathLike[str],
    config: dict[str, Any],
    model: dict[str, torch.Tensor],
    optimizer_tensors: dict[str, torch.Tensor],
    optimizer_meta: dict[str, Any],
) -> Path:
    """Write a checkpoint atomically and return its path (``.zip`` appended when ``path`` has no suffix).

    Args:
        path: Target file.
        config: JSON-serialisable metadata (checksums are added here).
        model: Named tensors of the networks and normalisers.
        optimizer_tensors: Named optimizer state tensors (see :func:`optimizer_state_to_tensors`).
        optimizer_meta: JSON-serialisable optimizer param groups and scalars.
    """
    target = resolve_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model.safetensors": _to_bytes(model),
        "optimizer.safetensors": _to_bytes(optimizer_tensors),
        "optimizer.json": json.dumps(optimizer_meta, sort_keys=True).encode(),
    }
    config = {**config, "format": FORMAT_NAME, "format_version": FORMAT_VERSION}
    config["checksums"] = {name: _sha256(data) for name, data in payload.items()}
    config_bytes = json.dumps(config, indent=2, sort_keys=True).encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("config.json", config_bytes)
            for name, data in payload.items():
                zf.writestr(name, data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def not_a_checkpoint_message(path: str | os.PathLike[str], names: Iterable[str]) -> str:
    """The error for a zip without ``config.json``, naming a replay buffer (``save_replay_buffer``) as such."""
    if "replay.json" in set(names):
        return f"{str(path)!r} is a replay buffer, not a model checkpoint: load the model, then model.load_replay_buffer(path)"
    return f"{str(path)!r} is a zip but not a trmarl checkpoint (no config.json)"


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and verify a checkpoint written by :func:`write_checkpoint`.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Not a trmarl checkpoint, truncated or corrupted, or a member whose checksum does not match.
    """
    p = Path(path)
    if not p.exists() and not p.suffix and resolve_path(p).exists():
        p = resolve_path(p)
    if not p.exists():
        raise FileNotFoundError(f"no checkpoint at {str(p)!r}")
    try:
        with zipfile.ZipFile(p, "r") as zf:
            names = set(zf.namelist())
            if "config.json" not in names:
                raise CheckpointError(not_a_checkpoint_message(p, names))
            config = json.loads(zf.read("config.json").decode())
            if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
                raise CheckpointError(f"{str(p)!r} is not a trmarl checkpoint (config.json has no trmarl format tag)")
            if int(config.get("format_version", 0)) > FORMAT_VERSION:
                raise CheckpointError(
                    f"{str(p)!r} uses checkpoint format {config['format_version']}, newer than this trmarl understands "
                    f"({FORMAT_VERSION}); upgrade trmarl"
                )
            missing = [m for m in _MEMBERS if m not in names]
            if missing:
                raise CheckpointError(f"{str(p)!r} is incomplete: missing {missing}")
            data = {m: zf.read(m) for m in _MEMBERS}
    except zipfile.BadZipFile as exc:
        raise CheckpointError(f"{str(p)!r} is not a valid checkpoint zip (truncated or corrupted: {exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{str(p)!r} has an unreadable config.json ({exc})") from exc
    except (EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CheckpointError(f"{str(p)!r} could not be read (truncated or corrupted: {exc})") from exc
    checksums = config.get("checksums", {})
    for name, blob in data.items():
        if checksums.get(name) != _sha256(blob):
            raise CheckpointError(f"{str(p)!r}: checksum mismatch for {name} (the file was modified or corrupted)")
    try:
        model = st_load(data["model.safetensors"])
        optimizer_tensors = st_load(data["optimizer.safetensors"])
        optimizer_meta = json.loads(data["optimizer.json"].decode())
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{str(p)!r}: could not decode the tensors ({exc})") from exc
    return Checkpoint(config, model, optimizer_tensors, optimizer_meta)


# ----------------------------------------------------------------------------------------------------------------
# Optimizers and RNG states as tensors + JSON
# ----------------------------------------------------------------------------------------------------------------


def optimizer_state_to_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (``{name}.{param}.{key}``) and JSON metadata."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, entries in state_dict["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}.{param_id}.{key}"] = value
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state_dict["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


_IMPLEMENTATION_FLAGS = ("foreach", "fused", "capturable", "differentiable")


def optimizer_state_from_tensors(
    name: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    """Inverse of :func:`optimizer_state_to_tensors`: load the state into ``optimizer``.

    Raises:
        CheckpointError: The stored param groups do not match the optimizer's parameters.
    """
    prefix = f"{name}."
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            param_id, _, entry = key[len(prefix) :].partition(".")
            state.setdefault(int(param_id), {})[entry] = value
    for param_id, entries in meta.get("scalars", {}).items():
        state.setdefault(int(param_id), {}).update(entries)
    groups = []
    for g, current in zip(meta["param_groups"], optimizer.param_groups, strict=False):
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        for key in _IMPLEMENTATION_FLAGS:  # how to compute is this optimizer's choice, not the checkpoint's
            if key in current:
                g[key] = current[key]
        groups.append(g)
    groups += [dict(g) for g in meta["param_groups"][len(groups) :]]  # a count mismatch: load_state_dict says so
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"optimizer {name!r} does not match the stored state ({exc})") from exc


def torch_rng_to_json(generator: torch.Generator | None = None) -> str:
    """A torch RNG state (``generator``, or the global CPU one) as base64 text."""
    state = generator.get_state() if generator is not None else torch.get_rng_state()
    return base64.b64encode(state.numpy().tobytes()).decode("ascii")


def torch_rng_from_json(text: str) -> torch.Tensor:
    """Decode :func:`torch_rng_to_json` into a ``uint8`` state tensor."""
    return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype=np.uint8).copy())


def dumps_json_safe(obj: Any) -> Any:
    """Convert numpy scalars/arrays inside ``obj`` to plain Python for ``json``."""
    if isinstance(obj, dict):
        return {str(k): dumps_json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [dumps_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
