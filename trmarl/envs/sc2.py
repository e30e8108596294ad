"""``SMAC-<map>``: real StarCraft II through oxwhirl's ``smac`` package, with the same ParallelEnv shape as SMACSim.

``SMACParallelEnv`` adapts ``smac.env.StarCraft2Env`` (imported lazily) to PettingZoo's ``ParallelEnv`` exactly as
:class:`trmarl.envs.smacsim.parallel.SMACSimParallelEnv` does: Dict observations with an ``action_mask``, ``state()`` and
``state_space``, SMAC's native action indices (0 = no-op, legal only when dead), dead agents kept in ``agents`` until the
episode ends, battle ends as ``terminations`` and the episode limit as ``truncations``, SMAC's ``info`` keys plus
``active`` per agent. Where ``smac`` or StarCraft II is missing, building the env raises an error that says so and names
the simulator id ``SMACSim-<map>``.

Any object with SMAC's interface can be adapted (``SMACParallelEnv.from_smac_env(obj)`` or ``_env=obj``), e.g. SMACSim's
own :class:`~trmarl.envs.smacsim.env.StarCraft2Env` (used by the tests) or a SMACv2 env.

>>> from trmarl.envs.sc2 import SMACParallelEnv
>>> from trmarl.envs.smacsim import StarCraft2Env
>>> env = SMACParallelEnv.from_smac_env(StarCraft2Env("3m"))
>>> obs, infos = env.reset(seed=0)
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

__all__ = ["SMACParallelEnv", "StarCraftIINotAvailableError"]


class StarCraftIINotAvailableError(ImportError):
    """``smac`` or StarCraft II is not installed."""


def _sc2_installed() -> bool:
    path = os.environ.get("SC2PATH")
    if path:
        return os.path.isdir(path)
    candidates = [os.path.expanduser("~/StarCraftII"), "/Applications/StarCraft II", "C:/Program Files (x86)/StarCraft II"]
    return any(os.path.isdir(p) for p in candidates)


def _make_smac_env(map_name: str, kwargs: dict[str, Any]) -> Any:
    hint = (
        f"Use the simulator instead: trmarl.make('SMACSim-{map_name}') (same interface, shapes and rules; its numbers are "
        "not StarCraft II numbers)."
    )
    try:
        from smac.env import StarCraft2Env
    except ImportError as exc:
        raise StarCraftIINotAvailableError(
            f"SMAC-{map_name} needs oxwhirl's 'smac' package and StarCraft II "
            f"(pip install git+https://github.com/oxwhirl/smac.git, then install SC2 and set SC2PATH). {hint}"
        ) from exc
    if not _sc2_installed():
        raise StarCraftIINotAvailableError(
            f"SMAC-{map_name}: StarCraft II was not found (set SC2PATH to the StarCraftII folder, with SMAC's maps in "
            f"Maps/SMAC_Maps). {hint}"
        )
    return StarCraft2Env(map_name=map_name, **kwargs)


def _agent_names(map_name: str, n_agents: int, smac_env: Any) -> list[str]:
    types: list[str] | None = None
    get_types = getattr(smac_env, "get_unit_types", None)
    if callable(get_types):
        try:
            candidate = list(get_types())
            if len(candidate) == n_agents and all(isinstance(t, str) for t in candidate):
                types = candidate
        except Exception:
            types = None
    if types is None:
        try:  # SMAC's maps: the compositions are known without launching the game
            from trmarl.envs.smacsim.engine import Battle
            from trmarl.envs.smacsim.maps import MAPS

            if map_name in MAPS and MAPS[map_name].n_agents == n_agents:
                types = Battle(MAPS[map_name], 1).unit_names[:n_agents]
        except Exception:
            types = None
    if types is None:
        return [f"agent_{i}" for i in range(n_agents)]
    counts: dict[str, int] = {}
    names = []
    for t in types:
        names.append(f"{t}_{counts.get(t, 0)}")
        counts[t] = counts.get(t, 0) + 1
    return names


class SMACParallelEnv(ParallelEnv):
    """SMAC (real StarCraft II, or any object with SMAC's interface) as a PettingZoo ``ParallelEnv``.

    Args:
        map_name: SMAC map name.
        render_mode: ``None``, ``"rgb_array"`` or ``"human"`` (passed to the SMAC env's ``render(mode)``).
        _env: An already built object with SMAC's ``StarCraft2Env`` interface (skips importing ``smac``).
        **kwargs: ``smac.env.StarCraft2Env`` keyword arguments.

    Raises:
        StarCraftIINotAvailableError: ``smac`` or StarCraft II is missing (the message names ``SMACSim-<map>``).
    """

    metadata = {"name": "smac_v1", "render_modes": ["rgb_array", "human"], "is_parallelizable": True, "render_fps": 3}

    def __init__(self, map_name: str = "8m", render_mode: str | None = None, _env: Any = None, **kwargs: Any) -> None:
        self.smac = _env if _env is not None else _make_smac_env(map_name, kwargs)
        self.map_name = str(getattr(self.smac, "map_name", map_name))
        self.render_mode = render_mode
        info = self.smac.get_env_info()
        self.n_agents = int(info["n_agents"])
        self.n_actions = int(info["n_actions"])
        self.episode_limit = int(info["episode_limit"])
        self.n_enemies = int(getattr(self.smac, "n_enemies", self.n_actions - 6))
        self.possible_agents = _agent_names(self.map_name, self.n_agents, self.smac)
        self.agents = list(self.possible_agents)
        obs_space = gym.spaces.Dict(
            {
                "observation": gym.spaces.Box(-1.0, 1.0, (int(info["obs_shape"]),), np.float32),
                "action_mask": gym.spaces.Box(0, 1, (self.n_actions,), np.int8),
            }
        )
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: gym.spaces.Discrete(self.n_actions) for a in self.possible_agents}
        self.state_space = gym.spaces.Box(-np.inf, np.inf, (int(info["state_shape"]),), np.float32)
        self._steps = 0
        self._avail = np.zeros((self.n_agents, self.n_actions), dtype=np.int8)

    @classmethod
    def from_smac_env(cls, smac_env: Any, render_mode: str | None = None) -> SMACParallelEnv:
        """Adapt an existing object with SMAC's ``StarCraft2Env`` interface."""
        return cls(str(getattr(smac_env, "map_name", "custom")), render_mode=render_mode, _env=smac_env)

    def observation_space(self, agent: str) -> gym.spaces.Space:
        """The (shared) Dict observation space."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Space:
        """``Discrete(n_actions)`` with SMAC's indices."""
        return self.action_spaces[agent]

    def _read(self) -> dict[str, dict[str, np.ndarray]]:
        obs = self.smac.get_obs()
        self._avail = np.asarray(self.smac.get_avail_actions(), dtype=np.int8).reshape(self.n_agents, self.n_actions)
        return {
            a: {"observation": np.asarray(obs[i], dtype=np.float32), "action_mask": self._avail[i].copy()}
            for i, a in enumerate(self.possible_agents)
        }

    def _infos(self, info: dict[str, Any]) -> dict[str, dict[str, Any]]:
        won = bool(info.get("battle_won", False))
        dead_allies, dead_enemies = int(info.get("dead_allies", 0)), int(info.get("dead_enemies", 0))
        return {
            a: {
                "action_mask": self._avail[i].copy(),
                "battle_won": won,
                "dead_allies": dead_allies,
                "dead_enemies": dead_enemies,
                "active": bool(self._avail[i, 0] == 0),
            }
            for i, a in enumerate(self.possible_agents)
        }

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, Any]]]:
        """Start an episode. ``seed`` reseeds envs whose ``seed()`` takes one; real SMAC uses it at the next launch."""
        if seed is not None:
            try:
                self.smac.seed(seed)
            except TypeError:
                self.smac._seed = seed
                warnings.warn("this SMAC env takes its seed when StarCraft II (re)launches", stacklevel=2)
        self.smac.reset()
        self._steps = 0
        self.agents = list(self.possible_agents)
        obs = self._read()
        return obs, self._infos({})

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Step with one action per agent (dead agents may be left out: they take the no-op)."""
        if not self.agents:
            raise RuntimeError("the episode is over: call reset() before step()")
        acts = []
        for i, agent in enumerate(self.possible_agents):
            if agent in actions:
                acts.append(int(actions[agent]))
            elif self._avail[i, 0] == 1:
                acts.append(0)
            else:
                raise ValueError(f"no action for living agent {agent!r}")
        for i, a in enumerate(acts):
            if not (0 <= a < self.n_actions) or self._avail[i, a] != 1:
                legal = np.flatnonzero(self._avail[i]).tolist()
                raise ValueError(f"illegal action {a} for agent {self.possible_agents[i]!r}; available: {legal}")
        reward, terminated, info = self.smac.step(acts)
        self._steps += 1
        battle_end = bool(info.get("battle_won", False)) or int(info.get("dead_allies", 0)) >= self.n_agents
        battle_end = battle_end or int(info.get("dead_enemies", 0)) >= self.n_enemies
        timeout = bool(terminated) and (
            bool(info.get("episode_limit", False)) or (self._steps >= self.episode_limit and not battle_end)
        )
        agents = self.agents
        obs = self._read()
        infos = self._infos(info)
        rewards = {a: float(reward) for a in agents}
        terminations = {a: bool(terminated) and not timeout for a in agents}
        truncations = {a: timeout for a in agents}
        if terminated or timeout:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        """SMAC's global state."""
        return np.asarray(self.smac.get_state(), dtype=np.float32)

    def render(self) -> Any:
        """Render through the SMAC env (``None`` without a ``render_mode``)."""
        if self.render_mode is None:
            return None
        return self.smac.render(mode=self.render_mode)

    def close(self) -> None:
        """Close the SMAC env (and StarCraft II)."""
        self.smac.close()
