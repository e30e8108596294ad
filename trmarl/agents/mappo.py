"""MAPPO and IPPO: PPO with a shared actor, one centralised critic (MAPPO) or per-agent critics (IPPO).

Yu, Velu, Vinitsky, Gao, Wang, Bayen, Wu. "The Surprising Effectiveness of PPO in Cooperative Multi-Agent Games",
NeurIPS 2022 Datasets and Benchmarks (MAPPO); de Witt, Gupta, Makoviichuk, Makoviychuk, Torr, Sun, Whiteson.
"Is Independent Learning All You Need in the StarCraft Multi-Agent Challenge?", 2020 (IPPO).
Reference implementations: PKU-MARL/HARL (``harl/algorithms/actors/mappo.py``, ``on_policy_ma_runner.py``) and
marlbenchmark/on-policy (``--algorithm_name ippo`` sets ``use_centralized_V=False``).

The update, per iteration (``shared/specs/trust_region.md`` §7)::

    A   = GAE advantages (centralised critic: one A for all agents; IPPO: A_i from agent i's critic V_i(o_i))
    for each actor (one shared actor trained on the pooled samples of all agents, or one per agent):
        r   = pi^new(a | o) / pi^rollout(a | o)
        L   = -mean_active( min(r A, clip(r, 1 - eps, 1 + eps) A) ) - ent_coef * H(pi)
        n_epochs x n_minibatches of Adam on L
    train the critic(s)

This is HAPPO's machinery with ``share_param=True`` and ``fixed_order=True`` and **no factor** (factor = 1): every agent
is updated from the same rollout with no sequential dependency, so the agent order does not change the result. With
``share_param=False`` it is the non-shared MAPPO of HARL's ``mappo.yaml``; IPPO is the same class with
``centralized_critic=False``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from trmarl.agents.on_policy import ActorBatch, OnPolicyAgent, OnPolicyConfig

__all__ = ["IPPO", "IPPOConfig", "MAPPO", "MAPPOConfig", "ppo_surrogate"]


@dataclasses.dataclass(kw_only=True)
class MAPPOConfig(OnPolicyConfig):
    """MAPPO hyperparameters; defaults are HARL's tuned MaMuJoCo HalfCheetah-2x3 MAPPO config."""

    share_param: bool = True
    """One actor shared by all agents, trained on their pooled samples (HARL MAPPO: True)."""
    fixed_order: bool = True
    """Visit actors in index order (HARL MAPPO: True; without a factor the order does not change the update)."""
    n_epochs: int = 15
    """Actor epochs per iteration (HARL ``ppo_epoch``; HalfCheetah-2x3 tuned: 15, yaml default 5)."""
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


@dataclasses.dataclass(kw_only=True)
class IPPOConfig(MAPPOConfig):
    """IPPO hyperparameters: MAPPO's, with a decentralised critic ``V_i(o_i)`` (marlbenchmark ``use_centralized_V=False``)."""

    centralized_critic: bool = False
    """False: each agent's critic sees only its own observation (IPPO); parameters shared when ``share_param``."""


def ppo_surrogate(
    log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor, active: torch.Tensor, clip_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate (HAPPO's with factor 1), to be minimised.

    ``-sum(min(r A, clip(r, 1 - eps, 1 + eps) A) * active) / sum(active)`` with ``r = exp(logp - logp_old)``; all
    tensors ``(B,)``. Returns the loss and the ratios.
    """
    ratio = torch.exp(log_probs - old_log_probs)
    surrogate = torch.min(ratio * advantages, ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * advantages)
    return -(surrogate * active).sum() / active.sum().clamp(min=1.0), ratio


class MAPPO(OnPolicyAgent):
    """Multi-Agent PPO: shared (or per-agent) actors updated in parallel from one rollout, centralised critic.

    Args:
        env: An env id, a PettingZoo ``ParallelEnv``, a factory or a vec env.
        **kwargs: ``seed``, ``device``, ``verbose``, ``tensorboard_log``, ``n_envs`` (default 20), ``vec_backend``,
            ``env_kwargs`` (see :class:`~trmarl.agents.base.BaseAgent`) and the fields of :class:`MAPPOConfig`.

    Example:
        >>> from trmarl import MAPPO
        >>> model = MAPPO("MaMuJoCo-HalfCheetah-2x3", seed=1).learn(20_000)  # doctest: +SKIP
    """

    algorithm_name = "MAPPO"
    config_class = MAPPOConfig
    config: MAPPOConfig

    def _surrogate(self, log_probs: torch.Tensor, batch: ActorBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """PPO's clipped surrogate on one minibatch (the entropy bonus is added by ``ppo_update``)."""
        return ppo_surrogate(log_probs, batch.old_log_probs, batch.advantages, batch.active, self.config.clip_range)

    def train(self) -> None:
        """One MAPPO/IPPO update from the current buffer (all actors from the same data, then the critics)."""
        cfg, buf = self.config, self.buffer

        # 0. the critic's minibatch order is drawn now; the update itself runs in step 3, after the actors (HARL's
        #    order; with concurrent_critic in a worker thread beside the next rollout, which gives the same numbers)
        critic_update = self.prepare_critic_update()

        # 1. actor order (irrelevant to the result without a factor; kept for parity with HARL's runner)
        groups = list(self._actor_groups)
        if not cfg.fixed_order:
            groups = [groups[int(j)] for j in self.rng.permutation(len(groups))]

        # 2. actor updates: each actor on the pooled samples of the agents it serves, factor = 1
        per_actor: dict[int, dict[str, float]] = {}
        for a, agent_ids in groups:
            live = [i for i in agent_ids if buf.active[:, :, i].sum() > 0]
            if not live:
                continue
            advantages = self.agent_advantages(live)  # (T, E, k), normalised jointly over the pooled active samples
            per_actor[a] = self.ppo_update(
                live, advantages, None, self._surrogate, cfg.n_epochs, cfg.n_minibatches, cfg.ent_coef
            )

        # 3. the critic update (its statistics are logged when it finishes if it runs beside the next rollout)
        critic_stats = critic_update()
        self._n_updates += cfg.n_epochs
        keys = next(iter(per_actor.values())).keys() if per_actor else ()
        summary = {k: float(np.mean([s[k] for s in per_actor.values()])) for k in keys}
        self._log_train({**summary, **critic_stats}, per_actor if not cfg.share_param else None)


class IPPO(MAPPO):
    """Independent PPO: MAPPO's machinery with a decentralised critic ``V_i(o_i)`` per agent.

    A parameterisation of :class:`MAPPO` (``centralized_critic=False``), not a separate algorithm: every agent's
    advantages come from its own value estimate; actors are shared by default (``share_param=True``).
    """

    algorithm_name = "IPPO"
    config_class = IPPOConfig
    config: IPPOConfig
