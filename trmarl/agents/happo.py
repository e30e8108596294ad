"""HAPPO: Heterogeneous-Agent Proximal Policy Optimisation.

Kuba, Chen, Wen, Wen, Sun, Wang, Yang. "Trust Region Policy Optimisation in Multi-Agent Reinforcement Learning",
ICLR 2022; Zhong, Kuba, Feng, Hu, Ji, Yang. "Heterogeneous-Agent Reinforcement Learning", JMLR 2024.
Reference implementation: PKU-MARL/HARL (``harl/algorithms/actors/happo.py``, ``harl/runners/on_policy_ha_runner.py``).

The update, per iteration (``shared/specs/trust_region.md`` §1-§2)::

    A      = GAE advantages from one centralised critic (the same A for every agent)
    order  = a fresh random permutation of the agents          (range(N) with fixed_order=True)
    factor = 1
    for i in order:
        r_i  = pi_i^new(a_i | o_i) / pi_i^rollout(a_i | o_i)    (product over action dimensions)
        L_i  = -mean_active( factor * min(r_i A, clip(r_i, 1 - eps, 1 + eps) A) ) - ent_coef * H(pi_i)
        train actor i on L_i for n_epochs x n_minibatches
        factor *= pi_i^after(a_i | o_i) / pi_i^before(a_i | o_i)    (never clipped)
    train the critic

Each agent thus maximises the advantage *weighted by how much the agents updated before it changed the joint policy*,
which gives HAPPO its monotonic-improvement guarantee without parameter sharing.

Deviations from HARL: by default a time-limit truncation bootstraps from ``V(final_state)`` (``harl_exact=True``
restores HARL's convention); the agent order comes from the agent's numpy Generator rather than ``torch.randperm``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from trmarl.agents.on_policy import ActorBatch, OnPolicyAgent, OnPolicyConfig

__all__ = ["HAPPO", "HAPPOConfig"]


@dataclasses.dataclass(kw_only=True)
class HAPPOConfig(OnPolicyConfig):
    """HAPPO hyperparameters; defaults are HARL's tuned MaMuJoCo HalfCheetah-2x3 config."""

    n_epochs: int = 15
    """Actor epochs per agent per iteration (HARL ``ppo_epoch``; HalfCheetah-2x3 tuned: 15, yaml default 5)."""
    n_minibatches: int = 1
    """Actor minibatches per epoch (HARL ``actor_num_mini_batch``: 1)."""
    ent_coef: float = 0.01
    """Entropy bonus (HARL ``entropy_coef``: 0.01)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("n_epochs", "n_minibatches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")


def happo_surrogate(
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    factor: torch.Tensor,
    active: torch.Tensor,
    clip_range: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """HAPPO's clipped surrogate loss (HARL ``happo.py``), to be minimised.

    ``-sum(factor * min(r A, clip(r, 1 - eps, 1 + eps) A) * active) / sum(active)`` with ``r = exp(logp - logp_old)``.

    Args:
        log_probs: ``(B,)`` log-probs under the current actor (summed over action dimensions).
        old_log_probs: ``(B,)`` log-probs at rollout time.
        advantages: ``(B,)`` advantages.
        factor: ``(B,)`` product of the ratios of the agents updated earlier this iteration.
        active: ``(B,)`` 1 where the agent was alive.
        clip_range: ``eps``.

    Returns:
        The loss and the ratios ``r``.
    """
    ratio = torch.exp(log_probs - old_log_probs)
    surrogate = torch.min(ratio * advantages, ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * advantages)
    loss = -(factor * surrogate * active).sum() / active.sum().clamp(min=1.0)
    return loss, ratio


class HAPPO(OnPolicyAgent):
    """Heterogeneous-Agent PPO: sequential per-agent PPO updates in random order, weighted by the ratio factor.

    Args:
        env: An env id (``"MaMuJoCo-HalfCheetah-2x3"``), a PettingZoo ``ParallelEnv``, a factory or a vec env.
        **kwargs: ``seed``, ``device``, ``verbose``, ``tensorboard_log``, ``n_envs`` (default 20), ``vec_backend``,
            ``env_kwargs`` (see :class:`~trmarl.agents.base.BaseAgent`) and the fields of :class:`HAPPOConfig`.

    Example:
        >>> from trmarl import HAPPO
        >>> model = HAPPO("MaMuJoCo-HalfCheetah-2x3", seed=1).learn(20_000)  # doctest: +SKIP
        >>> actions, _ = model.predict(obs, deterministic=True)  # doctest: +SKIP
    """

    algorithm_name = "HAPPO"
    config_class = HAPPOConfig
    sequential = True
    config: HAPPOConfig

    def _surrogate(self, log_probs: torch.Tensor, batch: ActorBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The factor-weighted clipped surrogate on one minibatch (the entropy bonus is added by ``ppo_update``)."""
        return happo_surrogate(
            log_probs, batch.old_log_probs, batch.advantages, batch.factor, batch.active, self.config.clip_range
        )

    def train(self) -> None:
        """One HAPPO update from the current buffer (actors in sequence, then the critic)."""
        cfg, buf = self.config, self.buffer
        T, E, N = buf.n_steps, buf.n_envs, self.spaces.n_agents

        # 0. the critic's minibatch order is drawn now; the update itself runs in step 3, after the actors (HARL's
        #    order; with concurrent_critic in a worker thread beside the next rollout, which gives the same numbers)
        critic_update = self.prepare_critic_update()

        # 1. agent order: a fresh random permutation every iteration (HARL ``fixed_order: False``)
        order = list(range(N)) if cfg.fixed_order else [int(i) for i in self.rng.permutation(N)]

        # 2. sequential actor updates, each weighted by the factor of the agents updated before it
        factor = torch.ones(T, E, device=self.device)  # (T, E)
        per_agent: dict[int, dict[str, float]] = {}
        for i in order:
            if buf.active[:, :, i].sum() == 0:  # a dead-all-rollout agent is skipped (HARL)
                continue
            old_log_probs = self.rollout_log_probs([i])[..., 0]  # (T, E) before this agent's update
            advantages = self.agent_advantages([i])  # (T, E, 1)
            stats = self.ppo_update(
                [i], advantages, factor.unsqueeze(-1), self._surrogate, cfg.n_epochs, cfg.n_minibatches, cfg.ent_coef
            )
            new_log_probs = self.rollout_log_probs([i])[..., 0]  # (T, E) after it
            factor = factor * torch.exp(new_log_probs - old_log_probs)  # never clipped (HARL, ORIG)
            stats["factor_mean"] = float(factor.mean())
            per_agent[i] = stats

        # 3. the critic update (its statistics are logged when it finishes if it runs beside the next rollout)
        critic_stats = critic_update()
        self._n_updates += cfg.n_epochs
        keys = next(iter(per_agent.values())).keys() if per_agent else ()
        summary = {k: float(np.mean([s[k] for s in per_agent.values()])) for k in keys}
        self._log_train({**summary, **critic_stats}, per_agent)
