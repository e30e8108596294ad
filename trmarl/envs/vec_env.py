"""Multi-agent vectorized environments with fixed-shape numpy arrays.

A :class:`MultiAgentVecEnv` steps ``E`` copies of a PettingZoo ``ParallelEnv`` with ``N`` agents and speaks in arrays:

=================  ==========================  ==========================================================
field              shape                       notes
=================  ==========================  ==========================================================
``obs``            ``(E, N, D)`` float32       zero-padded to the widest agent; ``obs_dims`` gives true dims
``state``          ``(E, S)`` float32          the env's ``state()``, for centralized critics
``action_mask``    ``(E, N, A)`` bool or None  discrete envs only (all True where the env gives no mask)
``active``         ``(E, N)`` bool             False for agents the env reports dead (``info["active"]``)
actions in         ``(E, N, A_dim)`` float     continuous; padded to the widest action, extra dims ignored
                   or ``(E, N)`` int           discrete
``reward``         ``(E,)`` float32            team reward (mean over agents; trmarl's envs give every agent it)
``terminated``     ``(E,)`` bool               the task ended (do not bootstrap)
``truncated``      ``(E,)`` bool               a time limit (bootstrap from ``final_obs``/``final_state``)
``infos``          list of ``E`` dicts         when an episode ends: ``final_obs``, ``final_state``,
                                               ``final_action_mask``, ``final_active`` and ``episode``
                                               (``r`` return, ``l`` length, ``t`` seconds, ``win`` if known)
=================  ==========================  ==========================================================

Envs reset themselves in the step that ends an episode (same-step autoreset, as in SB3), so the returned arrays
always hold the first observation of the next episode where an episode ended.

Backends: ``"sync"`` (one process), ``"subprocess"`` (worker processes writing into shared memory), and ``"native"``
for environments that step a whole batch at once (SMACSim), chosen by ``backend="auto"``.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

__all__ = [
    "EnvFactory",
    "MultiAgentVecEnv",
    "SubprocMultiAgentVecEnv",
    "SyncMultiAgentVecEnv",
    "VecObs",
    "VecStep",
    "make_vec_env",
]

EnvFactory = Callable[[], Any]


class VecObs(NamedTuple):
    """What the agents see after ``reset``/``step``."""

    obs: np.ndarray  # (E, N, D) float32
    state: np.ndarray  # (E, S) float32
    action_mask: np.ndarray | None  # (E, N, A) bool, discrete envs only
    active: np.ndarray  # (E, N) bool


class VecStep(NamedTuple):
    """The result of :meth:`MultiAgentVecEnv.step`."""

    obs: VecObs
    reward: np.ndarray  # (E,) float32
    terminated: np.ndarray  # (E,) bool
    truncated: np.ndarray  # (E,) bool
    infos: list[dict[str, Any]]


# --------------------------------------------------------------------------------------------------------------
# Describing one env: spaces -> array layout
# --------------------------------------------------------------------------------------------------------------


def _inner_obs_space(space: gym.Space) -> tuple[gym.Space, bool]:
    """The observation Box of an agent, and whether the env packs it in ``{"observation", "action_mask"}``."""
    if isinstance(space, gym.spaces.Dict) and "observation" in space.spaces:
        return space.spaces["observation"], "action_mask" in space.spaces
    return space, False


def _flat_dim(space: gym.Space) -> int:
    dim = gym.spaces.flatdim(space)
    return int(dim)


class EnvLayout:
    """Array layout of one env's agents, read from its spaces (shared by every backend)."""

    def __init__(self, env: Any) -> None:
        self.agents: list[str] = list(env.possible_agents)
        if not self.agents:
            raise ValueError("the environment has no possible_agents")
        self.n_agents = len(self.agents)
        obs_spaces = [env.observation_space(a) for a in self.agents]
        inner = [_inner_obs_space(s) for s in obs_spaces]
        self.observation_spaces: list[gym.Space] = [s for s, _ in inner]
        self.packed_mask = [m for _, m in inner]
        self.packed_obs = [isinstance(s, gym.spaces.Dict) and "observation" in s.spaces for s in obs_spaces]
        self.obs_dims = np.array([_flat_dim(s) for s in self.observation_spaces], dtype=np.int64)
        self.flat_obs = [isinstance(s, gym.spaces.Box) and len(s.shape) == 1 for s in self.observation_spaces]
        self.obs_dim = int(self.obs_dims.max())
        state_space = getattr(env, "state_space", None)
        if state_space is None:
            raise ValueError(
                f"{type(env).__name__} has no state_space: trmarl's vectorized envs need state() and state_space for the "
                "centralized critic (wrap the env or use trmarl.make, whose envs all provide them)"
            )
        self.state_space: gym.spaces.Box = state_space
        self.state_dim = _flat_dim(state_space)
        self.action_spaces: list[gym.Space] = [env.action_space(a) for a in self.agents]
        kinds = {type(s) for s in self.action_spaces}
        if kinds <= {gym.spaces.Discrete}:
            self.discrete = True
            self.n_actions_per_agent = np.array([int(s.n) for s in self.action_spaces], dtype=np.int64)  # type: ignore[attr-defined]
            self.n_actions = int(self.n_actions_per_agent.max())
            self.act_dims = np.ones(self.n_agents, dtype=np.int64)
            self.act_dim = 1
        elif kinds <= {gym.spaces.Box}:
            self.discrete = False
            self.n_actions_per_agent = np.zeros(self.n_agents, dtype=np.int64)
            self.n_actions = 0
            self.act_dims = np.array([int(np.prod(s.shape)) for s in self.action_spaces], dtype=np.int64)  # type: ignore[arg-type]
            self.act_dim = int(self.act_dims.max())
        else:
            names = sorted(k.__name__ for k in kinds)
            raise ValueError(f"unsupported action spaces {names}: trmarl supports all-Discrete or all-Box agents")
        #: The mask of an agent whose env gives none: its own actions legal, the padding beyond them not.
        self.default_mask = np.zeros((self.n_agents, max(self.n_actions, 1)), dtype=bool)
        for n, k in enumerate(self.n_actions_per_agent):
            self.default_mask[n, :k] = True


