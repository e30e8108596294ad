"""Plug your own PettingZoo environment into trmarl: register a small ParallelEnv and train MAPPO on it.

``MeetOnALine`` is a two-agent cooperative game: both agents start at random cells of a line of ``size`` cells and
move left, stay or right each step (moving towards each other at once makes them swap cells). The team is rewarded for being close (``-distance / size`` per step) and gets
``+1`` and the end of the episode when both stand on the same cell; after ``max_steps`` steps the episode is
*truncated* (a time limit, not a task end). Each agent observes its own position, the other's and its own index; the global
``state()`` (what MAPPO's centralised critic sees) is both positions plus the time left.

What trmarl needs from an env beyond PettingZoo's ``ParallelEnv`` API:

* fixed ``possible_agents``, a ``state()`` method and a ``state_space`` (the centralised critic's input);
* terminations (the task ended) kept apart from truncations (a time limit);
* a ``render_mode`` attribute (None is fine).

``trmarl.envs.testing.check_env`` runs PettingZoo's ``parallel_api_test`` plus those checks. Run::

    python examples/custom_env.py --timesteps 30000
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

import trmarl
from trmarl import MAPPO, evaluate_policy
from trmarl.envs.testing import check_env


class MeetOnALine(ParallelEnv):  # type: ignore[misc]
    """Two agents on a line of ``size`` cells must meet.

    Args:
        size: Number of cells.
        max_steps: Time limit (a truncation).
        render_mode: None (this env draws nothing).
    """

    metadata: dict[str, Any] = {"name": "meet_on_a_line_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, size: int = 7, max_steps: int = 20, render_mode: str | None = None) -> None:
        self.size, self.max_steps, self.render_mode = size, max_steps, render_mode
        self.possible_agents = ["walker_0", "walker_1"]
        self.agents: list[str] = []
        self.observation_spaces = {a: spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32) for a in self.possible_agents}
        self.action_spaces = {a: spaces.Discrete(3) for a in self.possible_agents}  # left, stay, right
        self.state_space = spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)
        self._pos = np.zeros(2, dtype=np.int64)
        self._t = 0
        self._rng = np.random.default_rng()

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def state(self) -> np.ndarray:
        """Both positions and the fraction of time left, float32 ``(3,)``."""
        scale = self.size - 1
        return np.array([*(self._pos / scale), 1.0 - self._t / self.max_steps], dtype=np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        scale = self.size - 1
        p0, p1 = self._pos / scale
        # own position, the other's, and who I am (MAPPO shares one actor: the id lets the two walkers act differently)
        return {"walker_0": np.array([p0, p1, 0.0], dtype=np.float32), "walker_1": np.array([p1, p0, 1.0], dtype=np.float32)}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._t = 0
        self._pos = self._rng.choice(self.size, size=2, replace=False)
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        for i, agent in enumerate(self.possible_agents):
            self._pos[i] = np.clip(self._pos[i] + int(actions[agent]) - 1, 0, self.size - 1)
        self._t += 1
        distance = abs(int(self._pos[0]) - int(self._pos[1]))
        met = distance == 0
        reward = 1.0 if met else -distance / self.size
        truncated = not met and self._t >= self.max_steps
        obs, agents = self._obs(), self.agents
        if met or truncated:
            self.agents = []
        return (
            obs,
            dict.fromkeys(agents, reward),
            dict.fromkeys(agents, met),
            dict.fromkeys(agents, truncated),
            {a: {} for a in agents},
        )

    def render(self) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=float, default=30_000, help="environment steps to train for (default 30000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--n-envs", type=int, default=8, help="parallel environments")
    args = parser.parse_args()

    # 1. check the env against PettingZoo's API test and trmarl's requirements, then register it
    check_env(lambda: MeetOnALine())
    trmarl.register("MeetOnALine-v0", MeetOnALine, {"size": 7}, override=True)
    print("registered:", [i for i in trmarl.list_envs("user") if i.startswith("MeetOnALine")])

    # 2. train MAPPO on it by id, exactly as on a built-in env
    model = MAPPO("MeetOnALine-v0", seed=args.seed, n_envs=args.n_envs, n_steps=64, hidden_sizes=(64, 64), verbose=0)
    before, _ = evaluate_policy(model, "MeetOnALine-v0", n_eval_episodes=20, seed=123)
    model.learn(args.timesteps)
    after, std = evaluate_policy(model, "MeetOnALine-v0", n_eval_episodes=20, seed=123)
    print(f"mean return over 20 episodes: {before:.2f} before training -> {after:.2f} +/- {std:.2f} after")

    # 3. the trained policy plays one episode through the plain PettingZoo interface
    env = trmarl.make("MeetOnALine-v0")
    obs, _ = env.reset(seed=7)
    trajectory = [tuple(env.state()[:2] * (env.size - 1))]
    while env.agents:
        actions, _ = model.predict(obs, deterministic=True)
        obs, _, _, _, _ = env.step(actions)
        trajectory.append(tuple(env.state()[:2] * (env.size - 1)))
    print("positions:", " -> ".join(f"({a:.0f}, {b:.0f})" for a, b in trajectory))


if __name__ == "__main__":
    main()
