"""Tiny cooperative PettingZoo ParallelEnvs for the agent tests (fast, deterministic given a seed)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv


class ReachEnv(ParallelEnv):
    """``n_agents`` agents each move a point on a line toward a shared target; team reward = -(sum of distances).

    Agent ``i`` observes ``(x_i, target)``; action ``(1,)`` in ``[-1, 1]`` moves it by ``0.2 * a``. Episodes are truncated
    after ``max_steps``. The optimal policy (move toward the target) gives a much higher return than a random one.
    """

    metadata = {"name": "reach_v0", "render_modes": []}

    def __init__(self, max_steps: int = 20, n_agents: int = 2, render_mode: str | None = None) -> None:
        self.possible_agents = [f"agent_{i}" for i in range(n_agents)]
        self.n_agents = n_agents
        self.agents: list[str] = []
        self.max_steps = max_steps
        self.render_mode = render_mode
        self._obs_space = gym.spaces.Box(-5.0, 5.0, (2,), np.float32)
        self._act_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.state_space = gym.spaces.Box(-5.0, 5.0, (n_agents + 1,), np.float32)
        self.np_random = np.random.default_rng()

    def observation_space(self, agent: str) -> gym.Space:
        return self._obs_space

    def action_space(self, agent: str) -> gym.Space:
        return self._act_space

    def state(self) -> np.ndarray:
        return np.array([*self.x, self.target], dtype=np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        return {a: np.array([self.x[i], self.target], dtype=np.float32) for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.x = self.np_random.uniform(-2, 2, size=self.n_agents)
        self.target = float(self.np_random.uniform(-1, 1))
        self.t = 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        for i, a in enumerate(self.possible_agents):
            self.x[i] = np.clip(self.x[i] + 0.2 * float(np.clip(np.asarray(actions[a]).ravel()[0], -1, 1)), -4.5, 4.5)
        self.t += 1
        r = -float(np.abs(self.x - self.target).sum())
        trunc = self.t >= self.max_steps
        obs = self._obs()
        rewards = {a: r for a in self.agents}
        terms = {a: False for a in self.agents}
        truncs = {a: trunc for a in self.agents}
        infos = {a: {} for a in self.agents}
        if trunc:
            self.agents = []
        return obs, rewards, terms, truncs, infos


class CoordinationEnv(ParallelEnv):
    """A repeated discrete coordination game with an action mask and a termination.

    Each step both agents pick one of 4 actions; action 3 is always unavailable (masked). The state shows a target
    index ``k`` in {0, 1, 2}; the team earns +1 when both agents pick ``k`` and 0 otherwise. The episode terminates
    after ``max_steps`` steps (``terminated``, so there is no bootstrap) and wins when the return is at least half.
    """

    metadata = {"name": "coordination_v0", "render_modes": []}

    def __init__(self, max_steps: int = 8, render_mode: str | None = None) -> None:
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents: list[str] = []
        self.max_steps = max_steps
        self.render_mode = render_mode
        self._obs_space = gym.spaces.Dict(
            {
                "observation": gym.spaces.Box(0.0, 1.0, (3,), np.float32),
                "action_mask": gym.spaces.MultiBinary(4),
            }
        )
        self._act_space = gym.spaces.Discrete(4)
        self.state_space = gym.spaces.Box(0.0, 1.0, (3,), np.float32)
        self.np_random = np.random.default_rng()

    def observation_space(self, agent: str) -> gym.Space:
        return self._obs_space

    def action_space(self, agent: str) -> gym.Space:
        return self._act_space

    def state(self) -> np.ndarray:
        return np.eye(3, dtype=np.float32)[self.k]

    def _obs(self) -> dict[str, Any]:
        mask = np.array([1, 1, 1, 0], dtype=np.int8)
        return {a: {"observation": self.state(), "action_mask": mask} for a in self.agents}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.k = int(self.np_random.integers(3))
        self.t = 0
        self.ret = 0.0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if any(int(actions[a]) == 3 for a in self.agents):
            raise ValueError("action 3 is unavailable")
        r = 1.0 if all(int(actions[a]) == self.k for a in self.agents) else 0.0
        self.ret += r
        self.t += 1
        self.k = int(self.np_random.integers(3))
        done = self.t >= self.max_steps
        obs = self._obs()
        rewards = {a: r for a in self.agents}
        terms = {a: done for a in self.agents}
        truncs = {a: False for a in self.agents}
        infos = {a: ({"win": self.ret >= self.max_steps / 2} if done else {}) for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos
