"""Train, evaluate and ship a pretrained checkpoint: ``python -m trmarl.zoo.train_pretrained ALGO ENV_ID``.

The known entries (``PRESETS``) fix the training budget, hyperparameters, env kwargs and evaluation; other pairs
take the algorithm's defaults and the flags. The script trains into ``runs/zoo/<algo>_<env>_s<seed>`` (the same run
folder as ``trmarl train``), evaluates the final model deterministically on ``--eval-episodes`` episodes with seeded
envs, copies the zip to ``trmarl/zoo/checkpoints/<algo>_<env>.zip`` and adds (or replaces) its entry in
``trmarl/zoo/index.json`` with the training config, the trmarl commit, the measured return and the tolerance that
``tests/test_zoo.py`` allows a 5-episode re-evaluation. Examples::

    python -m trmarl.zoo.train_pretrained QMIX SMACSim-3m                     # ~300k steps, minutes on 2 cores
    python -m trmarl.zoo.train_pretrained QTRAN MatrixGame-QTRAN
    python -m trmarl.zoo.train_pretrained HAPPO MaMuJoCo-HalfCheetah-2x3      # 1e7 steps: hours
    python -m trmarl.zoo.train_pretrained QMIX SMACSim-2s3z                   # 600k steps
    python -m trmarl.zoo.train_pretrained --list                              # the presets

``--from-run RUN_DIR`` skips training and ships the ``final_model.zip`` of an existing run folder instead (or, with
``--checkpoint FILE``, one of its periodic checkpoints).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from trmarl.zoo import CHECKPOINT_DIR, INDEX_PATH, PretrainedEntry, read_index, write_index

__all__ = ["PRESETS", "Preset", "evaluate_checkpoint", "git_commit", "main", "ship"]

#: Largest checkpoint the zoo accepts (the wheel ships every file).
MAX_BYTES = 2 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Preset:
    """How one zoo entry is trained and evaluated.

    Attributes:
        timesteps: Environment steps of training.
        hyperparams: Hyperparameter overrides (defaults are the algorithm's, i.e. the reference implementation's).
        env_kwargs: Keyword arguments of the env.
        n_envs: Parallel training envs (None: the algorithm's default).
        eval_episodes: Episodes of the recorded evaluation.
        notes: Stored in the index.
    """

    timesteps: float
    hyperparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    n_envs: int | None = None
    eval_episodes: int = 32
    notes: str = ""


#: The zoo's entries: ``(ALGO, env id) -> Preset``.
PRESETS: dict[tuple[str, str], Preset] = {
    ("QMIX", "SMACSim-3m"): Preset(
        3e5, notes="pymarl2 QMIX defaults; SMACSim is trmarl's SMAC-compatible simulator, not StarCraft II"
    ),
    ("QMIX", "SMACSim-2s3z"): Preset(  # the shipped file: 100% test win rate from 516k steps; 600k is ~20 min alone
        6e5, notes="pymarl2 QMIX defaults; SMACSim is trmarl's SMAC-compatible simulator, not StarCraft II"
    ),
    ("QTRAN", "MatrixGame-QTRAN"): Preset(
        8000,
        hyperparams=dict(
            batch_size=32, buffer_size=10_000, lr=1e-3, epsilon_anneal_time=4000, target_update_interval=80, test_nepisode=0
        ),
        n_envs=4,
        eval_episodes=8,
        notes="the setting of examples/qtran_matrix_game.py; the optimal joint action (A, A) pays 8",
    ),
    ("HAPPO", "MaMuJoCo-HalfCheetah-2x3"): Preset(
        1e7, env_kwargs={"obs_mode": "global"}, eval_episodes=10, notes="HARL's tuned HalfCheetah-2x3 config"
    ),
    ("HATRPO", "MaMuJoCo-HalfCheetah-2x3"): Preset(
        1e7, env_kwargs={"obs_mode": "global"}, eval_episodes=10, notes="HARL's HATRPO config"
    ),
    ("MAPPO", "MaMuJoCo-HalfCheetah-2x3"): Preset(
        1e7, env_kwargs={"obs_mode": "global"}, eval_episodes=10, notes="HARL's tuned HalfCheetah-2x3 MAPPO config"
    ),
}


def git_commit() -> str:
    """``git rev-parse HEAD`` of the trmarl checkout (``+dirty`` when ``trmarl/`` has local changes), or "unknown"."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "trmarl"], cwd=root, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.strip() + ("+dirty" if dirty.strip() else "")


def evaluate_checkpoint(
    path: str | Path, env_id: str, env_kwargs: dict[str, Any], n_episodes: int, seed: int
) -> tuple[float, float, float | None]:
    """Deterministic mean and std return (and win rate) of a checkpoint on seeded envs (what ``test_zoo`` repeats)."""
    from trmarl.agents.base import load
    from trmarl.common.evaluation import EvaluationResult, evaluate_policy
    from trmarl.envs.vec_env import make_vec_env

    model = load(path, device="cpu", verbose=0)
    vec = make_vec_env(env_id, n_envs=min(n_episodes, 8), seed=seed, env_kwargs=env_kwargs)
    try:
        result = evaluate_policy(model, vec, n_eval_episodes=n_episodes, deterministic=True, seed=seed)
    finally:
        vec.close()
    assert isinstance(result, EvaluationResult)
    return result.mean_reward, result.std_reward, result.win_rate


def tolerance_for(mean: float, std: float, test_episodes: int) -> float:
    """How far a ``test_episodes``-episode mean may stray: 4 standard errors, and at least 15% of ``|mean|`` (>= 0.05).

    The floor keeps a policy that measured no spread (every SMACSim-3m battle won) from failing the test over one lost
    battle in five after an unrelated numerical change, while a broken or untrained model still fails.
    """
    return float(max(4.0 * std / math.sqrt(test_episodes), 0.15 * abs(mean), 0.05))


def ship(
    run_dir: Path,
    *,
    checkpoint: Path | None = None,
    eval_episodes: int,
    eval_seed: int = 1000,
    test_episodes: int = 5,
    notes: str = "",
    index_path: Path = INDEX_PATH,
    checkpoint_dir: Path = CHECKPOINT_DIR,
) -> PretrainedEntry:
    """Evaluate ``run_dir/final_model.zip`` (or ``checkpoint``), copy it into the zoo and record it in the index.

    Raises:
        ValueError: The checkpoint is larger than :data:`MAX_BYTES`.
    """
    import trmarl

    run_config = json.loads((run_dir / "config.json").read_text())
    model_path = checkpoint if checkpoint is not None else run_dir / "final_model.zip"
    with zipfile.ZipFile(model_path) as zf:
        num_timesteps = int(json.loads(zf.read("config.json"))["counters"]["num_timesteps"])
    size = model_path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{model_path} is {size / 1e6:.1f} MB; zoo checkpoints must stay under {MAX_BYTES / 1e6:.0f} MB")
    algo, env_id, env_kwargs = run_config["algo"], run_config["env_id"], run_config.get("env_kwargs") or {}
    mean, std, win_rate = evaluate_checkpoint(model_path, env_id, env_kwargs, eval_episodes, eval_seed)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    file = f"{algo.lower()}_{env_id}.zip"
    shutil.copyfile(model_path, checkpoint_dir / file)
    entry = PretrainedEntry(
        algo=algo,
        env_id=env_id,
        env_kwargs=env_kwargs,
        file=file,
        timesteps=num_timesteps,
        eval_mean=round(mean, 4),
        eval_std=round(std, 4),
        eval_episodes=eval_episodes,
        eval_seed=eval_seed,
        tolerance=round(tolerance_for(mean, std, test_episodes), 4),
        test_episodes=test_episodes,
        win_rate=None if win_rate is None else round(win_rate, 4),
        config={
            "overrides": run_config.get("overrides", {}),
            "n_envs": run_config.get("n_envs"),
            "seed": run_config.get("seed"),
            "device": run_config.get("device"),
            "hyperparameters": run_config.get("hyperparameters", {}),
        },
        trmarl_commit=run_config.get("trmarl_commit") or git_commit(),
        trmarl_version=trmarl.__version__,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        train_seconds=float(run_config.get("train_seconds", 0.0)),
        notes=notes,
    )
    entries = [e for e in read_index(index_path) if (e.algo, e.env_id) != (algo, env_id)]
    write_index([*entries, entry], index_path)
    return entry


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    from trmarl.cli import CLIError, TrainingInterrupted, algorithm_class, parse_env_kwargs, parse_overrides, train

    parser = argparse.ArgumentParser(
        prog="python -m trmarl.zoo.train_pretrained",
        description="Train, evaluate and ship a pretrained checkpoint into trmarl/zoo/.",
        epilog="known entries: " + ", ".join(f"{a} {e}" for a, e in PRESETS),
    )
    parser.add_argument("algo", nargs="?", help="algorithm (QMIX, QTRAN, HAPPO, ...)")
    parser.add_argument("env_id", nargs="?", help="registered env id")
    parser.add_argument("--list", action="store_true", help="print the presets and exit")
    parser.add_argument("--timesteps", type=float, default=None, help="override the preset's training steps")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--n-envs", type=int, default=None, help="override the preset's parallel envs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra hyperparameter override")
    parser.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE", help="extra env keyword argument")
    parser.add_argument("--eval-episodes", type=int, default=None, help="override the preset's evaluation episodes")
    parser.add_argument("--eval-seed", type=int, default=1000, help="seed of the evaluation envs (default 1000)")
    parser.add_argument("--device", default="cpu", help="torch device for training (default cpu)")
    parser.add_argument("--runs-root", default="runs/zoo", help="parent of the run folder (default runs/zoo)")
    parser.add_argument("--from-run", default=None, help="ship the final_model.zip of this run folder without training")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="with --from-run: ship this checkpoint of the run (e.g. checkpoints/model_N_steps.zip)",
    )
    parser.add_argument(
        "--commit", default=None, help="with --from-run: the trmarl commit the run was trained at (default: the run's record)"
    )
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    parser.add_argument("--quiet", action="store_true", help="no log table on stdout")
    args = parser.parse_args(argv)
    if args.list:
        for (algo, env_id), p in PRESETS.items():
            print(f"{algo} {env_id}: {p.timesteps:g} steps, {p.hyperparams or 'defaults'}, env {p.env_kwargs or '{}'}")
        return 0
    try:
        if args.from_run is not None:
            run_dir = Path(args.from_run)
            config = json.loads((run_dir / "config.json").read_text())
            preset = PRESETS.get((config["algo"], config["env_id"]), Preset(config["timesteps"]))
            if args.commit is not None:
                config["trmarl_commit"] = args.commit
                (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        else:
            if not args.algo or not args.env_id:
                parser.error("give ALGO and ENV_ID (or --from-run RUN_DIR, or --list)")
            cls = algorithm_class(args.algo)
            algo = cls.algorithm_name
            preset = PRESETS.get((algo, args.env_id), Preset(1e6))
            hyper = {**preset.hyperparams, **parse_overrides(cls.config_class, args.set)}
            env_kwargs = {**preset.env_kwargs, **parse_env_kwargs(args.env_kwarg)}
            commit = git_commit()
            start = time.perf_counter()
            _, run_dir = train(
                algo,
                args.env_id,
                timesteps=args.timesteps or preset.timesteps,
                n_envs=args.n_envs or preset.n_envs,
                seed=args.seed,
                device=args.device,
                hyperparams=hyper,
                env_kwargs=env_kwargs,
                progress=args.progress,
                checkpoint_freq=None,
                verbose=0 if args.quiet else 1,
                runs_root=args.runs_root,
                command=[sys.executable, "-m", "trmarl.zoo.train_pretrained", *(argv if argv is not None else sys.argv[1:])],
            )
            config = json.loads((run_dir / "config.json").read_text())
            config["trmarl_commit"] = commit
            (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
            print(f"trained in {time.perf_counter() - start:.0f} s")
        entry = ship(
            run_dir,
            checkpoint=Path(args.checkpoint) if args.checkpoint else None,
            eval_episodes=args.eval_episodes or preset.eval_episodes,
            eval_seed=args.eval_seed,
            notes=preset.notes,
        )
    except CLIError as exc:
        print(f"train_pretrained: error: {exc}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        print(
            f"train_pretrained: {exc}; ship a checkpoint of the run with --from-run RUN_DIR --checkpoint FILE", file=sys.stderr
        )
        return 130
    win = "" if entry.win_rate is None else f", win rate {entry.win_rate:.2f}"
    print(
        f"shipped {entry.file}: return {entry.eval_mean:.3f} +/- {entry.eval_std:.3f} over {entry.eval_episodes} "
        f"episodes{win} (tolerance {entry.tolerance}); commit {entry.trmarl_commit}"
    )
    print(f"size {np.round(entry.path.stat().st_size / 1024, 1)} KiB; index {INDEX_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
