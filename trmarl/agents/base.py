"""``BaseAgent``: the Stable-Baselines3-shaped public surface shared by every trmarl algorithm.

An algorithm is ``Algo(env, *, seed=None, device="auto", verbose=1, tensorboard_log=None, n_envs=None, **hyperparams)``
where ``env`` is a registered id, a PettingZoo ``ParallelEnv``, a zero-argument factory, or a
:class:`~trmarl.envs.vec_env.MultiAgentVecEnv`, and the hyperparameters are the fields of the algorithm's config
dataclass (a typo raises ``TypeError`` naming the close matches). Then ``learn``, ``predict``, ``save``/``load``,
``get_parameters``/``set_parameters``, ``set_env``/``get_env`` behave as in SB3, and SB3 callbacks and loggers work.

Design notes:

* ``learn`` resets the environment at the start of **every** call (seeded from the agent's own numpy Generator when a
  seed was given). A checkpoint cannot hold a simulator's state, so this is what makes
  ``learn(n); save; load; learn(m, reset_num_timesteps=False)`` reproduce ``learn(n); learn(m,
  reset_num_timesteps=False)`` exactly: both paths reset the env at the same point, from the same RNG stream.
  (SB3 instead continues the last observation across ``learn`` calls; an episode running at the end of one call is
  dropped here.)
* Randomness lives in three saved streams: ``self.rng`` (a numpy ``Generator``: agent orders, minibatches, env seeds),
  ``self.torch_rng`` (a ``torch.Generator`` for action sampling) and torch's global RNG (network initialisation).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import os
import sys
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import configure_logger, get_device, set_random_seed
from torch import nn

from trmarl.common.serialization import (
    CheckpointError,
    dumps_json_safe,
    optimizer_state_from_tensors,
    optimizer_state_to_tensors,
    read_checkpoint,
    torch_rng_from_json,
    torch_rng_to_json,
    write_checkpoint,
)
from trmarl.envs.vec_env import MultiAgentVecEnv, VecObs, make_vec_env

__all__ = ["ALGORITHMS", "AgentSpaces", "BaseAgent", "load", "make_config", "torch_threads"]

SelfBaseAgent = TypeVar("SelfBaseAgent", bound="BaseAgent")

#: Algorithm name stored in checkpoints -> module defining the class of that name.
ALGORITHMS: dict[str, str] = {
    "HAPPO": "trmarl.agents.happo",
    "HATRPO": "trmarl.agents.hatrpo",
    "MAPPO": "trmarl.agents.mappo",
    "IPPO": "trmarl.agents.mappo",
    "QMIX": "trmarl.agents.qmix",
    "VDN": "trmarl.agents.qmix",
    "IQL": "trmarl.agents.qmix",
    "QTRAN": "trmarl.agents.qtran",
    "MADDPG": "trmarl.agents.maddpg",
    "MATD3": "trmarl.agents.maddpg",
}


# --------------------------------------------------------------------------------------------------------------
# Configuration and spaces
# --------------------------------------------------------------------------------------------------------------

ConfigT = TypeVar("ConfigT")


def make_config(config_class: type[ConfigT], overrides: dict[str, Any]) -> ConfigT:
    """Build ``config_class(**overrides)``; an unknown name raises ``TypeError`` listing the close matches."""
    names = [f.name for f in dataclasses.fields(config_class)]  # type: ignore[arg-type]
    for key in overrides:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else f"; valid names: {', '.join(names)}"
            raise TypeError(f"{config_class.__name__} got an unexpected hyperparameter {key!r}{hint}")
    return config_class(**overrides)


@dataclasses.dataclass(frozen=True)
class AgentSpaces:
    """What an agent knows about its env's array layout; stored in checkpoints and checked on ``set_env``/``load``."""

    agents: tuple[str, ...]
    obs_dims: tuple[int, ...]
    state_dim: int
    discrete: bool
    n_actions_per_agent: tuple[int, ...]
    act_dims: tuple[int, ...]
    action_low: tuple[tuple[float, ...], ...]
    action_high: tuple[tuple[float, ...], ...]

    @property
    def n_agents(self) -> int:
        """``N``."""
        return len(self.agents)

    @property
    def obs_dim(self) -> int:
        """``D``: the padded observation width."""
        return max(self.obs_dims)

    @property
    def act_dim(self) -> int:
        """The padded continuous action width (1 for discrete)."""
        return max(self.act_dims)

    @property
    def n_actions(self) -> int:
        """``A``: the widest discrete action set (0 for continuous)."""
        return max(self.n_actions_per_agent) if self.discrete else 0

    @classmethod
    def from_vec_env(cls, env: MultiAgentVecEnv) -> AgentSpaces:
        """Read the layout of ``env``."""
        low: list[tuple[float, ...]] = []
        high: list[tuple[float, ...]] = []
        for space in env.action_spaces:
            if isinstance(space, gym.spaces.Box):
                low.append(tuple(float(x) for x in np.asarray(space.low, dtype=np.float64).ravel()))
                high.append(tuple(float(x) for x in np.asarray(space.high, dtype=np.float64).ravel()))
            else:
                low.append(())
                high.append(())
        return cls(
            agents=tuple(env.agents),
            obs_dims=tuple(int(d) for d in env.obs_dims),
            state_dim=int(env.state_dim),
            discrete=bool(env.discrete),
            n_actions_per_agent=tuple(int(n) for n in env.n_actions_per_agent),
            act_dims=tuple(int(d) for d in env.act_dims),
            action_low=tuple(low),
            action_high=tuple(high),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (infinite bounds become strings)."""
        out = dataclasses.asdict(self)
        for key in ("action_low", "action_high"):
            out[key] = [[v if np.isfinite(v) else str(v) for v in row] for row in out[key]]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentSpaces:
        """Inverse of :meth:`to_json`."""
        return cls(
            agents=tuple(data["agents"]),
            obs_dims=tuple(int(d) for d in data["obs_dims"]),
            state_dim=int(data["state_dim"]),
            discrete=bool(data["discrete"]),
            n_actions_per_agent=tuple(int(n) for n in data["n_actions_per_agent"]),
            act_dims=tuple(int(d) for d in data["act_dims"]),
            action_low=tuple(tuple(float(v) for v in row) for row in data["action_low"]),
            action_high=tuple(tuple(float(v) for v in row) for row in data["action_high"]),
        )

    def differences(self, other: AgentSpaces) -> list[str]:
        """Human-readable differences between two layouts (empty when compatible)."""
        diffs = []
        for f in ("agents", "obs_dims", "state_dim", "discrete", "n_actions_per_agent", "act_dims"):
            a, b = getattr(self, f), getattr(other, f)
            if a != b:
                diffs.append(f"{f}: expected {a}, got {b}")
        return diffs


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` torch CPU threads (None: unchanged), restoring the previous setting afterwards."""
    previous = torch.get_num_threads()
    if n is None or n == previous:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _is_parallel_env(obj: Any) -> bool:
    return hasattr(obj, "possible_agents") and hasattr(obj, "step") and hasattr(obj, "reset")


class _NoCallback(BaseCallback):
    def _on_step(self) -> bool:
        return True


# --------------------------------------------------------------------------------------------------------------
# BaseAgent
# --------------------------------------------------------------------------------------------------------------


class BaseAgent(ABC):
    """The SB3-shaped surface: construction from any env form, ``learn``, ``predict``, checkpoints, callbacks, logging.

    Subclasses set :attr:`algorithm_name` and :attr:`config_class`, build their networks in :meth:`_setup_model`, and
    implement :meth:`collect_rollouts`, :meth:`train`, :meth:`_predict_arrays`, :meth:`_modules` and :meth:`_optimizers`.

    Args:
        env: A registered env id, a PettingZoo ``ParallelEnv`` (one env), a zero-argument factory returning one, a
            :class:`~trmarl.envs.vec_env.MultiAgentVecEnv`, or None (only for loading a model to ``predict`` with).
        seed: Seeds torch, numpy and the envs; None draws fresh entropy.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        verbose: 0 silent, 1 training logs on stdout.
        tensorboard_log: Folder for TensorBoard logs (None: no TensorBoard).
        n_envs: Parallel envs ``E`` when ``env`` is an id or a factory (default: the algorithm's, 20 for the
            on-policy family as in HARL); a ``ParallelEnv`` instance means 1, a vec env its own ``num_envs``.
        vec_backend: ``"sync"`` or ``"subprocess"`` (or ``"auto"``) for envs built from an id or a factory.
        env_kwargs: Keyword arguments for each env built from an id or a factory.
        n_threads: Torch CPU threads while training inside ``learn`` (None: leave torch's setting). Rollouts and
            ``predict`` always use one thread (batches of ``E`` samples). The default 1 is measured: on two shared
            cores two threads made a HAPPO update on HalfCheetah-2x3 more than 20 times slower (0.8 s -> 18 s).
            On cores of its own, ``n_threads=2`` makes the on-policy loop about 8% faster (HAPPO HalfCheetah-2x3 on
            2 idle cores; the critic update then runs beside the next rollout; ``docs/benchmarks.md``).
        **hyperparams: Fields of :attr:`config_class`.

    Attributes:
        config: The algorithm's hyperparameters (a dataclass instance).
        env: The training :class:`~trmarl.envs.vec_env.MultiAgentVecEnv` (None until one is set).
        spaces: The array layout the networks were built for.
        num_timesteps: Environment steps taken so far (summed over the ``E`` envs).
        ep_info_buffer: The last 100 finished episodes' ``{"r", "l", "t"[, "win"]}``.
    """

    algorithm_name: ClassVar[str] = ""
    config_class: ClassVar[type[Any]]
    default_n_envs: ClassVar[int] = 1

    def __init__(
        self,
        env: str | Any | Callable[[], Any] | MultiAgentVecEnv | None,
        *,
        seed: int | None = None,
        device: str | torch.device = "auto",
        verbose: int = 1,
        tensorboard_log: str | None = None,
        n_envs: int | None = None,
        vec_backend: str = "sync",
        env_kwargs: dict[str, Any] | None = None,
        n_threads: int | None = 1,
        _spaces: AgentSpaces | None = None,
        **hyperparams: Any,
    ) -> None:
        self.config = make_config(self.config_class, hyperparams)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        if n_envs is not None and (isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 1):
            raise ValueError(f"n_envs must be a positive int or None, got {n_envs!r}")
        self.seed = None if seed is None else int(seed)
        self.verbose = int(verbose)
        self.tensorboard_log = tensorboard_log
        self.device = get_device(device)
        self.vec_backend = vec_backend
        if n_threads is not None and (isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1):
            raise ValueError(f"n_threads must be a positive int or None, got {n_threads!r}")
        self.n_threads = n_threads
        self.env_kwargs = dict(env_kwargs or {})
        self.env: MultiAgentVecEnv | None = None
        self.env_id: str | None = None
        self.n_envs = int(n_envs) if n_envs is not None else self.default_n_envs
        if env is not None:
            self.env = self._wrap_env(env, n_envs)
            self.n_envs = self.env.num_envs
            self.env_id = self.env.env_id
            self.env_kwargs = dict(getattr(self.env, "env_kwargs", {}) or self.env_kwargs)
            self.spaces = AgentSpaces.from_vec_env(self.env)
        elif _spaces is not None:
            self.spaces = _spaces
        else:
            raise ValueError("env must be an env id, a ParallelEnv, a factory or a MultiAgentVecEnv (got None)")
        # counters and bookkeeping (SB3 names)
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._num_timesteps_at_start = 0
        self._n_updates = 0
        self.iteration = 0
        self._episode_num = 0
        self.start_time = time.time_ns()
        self.ep_info_buffer: deque[dict[str, Any]] = deque(maxlen=100)
        self._last_obs: VecObs | None = None
        self._logger: Logger | None = None
        self._custom_logger = False
        # randomness: global torch (network init), a numpy Generator, a torch Generator for sampling
        if self.seed is not None:
            set_random_seed(self.seed, using_cuda=self.device.type == "cuda")
        self.rng = np.random.default_rng(self.seed)
        self.torch_rng = torch.Generator(device=self.device)
        self.torch_rng.manual_seed(self.seed if self.seed is not None else int(self.rng.integers(2**62)))
        self._setup_model()

    # ----------------------------------------------------------------------------------------------------------
    # Hooks for subclasses
    # ----------------------------------------------------------------------------------------------------------
    @abstractmethod
    def _setup_model(self) -> None:
        """Build networks, optimizers and buffers from :attr:`spaces` and :attr:`config`."""

    @abstractmethod
    def collect_rollouts(self, env: MultiAgentVecEnv, callback: BaseCallback) -> bool:
        """Step the envs and store the experience; False stops training (a callback asked to)."""

    @abstractmethod
    def train(self) -> None:
        """Update the networks from the collected experience."""

    @abstractmethod
    def _predict_arrays(
        self,
        obs: np.ndarray,
        action_mask: np.ndarray | None,
        state: np.ndarray | None,
        episode_start: np.ndarray | None,
        deterministic: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Actions for ``(E, N, D)`` observations: ``(E, N, act_dim)`` floats or ``(E, N)`` ints, and the new state."""

    @abstractmethod
    def _modules(self) -> dict[str, nn.Module]:
        """The named modules whose weights (and buffers) make up the model."""

    @abstractmethod
    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The named optimizers."""

    # ----------------------------------------------------------------------------------------------------------
    # Environment
    # ----------------------------------------------------------------------------------------------------------
    def _wrap_env(self, env: Any, n_envs: int | None) -> MultiAgentVecEnv:
        if isinstance(env, MultiAgentVecEnv):
            if n_envs is not None and n_envs != env.num_envs:
                raise ValueError(f"n_envs={n_envs} but the given vec env has {env.num_envs} envs")
            return env
        if isinstance(env, str):
            return make_vec_env(env, n_envs or self.default_n_envs, backend=self.vec_backend, env_kwargs=self.env_kwargs)
        if _is_parallel_env(env):
            if n_envs not in (None, 1):
                raise ValueError("a ParallelEnv instance is one env; pass an env id or a factory for n_envs > 1")
            instance = env
            return make_vec_env(lambda: instance, 1, backend="sync")
        if callable(env):
            return make_vec_env(env, n_envs or self.default_n_envs, backend=self.vec_backend, env_kwargs=self.env_kwargs)
        raise TypeError(
            "env must be an env id (str), a PettingZoo ParallelEnv, a factory returning one, or a MultiAgentVecEnv; "
            f"got {type(env).__name__}"
        )

    def get_env(self) -> MultiAgentVecEnv | None:
        """The training vec env (SB3 name)."""
        return self.env

    def get_vec_normalize_env(self) -> None:
        """SB3 callbacks ask for it; trmarl normalises inside the agent, so there is none."""
        return None

    def set_env(self, env: Any, force_reset: bool = True) -> None:
        """Use a new training env; its layout must match the one the networks were built for.

        Raises:
            ValueError: The env's agents, observation, state or action sizes differ.
        """
        vec = self._wrap_env(env, None)
        diffs = self.spaces.differences(AgentSpaces.from_vec_env(vec))
        if diffs:
            raise ValueError("the new env does not match the model: " + "; ".join(diffs))
        self.env, self.n_envs, self.env_id = vec, vec.num_envs, vec.env_id
        self._last_obs = None
        self._on_env_change()

    def _on_env_change(self) -> None:
        """Called after :meth:`set_env` (rebuild buffers that depend on ``n_envs``)."""
        return None

    def _reset_env(self) -> VecObs:
        assert self.env is not None
        seeds = None if self.seed is None else [int(s) for s in self.rng.integers(0, 2**31 - 1, size=self.env.num_envs)]
        obs, _ = self.env.reset(seed=seeds)
        return obs

    # ----------------------------------------------------------------------------------------------------------
    # Logging
    # ----------------------------------------------------------------------------------------------------------
    @property
    def logger(self) -> Logger:
        """SB3's logger (configured at the first ``learn``)."""
        if self._logger is None:
            self._logger = configure_logger(self.verbose, None, "", True)
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Use a custom SB3 logger (``stable_baselines3.common.logger.configure(folder, ["stdout", "csv", ...])``)."""
        self._logger = logger
        self._custom_logger = True

    def dump_logs(self) -> None:
        """Record rollout and time statistics and write them out (SB3's keys plus ``rollout/win_rate``)."""
        elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        fps = int((self.num_timesteps - self._num_timesteps_at_start) / elapsed)
        self.logger.record("time/iterations", self.iteration, exclude="tensorboard")
        if self.ep_info_buffer:
            self.logger.record("rollout/ep_rew_mean", float(np.mean([ep["r"] for ep in self.ep_info_buffer])))
            self.logger.record("rollout/ep_len_mean", float(np.mean([ep["l"] for ep in self.ep_info_buffer])))
            wins = [float(ep["win"]) for ep in self.ep_info_buffer if "win" in ep]
            if wins:
                self.logger.record("rollout/win_rate", float(np.mean(wins)))
        self.logger.record("time/fps", fps)
        self.logger.record("time/time_elapsed", int(elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)

    # ----------------------------------------------------------------------------------------------------------
    # learn
    # ----------------------------------------------------------------------------------------------------------
    def _setup_learn(
        self,
        total_timesteps: int,
        callback: Any,
        reset_num_timesteps: bool,
        tb_log_name: str,
        progress_bar: bool,
    ) -> tuple[int, BaseCallback]:
        self.start_time = time.time_ns()
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._episode_num = 0
            self.ep_info_buffer = deque(maxlen=100)
        else:
            total_timesteps += self.num_timesteps
        self._total_timesteps = total_timesteps
        self._num_timesteps_at_start = self.num_timesteps
        if self.env is None:
            if self.env_id is None:
                raise RuntimeError("this model has no env: pass one to the constructor, to load() or to set_env()")
            self.set_env(make_vec_env(self.env_id, self.n_envs, backend=self.vec_backend, env_kwargs=self.env_kwargs))
        self._last_obs = self._reset_env()
        if not self._custom_logger:
            self._logger = configure_logger(self.verbose, self.tensorboard_log, tb_log_name, reset_num_timesteps)
        cb = self._init_callback(callback, progress_bar)
        return total_timesteps, cb

    def _init_callback(self, callback: Any, progress_bar: bool) -> BaseCallback:
        if isinstance(callback, list):
            callback = CallbackList(callback)
        elif callback is None:
            callback = _NoCallback()
        elif not isinstance(callback, BaseCallback):
            if not callable(callback):
                raise TypeError(f"callback must be an SB3 BaseCallback, a list of them or a function, got {callback!r}")
            callback = ConvertCallback(callback)
        if progress_bar:
            callback = CallbackList([callback, ProgressBarCallback()])
        callback.init_callback(self)  # type: ignore[arg-type]
        return callback

    def learn(
        self: SelfBaseAgent,
        total_timesteps: int | float,
        callback: Any = None,
        log_interval: int | None = 1,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfBaseAgent:
        """Train for ``total_timesteps`` environment steps (summed over envs; floats such as ``1e7`` are accepted).

        Training runs whole iterations, so it may overshoot ``total_timesteps`` by up to one iteration.

        Args:
            total_timesteps: Environment steps to take (in addition to those taken so far when
                ``reset_num_timesteps=False``).
            callback: An SB3 callback, a list of them, or a function ``f(locals, globals) -> bool``.
            log_interval: Dump logs every this many iterations (None: never).
            tb_log_name: TensorBoard run name (default: the algorithm's name).
            reset_num_timesteps: Start counting from 0 (and a fresh TensorBoard run).
            progress_bar: Show SB3's progress bar (tqdm + rich).

        Returns:
            self.
        """
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, (int, float, np.integer, np.floating)):
            raise TypeError(f"total_timesteps must be a number, got {type(total_timesteps).__name__}")
        if not np.isfinite(total_timesteps) or total_timesteps <= 0:
            raise ValueError(f"total_timesteps must be a positive finite number, got {total_timesteps!r}")
        if log_interval is not None and (isinstance(log_interval, bool) or int(log_interval) < 1):
            raise ValueError(f"log_interval must be a positive int or None, got {log_interval!r}")
        total_timesteps, callback = self._setup_learn(
            int(total_timesteps), callback, reset_num_timesteps, tb_log_name or self.algorithm_name, progress_bar
        )
        callback.on_training_start(locals(), globals())
        assert self.env is not None
        try:
            while self.num_timesteps < total_timesteps:
                if not self.collect_rollouts(self.env, callback):
                    break
                self.iteration += 1
                with torch_threads(self.n_threads):
                    self.train()
                if log_interval is not None and self.iteration % log_interval == 0:
                    self.dump_logs()
        finally:
            self._wait_background()
        callback.on_training_end()
        return self

    # ----------------------------------------------------------------------------------------------------------
    # predict
    # ----------------------------------------------------------------------------------------------------------
    def predict(
        self,
        obs: dict[str, Any] | np.ndarray,
        state: np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_mask: dict[str, Any] | np.ndarray | None = None,
    ) -> tuple[dict[str, Any] | np.ndarray, np.ndarray | None]:
        """Actions for one env's PettingZoo observation dict, or for batched arrays.

        Args:
            obs: ``{agent: obs}`` for one env (agents missing from the dict, e.g. dead ones, get no action; an obs may
                be PettingZoo's ``{"observation", "action_mask"}`` dict), or an ``(E, N, D)`` array (``(N, D)`` for one
                env) padded like the vec env's observations.
            state: Recurrent policies: the hidden state returned by the previous call, ``(E, N, H)``; None starts fresh.
            episode_start: ``(E,)`` bools: zero the hidden state of these envs first.
            deterministic: Take the mean / argmax instead of sampling.
            action_mask: Discrete actions: ``{agent: mask}`` or an ``(E, N, A)`` / ``(N, A)`` bool array.

        Returns:
            ``({agent: action}, state)`` for a dict, else ``(actions, state)`` with actions ``(E, N, act_dim)`` float32
            (continuous, clipped to the action bounds) or ``(E, N)`` int64 (discrete); ``(N, ...)`` for ``(N, D)`` input.

        Raises:
            ValueError / KeyError: Shapes that do not match the model, unknown agent names, non-finite observations.
        """
        sp = self.spaces
        if isinstance(obs, dict):
            obs_arr, mask_arr, present = self._dict_to_arrays(obs, action_mask)
            actions, new_state = self._predict_checked(obs_arr, mask_arr, state, episode_start, deterministic)
            out: dict[str, Any] = {}
            for n, agent in enumerate(sp.agents):
                if present[n]:
                    out[agent] = int(actions[0, n]) if sp.discrete else actions[0, n, : sp.act_dims[n]].copy()
            return out, new_state
        arr = np.asarray(obs, dtype=np.float32)
        single = arr.ndim == 2
        if single:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1:] != (sp.n_agents, sp.obs_dim):
            raise ValueError(
                f"obs must be an (n_envs, n_agents, obs_dim) = (E, {sp.n_agents}, {sp.obs_dim}) array, an (n_agents, obs_dim) "
                f"array or a {{agent: obs}} dict; got shape {np.shape(obs)}"
            )
        mask_arr = None
        if sp.discrete:
            if action_mask is None:
                mask_arr = np.zeros((arr.shape[0], sp.n_agents, sp.n_actions), dtype=bool)
                for n, a in enumerate(sp.n_actions_per_agent):
                    mask_arr[:, n, :a] = True
            else:
                mask_arr = np.asarray(action_mask, dtype=bool)
                if single and mask_arr.ndim == 2:
                    mask_arr = mask_arr[None]
                if mask_arr.shape != (arr.shape[0], sp.n_agents, sp.n_actions):
                    raise ValueError(
                        f"action_mask must have shape {(arr.shape[0], sp.n_agents, sp.n_actions)}, got {mask_arr.shape}"
                    )
        actions, new_state = self._predict_checked(arr, mask_arr, state, episode_start, deterministic)
        return (actions[0] if single else actions), new_state

    def _dict_to_arrays(
        self, obs: dict[str, Any], action_mask: dict[str, Any] | np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        sp = self.spaces
        unknown = [a for a in obs if a not in sp.agents]
        if unknown:
            raise KeyError(f"unknown agent(s) {unknown}; this model's agents are {list(sp.agents)}")
        arr = np.zeros((1, sp.n_agents, sp.obs_dim), dtype=np.float32)
        mask = np.zeros((1, sp.n_agents, sp.n_actions), dtype=bool) if sp.discrete else None
        present = np.zeros(sp.n_agents, dtype=bool)
        for n, agent in enumerate(sp.agents):
            if mask is not None:
                mask[0, n, : sp.n_actions_per_agent[n]] = True
            if agent not in obs:
                continue
            present[n] = True
            ob = obs[agent]
            agent_mask = None
            if isinstance(ob, dict):
                if "observation" not in ob:
                    raise ValueError(f"obs[{agent!r}] is a dict without an 'observation' entry")
                agent_mask = ob.get("action_mask")
                ob = ob["observation"]
            flat = np.asarray(ob, dtype=np.float32).ravel()
            if flat.shape[0] != sp.obs_dims[n]:
                raise ValueError(f"obs[{agent!r}] has {flat.shape[0]} values, the model expects {sp.obs_dims[n]}")
            arr[0, n, : flat.shape[0]] = flat
            if isinstance(action_mask, dict) and agent in action_mask:
                agent_mask = action_mask[agent]
            elif isinstance(action_mask, np.ndarray):
                agent_mask = action_mask[n]
            if mask is not None and agent_mask is not None:
                m = np.asarray(agent_mask, dtype=bool).ravel()
                if m.shape[0] != sp.n_actions_per_agent[n]:
                    raise ValueError(
                        f"action mask of {agent!r} has {m.shape[0]} entries, expected {sp.n_actions_per_agent[n]}"
                    )
                mask[0, n].fill(False)
                mask[0, n, : m.shape[0]] = m
        return arr, mask, present

    def _predict_checked(
        self,
        obs: np.ndarray,
        action_mask: np.ndarray | None,
        state: np.ndarray | None,
        episode_start: np.ndarray | None,
        deterministic: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if not np.all(np.isfinite(obs)):
            raise ValueError("obs contains NaN or inf")
        if action_mask is not None and not action_mask.any(-1).all():
            raise ValueError("action_mask leaves an agent with no available action")
        if episode_start is not None:
            episode_start = np.asarray(episode_start, dtype=bool).reshape(-1)
            if episode_start.shape[0] != obs.shape[0]:
                raise ValueError(f"episode_start must have one entry per env ({obs.shape[0]}), got {episode_start.shape[0]}")
        actions, new_state = self._predict_arrays(obs, action_mask, state, episode_start, bool(deterministic))
        if not self.spaces.discrete:
            low = np.zeros((self.spaces.n_agents, self.spaces.act_dim), dtype=np.float32)
            high = np.zeros_like(low)
            for n, (lo, hi) in enumerate(zip(self.spaces.action_low, self.spaces.action_high)):
                low[n, : len(lo)], high[n, : len(hi)] = lo, hi
            actions = np.clip(actions, low, high).astype(np.float32)
        return actions, new_state

    # ----------------------------------------------------------------------------------------------------------
    # Parameters and checkpoints
    # ----------------------------------------------------------------------------------------------------------
    def _wait_background(self) -> None:
        """Finish work running beside the main thread (the on-policy critic update); a no-op here."""
        return None

    def get_parameters(self) -> dict[str, dict[str, Any]]:
        """``{module_name: state_dict}`` for every module and ``{optimizer_name: state_dict}`` for every optimizer."""
        self._wait_background()
        params: dict[str, dict[str, Any]] = {name: m.state_dict() for name, m in self._modules().items()}
        params.update({name: opt.state_dict() for name, opt in self._optimizers().items()})
        return params

    def set_parameters(self, params: dict[str, dict[str, Any]] | str | os.PathLike[str], exact_match: bool = True) -> None:
        """Load parameters from :meth:`get_parameters`'s dict or from a checkpoint file.

        Args:
            params: A dict as returned by :meth:`get_parameters`, or a checkpoint path.
            exact_match: Require every module and optimizer to be present.

        Raises:
            ValueError: Missing or unknown names, or tensors that do not fit.
        """
        self._wait_background()
        if isinstance(params, (str, os.PathLike)):
            ckpt = read_checkpoint(params)
            self._check_checkpoint(ckpt.config, None)
            self._load_model_tensors(ckpt.model)
            return
        modules, optimizers = self._modules(), self._optimizers()
        unknown = [k for k in params if k not in modules and k not in optimizers]
        if unknown:
            raise ValueError(f"unknown parameter groups {unknown}; expected {sorted([*modules, *optimizers])}")
        if exact_match:
            missing = [k for k in [*modules, *optimizers] if k not in params]
            if missing:
                raise ValueError(f"missing parameter groups {missing}")
        for name, sd in params.items():
            if name in modules:
                try:
                    modules[name].load_state_dict(sd, strict=exact_match)
                except RuntimeError as exc:
                    raise ValueError(f"parameters for {name!r} do not fit the model: {exc}") from exc
            else:
                optimizers[name].load_state_dict(sd)

    def _model_tensors(self) -> dict[str, torch.Tensor]:
        return {f"{name}.{k}": v for name, m in self._modules().items() for k, v in m.state_dict().items()}

    def _load_model_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        for name, module in self._modules().items():
            prefix = f"{name}."
            sd = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                module.load_state_dict(sd, strict=True)
            except RuntimeError as exc:
                raise CheckpointError(f"the stored weights do not fit {name!r}: {exc}") from exc

    def _extra_state(self) -> dict[str, Any]:
        """Algorithm-specific JSON state to store in checkpoints."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`_extra_state`."""
        del state

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a checkpoint zip (see :mod:`trmarl.common.serialization`); ``.zip`` is appended when there is no suffix.

        Returns:
            The path written.
        """
        from trmarl import __version__

        self._wait_background()
        opt_tensors: dict[str, torch.Tensor] = {}
        opt_meta: dict[str, Any] = {}
        for name, opt in self._optimizers().items():
            tensors, meta = optimizer_state_to_tensors(name, opt)
            opt_tensors.update(tensors)
            opt_meta[name] = meta
        config = {
            "algorithm": self.algorithm_name,
            "trmarl_version": __version__,
            "hyperparameters": dumps_json_safe(dataclasses.asdict(self.config)),
            "seed": self.seed,
            "verbose": self.verbose,
            "n_envs": self.n_envs,
            "vec_backend": self.vec_backend,
            "n_threads": self.n_threads,
            "env": {"id": self.env_id, "kwargs": dumps_json_safe(self.env_kwargs)},
            "spaces": self.spaces.to_json(),
            "counters": {
                "num_timesteps": self.num_timesteps,
                "n_updates": self._n_updates,
                "iteration": self.iteration,
                "episode_num": self._episode_num,
            },
            "rng": {
                "numpy": dumps_json_safe(self.rng.bit_generator.state),
                "torch_sampling": torch_rng_to_json(self.torch_rng),
                "torch_global": torch_rng_to_json(None),
            },
            "ep_info_buffer": dumps_json_safe(list(self.ep_info_buffer)),
            "extra": dumps_json_safe(self._extra_state()),
        }
        return write_checkpoint(path, config, self._model_tensors(), opt_tensors, opt_meta)

    @classmethod
    def _check_checkpoint(cls, config: dict[str, Any], path: Any) -> None:
        algo = config.get("algorithm")
        if cls.algorithm_name and algo != cls.algorithm_name:
            where = f" {str(path)!r}" if path is not None else ""
            raise CheckpointError(
                f"checkpoint{where} holds a {algo} model, not {cls.algorithm_name}; load it with trmarl.{algo}.load "
                "or trmarl.load"
            )

    @classmethod
    def load(
        cls: type[SelfBaseAgent],
        path: str | os.PathLike[str],
        env: Any = None,
        device: str | torch.device = "auto",
        **kwargs: Any,
    ) -> SelfBaseAgent:
        """Load a checkpoint written by :meth:`save`, ready to ``predict`` or to continue ``learn`` exactly.

        Args:
            path: The checkpoint zip.
            env: A training env (any form the constructor accepts) whose layout must match; None keeps the model
                env-less until ``learn`` (which then rebuilds the stored env id) or ``set_env``.
            device: Where to put the networks.
            **kwargs: Overrides of ``verbose``, ``tensorboard_log``, ``vec_backend``, ``n_envs`` or ``n_threads``.

        Raises:
            FileNotFoundError: No such file.
            CheckpointError: Not a trmarl checkpoint, corrupted, another algorithm's, or an env that does not match.
        """
        ckpt = read_checkpoint(path)
        config = ckpt.config
        target: type[BaseAgent] = cls
        if not cls.algorithm_name:
            target = _algorithm_class(str(config.get("algorithm")))
        target._check_checkpoint(config, path)
        allowed = {"verbose", "tensorboard_log", "vec_backend", "n_envs", "n_threads"}
        bad = [k for k in kwargs if k not in allowed]
        if bad:
            raise TypeError(f"load() got unexpected keyword(s) {bad}; allowed: {sorted(allowed)}")
        try:
            spaces = AgentSpaces.from_json(config["spaces"])
            hyper = dict(config["hyperparameters"])
            env_info = config.get("env", {}) or {}
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r} has an incomplete config.json ({exc})") from exc
        built_here = env is not None and not isinstance(env, MultiAgentVecEnv)
        if built_here:
            n = kwargs.get("n_envs", config.get("n_envs"))
            backend = kwargs.get("vec_backend", config.get("vec_backend", "sync"))
            same_id = isinstance(env, str) and env == env_info.get("id")
            env_kwargs = (env_info.get("kwargs") or {}) if same_id else {}
            env = target._wrap_env_static(env, None if _is_parallel_env(env) else n, backend, env_kwargs)
        if env is not None:
            diffs = spaces.differences(AgentSpaces.from_vec_env(env))
            if diffs:
                if built_here:
                    env.close()
                raise CheckpointError(f"the env does not match the model in {str(path)!r}: " + "; ".join(diffs))
        model = target(
            env,
            seed=config.get("seed"),
            device=device,
            verbose=kwargs.get("verbose", config.get("verbose", 1)),
            tensorboard_log=kwargs.get("tensorboard_log"),
            n_envs=None if env is not None else kwargs.get("n_envs", config.get("n_envs")),
            vec_backend=kwargs.get("vec_backend", config.get("vec_backend", "sync")),
            n_threads=kwargs.get("n_threads", config.get("n_threads", 1)),
            env_kwargs=env_info.get("kwargs") or {},
            _spaces=spaces,
            **hyper,
        )
        if env is None:
            model.env_id = env_info.get("id")
        model._load_model_tensors(ckpt.model)
        for name, opt in model._optimizers().items():
            if name not in ckpt.optimizer_meta:
                raise CheckpointError(f"{str(path)!r} has no state for optimizer {name!r}")
            optimizer_state_from_tensors(name, opt, ckpt.optimizer_tensors, ckpt.optimizer_meta[name])
        counters = config.get("counters", {})
        model.num_timesteps = int(counters.get("num_timesteps", 0))
        model._n_updates = int(counters.get("n_updates", 0))
        model.iteration = int(counters.get("iteration", 0))
        model._episode_num = int(counters.get("episode_num", 0))
        rng = config.get("rng", {})
        if "numpy" in rng:
            model.rng.bit_generator.state = rng["numpy"]
        if "torch_sampling" in rng:
            model.torch_rng.set_state(torch_rng_from_json(rng["torch_sampling"]))
        if "torch_global" in rng:
            torch.set_rng_state(torch_rng_from_json(rng["torch_global"]))
        model.ep_info_buffer = deque(config.get("ep_info_buffer", []), maxlen=100)
        model._load_extra_state(config.get("extra", {}) or {})
        return model  # type: ignore[return-value]

    @classmethod
    def _wrap_env_static(
        cls, env: Any, n_envs: int | None, backend: str, env_kwargs: dict[str, Any] | None = None
    ) -> MultiAgentVecEnv:
        if isinstance(env, str):
            return make_vec_env(env, n_envs or cls.default_n_envs, backend=backend, env_kwargs=env_kwargs)
        if _is_parallel_env(env):
            instance = env
            return make_vec_env(lambda: instance, 1, backend="sync")
        if callable(env):
            return make_vec_env(env, n_envs or cls.default_n_envs, backend=backend, env_kwargs=env_kwargs)
        raise TypeError(f"env must be an env id, a ParallelEnv, a factory or a MultiAgentVecEnv, got {type(env).__name__}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(env={self.env_id!r}, n_envs={self.n_envs}, num_timesteps={self.num_timesteps})"


def _algorithm_class(name: str) -> type[BaseAgent]:
    module = ALGORITHMS.get(name)
    if module is None:
        raise CheckpointError(f"the checkpoint names an unknown algorithm {name!r}; known: {sorted(ALGORITHMS)}")
    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise CheckpointError(f"algorithm {name!r} is not available in this trmarl ({exc})") from exc


def load(path: str | os.PathLike[str], env: Any = None, device: str | torch.device = "auto", **kwargs: Any) -> BaseAgent:
    """Load any trmarl checkpoint, dispatching on the algorithm stored in it (``trmarl.load``).

    Args:
        path: The checkpoint zip.
        env: Optional training env (see :meth:`BaseAgent.load`).
        device: Where to put the networks.
        **kwargs: See :meth:`BaseAgent.load`.
    """
    return BaseAgent.load(path, env=env, device=device, **kwargs)