# --------------------------------------------------------------------------------------------------------------
# The interface
# --------------------------------------------------------------------------------------------------------------


class MultiAgentVecEnv(ABC):
    """``E`` copies of a multi-agent env behind fixed-shape arrays (see the module docstring for the contract).

    Attributes:
        num_envs: ``E``.
        agents: Agent names (``possible_agents``), in the order of axis ``N``.
        n_agents: ``N``.
        obs_dims: ``(N,)`` true observation sizes; ``obs_dim`` = ``D`` = their max.
        state_dim: ``S``.
        observation_spaces / action_spaces: Per-agent gymnasium spaces (the observation Box, unpacked from a Dict).
        state_space: The Box of ``state()``.
        discrete: Whether actions are ``Discrete``; then ``n_actions`` = ``A`` (max over agents) and
            ``n_actions_per_agent``; otherwise ``act_dims`` and ``act_dim``.
        env_id / env_kwargs: How the envs were made, when made from a registered id (stored in checkpoints).
    """

    num_envs: int
    agents: list[str]
    n_agents: int
    obs_dims: np.ndarray
    obs_dim: int
    state_dim: int
    observation_spaces: list[gym.Space]
    action_spaces: list[gym.Space]
    state_space: gym.spaces.Box
    discrete: bool
    n_actions: int
    n_actions_per_agent: np.ndarray
    act_dims: np.ndarray
    act_dim: int
    env_id: str | None = None
    env_kwargs: dict[str, Any]
    render_mode: str | None = None
    closed: bool = False

    def _set_layout(self, layout: EnvLayout) -> None:
        for name in (
            "agents", "n_agents", "obs_dims", "obs_dim", "state_dim", "observation_spaces", "action_spaces", "state_space",
            "discrete", "n_actions", "n_actions_per_agent", "act_dims", "act_dim",
        ):  # fmt: skip
            setattr(self, name, getattr(layout, name))

    @abstractmethod
    def reset(self, seed: int | Sequence[int | None] | None = None) -> tuple[VecObs, list[dict[str, Any]]]:
        """Reset every env. ``seed`` (an int) seeds env ``i`` with ``seed + i``; a sequence gives one seed per env."""

    @abstractmethod
    def step(self, actions: np.ndarray) -> VecStep:
        """Step every env with ``actions`` of shape ``(E, N, act_dim)`` (continuous) or ``(E, N)`` (discrete)."""

    @abstractmethod
    def close(self) -> None:
        """Release the envs (and worker processes)."""

    @abstractmethod
    def get_attr(self, name: str, indices: Sequence[int] | None = None) -> list[Any]:
        """Read attribute ``name`` of each env (all, or those at ``indices``)."""

    @abstractmethod
    def env_method(self, name: str, *args: Any, indices: Sequence[int] | None = None, **kwargs: Any) -> list[Any]:
        """Call method ``name`` on each env (all, or those at ``indices``) and return the results."""

    def seed(self, seed: int | None = None) -> list[int | None]:
        """Set the seeds used by the next :meth:`reset` (SB3 semantics): env ``i`` gets ``seed + i``."""
        self._pending_seeds: list[int | None] = [None if seed is None else seed + i for i in range(self.num_envs)]
        return list(self._pending_seeds)

    def render(self) -> Any:
        """Render env 0 (``render_mode`` is set when the env is made)."""
        return self.env_method("render", indices=[0])[0]

    # -- helpers shared by the backends --------------------------------------------------------------------------
    def _seeds_for_reset(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            pending = getattr(self, "_pending_seeds", None)
            self._pending_seeds = [None] * self.num_envs
            return list(pending) if pending is not None else [None] * self.num_envs
        if isinstance(seed, (int, np.integer)):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset got {len(seeds)} seeds for {self.num_envs} envs")
        return [None if s is None else int(s) for s in seeds]

    def check_actions(self, actions: Any) -> np.ndarray:
        """Validate ``actions`` against the layout and return them as a contiguous array.

        Raises:
            ValueError: Wrong shape or dtype, a non-finite value, or an out-of-range discrete action.
        """
        arr = np.asarray(actions)
        E, N = self.num_envs, self.n_agents
        if self.discrete:
            if arr.shape == (E, N, 1):
                arr = arr[..., 0]
            if arr.shape != (E, N):
                raise ValueError(f"discrete actions must have shape (n_envs, n_agents) = {(E, N)}, got {arr.shape}")
            if not np.issubdtype(arr.dtype, np.integer):
                if np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0):
                    arr = arr.astype(np.int64)
                else:
                    raise ValueError(f"discrete actions must be integers, got dtype {arr.dtype}")
            bad = (arr < 0) | (arr >= self.n_actions_per_agent[None, :])
            if bad.any():
                e, n = np.argwhere(bad)[0]
                raise ValueError(
                    f"action {int(arr[e, n])} of agent {self.agents[n]!r} in env {e} is out of range "
                    f"[0, {int(self.n_actions_per_agent[n]) - 1}]"
                )
            return np.ascontiguousarray(arr, dtype=np.int64)
        if arr.ndim == 2 and self.act_dim == 1 and arr.shape == (E, N):
            arr = arr[..., None]
        if arr.shape != (E, N, self.act_dim):
            raise ValueError(
                f"continuous actions must have shape (n_envs, n_agents, act_dim) = {(E, N, self.act_dim)}, got {arr.shape}"
            )
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"continuous actions must be floats, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("continuous actions contain NaN or inf")
        return np.ascontiguousarray(arr, dtype=np.float32)

    def __enter__(self) -> MultiAgentVecEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self.closed:
                self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        kind = f"Discrete({self.n_actions})" if self.discrete else f"Box({self.act_dim})"
        return (
            f"{type(self).__name__}(env_id={self.env_id!r}, num_envs={self.num_envs}, n_agents={self.n_agents}, "
            f"obs_dim={self.obs_dim}, state_dim={self.state_dim}, actions={kind})"
        )


