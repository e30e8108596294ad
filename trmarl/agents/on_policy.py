"""``OnPolicyAgent``: rollouts, the buffer, GAE, value normalisation and the critic of HAPPO/HATRPO/MAPPO/IPPO.

The algorithm files (``happo.py``, ``hatrpo.py``, ``mappo.py``) only write ``train()``'s actor update; everything here is
shared infrastructure (HARL's runner, buffers and critic, ``shared/specs/trust_region.md`` §1, §4-§6):

* **Rollout**: ``n_steps`` steps in each of the ``E`` envs. Actors are evaluated on their own observations, all agents
  in one batched pass (one forward of the shared actor, or :class:`~trmarl.common.networks.StackedActors` over
  same-shaped separate actors); actions are sampled unclipped, with one torch thread. A feed-forward critic values
  the whole rollout (and the final states of truncated episodes) in one batched pass after it, a GRU critic step by step.
* **Buffer** ``(T, E, N, ...)``: observations, states, actions, rollout log-probs, masks, rewards,
  terminated/truncated flags, normalised values ``(T + 1, E, C)`` (``C`` = 1 value column for a centralised critic,
  ``N`` for per-agent critics), recurrent hidden states.
* **GAE** (:func:`compute_gae`): by default a truncated episode bootstraps from ``V(final_state)`` (Gymnasium's
  terminated/truncated split); ``harl_exact=True`` reproduces HARL's ``bad_transition`` convention (the truncated step
  gets advantage 0 and return ``V(s_t)``).
* **Critic** (:meth:`OnPolicyAgent.train_critic`): HARL's clipped Huber value loss on ValueNorm-normalised returns,
  ``critic_epochs`` x ``critic_n_minibatches``, after the actors; with ``concurrent_critic`` in a worker thread beside
  the actor update or the next rollout (:meth:`OnPolicyAgent.prepare_critic_update`).
* **Recurrent** policies store the hidden state before every step and train on chunks of ``data_chunk_length`` steps
  started from the stored hidden state, zeroing it at episode starts.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import explained_variance
from torch import nn

from trmarl.agents.base import BaseAgent, torch_threads
from trmarl.common.distributions import Distribution
from trmarl.common.networks import Actor, Critic, StackedActors
from trmarl.common.valuenorm import ValueNorm
from trmarl.envs.vec_env import MultiAgentVecEnv

__all__ = ["ActorBatch", "CriticBatch", "OnPolicyAgent", "OnPolicyConfig", "RolloutBuffer", "compute_gae"]


# --------------------------------------------------------------------------------------------------------------
# Configuration shared by the on-policy family
# --------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class OnPolicyConfig:
    """Hyperparameters shared by HAPPO, HATRPO, MAPPO and IPPO.

    Defaults are HARL's tuned MaMuJoCo HalfCheetah-2x3 config (``tuned_configs/mamujoco/HalfCheetah-v2-2x3``), else
    HARL's yaml defaults (``harl/configs/algos_cfgs/happo.yaml``); ``docs/algorithms/`` lists them.
    """

    n_steps: int = 200
    """Steps per env per rollout (HARL ``episode_length``: 200)."""
    gamma: float = 0.99
    """Discount (HARL: 0.99)."""
    gae_lambda: float = 0.95
    """GAE lambda (HARL: 0.95)."""
    learning_rate: float = 5e-4
    """Actor Adam learning rate (HARL ``lr``: 5e-4)."""
    critic_learning_rate: float = 5e-4
    """Critic Adam learning rate (HARL ``critic_lr``: 5e-4)."""
    adam_eps: float = 1e-5
    """Adam epsilon (HARL ``opti_eps``: 1e-5)."""
    weight_decay: float = 0.0
    """Adam weight decay (HARL: 0)."""
    linear_lr_decay: bool = False
    """Decay both learning rates linearly to 0 over ``total_timesteps`` (HARL ``use_linear_lr_decay``; HalfCheetah: no)."""
    hidden_sizes: tuple[int, ...] = (128, 128, 128)
    """Hidden layer widths of actors and critic (HARL tuned MaMuJoCo: [128, 128, 128]; yaml default [128, 128])."""
    activation: str = "relu"
    """Hidden activation (HARL: ReLU)."""
    feature_norm: bool = True
    """LayerNorm on the network inputs (HARL ``use_feature_normalization``: True)."""
    recurrent: bool = False
    """Add a GRU layer to actors and critic (HARL ``use_recurrent_policy``; never used for MaMuJoCo)."""
    data_chunk_length: int = 10
    """Recurrent training: length of the chunks the rollout is cut into (HARL: 10)."""
    output_gain: float = 0.01
    """Orthogonal gain of the actor output layer (HARL ``gain``: 0.01)."""
    std_x_coef: float = 1.0
    """Gaussian ``std = sigmoid(log_std / std_x_coef) * std_y_coef``, ``log_std`` initialised to it (HARL: 1)."""
    std_y_coef: float = 0.5
    """Upper bound of the Gaussian std (HARL: 0.5)."""
    clip_range: float = 0.05
    """PPO ratio clip and critic value clip (HARL ``clip_param``; HalfCheetah-2x3 tuned: 0.05, yaml default 0.2)."""
    critic_epochs: int = 15
    """Critic epochs per iteration (HARL ``critic_epoch``; HalfCheetah-2x3 tuned: 15, yaml default 5)."""
    critic_n_minibatches: int = 1
    """Critic minibatches per epoch (HARL ``critic_num_mini_batch``: 1)."""
    value_loss_coef: float = 1.0
    """Weight of the value loss (HARL: 1)."""
    huber_delta: float | None = 10.0
    """Huber delta of the value loss; None for a squared error (HARL: Huber, 10)."""
    clip_value_loss: bool = True
    """Clip the value prediction around the rollout value by ``clip_range`` (HARL ``use_clipped_value_loss``)."""
    use_value_norm: bool = True
    """Normalise value targets with HARL's ValueNorm (HARL ``use_valuenorm``: True)."""
    normalize_advantage: bool = True
    """Normalise advantages over active samples before the actor update (HARL: always)."""
    max_grad_norm: float | None = 10.0
    """Gradient-norm clip for actors and critic; None disables it (HARL: 10)."""
    share_param: bool = False
    """One actor shared by all agents (HARL ``share_param``; HAPPO/HATRPO: False, MAPPO: True)."""
    fixed_order: bool = False
    """Update agents in index order instead of a fresh random permutation each iteration (HAPPO: False)."""
    centralized_critic: bool = True
    """One critic on the global state; False gives every agent a critic on its own observation (IPPO)."""
    harl_exact: bool = False
    """GAE with HARL's ``bad_transition`` convention (no bootstrap from the final state on truncation)."""
    concurrent_critic: bool = True
    """Run the critic update in a worker thread (trmarl; HARL's actors-then-critic numbers, since the critic's loss
    reads only the rollout): beside the actor update with ``n_threads=1``, beside the next rollout with
    ``n_threads`` > 1 (the actors then have every core). False runs it right after the actors."""

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        positive_ints = ("n_steps", "critic_epochs", "critic_n_minibatches", "data_chunk_length")
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("learning_rate", "critic_learning_rate", "adam_eps", "clip_range", "std_x_coef", "std_y_coef"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError(f"gamma and gae_lambda must be in [0, 1], got {self.gamma}, {self.gae_lambda}")
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive widths, got {self.hidden_sizes}")
        if self.recurrent and self.n_steps % self.data_chunk_length:
            raise ValueError(f"n_steps ({self.n_steps}) must be a multiple of data_chunk_length ({self.data_chunk_length})")


# --------------------------------------------------------------------------------------------------------------
# Buffer and samples
# --------------------------------------------------------------------------------------------------------------


class ActorBatch(NamedTuple):
    """Actor training samples of one actor (leading ``(B,)`` feed-forward, ``(L, B)`` recurrent)."""

    obs: torch.Tensor  # (B, d) | (L, B, d)
    actions: torch.Tensor  # (B, a) float | (B,) long
    old_log_probs: torch.Tensor  # (B,) log-probs at rollout time
    advantages: torch.Tensor  # (B,)
    factor: torch.Tensor  # (B,) HAPPO/HATRPO factor (ones elsewhere)
    active: torch.Tensor  # (B,) 1.0 where the agent was alive
    action_masks: torch.Tensor | None  # (B, A) bool, discrete only
    episode_starts: torch.Tensor | None  # (L, B), recurrent only
    hidden: torch.Tensor | None  # (B, H) hidden state at the start of each sequence, recurrent only


class CriticBatch(NamedTuple):
    """Critic training samples (leading ``(B,)`` feed-forward, ``(L, B)`` recurrent)."""

    inputs: torch.Tensor  # (B, S) state or (B, d) observation
    returns: torch.Tensor  # (B,) denormalised
    old_values: torch.Tensor  # (B,) normalised, at rollout time
    episode_starts: torch.Tensor | None  # (L, B)
    hidden: torch.Tensor | None  # (B, H)


class RolloutBuffer:
    """Fixed-size on-policy storage, ``(T, E, N, ...)``; ``C`` value columns (1 centralised, ``N`` per-agent critics)."""

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        n_agents: int,
        obs_dim: int,
        state_dim: int,
        act_dim: int,
        n_actions: int,
        n_value_cols: int,
        actor_hidden: int,
        critic_hidden: int,
        device: torch.device,
    ) -> None:
        T, E, N, C = n_steps, n_envs, n_agents, n_value_cols

        def zeros(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.zeros(shape, dtype=dtype, device=device)

        self.n_steps, self.n_envs, self.n_agents, self.n_value_cols = T, E, N, C
        self.obs = zeros(T, E, N, obs_dim)
        self.states = zeros(T, E, state_dim)
        self.discrete = n_actions > 0
        self.actions = zeros(T, E, N, dtype=torch.long) if self.discrete else zeros(T, E, N, act_dim)
        self.log_probs = zeros(T, E, N)
        self.action_masks = zeros(T, E, N, n_actions, dtype=torch.bool) if self.discrete else None
        self.active = zeros(T, E, N)
        self.rewards = zeros(T, E)
        self.terminated = zeros(T, E)
        self.truncated = zeros(T, E)
        self.episode_starts = zeros(T, E)  # 1 where obs[t] is the first of an episode
        self.values = zeros(T + 1, E, C)  # normalised critic outputs
        self.final_values = zeros(T, E, C)  # normalised V(final state) where truncated[t]
        self.actor_hidden = zeros(T, E, N, actor_hidden) if actor_hidden else None
        self.critic_hidden = zeros(T, E, C, critic_hidden) if critic_hidden else None
        self.advantages = zeros(T, E, C)
        self.returns = zeros(T, E, C)


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    final_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    gae_lambda: float,
    harl_exact: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation with Gymnasium's termination/truncation split.

    Args:
        rewards: ``(T, E)`` team rewards.
        values: ``(T + 1, E, C)`` denormalised ``V(s_t)``; the last row is the value of the observation after the rollout.
        final_values: ``(T, E, C)`` denormalised ``V(final state)`` of episodes truncated at step ``t``.
        terminated: ``(T, E)`` 1.0 where the episode ended by termination at step ``t``.
        truncated: ``(T, E)`` 1.0 where it ended by a time limit at step ``t``.
        gamma: Discount.
        gae_lambda: GAE lambda.
        harl_exact: HARL's convention: on truncation no bootstrap at all; the step's advantage is zeroed
            (``bad_masks``) so its return is ``V(s_t)``.

    Returns:
        ``(T, E, C)`` advantages and returns (``advantages + values[:-1]``).
    """
    T = rewards.shape[0]
    r = rewards.unsqueeze(-1)  # (T, E, 1)
    done = (terminated + truncated).clamp(max=1.0).unsqueeze(-1)  # (T, E, 1)
    trunc = truncated.unsqueeze(-1)
    term = terminated.unsqueeze(-1)
    advantages = torch.zeros_like(values[:-1])
    gae = torch.zeros_like(values[0])
    for t in reversed(range(T)):
        if harl_exact:
            delta = r[t] + gamma * values[t + 1] * (1.0 - done[t]) - values[t]
            gae = delta + gamma * gae_lambda * (1.0 - done[t]) * gae
            gae = gae * (1.0 - trunc[t] * (1.0 - term[t]))
        else:
            next_value = values[t + 1] * (1.0 - done[t]) + final_values[t] * trunc[t] * (1.0 - term[t])
            delta = r[t] + gamma * next_value - values[t]
            gae = delta + gamma * gae_lambda * (1.0 - done[t]) * gae
        advantages[t] = gae
    return advantages, advantages + values[:-1]


def _masked_normalize(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``(x - mean) / (std + eps)`` with mean/std over entries where ``mask`` is 1 (HARL's nan-masked statistics)."""
    n = mask.sum().clamp(min=1.0)
    mean = (x * mask).sum() / n
    std = (((x - mean).pow(2) * mask).sum() / n).sqrt()  # HARL: np.nanstd (ddof 0)
    return (x - mean) / (std + eps)


# --------------------------------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------------------------------


class OnPolicyAgent(BaseAgent):
    """Shared machinery of the trust-region family; subclasses write :meth:`train` (the actor update).

    Attributes:
        actors: ``nn.ModuleList`` of one actor per agent, or one shared actor (``share_param``).
        critics: ``nn.ModuleList`` holding the centralised critic, or per-agent observation critics (IPPO).
        value_norm: HARL's ValueNorm (an ``nn.Identity`` placeholder when ``use_value_norm=False``).
        actor_optimizers / critic_optimizers: One Adam per actor / critic.
        buffer: The :class:`RolloutBuffer` of the last rollout.
    """

    config: OnPolicyConfig
    default_n_envs = 20  # HARL n_rollout_threads
    sequential: ClassVar[bool] = False
    """True for HAPPO/HATRPO (agents updated one after another, weighted by the ratio factor of those before), False
    for MAPPO/IPPO (every actor from the same data); with ``share_param``, ``fixed_order`` and ``centralized_critic``
    it places an algorithm in the family."""

    # -- construction -----------------------------------------------------------------------------------------
    def _setup_model(self) -> None:
        cfg, sp = self.config, self.spaces
        self._critic_job: tuple[np.random.Generator, dict[str, torch.Tensor | None]] | None = None  # prepared update
        self._pending_critic: tuple[threading.Thread, dict[str, Any]] | None = None  # a critic update in flight
        # (step, env indices, final obs, final states, critic hidden) of episodes truncated in the current rollout
        self._final_states: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, torch.Tensor | None]] = []
        N = sp.n_agents
        if cfg.share_param:
            dims = set(sp.obs_dims)
            acts = set(sp.n_actions_per_agent if sp.discrete else sp.act_dims)
            if len(dims) > 1 or len(acts) > 1:
                raise ValueError(
                    f"share_param=True needs agents with equal observation and action sizes, got obs {sp.obs_dims} and "
                    f"actions {sp.n_actions_per_agent if sp.discrete else sp.act_dims}"
                )
        n_actors = 1 if cfg.share_param else N
        self.hidden_size = cfg.hidden_sizes[-1] if cfg.recurrent else 0  # GRU width (0: feed-forward)
        self.actor_of = [0] * N if cfg.share_param else list(range(N))  # agent index -> actor index
        self.actors = nn.ModuleList(
            Actor(
                sp.obs_dims[i],
                cfg.hidden_sizes,
                act_dim=0 if sp.discrete else sp.act_dims[i],
                n_actions=sp.n_actions_per_agent[i] if sp.discrete else 0,
                activation=cfg.activation,
                feature_norm=cfg.feature_norm,
                recurrent=cfg.recurrent,
                gain=cfg.output_gain,
                std_x_coef=cfg.std_x_coef,
                std_y_coef=cfg.std_y_coef,
            )
            for i in range(n_actors)
        ).to(self.device)
        if cfg.centralized_critic:
            critic_inputs = [sp.state_dim]
            self.critic_of = [0]
        else:
            critic_inputs = [sp.obs_dims[0]] if cfg.share_param else list(sp.obs_dims)
            self.critic_of = [0] * N if cfg.share_param else list(range(N))
        self.n_value_cols = 1 if cfg.centralized_critic else N
        self.critics = nn.ModuleList(
            Critic(d, cfg.hidden_sizes, activation=cfg.activation, feature_norm=cfg.feature_norm, recurrent=cfg.recurrent)
            for d in critic_inputs
        ).to(self.device)
        self.value_norm: nn.Module = ValueNorm(1).to(self.device) if cfg.use_value_norm else nn.Identity()
        self.actor_optimizers = [
            torch.optim.Adam(a.parameters(), lr=cfg.learning_rate, eps=cfg.adam_eps, weight_decay=cfg.weight_decay)
            for a in self.actors
        ]
        self.critic_optimizers = [
            torch.optim.Adam(c.parameters(), lr=cfg.critic_learning_rate, eps=cfg.adam_eps, weight_decay=cfg.weight_decay)
            for c in self.critics
        ]
        self._actor_groups = [(a, [i for i in range(N) if self.actor_of[i] == a]) for a in range(n_actors)]
        self._critic_groups = (
            [(0, [0])]
            if cfg.centralized_critic
            else [(c, [i for i in range(N) if self.critic_of[i] == c]) for c in range(len(self.critics))]
        )
        self._setup_buffer()

    def _setup_buffer(self) -> None:
        sp, cfg = self.spaces, self.config
        self.buffer = RolloutBuffer(
            cfg.n_steps,
            self.n_envs,
            sp.n_agents,
            sp.obs_dim,
            sp.state_dim,
            sp.act_dim,
            sp.n_actions,
            self.n_value_cols,
            self.hidden_size,
            self.hidden_size,
            self.device,
        )
        self._actor_h: torch.Tensor | None = None
        self._critic_h: torch.Tensor | None = None
        self._episode_starts = torch.ones(self.n_envs, device=self.device)

    def _on_env_change(self) -> None:
        if self.buffer.n_envs != self.n_envs:
            self._setup_buffer()

    def _modules(self) -> dict[str, nn.Module]:
        return {"actors": self.actors, "critics": self.critics, "value_norm": self.value_norm}

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts: dict[str, torch.optim.Optimizer] = {f"actor_optimizer_{i}": o for i, o in enumerate(self.actor_optimizers)}
        opts.update({f"critic_optimizer_{i}": o for i, o in enumerate(self.critic_optimizers)})
        return opts

    @property
    def recurrent(self) -> bool:
        """Whether the networks carry a GRU."""
        return self.config.recurrent

    # -- forward passes over the (E, N) layout ----------------------------------------------------------------
    def _policy_step(
        self,
        obs: torch.Tensor,
        action_mask: torch.Tensor | None,
        hidden: torch.Tensor | None,
        episode_starts: torch.Tensor | None,
        deterministic: bool,
        stacked: StackedActors | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One step of every actor: obs ``(E, N, D)`` -> actions ``(E, N[, act_dim])``, log-probs ``(E, N)``, hidden.

        ``stacked`` (a snapshot of same-shaped feed-forward actors) evaluates all agents in one batched pass.
        """
        sp = self.spaces
        E, N = obs.shape[0], sp.n_agents
        if stacked is not None:
            o = obs[..., : sp.obs_dims[0]].transpose(0, 1)  # (N, E, d)
            m = None if action_mask is None else action_mask[..., : sp.n_actions_per_agent[0]].transpose(0, 1)  # (N, E, A)
            dist = stacked(o, m)
            act = dist.mode() if deterministic else dist.sample(self.torch_rng)  # (N, E[, a])
            log_probs = dist.log_prob(act).transpose(0, 1)  # (E, N)
            if sp.discrete:
                return act.transpose(0, 1), log_probs, None
            actions = torch.zeros(E, N, sp.act_dim, device=self.device)
            actions[..., : sp.act_dims[0]] = act.transpose(0, 1)
            return actions, log_probs, None
        if sp.discrete:
            actions = torch.zeros(E, N, dtype=torch.long, device=self.device)
        else:
            actions = torch.zeros(E, N, sp.act_dim, device=self.device)
        log_probs = torch.zeros(E, N, device=self.device)
        new_hidden = None if hidden is None else torch.empty_like(hidden)
        for a, ids in self._actor_groups:
            actor = self.actors[a]
            k, d = len(ids), sp.obs_dims[ids[0]]
            o = obs[:, ids, :d].reshape(E * k, d)  # (E*k, d)
            m = None
            if action_mask is not None:
                m = action_mask[:, ids, : sp.n_actions_per_agent[ids[0]]].reshape(E * k, -1)
            if hidden is None:
                dist, _ = actor(o, action_mask=m)
            else:
                assert episode_starts is not None and new_hidden is not None
                h = hidden[:, ids].reshape(E * k, -1)
                starts = episode_starts.unsqueeze(1).expand(E, k).reshape(1, E * k)
                dist, h_out = actor(o.unsqueeze(0), h, starts, None if m is None else m.unsqueeze(0))
                new_hidden[:, ids] = h_out.reshape(E, k, -1)  # type: ignore[union-attr]
            act = dist.mode() if deterministic else dist.sample(self.torch_rng)
            lp = dist.log_prob(act)
            if hidden is not None:
                act, lp = act.squeeze(0), lp.squeeze(0)
            if sp.discrete:
                actions[:, ids] = act.reshape(E, k)
            else:
                actions[:, ids, : sp.act_dims[ids[0]]] = act.reshape(E, k, -1)
            log_probs[:, ids] = lp.reshape(E, k)
        return actions, log_probs, new_hidden

    def _stacked_actors(self) -> StackedActors | None:
        """A batched snapshot of the actors when there are several of the same shape (feed-forward), else None."""
        sp = self.spaces
        same_shapes = len(set(sp.obs_dims)) == 1 and len(set(sp.n_actions_per_agent if sp.discrete else sp.act_dims)) == 1
        if len(self.actors) < 2 or self.recurrent or not same_shapes:
            return None
        return StackedActors(list(self.actors))  # type: ignore[arg-type]

    def _critic_inputs(self, obs: torch.Tensor, state: torch.Tensor) -> list[torch.Tensor]:
        """Per critic group: ``(..., k, in_dim)`` inputs from obs ``(..., N, D)`` and state ``(..., S)``."""
        if self.config.centralized_critic:
            return [state.unsqueeze(-2)]
        sp = self.spaces
        return [obs[..., ids, : sp.obs_dims[ids[0]]] for _, ids in self._critic_groups]

    def _value_step(
        self, obs: torch.Tensor, state: torch.Tensor, hidden: torch.Tensor | None, episode_starts: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Normalised values ``(E, C)`` of one step, and the critics' new hidden state ``(E, C, H)``."""
        E = state.shape[0]
        values = torch.zeros(E, self.n_value_cols, device=self.device)
        new_hidden = None if hidden is None else torch.empty_like(hidden)
        for (c, ids), x in zip(self._critic_groups, self._critic_inputs(obs, state)):
            k = x.shape[1]
            flat = x.reshape(E * k, -1)
            if hidden is None:
                v, _ = self.critics[c](flat)
            else:
                assert episode_starts is not None and new_hidden is not None
                h = hidden[:, ids].reshape(E * k, -1)
                starts = episode_starts.unsqueeze(1).expand(E, k).reshape(1, E * k)
                v, h_out = self.critics[c](flat.unsqueeze(0), h, starts)
                v = v.squeeze(0)
                new_hidden[:, ids] = h_out.reshape(E, k, -1)  # type: ignore[union-attr]
            values[:, ids] = v.reshape(E, k)
        return values, new_hidden

    def _denormalize(self, values: torch.Tensor) -> torch.Tensor:
        if isinstance(self.value_norm, ValueNorm):
            return self.value_norm.denormalize(values.unsqueeze(-1)).squeeze(-1)
        return values

    # -- rollouts ---------------------------------------------------------------------------------------------
    def _reset_env(self) -> Any:
        obs = super()._reset_env()
        E, sp = self.n_envs, self.spaces
        if self.recurrent:
            self._actor_h = torch.zeros(E, sp.n_agents, self.hidden_size, device=self.device)
            self._critic_h = torch.zeros(E, self.n_value_cols, self.hidden_size, device=self.device)
        self._episode_starts = torch.ones(E, device=self.device)
        return obs

    def collect_rollouts(self, env: MultiAgentVecEnv, callback: BaseCallback) -> bool:
        """Fill the buffer with ``n_steps`` steps of every env, then compute advantages and returns."""
        with torch_threads(1):  # batches of E samples: extra threads only add synchronisation (10x slower on busy cores)
            return self._collect_rollouts(env, callback)

    def _collect_rollouts(self, env: MultiAgentVecEnv, callback: BaseCallback) -> bool:
        assert self._last_obs is not None, "call learn() (it resets the env) before collect_rollouts()"
        buf, cfg, dev = self.buffer, self.config, self.device
        E = self.n_envs
        self._update_learning_rate()
        self._start_background()  # a critic update deferred by the last train() (n_threads > 1) runs beside this rollout
        stacked = self._stacked_actors()  # the actors do not change during a rollout
        self._final_states.clear()
        callback.on_rollout_start()
        last = self._last_obs
        for t in range(cfg.n_steps):
            obs = torch.as_tensor(last.obs, device=dev)  # (E, N, D)
            state = torch.as_tensor(last.state, device=dev)  # (E, S)
            mask = None if last.action_mask is None else torch.as_tensor(last.action_mask, device=dev)  # (E, N, A)
            with torch.no_grad():
                actions, log_probs, actor_h = self._policy_step(obs, mask, self._actor_h, self._episode_starts, False, stacked)
                critic_h = None
                if self.recurrent:  # a GRU critic needs its hidden state step by step; else valued after the rollout
                    buf.values[t], critic_h = self._value_step(obs, state, self._critic_h, self._episode_starts)
            # store what the agents saw and did at step t
            buf.obs[t] = obs
            buf.states[t] = state
            buf.actions[t] = actions
            buf.log_probs[t] = log_probs
            if buf.action_masks is not None and mask is not None:
                buf.action_masks[t] = mask
            buf.active[t] = torch.as_tensor(last.active, device=dev)
            buf.episode_starts[t] = self._episode_starts
            if buf.actor_hidden is not None and self._actor_h is not None and self._critic_h is not None:
                buf.actor_hidden[t] = self._actor_h
                buf.critic_hidden[t] = self._critic_h  # type: ignore[index]
            # step the envs
            new_obs, rewards, terminated, truncated, infos = env.step(actions.cpu().numpy())
            self.num_timesteps += E
            dones = terminated | truncated
            buf.rewards[t] = torch.as_tensor(rewards, device=dev)
            buf.terminated[t] = torch.as_tensor(terminated, device=dev, dtype=torch.float32)
            buf.truncated[t] = torch.as_tensor(truncated, device=dev, dtype=torch.float32)
            if dones.any():
                self._end_episodes(t, dones, truncated, infos, critic_h)
            self._actor_h = actor_h
            if self.recurrent:
                self._critic_h = critic_h
            self._episode_starts = torch.as_tensor(dones, device=dev, dtype=torch.float32)
            last = new_obs
            callback.update_locals(locals())
            if not callback.on_step():
                self._last_obs = last
                return False
        self._wait_background()  # a critic update run beside this rollout must finish before the values
        with torch.no_grad():
            obs = torch.as_tensor(last.obs, device=dev)
            state = torch.as_tensor(last.state, device=dev)
            if self.recurrent:  # bootstrap value of the observation after the rollout
                buf.values[cfg.n_steps], _ = self._value_step(obs, state, self._critic_h, self._episode_starts)
            else:  # feed-forward critics: every value of the rollout in one batched pass (same numbers, ~10% faster)
                all_obs = torch.cat([buf.obs, obs.unsqueeze(0)]).flatten(0, 1)  # ((T+1)*E, N, D)
                all_states = torch.cat([buf.states, state.unsqueeze(0)]).flatten(0, 1)
                values, _ = self._value_step(all_obs, all_states, None, None)
                buf.values[:] = values.reshape(cfg.n_steps + 1, E, -1)
            self._value_final_states()
            buf.advantages[:], buf.returns[:] = compute_gae(
                buf.rewards,
                self._denormalize(buf.values),
                self._denormalize(buf.final_values),
                buf.terminated,
                buf.truncated,
                cfg.gamma,
                cfg.gae_lambda,
                cfg.harl_exact,
            )
        self._last_obs = last
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _end_episodes(
        self, t: int, dones: np.ndarray, truncated: np.ndarray, infos: list[dict[str, Any]], critic_h: torch.Tensor | None
    ) -> None:
        """Record finished episodes; value the final state of truncated ones (for bootstrapping)."""
        for e in np.flatnonzero(dones):
            episode = infos[e].get("episode")
            if episode is not None:
                self.ep_info_buffer.append(dict(episode))
            self._episode_num += 1
        idx = np.flatnonzero(truncated)
        if idx.size == 0 or self.config.harl_exact:
            return
        sp = self.spaces
        final_obs = np.zeros((idx.size, sp.n_agents, sp.obs_dim), dtype=np.float32)
        final_state = np.zeros((idx.size, sp.state_dim), dtype=np.float32)
        for j, e in enumerate(idx):
            final_obs[j] = infos[e]["final_obs"]
            final_state[j] = infos[e]["final_state"]
        hidden = None if critic_h is None else critic_h[torch.as_tensor(idx)]
        self._final_states.append((t, idx, final_obs, final_state, hidden))

    def _value_final_states(self) -> None:
        """Value the final states of the episodes truncated during the rollout (``buffer.final_values``)."""
        buf, dev = self.buffer, self.device
        buf.final_values.zero_()
        with torch.no_grad():
            for t, idx, final_obs, final_state, hidden in self._final_states:
                starts = torch.zeros(idx.size, device=dev)
                v, _ = self._value_step(
                    torch.as_tensor(final_obs, device=dev), torch.as_tensor(final_state, device=dev), hidden, starts
                )
                buf.final_values[t, torch.as_tensor(idx)] = v
        self._final_states.clear()

    def _update_learning_rate(self) -> None:
        cfg = self.config
        if not cfg.linear_lr_decay or self._total_timesteps <= 0:
            return
        frac = max(0.0, 1.0 - self.num_timesteps / self._total_timesteps)
        for opt in self.actor_optimizers:
            for group in opt.param_groups:
                group["lr"] = cfg.learning_rate * frac
        for opt in self.critic_optimizers:
            for group in opt.param_groups:
                group["lr"] = cfg.critic_learning_rate * frac

    # -- prediction -------------------------------------------------------------------------------------------
    def _predict_arrays(
        self,
        obs: np.ndarray,
        action_mask: np.ndarray | None,
        state: np.ndarray | None,
        episode_start: np.ndarray | None,
        deterministic: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        E, N = obs.shape[0], self.spaces.n_agents
        hidden = None
        starts = None
        if self.recurrent:
            H = self.hidden_size
            if state is None:
                hidden = torch.zeros(E, N, H, device=self.device)
            else:
                hidden = torch.as_tensor(np.asarray(state, dtype=np.float32), device=self.device)
                if hidden.shape != (E, N, H):
                    raise ValueError(
                        f"state must have shape (n_envs, n_agents, hidden) = {(E, N, H)}, got {tuple(hidden.shape)}"
                    )
            starts = torch.zeros(E, device=self.device)
            if episode_start is not None:
                starts = torch.as_tensor(episode_start, dtype=torch.float32, device=self.device)
        mask = None if action_mask is None else torch.as_tensor(action_mask, device=self.device)
        with torch.no_grad(), torch_threads(1):
            actions, _, new_hidden = self._policy_step(
                torch.as_tensor(obs, device=self.device), mask, hidden, starts, deterministic
            )
        return actions.cpu().numpy(), None if new_hidden is None else new_hidden.cpu().numpy()

    # -- training data ----------------------------------------------------------------------------------------
    def _actor_data(
        self, agent_ids: list[int], advantages: torch.Tensor, factor: torch.Tensor | None
    ) -> dict[str, torch.Tensor | None]:
        """``(T, E, k, ...)`` training tensors of the agents ``agent_ids`` (all served by one actor)."""
        buf, sp = self.buffer, self.spaces
        T, E, k = buf.n_steps, buf.n_envs, len(agent_ids)
        d = sp.obs_dims[agent_ids[0]]
        actions = buf.actions[:, :, agent_ids]
        if not sp.discrete:
            actions = actions[..., : sp.act_dims[agent_ids[0]]]
        masks = None
        if buf.action_masks is not None:
            masks = buf.action_masks[:, :, agent_ids, : sp.n_actions_per_agent[agent_ids[0]]]
        return {
            "obs": buf.obs[:, :, agent_ids, :d],
            "actions": actions,
            "old_log_probs": buf.log_probs[:, :, agent_ids],
            "advantages": advantages,
            "factor": torch.ones(T, E, k, device=self.device) if factor is None else factor,
            "active": buf.active[:, :, agent_ids],
            "action_masks": masks,
            "episode_starts": buf.episode_starts.unsqueeze(-1).expand(T, E, k),
            "hidden": None if buf.actor_hidden is None else buf.actor_hidden[:, :, agent_ids],
        }

    def _iterate(
        self,
        data: dict[str, torch.Tensor | None],
        n_minibatches: int,
        shuffle: bool,
        whole_sequences: bool = False,
        n_epochs: int = 1,
        rng: np.random.Generator | None = None,
    ) -> Iterator[dict[str, torch.Tensor | None]]:
        """Split ``(T, E, k, ...)`` tensors into minibatches, ``n_epochs`` times: samples (feed-forward) or sequence
        chunks (recurrent). A single minibatch is the whole batch in rollout order (every loss is a mean over the batch,
        so shuffling it would only change float rounding and cost a copy per epoch). ``rng`` defaults to ``self.rng``."""
        rng = self.rng if rng is None else rng
        T, E, k = self.buffer.n_steps, self.buffer.n_envs, next(v for v in data.values() if v is not None).shape[2]
        if not self.recurrent:
            flat = {n: None if v is None else v.reshape(T * E * k, *v.shape[3:]) for n, v in data.items()}
            flat["episode_starts"] = flat["hidden"] = None
            total = T * E * k
            for _ in range(n_epochs):
                if n_minibatches == 1:
                    yield flat
                    continue
                order = rng.permutation(total) if shuffle else np.arange(total)
                for idx in np.array_split(order, n_minibatches):
                    ix = torch.as_tensor(idx, device=self.device)
                    yield {n: None if v is None else v[ix] for n, v in flat.items()}
            return
        L = T if whole_sequences else self.config.data_chunk_length
        n_chunks = T // L

        def seqs(v: torch.Tensor) -> torch.Tensor:  # (T, E, k, ...) -> (L, n_chunks*E*k, ...)
            rest = v.shape[3:]
            return v.reshape(n_chunks, L, E * k, *rest).transpose(0, 1).reshape(L, n_chunks * E * k, *rest)

        seq = {n: None if v is None else seqs(v) for n, v in data.items() if n != "hidden"}
        hidden = data["hidden"]
        assert hidden is not None
        h0 = hidden[::L].reshape(n_chunks * E * k, -1)  # (n_chunks*E*k, H)
        total = n_chunks * E * k
        for _ in range(n_epochs):
            if n_minibatches == 1:
                yield {**seq, "hidden": h0}
                continue
            order = rng.permutation(total) if shuffle else np.arange(total)
            for idx in np.array_split(order, n_minibatches):
                ix = torch.as_tensor(idx, device=self.device)
                out = {n: None if v is None else v[:, ix] for n, v in seq.items()}
                out["hidden"] = h0[ix]
                yield out

    def actor_batches(
        self,
        agent_ids: list[int],
        advantages: torch.Tensor,
        factor: torch.Tensor | None,
        n_minibatches: int,
        shuffle: bool = True,
        whole_sequences: bool = False,
        n_epochs: int = 1,
    ) -> Iterator[ActorBatch]:
        """Minibatches of the agents ``agent_ids`` (served by one actor).

        Args:
            agent_ids: Agents whose samples are pooled (one agent, or all agents of a shared actor).
            advantages: ``(T, E, k)`` (already normalised by the caller if wanted).
            factor: ``(T, E, k)`` HAPPO/HATRPO factor, or None for ones.
            n_minibatches: Number of minibatches per pass.
            shuffle: Random order (from ``self.rng``); False keeps rollout order.
            whole_sequences: Recurrent: one sequence per env over the whole rollout instead of chunks.
            n_epochs: Passes over the data (the tensors are gathered once).
        """
        data = self._actor_data(agent_ids, advantages, factor)
        for mb in self._iterate(data, n_minibatches, shuffle, whole_sequences, n_epochs):
            yield ActorBatch(**mb)  # type: ignore[arg-type]

    def actor_full_batch(
        self, agent_ids: list[int], advantages: torch.Tensor | None = None, factor: torch.Tensor | None = None
    ) -> ActorBatch:
        """All samples of ``agent_ids`` in rollout order (recurrent: whole-rollout sequences)."""
        T, E, k = self.buffer.n_steps, self.buffer.n_envs, len(agent_ids)
        adv = torch.zeros(T, E, k, device=self.device) if advantages is None else advantages
        return next(self.actor_batches(agent_ids, adv, factor, 1, shuffle=False, whole_sequences=True))

    def evaluate_actions(self, actor_index: int, batch: ActorBatch) -> tuple[torch.Tensor, torch.Tensor, Distribution]:
        """Log-probs and entropies of ``batch.actions`` under actor ``actor_index`` (with gradients), and the distribution."""
        dist, _ = self.actors[actor_index](batch.obs, batch.hidden, batch.episode_starts, batch.action_masks)
        return dist.log_prob(batch.actions), dist.entropy(), dist

    def rollout_log_probs(self, agent_ids: list[int]) -> torch.Tensor:
        """``(T, E, k)`` log-probs of the buffer actions under the current actor of ``agent_ids`` (no gradients)."""
        T, E, k = self.buffer.n_steps, self.buffer.n_envs, len(agent_ids)
        batch = self.actor_full_batch(agent_ids)
        with torch.no_grad():
            log_probs, _, _ = self.evaluate_actions(self.actor_of[agent_ids[0]], batch)
        return log_probs.reshape(T, E, k)  # recurrent (T, E*k) and feed-forward (T*E*k,) both keep this order

    def agent_advantages(self, agent_ids: list[int]) -> torch.Tensor:
        """``(T, E, k)`` advantages of ``agent_ids``, normalised over their active samples when configured (HARL EP)."""
        adv = self.buffer.advantages
        adv = adv.expand(*adv.shape[:2], self.spaces.n_agents)[:, :, agent_ids]
        if self.config.normalize_advantage:
            adv = _masked_normalize(adv, self.buffer.active[:, :, agent_ids])
        return adv

    def actor_step(self, actor_index: int, loss: torch.Tensor) -> float:
        """Backpropagate ``loss``, clip the gradient norm, step actor ``actor_index``'s optimizer; return the grad norm."""
        opt = self.actor_optimizers[actor_index]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = self.actors[actor_index].parameters()
        max_norm = self.config.max_grad_norm
        norm = nn.utils.clip_grad_norm_(params, max_norm if max_norm is not None else float("inf"))
        opt.step()
        return float(norm)

    def ppo_update(
        self,
        agent_ids: list[int],
        advantages: torch.Tensor,
        factor: torch.Tensor | None,
        surrogate: Callable[[torch.Tensor, ActorBatch], tuple[torch.Tensor, torch.Tensor]],
        n_epochs: int,
        n_minibatches: int,
        ent_coef: float,
    ) -> dict[str, float]:
        """PPO-style epochs over the samples of ``agent_ids`` (one actor), minimising ``surrogate - ent_coef * H``.

        Args:
            agent_ids: The agents whose samples train their (shared) actor.
            advantages: ``(T, E, k)`` advantages.
            factor: ``(T, E, k)`` HAPPO factor, or None.
            surrogate: The algorithm's policy loss ``f(log_probs, batch) -> (loss, ratio)``.
            n_epochs / n_minibatches: Passes over the data and minibatches per pass.
            ent_coef: Entropy bonus; the entropy is averaged over active samples (HARL PR #52).

        Returns:
            Mean ``policy_loss``, ``entropy``, ``approx_kl`` and ``clip_fraction``.
        """
        a = self.actor_of[agent_ids[0]]
        clip = self.config.clip_range
        policy_losses, entropies, approx_kls, clip_fractions = [], [], [], []
        for batch in self.actor_batches(agent_ids, advantages, factor, n_minibatches, n_epochs=n_epochs):
            log_probs, entropy, _ = self.evaluate_actions(a, batch)
            policy_loss, ratio = surrogate(log_probs, batch)
            n_active = batch.active.sum().clamp(min=1.0)
            entropy_mean = (entropy * batch.active).sum() / n_active
            self.actor_step(a, policy_loss - ent_coef * entropy_mean)
            with torch.no_grad():
                log_ratio = log_probs - batch.old_log_probs
                approx_kls.append(float((((ratio - 1.0) - log_ratio) * batch.active).sum() / n_active))
                clipped = ((ratio - 1.0).abs() > clip).float()
                clip_fractions.append(float((clipped * batch.active).sum() / n_active))
                policy_losses.append(float(policy_loss))
                entropies.append(float(entropy_mean))
        return {
            "policy_loss": float(np.mean(policy_losses)),
            "entropy": float(np.mean(entropies)),
            "approx_kl": float(np.mean(approx_kls)),
            "clip_fraction": float(np.mean(clip_fractions)),
        }

    # -- critic -----------------------------------------------------------------------------------------------
    def prepare_critic_update(self) -> Callable[[], dict[str, float]]:
        """Draw the critic update's minibatch order now; return the function that completes the update.

        The algorithms call this before their actor update and the returned function after it (HARL's
        actors-then-critic order). The critic's loss reads only the rollout (inputs, returns, rollout values), never
        the actors, and the next rollout's actions use only the actors, so with ``concurrent_critic`` the update runs
        in a worker thread beside whichever phase leaves a core idle:

        * ``n_threads`` 1 (the default): beside the actor update; the returned function joins it and returns its
          statistics.
        * ``n_threads`` > 1 (feed-forward critics): the actor update takes every core, so the returned function only
          keeps a copy of the rollout and returns ``{}``; the next rollout runs the update beside it (with the
          rollout's one thread) and joins it before valuing its own steps, and its statistics are logged then.
          ``save``, ``get_parameters`` and the end of ``learn`` finish it too.

        Both give HARL's sequential numbers (bit for bit when the thread counts match; tested). Without
        ``concurrent_critic`` the function runs the update itself. The minibatch order always comes from a generator
        spawned here from ``self.rng``, so every mode consumes the same random numbers.
        """
        rng = np.random.default_rng(int(self.rng.integers(2**63)))
        if not self.config.concurrent_critic:
            return lambda: self.train_critic(rng)
        self._wait_background()  # at most one critic update in flight
        if (self.n_threads or 1) > 1 and not self.recurrent:

            def defer() -> dict[str, float]:
                self._critic_job = (rng, self._critic_data(copy=True))  # the next rollout overwrites the buffer
                return {}

            return defer
        self._critic_job = (rng, self._critic_data())  # the actor update does not write the buffer
        self._start_background()
        return lambda: self._finish_critic() or {}

    def _start_background(self) -> None:
        """Start the prepared critic update, if any, in a worker thread."""
        if self._critic_job is None:
            return
        rng, data = self._critic_job
        self._critic_job = None
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["stats"] = self.train_critic(rng, data)
            except BaseException as exc:  # re-raised in the caller's thread
                result["error"] = exc

        thread = threading.Thread(target=work, name="trmarl-critic-update", daemon=True)
        thread.start()
        self._pending_critic = (thread, result)

    def _finish_critic(self) -> dict[str, float] | None:
        """Join the critic update in flight (or run a prepared one here); its statistics, or None if there was none."""
        if self._pending_critic is not None:
            thread, result = self._pending_critic
            thread.join()
            self._pending_critic = None
            if "error" in result:
                raise result["error"]
            return result["stats"]
        if self._critic_job is not None:
            rng, data = self._critic_job
            self._critic_job = None
            with torch_threads(1):  # the thread count it has beside a rollout: the same float rounding
                return self.train_critic(rng, data)
        return None

    def _wait_background(self) -> None:
        """Finish a critic update left running beside the rollout (or prepared for it) and log its statistics."""
        stats = self._finish_critic()
        for key, value in (stats or {}).items():
            self.logger.record(f"train/{key}", value)

    def _critic_data(self, copy: bool = False) -> dict[str, torch.Tensor | None]:
        """The rollout tensors the critic update reads (copies when it runs beside the next rollout)."""
        buf = self.buffer
        data = {
            "obs": buf.obs,
            "states": buf.states,
            "returns": buf.returns,
            "values": buf.values,
            "episode_starts": buf.episode_starts,
            "critic_hidden": buf.critic_hidden,
        }
        return {k: None if v is None else (v.clone() if copy else v) for k, v in data.items()}

    def train_critic(
        self, rng: np.random.Generator | None = None, data: dict[str, torch.Tensor | None] | None = None
    ) -> dict[str, float]:
        """HARL's critic update (spec §4): clipped Huber loss on ValueNorm-normalised returns; returns statistics.

        Args:
            rng: Generator for the minibatch order (default ``self.rng``).
            data: The rollout tensors (:meth:`_critic_data`; default: the buffer's own).
        """
        cfg = self.config
        d = self._critic_data() if data is None else data
        obs, states, returns, values_all, starts = d["obs"], d["states"], d["returns"], d["values"], d["episode_starts"]
        assert obs is not None and states is not None and returns is not None and values_all is not None
        assert starts is not None
        hidden_all = d["critic_hidden"]
        losses: list[float] = []
        inputs = self._critic_inputs(obs, states)  # per group (T, E, k, in)
        for (c, ids), x in zip(self._critic_groups, inputs):
            cols = ids if not cfg.centralized_critic else [0]
            group: dict[str, torch.Tensor | None] = {
                "inputs": x,
                "returns": returns[:, :, cols],
                "old_values": values_all[:-1, :, cols],
                "episode_starts": starts.unsqueeze(-1).expand(-1, -1, len(cols)),
                "hidden": None if hidden_all is None else hidden_all[:, :, cols],
            }
            for mb in self._iterate(group, cfg.critic_n_minibatches, shuffle=True, n_epochs=cfg.critic_epochs, rng=rng):
                batch = CriticBatch(**mb)  # type: ignore[arg-type]
                values, _ = self.critics[c](batch.inputs, batch.hidden, batch.episode_starts)
                loss = self.value_loss(values, batch.old_values, batch.returns)
                opt = self.critic_optimizers[c]
                opt.zero_grad(set_to_none=True)
                (loss * cfg.value_loss_coef).backward()
                max_norm = cfg.max_grad_norm if cfg.max_grad_norm is not None else float("inf")
                nn.utils.clip_grad_norm_(self.critics[c].parameters(), max_norm)
                opt.step()
                losses.append(float(loss.detach()))
        values_d = self._denormalize(values_all[:-1])
        return {
            "value_loss": float(np.mean(losses)),
            "explained_variance": float(explained_variance(values_d.flatten().cpu().numpy(), returns.flatten().cpu().numpy())),
        }

    def value_loss(self, values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
        """HARL ``cal_value_loss``: ValueNorm update with the minibatch returns, then ``max(loss, clipped loss)``."""
        cfg = self.config
        target = returns
        if isinstance(self.value_norm, ValueNorm):
            self.value_norm.update(returns.reshape(-1, 1))
            target = self.value_norm.normalize(returns.unsqueeze(-1)).squeeze(-1)

        def err_loss(pred: torch.Tensor) -> torch.Tensor:
            if cfg.huber_delta is None:
                return 0.5 * (target - pred).pow(2)
            return F.huber_loss(pred, target, reduction="none", delta=cfg.huber_delta)

        loss = err_loss(values)
        if cfg.clip_value_loss:
            clipped = old_values + (values - old_values).clamp(-cfg.clip_range, cfg.clip_range)
            loss = torch.max(loss, err_loss(clipped))
        return loss.mean()

    def _log_train(self, stats: dict[str, float], per_agent: dict[int, dict[str, float]] | None = None) -> None:
        """Record ``train/<key>`` (and ``train/agent_{i}/<key>`` when agents differ)."""
        for key, value in stats.items():
            self.logger.record(f"train/{key}", value)
        if per_agent and len(per_agent) > 1:
            for i, agent_stats in per_agent.items():
                for key, value in agent_stats.items():
                    self.logger.record(f"train/agent_{i}/{key}", value)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
