"""The ``trmarl`` command: train, evaluate, watch, plot and inspect multi-agent policies.

Subcommands (each has ``--help``)::

    trmarl train ALGO ENV_ID [--timesteps N] [--n-envs E] [--seed S] [--out DIR] [--set key=value ...]
                 [--env-kwarg key=value ...] [--device D] [--progress]
    trmarl resume RUN_DIR [--timesteps N] [--device D] [--progress]
    trmarl eval CHECKPOINT [--episodes N] [--deterministic | --no-deterministic] [--render video.gif|video.mp4]
    trmarl list envs [--family F] | algos | pretrained
    trmarl plot RUN_DIR [RUN_DIR ...] [--out fig.png] [--metric rollout/ep_rew_mean]
    trmarl info CHECKPOINT

``train`` writes a run folder (``runs/<algo>_<env>_s<seed>`` by default): ``config.json`` (the whole run
configuration), ``progress.csv``, TensorBoard event files (when ``tensorboard`` is installed), periodic checkpoints in
``checkpoints/`` (with the replay buffer of the off-policy agents) and ``final_model.zip`` (with
``final_replay_buffer.zip``); Ctrl-C saves ``interrupted_model.zip`` (and its replay) first, and ``resume`` continues
the run from the newest of them. Hyperparameters given with ``--set`` are parsed by the type of the algorithm's config
field (``int``, ``float``, ``bool``, ``str``, tuples, lists, ``None`` and ``Literal`` choices); nothing is ever
``eval``-ed. Mistakes (an unknown algorithm, env id or hyperparameter, a bad value, a missing file) print one
``trmarl: error: ...`` line and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import difflib
import importlib
import itertools
import json
import os
import platform
import re
import sys
import time
import types
import typing
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

__all__ = [
    "CLIError",
    "algorithm_class",
    "build_parser",
    "main",
    "parse_env_kwargs",
    "parse_overrides",
    "parse_value",
    "read_checkpoint_config",
    "train",
]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A user mistake: printed as one ``trmarl: error: ...`` line, exit status 2."""


class TrainingInterrupted(Exception):
    """Ctrl-C during ``train``; the model was saved to :attr:`path` first."""

    def __init__(self, path: Path, num_timesteps: int) -> None:
        super().__init__(f"interrupted at {num_timesteps} steps; saved {path}")
        self.path = path
        self.num_timesteps = num_timesteps


# --------------------------------------------------------------------------------------------------------------
# Algorithms and typed hyperparameters
# --------------------------------------------------------------------------------------------------------------


def algorithm_names() -> list[str]:
    """The algorithm names trmarl knows (some may be unavailable in this installation)."""
    from trmarl.agents.base import ALGORITHMS

    return sorted(ALGORITHMS)


def algorithm_class(name: str) -> type[Any]:
    """The agent class of ``name`` (case-insensitive: ``qmix``, ``QMIX``).

    Raises:
        CLIError: Unknown or unavailable algorithm.
    """
    from trmarl.agents.base import ALGORITHMS

    by_lower = {k.lower(): k for k in ALGORITHMS}
    key = by_lower.get(str(name).lower())
    if key is None:
        close = difflib.get_close_matches(str(name).upper(), list(ALGORITHMS), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else f" Known: {', '.join(sorted(ALGORITHMS))}."
        raise CLIError(f"unknown algorithm {name!r}.{hint}")
    try:
        return getattr(importlib.import_module(ALGORITHMS[key]), key)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise CLIError(f"algorithm {key} is not available in this trmarl installation ({exc})") from exc


_TRUE = {"true", "yes", "on", "1", "y", "t"}
_FALSE = {"false", "no", "off", "0", "n", "f"}
_NONE = {"none", "null"}
#: Names users bring from other libraries -> trmarl's names to suggest.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "learning_rate": ("lr",),
    "lr": ("learning_rate",),
    "n_epochs": ("ppo_epoch",),
    "ppo_epoch": ("n_epochs",),
    "episode_length": ("n_steps",),
    "entropy_coef": ("ent_coef",),
    "clip_param": ("clip_range",),
    "rnn_hidden_dim": ("hidden_dim",),
}


