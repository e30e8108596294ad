"""Evaluate a multi-agent policy over whole episodes (SB3's ``evaluate_policy`` for trmarl agents and envs).

>>> from trmarl import HAPPO, evaluate_policy
>>> model = HAPPO("MaMuJoCo-HalfCheetah-2x3")                             # doctest: +SKIP
>>> mean_reward, std_reward = evaluate_policy(model, "MaMuJoCo-HalfCheetah-2x3", n_eval_episodes=10)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trmarl.envs.vec_env import MultiAgentVecEnv, make_vec_env

__all__ = ["EvaluationResult", "as_vec_env", "evaluate_policy"]


class EvaluationResult(tuple):  # type: ignore[type-arg]
    """``(mean_reward, std_reward)`` that also carries the win rate and the per-episode numbers.

    Unpacks like SB3's result (``mean, std = evaluate_policy(...)``).

    Attributes:
        mean_reward / std_reward: Mean and standard deviation of the episode returns (team reward sums).
        win_rate: Fraction of won episodes where the env reports wins (SMAC-style), else None.
        episode_rewards / episode_lengths: Per-episode returns and lengths.
    """

    mean_reward: float
    std_reward: float
    win_rate: float | None
    episode_rewards: list[float]
    episode_lengths: list[int]

    def __new__(cls, rewards: list[float], lengths: list[int], wins: list[bool]) -> EvaluationResult:
        mean, std = float(np.mean(rewards)), float(np.std(rewards))
        self = super().__new__(cls, (mean, std))
        self.mean_reward, self.std_reward = mean, std
        self.win_rate = float(np.mean(wins)) if wins else None
        self.episode_rewards, self.episode_lengths = list(rewards), list(lengths)
        return self


def as_vec_env(env: Any) -> tuple[MultiAgentVecEnv, bool]:
    """The env as a vec env, and whether it was built here (and must be closed here)."""
    if isinstance(env, MultiAgentVecEnv):
        return env, False
    if isinstance(env, str):
        return make_vec_env(env, 1), True
    if hasattr(env, "possible_agents") and hasattr(env, "step"):
        instance = env
        return make_vec_env(lambda: instance, 1), True
    if callable(env):
        return make_vec_env(env, 1), True
    raise TypeError(f"env must be an env id, a ParallelEnv, a factory or a MultiAgentVecEnv, got {type(env).__name__}")


def evaluate_policy(
    model: Any,
    env: Any,
    n_eval_episodes: int = 10,
    deterministic: bool = True,
    return_episode_rewards: bool = False,
    seed: int | None = None,
    callback: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> EvaluationResult | tuple[list[float], list[int]]:
    """Run ``n_eval_episodes`` whole episodes with ``model.predict`` and report the returns.

    The env is reset first; with ``E`` envs, env ``i`` plays ``(n_eval_episodes + i) // E`` episodes (SB3's rule, so
    short episodes do not bias the mean).

    Args:
        model: A trmarl agent (anything with ``predict(obs, state, episode_start, deterministic, action_mask)``).
        env: An env id, a PettingZoo ``ParallelEnv``, a factory, or a :class:`~trmarl.envs.vec_env.MultiAgentVecEnv`.
        n_eval_episodes: Episodes to play in total.
        deterministic: Mean / argmax actions instead of samples.
        return_episode_rewards: Return ``(episode_rewards, episode_lengths)`` lists instead (SB3's option).
        seed: Seed for the reset (env ``i`` gets ``seed + i``).
        callback: Called after every step with ``(locals(), globals())``.

    Returns:
        An :class:`EvaluationResult` (unpacks to ``(mean_reward, std_reward)``; ``.win_rate`` where wins are reported).
    """
    if isinstance(n_eval_episodes, bool) or not isinstance(n_eval_episodes, (int, np.integer)) or n_eval_episodes < 1:
        raise ValueError(f"n_eval_episodes must be a positive int, got {n_eval_episodes!r}")
    vec, owned = as_vec_env(env)
    try:
        E = vec.num_envs
        targets = np.array([(n_eval_episodes + i) // E for i in range(E)], dtype=np.int64)
        counts = np.zeros(E, dtype=np.int64)
        rewards: list[float] = []
        lengths: list[int] = []
        wins: list[bool] = []
        obs, _ = vec.reset(seed=seed)
        state = None
        episode_start = np.ones(E, dtype=bool)
        while (counts < targets).any():
            actions, state = model.predict(
                obs.obs, state=state, episode_start=episode_start, deterministic=deterministic, action_mask=obs.action_mask
            )
            step = vec.step(actions)
            dones = step.terminated | step.truncated
            for i in np.flatnonzero(dones):
                episode = step.infos[i].get("episode")
                if counts[i] < targets[i] and episode is not None:
                    rewards.append(float(episode["r"]))
                    lengths.append(int(episode["l"]))
                    if "win" in episode:
                        wins.append(bool(episode["win"]))
                    counts[i] += 1
            if callback is not None:
                callback(locals(), globals())
            obs, episode_start = step.obs, dones
    finally:
        if owned:
            vec.close()
    if return_episode_rewards:
        return rewards, lengths
    return EvaluationResult(rewards, lengths, wins)
