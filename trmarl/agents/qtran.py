"""QTRAN-base: factorisation by transformation, with a joint action-value network and soft constraints.

Paper:
    Son, Kim, Kang, Hostallero, Yi. *QTRAN: Learning to Factorize with Transformation for Cooperative Multi-Agent
    Reinforcement Learning.* ICML 2019. Networks and losses follow pymarl/pymarl2's ``QTranBase`` and
    ``qtran_learner.py`` (``qtran_arch: qtran_paper``), which implement the paper's QTRAN-base.

The update (one gradient step per runner iteration on ``batch_size`` episodes; ``Q' = sum_i Q_i``)::

    Q_jt(s, u), V_jt(s)  = QTranBase(s, agent GRU states h_i, one_hot(u_i))
    ubar_i               = argmax over available actions of the online Q_i              (individual greedy actions)
    L_td   = mean_mask (Q_jt(s, u) - [r + gamma (1 - d) Q_jt^target(s', ubar')])^2    (double Q: ubar' from online agents)
    L_opt  = mean_mask (Q'(s, ubar) - Q_jt(s, ubar).detach() + V_jt(s))^2
    L_nopt = mean_mask min(Q'(s, u) - Q_jt(s, u).detach() + V_jt(s), 0)^2
    loss   = L_td + opt_loss L_opt + nopt_min_loss L_nopt                              (1 and 0.1)

``Q_jt`` learns the true joint values (any function, not only monotonic ones); the two constraint losses make the
individual greedy actions agree with ``argmax Q_jt``, which is what lets QTRAN solve the paper's non-monotonic matrix
game where VDN and QMIX settle on a suboptimal joint action. As in pymarl, the agents' hidden states feed ``Q_jt``
without a ``detach``, so ``L_td`` also shapes the shared GRU encoder. Targets use TD(lambda) with ``td_lambda`` (0 by
default: pymarl's 1-step target).

``qtran_arch="authors"`` swaps in the QTRAN-base of the authors' own code (``Sonkyunghwan/QTRAN``,
``Predator-Prey/agents/pos_cac_fo/dq_network.py``, ``pqmix7``), which differs from pymarl's in three places: ``Q_jt``
sees the *mean* of the agents' embeddings through an ELU MLP and not the state (:class:`QTranAuthors`); there is no
``V_jt`` (the constraints read ``Q'(s, ubar) = Q_jt(s, ubar)`` and ``Q'(s, u) >= Q_jt(s, u)``); and the TD target
bootstraps from the target agents' ``sum_i max_a Q_i(s', a)``, not from ``Q_jt^target(s', ubar')``.

QTRAN-alt (the counterfactual ``L_nopt-min``) is not implemented, as in pymarl and pymarl2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trmarl.agents.off_policy import MASKED_Q, OffPolicyAgent, OffPolicyConfig, td_lambda_targets
from trmarl.common.replay import EpisodeBatch

__all__ = ["QTRAN", "QTRANConfig", "QTranAuthors", "QTranBase"]


# --------------------------------------------------------------------------------------------------------------
# Joint networks
# --------------------------------------------------------------------------------------------------------------


def _mlp(in_dim: int, width: int, n_hidden: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n_hidden):
        layers += [nn.Linear(in_dim if i == 0 else width, width), nn.ReLU()]
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class QTranBase(nn.Module):
    """QTRAN-base's joint action-value ``Q_jt(s, u)`` and state value ``V_jt(s)`` (pymarl ``QTranBase``, ``qtran_paper``).

    ``e_i = AE([h_i, one_hot(u_i)])`` with ``AE = Linear(d, d) -> ReLU -> Linear(d, d)``, ``d = H + A``;
    ``Q_jt = MLP([s, sum_i e_i])`` and ``V_jt = MLP(s)``, each ``Linear -> ReLU`` twice (three times for
    ``network_size="big"``) then ``Linear(E, 1)``.

    Args:
        n_actions: ``A``.
        state_dim: ``S``.
        hidden_dim: ``H``, the agents' GRU width.
        embed_dim: ``E`` (pymarl ``mixing_embed_dim`` for QTRAN: 64).
        network_size: ``"small"`` (two hidden layers) or ``"big"`` (three).
    """

    def __init__(
        self, n_actions: int, state_dim: int, hidden_dim: int, embed_dim: int = 64, network_size: str = "small"
    ) -> None:
        super().__init__()
        if network_size not in ("small", "big"):
            raise ValueError(f"network_size must be 'small' or 'big', got {network_size!r}")
        d = hidden_dim + n_actions
        n_hidden = 2 if network_size == "small" else 3
        self.action_encoding = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
        self.q = _mlp(state_dim + d, embed_dim, n_hidden)
        self.v = _mlp(state_dim, embed_dim, n_hidden)

    def forward(
        self, state: torch.Tensor, hidden: torch.Tensor, actions_onehot: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``state (B, T, S)``, agent ``hidden (B, T, N, H)``, ``actions_onehot (B, T, N, A)`` -> ``Q_jt, V_jt (B, T, 1)``."""
        encoding = self.action_encoding(torch.cat([hidden, actions_onehot], dim=-1)).sum(dim=-2)  # (B, T, d)
        return self.q(torch.cat([state, encoding], dim=-1)), self.v(state)


