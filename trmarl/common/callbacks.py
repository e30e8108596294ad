"""Callbacks for trmarl agents. SB3's own callbacks (``StopTrainingOnRewardThreshold``, ``CallbackList``, custom
``BaseCallback`` subclasses...) work unchanged; :class:`EvalCallback` here replaces SB3's, which expects a single-agent
``VecEnv``, and :class:`CheckpointCallback` SB3's, whose replay-buffer files would carry a ``.pkl`` name.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, EventCallback
from stable_baselines3.common.callbacks import CheckpointCallback as _SB3CheckpointCallback

from trmarl.common.evaluation import EvaluationResult, as_vec_env, evaluate_policy

__all__ = ["CheckpointCallback", "EvalCallback", "checkpoint_steps", "model_checkpoints", "replay_checkpoints"]


class EvalCallback(EventCallback):
    """Evaluate the agent every ``eval_freq`` vec-env steps on a multi-agent env (SB3's ``EvalCallback`` for trmarl).

    Logs ``eval/mean_reward``, ``eval/mean_ep_length`` and ``eval/win_rate`` (where the env reports wins), keeps
    :attr:`best_mean_reward` (so ``StopTrainingOnRewardThreshold`` works as ``callback_on_new_best``), saves the best
    model and an ``evaluations.npz`` like SB3's.

    Args:
        eval_env: An env id, a ParallelEnv, a factory or a MultiAgentVecEnv.
        callback_on_new_best: Called when a new best mean reward is reached.
        callback_after_eval: Called after every evaluation.
        n_eval_episodes: Episodes per evaluation.
        eval_freq: Evaluate every this many calls (one call = one vec-env step = ``n_envs`` env steps).
        log_path: Folder for ``evaluations.npz``.
        best_model_save_path: Folder for ``best_model.zip``.
        deterministic: Deterministic actions during evaluation.
        verbose: 1 prints each evaluation.
    """

    def __init__(
        self,
        eval_env: Any,
        callback_on_new_best: BaseCallback | None = None,
        callback_after_eval: BaseCallback | None = None,
        n_eval_episodes: int = 5,
        eval_freq: int = 10000,
        log_path: str | None = None,
        best_model_save_path: str | None = None,
        deterministic: bool = True,
        verbose: int = 1,
    ) -> None:
        super().__init__(callback_after_eval, verbose=verbose)
        self.callback_on_new_best = callback_on_new_best
        if callback_on_new_best is not None:
            callback_on_new_best.parent = self
        self.eval_env, _ = as_vec_env(eval_env)
        self.n_eval_episodes = n_eval_episodes
        self.eval_freq = eval_freq
        self.deterministic = deterministic
        self.best_model_save_path = best_model_save_path
        self.log_path = None if log_path is None else os.path.join(log_path, "evaluations")
        self.best_mean_reward = -np.inf
        self.last_mean_reward = -np.inf
        self.last_win_rate: float | None = None
        self.evaluations_timesteps: list[int] = []
        self.evaluations_results: list[list[float]] = []
        self.evaluations_length: list[list[int]] = []

    def _init_callback(self) -> None:
        if self.best_model_save_path is not None:
            os.makedirs(self.best_model_save_path, exist_ok=True)
        if self.log_path is not None:
            os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        if self.callback_on_new_best is not None:
            self.callback_on_new_best.init_callback(self.model)

    def _on_step(self) -> bool:
        if self.eval_freq <= 0 or self.n_calls % self.eval_freq != 0:
            return True
        result = evaluate_policy(self.model, self.eval_env, self.n_eval_episodes, self.deterministic)
        assert isinstance(result, EvaluationResult)
        mean_reward, std_reward = result
        self.last_mean_reward, self.last_win_rate = mean_reward, result.win_rate
        self.evaluations_timesteps.append(self.num_timesteps)
        self.evaluations_results.append(result.episode_rewards)
        self.evaluations_length.append(result.episode_lengths)
        if self.log_path is not None:
            np.savez(
                self.log_path,
                timesteps=self.evaluations_timesteps,
                results=self.evaluations_results,
                ep_lengths=self.evaluations_length,
            )
        if self.verbose >= 1:
            print(f"Eval num_timesteps={self.num_timesteps}, episode_reward={mean_reward:.2f} +/- {std_reward:.2f}")
        self.logger.record("eval/mean_reward", mean_reward)
        self.logger.record("eval/mean_ep_length", float(np.mean(result.episode_lengths)))
        if result.win_rate is not None:
            self.logger.record("eval/win_rate", result.win_rate)
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(self.num_timesteps)
        continue_training = True
        if mean_reward > self.best_mean_reward:
            if self.verbose >= 1:
                print("New best mean reward!")
            if self.best_model_save_path is not None:
                self.model.save(os.path.join(self.best_model_save_path, "best_model"))
            self.best_mean_reward = mean_reward
            if self.callback_on_new_best is not None:
                continue_training = self.callback_on_new_best.on_step()
        if self.callback is not None:
            continue_training = continue_training and self._on_event()
        return continue_training

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        """Forward the rollout's locals to the after-eval callback."""
        if self.callback is not None:
            self.callback.update_locals(locals_)


class CheckpointCallback(_SB3CheckpointCallback):
    """Save the model every ``save_freq`` vec-env steps (SB3's ``CheckpointCallback`` for trmarl agents).

    ``CheckpointCallback(save_freq, save_path, name_prefix="rl_model", save_replay_buffer=False)`` writes
    ``{save_path}/{name_prefix}_{steps}_steps.zip``; with ``save_replay_buffer=True`` the off-policy agents (QMIX and
    family, MADDPG, MATD3) also write ``{name_prefix}_replay_buffer_{steps}_steps.zip`` (JSON + safetensors, nothing
    pickled), which :meth:`load_replay_buffer` reads back to continue training on the same data. SB3's own class works
    too but names that file ``.pkl`` although it holds no pickle.

    A replay buffer can take hundreds of MB, so ``keep_replays=k`` keeps only the ``k`` replay files of this prefix in
    ``save_path`` written last (the one just written always among them; older ones, those of earlier runs into the same
    folder included, are deleted); the default None keeps them all, as SB3 does. The replay is written before the model
    (and old replays deleted only after both), so a model checkpoint on disk always has its replay beside it, even when
    the process dies mid-checkpoint.
    """

    def __init__(
        self,
        save_freq: int,
        save_path: str,
        name_prefix: str = "rl_model",
        save_replay_buffer: bool = False,
        save_vecnormalize: bool = False,
        verbose: int = 0,
        keep_replays: int | None = None,
    ) -> None:
        if keep_replays is not None and keep_replays < 1:
            raise ValueError(f"keep_replays must be None or at least 1, got {keep_replays}")
        super().__init__(save_freq, save_path, name_prefix, save_replay_buffer, save_vecnormalize, verbose)
        self.keep_replays = keep_replays

    def _checkpoint_path(self, checkpoint_type: str = "", extension: str = "") -> str:
        if checkpoint_type == "replay_buffer_":
            extension = "zip"
        return super()._checkpoint_path(checkpoint_type, extension)

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq != 0:
            return True
        # the replay before the model (SB3 does the reverse): a process killed in between then leaves the previous
        # model and its replay as the newest pair, never a model whose replay is missing
        replay = None
        if self.save_replay_buffer and getattr(self.model, "replay_buffer", None) is not None:
            replay = Path(self._checkpoint_path("replay_buffer_", extension="zip"))
            self.model.save_replay_buffer(replay)  # type: ignore[attr-defined]
        model_path = self._checkpoint_path(extension="zip")
        self.model.save(model_path)
        if self.verbose >= 2:
            print(f"Saving model checkpoint to {model_path}" + ("" if replay is None else f" and its replay to {replay}"))
        vec_normalize = self.model.get_vec_normalize_env() if self.save_vecnormalize else None
        if vec_normalize is not None:
            vec_normalize.save(self._checkpoint_path("vecnormalize_", extension="pkl"))
        if replay is not None and self.keep_replays is not None:
            # oldest written first (not fewest steps: an earlier, longer run's files may sit in the same folder)
            others = sorted(
                (p for p in replay_checkpoints(self.save_path, self.name_prefix) if p != replay),
                key=lambda p: p.stat().st_mtime,
            )
            for old in others[: max(len(others) - (self.keep_replays - 1), 0)]:
                old.unlink(missing_ok=True)
        return True


def replay_checkpoints(folder: str | os.PathLike[str], name_prefix: str = "rl_model") -> list[Path]:
    """The ``{name_prefix}_replay_buffer_{steps}_steps.zip`` files in ``folder``, fewest steps first."""
    return _numbered(folder, f"{name_prefix}_replay_buffer_")


def model_checkpoints(folder: str | os.PathLike[str], name_prefix: str = "rl_model") -> list[Path]:
    """The ``{name_prefix}_{steps}_steps.zip`` model files :class:`CheckpointCallback` wrote, fewest steps first."""
    return _numbered(folder, f"{name_prefix}_")


def checkpoint_steps(path: str | os.PathLike[str]) -> int:
    """The step count in a ``..._{steps}_steps.zip`` name.

    Raises:
        ValueError: The name does not end that way.
    """
    match = _STEPS.search(Path(path).name)
    if match is None:
        raise ValueError(f"{str(path)!r} is not named like a checkpoint ('..._<steps>_steps.zip')")
    return int(match.group(1))


_STEPS = re.compile(r"_(\d+)_steps\.zip$")


def _numbered(folder: str | os.PathLike[str], stem: str) -> list[Path]:
    found = []
    for path in Path(folder).glob(f"{glob.escape(stem)}*_steps.zip"):
        rest = path.name[len(stem) :]
        if re.fullmatch(r"\d+_steps\.zip", rest):
            found.append((checkpoint_steps(path), path))
    return [path for _, path in sorted(found)]
