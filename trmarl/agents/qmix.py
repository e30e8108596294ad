"""QMIX, VDN and IQL: value decomposition over recurrent agents that share parameters.

Papers:
    * QMIX -- Rashid, Samvelyan, de Witt, Farquhar, Foerster, Whiteson. *QMIX: Monotonic Value Function
      Factorisation for Deep Multi-Agent Reinforcement Learning.* ICML 2018.
    * VDN -- Sunehag et al. *Value-Decomposition Networks For Cooperative Multi-Agent Learning.* AAMAS 2018.
    * IQL -- Tan. *Multi-Agent Reinforcement Learning: Independent vs. Cooperative Agents.* ICML 1993 (here with the
      same recurrent agents, as in pymarl).
    * Defaults -- Hu et al. *Rethinking the Implementation Tricks and Monotonicity Constraint in Cooperative
      Multi-Agent Reinforcement Learning* (pymarl2), arXiv 2102.03479: Adam, TD(lambda), 8 parallel envs, batch 128.

The update (one gradient step per runner iteration, on ``batch_size`` whole episodes)::

    Q_i(tau_i, .)   = agent(obs_i, last action_i, id_i; GRU hidden)            shared by all agents
    Q_tot(s, u)     = mixer(Q_1(u_1), ..., Q_N(u_N); s)                         qmix | vdn (sum) | none (IQL)
    Qbar_tot(s', .) = target_mixer(target_Q_i(argmax_a online Q_i(a) over available a); s')     (double Q)
    G_t             = TD(lambda) return of r and Qbar_tot (pymarl2 build_td_lambda_targets; lambda=0: 1-step)
    loss            = sum_t mask_t * 0.5 (Q_tot - G_t)^2 / sum_t mask_t         (IQL: per agent)

QMIX's mixer is monotonic (``dQ_tot/dQ_i >= 0``, absolute hypernetwork weights); VDN's is the sum; IQL has none and
regresses each agent's Q on the team reward. VDN and IQL are this class with another mixer (:class:`VDN`,
:class:`IQL` only change the default).

Deviations from pymarl2: envs that end an episode early start the next one at once (see
:class:`~trmarl.agents.off_policy.OffPolicyAgent`); episodes cut by a time limit bootstrap from their final
observation (pymarl's ``episode_limit`` rule, driven by Gymnasium's ``truncated``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trmarl.agents.off_policy import OffPolicyAgent, OffPolicyConfig, masked_max, td_lambda_targets
from trmarl.common.replay import EpisodeBatch

__all__ = ["IQL", "QMIX", "VDN", "IQLConfig", "QMIXConfig", "QMixer", "VDNConfig", "VDNMixer"]


# --------------------------------------------------------------------------------------------------------------
# Mixers
# --------------------------------------------------------------------------------------------------------------


class VDNMixer(nn.Module):
    """``Q_tot = sum_i Q_i`` (pymarl ``VDNMixer``)."""

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """``agent_qs (B, T, N)``, ``state (B, T, S)`` (unused) -> ``(B, T, 1)``."""
        return agent_qs.sum(dim=-1, keepdim=True)


class QMixer(nn.Module):
    """QMIX's monotonic mixing network (pymarl ``QMixer``, pymarl2 ``nmix.Mixer``).

    Hypernetworks read the state and output the mixing weights; ``abs`` keeps them non-negative::

        W1 = |Linear(S, H) -> ReLU -> Linear(H, N E)|(s)     b1 = Linear(S, E)(s)
        W2 = |Linear(S, H) -> ReLU -> Linear(H, E)|(s)       V  = Linear(S, E) -> ReLU -> Linear(E, 1)
        Q_tot = ELU(Q W1 + b1) W2 + V(s)          (bias_after_elu: (ELU(Q W1) + b1) W2 + V(s))

    Args:
        n_agents: ``N``.
        state_dim: ``S``.
        embed_dim: ``E`` (pymarl ``mixing_embed_dim``: 32).
        hypernet_embed: ``H`` (pymarl ``hypernet_embed``: 64); 0 gives one-layer hypernetworks (``hypernet_layers: 1``).
        bias_after_elu: add ``b1`` after the ELU, as the QTRAN authors' QMIX does (their ``generate_QMIX``); pymarl
            adds it before. Either way ``Q_tot`` stays monotonic in every ``Q_i``.
    """

    def __init__(
        self,
        n_agents: int,
        state_dim: int,
        embed_dim: int = 32,
        hypernet_embed: int = 64,
        bias_after_elu: bool = False,
    ) -> None:
        super().__init__()
        self.n_agents, self.embed_dim, self.bias_after_elu = n_agents, embed_dim, bias_after_elu

        def hyper(out: int) -> nn.Module:
            if hypernet_embed <= 0:
                return nn.Linear(state_dim, out)
            return nn.Sequential(nn.Linear(state_dim, hypernet_embed), nn.ReLU(), nn.Linear(hypernet_embed, out))

        self.hyper_w1 = hyper(n_agents * embed_dim)
        self.hyper_b1 = nn.Linear(state_dim, embed_dim)
        self.hyper_w2 = hyper(embed_dim)
        self.hyper_v = nn.Sequential(nn.Linear(state_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1))

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """``agent_qs (B, T, N)``, ``state (B, T, S)`` -> ``Q_tot (B, T, 1)``."""
        lead = agent_qs.shape[:-1]
        qs = agent_qs.reshape(-1, 1, self.n_agents)  # (BT, 1, N)
        s = state.reshape(-1, state.shape[-1])  # (BT, S)
        w1 = self.hyper_w1(s).abs().view(-1, self.n_agents, self.embed_dim)  # (BT, N, E)
        b1 = self.hyper_b1(s).view(-1, 1, self.embed_dim)  # (BT, 1, E)
        mixed = torch.bmm(qs, w1)  # (BT, 1, E)
        hidden = F.elu(mixed) + b1 if self.bias_after_elu else F.elu(mixed + b1)
        w2 = self.hyper_w2(s).abs().view(-1, self.embed_dim, 1)  # (BT, E, 1)
        v = self.hyper_v(s).view(-1, 1, 1)  # (BT, 1, 1)
        return (torch.bmm(hidden, w2) + v).view(*lead, 1)


# --------------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class QMIXConfig(OffPolicyConfig):
    """QMIX hyperparameters: the shared ones (pymarl2's tuned QMIX, see :class:`OffPolicyConfig`) plus the mixer."""

    mixer: Literal["qmix", "vdn"] | None = "qmix"
    """``"qmix"`` (monotonic hypernetwork mixer), ``"vdn"`` (sum) or None (independent Q-learners, IQL)."""
    mixing_embed_dim: int = 32
    """QMIX mixer width ``E`` (pymarl/pymarl2 ``mixing_embed_dim``)."""
    hypernet_embed: int = 64
    """QMIX hypernetwork hidden width ``H`` (pymarl ``hypernet_embed``, ``hypernet_layers: 2``); 0: one-layer."""
    mixer_bias_after_elu: bool = False
    """QMIX mixer: ``ELU(Q W1) + b1`` (the QTRAN authors' QMIX) instead of pymarl's ``ELU(Q W1 + b1)``."""


@dataclass(kw_only=True)
class VDNConfig(QMIXConfig):
    """VDN: QMIX's configuration with the sum mixer (pymarl2 ``vdn.yaml`` = its QMIX settings, lambda 0.6)."""

    mixer: Literal["qmix", "vdn"] | None = "vdn"
    """The sum mixer."""


@dataclass(kw_only=True)
class IQLConfig(QMIXConfig):
    """IQL: QMIX's configuration without a mixer (pymarl ``iql.yaml`` = the QMIX config with no mixer)."""

    mixer: Literal["qmix", "vdn"] | None = None
    """No mixer: every agent learns its own Q from the team reward."""


# --------------------------------------------------------------------------------------------------------------
# The algorithm
# --------------------------------------------------------------------------------------------------------------


class QMIX(OffPolicyAgent):
    """QMIX (and, by ``mixer``, VDN or IQL) with pymarl2's defaults.

    Example:
        >>> from trmarl import QMIX
        >>> model = QMIX("SMACSim-3m", seed=0).learn(1e6)          # doctest: +SKIP
        >>> actions, state = model.predict(obs, action_mask=mask)   # doctest: +SKIP

    Args:
        env: An env id, ParallelEnv, factory or multi-agent vec env with discrete actions (see
            :class:`~trmarl.agents.base.BaseAgent`); 8 envs by default, as pymarl2's ``batch_size_run``.
        **kwargs: ``seed``, ``device``, ``verbose``, ``tensorboard_log``, ``n_envs`` and the fields of
            :class:`QMIXConfig`.
    """

    algorithm_name: ClassVar[str] = "QMIX"
    config_class: ClassVar[type[Any]] = QMIXConfig
    config: QMIXConfig

    def _setup_mixer(self) -> nn.Module | None:
        cfg, sp = self.config, self.spaces
        if cfg.mixer == "qmix":
            return QMixer(sp.n_agents, sp.state_dim, cfg.mixing_embed_dim, cfg.hypernet_embed, cfg.mixer_bias_after_elu)
        if cfg.mixer == "vdn":
            return VDNMixer()
        if cfg.mixer is None:
            return None
        raise ValueError(f"mixer must be 'qmix', 'vdn' or None, got {cfg.mixer!r}")

    def _mix(self, mixer: nn.Module | None, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """``(B, T, N)`` agent values -> ``(B, T, 1)`` joint value, or ``(B, T, N)`` unchanged without a mixer."""
        return agent_qs if mixer is None else mixer(agent_qs, state)

    def joint_values(self, obs: np.ndarray, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``Q_tot`` of joint actions at the first step of an episode (IQL: the sum of the agents' values).

        Args:
            obs: ``(B, N, D)`` observations.
            state: ``(B, S)`` global states.
            actions: ``(B, N)`` joint actions (ints).

        Returns:
            ``(B,)`` joint values.
        """
        q = torch.as_tensor(self.agent_q_values(obs), device=self.device)  # (B, N, A)
        chosen = q.gather(-1, torch.as_tensor(actions, dtype=torch.int64, device=self.device)[..., None])[..., 0]  # (B, N)
        with torch.no_grad():
            state_t = torch.as_tensor(state, dtype=torch.float32, device=self.device)
            mixed = chosen.sum(-1) if self.mixer is None else self.mixer(chosen[:, None], state_t[:, None]).view(-1)
        return mixed.cpu().numpy()

    def _update(self, batch: EpisodeBatch) -> None:
        """One gradient step on a replayed batch (whole episodes, or single steps with ``sample_unit="step"``)."""
        cfg = self.config
        mask = batch.mask.unsqueeze(-1)  # (B, T, 1)

        # 1. Q-values of the taken actions, along whole episodes
        q, _ = self._unroll(self.agent, batch)  # (B, T+1, N, A)
        chosen_q = q[:, :-1].gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)  # (B, T, N)

        # 2. targets: greedy next values (double Q: online argmax, target value; unavailable actions at -9999999)
        with torch.no_grad():
            target_q, _ = self._unroll(self.target_agent, batch)  # (B, T+1, N, A)
            chooser = q.detach() if cfg.double_q else None
            target_max = masked_max(target_q, batch.action_mask, choose_with=chooser)  # (B, T+1, N)
            target_tot = self._mix(self.target_mixer, target_max, batch.state)  # (B, T+1, 1 or N)
            targets = td_lambda_targets(
                batch.reward.unsqueeze(-1), batch.terminated.unsqueeze(-1), mask, target_tot, cfg.gamma, cfg.td_lambda
            )  # (B, T, 1 or N)

        # 3. mixed value of the taken joint action and the masked TD loss
        chosen_tot = self._mix(self.mixer, chosen_q, batch.state[:, :-1])  # (B, T, 1 or N)
        td_error = (chosen_tot - targets) * mask  # (B, T, 1 or N)
        loss = 0.5 * td_error.pow(2).sum() / (mask.sum() * td_error.shape[-1])

        # 4. optimise (gradient-norm clip 10), then target networks when due
        grad_norm = self._gradient_step(loss)

        n_valid = mask.sum() * td_error.shape[-1]
        self.logger.record("train/loss", loss.item())
        self.logger.record("train/grad_norm", grad_norm)
        self.logger.record("train/td_error_abs", (td_error.abs().sum() / n_valid).item())
        self.logger.record("train/q_taken_mean", ((chosen_tot * mask).sum() / n_valid).item())
        self.logger.record("train/target_mean", ((targets * mask).sum() / n_valid).item())


class VDN(QMIX):
    """VDN: :class:`QMIX` with the sum mixer (``mixer="vdn"``); everything else is QMIX's machinery."""

    algorithm_name: ClassVar[str] = "VDN"
    config_class: ClassVar[type[Any]] = VDNConfig


class IQL(QMIX):
    """IQL: :class:`QMIX` without a mixer (``mixer=None``): recurrent independent Q-learners on the team reward."""

    algorithm_name: ClassVar[str] = "IQL"
    config_class: ClassVar[type[Any]] = IQLConfig