# --------------------------------------------------------------------------------------------------------------
# Stepping a slice of envs in this process (used by both the sync backend and each subprocess worker)
# --------------------------------------------------------------------------------------------------------------


class _EnvSlice:
    """Steps ``len(envs)`` envs sequentially, writing into caller-owned arrays (views of shared memory in workers)."""

    def __init__(self, envs: list[Any], layout: EnvLayout, buffers: dict[str, np.ndarray]) -> None:
        self.envs = envs
        self.layout = layout
        self.buf = buffers
        n = len(envs)
        self.ep_return = np.zeros(n, dtype=np.float64)
        self.ep_length = np.zeros(n, dtype=np.int64)
        self.ep_start = np.full(n, time.perf_counter())
        #: Envs offering ``step_arrays``/``reset_arrays`` (MaMuJoCo's verified fast path) skip the per-agent dicts.
        self.array_api = all(getattr(env, "supports_array_api", False) for env in envs) and not layout.discrete

    # writing one env's observation (hot path: the padding beyond each agent's dim is never written, so stays 0)
    def _write(self, k: int, obs: dict[str, Any], infos: dict[str, Any], env: Any) -> None:
        lay = self.layout
        o = self.buf["obs"][k]
        mask = self.buf.get("action_mask")
        active = self.buf["active"][k]
        for n, agent in enumerate(lay.agents):
            ob = obs.get(agent)
            if ob is None:
                o[n] = 0.0
                active[n] = False
                if mask is not None:
                    mask[k, n] = True
                continue
            if lay.packed_obs[n]:
                raw = ob["observation"]
                if mask is not None:
                    if lay.packed_mask[n]:
                        m = np.asarray(ob["action_mask"]).ravel()
                        mask[k, n, : m.shape[0]] = m
                        mask[k, n, m.shape[0] :] = False
                    else:
                        mask[k, n] = lay.default_mask[n]
            else:
                raw = ob
                if mask is not None:
                    mask[k, n] = lay.default_mask[n]
            dim = lay.obs_dims[n]
            if lay.flat_obs[n]:
                o[n, :dim] = raw
            else:
                o[n, :dim] = np.asarray(raw, dtype=np.float32).ravel()
            info = infos.get(agent) if infos else None
            active[n] = bool(info.get("active", True)) if info else True
        self.buf["state"][k] = np.asarray(env.state(), dtype=np.float32).reshape(-1)

    def _reset_one(self, k: int, seed: int | None) -> None:
        env = self.envs[k]
        if self.array_api:
            env.reset_arrays(seed, self.buf["obs"][k], self.buf["state"][k])
            self.buf["active"][k] = True
        else:
            obs, infos = env.reset(seed=seed)
            self._write(k, obs, infos, env)
        self.ep_return[k] = 0.0
        self.ep_length[k] = 0
        self.ep_start[k] = time.perf_counter()

    def reset(self, seeds: Sequence[int | None]) -> list[dict[str, Any]]:
        for k, (env, seed) in enumerate(zip(self.envs, seeds)):
            if seed is not None:
                for n, agent in enumerate(self.layout.agents):
                    env.action_space(agent).seed(seed + 7919 * (n + 1))
            self._reset_one(k, seed)
        return [{} for _ in self.envs]

    def _step_dicts(self, k: int, actions: np.ndarray) -> tuple[float, bool, bool, Any, bool | None]:
        """One PettingZoo ``step`` of env ``k``: ``(team reward, terminated, truncated, agent infos, win)``."""
        lay, env = self.layout, self.envs[k]
        live = env.agents
        act: dict[str, Any]
        if lay.discrete:
            act = {a: int(actions[k, n]) for n, a in enumerate(lay.agents) if a in live}
        else:
            act = {a: actions[k, n, : lay.act_dims[n]] for n, a in enumerate(lay.agents) if a in live}
        obs, rewards, terms, truncs, infos = env.step(act)
        r = float(sum(rewards.values())) / len(rewards) if rewards else 0.0
        done_agents = [a for a in lay.agents if a in terms or a in truncs]
        all_done = (not env.agents) or (
            bool(done_agents) and all(bool(terms.get(a, False)) or bool(truncs.get(a, False)) for a in done_agents)
        )
        terminated = all_done and any(bool(terms.get(a, False)) for a in done_agents)
        self._write(k, obs, infos, env)
        return r, terminated, all_done and not terminated, infos, _find_win(infos) if all_done else None

    def _step_arrays(self, k: int, actions: np.ndarray) -> tuple[float, bool, bool, Any, bool | None]:
        """The same through the env's array protocol (``step_arrays``: no dicts)."""
        r, terminated, truncated, info = self.envs[k].step_arrays(actions[k], self.buf["obs"][k], self.buf["state"][k])
        truncated = truncated and not terminated  # as in the dict path: an episode that ends both ways terminated
        win = None
        if terminated or truncated:
            win = next((bool(info[key]) for key in ("battle_won", "win", "won") if key in info), None)
        return r, terminated, truncated, info, win

    def step(self, actions: np.ndarray) -> list[dict[str, Any]]:
        step_one = self._step_arrays if self.array_api else self._step_dicts
        infos_out: list[dict[str, Any]] = []
        for k in range(len(self.envs)):
            r, terminated, truncated, env_infos, win = step_one(k, actions)
            self.ep_return[k] += r
            self.ep_length[k] += 1
            self.buf["reward"][k] = r
            self.buf["terminated"][k] = terminated
            self.buf["truncated"][k] = truncated
            info: dict[str, Any] = {}
            if terminated or truncated:
                info["final_obs"] = self.buf["obs"][k].copy()
                info["final_state"] = self.buf["state"][k].copy()
                info["final_active"] = self.buf["active"][k].copy()
                if "action_mask" in self.buf:
                    info["final_action_mask"] = self.buf["action_mask"][k].copy()
                episode: dict[str, Any] = {
                    "r": float(self.ep_return[k]),
                    "l": int(self.ep_length[k]),
                    "t": round(time.perf_counter() - self.ep_start[k], 6),
                }
                if win is not None:
                    episode["win"] = win
                info["episode"] = episode
                info["agent_infos"] = env_infos
                self._reset_one(k, None)
            infos_out.append(info)
        return infos_out


