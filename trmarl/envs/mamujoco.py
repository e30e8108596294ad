"""Multi-Agent MuJoCo (MaMuJoCo): MuJoCo robots split into cooperating agents, one per group of joints.

``MaMuJoCoEnv`` is a PettingZoo ``ParallelEnv`` around Gymnasium-Robotics' ``mamujoco_v1`` (its
``MultiAgentMujocoEnv`` over the Gymnasium ``-v5`` MuJoCo tasks). It adds what a centralized-critic learner needs and
the stock env lacks: ``state_space``, a ``render_mode`` attribute, a time limit kept apart from termination, float32
observations, a ``"global"`` observation mode (HARL's setting), input checks, and a faster step.

>>> import trmarl
>>> env = trmarl.make("MaMuJoCo-HalfCheetah-2x3")                    # local (k-hop) observations
>>> env = trmarl.make("MaMuJoCo-HalfCheetah-2x3", obs_mode="global")  # state + one-hot agent id, as in HARL
>>> obs, infos = env.reset(seed=0)
>>> obs, rewards, terminations, truncations, infos = env.step({a: env.action_space(a).sample() for a in env.agents})

Ids
---
``MaMuJoCo-<Scenario>-<conf>``, with ``x`` where Gymnasium-Robotics writes ``|`` (``MaMuJoCo-Humanoid-9x8`` is
``agent_conf="9|8"``): HalfCheetah ``2x3``/``6x1``, Ant ``2x4``/``2x4d``/``4x2``, Hopper ``3x1``, Walker2d ``2x3``,
Humanoid ``9x8``, HumanoidStandup ``9x8``, Reacher ``2x1``, Pusher ``3p``, Swimmer ``2x1``, ManySegmentSwimmer
``10x2``/``4x2``, ManySegmentAnt ``2x3``/``3x2``. ``MaMuJoCo-CoupledHalfCheetah-1p1`` stays listed but raises
``NotImplementedError``: Gymnasium-Robotics 1.4.2 fails on it with MuJoCo >= 3.6 (an ``IndexError`` in ``obsk.py``, as
``ten_J`` became sparse; Gymnasium-Robotics PR #300 and #307). ``docs/envs_mamujoco.md`` has the table of dimensions.

Agents and spaces
-----------------
* Agents ``agent_0 ... agent_{n-1}``, fixed; all of them act every step until the episode ends.
* Actions: one ``Box`` per agent (float32) with the true bounds of that agent's actuators ([-1, 1] for most
  scenarios, [-0.4, 0.4] for Humanoid, [-2, 2] for Pusher). Actions are not clipped here (MuJoCo clamps controls to
  their range). A missing agent, an unknown agent, a wrong shape or a non-finite value raises ``ValueError`` naming
  the agent.
* ``state()`` is the single-agent task's observation (``HalfCheetah-v5``'s 17 numbers, ...) as float32;
  ``state_space`` is its ``Box``.
* Observations, float32, by ``obs_mode``:

  - ``"local"`` (default, as Gymnasium-Robotics): each agent sees the positions and velocities of its own joints,
    the positions of the joints up to ``agent_obsk`` hops away in the robot's graph, and the scenario's global
    items (e.g. the torso). Dimensions differ between agents (Hopper 3x1: 8, 9, 8).
  - ``"global"`` (HARL's setting): every agent sees ``concat(state(), one_hot(agent_index))``, so the actor input
    is ``state_dim + n_agents`` (HalfCheetah 2x3: 17 + 2 = 19).

Rewards, termination, truncation
--------------------------------
The team reward of the single-agent task is given to every agent. ``terminations`` are the task's own (Hopper,
Walker2d, Ant, Humanoid, HumanoidStandup and ManySegmentAnt end when the robot becomes unhealthy);
``truncations`` are the time limit only: ``max_episode_steps`` steps (default the task's own: 1000, Reacher 50,
Pusher 100). After either, ``agents`` is empty until ``reset``.

Fast step
---------
The stock step rebuilds every observation in Python (``obsk.build_obs``) and maps actions node by node. With
``fast_obs`` on, index arrays computed once turn a step into: scatter the actions into one control vector, step the
single-agent MuJoCo env, gather each agent's observation from the task's observation by fancy indexing. It gives the
same observations, rewards and flags bit for bit where tests show it (``FAST_OBS_CONFIGS``). Not in ``"local"`` mode
for Walker2d (its task observation clips joint velocities to [-10, 10], its local observations do not), Reacher and
Pusher (no index factorization), or ManySegmentAnt (upstream, its local observations read wrong joints, some of them
the torso's x and y, which the task observation drops). ``fast_obs=None`` turns it on for the verified pairs and for
every ``"global"`` env (whose observations are the task observation itself).

Differences from HARL's MaMuJoCo (``-v2``)
-------------------------------------------
HARL vendors the original ``multiagent_mujoco`` on gym 0.21 and mujoco-py with the ``-v2`` tasks. There every agent
observes ``z(concat(s, one_hot(i)))`` with ``z`` a z-score over the features of that one sample, whatever
``agent_obsk`` says, and the critic ``z(s)``; ``obs_mode="global"`` gives ``concat(s, one_hot(i))`` and ``state() = s``,
and ``obs_mode="global", obs_zscore=True`` adds HARL's per-sample z-score to both. The
``-v5`` tasks differ slightly from ``-v2`` in dynamics and observation layout (Ant 105 state dims instead of 111,
Humanoid 348 instead of 376: the world body's terms are dropped), so HARL's published returns are a guide, not a
target to match to the digit. HARL gives every agent agent 0's action ``Box`` (wrong for unequal partitions such as
Humanoid 9|8); here each agent has its own. ``obs_mode="local"`` (Gymnasium-Robotics' default) is a partially
observed, harder benchmark than HARL's; its numbers are not comparable with HARL's.

Rendering
---------
``render_mode="rgb_array"`` returns ``(H, W, 3)`` uint8 frames without a display (``width``/``height`` keyword
arguments set the size): if neither ``MUJOCO_GL`` nor a display is set, the env sets ``MUJOCO_GL=egl`` (and
``PYOPENGL_PLATFORM=egl``) when it is made; where neither EGL nor OSMesa works, ``render()`` raises a
``RuntimeError`` saying so. ``render_mode="human"`` needs a display: without one the constructor raises
``RuntimeError`` (GLFW would otherwise abort the process). Frames come from the model's ``track`` camera, which
follows the robot, where the model has one and no camera keyword is given.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import sys
import warnings
from collections.abc import Mapping
from typing import Any

import gymnasium
import numpy as np
import numpy.typing as npt
from pettingzoo import ParallelEnv

__all__ = ["FAST_OBS_CONFIGS", "SCENARIOS", "MaMuJoCoEnv"]

#: Scenarios Gymnasium-Robotics 1.4.2 offers, with the Gymnasium task each one factorizes.
SCENARIOS: dict[str, str] = {
    "HalfCheetah": "HalfCheetah-v5",
    "Ant": "Ant-v5",
    "Hopper": "Hopper-v5",
    "Walker2d": "Walker2d-v5",
    "Humanoid": "Humanoid-v5",
    "HumanoidStandup": "HumanoidStandup-v5",
    "Reacher": "Reacher-v5",
    "Pusher": "Pusher-v5",
    "Swimmer": "Swimmer-v5",
    "ManySegmentSwimmer": "Swimmer-v5",
    "ManySegmentAnt": "Ant-v5",
    "CoupledHalfCheetah": "HalfCheetah-v5",
}

#: (scenario, Gymnasium-Robotics agent_conf) pairs whose fast local observations tests show to be bit-identical to the
#: stock ``build_obs`` (``tests/test_mamujoco.py::test_fast_matches_stock``), for ``agent_obsk`` in ``FAST_OBS_OBSK``.
FAST_OBS_CONFIGS: frozenset[tuple[str, str]] = frozenset(
    {
        ("HalfCheetah", "2x3"),
        ("HalfCheetah", "6x1"),
        ("Ant", "2x4"),
        ("Ant", "2x4d"),
        ("Ant", "4x2"),
        ("Hopper", "3x1"),
        ("Humanoid", "9|8"),
        ("HumanoidStandup", "9|8"),
        ("Swimmer", "2x1"),
        ("ManySegmentSwimmer", "10x2"),
        ("ManySegmentSwimmer", "4x2"),
    }
)
#: The ``agent_obsk`` values the fast-path tests cover.
FAST_OBS_OBSK: frozenset[int] = frozenset({0, 1, 2})

# Gymnasium keyword arguments that leave the observations alone (anything else turns the automatic fast path off).
_OBS_NEUTRAL_KWARGS = frozenset(
    {
        "frame_skip",
        "reset_noise_scale",
        "healthy_reward",
        "terminate_when_unhealthy",
        "healthy_z_range",
        "healthy_state_range",
        "healthy_angle_range",
        "main_body",
        "default_camera_config",
        "width",
        "height",
        "camera_id",
        "camera_name",
        "visual_options",
        "max_geom",
    }
)
_COUPLED_MESSAGE = (
    "MaMuJoCo-CoupledHalfCheetah is broken in gymnasium-robotics 1.4.2 with MuJoCo >= 3.6 (this is MuJoCo {}): "
    "its observation builder raises IndexError in obsk.py because MuJoCo's tendon Jacobian ten_J is now sparse "
    "(Gymnasium-Robotics PR #300 pinned MuJoCo <= 3.5.0, PR #307 re-allowed newer versions except for this scenario). "
    "Use another scenario, or MuJoCo <= 3.5.0 with gymnasium_robotics.mamujoco_v1 directly."
)
_RENDER_MODES = ("human", "rgb_array")

Obs = npt.NDArray[np.float32]


class MaMuJoCoEnv(ParallelEnv[str, Obs, npt.NDArray[np.floating[Any]]]):
    """A MaMuJoCo task as a PettingZoo ``ParallelEnv`` with ``state()``, ``state_space`` and a global obs mode.

    Args:
        scenario: The robot: ``"HalfCheetah"``, ``"Ant"``, ``"Hopper"``, ``"Walker2d"``, ``"Humanoid"``,
            ``"HumanoidStandup"``, ``"Reacher"``, ``"Pusher"``, ``"Swimmer"``, ``"ManySegmentSwimmer"`` or
            ``"ManySegmentAnt"``.
        agent_conf: The partition into agents, in Gymnasium-Robotics' spelling (``"2x3"``, ``"9|8"``, ``"3p"``);
            trmarl's id spelling (``"9x8"``) is accepted too.
        agent_obsk: Graph distance (in joints) up to which an agent observes other joints' positions (``"local"``
            mode only); 0 observes only the agent's own joints.
        obs_mode: ``"local"`` (Gymnasium-Robotics' k-hop partial observations) or ``"global"``
            (``concat(state(), one_hot(agent_index))`` for every agent, HARL's setting).
        max_episode_steps: Steps after which an episode is truncated; ``None`` keeps the task's own limit
            (1000; Reacher 50, Pusher 100).
        render_mode: ``None``, ``"human"`` or ``"rgb_array"``.
        fast_obs: Use the index-array step (see the module docs). ``None`` decides automatically: on for the
            pairs in ``FAST_OBS_CONFIGS`` and for ``"global"`` mode. ``True`` forces it (with a warning where it is
            not verified to match the stock observations; ``ValueError`` where there is no factorization).
        obs_zscore: HARL's per-sample z-score (``"global"`` mode only): every agent observes
            ``z(concat(s, one_hot(i)))`` and ``state()`` is ``z(s)``, with ``z(x) = (x - mean(x)) / std(x)`` over the
            features of that one vector. Off by default (raw ``s``).
        **gym_kwargs: Passed to the Gymnasium ``-v5`` task (``ctrl_cost_weight``, ``reset_noise_scale``, ``width``,
            ...). Keyword arguments that change observations turn the automatic fast path off.

    Raises:
        ValueError: For an unknown scenario or agent_conf, a bad ``obs_mode``, ``agent_obsk``,
            ``max_episode_steps`` or ``render_mode``, ``obs_zscore=True`` outside ``"global"`` mode, or
            ``fast_obs=True`` where no fast path exists.
        NotImplementedError: For ``"CoupledHalfCheetah"`` (broken upstream with this MuJoCo).
        RuntimeError: ``render_mode="human"`` on Linux without a display.
    """

    metadata: dict[str, Any] = {"render_modes": list(_RENDER_MODES), "name": "mamujoco_v1", "is_parallelizable": True}

    def __init__(
        self,
        scenario: str,
        agent_conf: str,
        agent_obsk: int = 1,
        obs_mode: str = "local",
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        fast_obs: bool | None = None,
        obs_zscore: bool = False,
        **gym_kwargs: Any,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown MaMuJoCo scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
        if scenario == "CoupledHalfCheetah":
            import mujoco

            raise NotImplementedError(_COUPLED_MESSAGE.format(mujoco.__version__))
        if obs_mode not in ("local", "global"):
            raise ValueError(f"obs_mode must be 'local' or 'global', got {obs_mode!r}")
        if not isinstance(obs_zscore, (bool, np.bool_)):
            raise ValueError(f"obs_zscore must be True or False, got {obs_zscore!r}")
        if obs_zscore and obs_mode != "global":
            raise ValueError("obs_zscore=True needs obs_mode='global' (HARL's setting); 'local' observations are raw")
        if isinstance(agent_obsk, bool) or not isinstance(agent_obsk, (int, np.integer)) or agent_obsk < 0:
            raise ValueError(f"agent_obsk must be an integer >= 0, got {agent_obsk!r}")
        if max_episode_steps is None:
            env_spec = gymnasium.spec(SCENARIOS[scenario])
            max_episode_steps = int(env_spec.max_episode_steps or 1000)
        elif (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, (int, np.integer))
            or max_episode_steps < 1
        ):
            raise ValueError(f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}")
        if render_mode is not None and render_mode not in _RENDER_MODES:
            raise ValueError(f"render_mode must be None or one of {_RENDER_MODES}, got {render_mode!r}")
        if fast_obs not in (None, True, False):
            raise ValueError(f"fast_obs must be None, True or False, got {fast_obs!r}")
        agent_conf = _gr_agent_conf(scenario, agent_conf)
        if render_mode == "human" and sys.platform.startswith("linux") and not _has_display():
            # Without this check GLFW aborts the whole process (a C assertion) at the first frame.
            raise RuntimeError("render_mode='human' needs a display (DISPLAY is not set); use render_mode='rgb_array'")
        if render_mode == "rgb_array":
            _prefer_headless_gl()

        self.scenario = scenario
        self.agent_conf = agent_conf
        self.agent_obsk = int(agent_obsk)
        self.obs_mode = obs_mode
        self.obs_zscore = bool(obs_zscore)
        self.max_episode_steps = int(max_episode_steps)
        self.render_mode = render_mode
        self.gym_kwargs = dict(gym_kwargs)

        # The stock env; its single-agent task keeps our time limit so that both step paths truncate alike.
        self.stock_env = _make_stock_env(
            scenario, agent_conf, self.agent_obsk, render_mode, max_episode_steps=self.max_episode_steps, **gym_kwargs
        )
        self.single_agent_env: gymnasium.Env[Any, Any] = self.stock_env.single_agent_env
        self._mujoco_env: Any = self.single_agent_env.unwrapped
        self.metadata = {**type(self).metadata, "render_fps": self._mujoco_env.metadata.get("render_fps")}
        if render_mode is not None and not {"camera_id", "camera_name", "default_camera_config"} & set(gym_kwargs):
            self._follow_with_track_camera()

        self.possible_agents: list[str] = list(self.stock_env.possible_agents)
        self.agents: list[str] = []
        self.n_agents = len(self.possible_agents)

        # Spaces (built once: observation_space/action_space return the same objects every call).
        sa_obs_space = self.single_agent_env.observation_space
        assert sa_obs_space.shape is not None
        self.state_dim = int(sa_obs_space.shape[0])
        self.state_space = gymnasium.spaces.Box(-np.inf, np.inf, shape=(self.state_dim,), dtype=np.float32)
        self._act_ids = [
            np.array([node.act_ids for node in part], dtype=np.int64) for part in self.stock_env.agent_action_partitions
        ]
        self._act_dims = [len(ids) for ids in self._act_ids]
        self._act_bounds = list(itertools.pairwise(np.cumsum([0, *self._act_dims]).tolist()))
        sa_low = np.asarray(self.single_agent_env.action_space.low, dtype=np.float32)  # type: ignore[attr-defined]
        sa_high = np.asarray(self.single_agent_env.action_space.high, dtype=np.float32)  # type: ignore[attr-defined]
        self.action_spaces: dict[str, gymnasium.spaces.Box] = {
            agent: gymnasium.spaces.Box(sa_low[ids], sa_high[ids], dtype=np.float32)
            for agent, ids in zip(self.possible_agents, self._act_ids)
        }
        local_dims = [int(self.stock_env.observation_spaces[a].shape[0]) for a in self.possible_agents]
        self.local_obs_dims = local_dims
        if obs_mode == "global":
            low = np.concatenate([np.full(self.state_dim, -np.inf), np.zeros(self.n_agents)]).astype(np.float32)
            high = np.concatenate([np.full(self.state_dim, np.inf), np.ones(self.n_agents)]).astype(np.float32)
            if self.obs_zscore:  # the z-score moves the one-hot features too
                low, high = np.full_like(low, -np.inf), np.full_like(high, np.inf)
            self.observation_spaces: dict[str, gymnasium.spaces.Box] = {
                agent: gymnasium.spaces.Box(low, high, dtype=np.float32) for agent in self.possible_agents
            }
        else:
            self.observation_spaces = {
                agent: gymnasium.spaces.Box(-np.inf, np.inf, shape=(dim,), dtype=np.float32)
                for agent, dim in zip(self.possible_agents, local_dims)
            }

        # Index arrays of the fast path: controls <- concatenated actions, local observations <- task observation.
        nu = int(self._mujoco_env.model.nu)
        all_act_ids = np.concatenate(self._act_ids) % nu
        self._ctrl_perm: npt.NDArray[np.int64] | None = None
        if np.array_equal(np.sort(all_act_ids), np.arange(nu)):
            self._ctrl_perm = np.argsort(all_act_ids)  # ctrl = concat(actions)[perm]
        self._obs_index: npt.NDArray[np.int64] | None = None
        self._obs_bounds: list[tuple[int, int]] = []
        factorization = self.stock_env.observation_factorization
        if factorization is not None:
            index = [np.asarray(factorization[a], dtype=np.int64) for a in self.possible_agents]
            if [len(i) for i in index] == local_dims:
                self._obs_index = np.concatenate(index)
                offsets = np.cumsum([0, *local_dims])
                self._obs_bounds = [(int(s), int(e)) for s, e in itertools.pairwise(offsets)]
        self._one_hot = np.eye(self.n_agents, dtype=np.float32)
        self.fast_obs = self._resolve_fast_obs(fast_obs)

        self._state: Obs | None = None
        self._n_steps = 0
        self._pad_ctrl_cache: dict[int, npt.NDArray[np.int64]] = {}
        self._pad_obs_index: npt.NDArray[np.int64] | None = None

    # ------------------------------------------------------------------------------------------------------------
    # PettingZoo API
    # ------------------------------------------------------------------------------------------------------------

    def observation_space(self, agent: str) -> gymnasium.spaces.Box:
        """The observation ``Box`` of ``agent`` (float32; the same object every call)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.spaces.Box:
        """The action ``Box`` of ``agent`` (float32; the same object every call)."""
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Obs], dict[str, dict]]:
        """Start an episode.

        Args:
            seed: Seeds the MuJoCo task's initial-state noise and, with ``seed + i``, agent ``i``'s action space.
            options: Passed to the single-agent task's ``reset``.

        Returns:
            ``(observations, infos)`` keyed by agent.
        """
        if seed is not None:
            for i, agent in enumerate(self.possible_agents):
                self.action_spaces[agent].seed(int(seed) + i)
        if self.fast_obs:
            sa_obs, info = self.single_agent_env.reset(seed=seed, options=options)
            observations = self._observe(sa_obs)
        else:
            local, infos = self.stock_env.reset(seed=seed, options=options)
            observations, info = self._observe_stock(local), infos[self.possible_agents[0]]
        self.agents = list(self.possible_agents)
        self._n_steps = 0
        return observations, {agent: info for agent in self.agents}

    def step(
        self, actions: Mapping[str, npt.ArrayLike]
    ) -> tuple[dict[str, Obs], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict]]:
        """Advance one step with every live agent's action.

        Args:
            actions: One action per agent in ``agents`` (shape ``action_space(agent).shape``, finite).

        Returns:
            ``(observations, rewards, terminations, truncations, infos)`` keyed by agent; the reward is the team
            reward. When the episode ends ``agents`` becomes empty.

        Raises:
            ValueError: A missing or unknown agent, an action of the wrong shape, or a non-finite action.
            RuntimeError: ``step`` before ``reset`` or after the episode ended.
        """
        if not self.agents:
            raise RuntimeError("MaMuJoCoEnv.step called with no live agents: call reset() first (the episode has ended)")
        flat = self._flat_actions(actions)
        self._n_steps += 1
        if self.fast_obs:
            assert self._ctrl_perm is not None
            sa_obs, reward, terminated, truncated, info = self._mujoco_env.step(flat[self._ctrl_perm])
            observations = self._observe(sa_obs)
        else:
            per_agent = {agent: flat[s:e] for agent, (s, e) in zip(self.possible_agents, self._act_bounds)}
            local, rewards, terminations, truncations, infos = self.stock_env.step(per_agent)
            agent_0 = self.possible_agents[0]
            reward, terminated, truncated, info = rewards[agent_0], terminations[agent_0], truncations[agent_0], infos[agent_0]
            observations = self._observe_stock(local)
        reward = float(reward)
        terminated = bool(terminated)
        truncated = bool(truncated) or self._n_steps >= self.max_episode_steps
        agents = self.agents
        if terminated or truncated:
            self.agents = []
        return (
            observations,
            dict.fromkeys(agents, reward),
            dict.fromkeys(agents, terminated),
            dict.fromkeys(agents, truncated),
            {agent: info for agent in agents},
        )

    # ------------------------------------------------------------------------------------------------------------
    # Array protocol (used by trmarl's vectorized envs; no dicts on the hot path)
    # ------------------------------------------------------------------------------------------------------------

    @property
    def supports_array_api(self) -> bool:
        """Whether :meth:`step_arrays`/:meth:`reset_arrays` can be used (only on the verified fast path)."""
        return self.fast_obs

    def reset_arrays(self, seed: int | None, obs_out: np.ndarray, state_out: np.ndarray) -> dict[str, Any]:
        """:meth:`reset`, writing the observations into ``obs_out`` ``(N, D)`` and the state into ``state_out``.

        ``D`` may exceed the widest observation (vectorized envs pad); the padding is written with zeros.
        Returns the task's info dict.
        """
        if seed is not None:
            for i, agent in enumerate(self.possible_agents):
                self.action_spaces[agent].seed(int(seed) + i)
        sa_obs, info = self.single_agent_env.reset(seed=seed)
        self._write_arrays(sa_obs, obs_out, state_out)
        self.agents = list(self.possible_agents)
        self._n_steps = 0
        return info

    def step_arrays(
        self, actions: np.ndarray, obs_out: np.ndarray, state_out: np.ndarray
    ) -> tuple[float, bool, bool, dict[str, Any]]:
        """:meth:`step` for already-validated actions ``(N, act_dim)`` (padded rows, extra columns ignored).

        Writes the observations into ``obs_out`` and the state into ``state_out``; returns
        ``(team_reward, terminated, truncated, info)``. The results equal :meth:`step`'s bit for bit.
        """
        if not self.agents:
            raise RuntimeError("MaMuJoCoEnv.step_arrays called with no live agents: call reset_arrays() first")
        pad_index = self._padded_ctrl_index(actions.shape[1])
        self._n_steps += 1
        ctrl = actions.reshape(-1)[pad_index].astype(np.float64)
        sa_obs, reward, terminated, truncated, info = self._mujoco_env.step(ctrl)
        self._write_arrays(sa_obs, obs_out, state_out)
        terminated = bool(terminated)
        truncated = bool(truncated) or self._n_steps >= self.max_episode_steps
        if terminated or truncated:
            self.agents = []
        return float(reward), terminated, truncated, info

    def _padded_ctrl_index(self, act_dim: int) -> npt.NDArray[np.int64]:
        cached = self._pad_ctrl_cache.get(act_dim)
        if cached is None:
            assert self._ctrl_perm is not None
            flat = np.concatenate([n * act_dim + np.arange(d) for n, d in enumerate(self._act_dims)])
            cached = self._pad_ctrl_cache[act_dim] = flat[self._ctrl_perm]
        return cached

    def _write_arrays(self, sa_obs: np.ndarray, obs_out: np.ndarray, state_out: np.ndarray) -> None:
        state = self._set_state(sa_obs)
        state_out[:] = state
        if self.obs_mode == "global":
            width = self.state_dim + self.n_agents
            obs_out[:, :width] = self._global_rows(sa_obs)
            obs_out[:, width:] = 0.0
            return
        assert self._obs_index is not None
        if self._pad_obs_index is None or self._pad_obs_index.shape[1] != obs_out.shape[1]:
            index = np.full((self.n_agents, obs_out.shape[1]), self.state_dim, dtype=np.int64)
            for n, (s, e) in enumerate(self._obs_bounds):
                index[n, : e - s] = self._obs_index[s:e]
            self._pad_obs_index = index
        extended = np.append(state, np.float32(0.0))
        obs_out[:] = extended[self._pad_obs_index]

    def state(self) -> Obs:
        """The global state: the single-agent task's observation (float32), as of the last ``reset``/``step``."""
        if self._state is None:
            return np.asarray(self._mujoco_env._get_obs(), dtype=np.float32)
        return self._state.copy()

    def _follow_with_track_camera(self) -> None:
        """Render from the model's ``track`` camera (it follows the robot) where the model has one.

        Gymnasium >= 1.3 renders from a fixed free camera unless a camera is named, so a running HalfCheetah leaves
        the picture after a second; an explicit ``camera_id``/``camera_name``/``default_camera_config`` is kept.
        """
        import mujoco

        renderer = getattr(self._mujoco_env, "mujoco_renderer", None)
        if renderer is None:
            return
        track = mujoco.mj_name2id(self._mujoco_env.model, mujoco.mjtObj.mjOBJ_CAMERA, "track")
        if track != -1:
            renderer.camera_id = track

    def render(self) -> np.ndarray | None:
        """Render with the task's MuJoCo renderer: an ``(H, W, 3)`` uint8 frame for ``"rgb_array"``, None otherwise.

        Raises:
            RuntimeError: When no OpenGL context can be made (neither EGL nor OSMesa for ``"rgb_array"``).
        """
        if self.render_mode is None:
            gymnasium.logger.warn("MaMuJoCoEnv.render() called without render_mode; pass render_mode='rgb_array'.")
            return None
        try:
            return self.single_agent_env.render()  # type: ignore[return-value]
        except Exception as exc:
            backend = os.environ.get("MUJOCO_GL", "default (glfw)")
            hint = (
                "render_mode='human' needs a display"
                if self.render_mode == "human"
                else "off-screen rendering needs EGL (libegl1) or OSMesa (libosmesa6); set MUJOCO_GL=egl or MUJOCO_GL=osmesa"
            )
            raise RuntimeError(f"MaMuJoCo rendering failed with MUJOCO_GL={backend}: {hint} ({exc})") from exc

    def close(self) -> None:
        """Release the MuJoCo renderer and simulator."""
        self.stock_env.close()

    # ------------------------------------------------------------------------------------------------------------
    # Internals
    # ------------------------------------------------------------------------------------------------------------

    def _resolve_fast_obs(self, fast_obs: bool | None) -> bool:
        """Decide whether this env uses the index-array step (see ``fast_obs`` in the class docs)."""
        has_actions = self._ctrl_perm is not None
        if self.obs_mode == "global":
            available, verified = has_actions, has_actions
        else:
            available = has_actions and self._obs_index is not None
            neutral = all(k in _OBS_NEUTRAL_KWARGS or k.endswith("_weight") for k in self.gym_kwargs)
            verified = (
                available
                and (self.scenario, self.agent_conf) in FAST_OBS_CONFIGS
                and self.agent_obsk in FAST_OBS_OBSK
                and neutral
            )
        if fast_obs is None:
            return verified
        if fast_obs and not available:
            raise ValueError(
                f"fast_obs=True: MaMuJoCo {self.scenario} {self.agent_conf!r} has no index factorization of its "
                f"{self.obs_mode} observations; use fast_obs=None or False"
            )
        if fast_obs and not verified:
            warnings.warn(
                f"fast_obs=True for MaMuJoCo {self.scenario} {self.agent_conf!r} (agent_obsk={self.agent_obsk}): its fast "
                "observations are not verified to match the stock ones (Walker2d's clip joint velocities to [-10, 10])",
                stacklevel=3,
            )
        return bool(fast_obs)

    def _flat_actions(self, actions: Mapping[str, npt.ArrayLike]) -> npt.NDArray[np.float64]:
        """Check the actions and concatenate them in agent order (float64)."""
        if not isinstance(actions, Mapping):
            raise ValueError(f"actions must be a dict keyed by agent, got {type(actions).__name__}")
        parts = []
        for agent, dim in zip(self.possible_agents, self._act_dims):
            if agent not in actions:
                raise ValueError(f"no action for agent {agent!r}; step needs one action for each of {self.agents}")
            try:
                action = np.asarray(actions[agent], dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"action of agent {agent!r} is not numeric: {exc}") from exc
            if action.shape != (dim,):
                if action.size == dim and action.ndim <= 1:
                    action = action.reshape(dim)
                else:
                    raise ValueError(f"action of agent {agent!r} has shape {action.shape}, expected ({dim},)")
            parts.append(action)
        flat = np.concatenate(parts)
        if not np.isfinite(flat).all():
            bad = next(a for a, p in zip(self.possible_agents, parts) if not np.isfinite(p).all())
            raise ValueError(f"action of agent {bad!r} is not finite: {actions[bad]!r}")
        if len(actions) != self.n_agents:
            unknown = sorted(set(actions) - set(self.possible_agents), key=str)
            raise ValueError(f"actions for unknown agents {unknown}; the agents are {self.possible_agents}")
        return flat

    def _observe(self, sa_obs: np.ndarray) -> dict[str, Obs]:
        """Observations from the task observation by index arrays (the fast path); caches the state."""
        state = self._set_state(sa_obs)
        if self.obs_mode == "global":
            return self._global_obs(sa_obs)
        assert self._obs_index is not None
        gathered = state[self._obs_index]
        return {agent: gathered[s:e] for agent, (s, e) in zip(self.possible_agents, self._obs_bounds)}

    def _observe_stock(self, local: dict[str, np.ndarray]) -> dict[str, Obs]:
        """Observations from Gymnasium-Robotics' own builders (``build_obs`` / ``state()``); caches the state."""
        raw = np.asarray(self.stock_env.state())
        self._set_state(raw)
        if self.obs_mode == "global":
            return self._global_obs(raw)
        return {agent: np.asarray(local[agent], dtype=np.float32) for agent in self.possible_agents}

    def _set_state(self, sa_obs: np.ndarray) -> Obs:
        """Cache and return the critic's state: the task observation, z-scored with ``obs_zscore``."""
        self._state = _zscore(sa_obs) if self.obs_zscore else np.asarray(sa_obs, dtype=np.float32)
        return self._state

    def _global_rows(self, sa_obs: np.ndarray) -> npt.NDArray[np.float32]:
        """``concat(s, one_hot(i))`` for every agent ``i`` as the rows of one array, each z-scored with ``obs_zscore``."""
        rows = np.empty((self.n_agents, self.state_dim + self.n_agents), dtype=np.float64 if self.obs_zscore else np.float32)
        rows[:, : self.state_dim] = sa_obs
        rows[:, self.state_dim :] = self._one_hot
        return _zscore(rows) if self.obs_zscore else rows

    def _global_obs(self, sa_obs: np.ndarray) -> dict[str, Obs]:
        """The ``"global"`` observations of the task observation ``sa_obs``, one row per agent."""
        rows = self._global_rows(sa_obs)
        return {agent: rows[i] for i, agent in enumerate(self.possible_agents)}


