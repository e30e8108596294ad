"""The QTRAN paper's one-step games: the matrix game and (multi-domain) Gaussian squeeze.

Both are fully cooperative one-step games from Son et al., *QTRAN: Learning to Factorize with Transformation for
Cooperative Multi-Agent Reinforcement Learning* (ICML 2019). The authors' code
(``Others/envs/environment.py``, classes ``MultiAgentSimpleEnv2`` and ``MultiAgentSimpleEnv4``) is the reference.

=====================  ==========================================================================================
Import                 ``trmarl.make("MatrixGame-QTRAN")``, ``trmarl.make("GaussianSqueeze")``,
                       ``trmarl.make("MultiDomainGaussianSqueeze")``
Classes                :class:`MatrixGameEnv`, :class:`GaussianSqueezeEnv`
Agents                 ``agent_0``, ``agent_1`` (Gaussian squeeze: ``agent_0`` ... ``agent_{N-1}``)
Actions                Discrete (3 each for the matrix game, 11 each for Gaussian squeeze)
Episode length         1 step; the step returns ``terminated=True`` for every agent (never ``truncated``)
Reward                 the team reward, given in full to **every** agent
Render modes           ``None``, ``"ansi"``
=====================  ==========================================================================================

Team reward:
    Each agent's reward is the whole team reward (not a share of it). trmarl's vectorized envs average the agents'
    rewards to get the team reward, so the learner sees exactly the game's payoff. The authors' code returns one
    reward for the team, so the two agree.

Matrix game (``MatrixGame-QTRAN``):
    Two agents pick one of three actions at once and both receive ``payoff[a_0, a_1]`` (row = ``agent_0``,
    column = ``agent_1``), then the episode ends. The default payoff is the QTRAN paper's non-monotonic game
    (:data:`QTRAN_PAYOFF`)::

              A     B     C
        A     8   -12   -12
        B   -12     0     0
        C   -12     0     0

    The optimum (A, A) = 8 sits next to -12 penalties, so VDN and QMIX, whose joint values are monotonic in the
    agents' values, settle on the 0 plateau. ``payoff=`` accepts any 2-D table of finite numbers (rows = actions of
    ``agent_0``, columns = actions of ``agent_1``), e.g. :data:`PYMARL2_PAYOFF`, pymarl2's one-step matrix game.
    Observation and state are the one-hot step counter of size 2 (``[1, 0]`` before the step, ``[0, 1]`` after it),
    as in pymarl2; the authors' code uses the constant ``[1]``, which carries the same (no) information.

Gaussian squeeze (``GaussianSqueeze``, ``MultiDomainGaussianSqueeze``):
    Each episode draws ``x_i ~ U(0, 2)`` for every agent ``i`` (the state). Each agent picks ``u_i`` in
    ``{0, ..., 10}``; with ``r = sum_i u_i x_i / N`` every agent receives

    * Gaussian squeeze (GS): ``G(r) = r exp(-(r - 8)^2 / 0.25)``, a single peak of about 8 at ``r = 8``;
    * multi-domain GS (MGS): ``G(r) = r exp(-(r - 5)^2 / 1) + r exp(-(r - 8)^2 / 0.25)``, a wide local optimum of
      about 5 at ``r = 5`` and a narrow global one of about 8 at ``r = 8``.

    With ``obs_mode="global"`` (the default, as in the authors' code, where every agent sees the state) each agent
    observes the whole vector ``x``; with ``obs_mode="local"`` it observes only its own ``x_i``. The state is ``x``.

Example:
    >>> import trmarl
    >>> env = trmarl.make("MatrixGame-QTRAN")
    >>> obs, infos = env.reset(seed=0)
    >>> _, rewards, terminated, truncated, _ = env.step({"agent_0": 0, "agent_1": 0})
    >>> rewards["agent_0"], terminated["agent_0"], truncated["agent_0"]
    (8.0, True, False)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import gymnasium
import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike
from pettingzoo import ParallelEnv

__all__ = [
    "QTRAN_PAYOFF",
    "PYMARL2_PAYOFF",
    "MatrixGameEnv",
    "GaussianSqueezeEnv",
    "squeeze_value",
    "check_discrete_actions",
]

#: The QTRAN paper's non-monotonic matrix game (row = agent 0, column = agent 1).
QTRAN_PAYOFF: tuple[tuple[float, ...], ...] = ((8.0, -12.0, -12.0), (-12.0, 0.0, 0.0), (-12.0, 0.0, 0.0))

#: pymarl2's one-step matrix game (``src/envs/matrix_game/one_step_matrix_game.py``, the active payoff).
PYMARL2_PAYOFF: tuple[tuple[float, ...], ...] = ((12.0, -0.1, -0.1), (-0.1, 0.0, 0.0), (-0.1, 0.0, 0.0))


def check_discrete_actions(actions: Any, agents: Sequence[str], n_actions: Mapping[str, int], env_name: str) -> list[int]:
    """Validate a PettingZoo action dict for discrete agents and return the actions as ints in ``agents`` order.

    Accepts Python ints, NumPy integer scalars and one-element NumPy integer arrays.

    Args:
        actions: The ``{agent: action}`` dict given to ``step``.
        agents: The live agents, each of which must act.
        n_actions: Number of actions of each agent.
        env_name: Name used in error messages.

    Returns:
        The actions, one int per agent of ``agents``.

    Raises:
        ValueError: ``actions`` is not a mapping, an agent's action is missing, an action is given for an agent that
            is not live, or an action has the wrong type or lies out of range.
    """
    if not isinstance(actions, Mapping):
        raise ValueError(f"{env_name}.step expects a dict {{agent: action}}, got {type(actions).__name__}")
    unknown = [a for a in actions if a not in agents]
    if unknown:
        raise ValueError(f"{env_name}: action given for agent {unknown[0]!r}, which is not live (live agents: {list(agents)})")
    out: list[int] = []
    for agent in agents:
        if agent not in actions:
            raise ValueError(f"{env_name}: no action for agent {agent!r}; every live agent must act each step")
        value = actions[agent]
        n = n_actions[agent]
        if isinstance(value, np.ndarray) and value.size == 1 and np.issubdtype(value.dtype, np.integer):
            value = value.reshape(())[()]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(
                f"{env_name}: action {value!r} of agent {agent!r} has type {type(value).__name__}; expected an int in [0, {n})"
            )
        action = int(value)
        if not 0 <= action < n:
            raise ValueError(f"{env_name}: action {action} of agent {agent!r} is out of range [0, {n})")
        out.append(action)
    return out


def _check_render_mode(render_mode: str | None, allowed: Sequence[str], env_name: str) -> None:
    if render_mode is not None and render_mode not in allowed:
        raise ValueError(f"{env_name}: render_mode must be None or one of {list(allowed)}, got {render_mode!r}")


class MatrixGameEnv(ParallelEnv[str, np.ndarray, int]):
    """A one-step, two-agent cooperative matrix game (the QTRAN paper's game by default).

    Args:
        payoff: A 2-D table of finite numbers; ``payoff[a_0][a_1]`` is the team reward when ``agent_0`` plays
            ``a_0`` and ``agent_1`` plays ``a_1``. Defaults to :data:`QTRAN_PAYOFF`.
        render_mode: ``None`` or ``"ansi"``.

    Attributes:
        payoff: The payoff table as a float64 array of shape ``(n_actions_0, n_actions_1)`` (read-only).
        optimal_joint_action: The joint action with the highest payoff (the first one in row-major order on ties).
        optimal_value: The highest payoff.

    Raises:
        ValueError: ``payoff`` is not a non-empty 2-D table of finite numbers, or ``render_mode`` is unknown.
    """

    metadata: dict[str, Any] = {"name": "matrix_game_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, payoff: ArrayLike | None = None, render_mode: str | None = None) -> None:
        table = QTRAN_PAYOFF if payoff is None else payoff
        try:
            arr = np.array(table, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"MatrixGameEnv: payoff must be a 2-D table of numbers, got {table!r}") from exc
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValueError(
                f"MatrixGameEnv: payoff must be a non-empty 2-D table (rows = agent_0's actions, columns = agent_1's), "
                f"got shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError("MatrixGameEnv: payoff entries must be finite")
        _check_render_mode(render_mode, self.metadata["render_modes"], "MatrixGameEnv")
        arr.setflags(write=False)
        self.payoff: np.ndarray = arr
        self.render_mode = render_mode
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents: list[str] = []
        best = np.unravel_index(int(np.argmax(arr)), arr.shape)
        self.optimal_joint_action: tuple[int, int] = (int(best[0]), int(best[1]))
        self.optimal_value = float(arr[best])
        self._n_actions = {"agent_0": int(arr.shape[0]), "agent_1": int(arr.shape[1])}
        self._obs_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_spaces = dict.fromkeys(self.possible_agents, self._obs_space)
        self.action_spaces = {a: spaces.Discrete(n) for a, n in self._n_actions.items()}
        self.state_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        self._t = 0
        self._last_joint_action: tuple[int, int] | None = None

    def observation_space(self, agent: str) -> spaces.Box:
        """The observation Box of ``agent`` (the same object on every call)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        """The Discrete action space of ``agent`` (the same object on every call)."""
        return self.action_spaces[agent]

    def state(self) -> np.ndarray:
        """The global state: the one-hot step counter, shape ``(2,)`` float32."""
        out = np.zeros(2, dtype=np.float32)
        out[min(self._t, 1)] = 1.0
        return out

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        """Start an episode (the game has no randomness; ``seed`` is accepted for API compatibility)."""
        self.agents = list(self.possible_agents)
        self._t = 0
        self._last_joint_action = None
        obs = self.state()
        return {a: obs.copy() for a in self.agents}, {a: {} for a in self.agents}

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict]]:
        """Play the joint action; every agent receives ``payoff[a_0, a_1]`` and the episode terminates.

        Raises:
            RuntimeError: The episode is over (call ``reset``).
            ValueError: An action is missing, of the wrong type or out of range.
        """
        if not self.agents:
            raise RuntimeError("MatrixGameEnv.step called without a live episode; call reset() first")
        a0, a1 = check_discrete_actions(actions, self.agents, self._n_actions, "MatrixGameEnv")
        reward = float(self.payoff[a0, a1])
        self._t = 1
        self._last_joint_action = (a0, a1)
        obs = self.state()
        agents, self.agents = self.agents, []
        return (
            {a: obs.copy() for a in agents},
            dict.fromkeys(agents, reward),
            dict.fromkeys(agents, True),
            dict.fromkeys(agents, False),
            {a: {} for a in agents},
        )

    def render(self) -> str | None:
        """With ``render_mode="ansi"``, the payoff table with the last joint action in brackets."""
        if self.render_mode is None:
            gymnasium.logger.warn("MatrixGameEnv.render() called without a render_mode (use render_mode='ansi')")
            return None
        cells = [[f"{v:g}" for v in row] for row in self.payoff]
        if self._last_joint_action is not None:
            i, j = self._last_joint_action
            cells[i][j] = f"[{cells[i][j]}]"
        width = max(len(c) for row in cells for c in row) + 1
        lines = ["rows: agent_0, columns: agent_1", " " * 4 + "".join(f"{j:>{width}}" for j in range(self.payoff.shape[1]))]
        lines += [f"{i:>4}" + "".join(f"{c:>{width}}" for c in row) for i, row in enumerate(cells)]
        return "\n".join(lines)

    def close(self) -> None:
        """Nothing to release."""


