"""The QTRAN paper's modified predator-prey: two predators must reach a prey together, or pay a penalty.

Son et al., *QTRAN: Learning to Factorize with Transformation for Cooperative Multi-Agent Reinforcement Learning*
(ICML 2019), section 4.3. The authors' code (``Predator-Prey/envs/scenarios/endless3.py``, ``envs/grid_core.py``,
``envs/environment.py``) is the reference; this module reproduces its rules exactly.

=====================  ==========================================================================================
Import                 ``trmarl.make("PredatorPrey-5x5")``, ``trmarl.make("PredatorPrey-7x7")``
Class                  :class:`PredatorPreyEnv`
Agents                 the predators ``predator_0`` ... ``predator_{n-1}`` (the prey are part of the environment)
Actions                Discrete(5): 0 up, 1 left, 2 stay, 3 right, 4 down
Observation            Box(-0.5, 0.5, (2 (n_predators + n_prey),), float32), the same for every predator; with
                       ``observation="relative"`` Box(-1, 1, (2 (n_predators + n_prey) + 3,), float32), per predator
State                  all positions, Box(-0.5, 0.5, (2 (n_predators + n_prey),), float32)
Episode length         ``max_steps`` (100); episodes end by truncation only, never termination
Reward                 the team reward, given in full to **every** predator
Render modes           ``None``, ``"ansi"``, ``"rgb_array"``
=====================  ==========================================================================================

Ids:
    * ``PredatorPrey-5x5``: 5x5 grid, 2 predators, 1 prey (the paper's first setup).
    * ``PredatorPrey-7x7``: 7x7 grid, 4 predators, 2 prey (the second setup).

    Both use ``penalty=0.5`` and ``max_steps=100`` by default; the paper also reports ``penalty`` 1.0 and 1.5, e.g.
    ``trmarl.make("PredatorPrey-5x5", penalty=1.5)``.

Grid and moves:
    Every cell of the ``grid_size x grid_size`` grid is free (there are no inner walls); a move off the grid bumps into
    the border and the agent stays. Positions are ``(row, col)``, row 0 at the top. Action 0 moves up (row - 1),
    1 left (col - 1), 2 stays, 3 right (col + 1), 4 down (row + 1). The authors' code labels actions 1 and 3 "E" and
    "W"; the moves are the same. Agents move one at a time, predators first (in index order) and then the prey.
    An agent that wants to enter an occupied cell first lets the occupant make its own move (recursively: the
    occupant may in turn wait for the agent in its target cell); if the cell is still occupied, the mover stays.
    An agent that has already moved, or is itself waiting, does not move again, so swaps and cycles are blocked.
    All agents start in distinct uniformly random cells.

Prey:
    Each prey takes a uniformly random action every step (the "prey2" type of the authors' runs).

Reward:
    After all moves, each prey scores ``+1`` if two or more predators are in its 4-neighbourhood (up, left, right,
    down), ``-P`` if exactly one is, and 0 otherwise, where ``P`` is ``penalty``. The team reward is the sum over the
    prey, and every predator receives all of it. trmarl's vectorized envs average the agents' rewards, so the
    learner's team reward is this sum. The authors' env gives each predator ``sum / n_predators`` and their learner
    sums the predators' rewards back, so the learner's reward is the same. The authors' flag ``--penalty 5`` means
    ``P = penalty / 10 = 0.5``: pass ``penalty=0.5`` here (``penalty=1.0`` and ``1.5`` for their 10 and 15).

Capture:
    A prey with two or more adjacent predators is caught: in the same step, after the rewards, it moves to a uniformly
    random empty cell (prey in index order). Episodes have no terminal state; they end with ``truncated=True`` for
    every predator after ``max_steps`` steps.

Observation:
    The authors' learners (``pos_cac_fo``) see the positions of all agents, predators first and then the prey, each
    as ``((row - m/2) / m, (col - m/2) / m)`` with ``m = grid_size``. Every predator gets this vector, and it is also
    the state. The env's per-agent 3x3 local views in the authors' code are unused by their learners and are not
    reproduced.

    ``observation="relative"`` gives each predator what the authors' Q networks actually read (``dq_network.py``,
    the input built inside every ``generate_*`` network from that state): the state with predator ``i``'s own
    entry subtracted from every position (so ``(p_j - p_i) / m`` for every agent ``j``, zeros at ``j = i``), then
    the scalar ``i / n_predators``, then predator ``i``'s own normalised position; ``2 (n_predators + n_prey) + 3``
    values. The scalar is the authors' agent id, so learners need no one-hot id on top of it. The state stays the
    absolute positions.

Testing hooks:
    :meth:`PredatorPreyEnv.set_positions` places the agents by hand and :meth:`PredatorPreyEnv.set_prey_actions`
    fixes the prey's actions for the next step, so rules can be checked on hand-built positions.
    :func:`sequential_moves` is the movement rule as a pure function.

Example:
    >>> import trmarl
    >>> env = trmarl.make("PredatorPrey-5x5")
    >>> obs, infos = env.reset(seed=0)
    >>> obs["predator_0"].shape
    (6,)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike
from pettingzoo import ParallelEnv

from trmarl.envs.toy import check_discrete_actions

__all__ = ["MOVES", "UP", "LEFT", "STAY", "RIGHT", "DOWN", "PredatorPreyEnv", "sequential_moves"]

UP, LEFT, STAY, RIGHT, DOWN = 0, 1, 2, 3, 4
#: ``(d_row, d_col)`` of each action.
MOVES: np.ndarray = np.array([[-1, 0], [0, -1], [0, 0], [0, 1], [1, 0]], dtype=np.int64)
MOVES.setflags(write=False)


def sequential_moves(positions: np.ndarray, actions: Sequence[int] | np.ndarray, grid_size: int) -> np.ndarray:
    """Move agents one at a time, in index order, with the "occupant moves first" rule.

    An agent whose target cell is off the grid stays. An agent whose target cell is occupied first lets the occupant
    move (recursively); if the cell is still occupied afterwards, it stays. An agent that has already moved or is
    waiting for another one is not moved again, which blocks swaps and cycles.

    Args:
        positions: ``(n, 2)`` integer ``(row, col)`` positions, all distinct and on the grid.
        actions: ``n`` actions in ``{0, ..., 4}`` (see :data:`MOVES`).
        grid_size: Side of the square grid.

    Returns:
        The new ``(n, 2)`` int64 positions (``positions`` is not modified).
    """
    pos = np.array(positions, dtype=np.int64).reshape(-1, 2)
    acts = [int(a) for a in actions]
    n = len(pos)
    occupant = np.full((grid_size, grid_size), -1, dtype=np.int64)
    occupant[pos[:, 0], pos[:, 1]] = np.arange(n)
    done = [False] * n
    waiting = [False] * n

    def move(k: int) -> None:
        if done[k] or waiting[k]:
            return
        if acts[k] == STAY:
            done[k] = True
            return
        row, col = int(pos[k, 0] + MOVES[acts[k], 0]), int(pos[k, 1] + MOVES[acts[k], 1])
        if not (0 <= row < grid_size and 0 <= col < grid_size):
            done[k] = True  # the border is a wall
            return
        other = int(occupant[row, col])
        if other >= 0:
            waiting[k] = True
            move(other)  # the occupant moves first
            waiting[k] = False
        if occupant[row, col] < 0:
            occupant[pos[k, 0], pos[k, 1]] = -1
            occupant[row, col] = k
            pos[k] = (row, col)
        done[k] = True

    for k in range(n):
        move(k)
    return pos


class PredatorPreyEnv(ParallelEnv[str, np.ndarray, int]):
    """The QTRAN paper's modified predator-prey on a ``grid_size x grid_size`` grid (see the module docstring).

    Args:
        grid_size: Side of the square grid (>= 2).
        n_predators: Number of predators, the learning agents (>= 1).
        n_prey: Number of randomly moving prey (>= 1).
        penalty: ``P >= 0``, the penalty for a prey with exactly one adjacent predator (the authors' ``--penalty``
            divided by 10).
        max_steps: Episode length; the episode is truncated after this many steps.
        render_mode: ``None``, ``"ansi"`` or ``"rgb_array"``.
        observation: ``"absolute"`` (every predator sees the state) or ``"relative"`` (the input of the authors' Q
            networks: positions relative to the predator, its id ``i / n_predators`` and its own position).

    Attributes:
        predator_positions: ``(n_predators, 2)`` int64 ``(row, col)`` positions (a copy).
        prey_positions: ``(n_prey, 2)`` int64 ``(row, col)`` positions (a copy).
        n_steps: Steps taken in the current episode.

    Raises:
        ValueError: On a grid smaller than 2, fewer than one predator or prey, more agents than ``grid_size**2 - 1``
            (a caught prey needs a free cell), a negative or non-finite penalty, a ``max_steps`` below 1, an
            unknown ``render_mode`` or an unknown ``observation``.
    """

    metadata: dict[str, Any] = {
        "name": "predator_prey_v0",
        "render_modes": ["ansi", "rgb_array"],
        "render_fps": 5,
        "is_parallelizable": True,
    }

    #: Pixels per cell in ``rgb_array`` frames.
    cell_pixels: int = 16

    def __init__(
        self,
        grid_size: int = 5,
        n_predators: int = 2,
        n_prey: int = 1,
        penalty: float = 0.5,
        max_steps: int = 100,
        render_mode: str | None = None,
        observation: str = "absolute",
    ) -> None:
        for key, value, low in (("grid_size", grid_size, 2), ("n_predators", n_predators, 1), ("n_prey", n_prey, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"PredatorPreyEnv: {key} must be an int >= {low}, got {value!r}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"PredatorPreyEnv: max_steps must be an int >= 1, got {max_steps!r}")
        if n_predators + n_prey >= grid_size * grid_size:
            raise ValueError(
                f"PredatorPreyEnv: a {grid_size}x{grid_size} grid is too small for {n_predators} predators and {n_prey} "
                f"prey (at most {grid_size * grid_size - 1} agents, so that a caught prey has a free cell)"
            )
        if isinstance(penalty, bool) or not isinstance(penalty, (int, float, np.integer, np.floating)):
            raise ValueError(f"PredatorPreyEnv: penalty must be a number, got {penalty!r}")
        if not np.isfinite(penalty) or penalty < 0:
            raise ValueError(
                f"PredatorPreyEnv: penalty must be finite and >= 0 (P = the authors' --penalty / 10), got {penalty}"
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"PredatorPreyEnv: render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        if observation not in ("absolute", "relative"):
            raise ValueError(f"PredatorPreyEnv: observation must be 'absolute' or 'relative', got {observation!r}")
        self.observation = observation
        self.grid_size = int(grid_size)
        self.n_predators = int(n_predators)
        self.n_prey = int(n_prey)
        self.penalty = float(penalty)
        self.max_steps = int(max_steps)
        self.render_mode = render_mode
        self.possible_agents = [f"predator_{i}" for i in range(self.n_predators)]
        self.agents: list[str] = []
        dim = 2 * (self.n_predators + self.n_prey)
        if observation == "absolute":
            obs_box = spaces.Box(-0.5, 0.5, shape=(dim,), dtype=np.float32)
        else:  # differences lie within +-(m - 1)/m, the id in [0, 1), the own position in [-0.5, 0.5)
            obs_box = spaces.Box(-1.0, 1.0, shape=(dim + 3,), dtype=np.float32)
        self.observation_spaces = {a: obs_box for a in self.possible_agents}
        self.action_spaces = {a: spaces.Discrete(5) for a in self.possible_agents}
        self.state_space = spaces.Box(-0.5, 0.5, shape=(dim,), dtype=np.float32)
        self._n_actions = dict.fromkeys(self.possible_agents, 5)
        self._rng = np.random.default_rng()
        self._pos = np.zeros((self.n_predators + self.n_prey, 2), dtype=np.int64)  # predators, then prey
        self._forced_prey_actions: list[int] | None = None
        self.n_steps = 0

    # ------------------------------------------------------------------ spaces and state

    def observation_space(self, agent: str) -> spaces.Box:
        """The observation Box of ``agent`` (the same object on every call)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        """``Discrete(5)`` (the same object on every call)."""
        return self.action_spaces[agent]

    def state(self) -> np.ndarray:
        """All positions, predators then prey, each ``((row - m/2) / m, (col - m/2) / m)``; float32."""
        m = float(self.grid_size)
        return ((self._pos.astype(np.float64) - m / 2.0) / m).astype(np.float32).ravel()

    def _observations(self) -> dict[str, np.ndarray]:
        """Each live predator's observation (see the module docstring)."""
        state = self.state()
        if self.observation == "absolute":
            return {a: state.copy() for a in self.agents}
        positions = state.reshape(-1, 2)
        obs = {}
        for i, agent in enumerate(self.possible_agents):
            if agent in self.agents:
                own = positions[i]
                obs[agent] = np.concatenate(
                    [(positions - own).ravel(), np.array([i / self.n_predators], dtype=np.float32), own]
                ).astype(np.float32)
        return obs

    @property
    def predator_positions(self) -> np.ndarray:
        """``(n_predators, 2)`` ``(row, col)`` positions (a copy)."""
        return self._pos[: self.n_predators].copy()

    @property
    def prey_positions(self) -> np.ndarray:
        """``(n_prey, 2)`` ``(row, col)`` positions (a copy)."""
        return self._pos[self.n_predators :].copy()

    # ------------------------------------------------------------------ testing hooks

    def set_positions(self, predators: ArrayLike, prey: ArrayLike) -> dict[str, np.ndarray]:
        """Testing hook: place every agent by hand (after ``reset``; the step counter is kept).

        Args:
            predators: ``(n_predators, 2)`` integer ``(row, col)`` positions.
            prey: ``(n_prey, 2)`` integer ``(row, col)`` positions.

        Returns:
            The new observations of the live predators.

        Raises:
            ValueError: Wrong shapes, cells off the grid, or two agents in one cell.
        """
        pos = np.concatenate([np.asarray(predators).reshape(-1, 2), np.asarray(prey).reshape(-1, 2)])
        if len(np.asarray(predators).reshape(-1, 2)) != self.n_predators or len(pos) != len(self._pos):
            raise ValueError(f"set_positions needs {self.n_predators} predator and {self.n_prey} prey (row, col) positions")
        if not np.issubdtype(pos.dtype, np.integer):
            raise ValueError(f"set_positions: positions must be integers, got dtype {pos.dtype}")
        if pos.min() < 0 or pos.max() >= self.grid_size:
            raise ValueError(f"set_positions: every position must lie in [0, {self.grid_size})^2, got {pos.tolist()}")
        if len({(int(r), int(c)) for r, c in pos}) != len(pos):
            raise ValueError(f"set_positions: two agents share a cell in {pos.tolist()}")
        self._pos = pos.astype(np.int64)
        return self._observations()

    def set_prey_actions(self, actions: Sequence[int]) -> None:
        """Testing hook: the prey take ``actions`` (one per prey) on the next step instead of random ones.

        The generator is not drawn from for the prey's moves of that step.

        Raises:
            ValueError: Not one action in ``{0, ..., 4}`` per prey.
        """
        acts = [int(a) for a in actions]
        if len(acts) != self.n_prey or any(not 0 <= a < 5 for a in acts):
            raise ValueError(f"set_prey_actions needs {self.n_prey} actions in [0, 5), got {list(actions)}")
        self._forced_prey_actions = acts

    # ------------------------------------------------------------------ episode

    def _empty_cells(self) -> np.ndarray:
        free = np.ones((self.grid_size, self.grid_size), dtype=bool)
        free[self._pos[:, 0], self._pos[:, 1]] = False
        return np.argwhere(free)  # row-major order, so the draw is reproducible

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        """Place all agents in distinct uniformly random cells; ``seed`` reseeds the env's own generator."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._pos = np.full((self.n_predators + self.n_prey, 2), -1, dtype=np.int64)
        cells = self.grid_size * self.grid_size
        chosen = np.zeros(cells, dtype=bool)
        for k in range(len(self._pos)):
            free = np.flatnonzero(~chosen)
            cell = int(free[self._rng.integers(len(free))])
            chosen[cell] = True
            self._pos[k] = divmod(cell, self.grid_size)
        self.agents = list(self.possible_agents)
        self.n_steps = 0
        self._forced_prey_actions = None
        return self._observations(), {a: {} for a in self.agents}

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict]]:
        """Move everyone, score the prey, respawn the caught ones; truncate after ``max_steps`` steps.

        The info of each predator holds ``captures`` (prey caught this step) and ``penalties`` (prey with exactly one
        adjacent predator this step).

        Raises:
            RuntimeError: The episode is over (call ``reset``).
            ValueError: An action is missing, of the wrong type or out of range.
        """
        if not self.agents:
            raise RuntimeError("PredatorPreyEnv.step called without a live episode; call reset() first")
        predator_actions = check_discrete_actions(actions, self.agents, self._n_actions, "PredatorPreyEnv")
        if self._forced_prey_actions is not None:
            prey_actions = self._forced_prey_actions
            self._forced_prey_actions = None
        else:
            prey_actions = [int(a) for a in self._rng.integers(0, 5, size=self.n_prey)]

        # 1. sequential moves: predators, then prey
        self._pos = sequential_moves(self._pos, predator_actions + prey_actions, self.grid_size)

        # 2. rewards from the predators in each prey's 4-neighbourhood
        adjacent = self.adjacent_predators()
        caught = adjacent >= 2
        single = adjacent == 1
        reward = float(caught.sum()) - self.penalty * float(single.sum())

        # 3. caught prey respawn at random empty cells, in index order
        for j in np.flatnonzero(caught):
            free = self._empty_cells()
            self._pos[self.n_predators + j] = free[self._rng.integers(len(free))]

        self.n_steps += 1
        truncated = self.n_steps >= self.max_steps
        obs = self._observations()
        agents = self.agents
        if truncated:
            self.agents = []
        info = {"captures": int(caught.sum()), "penalties": int(single.sum())}
        return (
            obs,
            dict.fromkeys(agents, reward),
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, truncated),
            {a: dict(info) for a in agents},
        )

    def adjacent_predators(self) -> np.ndarray:
        """For each prey, the number of predators in its 4-neighbourhood now; ``(n_prey,)`` int64."""
        predators = self._pos[: self.n_predators]
        prey = self._pos[self.n_predators :]
        distance = np.abs(predators[:, None, :] - prey[None, :, :]).sum(axis=-1)  # (n_predators, n_prey)
        return (distance == 1).sum(axis=0).astype(np.int64)

    # ------------------------------------------------------------------ rendering

    def render(self) -> str | np.ndarray | None:
        """``"ansi"``: a text grid (predators ``A``, ``B``, ..., prey ``a``, ``b``, ..., empty ``.``).

        ``"rgb_array"``: a ``(16 m, 16 m, 3)`` uint8 image (predators blue, prey red).
        """
        if self.render_mode is None:
            gymnasium.logger.warn("PredatorPreyEnv.render() called without a render_mode ('ansi' or 'rgb_array')")
            return None
        if self.render_mode == "ansi":
            rows = [["."] * self.grid_size for _ in range(self.grid_size)]
            for k, (r, c) in enumerate(self._pos):
                is_prey = k >= self.n_predators
                i = k - self.n_predators if is_prey else k
                rows[int(r)][int(c)] = (
                    (chr(ord("a") + i) if is_prey else chr(ord("A") + i)) if i < 26 else ("p" if is_prey else "P")
                )
            header = f"step {self.n_steps}/{self.max_steps}"
            return "\n".join([header, *(" ".join(row) for row in rows)])
        px = self.cell_pixels
        size = self.grid_size * px
        frame = np.full((size, size, 3), 255, dtype=np.uint8)
        frame[::px, :, :] = 200
        frame[:, ::px, :] = 200
        frame[-1, :, :] = 200
        frame[:, -1, :] = 200
        for k, (r, c) in enumerate(self._pos):
            color = (30, 90, 220) if k < self.n_predators else (220, 40, 40)
            frame[int(r) * px + 3 : (int(r) + 1) * px - 2, int(c) * px + 3 : (int(c) + 1) * px - 2] = color
        return frame

    def close(self) -> None:
        """Nothing to release."""
