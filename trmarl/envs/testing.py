"""Test helpers shipped as library code (as PettingZoo does), for trmarl's envs and for users' own.

* :func:`check_determinism`: the same seed gives the same trajectory over many steps, another seed a different one
  (PettingZoo's own seed test compares a single step).
* :func:`check_env`: PettingZoo's ``parallel_api_test`` plus the checks trmarl's vectorized envs rely on
  (``state()``/``state_space``, ``render_mode``, fixed agents, action masks in Dict observations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["check_determinism", "check_env", "rollout"]


def _sample_actions(env: Any, obs: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    actions: dict[str, Any] = {}
    for agent in env.agents:
        space = env.action_space(agent)
        ob = obs.get(agent)
        mask = ob.get("action_mask") if isinstance(ob, dict) else None
        if hasattr(space, "n"):
            if mask is not None:
                legal = np.flatnonzero(np.asarray(mask))
                actions[agent] = int(rng.choice(legal))
            else:
                actions[agent] = int(rng.integers(space.n))
        else:
            low = np.maximum(space.low, -1e3)
            high = np.minimum(space.high, 1e3)
            actions[agent] = rng.uniform(low, high).astype(space.dtype)
    return actions


def _flatten(obs: dict[str, Any]) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for agent in sorted(obs):
        ob = obs[agent]
        if isinstance(ob, dict):
            out.extend(np.asarray(ob[k], dtype=np.float64).ravel() for k in sorted(ob))
        else:
            out.append(np.asarray(ob, dtype=np.float64).ravel())
    return out


def rollout(env_fn: Callable[[], Any], seed: int, n_steps: int, action_seed: int = 0) -> list[np.ndarray]:
    """Run ``n_steps`` random legal steps (resetting with fresh seeds ``seed + k`` after each episode).

    Returns:
        One flat float64 vector per step: observations, state, rewards, terminations and truncations.
    """
    env = env_fn()
    rng = np.random.default_rng(action_seed)
    trace: list[np.ndarray] = []
    episode = 0
    obs, _ = env.reset(seed=seed)
    try:
        for _ in range(n_steps):
            if not env.agents:
                episode += 1
                obs, _ = env.reset(seed=seed + episode)
            actions = _sample_actions(env, obs, rng)
            obs, rewards, terms, truncs, _ = env.step(actions)
            parts = _flatten(obs)
            parts.append(np.asarray(env.state(), dtype=np.float64).ravel())
            parts.append(np.array([rewards[a] for a in sorted(rewards)], dtype=np.float64))
            parts.append(np.array([terms[a] for a in sorted(terms)] + [truncs[a] for a in sorted(truncs)], dtype=np.float64))
            trace.append(np.concatenate(parts) if parts else np.zeros(0))
            if all(terms.get(a, False) or truncs.get(a, False) for a in rewards) and rewards:
                episode += 1
                obs, _ = env.reset(seed=seed + episode)
    finally:
        env.close()
    return trace


def check_determinism(env_fn: Callable[[], Any], seed: int = 0, n_steps: int = 200, other_seed: int | None = None) -> None:
    """Assert that two rollouts with ``seed`` are identical and one with ``other_seed`` differs.

    Raises:
        AssertionError: Naming the first step where equal seeds diverge, or saying that different seeds agree.
    """
    first = rollout(env_fn, seed, n_steps)
    second = rollout(env_fn, seed, n_steps)
    assert len(first) == len(second), "rollouts of the same seed have different lengths"
    for t, (a, b) in enumerate(zip(first, second)):
        if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
            raise AssertionError(f"same seed {seed} diverged at step {t}")
    other = rollout(env_fn, seed + 1 if other_seed is None else other_seed, n_steps)
    same = len(other) == len(first) and all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(first, other))
    assert not same, "a different seed gave an identical trajectory"


def check_env(env_fn: Callable[[], Any], num_cycles: int = 50) -> None:
    """PettingZoo's ``parallel_api_test`` plus trmarl's own requirements of a ParallelEnv.

    Raises:
        AssertionError: Naming the failed requirement.
    """
    from pettingzoo.test import parallel_api_test

    env = env_fn()
    try:
        parallel_api_test(env, num_cycles=num_cycles)
    finally:
        env.close()
    env = env_fn()
    try:
        assert hasattr(env, "render_mode"), "env has no render_mode attribute"
        assert getattr(env, "state_space", None) is not None, "env has no state_space"
        obs, _ = env.reset(seed=0)
        state = np.asarray(env.state())
        assert env.state_space.contains(state.astype(env.state_space.dtype)), "state() is outside state_space"
        agents = list(env.agents)
        assert agents == list(env.possible_agents), "agents after reset differ from possible_agents"
        rng = np.random.default_rng(0)
        for _ in range(num_cycles):
            actions = _sample_actions(env, obs, rng)
            obs, _rewards, _terms, _truncs, _ = env.step(actions)
            if not env.agents:
                break
            assert set(env.agents) == set(agents), "agents must stay in env.agents until the episode ends"
            assert np.asarray(env.state()).shape == env.state_space.shape, "state() changed shape"
    finally:
        env.close()