class QTranAuthors(nn.Module):
    """QTRAN-base's ``Q_jt(u)`` as the authors' code builds it (``Sonkyunghwan/QTRAN`` ``pqmix7``), without ``V_jt``.

    ``e_i = Linear(H + A, E) -> ReLU -> Linear(E, E)`` of ``[h_i, one_hot(u_i)]`` (``h_i``: the agent network's last
    hidden features), ``Q_jt = Linear(E, E) -> ELU -> Linear(E, E) -> ELU -> Linear(E, 1)`` of ``mean_i e_i``. The
    state does not enter. :meth:`forward` returns zeros for ``V_jt`` so that the losses read as the paper's with ``V = 0``.

    Args:
        n_actions: ``A``.
        hidden_dim: ``H``, the agents' hidden width.
        embed_dim: ``E`` (the authors: 64).
    """

    def __init__(self, n_actions: int, hidden_dim: int, embed_dim: int = 64) -> None:
        super().__init__()
        self.action_encoding = nn.Sequential(
            nn.Linear(hidden_dim + n_actions, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim)
        )
        self.q = nn.Sequential(
            nn.Linear(embed_dim, embed_dim), nn.ELU(), nn.Linear(embed_dim, embed_dim), nn.ELU(), nn.Linear(embed_dim, 1)
        )

    def forward(
        self, state: torch.Tensor, hidden: torch.Tensor, actions_onehot: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``state (B, T, S)`` (unused), ``hidden (B, T, N, H)``, ``actions_onehot (B, T, N, A)`` -> ``Q_jt``, zeros ``(B, T, 1)``."""
        encoding = self.action_encoding(torch.cat([hidden, actions_onehot], dim=-1)).mean(dim=-2)  # (B, T, E)
        q_jt = self.q(encoding)
        return q_jt, torch.zeros_like(q_jt)


# --------------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class QTRANConfig(OffPolicyConfig):
    """QTRAN hyperparameters: pymarl2's ``qtran.yaml`` (8 envs, batch 128, Adam, epsilon over 100k, 1-step TD)."""

    lr: float = 5e-4
    """Learning rate (pymarl2 ``qtran.yaml`` keeps the default 5e-4; pymarl: RMSprop 5e-4)."""
    td_lambda: float = 0.0
    """1-step targets (pymarl/pymarl2 ``qtran_learner``); > 0 uses TD(lambda) on ``Q_jt``."""
    mixing_embed_dim: int = 64
    """Width ``E`` of the ``Q_jt`` and ``V_jt`` networks (pymarl ``qtran.yaml``)."""
    network_size: Literal["small", "big"] = "small"
    """Two (``"small"``) or three (``"big"``) hidden layers in ``Q_jt`` and ``V_jt`` (pymarl ``network_size``)."""
    opt_loss: float = 1.0
    """Weight of ``L_opt`` (pymarl ``opt_loss``)."""
    nopt_min_loss: float = 0.1
    """Weight of ``L_nopt`` (pymarl ``nopt_min_loss``)."""
    qtran_arch: Literal["qtran_paper", "authors"] = "qtran_paper"
    """``"qtran_paper"``: pymarl's ``QTranBase`` (``Q_jt`` and ``V_jt`` of the state and the summed embeddings, TD
    target from ``Q_jt^target``). ``"authors"``: the authors' TensorFlow code (:class:`QTranAuthors`: mean embedding,
    no state, no ``V_jt``; TD target ``r + gamma sum_i max_a Q_i^target(s', a)``); ``mixing_embed_dim`` is its width,
    ``network_size`` does not apply."""


# --------------------------------------------------------------------------------------------------------------
# The algorithm
# --------------------------------------------------------------------------------------------------------------


class QTRAN(OffPolicyAgent):
    """QTRAN-base with pymarl2's settings.

    Example:
        >>> from trmarl import QTRAN
        >>> model = QTRAN("MatrixGame-QTRAN", seed=0).learn(20_000)   # doctest: +SKIP

    Args:
        env: An env id, ParallelEnv, factory or multi-agent vec env with discrete actions (8 envs by default).
        **kwargs: ``seed``, ``device``, ``verbose``, ``tensorboard_log``, ``n_envs`` and the fields of :class:`QTRANConfig`.
    """

    algorithm_name: ClassVar[str] = "QTRAN"
    config_class: ClassVar[type[Any]] = QTRANConfig
    config: QTRANConfig

    def _setup_mixer(self) -> nn.Module:
        cfg, sp = self.config, self.spaces
        if cfg.qtran_arch not in ("qtran_paper", "authors"):
            raise ValueError(f"qtran_arch must be 'qtran_paper' or 'authors', got {cfg.qtran_arch!r}")
        if cfg.qtran_arch == "authors":
            return QTranAuthors(sp.n_actions, cfg.hidden_dim, cfg.mixing_embed_dim)
        return QTranBase(sp.n_actions, sp.state_dim, cfg.hidden_dim, cfg.mixing_embed_dim, cfg.network_size)

    def _onehot(self, actions: torch.Tensor) -> torch.Tensor:
        return F.one_hot(actions, self.n_actions).float()

    def joint_values(self, obs: np.ndarray, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``Q_jt`` of joint actions at the first step of an episode (e.g. to read off a learned matrix-game table).

        Args:
            obs: ``(B, N, D)`` observations.
            state: ``(B, S)`` global states.
            actions: ``(B, N)`` joint actions (ints).

        Returns:
            ``(B,)`` joint values.
        """
        assert self.mixer is not None
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        state_t = torch.as_tensor(state, dtype=torch.float32, device=self.device)
        actions_t = torch.as_tensor(actions, dtype=torch.int64, device=self.device)
        hidden = self._first_step_hidden(obs_t)  # (B, N, H)
        with torch.no_grad():
            q_jt, _ = self.mixer(state_t[:, None], hidden[:, None], self._onehot(actions_t)[:, None])  # (B, 1, 1)
        return q_jt.view(-1).cpu().numpy()

    def _update(self, batch: EpisodeBatch) -> None:
        """One gradient step on a replayed batch (whole episodes, or single steps with ``sample_unit="step"``)."""
        cfg = self.config
        assert self.mixer is not None and self.target_mixer is not None
        mask = batch.mask.unsqueeze(-1)  # (B, T, 1)
        n_valid = mask.sum()

        # 1. agent Q-values and GRU states along whole episodes; individual greedy actions (masked)
        q, hidden = self._unroll(self.agent, batch)  # (B, T+1, N, A), (B, T+1, N, H)
        greedy = q.detach().masked_fill(~batch.action_mask, MASKED_Q).argmax(dim=-1)  # (B, T+1, N)
        chosen_q = q[:, :-1].gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)  # (B, T, N)
        max_q = q[:, :-1].gather(-1, greedy[:, :-1].unsqueeze(-1)).squeeze(-1)  # (B, T, N)

        # 2. L_td: Q_jt of the taken joint action against r + gamma Q_jt^target(s', greedy u')
        #    (the authors' code: r + gamma sum_i Q_i^target(s', greedy u'_i))
        q_jt, v_jt = self.mixer(batch.state[:, :-1], hidden[:, :-1], self._onehot(batch.actions))  # (B, T, 1) each
        with torch.no_grad():
            target_q, target_hidden = self._unroll(self.target_agent, batch)
            next_actions = greedy if cfg.double_q else target_q.masked_fill(~batch.action_mask, MASKED_Q).argmax(dim=-1)
            if cfg.qtran_arch == "authors":
                target_jt = target_q.gather(-1, next_actions.unsqueeze(-1)).sum(dim=-2)  # (B, T+1, 1)
            else:
                target_jt, _ = self.target_mixer(batch.state, target_hidden, self._onehot(next_actions))  # (B, T+1, 1)
            targets = td_lambda_targets(
                batch.reward.unsqueeze(-1), batch.terminated.unsqueeze(-1), mask, target_jt, cfg.gamma, cfg.td_lambda
            )  # (B, T, 1)
        td_loss = ((q_jt - targets) * mask).pow(2).sum() / n_valid

        # 3. L_opt: at the individual greedy actions, sum_i max Q_i must equal Q_jt - V_jt
        with torch.no_grad():
            max_jt, _ = self.mixer(batch.state[:, :-1], hidden[:, :-1], self._onehot(greedy[:, :-1]))  # (B, T, 1)
        opt_error = max_q.sum(dim=-1, keepdim=True) - max_jt + v_jt
        opt_loss = (opt_error * mask).pow(2).sum() / n_valid

        # 4. L_nopt: elsewhere sum_i Q_i must not fall below Q_jt - V_jt
        nopt_error = (chosen_q.sum(dim=-1, keepdim=True) - q_jt.detach() + v_jt).clamp(max=0.0)
        nopt_loss = (nopt_error * mask).pow(2).sum() / n_valid

        # 5. optimise (gradient-norm clip 10), then target networks when due
        loss = td_loss + cfg.opt_loss * opt_loss + cfg.nopt_min_loss * nopt_loss
        grad_norm = self._gradient_step(loss)

        self.logger.record("train/loss", loss.item())
        self.logger.record("train/td_loss", td_loss.item())
        self.logger.record("train/opt_loss", opt_loss.item())
        self.logger.record("train/nopt_loss", nopt_loss.item())
        self.logger.record("train/grad_norm", grad_norm)
        self.logger.record("train/q_jt_mean", ((q_jt * mask).sum() / n_valid).item())
        self.logger.record("train/v_jt_mean", ((v_jt * mask).sum() / n_valid).item())