def _find_win(infos: Any) -> bool | None:
    if not isinstance(infos, dict):
        return None
    for value in infos.values():
        if isinstance(value, dict):
            for key in ("battle_won", "win", "won"):
                if key in value:
                    return bool(value[key])
    return None


def _allocate(layout: EnvLayout, n_envs: int, alloc: Callable[[tuple[int, ...], Any], np.ndarray]) -> dict[str, np.ndarray]:
    bufs = {
        "obs": alloc((n_envs, layout.n_agents, layout.obs_dim), np.float32),
        "state": alloc((n_envs, layout.state_dim), np.float32),
        "active": alloc((n_envs, layout.n_agents), np.bool_),
        "reward": alloc((n_envs,), np.float32),
        "terminated": alloc((n_envs,), np.bool_),
        "truncated": alloc((n_envs,), np.bool_),
    }
    if layout.discrete:
        bufs["action_mask"] = alloc((n_envs, layout.n_agents, layout.n_actions), np.bool_)
        bufs["actions"] = alloc((n_envs, layout.n_agents), np.int64)
    else:
        bufs["actions"] = alloc((n_envs, layout.n_agents, layout.act_dim), np.float32)
    return bufs


def _zeros(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


class _ObsMixin:
    buf: dict[str, np.ndarray]

    def _vec_obs(self) -> VecObs:
        mask = self.buf.get("action_mask")
        return VecObs(
            self.buf["obs"].copy(),
            self.buf["state"].copy(),
            None if mask is None else mask.copy(),
            self.buf["active"].copy(),
        )


# --------------------------------------------------------------------------------------------------------------
# Sync backend
# --------------------------------------------------------------------------------------------------------------


class SyncMultiAgentVecEnv(_ObsMixin, MultiAgentVecEnv):
    """Steps every env in this process, one after another."""

    def __init__(self, env_fns: Sequence[EnvFactory]) -> None:
        if len(env_fns) == 0:
            raise ValueError("n_envs must be at least 1")
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        layout = EnvLayout(self.envs[0])
        self._set_layout(layout)
        self.env_kwargs = {}
        self.render_mode = getattr(self.envs[0], "render_mode", None)
        self.buf = _allocate(layout, self.num_envs, _zeros)
        self._slice = _EnvSlice(self.envs, layout, self.buf)

    def reset(self, seed: int | Sequence[int | None] | None = None) -> tuple[VecObs, list[dict[str, Any]]]:
        infos = self._slice.reset(self._seeds_for_reset(seed))
        return self._vec_obs(), infos

    def step(self, actions: np.ndarray) -> VecStep:
        acts = self.check_actions(actions)
        infos = self._slice.step(acts)
        return VecStep(
            self._vec_obs(), self.buf["reward"].copy(), self.buf["terminated"].copy(), self.buf["truncated"].copy(), infos
        )

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for env in getattr(self, "envs", []):
            with contextlib.suppress(Exception):
                env.close()

    def get_attr(self, name: str, indices: Sequence[int] | None = None) -> list[Any]:
        idx = range(self.num_envs) if indices is None else indices
        return [getattr(self.envs[i], name) for i in idx]

    def env_method(self, name: str, *args: Any, indices: Sequence[int] | None = None, **kwargs: Any) -> list[Any]:
        idx = range(self.num_envs) if indices is None else indices
        return [getattr(self.envs[i], name)(*args, **kwargs) for i in idx]


# --------------------------------------------------------------------------------------------------------------
# Subprocess backend (shared memory)
# --------------------------------------------------------------------------------------------------------------


class _CloudpickleWrapper:
    """Lets lambdas and closures travel to ``spawn``/``forkserver`` workers (this is IPC, never a file format)."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __getstate__(self) -> bytes:
        import cloudpickle

        return cloudpickle.dumps(self.obj)

    def __setstate__(self, data: bytes) -> None:
        import pickle

        self.obj = pickle.loads(data)


def _shared_views(raw: dict[str, Any], shapes: dict[str, tuple[tuple[int, ...], str]]) -> dict[str, np.ndarray]:
    return {k: np.frombuffer(raw[k], dtype=np.dtype(dt)).reshape(shape) for k, (shape, dt) in shapes.items()}


def _worker(
    remote: Connection,
    parent_remote: Connection,
    env_fns: _CloudpickleWrapper,
    raw: dict[str, Any],
    shapes: dict[str, tuple[tuple[int, ...], str]],
    start: int,
    stop: int,
) -> None:
    parent_remote.close()
    try:
        envs = [fn() for fn in env_fns.obj]
        layout = EnvLayout(envs[0])
        views = _shared_views(raw, shapes)
        local = {k: v[start:stop] for k, v in views.items()}
        slc = _EnvSlice(envs, layout, local)
        remote.send(("ok", None))
    except BaseException:
        remote.send(("error", traceback.format_exc()))
        return
    while True:
        try:
            cmd, data = remote.recv()
        except (EOFError, KeyboardInterrupt):
            break
        try:
            if cmd == "step":
                remote.send(("ok", slc.step(local["actions"])))
            elif cmd == "reset":
                remote.send(("ok", slc.reset(data)))
            elif cmd == "get_attr":
                name, idx = data
                remote.send(("ok", [getattr(envs[i], name) for i in idx]))
            elif cmd == "env_method":
                name, idx, args, kwargs = data
                remote.send(("ok", [getattr(envs[i], name)(*args, **kwargs) for i in idx]))
            elif cmd == "close":
                for env in envs:
                    with contextlib.suppress(Exception):
                        env.close()
                remote.send(("ok", None))
                break
            else:
                remote.send(("error", f"unknown command {cmd!r}"))
        except BaseException:
            remote.send(("error", traceback.format_exc()))
    remote.close()


class SubprocMultiAgentVecEnv(_ObsMixin, MultiAgentVecEnv):
    """Steps the envs in worker processes that write observations into shared memory.

    Args:
        env_fns: One factory per env (lambdas are fine: they travel with cloudpickle).
        n_workers: Worker processes; envs are split into contiguous slices. Default: ``min(n_envs, cpu_count)``.
        start_method: ``multiprocessing`` start method; default ``"forkserver"`` where available (safe with torch
            threads), else ``"spawn"``.
        timeout: Seconds to wait for a worker's answer before declaring it hung.
    """

    def __init__(
        self,
        env_fns: Sequence[EnvFactory],
        n_workers: int | None = None,
        start_method: str | None = None,
        timeout: float = 600.0,
    ) -> None:
        if len(env_fns) == 0:
            raise ValueError("n_envs must be at least 1")
        import os

        self.num_envs = len(env_fns)
        self.timeout = timeout
        probe = env_fns[0]()
        layout = EnvLayout(probe)
        self.render_mode = getattr(probe, "render_mode", None)
        probe.close()
        self._set_layout(layout)
        self.env_kwargs = {}
        n_workers = n_workers or min(self.num_envs, os.cpu_count() or 1)
        n_workers = max(1, min(n_workers, self.num_envs))
        if start_method is None:
            start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(start_method)
        # shared arrays: the same layout as the sync backend, backed by RawArrays the workers write into
        template = _allocate(layout, self.num_envs, _zeros)
        shapes = {k: (v.shape, v.dtype.str) for k, v in template.items()}
        raw = {k: ctx.RawArray("b", max(1, v.nbytes)) for k, v in template.items()}
        self.buf = _shared_views(raw, shapes)
        bounds = np.linspace(0, self.num_envs, n_workers + 1).astype(int)
        self.slices = [(int(bounds[i]), int(bounds[i + 1])) for i in range(n_workers)]
        self.remotes: list[Connection] = []
        self.processes: list[Any] = []
        for w, (start, stop) in enumerate(self.slices):
            remote, work_remote = ctx.Pipe()
            proc = ctx.Process(  # type: ignore[attr-defined]
                target=_worker,
                args=(work_remote, remote, _CloudpickleWrapper(list(env_fns[start:stop])), raw, shapes, start, stop),
                daemon=True,
                name=f"trmarl-vec-worker-{w}",
            )
            proc.start()
            work_remote.close()
            self.remotes.append(remote)
            self.processes.append(proc)
        try:
            self._gather(range(len(self.remotes)), "start")
        except Exception:
            self._terminate()
            raise

    def _gather(self, workers: Sequence[int], what: str) -> list[Any]:
        results = []
        for w in workers:
            remote, proc = self.remotes[w], self.processes[w]
            deadline = time.monotonic() + self.timeout
            while not remote.poll(0.05):
                if not proc.is_alive():
                    self._terminate()
                    raise RuntimeError(
                        f"vec env worker {w} (envs {self.slices[w][0]}..{self.slices[w][1] - 1}) died during {what} "
                        f"with exit code {proc.exitcode}"
                    )
                if time.monotonic() > deadline:
                    self._terminate()
                    raise TimeoutError(f"vec env worker {w} did not answer {what} within {self.timeout:.0f} s")
            try:
                status, payload = remote.recv()
            except (EOFError, OSError) as exc:
                proc.join(timeout=2)
                code = proc.exitcode
                self._terminate()
                raise RuntimeError(
                    f"vec env worker {w} (envs {self.slices[w][0]}..{self.slices[w][1] - 1}) died during {what} "
                    f"with exit code {code}"
                ) from exc
            if status != "ok":
                self._terminate()
                raise RuntimeError(
                    f"vec env worker {w} (envs {self.slices[w][0]}..{self.slices[w][1] - 1}) raised during {what}:\n{payload}"
                )
            results.append(payload)
        return results

    def reset(self, seed: int | Sequence[int | None] | None = None) -> tuple[VecObs, list[dict[str, Any]]]:
        self._check_open()
        seeds = self._seeds_for_reset(seed)
        for remote, (start, stop) in zip(self.remotes, self.slices):
            remote.send(("reset", seeds[start:stop]))
        infos = [i for part in self._gather(range(len(self.remotes)), "reset") for i in part]
        return self._vec_obs(), infos

    def step(self, actions: np.ndarray) -> VecStep:
        self._check_open()
        self.buf["actions"][...] = self.check_actions(actions)
        for remote in self.remotes:
            remote.send(("step", None))
        infos = [i for part in self._gather(range(len(self.remotes)), "step") for i in part]
        return VecStep(
            self._vec_obs(), self.buf["reward"].copy(), self.buf["terminated"].copy(), self.buf["truncated"].copy(), infos
        )

    def _route(self, indices: Sequence[int] | None) -> list[tuple[int, list[int], list[int]]]:
        idx = list(range(self.num_envs)) if indices is None else [int(i) for i in indices]
        plan = []
        for w, (start, stop) in enumerate(self.slices):
            local = [i - start for i in idx if start <= i < stop]
            if local:
                plan.append((w, local, [i for i in idx if start <= i < stop]))
        return plan

    def get_attr(self, name: str, indices: Sequence[int] | None = None) -> list[Any]:
        self._check_open()
        plan = self._route(indices)
        for w, local, _ in plan:
            self.remotes[w].send(("get_attr", (name, local)))
        parts = self._gather([w for w, _, _ in plan], f"get_attr({name!r})")
        return [v for part in parts for v in part]

    def env_method(self, name: str, *args: Any, indices: Sequence[int] | None = None, **kwargs: Any) -> list[Any]:
        self._check_open()
        plan = self._route(indices)
        for w, local, _ in plan:
            self.remotes[w].send(("env_method", (name, local, args, kwargs)))
        parts = self._gather([w for w, _, _ in plan], f"env_method({name!r})")
        return [v for part in parts for v in part]

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("this vectorized env is closed")

    def _terminate(self) -> None:
        self.closed = True
        for remote in getattr(self, "remotes", []):
            with contextlib.suppress(Exception):
                remote.close()
        for proc in getattr(self, "processes", []):
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=5)

    def close(self) -> None:
        if self.closed:
            return
        for w, remote in enumerate(self.remotes):
            if self.processes[w].is_alive():
                with contextlib.suppress(BrokenPipeError, OSError):
                    remote.send(("close", None))
        for w, remote in enumerate(self.remotes):
            try:
                if remote.poll(5):
                    remote.recv()
            except (EOFError, OSError):
                pass
            self.processes[w].join(timeout=5)
        self._terminate()


# --------------------------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------------------------


def _factories(env: str | EnvFactory, n_envs: int, env_kwargs: dict[str, Any]) -> list[EnvFactory]:
    if isinstance(env, str):
        from trmarl.envs.registry import spec

        env_spec = spec(env)  # raises KeyError with close matches
        return [_IdFactory(env_spec.id, env_kwargs) for _ in range(n_envs)]
    if callable(env):
        if env_kwargs:
            return [_KwFactory(env, env_kwargs) for _ in range(n_envs)]
        return [env for _ in range(n_envs)]
    raise TypeError(f"env must be a registered id or a factory returning a ParallelEnv, got {type(env).__name__}")


class _IdFactory:
    def __init__(self, env_id: str, kwargs: dict[str, Any]) -> None:
        self.env_id, self.kwargs = env_id, kwargs

    def __call__(self) -> Any:
        from trmarl.envs.registry import make

        return make(self.env_id, **self.kwargs)


class _KwFactory:
    def __init__(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        self.fn, self.kwargs = fn, kwargs

    def __call__(self) -> Any:
        return self.fn(**self.kwargs)


def make_vec_env(
    env: str | EnvFactory,
    n_envs: int = 1,
    seed: int | None = None,
    backend: str = "auto",
    env_kwargs: dict[str, Any] | None = None,
    n_workers: int | None = None,
    start_method: str | None = None,
) -> MultiAgentVecEnv:
    """Make ``n_envs`` copies of an environment behind the array contract of :class:`MultiAgentVecEnv`.

    Args:
        env: A registered id (``"MaMuJoCo-HalfCheetah-2x3"``) or a zero-argument factory returning a ParallelEnv.
        n_envs: Number of envs ``E``.
        seed: Seeds the first :meth:`~MultiAgentVecEnv.reset` (env ``i`` gets ``seed + i``) and the action spaces.
        backend: ``"sync"``, ``"subprocess"``, ``"native"`` (batched simulators such as SMACSim) or ``"auto"``
            (native where the id has one, else sync).
        env_kwargs: Keyword arguments for each env (``obs_mode="global"``, ``map_name``...).
        n_workers: Subprocess backend: worker processes (default ``min(n_envs, cpu_count)``).
        start_method: Subprocess backend: ``multiprocessing`` start method.

    Returns:
        A :class:`MultiAgentVecEnv`; call ``reset()`` before ``step()``.

    Raises:
        KeyError: Unknown env id. ValueError: a bad ``n_envs`` or ``backend``.
    """
    if isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
        raise ValueError(f"n_envs must be a positive int, got {n_envs!r}")
    n_envs = int(n_envs)
    if backend not in ("auto", "sync", "subprocess", "native"):
        raise ValueError(f"backend must be 'auto', 'sync', 'subprocess' or 'native', got {backend!r}")
    kwargs = dict(env_kwargs or {})
    vec: MultiAgentVecEnv
    native_cls = None
    if isinstance(env, str):
        from trmarl.envs.registry import resolve_entry_point, spec

        env_spec = spec(env)
        if env_spec.vec_entry_point is not None and backend in ("auto", "native"):
            native_cls = resolve_entry_point(env_spec.vec_entry_point)
        elif backend == "native":
            raise ValueError(f"{env!r} has no native batched backend; use 'sync' or 'subprocess'")
        if native_cls is not None:
            vec = native_cls(n_envs=n_envs, seed=seed, **{**env_spec.kwargs, **kwargs})
            vec.env_id, vec.env_kwargs = env, kwargs
            if seed is not None:
                vec.seed(seed)
            return vec
    elif backend == "native":
        raise ValueError("backend='native' needs a registered env id with a batched implementation")
    fns = _factories(env, n_envs, kwargs)
    if backend == "subprocess":
        vec = SubprocMultiAgentVecEnv(fns, n_workers=n_workers, start_method=start_method)
    else:
        vec = SyncMultiAgentVecEnv(fns)
    vec.env_id = env if isinstance(env, str) else None
    vec.env_kwargs = kwargs
    if seed is not None:
        vec.seed(seed)
    return vec
