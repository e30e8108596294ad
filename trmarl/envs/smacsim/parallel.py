"""SMACSim as a PettingZoo ``ParallelEnv`` and as a natively batched multi-agent vectorized env.

``SMACSimParallelEnv`` (ids ``SMACSim-<map>``):

* ``possible_agents``: SMAC unit names ``f"{type}_{i}"`` (``marine_0``...), in SMAC's agent order;
* ``observation_space(a)`` = ``Dict(observation=Box(-1, 1, (obs_size,), float32), action_mask=Box(0, 1, (n_actions,), int8))``,
  ``action_space(a)`` = ``Discrete(n_actions)`` with SMAC's indices (0 = no-op, legal only when dead; an illegal action
  raises :class:`~trmarl.envs.smacsim.env.IllegalActionError`);
* ``state()`` / ``state_space``: SMAC's global state;
* the team reward is given to every agent; a battle end (win, loss, draw) sets ``terminations``, SMAC's episode limit
  sets ``truncations``; ``infos[a]`` holds ``action_mask``, ``battle_won``, ``dead_allies``, ``dead_enemies`` and
  ``active`` (the agent is alive);
* dead agents stay in ``agents`` (zero observation, only the no-op available) until the episode ends, so sizes never change.

``SMACSimVecEnv`` steps ``E`` battles in one engine call behind :class:`~trmarl.envs.vec_env.MultiAgentVecEnv`'s arrays.
Each battle has its own random stream, so env ``i`` seeded with ``seed + i`` replays exactly what a single
``SMACSimParallelEnv`` reset with that seed does, step for step.

>>> import trmarl
>>> venv = trmarl.make_vec_env("SMACSim-3m", n_envs=4, seed=0)
>>> obs, infos = venv.reset()
>>> obs.obs.shape, obs.action_mask.shape
((4, 3, 30), (4, 3, 9))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from trmarl.envs.smacsim.env import SMACCore, StarCraft2Env, split_kwargs
from trmarl.envs.vec_env import EnvLayout, MultiAgentVecEnv, VecObs, VecStep

__all__ = ["SMACSimParallelEnv", "SMACSimVecEnv"]

_RENDER_MODES = ["rgb_array", "human"]


def _agent_names(unit_names: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    names = []
    for name in unit_names:
        names.append(f"{name}_{counts.get(name, 0)}")
        counts[name] = counts.get(name, 0) + 1
    return names


class SMACSimParallelEnv(ParallelEnv):
    """One SMACSim battle as a PettingZoo ``ParallelEnv`` (see the module docstring).

    Args:
        map_name: A SMAC map name (``"3m"``, ``"2s3z"``, ``"MMM2"``...).
        render_mode: ``None``, ``"rgb_array"`` or ``"human"``.
        **kwargs: SMAC's ``StarCraft2Env`` arguments and SMACSim's extras (``seed``, ``reward_sparse``,
            ``obs_last_action``, ``enemy_ai``...).
    """

    metadata = {"name": "smacsim_v0", "render_modes": _RENDER_MODES, "is_parallelizable": True, "render_fps": 3}

    def __init__(self, map_name: str = "8m", render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None and render_mode not in _RENDER_MODES:
            raise ValueError(f"render_mode must be one of {_RENDER_MODES} or None, got {render_mode!r}")
        self.smac_pz_compat = bool(kwargs.pop("smac_pz_compat", False))
        self.map_name = map_name
        self.render_mode = render_mode
        self.smac = StarCraft2Env(map_name=map_name, render_mode=render_mode, **kwargs)
        self.core: SMACCore = self.smac.core
        self.n_agents, self.n_actions = self.core.n_agents, self.core.n_actions
        self._shift = 1 if self.smac_pz_compat else 0  # SMAC's own wrapper drops the no-op: action a is SMAC's a + 1
        self.possible_agents = _agent_names(self.core.battle.unit_names[: self.n_agents])
        self.agents = list(self.possible_agents)
        obs_size, state_size = self.core.get_obs_size(), self.core.get_state_size()
        obs_space = gym.spaces.Dict(
            {
                "observation": gym.spaces.Box(-1.0, 1.0, (obs_size,), np.float32),
                "action_mask": gym.spaces.Box(0, 1, (self.n_actions - self._shift,), np.int8),
            }
        )
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: gym.spaces.Discrete(self.n_actions - self._shift) for a in self.possible_agents}
        self.state_space = gym.spaces.Box(-np.inf, np.inf, (state_size,), np.float32)
        self._index = {a: i for i, a in enumerate(self.possible_agents)}

    def observation_space(self, agent: str) -> gym.spaces.Space:
        """The (shared) Dict observation space."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Space:
        """``Discrete(n_actions)``."""
        return self.action_spaces[agent]

    def _obs(self, agents: list[str]) -> dict[str, dict[str, np.ndarray]]:
        core, k = self.core, self._shift
        return {
            a: {"observation": core.obs[0, i].copy(), "action_mask": core.avail[0, i, k:].copy()}
            for i, a in enumerate(self.possible_agents)
            if a in agents
        }

    def _infos(self, won: bool, dead_allies: int, dead_enemies: int, agents: list[str]) -> dict[str, dict[str, Any]]:
        alive = self.core.battle.alive[0]
        return {
            a: {
                "action_mask": self.core.avail[0, i, self._shift :].copy(),
                "battle_won": won,
                "dead_allies": dead_allies,
                "dead_enemies": dead_enemies,
                "active": bool(alive[i]),
            }
            for i, a in enumerate(self.possible_agents)
            if a in agents
        }

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, Any]]]:
        """Start an episode (``seed`` restarts the random stream)."""
        if seed is not None:
            self.smac.seed(seed)
        self.smac.reset()
        self.agents = list(self.possible_agents)
        return self._obs(self.agents), self._infos(False, 0, 0, self.agents)

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Step with one action per agent in ``agents`` (dead agents may be left out; they take the no-op).

        With ``smac_pz_compat=True`` actions are SMAC's minus one (no no-op), and an agent that dies gets
        ``terminations[agent] = True`` and leaves ``agents`` at once, as in SMAC's own PettingZoo wrapper.
        """
        if not self.agents:
            raise RuntimeError("the episode is over: call reset() before step()")
        alive = self.core.battle.alive[0]
        acts = np.zeros((1, self.n_agents), dtype=np.int64)
        for i, agent in enumerate(self.possible_agents):
            if agent in actions and agent in self.agents:
                acts[0, i] = int(actions[agent]) + self._shift
            elif alive[i]:
                raise ValueError(f"no action for living agent {agent!r}")
        for agent in actions:
            if agent not in self._index:
                raise KeyError(f"unknown agent {agent!r}; agents are {self.possible_agents}")
        out = self.core.step(acts)
        self.smac.last_action[:] = 0.0
        self.smac.last_action[np.arange(self.n_agents), acts[0]] = 1.0
        reward = float(out["reward"][0])
        timeout = bool(out["timeout"][0])
        terminated = bool(out["terminated"][0]) and not timeout
        agents = self.agents
        obs = self._obs(agents)
        infos = self._infos(bool(out["battle_won"][0]), int(out["dead_allies"][0]), int(out["dead_enemies"][0]), agents)
        rewards = {a: reward for a in agents}
        terminations = {a: terminated for a in agents}
        truncations = {a: timeout for a in agents}
        if terminated or timeout:
            self.agents = []
        elif self.smac_pz_compat:
            alive_now = self.core.battle.alive[0]
            for a in agents:
                if not alive_now[self._index[a]]:
                    terminations[a] = True
            self.agents = [a for a in agents if alive_now[self._index[a]]]
        return obs, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        """SMAC's global state, float32 ``(state_size,)``."""
        return self.core.state[0].copy()

    def render(self) -> np.ndarray | None:
        """``"rgb_array"``: an ``(H, W, 3)`` uint8 frame; ``"human"``: show it; ``None``: nothing."""
        if self.render_mode is None:
            return None
        return self.smac.render(self.render_mode)

    def close(self) -> None:
        """Nothing to release."""
        self.smac.close()