def squeeze_value(r: ArrayLike, multi_domain: bool = False) -> np.ndarray:
    """The Gaussian squeeze objective ``G(r)`` (vectorized).

    Args:
        r: The squeeze sum ``sum_i u_i x_i / N`` (any shape).
        multi_domain: ``False`` for GS, ``G = r exp(-(r-8)^2/0.25)``; ``True`` for MGS, which adds the wide local
            optimum ``r exp(-(r-5)^2/1)``.

    Returns:
        ``G(r)`` as float64, with the shape of ``r``.
    """
    r = np.asarray(r, dtype=np.float64)
    value = r * np.exp(-np.square(r - 8.0) / 0.25)
    if multi_domain:
        value = value + r * np.exp(-np.square(r - 5.0) / 1.0)
    return value


class GaussianSqueezeEnv(ParallelEnv[str, np.ndarray, int]):
    """(Multi-domain) Gaussian squeeze: a one-step game where the agents' weighted actions must hit a narrow target.

    Args:
        multi_domain: ``False`` for Gaussian squeeze (GS), ``True`` for multi-domain Gaussian squeeze (MGS).
        n_agents: Number of agents ``N`` (the authors' ``--n_predator``, default 2).
        n_actions: Number of actions per agent; agent ``i`` plays ``u_i`` in ``{0, ..., n_actions - 1}`` (11 in the
            paper).
        obs_mode: ``"global"`` (each agent observes the whole ``x``, as in the authors' code) or ``"local"`` (each
            agent observes its own ``x_i``).
        render_mode: ``None`` or ``"ansi"``.

    Attributes:
        x: The current resource vector ``x``, shape ``(N,)`` float64 (read it after ``reset``).
        optimal_value: ``max_r G(r)`` over the reachable range of ``r`` (about 8.0): an upper bound of any return.
        local_optimum_value: MGS only, the value of the wide local optimum near ``r = 5`` (about 5.0); ``None`` for GS.

    Raises:
        ValueError: On a bad ``n_agents``, ``n_actions``, ``obs_mode`` or ``render_mode``.
    """

    metadata: dict[str, Any] = {"name": "gaussian_squeeze_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    #: Bounds of the uniform distribution of each ``x_i``.
    x_low: float = 0.0
    x_high: float = 2.0

    def __init__(
        self,
        multi_domain: bool = False,
        n_agents: int = 2,
        n_actions: int = 11,
        obs_mode: Literal["global", "local"] = "global",
        render_mode: str | None = None,
    ) -> None:
        name = "MultiDomainGaussianSqueeze" if multi_domain else "GaussianSqueeze"
        if isinstance(n_agents, bool) or not isinstance(n_agents, (int, np.integer)) or n_agents < 1:
            raise ValueError(f"{name}: n_agents must be an int >= 1, got {n_agents!r}")
        if isinstance(n_actions, bool) or not isinstance(n_actions, (int, np.integer)) or n_actions < 2:
            raise ValueError(f"{name}: n_actions must be an int >= 2, got {n_actions!r}")
        if obs_mode not in ("global", "local"):
            raise ValueError(f"{name}: obs_mode must be 'global' or 'local', got {obs_mode!r}")
        _check_render_mode(render_mode, self.metadata["render_modes"], name)
        self.multi_domain = bool(multi_domain)
        self.n_agents = int(n_agents)
        self.n_actions = int(n_actions)
        self.obs_mode = obs_mode
        self.render_mode = render_mode
        self._name = name
        self.possible_agents = [f"agent_{i}" for i in range(self.n_agents)]
        self.agents: list[str] = []
        obs_dim = self.n_agents if obs_mode == "global" else 1
        self.observation_spaces = {
            a: spaces.Box(self.x_low, self.x_high, shape=(obs_dim,), dtype=np.float32) for a in self.possible_agents
        }
        self.action_spaces = {a: spaces.Discrete(self.n_actions) for a in self.possible_agents}
        self.state_space = spaces.Box(self.x_low, self.x_high, shape=(self.n_agents,), dtype=np.float32)
        self._n_actions = dict.fromkeys(self.possible_agents, self.n_actions)
        # the sup of G over the reachable r in [0, (n_actions - 1) * x_high], found on a fine grid
        grid = np.linspace(0.0, (self.n_actions - 1) * self.x_high, 400_001)
        values = squeeze_value(grid, self.multi_domain)
        self.optimal_value = float(values.max())
        self.local_optimum_value: float | None = None
        if self.multi_domain:
            near_five = (grid > 3.0) & (grid < 6.5)
            self.local_optimum_value = float(values[near_five].max()) if near_five.any() else None
        self.x = np.zeros(self.n_agents, dtype=np.float64)
        self._rng = np.random.default_rng()
        self._last: tuple[list[int], float, float] | None = None

    def observation_space(self, agent: str) -> spaces.Box:
        """The observation Box of ``agent`` (the same object on every call)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        """The Discrete action space of ``agent`` (the same object on every call)."""
        return self.action_spaces[agent]

    def state(self) -> np.ndarray:
        """The global state ``x``, shape ``(N,)`` float32."""
        return self.x.astype(np.float32)

    def _observations(self, agents: Sequence[str]) -> dict[str, np.ndarray]:
        x = self.state()
        if self.obs_mode == "global":
            return {a: x.copy() for a in agents}
        return {a: x[i : i + 1].copy() for i, a in enumerate(self.possible_agents) if a in agents}

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        """Draw a new ``x ~ U(0, 2)^N``; ``seed`` reseeds the env's own generator."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.x = self._rng.uniform(self.x_low, self.x_high, size=self.n_agents)
        self.agents = list(self.possible_agents)
        self._last = None
        return self._observations(self.agents), {a: {} for a in self.agents}

    def squeeze_sum(self, joint_action: Sequence[int] | np.ndarray) -> float:
        """``r = sum_i u_i x_i / N`` for a joint action (in ``possible_agents`` order) and the current ``x``."""
        u = np.asarray(joint_action, dtype=np.float64)
        return float(np.dot(u, self.x) / self.n_agents)

    def best_joint_action(self, max_joint_actions: int = 1 << 20) -> tuple[tuple[int, ...], float]:
        """The best joint action for the current ``x``, by exhaustive search.

        Args:
            max_joint_actions: Refuse to search when ``n_actions ** n_agents`` exceeds this.

        Returns:
            The joint action (in ``possible_agents`` order) and its reward.

        Raises:
            ValueError: The joint action space is larger than ``max_joint_actions``.
        """
        n_joint = self.n_actions**self.n_agents
        if n_joint > max_joint_actions:
            raise ValueError(f"{self._name}: {n_joint} joint actions exceed max_joint_actions={max_joint_actions}")
        joint = np.array(list(itertools.product(range(self.n_actions), repeat=self.n_agents)), dtype=np.float64)
        values = squeeze_value(joint @ self.x / self.n_agents, self.multi_domain)
        best = int(np.argmax(values))
        return tuple(int(u) for u in joint[best]), float(values[best])

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict]]:
        """Play the joint action; every agent receives ``G(r)`` and the episode terminates.

        The info of each agent holds ``squeeze_sum`` (the value of ``r``).

        Raises:
            RuntimeError: The episode is over (call ``reset``).
            ValueError: An action is missing, of the wrong type or out of range.
        """
        if not self.agents:
            raise RuntimeError(f"{self._name}.step called without a live episode; call reset() first")
        joint = check_discrete_actions(actions, self.agents, self._n_actions, self._name)
        r = self.squeeze_sum(joint)
        reward = float(squeeze_value(r, self.multi_domain))
        self._last = (joint, r, reward)
        agents, self.agents = self.agents, []
        return (
            self._observations(agents),
            dict.fromkeys(agents, reward),
            dict.fromkeys(agents, True),
            dict.fromkeys(agents, False),
            {a: {"squeeze_sum": r} for a in agents},
        )

    def render(self) -> str | None:
        """With ``render_mode="ansi"``, ``x``, the last joint action, ``r`` and the reward."""
        if self.render_mode is None:
            gymnasium.logger.warn(f"{self._name}.render() called without a render_mode (use render_mode='ansi')")
            return None
        text = f"{self._name}: x = {np.array2string(self.x, precision=3)}"
        if self._last is not None:
            joint, r, reward = self._last
            text += f"\nactions = {joint}, r = {r:.4f}, G(r) = {reward:.4f} (optimum {self.optimal_value:.4f})"
        return text

    def close(self) -> None:
        """Nothing to release."""
