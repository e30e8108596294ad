"""Small synthetic ParallelEnvs for testing the vec env machinery (no simulator needed)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class CounterEnv(ParallelEnv):
    """Two agents with different obs and action dims; the episode terminates when the summed action is large or
    truncates at ``max_steps``. Observations carry the step counter and a seeded random draw so seeds show."""

    metadata = {"name": "counter_v0", "render_modes": ["ansi"]}

    def __init__(
        self,
        max_steps: int = 7,
        discrete: bool = False,
        crash_at: int | None = None,
        hard_crash: bool = False,
        render_mode: str | None = None,
    ) -> None:
        self.possible_agents = ["a", "b"]
        self.max_steps = max_steps
        self.discrete = discrete
        self.crash_at = crash_at
        self.hard_crash = hard_crash
        self.render_mode = render_mode
        box = {"a": spaces.Box(-10, 10, (3,), np.float32), "b": spaces.Box(-10, 10, (2,), np.float32)}
        if discrete:
            self._obs_spaces = {
                a: spaces.Dict({"observation": box[a], "action_mask": spaces.Box(0, 1, (4,), np.int8)})
                for a in self.possible_agents
            }
            self._act_spaces = {a: spaces.Discrete(4) for a in self.possible_agents}
        else:
            self._obs_spaces = box
            self._act_spaces = {"a": spaces.Box(-1, 1, (2,), np.float32), "b": spaces.Box(-1, 1, (1,), np.float32)}
        self.state_space = spaces.Box(-100, 100, (4,), np.float32)
        self.rng = np.random.default_rng()
        self.total_steps = 0

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def _obs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, a in enumerate(self.possible_agents):
            dim = 3 if a == "a" else 2
            o = np.full(dim, self.t + i, dtype=np.float32)
            o[0] = self.noise
            if self.discrete:
                mask = np.ones(4, dtype=np.int8)
                mask[3] = 0 if self.t % 2 == 0 else 1
                out[a] = {"observation": o, "action_mask": mask}
            else:
                out[a] = o
        return out

    def state(self) -> np.ndarray:
        return np.array([self.t, self.noise, self.acc, 1.0], dtype=np.float32)

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.t = 0
        self.acc = 0.0
        self.noise = float(self.rng.uniform(-1, 1))
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        self.total_steps += 1
        if self.crash_at is not None and self.total_steps >= self.crash_at:
            if self.hard_crash:
                os._exit(3)
            raise RuntimeError("boom: simulated env failure")
        self.t += 1
        if self.discrete:
            total = float(sum(actions.values()))
        else:
            total = float(sum(np.sum(v) for v in actions.values()))
        self.acc += total
        self.noise = float(self.rng.uniform(-1, 1))
        terminated = (not self.discrete and self.acc > 2.0) or (self.discrete and self.acc >= 9)
        truncated = self.t >= self.max_steps and not terminated
        rewards = {a: total for a in self.agents}
        terms = {a: terminated for a in self.agents}
        truncs = {a: truncated for a in self.agents}
        infos = {a: {"battle_won": terminated} for a in self.agents}
        obs = self._obs()
        if terminated or truncated:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def render(self) -> str | None:
        return f"t={self.t}" if self.render_mode == "ansi" else None