def _describe(tp: Any) -> str:
    """A short human description of a type annotation (for error messages)."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is type(None):
        return "None"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (tuple, list) or tp in (tuple, list):
        inner = [a for a in args if a is not Ellipsis] or [Any]
        return f"comma-separated {' / '.join(_describe(a) for a in dict.fromkeys(inner))} values"
    if tp is bool:
        return "true/false"
    return getattr(tp, "__name__", str(tp))


def parse_value(text: str, tp: Any) -> Any:
    """Parse command-line ``text`` as a value of type annotation ``tp`` (never ``eval``).

    Supports ``int`` (``100_000``, ``1e6``), ``float``, ``bool`` (``true``/``false``/``yes``/``no``/``1``/``0``),
    ``str``, ``None`` (``none``/``null``) inside unions, ``Literal`` choices, and ``tuple``/``list`` of those
    (comma-separated, brackets optional: ``64,64`` or ``[64, 64]``).

    Raises:
        ValueError: ``text`` is not a value of that type (the message says what was expected).
    """
    s = text.strip()
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return _guess_value(s)
    if tp is type(None):
        if s.lower() in _NONE:
            return None
        raise ValueError("expected None")
    if origin in (Union, types.UnionType):
        if type(None) in args and s.lower() in _NONE:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return parse_value(s, arg)
            except ValueError:
                continue
        raise ValueError(f"expected {_describe(tp)}")
    if origin is Literal:
        for choice in args:
            if (choice is None and s.lower() in _NONE) or str(choice) == s:
                return choice
            if isinstance(choice, bool) is False and isinstance(choice, (int, float)):
                try:
                    if type(choice)(s) == choice:
                        return choice
                except ValueError:
                    pass
        raise ValueError(f"expected {_describe(tp)}")
    if tp is bool:
        if s.lower() in _TRUE:
            return True
        if s.lower() in _FALSE:
            return False
        raise ValueError("expected true or false")
    if tp is int:
        try:
            return int(s)
        except ValueError:
            pass
        try:
            f = float(s)
        except ValueError:
            raise ValueError("expected an integer") from None
        if not f.is_integer():
            raise ValueError("expected an integer")
        return int(f)
    if tp is float:
        try:
            return float(s)
        except ValueError:
            raise ValueError("expected a number") from None
    if tp is str:
        return s
    if origin in (tuple, list) or tp in (tuple, list):
        body = s
        if body[:1] in "([" and body[-1:] in ")]":
            body = body[1:-1]
        items = [x.strip() for x in body.split(",") if x.strip()]
        if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
            if len(items) != len(args):
                raise ValueError(f"expected {len(args)} comma-separated values")
            return tuple(parse_value(x, a) for x, a in zip(items, args))
        elem = args[0] if args else Any
        values = [parse_value(x, elem) for x in items]
        return tuple(values) if (origin is tuple or tp is tuple) else values
    raise ValueError(f"values of type {_describe(tp)} cannot be set from the command line")


def _guess_value(s: str) -> Any:
    """An untyped value: None, a bool, an int, a float, a JSON list/dict, else the string itself."""
    low = s.lower()
    if low in _NONE:
        return None
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    if s[:1] in "[{":
        try:
            return json.loads(s)
        except json.JSONDecodeError:
            pass
    return s


def _split_pair(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise CLIError(f"{flag} expects key=value, got {item!r}")
    return key.strip(), value


def parse_overrides(config_class: type[Any], items: Sequence[str]) -> dict[str, Any]:
    """Parse ``--set key=value`` items into typed hyperparameters of ``config_class`` and validate them.

    Raises:
        CLIError: An unknown key (with the close matches), a value of the wrong type, or a combination the config
            rejects.
    """
    hints = typing.get_type_hints(config_class)
    names = [f.name for f in dataclasses.fields(config_class)]
    out: dict[str, Any] = {}
    for item in items:
        key, value = _split_pair(item, "--set")
        key = key.replace("-", "_")
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
            close += [n for n in _SYNONYMS.get(key, ()) if n in names and n not in close]
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            hint += " See 'trmarl list hyperparameters ALGO'."
            raise CLIError(f"{config_class.__name__} has no hyperparameter {key!r}.{hint}")
        try:
            out[key] = parse_value(value, hints[key])
        except ValueError as exc:
            del exc
            raise CLIError(f"--set {key}={value}: {key} takes {_describe(hints[key])}") from None
    try:
        config_class(**out)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"invalid hyperparameters: {exc}") from None
    return out


def parse_env_kwargs(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``--env-kwarg key=value`` items (values: None, bools, numbers, JSON lists/dicts, else strings)."""
    out: dict[str, Any] = {}
    for item in items:
        key, value = _split_pair(item, "--env-kwarg")
        out[key] = _guess_value(value.strip())
    return out


def _check_env_id(env_id: str) -> None:
    from trmarl.envs.registry import spec

    try:
        spec(env_id)
    except KeyError as exc:
        raise CLIError(exc.args[0]) from None


def _import_modules(modules: Sequence[str]) -> None:
    """``--import``: import user modules (which register their envs) before anything else."""
    sys.path.insert(0, os.getcwd())
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise CLIError(f"--import {name}: {exc}") from None


# --------------------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------------------


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def default_run_dir(algo: str, env_id: str, seed: int | None, root: str | os.PathLike[str] = "runs") -> Path:
    """``runs/<algo>_<env>_s<seed>``, with ``_2``, ``_3``... appended when that folder already holds a run."""
    base = Path(root) / _safe_name(f"{algo.lower()}_{env_id}_s{seed if seed is not None else 'none'}")
    candidate, k = base, 1
    while candidate.exists() and any(candidate.iterdir()):
        k += 1
        candidate = base.with_name(f"{base.name}_{k}")
    return candidate


def _tensorboard_available() -> bool:
    try:
        importlib.import_module("torch.utils.tensorboard")
    except ImportError:
        return False
    return True


def _json_ready(obj: Any) -> Any:
    from trmarl.common.serialization import dumps_json_safe

    return json.loads(json.dumps(dumps_json_safe(obj), default=str))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def train(
    algo: str,
    env_id: str,
    *,
    timesteps: float,
    n_envs: int | None = None,
    seed: int | None = 0,
    out: str | os.PathLike[str] | None = None,
    device: str = "auto",
    hyperparams: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
    checkpoint_freq: int | None = None,
    verbose: int = 1,
    vec_backend: str = "auto",
    runs_root: str | os.PathLike[str] = "runs",
    command: Sequence[str] | None = None,
) -> tuple[Any, Path]:
    """Train ``algo`` on ``env_id`` into a run folder (what ``trmarl train`` does).

    Args:
        algo: Algorithm name (case-insensitive).
        env_id: Registered env id.
        timesteps: Environment steps (summed over envs).
        n_envs: Parallel envs (None: the algorithm's default).
        seed: Random seed.
        out: Run folder (None: :func:`default_run_dir`).
        device: Torch device.
        hyperparams: Typed hyperparameter overrides (see :func:`parse_overrides`).
        env_kwargs: Keyword arguments of the env.
        progress: Show a progress bar.
        checkpoint_freq: Save ``checkpoints/model_<steps>_steps.zip`` about every this many env steps (None: every
            tenth of the run; 0: never).
        verbose: 0 quiet, 1 a log table on stdout every iteration.
        vec_backend: ``"auto"`` (native batched envs where there are some), ``"sync"`` or ``"subprocess"``.
        runs_root: Parent folder of default run folders.
        command: The command line, stored in ``config.json``.

    Returns:
        The trained model and its run folder (``final_model.zip`` inside).

    Raises:
        CLIError: Bad algorithm, env id, hyperparameters or env kwargs.
        TrainingInterrupted: Ctrl-C; ``interrupted_model.zip`` was saved first.
    """
    import trmarl

    cls = algorithm_class(algo)
    hyper = dict(hyperparams or {})
    try:
        config = cls.config_class(**hyper)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"invalid hyperparameters: {exc}") from None
    _check_env_id(env_id)
    if not float(timesteps) > 0:
        raise CLIError(f"--timesteps must be positive, got {timesteps}")
    if n_envs is not None and n_envs < 1:
        raise CLIError(f"--n-envs must be positive, got {n_envs}")
    run_dir = Path(out) if out is not None else default_run_dir(cls.algorithm_name, env_id, seed, runs_root)
    if run_dir.exists() and not run_dir.is_dir():
        raise CLIError(f"--out {str(run_dir)!r} exists and is not a folder")
    if (run_dir / "config.json").exists():  # its checkpoints would mix with the new run's and mislead 'resume'
        raise CLIError(
            f"--out {str(run_dir)!r} already holds a run: continue it with 'trmarl resume {run_dir}', or choose another "
            "folder (or delete this one)"
        )
    try:
        model = cls(
            env_id,
            seed=seed,
            device=device,
            verbose=verbose,
            n_envs=n_envs,
            vec_backend=vec_backend,
            env_kwargs=dict(env_kwargs or {}),
            **hyper,
        )
    except (TypeError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise CLIError(f"cannot build {cls.algorithm_name} on {env_id}: {message}") from None
    run_dir.mkdir(parents=True, exist_ok=True)
    freq = int(timesteps) // 10 if checkpoint_freq is None else int(checkpoint_freq)
    run_config: dict[str, Any] = {
        "algo": cls.algorithm_name,
        "env_id": env_id,
        "env_kwargs": _json_ready(model.env_kwargs),
        "timesteps": int(timesteps),
        "n_envs": model.n_envs,
        "seed": seed,
        "device": str(model.device),
        "vec_backend": vec_backend,
        "overrides": _json_ready(hyper),
        "hyperparameters": _json_ready(dataclasses.asdict(config)),
        "checkpoint_freq": freq,
        "trmarl_version": trmarl.__version__,
        "python": platform.python_version(),
        "command": list(command) if command is not None else None,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "status": "running",
    }
    _write_json(run_dir / "config.json", run_config)
    return _run(model, run_dir, run_config, int(timesteps), progress=progress, verbose=verbose, resume_step=None)


def resume(
    run_dir: str | os.PathLike[str],
    *,
    timesteps: float | None = None,
    device: str = "auto",
    progress: bool = False,
    verbose: int = 1,
    command: Sequence[str] | None = None,
) -> tuple[Any, Path]:
    """Continue a run folder written by :func:`train` from its newest saved state (``trmarl resume``).

    The newest of ``checkpoints/model_<steps>_steps.zip``, ``interrupted_model.zip`` and ``final_model.zip`` (by the
    step count stored in each) is loaded with its replay buffer where one was saved beside it (the off-policy agents),
    on the run's env, env kwargs and ``n_envs``; training goes on to the run's total (or ``timesteps``) with the same
    checkpointing, and ``progress.csv`` keeps its rows up to that state's step count.

    Args:
        run_dir: The run folder.
        timesteps: The run's new total of env steps (default: the total it was started with).
        device: Torch device for the networks.
        progress: Show a progress bar.
        verbose: 0 quiet, 1 a log table on stdout every iteration.
        command: The command line, recorded in ``config.json`` under ``resumed``.

    Returns:
        The trained model and its run folder.

    Raises:
        CLIError: Not a run folder, nothing to resume from, or the run already has ``timesteps`` steps.
        TrainingInterrupted: Ctrl-C; ``interrupted_model.zip`` was saved first.
    """
    folder = Path(run_dir)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CLIError(f"{str(folder)!r} holds no config.json: not a run folder written by 'trmarl train'")
    try:
        run_config = json.loads(config_path.read_text())
        cls = algorithm_class(str(run_config["algo"]))
        env_id, total = str(run_config["env_id"]), int(run_config["timesteps"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CLIError(f"{str(config_path)!r} is not a readable run config ({exc})") from None
    if timesteps is not None:
        if not float(timesteps) > 0:
            raise CLIError(f"--timesteps must be positive, got {timesteps}")
        total = int(timesteps)
    state = _newest_state(folder)
    if state is None:
        raise CLIError(
            f"nothing to resume in {str(folder)!r}: no checkpoints/model_<steps>_steps.zip, interrupted_model.zip or "
            "final_model.zip"
        )
    steps, model_path, replay_path = state
    if steps >= total:
        raise CLIError(f"{str(folder)!r} already has {steps} of its {total} steps; give a larger total with --timesteps")
    try:
        model = cls.load(
            model_path,
            env=env_id,
            device=device,
            n_envs=run_config.get("n_envs"),
            vec_backend=run_config.get("vec_backend") or "auto",
            verbose=verbose,
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise CLIError(f"cannot load {str(model_path)!r} on {env_id}: {exc}") from None
    if replay_path is not None:
        model.load_replay_buffer(replay_path)
    elif getattr(model, "replay_buffer", None) is not None:
        print(f"trmarl: no replay buffer saved with {model_path.name}; the replay starts empty", file=sys.stderr)
    if verbose >= 1:
        print(f"resuming {cls.algorithm_name} on {env_id} from {model_path} at {model.num_timesteps} of {total} steps")
    run_config["resumed"] = [
        *run_config.get("resumed", []),
        {
            "from": str(model_path.relative_to(folder)),
            "num_timesteps": model.num_timesteps,
            "replay_buffer": None if replay_path is None else str(replay_path.relative_to(folder)),
            "at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": list(command) if command is not None else None,
        },
    ]
    run_config.update(timesteps=total, status="running")
    _write_json(config_path, run_config)
    return _run(
        model,
        folder,
        run_config,
        total - model.num_timesteps,
        progress=progress,
        verbose=verbose,
        resume_step=model.num_timesteps,
    )


def _newest_state(folder: Path) -> tuple[int, Path, Path | None] | None:
    """The saved model with the most steps in a run folder, with its replay buffer when one was saved with it."""
    from trmarl.common.callbacks import model_checkpoints

    found: list[tuple[int, bool, Path, Path | None]] = []
    for path in model_checkpoints(folder / "checkpoints", "model"):
        saved = path.with_name(path.name.replace("model_", "model_replay_buffer_", 1))
        found.append((_stored_steps(path), saved.exists(), path, saved if saved.exists() else None))
    for kind in ("interrupted", "final"):
        path, saved = folder / f"{kind}_model.zip", folder / f"{kind}_replay_buffer.zip"
        if path.exists():
            # a replay older than the model belongs to an earlier run's end (this one died before writing its own)
            fresh = saved.exists() and saved.stat().st_mtime >= path.stat().st_mtime
            found.append((_stored_steps(path), fresh, path, saved if fresh else None))
    if not found:
        return None
    steps, _, path, replay = max(found, key=lambda item: (item[0], item[1]))
    return steps, path, replay


def _stored_steps(path: Path) -> int:
    return int(read_checkpoint_config(path).get("counters", {}).get("num_timesteps", 0))


def _run(
    model: Any,
    run_dir: Path,
    run_config: dict[str, Any],
    steps: int,
    *,
    progress: bool,
    verbose: int,
    resume_step: int | None,
) -> tuple[Any, Path]:
    """Train ``model`` for ``steps`` more env steps in ``run_dir``: logs, checkpoints, Ctrl-C, the final save."""
    from trmarl.common.callbacks import CheckpointCallback, replay_checkpoints
    from trmarl.common.logs import configure_logger

    formats = (["stdout"] if verbose >= 1 else []) + ["csv"] + (["tensorboard"] if _tensorboard_available() else [])
    model.set_logger(configure_logger(run_dir, formats, resume_step))
    freq = int(run_config.get("checkpoint_freq") or 0)
    has_replay = getattr(model, "replay_buffer", None) is not None
    callbacks = []
    if freq > 0:
        callbacks.append(
            CheckpointCallback(
                max(freq // model.n_envs, 1),
                str(run_dir / "checkpoints"),
                name_prefix="model",
                save_replay_buffer=has_replay,
                keep_replays=1,
            )
        )
    earlier = float(run_config.get("train_seconds") or 0.0)  # the sessions before a resume
    start = time.perf_counter()
    try:
        model.learn(steps, callback=callbacks, progress_bar=progress, reset_num_timesteps=resume_step is None)
    except KeyboardInterrupt:
        path = model.save(run_dir / "interrupted_model.zip")
        if has_replay:
            model.save_replay_buffer(run_dir / "interrupted_replay_buffer.zip")
        seconds = round(earlier + time.perf_counter() - start, 2)
        run_config.update(status="interrupted", num_timesteps=model.num_timesteps, train_seconds=seconds)
        _write_json(run_dir / "config.json", run_config)
        _close_env(model)
        raise TrainingInterrupted(path, model.num_timesteps) from None
    seconds = round(earlier + time.perf_counter() - start, 2)
    model.save(run_dir / "final_model.zip")
    if has_replay:  # so that `trmarl resume --timesteps` can go on past the end on the same data
        model.save_replay_buffer(run_dir / "final_replay_buffer.zip")
        for older in replay_checkpoints(run_dir / "checkpoints", "model"):  # superseded; each can take GBs
            older.unlink(missing_ok=True)
    run_config.update(status="finished", num_timesteps=model.num_timesteps, train_seconds=seconds)
    _write_json(run_dir / "config.json", run_config)
    _close_env(model)
    return model, run_dir


def _close_env(model: Any) -> None:
    env = model.get_env()
    if env is not None:
        with contextlib.suppress(OSError, EOFError, RuntimeError):  # workers already stopped by the same Ctrl-C
            env.close()


def _can_render(env_id: str) -> bool:
    """Whether ``env_id`` declares ``rgb_array`` rendering (without building it)."""
    from trmarl.envs.registry import resolve_entry_point, spec

    try:
        factory = resolve_entry_point(spec(env_id).entry_point)
    except (KeyError, ImportError, ValueError):
        return False
    return "rgb_array" in list((getattr(factory, "metadata", None) or {}).get("render_modes", []))


def _cmd_train(args: argparse.Namespace) -> int:
    cls = algorithm_class(args.algo)
    _check_env_id(args.env_id)
    hyper = parse_overrides(cls.config_class, args.set)
    env_kwargs = parse_env_kwargs(args.env_kwarg)
    try:
        model, run_dir = train(
            cls.algorithm_name,
            args.env_id,
            timesteps=args.timesteps,
            n_envs=args.n_envs,
            seed=args.seed,
            out=args.out,
            device=args.device,
            hyperparams=hyper,
            env_kwargs=env_kwargs,
            progress=args.progress,
            checkpoint_freq=args.checkpoint_freq,
            verbose=0 if args.quiet else 1,
            vec_backend=args.vec_backend,
            command=["trmarl", *sys.argv[1:]] if args.command_line is None else args.command_line,
        )
    except TrainingInterrupted as exc:
        return _report_interrupt(exc)
    return _report_finished(model, run_dir, args.env_id)


def _report_interrupt(exc: TrainingInterrupted) -> int:
    print(
        f"\ntrmarl: training interrupted at {exc.num_timesteps} steps; saved {exc.path}\n"
        f"  resume with: trmarl resume {exc.path.parent}",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


def _report_finished(model: Any, run_dir: Path, env_id: str) -> int:
    final = run_dir / "final_model.zip"
    print(f"trained {model.num_timesteps} steps; run folder {run_dir}")
    print(f"  evaluate:  trmarl eval {final}")
    if _can_render(env_id):
        print(f"  watch:     trmarl eval {final} --render {run_dir / 'video.gif'}")
    print(f"  plot:      trmarl plot {run_dir}")
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    try:
        model, run_dir = resume(
            args.run_dir,
            timesteps=args.timesteps,
            device=args.device,
            progress=args.progress,
            verbose=0 if args.quiet else 1,
            command=["trmarl", *sys.argv[1:]],
        )
    except TrainingInterrupted as exc:
        return _report_interrupt(exc)
    return _report_finished(model, run_dir, str(model.env_id))


# --------------------------------------------------------------------------------------------------------------
# Evaluation, info
# --------------------------------------------------------------------------------------------------------------


def _existing_file(path: str, what: str = "checkpoint") -> Path:
    p = Path(path)
    if not p.exists() and not p.suffix and p.with_suffix(".zip").exists():
        p = p.with_suffix(".zip")
    if not p.exists():
        raise CLIError(f"no {what} at {path!r}")
    if p.is_dir():
        for name in ("final_model.zip", "interrupted_model.zip"):
            if (p / name).exists():
                return p / name
        raise CLIError(f"{path!r} is a folder without final_model.zip; give the checkpoint file")
    return p


def read_checkpoint_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``config.json`` of a checkpoint zip, read without building the model or decoding any tensor.

    Raises:
        CLIError: Not a readable trmarl checkpoint.
    """
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as zf:
            if "config.json" not in zf.namelist():
                from trmarl.common.serialization import not_a_checkpoint_message  # only here: it imports torch

                raise CLIError(not_a_checkpoint_message(p, zf.namelist()))
            config = json.loads(zf.read("config.json").decode())
            sizes = {i.filename: i.file_size for i in zf.infolist()}
    except zipfile.BadZipFile:
        raise CLIError(f"{str(p)!r} is not a trmarl checkpoint (not a zip file, or truncated)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CLIError(f"{str(p)!r} has an unreadable config.json ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != "trmarl-checkpoint":
        raise CLIError(f"{str(p)!r} is not a trmarl checkpoint (config.json has no trmarl format tag)")
    config["_member_sizes"] = sizes
    return config


def _load_model(path: Path, device: str) -> Any:
    from trmarl.agents.base import load

    read_checkpoint_config(path)
    return load(path, device=device, verbose=0)


def _cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from trmarl.agents.base import AgentSpaces
    from trmarl.common.evaluation import EvaluationResult, evaluate_policy
    from trmarl.envs.vec_env import make_vec_env

    path = _existing_file(args.checkpoint)
    if args.render is not None:
        from trmarl.common.video import VideoError, check_video_path

        try:
            check_video_path(args.render)
        except VideoError as exc:
            raise CLIError(str(exc)) from None
    episodes = args.episodes if args.episodes is not None else (1 if args.render else 10)
    if episodes < 1:
        raise CLIError(f"--episodes must be positive, got {episodes}")
    model = _load_model(path, args.device)
    env_id = args.env or model.env_id
    if env_id is None:
        raise CLIError(f"{str(path)!r} records no env id; pass --env ENV_ID")
    _check_env_id(env_id)
    env_kwargs = dict(model.env_kwargs) if env_id == model.env_id else {}
    env_kwargs.update(parse_env_kwargs(args.env_kwarg))
    mode = "deterministic" if args.deterministic else "stochastic"
    print(
        f"{model.algorithm_name} from {path} ({model.num_timesteps} training steps) on {env_id}, "
        f"{episodes} {mode} episode{'s' if episodes != 1 else ''}"
    )
    if args.render is not None:
        from trmarl.common.video import VideoError, record_video

        try:
            stats = record_video(
                model,
                env_id,
                args.render,
                env_kwargs=env_kwargs,
                n_episodes=episodes,
                deterministic=args.deterministic,
                seed=args.seed,
                fps=args.fps,
                max_frames=args.max_frames,
            )
        except VideoError as exc:
            raise CLIError(str(exc)) from None
        returns, lengths, win_rate = stats.returns, stats.lengths, stats.win_rate
        print(f"wrote {stats.frames} frames to {args.render}")
    else:
        vec = make_vec_env(env_id, n_envs=min(episodes, args.n_envs), seed=args.seed, env_kwargs=env_kwargs)
        try:
            diffs = model.spaces.differences(AgentSpaces.from_vec_env(vec))
            if diffs:
                raise CLIError(f"{env_id} does not match the model: " + "; ".join(diffs))
            result = evaluate_policy(model, vec, n_eval_episodes=episodes, deterministic=args.deterministic, seed=args.seed)
        finally:
            vec.close()
        assert isinstance(result, EvaluationResult)
        returns, lengths, win_rate = result.episode_rewards, result.episode_lengths, result.win_rate
    line = f"return {np.mean(returns):.3f} +/- {np.std(returns):.3f} over {len(returns)} episodes"
    line += f" (length {np.mean(lengths):.1f})"
    if win_rate is not None:
        line += f", win rate {win_rate:.2f}"
    print(line)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    path = _existing_file(args.checkpoint)
    config = read_checkpoint_config(path)
    if args.json:
        config.pop("rng", None)
        print(json.dumps(config, indent=2))
        return 0
    spaces = config.get("spaces", {}) or {}
    env = config.get("env", {}) or {}
    counters = config.get("counters", {}) or {}
    kind = "discrete" if spaces.get("discrete") else "continuous"
    actions = spaces.get("n_actions_per_agent") if spaces.get("discrete") else spaces.get("act_dims")
    sizes = config.pop("_member_sizes", {})
    rows = [
        ("file", f"{path} ({path.stat().st_size / 1024:.1f} KiB)"),
        ("algorithm", config.get("algorithm")),
        ("trmarl version", config.get("trmarl_version")),
        ("format", f"{config.get('format')} v{config.get('format_version')}"),
        ("env", env.get("id")),
        ("env kwargs", json.dumps(env.get("kwargs") or {})),
        ("agents", ", ".join(spaces.get("agents", []))),
        ("observation dims", spaces.get("obs_dims")),
        ("state dim", spaces.get("state_dim")),
        (f"actions ({kind})", actions),
        ("timesteps", counters.get("num_timesteps")),
        ("updates", counters.get("n_updates")),
        ("seed", config.get("seed")),
        ("n_envs", config.get("n_envs")),
        ("members", ", ".join(f"{k} ({v / 1024:.1f} KiB)" for k, v in sizes.items())),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("hyperparameters:")
    hyper = config.get("hyperparameters", {}) or {}
    hwidth = max((len(k) for k in hyper), default=0)
    for key, value in hyper.items():
        print(f"  {key:<{hwidth}}  {json.dumps(value)}")
    return 0


# --------------------------------------------------------------------------------------------------------------
# list, plot
# --------------------------------------------------------------------------------------------------------------


def _cmd_list(args: argparse.Namespace) -> int:
    import trmarl

    if args.what == "envs":
        for env_id in trmarl.list_envs(args.family):
            print(env_id)
    elif args.what == "algos":
        for name in algorithm_names():
            try:
                cls = algorithm_class(name)
            except CLIError:
                print(f"{name:<8} (not available in this installation)")
                continue
            doc = (cls.__doc__ or "").strip().splitlines()
            first = re.sub(r":\w+:`~?([^`]+)`", r"\1", doc[0]).replace("``", "") if doc else ""
            print(f"{name:<8} {first}")
    elif args.what == "hyperparameters":
        if not args.name:
            raise CLIError("usage: trmarl list hyperparameters ALGO")
        _print_hyperparameters(algorithm_class(args.name))
    else:
        from trmarl.zoo import list_pretrained

        entries = list_pretrained()
        if not entries:
            print("no pretrained checkpoints in this installation")
        for e in entries:
            win = f", win rate {e.win_rate:.2f}" if e.win_rate is not None else ""
            kwargs = f" {json.dumps(e.env_kwargs)}" if e.env_kwargs else ""
            print(
                f"{e.algo:<7} {e.env_id}{kwargs}: return {e.eval_mean:.2f} +/- {e.eval_std:.2f} "
                f"({e.eval_episodes} episodes{win}) after {e.timesteps} steps"
            )
    return 0


def _field_docs(config_class: type[Any]) -> dict[str, str]:
    """The attribute docstrings of a config dataclass (and its bases), read from the source."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(inspect.getsource(klass).lstrip())
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, nxt in itertools.pairwise(body):
            documented = isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and documented:
                docs[node.target.id] = " ".join(nxt.value.value.split())  # type: ignore[attr-defined]
    return docs


def _print_hyperparameters(cls: type[Any]) -> None:
    hints = typing.get_type_hints(cls.config_class)
    docs = _field_docs(cls.config_class)
    defaults = cls.config_class()
    for f in dataclasses.fields(cls.config_class):
        value = getattr(defaults, f.name)
        print(f"{f.name} ({_describe(hints[f.name])}) = {value!r}")
        if f.name in docs:
            print(f"    {docs[f.name]}")


def _cmd_plot(args: argparse.Namespace) -> int:
    from trmarl.common.plotting import PlotError, plot_runs

    for run in args.run_dirs:
        if not Path(run).is_dir():
            raise CLIError(f"no run folder at {run!r}")
    out = Path(args.out) if args.out else Path(args.run_dirs[0]) / "learning_curve.png"
    try:
        path, groups = plot_runs(args.run_dirs, out, metric=args.metric, x=args.x, title=args.title)
    except PlotError as exc:
        raise CLIError(str(exc)) from None
    for label, n in groups.items():
        print(f"{label}: {n} run{'s' if n != 1 else ''}")
    print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------------------------------------------
# Parser and entry point
# --------------------------------------------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(parse_value(text, int))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``trmarl`` command."""
    import trmarl

    parser = argparse.ArgumentParser(
        prog="trmarl",
        description="Multi-agent reinforcement learning with trmarl: train, evaluate, watch, plot, inspect.",
        epilog="Run 'trmarl COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"trmarl {trmarl.__version__}")
    parser.add_argument("--traceback", action="store_true", help="show full tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # train
    p = sub.add_parser(
        "train",
        help="train an algorithm on an environment",
        description="Train ALGO on ENV_ID and write a run folder (config.json, progress.csv, TensorBoard events, "
        "checkpoints/, final_model.zip). Ctrl-C saves interrupted_model.zip.",
        epilog="examples:\n  trmarl train qmix SMACSim-3m --timesteps 3e5\n"
        "  trmarl train happo MaMuJoCo-HalfCheetah-2x3 --env-kwarg obs_mode=global --set learning_rate=3e-4 "
        "--set hidden_sizes=64,64\n"
        "hyperparameters of an algorithm: trmarl list hyperparameters ALGO",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("algo", help="algorithm (happo, hatrpo, mappo, ippo, qmix, vdn, iql, qtran, maddpg)")
    p.add_argument("env_id", help="registered environment id (see 'trmarl list envs')")
    p.add_argument("--timesteps", type=_positive_float, default=1e6, help="environment steps (default 1e6)")
    p.add_argument("--n-envs", type=_int, default=None, help="parallel environments (default: the algorithm's)")
    p.add_argument("--seed", type=_int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default=None, help="run folder (default runs/<algo>_<env>_s<seed>)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda (default auto)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="hyperparameter override, typed by the config"
    )
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE", help="environment keyword argument")
    p.add_argument(
        "--vec-backend", choices=["auto", "sync", "subprocess"], default="auto", help="vectorized env backend (default auto)"
    )
    p.add_argument(
        "--checkpoint-freq",
        type=_int,
        default=None,
        help="save a checkpoint every this many env steps (default: every tenth of the run; 0: never)",
    )
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--quiet", action="store_true", help="no log table on stdout")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE", help="import a module first")
    p.set_defaults(func=_cmd_train, command_line=None)

    # resume
    p = sub.add_parser(
        "resume",
        help="continue a run folder from its newest checkpoint",
        description="Continue a run folder written by 'trmarl train' (finished, interrupted or killed) from its newest "
        "saved model (checkpoints/, interrupted_model.zip, final_model.zip), with the replay buffer saved beside it, "
        "on the run's env and settings; progress.csv and the checkpoints go on where they stopped.",
    )
    p.add_argument("run_dir", help="run folder written by 'trmarl train'")
    p.add_argument(
        "--timesteps", type=_positive_float, default=None, help="the run's new total of env steps (default: its own)"
    )
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda (default auto)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--quiet", action="store_true", help="no log table on stdout")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE", help="import a module first")
    p.set_defaults(func=_cmd_resume)

    # eval
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint (optionally recording a video)",
        description="Play whole episodes with a checkpoint and print the mean return (and win rate); --render writes "
        "a .gif or .mp4 of the episodes.",
    )
    p.add_argument("checkpoint", help="checkpoint zip, or a run folder holding final_model.zip")
    p.add_argument("--episodes", type=_int, default=None, help="episodes (default 10, or 1 with --render)")
    p.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="greedy / mean actions (default); --no-deterministic samples",
    )
    p.add_argument("--render", default=None, metavar="VIDEO", help="write the episodes to VIDEO (.gif, or .mp4 with ffmpeg)")
    p.add_argument("--fps", type=_positive_float, default=None, help="video frames per second (default: the env's)")
    p.add_argument("--max-frames", type=_int, default=None, help="keep at most this many video frames")
    p.add_argument("--seed", type=_int, default=0, help="seed of the evaluation envs (default 0)")
    p.add_argument("--n-envs", type=_int, default=8, help="parallel evaluation envs without --render (default 8)")
    p.add_argument("--env", default=None, help="evaluate on this env id instead of the checkpoint's")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE", help="environment keyword argument")
    p.add_argument("--device", default="auto", help="torch device (default auto)")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE", help="import a module first")
    p.set_defaults(func=_cmd_eval)

    # list
    p = sub.add_parser(
        "list",
        help="list environments, algorithms, pretrained checkpoints or hyperparameters",
        description="List registered environment ids, algorithms, shipped pretrained checkpoints, or the "
        "hyperparameters of one algorithm (trmarl list hyperparameters qmix).",
    )
    p.add_argument("what", choices=["envs", "algos", "pretrained", "hyperparameters"])
    p.add_argument("name", nargs="?", default=None, help="the algorithm, for 'hyperparameters'")
    p.add_argument("--family", choices=["mamujoco", "smacsim", "smac", "toy", "user"], default=None, help="envs: one family")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE", help="import a module first")
    p.set_defaults(func=_cmd_list)

    # plot
    p = sub.add_parser(
        "plot",
        help="plot learning curves of run folders",
        description="Plot a metric of progress.csv against environment steps. Runs of the same algorithm and env "
        "(read from config.json) are drawn as one curve: the mean over seeds with a band of one standard deviation "
        "(min to max for two seeds).",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders written by 'trmarl train'")
    p.add_argument("--out", default=None, help="PNG file (default RUN_DIR/learning_curve.png of the first run)")
    p.add_argument("--metric", default=None, help="progress.csv column (default rollout/ep_rew_mean, else eval/ep_rew_mean)")
    p.add_argument("--x", default="time/total_timesteps", help="x column (default time/total_timesteps)")
    p.add_argument("--title", default=None, help="figure title")
    p.set_defaults(func=_cmd_plot)

    # info
    p = sub.add_parser(
        "info",
        help="describe a checkpoint without loading it",
        description="Print a checkpoint's algorithm, env, spaces, steps, hyperparameters and trmarl version, read from "
        "its config.json (no model is built, no tensor decoded).",
    )
    p.add_argument("checkpoint", help="checkpoint zip")
    p.add_argument("--json", action="store_true", help="print config.json itself")
    p.set_defaults(func=_cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trmarl`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and argv is not None:
        args.command_line = ["trmarl", *argv]
    try:
        _import_modules(getattr(args, "imports", []))
        return int(args.func(args))
    except CLIError as exc:
        if args.traceback:
            raise
        print(f"trmarl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyError, ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
        if args.traceback:
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"trmarl: error: {message} (rerun with --traceback for details)", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ntrmarl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