def _zscore(x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """HARL's per-sample z-score over the last axis, ``(x - mean(x)) / std(x)``, in float64, returned as float32."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    return ((x - mean) / np.maximum(std, 1e-8)).astype(np.float32)


def _gr_agent_conf(scenario: str, agent_conf: str) -> str:
    """Translate trmarl's id spelling of a partition (``"9x8"``) to Gymnasium-Robotics' (``"9|8"``) where needed."""
    if not isinstance(agent_conf, str):
        raise ValueError(f"agent_conf must be a string such as '2x3', got {agent_conf!r}")
    from trmarl.envs.catalog import MAMUJOCO_CONFIGS

    for known_scenario, conf, gr_conf in MAMUJOCO_CONFIGS:
        if known_scenario == scenario and agent_conf == conf:
            return gr_conf
    return agent_conf


def _make_stock_env(scenario: str, agent_conf: str, agent_obsk: int, render_mode: str | None, **kwargs: Any) -> Any:
    """Build Gymnasium-Robotics' ``MultiAgentMujocoEnv``, turning its bare ``Exception`` for a bad conf into ValueError.

    Two messages that do not concern the user are kept out of stderr: gymnasium-robotics' import-time notice about its
    Adroit envs, and MuJoCo's compiler deprecation of the ``settotalmass`` attribute in Gymnasium's own model files.
    Any other MuJoCo warning is passed on as a Python ``RuntimeWarning``.
    """
    import mujoco

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        from gymnasium_robotics.envs.multiagent_mujoco.mujoco_multi import MultiAgentMujocoEnv
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(_forward_mujoco_warning)
    try:
        return MultiAgentMujocoEnv(scenario, agent_conf, agent_obsk=agent_obsk, render_mode=render_mode, **kwargs)
    except Exception as exc:
        if "UNKNOWN partitioning" in str(exc) or "UNKNOWN" in str(exc):
            from trmarl.envs.catalog import MAMUJOCO_CONFIGS

            known = [gr for s, _, gr in MAMUJOCO_CONFIGS if s == scenario]
            raise ValueError(f"unknown agent_conf {agent_conf!r} for MaMuJoCo {scenario}; known: {known}") from exc
        raise
    finally:
        mujoco.set_mju_user_warning(previous)


def _forward_mujoco_warning(message: str) -> None:
    if "settotalmass" not in message:
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)


def _prefer_headless_gl() -> None:
    """Pick EGL for off-screen frames when there is no display and the user chose no OpenGL backend."""
    if "MUJOCO_GL" in os.environ or not sys.platform.startswith("linux") or _has_display():
        return
    os.environ["MUJOCO_GL"] = "egl"
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def _has_display() -> bool:
    """Whether an X11 or Wayland display is set."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
