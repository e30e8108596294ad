"""SMAC's ``StarCraft2Env`` interface on top of SMACSim's engine, so pymarl/EPyMARL code runs unchanged.

>>> from trmarl.envs.smacsim import StarCraft2Env
>>> env = StarCraft2Env(map_name="3m", seed=0)
>>> info = env.get_env_info()
>>> (info["n_agents"], info["n_actions"], info["obs_shape"], info["state_shape"], info["episode_limit"])
(3, 9, 30, 48, 60)
>>> obs, state = env.reset()
>>> avail = env.get_avail_actions()
>>> reward, terminated, info = env.step([a.index(1) if a[0] == 0 else 0 for a in avail])

Everything SMAC's ``StarCraft2Env`` takes is accepted with SMAC's defaults (SC2-only arguments are accepted and ignored),
plus SMACSim's own keyword arguments (``smac_enemy_type_order``, ``reward_clip_negative``, ``unit_ranges``,
``loops_per_second``, ``enemy_ai``, ``collision``, ``spawn_jitter``). Observation and state features, the reward with its
options and scaling, the win/loss/draw/timeout rules and the ``info`` keys follow SMAC (``shared/specs/smacsim.md``).
An action that is not available raises :class:`IllegalActionError` (SMAC asserts).

:class:`SMACCore` holds ``B`` battles with SMAC's rules over arrays; ``StarCraft2Env`` is a ``B = 1`` view of it and
:class:`~trmarl.envs.smacsim.parallel.SMACSimVecEnv` steps all ``B`` at once.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from trmarl.envs.smacsim.engine import (
    CODE_DRAW,
    CODE_LOSS,
    CODE_NONE,
    CODE_WIN,
    F_HP,
    F_OBS_SIGHT,
    I_MEDIVAC,
    Battle,
    BattleOptions,
)  # fmt: skip
from trmarl.envs.smacsim.maps import get_map

__all__ = ["SC2_ONLY_KWARGS", "IllegalActionError", "SMACCore", "StarCraft2Env", "UnitView", "split_kwargs"]

#: SMAC arguments that only matter to StarCraft II: accepted and ignored.
SC2_ONLY_KWARGS = frozenset(
    {"difficulty", "game_version", "replay_dir", "replay_prefix", "window_size_x", "window_size_y", "heuristic_rest", "debug"}
)


def split_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """Split ``StarCraft2Env`` keyword arguments into :class:`SMACCore`'s and the seed (SC2-only ones are dropped)."""
    core = {k: v for k, v in kwargs.items() if k not in SC2_ONLY_KWARGS and k not in ("seed", "render_mode")}
    return core, kwargs.get("seed")


_OBS_FLAGS = (
    "obs_all_health", "obs_own_health", "obs_last_action", "obs_pathing_grid", "obs_terrain_height",
    "obs_timestep_number", "state_last_action", "state_timestep_number",
)  # fmt: skip


class IllegalActionError(ValueError, AssertionError):
    """An agent chose an action that is not available (a ``ValueError``, and an ``AssertionError`` as in SMAC)."""


@dataclass
class UnitView:
    """A read-only snapshot of one unit (what SMAC's ``get_unit_by_id`` users read)."""

    unit_type: str
    health: float
    health_max: float
    shield: float
    shield_max: float
    energy: float
    weapon_cooldown: float
    x: float
    y: float
    alive: bool

    @property
    def pos(self) -> tuple[float, float]:
        """``(x, y)``."""
        return (self.x, self.y)


