"""Shared machinery of the recurrent value-decomposition family (IQL, VDN, QMIX, QTRAN).

:class:`OffPolicyAgent` is the episode runner, the replay and the acting side; the algorithms (``qmix.py``,
``qtran.py``) add their mixing networks and their loss (``_update``). The pieces follow pymarl / pymarl2 (see ``docs/algorithms/qmix.md`` for the sources):

* :class:`AgentNetwork` -- one network shared by all agents: ``Linear -> ReLU -> GRUCell -> Linear`` (``RNNAgent``),
  or an MLP; its inputs are the observation, the last action (one-hot) and the agent id (one-hot).
* :func:`epsilon_greedy` and :class:`DecayThenFlatSchedule` -- masked epsilon-greedy acting.
* :func:`td_lambda_targets` -- pymarl2's ``build_td_lambda_targets`` (``td_lambda=0`` gives 1-step targets).
* :func:`masked_max` -- greedy values and double-Q action choice with unavailable actions at ``-9999999``.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import polyak_update
from torch import nn

from trmarl.agents.base import BaseAgent
from trmarl.common.optim import make_adam
from trmarl.common.replay import (
    EpisodeBatch,
    EpisodeRecorder,
    EpisodeReplayBuffer,
)
from trmarl.envs.vec_env import MultiAgentVecEnv

__all__ = [
    "MASKED_Q",
    "OffPolicyAgent",
    "OffPolicyConfig",
    "AgentNetwork",
    "DecayThenFlatSchedule",
    "epsilon_greedy",
    "build_agent_inputs",
    "masked_max",
    "td_lambda_targets",
]

SelfOffPolicyAgent = TypeVar("SelfOffPolicyAgent", bound="OffPolicyAgent")

#: Value given to unavailable actions before a max/argmax in targets (pymarl: ``-9999999``).
MASKED_Q = -9999999.0


# --------------------------------------------------------------------------------------------------------------
# Exploration
# --------------------------------------------------------------------------------------------------------------


@dataclass
class DecayThenFlatSchedule:
    """Linear decay from ``start`` to ``finish`` over ``time_length`` env steps, then flat (pymarl's schedule).

    Args:
        start: Value at step 0 (pymarl: epsilon 1.0).
        finish: Value from ``time_length`` on (pymarl: 0.05).
        time_length: Env steps of the decay (pymarl2: 100k, pymarl: 50k).
    """

    start: float
    finish: float
    time_length: int

    def __call__(self, t_env: float) -> float:
        """The value after ``t_env`` env steps."""
        if self.time_length <= 0:
            return self.finish
        frac = min(max(float(t_env), 0.0) / self.time_length, 1.0)
        return self.start + frac * (self.finish - self.start)


def epsilon_greedy(q: np.ndarray, action_mask: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Masked epsilon-greedy choice (pymarl's ``EpsilonGreedyActionSelector``).

    Unavailable actions get ``-inf`` before the argmax; the random branch draws uniformly among available actions.

    Args:
        q: Q-values, ``(..., A)``.
        action_mask: ``(..., A)`` bool, True where an action is available.
        epsilon: Probability of a random action per agent.
        rng: The generator of the random draws.

    Returns:
        Actions, ``q.shape[:-1]`` int64.
    """
    q = np.where(action_mask, q, -np.inf)
    greedy = q.argmax(-1)
    if epsilon <= 0.0:
        return greedy.astype(np.int64)
    scores = rng.random(q.shape)
    scores[~action_mask] = -1.0
    random_actions = scores.argmax(-1)
    explore = rng.random(q.shape[:-1]) < epsilon
    return np.where(explore, random_actions, greedy).astype(np.int64)


# --------------------------------------------------------------------------------------------------------------
# Agent network
# --------------------------------------------------------------------------------------------------------------


class AgentNetwork(nn.Module):
    """The per-agent Q network, shared by all agents (pymarl ``RNNAgent``; epymarl's MLP agent when ``use_rnn=False``).

    Args:
        input_dim: Size of one agent's input (observation + last action one-hot + agent id one-hot).
        n_actions: ``A``.
        hidden_dim: Width of the hidden layers and of the GRU state (pymarl: 64).
        use_rnn: GRU cell (True) or a second ReLU layer (False).
        mlp_hidden_layers: Hidden ReLU layers of the MLP (``use_rnn=False``), at least 2; the extra ones after the
            second are ``hidden_dim`` wide. GRU agents need the default 2.

    Raises:
        ValueError: ``mlp_hidden_layers`` below 2, or other than 2 with ``use_rnn=True``.
    """

    def __init__(
        self, input_dim: int, n_actions: int, hidden_dim: int = 64, use_rnn: bool = True, mlp_hidden_layers: int = 2
    ) -> None:
        super().__init__()
        if mlp_hidden_layers < 2 or (use_rnn and mlp_hidden_layers != 2):
            raise ValueError(
                f"mlp_hidden_layers must be at least 2, and 2 with GRU agents (use_rnn=True); got {mlp_hidden_layers}"
            )
        self.hidden_dim = hidden_dim
        self.use_rnn = use_rnn
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.rnn: nn.Module = nn.GRUCell(hidden_dim, hidden_dim) if use_rnn else nn.Linear(hidden_dim, hidden_dim)
        self.extra = nn.ModuleList(nn.Linear(hidden_dim, hidden_dim) for _ in range(mlp_hidden_layers - 2))
        self.fc2 = nn.Linear(hidden_dim, n_actions)

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Zeros, ``(batch, hidden_dim)`` (the hidden state at an episode start)."""
        return torch.zeros(batch, self.hidden_dim, device=device)

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``inputs (M, input_dim)``, ``hidden (M, H)`` -> ``q (M, A)``, ``hidden (M, H)``."""
        x = F.relu(self.fc1(inputs))
        h = self.rnn(x, hidden) if self.use_rnn else F.relu(self.rnn(x))
        y = h
        for layer in self.extra:
            y = F.relu(layer(y))
        return self.fc2(y), h


def build_agent_inputs(obs: torch.Tensor, last_actions: torch.Tensor | None, n_actions: int, agent_id: bool) -> torch.Tensor:
    """Concatenate ``[obs_i, one_hot(u_i^{t-1}), one_hot(i)]`` (pymarl ``basic_controller._build_inputs``).

    Args:
        obs: ``(..., N, D)``.
        last_actions: ``(..., N)`` int64 previous actions, ``-1`` at an episode start (zeros one-hot); None to leave
            the last action out.
        n_actions: ``A``.
        agent_id: Whether to append the agent id one-hot.

    Returns:
        ``(..., N, D [+ A] [+ N])``.
    """
    parts = [obs]
    if last_actions is not None:
        parts.append(F.one_hot(last_actions.clamp(min=0), n_actions).to(obs.dtype) * (last_actions >= 0).unsqueeze(-1))
    if agent_id:
        n = obs.shape[-2]
        parts.append(torch.eye(n, dtype=obs.dtype, device=obs.device).expand(*obs.shape[:-1], n))
    return torch.cat(parts, dim=-1)


# --------------------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------------------


def masked_max(q: torch.Tensor, action_mask: torch.Tensor, choose_with: torch.Tensor | None = None) -> torch.Tensor:
    """Greedy values over available actions, ``(..., A) -> (...)``.

    Args:
        q: Values to read, ``(..., A)`` (e.g. the target network's).
        action_mask: ``(..., A)`` bool.
        choose_with: Values whose masked argmax picks the action (double Q: the online network's); default ``q``.
    """
    chooser = q if choose_with is None else choose_with
    chooser = chooser.masked_fill(~action_mask, MASKED_Q)
    if choose_with is None:
        return chooser.max(dim=-1).values
    return q.gather(-1, chooser.argmax(dim=-1, keepdim=True)).squeeze(-1)


def td_lambda_targets(
    reward: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    target_q: torch.Tensor,
    gamma: float,
    td_lambda: float,
) -> torch.Tensor:
    """TD(lambda) returns built backwards (pymarl2 ``rl_utils.build_td_lambda_targets``).

    ``G_t = mask_t (r_t + gamma (1 - d_t) [(1 - lambda) Qbar_{t+1} + lambda G_{t+1}])``, where ``G_{t+1}`` is replaced
    by ``Qbar_{t+1}`` after the last counted step of an episode. This equals pymarl2's recursion on every counted step
    of episodes that fill the batch or terminate; for a *shorter* episode cut by a time limit, pymarl2 would bootstrap
    from the batch's last slot (which belongs to no step of that episode) -- here it bootstraps from its own final
    observation. ``td_lambda = 0`` gives 1-step targets ``r_t + gamma (1 - d_t) Qbar_{t+1}``.

    Args:
        reward: ``(B, T, K)`` (``K`` = 1 for a mixed value, ``N`` for independent agents; broadcasts).
        terminated: ``(B, T, 1)`` 1 at a true terminal step.
        mask: ``(B, T, 1)`` 1 where a step counts.
        target_q: ``(B, T + 1, K)`` target values of slots ``0..T``.
        gamma: Discount.
        td_lambda: lambda in [0, 1].

    Returns:
        ``(B, T, K)`` targets (0 where ``mask`` is 0).
    """
    T = reward.shape[1]
    if td_lambda == 0.0:  # one-step targets: no recursion, every step at once
        return mask * (reward + gamma * (1.0 - terminated) * target_q[:, 1:])
    next_counted = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)  # (B, T, 1)
    out = torch.zeros_like(target_q[:, :T])
    g_next = target_q[:, T]
    for t in reversed(range(T)):
        bootstrap = torch.where(next_counted[:, t] > 0, g_next, target_q[:, t + 1])
        g = reward[:, t] + gamma * (1.0 - terminated[:, t]) * ((1.0 - td_lambda) * target_q[:, t + 1] + td_lambda * bootstrap)
        g = mask[:, t] * g
        out[:, t] = g
        g_next = g
    return out


