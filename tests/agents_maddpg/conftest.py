"""Fixtures and tiny envs for the MADDPG/MATD3 tests (one torch thread: the networks are tiny)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo import ParallelEnv

from tests.torch_threads import torch_threads

#: Small networks, batches and warm-ups shared by the end-to-end tests.
TINY: dict[str, Any] = dict(
    hidden_sizes=(32, 32),
    batch_size=64,
    buffer_size=5000,
    warmup_steps=100,
    train_freq=5,
    gradient_steps=5,
    verbose=0,
    device="cpu",
)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


class SumTargetEnv(ParallelEnv):
    """Two agents must output actions whose sum hits a target both of them see; team reward ``-(a_0 + a_1 - x)^2``.

    A fresh target ``x ~ U(-1.5, 1.5)`` is drawn every step; episodes are cut by a time limit after ``max_steps``.
    Agent 0 observes ``(x,)``, agent 1 ``(x, 0.5)`` (unequal sizes exercise the padding); actions are ``Box(-1, 1, (1,))``.
    Random actions score about ``-1.42`` per step, the best policies 0 (any split of ``x`` between the two agents), so
    the task needs coordination through the centralized critic.
    """

    metadata = {"name": "sum_target_v0", "render_modes": []}

    def __init__(self, max_steps: int = 4, render_mode: str | None = None) -> None:
        self.possible_agents = ["a", "b"]
        self.agents: list[str] = []
        self.max_steps = max_steps
        self.render_mode = render_mode
        self._obs_spaces = {"a": gym.spaces.Box(-2, 2, (1,), np.float32), "b": gym.spaces.Box(-2, 2, (2,), np.float32)}
        self._act_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.state_space = gym.spaces.Box(-2, 2, (2,), np.float32)
        self.np_random = np.random.default_rng()
        self.x, self.t = 0.0, 0

    def observation_space(self, agent: str) -> gym.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> gym.Space:
        return self._act_space

    def state(self) -> np.ndarray:
        return np.array([self.x, self.t / self.max_steps], dtype=np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        return {"a": np.array([self.x], dtype=np.float32), "b": np.array([self.x, 0.5], dtype=np.float32)}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.t = 0
        self.x = float(self.np_random.uniform(-1.5, 1.5))
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        total = sum(float(np.clip(np.asarray(actions[a]).ravel()[0], -1, 1)) for a in self.possible_agents)
        r = -((total - self.x) ** 2)
        self.t += 1
        self.x = float(self.np_random.uniform(-1.5, 1.5))
        trunc = self.t >= self.max_steps
        obs = self._obs()
        out = (obs, {a: r for a in self.agents}, {a: False for a in self.agents}, {a: trunc for a in self.agents})
        infos = {a: {} for a in self.agents}
        if trunc:
            self.agents = []
        return (*out, infos)