class SMACCore:
    """``B`` SMACSim battles with SMAC's observation, reward and termination rules, over arrays.

    Args:
        map_name: A map of :data:`~trmarl.envs.smacsim.maps.MAPS`.
        n_envs: ``B``.
        **kwargs: SMAC's ``StarCraft2Env`` arguments and SMACSim's extras (see the module docstring).
    """

    def __init__(
        self,
        map_name: str = "8m",
        n_envs: int = 1,
        *,
        step_mul: int = 8,
        move_amount: float = 2,
        continuing_episode: bool = False,
        obs_all_health: bool = True,
        obs_own_health: bool = True,
        obs_last_action: bool = False,
        obs_pathing_grid: bool = False,
        obs_terrain_height: bool = False,
        obs_instead_of_state: bool = False,
        obs_timestep_number: bool = False,
        state_last_action: bool = True,
        state_timestep_number: bool = False,
        reward_sparse: bool = False,
        reward_only_positive: bool = True,
        reward_death_value: float = 10,
        reward_win: float = 200,
        reward_defeat: float = 0,
        reward_negative_scale: float = 0.5,
        reward_scale: bool = True,
        reward_scale_rate: float = 20,
        heuristic_ai: bool = False,
        smac_enemy_type_order: bool = True,
        reward_clip_negative: bool = False,
        unit_ranges: bool = False,
        loops_per_second: float = 22.4,
        enemy_ai: str = "attack_move",
        collision: str = "push",
        spawn_jitter: float = 0.0,
    ) -> None:
        if collision != "push":
            raise NotImplementedError(f"collision={collision!r}: SMACSim implements only 'push' so far")
        self.map = get_map(map_name)
        self.map_name = map_name
        self.n_envs = int(n_envs)
        self.options = BattleOptions(
            step_mul=int(step_mul),
            move_amount=float(move_amount),
            loops_per_second=float(loops_per_second),
            enemy_ai=enemy_ai,
            spawn_jitter=float(spawn_jitter),
            unit_ranges=bool(unit_ranges),
            smac_enemy_type_order=bool(smac_enemy_type_order),
            reward_only_positive=bool(reward_only_positive),
            reward_clip_negative=bool(reward_clip_negative),
            reward_death_value=float(reward_death_value),
            reward_negative_scale=float(reward_negative_scale),
        )
        self.battle = Battle(self.map, self.n_envs, self.options)
        self.n_agents, self.n_enemies = self.battle.n_agents, self.battle.n_enemies
        self.n_actions = self.battle.n_actions
        self.episode_limit = self.map.episode_limit
        self.continuing_episode = bool(continuing_episode)
        self.obs_instead_of_state = bool(obs_instead_of_state)
        self.flags = {
            "obs_all_health": bool(obs_all_health),
            "obs_own_health": bool(obs_own_health) or bool(obs_all_health),
            "obs_last_action": bool(obs_last_action),
            "obs_pathing_grid": bool(obs_pathing_grid),
            "obs_terrain_height": bool(obs_terrain_height),
            "obs_timestep_number": bool(obs_timestep_number),
            "state_last_action": bool(state_last_action),
            "state_timestep_number": bool(state_timestep_number),
        }
        self.reward_sparse = bool(reward_sparse)
        self.reward_win, self.reward_defeat = float(reward_win), float(reward_defeat)
        self.reward_scale, self.reward_scale_rate = bool(reward_scale), float(reward_scale_rate)
        self.heuristic_ai = bool(heuristic_ai)
        self.unit_type_bits = self.map.unit_type_bits
        self.shield_bits_ally = int(self.map.ally_race == "P")
        self.shield_bits_enemy = int(self.map.enemy_race == "P")
        b = self.battle
        enemy = slice(self.n_agents, None)
        self.max_reward = float(
            self.n_enemies * self.options.reward_death_value
            + self.reward_win
            + (b.fst[enemy, 0].sum() + b.fst[enemy, 1].sum())  # hp_max + shield_max
        )
        self.obs = np.zeros((self.n_envs, self.n_agents, self.get_obs_size()), dtype=np.float32)
        self._state = np.zeros((self.n_envs, self._raw_state_size()), dtype=np.float32)
        self.done = np.ones(self.n_envs, dtype=np.bool_)  # needs a reset
        self.battles_won = np.zeros(self.n_envs, dtype=np.int64)
        self.battles_game = np.zeros(self.n_envs, dtype=np.int64)
        self.timeouts = np.zeros(self.n_envs, dtype=np.int64)
        self._heuristic_targets = np.full((self.n_envs, self.n_agents), -1, dtype=np.int64)

    # -- sizes (SMAC's names) --------------------------------------------------------------------------------
    def get_obs_move_feats_size(self) -> int:
        """Movement features: 4 directions (+8 pathing, +9 terrain height)."""
        return 4 + 8 * self.flags["obs_pathing_grid"] + 9 * self.flags["obs_terrain_height"]

    def get_obs_enemy_feats_size(self) -> tuple[int, int]:
        """``(n_enemies, features per enemy)``."""
        nf = 4 + self.unit_type_bits + ((1 + self.shield_bits_enemy) if self.flags["obs_all_health"] else 0)
        return self.n_enemies, nf

    def get_obs_ally_feats_size(self) -> tuple[int, int]:
        """``(n_agents - 1, features per ally)``."""
        nf = 4 + self.unit_type_bits + ((1 + self.shield_bits_ally) if self.flags["obs_all_health"] else 0)
        if self.flags["obs_last_action"]:
            nf += self.n_actions
        return self.n_agents - 1, nf

    def get_obs_own_feats_size(self) -> int:
        """Own features: health (+ shield) if ``obs_own_health``, the type one-hot, (+ timestep)."""
        nf = self.unit_type_bits + ((1 + self.shield_bits_ally) if self.flags["obs_own_health"] else 0)
        return nf + int(self.flags["obs_timestep_number"])

    def get_obs_size(self) -> int:
        """Length of one agent's observation."""
        ne, nfe = self.get_obs_enemy_feats_size()
        na, nfa = self.get_obs_ally_feats_size()
        return self.get_obs_move_feats_size() + ne * nfe + na * nfa + self.get_obs_own_feats_size()

    def _raw_state_size(self) -> int:
        nfa = 4 + self.shield_bits_ally + self.unit_type_bits
        nfe = 3 + self.shield_bits_enemy + self.unit_type_bits
        size = self.n_agents * nfa + self.n_enemies * nfe
        if self.flags["state_last_action"]:
            size += self.n_agents * self.n_actions
        return size + int(self.flags["state_timestep_number"])

    def get_state_size(self) -> int:
        """Length of the global state."""
        if self.obs_instead_of_state:
            return self.get_obs_size() * self.n_agents
        return self._raw_state_size()

    # -- arrays ----------------------------------------------------------------------------------------------
    @property
    def state(self) -> np.ndarray:
        """``(B, state_size)`` float32."""
        if self.obs_instead_of_state:
            return self.obs.reshape(self.n_envs, -1)
        return self._state

    @property
    def avail(self) -> np.ndarray:
        """``(B, n_agents, n_actions)`` int8 availability."""
        return self.battle.avail

    def observe(self, envs: np.ndarray | None = None) -> None:
        """Recompute observations, state and availability of ``envs`` (all when None)."""
        state = None if self.obs_instead_of_state else self._state
        self.battle.observe(self.obs, state, self.flags, self.episode_limit, envs)

    def seed(self, b: int, seed: int | None) -> None:
        """Restart battle ``b``'s random stream."""
        self.battle.seed_env(b, seed)

    def reset(self, envs: np.ndarray | None = None) -> None:
        """Start new episodes in ``envs`` (all when None)."""
        self.battle.reset(envs)
        if envs is None:
            self.done[:] = False
            self._heuristic_targets[:] = -1
        else:
            self.done[envs] = False
            self._heuristic_targets[envs] = -1
        self.observe(envs)

    def check_actions(self, actions: np.ndarray, envs: np.ndarray | None = None) -> np.ndarray:
        """Validate ``(B, n_agents)`` actions against the availability; returns them as int64.

        Raises:
            IllegalActionError: An unavailable (or out-of-range) action, naming the env, agent and what is available.
        """
        acts = np.asarray(actions)
        if acts.shape != (self.n_envs, self.n_agents):
            raise IllegalActionError(f"expected actions of shape {(self.n_envs, self.n_agents)}, got {acts.shape}")
        acts = acts.astype(np.int64, copy=False)
        bad = (acts < 0) | (acts >= self.n_actions)
        ok = np.take_along_axis(self.battle.avail, np.clip(acts, 0, self.n_actions - 1)[..., None], axis=2)[..., 0] == 1
        bad |= ~ok
        if envs is not None:
            bad &= np.asarray(envs, dtype=np.bool_)[:, None]
        if bad.any():
            b, i = (int(v) for v in np.argwhere(bad)[0])
            legal = np.flatnonzero(self.battle.avail[b, i]).tolist()
            alive = bool(self.battle.alive[b, i])
            raise IllegalActionError(
                f"illegal action {int(acts[b, i])} for agent {i} (env {b}, {'alive' if alive else 'dead'}); "
                f"available actions: {legal}" + ("" if alive else " (dead agents may only take the no-op 0)")
            )
        return np.ascontiguousarray(acts)

    def _heuristic_actions(self, actions: np.ndarray) -> np.ndarray:
        """SMAC's ``heuristic_ai``: every living agent attacks (medivac: heals) the nearest target until it dies."""
        b_ = self.battle
        acts = actions.copy()
        for b in range(self.n_envs):
            for i in range(self.n_agents):
                if not b_.alive[b, i]:
                    acts[b, i] = 0
                    continue
                medivac = b_.ist[i, I_MEDIVAC] != 0
                t = self._heuristic_targets[b, i]
                cands = range(self.n_agents) if medivac else range(self.n_agents, b_.n_units)
                if t < 0 or not b_.alive[b, t] or (medivac and b_.hp[b, t] >= b_.fst[t, F_HP]):
                    best, t = np.inf, -1
                    for v in cands:
                        if (
                            v == i
                            or not b_.alive[b, v]
                            or (medivac and (b_.ist[v, I_MEDIVAC] or b_.hp[b, v] >= b_.fst[v, F_HP]))
                        ):
                            continue
                        d = float(np.hypot(*(b_.pos[b, v] - b_.pos[b, i])))
                        if d < best:
                            best, t = d, v
                    self._heuristic_targets[b, i] = t
                if t < 0:
                    acts[b, i] = 1
                else:
                    acts[b, i] = 6 + (t if medivac else t - self.n_agents)
        return acts

    def step(self, actions: np.ndarray, envs: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Step ``envs`` (all when None) with legal ``(B, n_agents)`` actions.

        Returns:
            Arrays ``(B,)``: ``reward`` (scaled as SMAC), ``terminated`` (any end), ``timeout`` (episode limit),
            ``battle_won``, ``dead_allies``, ``dead_enemies``, ``code`` (engine game-end code).
        """
        mask = np.ones(self.n_envs, dtype=np.bool_) if envs is None else np.asarray(envs, dtype=np.bool_)
        if (self.done & mask).any():
            raise RuntimeError("the episode is over: call reset() before step()")
        acts = self.check_actions(actions, mask)
        if self.heuristic_ai:
            acts = self._heuristic_actions(acts)
        battle_reward, code = self.battle.step(acts, mask)
        reward = np.zeros(self.n_envs, dtype=np.float64) if self.reward_sparse else battle_reward.copy()
        ended = (code != CODE_NONE) & mask
        won = ended & (code == CODE_WIN)
        lost = ended & (code == CODE_LOSS)
        if self.reward_sparse:
            reward[won] = 1.0
            reward[lost] = -1.0
        else:
            reward[won] += self.reward_win
            reward[lost] += self.reward_defeat
        timeout = mask & ~ended & (self.battle.episode_steps >= self.episode_limit)
        terminated = ended | timeout
        self.battles_game += terminated
        self.battles_won += won
        self.timeouts += timeout
        self.done |= terminated
        if self.reward_scale:
            reward /= self.max_reward / self.reward_scale_rate
        self.observe(mask)
        alive = self.battle.alive
        return {
            "reward": reward,
            "terminated": terminated,
            "timeout": timeout,
            "battle_won": won,
            "dead_allies": self.n_agents - alive[:, : self.n_agents].sum(axis=1),
            "dead_enemies": self.n_enemies - alive[:, self.n_agents :].sum(axis=1),
            "code": code.copy(),
            "draw": ended & (code == CODE_DRAW),
        }


def _num(v: Any) -> float:
    return float(v)


class StarCraft2Env:
    """SMAC's ``StarCraft2Env`` (same constructor arguments, methods and return types), simulated by SMACSim.

    Args:
        map_name: One of the 23 SMAC maps (``"3m"``, ``"8m"``, ``"2s3z"``, ``"MMM2"``, ...) or a registered map.
        seed: Seeds the random stream (weapon-cooldown jitter, unit update order, spawn jitter).
        **kwargs: SMAC's ``StarCraft2Env`` arguments (see :class:`SMACCore`); ``difficulty``, ``game_version``,
            ``window_size_*``, ``replay_prefix``, ``heuristic_rest`` and ``debug`` are accepted and ignored.
        render_mode: ``"rgb_array"`` or ``"human"`` (default for :meth:`render`).
    """

    def __init__(
        self,
        map_name: str = "8m",
        step_mul: int = 8,
        move_amount: float = 2,
        difficulty: str = "7",
        game_version: str | None = None,
        seed: int | None = None,
        continuing_episode: bool = False,
        obs_all_health: bool = True,
        obs_own_health: bool = True,
        obs_last_action: bool = False,
        obs_pathing_grid: bool = False,
        obs_terrain_height: bool = False,
        obs_instead_of_state: bool = False,
        obs_timestep_number: bool = False,
        state_last_action: bool = True,
        state_timestep_number: bool = False,
        reward_sparse: bool = False,
        reward_only_positive: bool = True,
        reward_death_value: float = 10,
        reward_win: float = 200,
        reward_defeat: float = 0,
        reward_negative_scale: float = 0.5,
        reward_scale: bool = True,
        reward_scale_rate: float = 20,
        replay_dir: str = "",
        replay_prefix: str = "",
        window_size_x: int = 1920,
        window_size_y: int = 1200,
        heuristic_ai: bool = False,
        heuristic_rest: bool = False,
        debug: bool = False,
        *,
        smac_enemy_type_order: bool = True,
        reward_clip_negative: bool = False,
        unit_ranges: bool = False,
        loops_per_second: float = 22.4,
        enemy_ai: str = "attack_move",
        collision: str = "push",
        spawn_jitter: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        self.core = SMACCore(
            map_name,
            1,
            step_mul=step_mul,
            move_amount=move_amount,
            continuing_episode=continuing_episode,
            obs_all_health=obs_all_health,
            obs_own_health=obs_own_health,
            obs_last_action=obs_last_action,
            obs_pathing_grid=obs_pathing_grid,
            obs_terrain_height=obs_terrain_height,
            obs_instead_of_state=obs_instead_of_state,
            obs_timestep_number=obs_timestep_number,
            state_last_action=state_last_action,
            state_timestep_number=state_timestep_number,
            reward_sparse=reward_sparse,
            reward_only_positive=reward_only_positive,
            reward_death_value=reward_death_value,
            reward_win=reward_win,
            reward_defeat=reward_defeat,
            reward_negative_scale=reward_negative_scale,
            reward_scale=reward_scale,
            reward_scale_rate=reward_scale_rate,
            heuristic_ai=heuristic_ai,
            smac_enemy_type_order=smac_enemy_type_order,
            reward_clip_negative=reward_clip_negative,
            unit_ranges=unit_ranges,
            loops_per_second=loops_per_second,
            enemy_ai=enemy_ai,
            collision=collision,
            spawn_jitter=spawn_jitter,
        )
        c = self.core
        self.map_name = map_name
        self.map_type = c.map.map_type
        self.n_agents, self.n_enemies = c.n_agents, c.n_enemies
        self.n_actions = c.n_actions
        self.n_actions_no_attack = 6
        self.n_actions_move = 4
        self.episode_limit = c.episode_limit
        self.max_reward = c.max_reward
        self.unit_type_bits = c.unit_type_bits
        self.shield_bits_ally, self.shield_bits_enemy = c.shield_bits_ally, c.shield_bits_enemy
        self.continuing_episode = c.continuing_episode
        self.reward_sparse = c.reward_sparse
        self.obs_instead_of_state = c.obs_instead_of_state
        self._move_amount = float(move_amount)
        self._step_mul = int(step_mul)
        self.replay_dir = replay_dir
        self.replay_prefix = replay_prefix
        self.render_mode = render_mode
        self.debug = debug
        self._seed = seed
        self._episode_count = 0
        self._episode_steps = 0
        self._total_steps = 0
        self.last_action = np.zeros((self.n_agents, self.n_actions), dtype=np.float32)
        self._frames: list[dict[str, np.ndarray]] = []
        self._last_attacks: np.ndarray | None = None
        c.seed(0, seed)
        c.reset()

    # -- core MultiAgentEnv methods ------------------------------------------------------------------------------
    def reset(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Start an episode; returns ``(get_obs(), get_state())``."""
        self.core.reset()
        self._episode_steps = 0
        self.last_action[:] = 0.0
        self._frames = []
        if self.replay_dir:
            self._record()
        return self.get_obs(), self.get_state()

    def step(self, actions: Any) -> tuple[float, bool, dict[str, Any]]:
        """One agent step (``step_mul`` game loops).

        Args:
            actions: One int per agent (list, tuple, numpy or torch vector).

        Returns:
            ``(reward, terminated, info)`` with ``info = {"battle_won", "dead_allies", "dead_enemies"}``
            (plus ``"episode_limit": True`` on a timeout when ``continuing_episode``).

        Raises:
            IllegalActionError: An action that is not available.
        """
        acts = np.asarray([int(a) for a in actions], dtype=np.int64).reshape(1, self.n_agents)
        out = self.core.step(acts)
        self.last_action[:] = 0.0
        self.last_action[np.arange(self.n_agents), acts[0]] = 1.0
        self._total_steps += 1
        self._episode_steps += 1
        terminated = bool(out["terminated"][0])
        info: dict[str, Any] = {
            "battle_won": bool(out["battle_won"][0]),
            "dead_allies": int(out["dead_allies"][0]),
            "dead_enemies": int(out["dead_enemies"][0]),
        }
        if out["timeout"][0] and self.core.continuing_episode:
            info["episode_limit"] = True
        if terminated:
            self._episode_count += 1
        if self.replay_dir:
            self._record()
        return float(out["reward"][0]), terminated, info

    def get_obs(self) -> list[np.ndarray]:
        """One float32 observation per agent (zeros for dead agents)."""
        return [o.copy() for o in self.core.obs[0]]

    def get_obs_agent(self, agent_id: int) -> np.ndarray:
        """Agent ``agent_id``'s float32 observation."""
        return self.core.obs[0, agent_id].copy()

    def get_obs_array(self) -> np.ndarray:
        """Fast variant: all observations as one ``(n_agents, obs_size)`` float32 array (a copy)."""
        return self.core.obs[0].copy()

    def get_state(self) -> np.ndarray:
        """The global state, float32 ``(state_size,)``."""
        return self.core.state[0].copy()

    def get_state_dict(self) -> dict[str, np.ndarray]:
        """The state split into ``allies``, ``enemies`` (+ ``last_action``, ``timestep`` where enabled)."""
        c = self.core
        raw = c._state[0] if not c.obs_instead_of_state else None
        if raw is None:
            tmp = np.zeros((1, c._raw_state_size()), dtype=np.float32)
            obs = np.zeros_like(c.obs)
            c.battle.observe(obs, tmp, c.flags, c.episode_limit)
            raw = tmp[0]
        nfa = 4 + c.shield_bits_ally + c.unit_type_bits
        nfe = 3 + c.shield_bits_enemy + c.unit_type_bits
        k = self.n_agents * nfa
        out = {"allies": raw[:k].reshape(self.n_agents, nfa).copy()}
        out["enemies"] = raw[k : k + self.n_enemies * nfe].reshape(self.n_enemies, nfe).copy()
        k += self.n_enemies * nfe
        if c.flags["state_last_action"]:
            out["last_action"] = raw[k : k + self.n_agents * self.n_actions].reshape(self.n_agents, self.n_actions).copy()
            k += self.n_agents * self.n_actions
        if c.flags["state_timestep_number"]:
            out["timestep"] = raw[k : k + 1].copy()
        return out

    def get_avail_agent_actions(self, agent_id: int) -> list[int]:
        """0/1 availability of each action for ``agent_id``."""
        return [int(v) for v in self.core.avail[0, agent_id]]

    def get_avail_actions(self) -> list[list[int]]:
        """Availability lists of all agents."""
        return [[int(v) for v in row] for row in self.core.avail[0]]

    def get_avail_actions_array(self) -> np.ndarray:
        """Fast variant: ``(n_agents, n_actions)`` int8 availability (a copy)."""
        return self.core.avail[0].copy()

    # -- sizes and info --------------------------------------------------------------------------------------
    def get_obs_size(self) -> int:
        """Length of one agent's observation."""
        return self.core.get_obs_size()

    def get_state_size(self) -> int:
        """Length of the state."""
        return self.core.get_state_size()

    def get_total_actions(self) -> int:
        """``n_actions`` = 6 + n_enemies."""
        return self.n_actions

    def get_obs_enemy_feats_size(self) -> tuple[int, int]:
        """``(n_enemies, features per enemy)``."""
        return self.core.get_obs_enemy_feats_size()

    def get_obs_ally_feats_size(self) -> tuple[int, int]:
        """``(n_agents - 1, features per ally)``."""
        return self.core.get_obs_ally_feats_size()

    def get_obs_own_feats_size(self) -> int:
        """Own features."""
        return self.core.get_obs_own_feats_size()

    def get_obs_move_feats_size(self) -> int:
        """Movement features."""
        return self.core.get_obs_move_feats_size()

    def get_ally_num_attributes(self) -> int:
        """Features of one ally row of the state."""
        return 4 + self.shield_bits_ally + self.unit_type_bits

    def get_enemy_num_attributes(self) -> int:
        """Features of one enemy row of the state."""
        return 3 + self.shield_bits_enemy + self.unit_type_bits

    def _type_names(self, n: int) -> list[str]:
        return [f"type_{i}" for i in range(n)]

    def get_env_info(self) -> dict[str, Any]:
        """``{"state_shape", "obs_shape", "n_actions", "n_agents", "episode_limit", "agent_features", "enemy_features"}``."""
        utb = self.unit_type_bits
        agent_features = ["health", "energy/cooldown", "rel_x", "rel_y"]
        if self.shield_bits_ally:
            agent_features.append("shield")
        enemy_features = ["health", "rel_x", "rel_y"]
        if self.shield_bits_enemy:
            enemy_features.append("shield")
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "n_actions": self.get_total_actions(),
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
            "agent_features": agent_features + self._type_names(utb),
            "enemy_features": enemy_features + self._type_names(utb),
        }

    def get_stats(self) -> dict[str, Any]:
        """``{"battles_won", "battles_game", "battles_draw", "win_rate", "timeouts", "restarts"}``."""
        c = self.core
        won, game, timeouts = int(c.battles_won[0]), int(c.battles_game[0]), int(c.timeouts[0])
        return {
            "battles_won": won,
            "battles_game": game,
            "battles_draw": timeouts,
            "win_rate": won / game if game else 0.0,
            "timeouts": timeouts,
            "restarts": 0,
        }

    def get_visibility_matrix(self) -> np.ndarray:
        """Bool ``(n_agents, n_agents + n_enemies)``: who each living agent sees (sight 9, or per unit)."""
        b = self.core.battle
        na = self.n_agents
        pos, alive = b.pos[0], b.alive[0]
        d = np.linalg.norm(pos[:na, None, :] - pos[None, :, :], axis=-1)
        sight = b.fst[:na, F_OBS_SIGHT][:, None]
        vis = (d < sight) & alive[None, :] & alive[:na, None]
        vis[np.arange(na), np.arange(na)] = False
        return vis

    def get_unit_by_id(self, a_id: int) -> UnitView:
        """A snapshot of agent ``a_id``."""
        return self._unit_view(a_id)

    def get_enemy_by_id(self, e_id: int) -> UnitView:
        """A snapshot of enemy ``e_id``."""
        return self._unit_view(self.n_agents + e_id)

    def _unit_view(self, u: int) -> UnitView:
        b = self.core.battle
        return UnitView(
            unit_type=b.unit_names[u],
            health=_num(b.hp[0, u]),
            health_max=_num(b.fst[u, 0]),
            shield=_num(b.shield[0, u]),
            shield_max=_num(b.fst[u, 1]),
            energy=_num(b.energy[0, u]),
            weapon_cooldown=_num(b.cooldown[0, u]),
            x=_num(b.pos[0, u, 0]),
            y=_num(b.pos[0, u, 1]),
            alive=bool(b.alive[0, u]),
        )

    def get_unit_types(self) -> list[str]:
        """Unit type names of the agents, in agent order."""
        return list(self.core.battle.unit_names[: self.n_agents])

    @property
    def agents(self) -> dict[int, UnitView]:
        """SMAC-style ``{agent_id: unit}`` snapshots."""
        return {i: self._unit_view(i) for i in range(self.n_agents)}

    @property
    def enemies(self) -> dict[int, UnitView]:
        """SMAC-style ``{enemy_id: unit}`` snapshots."""
        return {e: self._unit_view(self.n_agents + e) for e in range(self.n_enemies)}

    # -- misc --------------------------------------------------------------------------------------------------
    def seed(self, seed: int | None = None) -> int | None:
        """Return the seed (as SMAC); ``seed(n)`` also restarts the random stream from ``n`` (the next reset continues it)."""
        if seed is not None:
            self._seed = seed
            self.core.seed(0, seed)
        return self._seed

    def render(self, mode: str | None = None) -> np.ndarray | None:
        """Draw the battle: ``"rgb_array"`` returns an ``(H, W, 3)`` uint8 image; ``"human"`` shows it with matplotlib."""
        from trmarl.envs.smacsim.render import render_battle

        mode = mode or self.render_mode or "human"
        frame = render_battle(self.core.battle, 0)
        if mode == "rgb_array":
            return frame
        if mode == "human":  # pragma: no cover - needs a display
            import matplotlib.pyplot as plt

            plt.imshow(frame)
            plt.axis("off")
            plt.pause(0.001)
            return None
        raise ValueError(f"render mode must be 'rgb_array' or 'human', got {mode!r}")

    def close(self) -> None:
        """Nothing to release (no StarCraft II process)."""

    def full_restart(self) -> None:
        """No-op (SMAC restarts StarCraft II here)."""

    def _record(self) -> None:
        b = self.core.battle
        self._frames.append(
            {"pos": b.pos[0].copy(), "health": b.hp[0].copy(), "shield": b.shield[0].copy(), "alive": b.alive[0].copy()}
        )

    def save_replay(self) -> str:
        """Save the current episode's unit trajectories (SMACSim's own ``.npz`` format) to ``replay_dir``; returns the path.

        Frames are recorded only when ``replay_dir`` was given.
        """
        directory = self.replay_dir or "."
        os.makedirs(directory, exist_ok=True)
        prefix = self.replay_prefix or self.map_name
        path = os.path.join(directory, f"{prefix}_{time.strftime('%Y-%m-%d-%H-%M-%S')}_{self._episode_count}.npz")
        frames = self._frames or [{}]
        payload: dict[str, Any] = {k: np.stack([f[k] for f in frames]) for k in frames[0]}
        payload["unit_types"] = np.array(self.core.battle.unit_names)
        payload["n_agents"] = np.array(self.n_agents)
        np.savez_compressed(path, **payload)
        return path