# --------------------------------------------------------------------------------------------------------------
# Configuration shared by the family
# --------------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class OffPolicyConfig:
    """Hyperparameters shared by IQL, VDN, QMIX and QTRAN. Defaults: pymarl2's tuned QMIX (``src/config/default.yaml``,
    ``src/config/algs/qmix.yaml``) unless a field says otherwise."""

    buffer_size: int = 5000
    """Episodes kept in the replay (pymarl/pymarl2 ``buffer_size``)."""
    batch_size: int = 128
    """Episodes per gradient step (pymarl2 128; pymarl and epymarl 32), or single steps with ``sample_unit="step"``."""
    sample_unit: Literal["episode", "step"] = "episode"
    """What a gradient step learns from: ``batch_size`` whole episodes, one gradient step per runner iteration
    (pymarl); or ``batch_size`` single steps drawn uniformly from the stored episodes, one gradient step every
    ``steps_per_update`` env steps (a DQN-style learner, as the QTRAN authors' predator-prey code). ``"step"`` needs
    agents whose values at a step depend on that step alone: ``use_rnn=False`` and ``obs_last_action=False``."""
    steps_per_update: int = 1
    """With ``sample_unit="step"``: env steps (summed over envs) per gradient step (the QTRAN authors: 1)."""
    lr: float = 1e-3
    """Learning rate (pymarl2 QMIX: Adam 1e-3; pymarl: RMSprop 5e-4)."""
    optimizer: Literal["adam", "rmsprop"] = "adam"
    """``"adam"`` (pymarl2) or ``"rmsprop"`` (pymarl, with ``optim_alpha`` and ``optim_eps``)."""
    optim_alpha: float = 0.99
    """RMSprop smoothing constant (pymarl ``optim_alpha``)."""
    optim_eps: float = 1e-5
    """RMSprop epsilon (pymarl ``optim_eps``)."""
    adam_eps: float = 1e-8
    """Adam epsilon (pymarl2 keeps torch's 1e-8; the QTRAN authors' TensorFlow code uses 1.5e-4)."""
    gamma: float = 0.99
    """Discount (pymarl ``gamma``)."""
    td_lambda: float = 0.6
    """lambda of the TD(lambda) targets (pymarl2 0.6; 0 gives pymarl's 1-step targets)."""
    double_q: bool = True
    """Pick the next greedy actions with the online agents and value them with the target networks (pymarl2: always)."""
    epsilon_start: float = 1.0
    """Exploration rate at step 0 (pymarl ``epsilon_start``)."""
    epsilon_finish: float = 0.05
    """Exploration rate after the anneal (pymarl ``epsilon_finish``)."""
    epsilon_anneal_time: int = 100_000
    """Env steps of the linear anneal (pymarl2 100k; pymarl 50k)."""
    eval_epsilon: float = 0.0
    """Exploration rate of test episodes and of ``predict`` (pymarl test mode and epymarl ``evaluation_epsilon``: 0)."""
    target_update_interval: int = 200
    """Hard-copy the online networks into the target networks every this many training episodes (pymarl/pymarl2)."""
    target_update_tau: float | None = None
    """Soft (Polyak) target update with this tau after every gradient step instead of hard copies (epymarl's
    ``target_update_interval_or_tau`` <= 1); None keeps the hard copies."""
    bootstrap_truncated: bool = True
    """Bootstrap from the final observation when a time limit cuts an episode (Gymnasium's ``truncated``: pymarl's
    ``episode_limit`` rule); False stores time limits as terminal, as pymarl does on SMAC (``continuing_episode:
    False``)."""
    grad_norm_clip: float = 10.0
    """Gradient-norm clip (pymarl ``grad_norm_clip``)."""
    hidden_dim: int = 64
    """Width of the agent network and its GRU (pymarl ``rnn_hidden_dim``)."""
    use_rnn: bool = True
    """GRU agents (pymarl) or MLP agents (epymarl QMIX ``use_rnn: False``)."""
    obs_last_action: bool = True
    """Feed the agent its previous action, one-hot (pymarl/pymarl2: True; epymarl: False)."""
    obs_agent_id: bool = True
    """Feed the agent its id, one-hot (pymarl: True)."""
    mlp_hidden_layers: int = 2
    """Hidden ReLU layers of MLP agents (``use_rnn=False``; epymarl 2, the QTRAN authors' predator-prey networks 3)."""
    init_std: float | None = None
    """None keeps torch's default initialisation; a number draws the weights of every ``nn.Linear`` of the agent and
    mixing networks from ``N(0, init_std)`` with zero biases (the QTRAN authors' TensorFlow code: 0.1)."""
    warmup_steps: int = 0
    """Env steps at the start of training that act uniformly at random (within the action masks) and make no
    gradient step (SB3 DQN's ``learning_starts``; the QTRAN authors' predator-prey: ``32 x 300 = 9600``). Epsilon
    anneals from step 0 all the same."""
    test_interval: int = 10_000
    """Run greedy test episodes every this many env steps (pymarl ``sc2.yaml``: 10k)."""
    test_nepisode: int = 32
    """Test episodes per test (pymarl ``sc2.yaml``: 32); 0 turns testing off."""
    episode_limit: int | None = None
    """Longest episode, for sizing the replay; None reads the env's ``episode_limit``/``max_steps`` attribute where it
    has one and otherwise lets the replay grow."""