class _EnvView:
    """What ``get_attr`` / ``env_method`` see for env ``k`` of a :class:`SMACSimVecEnv`."""

    def __init__(self, vec: SMACSimVecEnv, k: int) -> None:
        self._vec, self._k = vec, k
        self.possible_agents = vec.agents
        self.map_name = vec.map_name
        self.render_mode = vec.render_mode
        self.core = vec.core
        self.episode_limit = int(vec.core.episode_limit)

    @property
    def agents(self) -> list[str]:
        return [] if self._vec.core.done[self._k] else list(self._vec.agents)

    def state(self) -> np.ndarray:
        return self._vec.core.state[self._k].copy()

    def render(self) -> np.ndarray | None:
        from trmarl.envs.smacsim.render import render_battle

        return render_battle(self._vec.core.battle, self._k) if self.render_mode is not None else None

    def get_stats(self) -> dict[str, Any]:
        c = self._vec.core
        won, game, timeouts = int(c.battles_won[self._k]), int(c.battles_game[self._k]), int(c.timeouts[self._k])
        return {
            "battles_won": won,
            "battles_game": game,
            "battles_draw": timeouts,
            "win_rate": won / game if game else 0.0,
            "timeouts": timeouts,
            "restarts": 0,
        }


class SMACSimVecEnv(MultiAgentVecEnv):
    """``n_envs`` SMACSim battles stepped by one engine call (the ``"native"`` backend of ``make_vec_env``).

    Args:
        n_envs: Number of battles ``E``.
        seed: Seeds battle ``i`` with ``seed + i`` (as ``make_vec_env`` does for the sync backend).
        map_name: A SMAC map name.
        render_mode: ``None`` or ``"rgb_array"`` (renders env 0).
        **kwargs: SMAC's ``StarCraft2Env`` arguments and SMACSim's extras.
    """

    def __init__(
        self, n_envs: int, seed: int | None = None, map_name: str = "8m", render_mode: str | None = None, **kwargs: Any
    ) -> None:
        if int(n_envs) < 1:
            raise ValueError(f"n_envs must be at least 1, got {n_envs}")
        kwargs = dict(kwargs)
        kwargs.pop("seed", None)
        if kwargs.pop("smac_pz_compat", False):
            raise ValueError(
                "smac_pz_compat=True is for the PettingZoo env only; the vec env keeps dead agents (fixed shapes)"
            )
        probe = SMACSimParallelEnv(map_name, render_mode=None, **kwargs)
        self._set_layout(EnvLayout(probe))
        probe.close()
        core_kwargs, _ = split_kwargs(kwargs)
        self.num_envs = int(n_envs)
        self.map_name = map_name
        self.render_mode = render_mode
        self.env_kwargs = {"map_name": map_name, **kwargs}
        self.core = SMACCore(map_name, self.num_envs, **core_kwargs)
        for i in range(self.num_envs):
            self.core.seed(i, None if seed is None else seed + i)
        self.core.reset()
        self.ep_return = np.zeros(self.num_envs, dtype=np.float64)
        self.ep_length = np.zeros(self.num_envs, dtype=np.int64)
        self.ep_start = np.full(self.num_envs, time.perf_counter())

    def _vec_obs(self) -> VecObs:
        core = self.core
        obs = np.zeros((self.num_envs, self.n_agents, self.obs_dim), dtype=np.float32)
        obs[:, :, : core.obs.shape[2]] = core.obs
        return VecObs(obs, core.state.copy(), core.avail.astype(np.bool_), core.battle.alive[:, : self.n_agents].copy())

    def reset(self, seed: int | Sequence[int | None] | None = None) -> tuple[VecObs, list[dict[str, Any]]]:
        """Reset every battle (``seed``: an int seeds battle ``i`` with ``seed + i``; a sequence gives one per battle)."""
        for i, s in enumerate(self._seeds_for_reset(seed)):
            if s is not None:
                self.core.seed(i, s)
        self.core.reset()
        self.ep_return[:] = 0.0
        self.ep_length[:] = 0
        self.ep_start[:] = time.perf_counter()
        return self._vec_obs(), [{} for _ in range(self.num_envs)]

    def step(self, actions: np.ndarray) -> VecStep:
        """Step every battle; battles that end are reset in the same call (their last view is in ``infos``)."""
        acts = self.check_actions(actions)
        out = self.core.step(acts)
        reward = out["reward"]
        timeout = out["timeout"]
        done = out["terminated"]
        terminated = done & ~timeout
        self.ep_return += reward
        self.ep_length += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if done.any():
            final = self._vec_obs()
            now = time.perf_counter()
            for k in np.flatnonzero(done):
                infos[k] = {
                    "final_obs": final.obs[k],
                    "final_state": final.state[k],
                    "final_action_mask": final.action_mask[k] if final.action_mask is not None else None,
                    "final_active": final.active[k],
                    "episode": {
                        "r": float(self.ep_return[k]),
                        "l": int(self.ep_length[k]),
                        "t": round(now - self.ep_start[k], 6),
                        "win": bool(out["battle_won"][k]),
                    },
                    "battle_won": bool(out["battle_won"][k]),
                    "dead_allies": int(out["dead_allies"][k]),
                    "dead_enemies": int(out["dead_enemies"][k]),
                }
            self.core.reset(done)
            self.ep_return[done] = 0.0
            self.ep_length[done] = 0
            self.ep_start[done] = now
        return VecStep(self._vec_obs(), reward.astype(np.float32), terminated, timeout.copy(), infos)

    def close(self) -> None:
        """Nothing to release."""
        self.closed = True

    def get_attr(self, name: str, indices: Sequence[int] | None = None) -> list[Any]:
        """Attribute ``name`` of each battle's view (``agents``, ``map_name``, ``render_mode``, ``core``...)."""
        idx = range(self.num_envs) if indices is None else indices
        return [getattr(_EnvView(self, int(i)), name) for i in idx]

    def env_method(self, name: str, *args: Any, indices: Sequence[int] | None = None, **kwargs: Any) -> list[Any]:
        """Call ``render``, ``state`` or ``get_stats`` on each battle's view."""
        idx = range(self.num_envs) if indices is None else indices
        return [getattr(_EnvView(self, int(i)), name)(*args, **kwargs) for i in idx]