def _q_network_inputs(config: OffPolicyConfig, obs_dim: int, n_actions: int, n_agents: int) -> int:
    return obs_dim + (n_actions if config.obs_last_action else 0) + (n_agents if config.obs_agent_id else 0)


# --------------------------------------------------------------------------------------------------------------
# The agent core of the family
# --------------------------------------------------------------------------------------------------------------


class OffPolicyAgent(BaseAgent):
    """Episode runner, replay and masked epsilon-greedy acting for recurrent value-decomposition agents.

    The runner steps the ``E`` envs of the vec env together (``t_env`` counts env steps summed over envs). Each env's
    episode goes into the replay when it ends; a runner iteration lasts until ``E`` episodes have ended (pymarl2's
    parallel runner: ``batch_size_run`` envs, one episode each) and is followed by **one** gradient step once the replay
    holds ``batch_size`` episodes. Unlike pymarl2, an env that finishes early starts its next episode right away
    instead of idling, so iterations may end with episodes of some envs still running.

    Every ``test_interval`` env steps, ``test_nepisode`` greedy episodes run on the same envs (not counted in
    ``t_env``), which are then reset; ``eval/ep_rew_mean`` and ``eval/win_rate`` (where the env reports wins) are logged.

    Subclasses build their mixers in :meth:`_setup_mixer` and write the update in :meth:`train`.
    """

    config: OffPolicyConfig
    config_class: ClassVar[type[Any]] = OffPolicyConfig
    default_n_envs: ClassVar[int] = 8

    # ----------------------------------------------------------------------------------------------------------
    # Model
    # ----------------------------------------------------------------------------------------------------------
    def _setup_model(self) -> None:
        sp, cfg = self.spaces, self.config
        if not sp.discrete:
            raise ValueError(f"{self.algorithm_name or type(self).__name__} needs discrete actions; this env's are continuous")
        self.n_agents, self.n_actions = sp.n_agents, sp.n_actions
        self.agent = AgentNetwork(
            _q_network_inputs(cfg, sp.obs_dim, sp.n_actions, sp.n_agents),
            sp.n_actions,
            cfg.hidden_dim,
            cfg.use_rnn,
            cfg.mlp_hidden_layers,
        ).to(self.device)
        self.mixer: nn.Module | None = self._setup_mixer()
        if self.mixer is not None:
            self.mixer.to(self.device)
        if cfg.init_std is not None:
            if not cfg.init_std > 0:
                raise ValueError(f"init_std must be positive or None, got {cfg.init_std}")
            for module in (self.agent, self.mixer):
                for layer in [] if module is None else module.modules():
                    if isinstance(layer, nn.Linear):
                        nn.init.normal_(layer.weight, 0.0, cfg.init_std)
                        if layer.bias is not None:
                            nn.init.zeros_(layer.bias)
        if cfg.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {cfg.warmup_steps}")
        self.target_agent = copy.deepcopy(self.agent).requires_grad_(False)
        self.target_mixer = None if self.mixer is None else copy.deepcopy(self.mixer).requires_grad_(False)
        params = list(self.agent.parameters()) + ([] if self.mixer is None else list(self.mixer.parameters()))
        self.params = params
        self.optimizer: torch.optim.Optimizer
        if cfg.optimizer == "adam":
            self.optimizer = make_adam(params, lr=cfg.lr, eps=cfg.adam_eps)  # fused: one call for all the tensors
        elif cfg.optimizer == "rmsprop":
            self.optimizer = torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.optim_alpha, eps=cfg.optim_eps, foreach=True)
        else:
            raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {cfg.optimizer!r}")
        if cfg.sample_unit not in ("episode", "step"):
            raise ValueError(f"sample_unit must be 'episode' or 'step', got {cfg.sample_unit!r}")
        if cfg.sample_unit == "step" and (cfg.use_rnn or cfg.obs_last_action):
            raise ValueError(
                "sample_unit='step' learns from single steps, so the agents must not depend on earlier steps: "
                "set use_rnn=False and obs_last_action=False"
            )
        if cfg.steps_per_update < 1:
            raise ValueError(f"steps_per_update must be at least 1, got {cfg.steps_per_update}")
        self.exploration = DecayThenFlatSchedule(cfg.epsilon_start, cfg.epsilon_finish, cfg.epsilon_anneal_time)
        # which actions exist for each agent (agents with fewer actions than A)
        self.action_exists = np.zeros((sp.n_agents, sp.n_actions), dtype=bool)
        for n, a in enumerate(sp.n_actions_per_agent):
            self.action_exists[n, :a] = True
        self.replay = EpisodeReplayBuffer(
            cfg.buffer_size, sp.n_agents, sp.obs_dim, sp.state_dim, sp.n_actions, self._episode_limit(), seed=self.seed
        )
        self._episodes_since_target_update = 0
        self._last_test_t = -np.inf
        self._trained_t = 0  # env steps already paid for by gradient steps (sample_unit="step")
        self._rollout: EpisodeRecorder | None = None

    def _setup_mixer(self) -> nn.Module | None:
        """The algorithm's mixing network (None: independent agents)."""
        return None

    def _episode_limit(self) -> int:
        if self.config.episode_limit is not None:
            return int(self.config.episode_limit)
        if self.env is not None:
            for name in ("episode_limit", "max_episode_steps", "max_steps", "max_cycles"):
                try:
                    value = self.env.get_attr(name, indices=[0])[0]
                except Exception:
                    continue
                if isinstance(value, (int, np.integer)) and value > 0:
                    return int(value)
        return 64

    def _modules(self) -> dict[str, nn.Module]:
        modules: dict[str, nn.Module] = {"agent": self.agent, "target_agent": self.target_agent}
        if self.mixer is not None and self.target_mixer is not None:
            modules.update(mixer=self.mixer, target_mixer=self.target_mixer)
        return modules

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}

    @property
    def exploration_rate(self) -> float:
        """The current epsilon (SB3's DQN name): 1 during the ``warmup_steps``, then the schedule's."""
        if self.num_timesteps < self.config.warmup_steps:
            return 1.0
        return self.exploration(self.num_timesteps)

    # ----------------------------------------------------------------------------------------------------------
    # Acting
    # ----------------------------------------------------------------------------------------------------------
    def _agent_step(self, obs: np.ndarray, last_actions: np.ndarray, hidden: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        """One forward pass of the shared agent network: ``obs (E, N, D)``, ``last_actions (E, N)`` (-1: none),
        ``hidden (E*N, H)`` -> ``q (E, N, A)`` numpy, new hidden."""
        E = obs.shape[0]
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        last_t = torch.as_tensor(last_actions, dtype=torch.int64, device=self.device) if self.config.obs_last_action else None
        inputs = build_agent_inputs(obs_t, last_t, self.n_actions, self.config.obs_agent_id)  # (E, N, in)
        with torch.no_grad():
            q, hidden = self.agent(inputs.reshape(E * self.n_agents, -1), hidden)
        return q.view(E, self.n_agents, self.n_actions).cpu().numpy(), hidden

    def agent_q_values(self, obs: np.ndarray) -> np.ndarray:
        """Each agent's Q-values at the first step of an episode (zero hidden state, no last action).

        Args:
            obs: ``(E, N, D)`` observations.

        Returns:
            ``(E, N, A)`` Q-values (unavailable actions included).
        """
        E = obs.shape[0]
        hidden = self.agent.initial_state(E * self.n_agents, self.device)
        q, _ = self._agent_step(np.asarray(obs, dtype=np.float32), np.full((E, self.n_agents), -1), hidden)
        return q

    def _first_step_hidden(self, obs: torch.Tensor) -> torch.Tensor:
        """GRU state after the first step of an episode, ``obs (B, N, D)`` -> ``(B, N, H)``."""
        B, N = obs.shape[:2]
        last = torch.full((B, N), -1, dtype=torch.int64, device=obs.device) if self.config.obs_last_action else None
        inputs = build_agent_inputs(obs, last, self.n_actions, self.config.obs_agent_id)
        with torch.no_grad():
            _, hidden = self.agent(inputs.reshape(B * N, -1), self.agent.initial_state(B * N, self.device))
        return hidden.view(B, N, -1)

    def _action_mask(self, mask: np.ndarray | None, n_envs: int) -> np.ndarray:
        if mask is None:
            return np.broadcast_to(self.action_exists, (n_envs, *self.action_exists.shape)).copy()
        return mask & self.action_exists

    def _predict_arrays(
        self,
        obs: np.ndarray,
        action_mask: np.ndarray | None,
        state: np.ndarray | None,
        episode_start: np.ndarray | None,
        deterministic: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Greedy actions (``deterministic`` or not: ``eval_epsilon`` is 0 by default, as in pymarl's test mode).

        The recurrent ``state`` is ``(E, N, H + A)``: the GRU hidden state followed by the one-hot last action.
        """
        E, H, A = obs.shape[0], self.config.hidden_dim, self.n_actions
        if state is None:
            state = np.zeros((E, self.n_agents, H + A), dtype=np.float32)
        state = np.asarray(state, dtype=np.float32)
        if state.shape != (E, self.n_agents, H + A):
            raise ValueError(f"state must have shape {(E, self.n_agents, H + A)} (hidden + last action), got {state.shape}")
        state = state.copy()
        if episode_start is not None:
            state[episode_start] = 0.0
        onehot = state[..., H:]
        last_actions = np.where(onehot.any(-1), onehot.argmax(-1), -1)
        hidden = torch.as_tensor(state[..., :H].reshape(E * self.n_agents, H), device=self.device)
        q, hidden = self._agent_step(obs, last_actions, hidden)
        epsilon = 0.0 if deterministic else self.config.eval_epsilon
        actions = epsilon_greedy(q, self._action_mask(action_mask, E), epsilon, self.rng)
        new_state = np.concatenate(
            [hidden.view(E, self.n_agents, H).cpu().numpy(), np.eye(A, dtype=np.float32)[actions]], axis=-1
        )
        return actions, new_state

    # ----------------------------------------------------------------------------------------------------------
    # Runner
    # ----------------------------------------------------------------------------------------------------------
    def learn(
        self: SelfOffPolicyAgent,
        total_timesteps: int | float,
        callback: Any = None,
        log_interval: int | None = 20,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfOffPolicyAgent:
        """Train for ``total_timesteps`` env steps (see :meth:`BaseAgent.learn`); logs every 20 runner iterations
        (``20 * n_envs`` episodes) by default."""
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)

    def _setup_learn(
        self, total_timesteps: int, callback: Any, reset_num_timesteps: bool, tb_log_name: str, progress_bar: bool
    ) -> tuple[int, BaseCallback]:
        total, cb = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        if reset_num_timesteps:
            self._last_test_t = -np.inf
            self._trained_t = 0
        self._reset_rollout()
        return total, cb

    def _on_env_change(self) -> None:
        self._rollout = None

    def _reset_rollout(self) -> None:
        """Fresh per-env episode state (called whenever the envs were reset)."""
        assert self.env is not None
        E, sp = self.env.num_envs, self.spaces
        self._rollout = EpisodeRecorder(E, sp.n_agents, sp.obs_dim, sp.state_dim, sp.n_actions, self.replay.episode_limit)
        self._hidden = self.agent.initial_state(E * sp.n_agents, self.device)
        self._last_actions = np.full((E, sp.n_agents), -1, dtype=np.int64)

    def collect_rollouts(self, env: MultiAgentVecEnv, callback: BaseCallback) -> bool:
        """Step the envs with epsilon-greedy actions until ``E`` episodes have ended; store them in the replay."""
        cfg = self.config
        if cfg.test_nepisode > 0 and self.num_timesteps - self._last_test_t >= cfg.test_interval:
            self._last_test_t = self.num_timesteps
            self.run_test_episodes(env, cfg.test_nepisode)
        if self._rollout is None or self._last_obs is None:
            self._last_obs = self._reset_env()
            self._reset_rollout()
        rollout = self._rollout
        assert rollout is not None and self._last_obs is not None
        E, N, H = env.num_envs, self.n_agents, self.config.hidden_dim
        callback.on_rollout_start()
        finished = 0
        while finished < E:
            obs = self._last_obs
            mask = self._action_mask(obs.action_mask, E)
            rollout.observe(obs.obs, obs.state, mask, obs.active)
            q, self._hidden = self._agent_step(obs.obs, self._last_actions, self._hidden)
            actions = epsilon_greedy(q, mask, self.exploration_rate, self.rng)  # (E, N)
            step = env.step(actions)
            self.num_timesteps += E
            terminal = step.terminated if cfg.bootstrap_truncated else step.terminated | step.truncated
            rollout.act(actions, step.reward, terminal, step.truncated & ~terminal)
            self._last_actions = actions
            done = np.logical_or(step.terminated, step.truncated)
            for k in np.flatnonzero(done):
                info = step.infos[k]
                final_mask = info.get("final_action_mask")
                final_mask = self.action_exists if final_mask is None else final_mask & self.action_exists
                final_active = info.get("final_active", np.ones(N, dtype=bool))
                rollout.observe_env(int(k), info["final_obs"], info["final_state"], final_mask, final_active)
                self.replay.add(rollout.finish(int(k)))
                if "episode" in info:
                    self.ep_info_buffer.append(info["episode"])
                self._episode_num += 1
                self._episodes_since_target_update += 1
                finished += 1
                self._last_actions[k] = -1
                self._hidden.view(E, N, H)[k] = 0.0
            self._last_obs = step.obs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
        self.logger.record("rollout/epsilon", self.exploration_rate)
        callback.on_rollout_end()
        return True

    def run_test_episodes(self, env: MultiAgentVecEnv, n_episodes: int) -> dict[str, float]:
        """Run ``n_episodes`` greedy episodes (``eval_epsilon``) on ``env``, log ``eval/*`` and reset ``env``.

        Returns:
            ``{"ep_rew_mean", "ep_len_mean"[, "win_rate"]}``.
        """
        E, N = env.num_envs, self.n_agents
        obs = self._reset_env() if env is self.env else env.reset()[0]
        hidden = self.agent.initial_state(E * N, self.device)
        last_actions = np.full((E, N), -1, dtype=np.int64)
        episodes: list[dict[str, Any]] = []
        while len(episodes) < n_episodes:
            mask = self._action_mask(obs.action_mask, E)
            q, hidden = self._agent_step(obs.obs, last_actions, hidden)
            actions = epsilon_greedy(q, mask, self.config.eval_epsilon, self.rng)
            step = env.step(actions)
            last_actions = actions
            for k in np.flatnonzero(np.logical_or(step.terminated, step.truncated)):
                episodes.append(step.infos[k].get("episode", {}))
                last_actions[k] = -1
                hidden.view(E, N, -1)[k] = 0.0
            obs = step.obs
        episodes = episodes[:n_episodes]
        stats = {
            "ep_rew_mean": float(np.mean([ep.get("r", np.nan) for ep in episodes])),
            "ep_len_mean": float(np.mean([ep.get("l", np.nan) for ep in episodes])),
        }
        wins = [float(ep["win"]) for ep in episodes if "win" in ep]
        if wins:
            stats["win_rate"] = float(np.mean(wins))
        for key, value in stats.items():
            self.logger.record(f"eval/{key}", value)
        if env is self.env:  # the training episodes were interrupted: start fresh ones
            self._last_obs = self._reset_env()
            self._reset_rollout()
        return stats

    # ----------------------------------------------------------------------------------------------------------
    # Training
    # ----------------------------------------------------------------------------------------------------------
    def train(self) -> None:
        """The gradient steps due after a runner iteration, each by :meth:`_update` on a fresh sample.

        ``sample_unit="episode"``: one step on ``batch_size`` episodes once the replay holds that many.
        ``sample_unit="step"``: one step on ``batch_size`` single steps per ``steps_per_update`` env steps collected
        since the last call, once the replay holds ``batch_size`` steps (steps collected before that are not owed).
        Neither makes a gradient step before ``warmup_steps`` env steps (nor owes one for them).
        """
        cfg = self.config
        if cfg.sample_unit == "episode":
            if self.replay.can_sample(cfg.batch_size) and self.num_timesteps >= cfg.warmup_steps:
                self._update(self.replay.sample(cfg.batch_size, self.device))
            return
        if self.replay.n_steps() < cfg.batch_size or self.num_timesteps < cfg.warmup_steps:
            self._trained_t = self.num_timesteps
            return
        self._trained_t = max(self._trained_t, cfg.warmup_steps)  # the warm-up's steps are not owed
        n_updates = (self.num_timesteps - self._trained_t) // cfg.steps_per_update
        self._trained_t += n_updates * cfg.steps_per_update
        for _ in range(n_updates):
            self._update(self.replay.sample_steps(cfg.batch_size, self.device))

    def _update(self, batch: EpisodeBatch) -> None:
        """One gradient step on ``batch`` (the algorithm's loss)."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------------------------
    # Helpers for _update()
    # ----------------------------------------------------------------------------------------------------------
    def _unroll(self, agent: AgentNetwork, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``agent`` over whole episodes from a zero hidden state (an MLP agent over all slots at once).

        Returns:
            Q-values ``(B, T+1, N, A)`` and hidden states ``(B, T+1, N, H)`` of every slot.
        """
        B, T1, N, _ = batch.obs.shape
        last = None
        if self.config.obs_last_action:
            last = torch.cat([torch.full_like(batch.actions[:, :1], -1), batch.actions], dim=1)  # (B, T+1, N)
        inputs = build_agent_inputs(batch.obs, last, self.n_actions, self.config.obs_agent_id)  # (B, T+1, N, in)
        if not agent.use_rnn:  # no state carried between steps: every slot in one call
            q, h = agent(inputs.reshape(B * T1 * N, -1), inputs.new_zeros(0))
            return q.view(B, T1, N, -1), h.view(B, T1, N, -1)
        hidden = agent.initial_state(B * N, self.device)
        qs, hs = [], []
        for t in range(T1):
            q, hidden = agent(inputs[:, t].reshape(B * N, -1), hidden)
            qs.append(q.view(B, N, -1))
            hs.append(hidden.view(B, N, -1))
        return torch.stack(qs, dim=1), torch.stack(hs, dim=1)

    def _gradient_step(self, loss: torch.Tensor) -> float:
        """Backward, clip the gradient norm, step; update the target networks when due. Returns the gradient norm."""
        self.optimizer.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_norm_clip)
        self.optimizer.step()
        self._n_updates += 1
        cfg = self.config
        if cfg.target_update_tau is not None:
            polyak_update(self.agent.parameters(), self.target_agent.parameters(), cfg.target_update_tau)
            if self.mixer is not None and self.target_mixer is not None:
                polyak_update(self.mixer.parameters(), self.target_mixer.parameters(), cfg.target_update_tau)
        elif self._episodes_since_target_update >= cfg.target_update_interval:
            self.update_targets()
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        return float(grad_norm)

    def update_targets(self) -> None:
        """Hard-copy the online networks into the target networks."""
        self.target_agent.load_state_dict(self.agent.state_dict())
        if self.mixer is not None and self.target_mixer is not None:
            self.target_mixer.load_state_dict(self.mixer.state_dict())
        self._episodes_since_target_update = 0

    # ----------------------------------------------------------------------------------------------------------
    # Checkpoints
    # ----------------------------------------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        return {
            "episodes_since_target_update": self._episodes_since_target_update,
            "trained_t": self._trained_t,
            "last_test_t": None if not np.isfinite(self._last_test_t) else float(self._last_test_t),
            "replay_rng": self.replay.rng.bit_generator.state,
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._episodes_since_target_update = int(state.get("episodes_since_target_update", 0))
        self._trained_t = int(state.get("trained_t", self.num_timesteps))
        last = state.get("last_test_t")
        self._last_test_t = -np.inf if last is None else float(last)
        if "replay_rng" in state:
            self.replay.rng.bit_generator.state = state["replay_rng"]

    @property
    def replay_buffer(self) -> EpisodeReplayBuffer:
        """The replay buffer (``self.replay``), under the name SB3's callbacks look for."""
        return self.replay

    def save_replay_buffer(self, path: str | os.PathLike[str]) -> Path:
        """Write the replay buffer to a zip (``replay.json`` + safetensors entries of ~64 MB; nothing pickled)."""
        return self.replay.save(path)

    def load_replay_buffer(self, path: str | os.PathLike[str]) -> None:
        """Load a replay buffer written by :meth:`save_replay_buffer`.

        Raises:
            ValueError: Not a trmarl replay file, or one for other array sizes.
        """
        self.replay.load(path)  # entry by entry straight into the replay's storage
