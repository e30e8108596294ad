"""HATRPO: Heterogeneous-Agent Trust Region Policy Optimisation.

Kuba, Chen, Wen, Wen, Sun, Wang, Yang. "Trust Region Policy Optimisation in Multi-Agent Reinforcement Learning",
ICLR 2022; Zhong et al. "Heterogeneous-Agent Reinforcement Learning", JMLR 2024.
Reference implementation: PKU-MARL/HARL (``harl/algorithms/actors/hatrpo.py``, ``harl/utils/trpo_util.py``).

The update, per iteration (``shared/specs/trust_region.md`` §1, §3)::

    order, factor = random permutation, 1                  (as HAPPO)
    for i in order:                                          one TRPO step per agent on the full batch:
        L(theta) = mean_active( r_i * factor * A )           r_i = pi_theta / pi_rollout (product over action dims)
        g = grad L;  s = CG(F, g)  (10 iterations, F v = grad((grad KL) . v) + 0.1 v, KL over all samples)
        full_step = sqrt(2 delta / s^T F s) * s;  expected = g . full_step
        backtracking: theta = theta_old + frac * full_step, accept iff
            KL(pi_old || pi_theta) < delta  and  improve / expected > 0.5  and  improve > 0
            else frac *= 0.8, expected *= 0.8 (10 trials); restore theta_old when none is accepted
        factor *= pi_i^after / pi_i^before                   (never clipped)
    train the critic

No learning rate, epochs or entropy bonus for the actors; the Gaussian KL is the exact closed form in float64.

Deviations from HARL: the conjugate gradient starts from 0 as in HARL (sb3-contrib's solver starts from small random
noise, so it is not used); truncation bootstraps from ``V(final_state)`` unless ``harl_exact=True``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from trmarl.agents.on_policy import ActorBatch, OnPolicyAgent, OnPolicyConfig
from trmarl.common.distributions import kl_divergence

__all__ = ["HATRPO", "HATRPOConfig", "conjugate_gradient"]


@dataclasses.dataclass(kw_only=True)
class HATRPOConfig(OnPolicyConfig):
    """HATRPO hyperparameters; defaults are HARL's tuned MaMuJoCo HalfCheetah-2x3 HATRPO config."""

    kl_threshold: float = 0.01
    """Trust-region radius ``delta`` (HARL ``kl_threshold``; HalfCheetah-2x3 tuned: 0.01)."""
    ls_step: int = 10
    """Backtracking line-search trials (HARL: 10)."""
    accept_ratio: float = 0.5
    """Minimum ``improvement / expected improvement`` to accept a step (HARL: 0.5)."""
    backtrack_coeff: float = 0.8
    """Step shrink factor per failed trial (HARL: 0.8; ORIG code: 0.5)."""
    cg_iters: int = 10
    """Conjugate-gradient iterations (HARL: 10)."""
    cg_damping: float = 0.1
    """Damping added to the Fisher-vector product (HARL: 0.1)."""
    clip_range: float = 0.2
    """Critic value clip only (HARL tuned HATRPO MaMuJoCo rows: 0.2)."""
    critic_epochs: int = 5
    """Critic epochs per iteration (HARL tuned HATRPO MaMuJoCo rows: 5)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.kl_threshold > 0 or not 0 < self.backtrack_coeff < 1 or self.ls_step < 1 or self.cg_iters < 1:
            raise ValueError("kl_threshold > 0, 0 < backtrack_coeff < 1, ls_step >= 1 and cg_iters >= 1 are required")


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, n_iters: int = 10, residual_tol: float = 1e-10
) -> torch.Tensor:
    """Solve ``A x = b`` for symmetric positive definite ``A`` given as ``matvec`` (OpenAI-baselines CG, ``x0 = 0``).

    Args:
        matvec: ``v -> A v``.
        b: Right-hand side ``(P,)``.
        n_iters: Maximum iterations.
        residual_tol: Stop when ``r^T r`` falls below it.
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rdotr = r.dot(r)
    for _ in range(n_iters):
        if rdotr < residual_tol:
            break
        Ap = matvec(p)
        alpha = rdotr / p.dot(Ap)
        x += alpha * p
        r -= alpha * Ap
        new_rdotr = r.dot(r)
        p = r + (new_rdotr / rdotr) * p
        rdotr = new_rdotr
    return x


def _flat_grad(output: torch.Tensor, params: list[nn.Parameter], create_graph: bool = False) -> torch.Tensor:
    grads = torch.autograd.grad(output, params, create_graph=create_graph, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)])


def _assign(params: list[nn.Parameter], flat: torch.Tensor) -> None:
    """Copy a flat vector into ``params`` in place (keeps their storage, unlike ``vector_to_parameters``, so results
    stay bit-identical to a model whose parameters were loaded from a checkpoint)."""
    offset = 0
    for p in params:
        n = p.numel()
        p.data.copy_(flat[offset : offset + n].view_as(p))
        offset += n


class HATRPO(OnPolicyAgent):
    """Heterogeneous-Agent TRPO: sequential per-agent trust-region steps in random order, weighted by the factor.

    Args:
        env: An env id, a PettingZoo ``ParallelEnv``, a factory or a vec env.
        **kwargs: ``seed``, ``device``, ``verbose``, ``tensorboard_log``, ``n_envs`` (default 20), ``vec_backend``,
            ``env_kwargs`` (see :class:`~trmarl.agents.base.BaseAgent`) and the fields of :class:`HATRPOConfig`.
    """

    algorithm_name = "HATRPO"
    config_class = HATRPOConfig
    sequential = True
    config: HATRPOConfig

    def train(self) -> None:
        """One HATRPO update from the current buffer (trust-region steps in sequence, then the critic)."""
        cfg, buf = self.config, self.buffer
        T, E, N = buf.n_steps, buf.n_envs, self.spaces.n_agents

        # 0. the critic's minibatch order is drawn now; the update itself runs in step 3, after the actors (HARL's
        #    order; with concurrent_critic in a worker thread beside the next rollout, which gives the same numbers)
        critic_update = self.prepare_critic_update()

        # 1. agent order
        order = list(range(N)) if cfg.fixed_order else [int(i) for i in self.rng.permutation(N)]

        # 2. sequential trust-region steps, each weighted by the factor of the agents updated before it
        factor = torch.ones(T, E, device=self.device)  # (T, E)
        per_agent: dict[int, dict[str, float]] = {}
        for i in order:
            if buf.active[:, :, i].sum() == 0:
                continue
            old_log_probs = self.rollout_log_probs([i])[..., 0]  # (T, E)
            batch = self.actor_full_batch([i], self.agent_advantages([i]), factor.unsqueeze(-1))
            per_agent[i] = self.trust_region_step(self.actor_of[i], batch)
            new_log_probs = self.rollout_log_probs([i])[..., 0]
            factor = factor * torch.exp(new_log_probs - old_log_probs)  # never clipped
            per_agent[i]["factor_mean"] = float(factor.mean())

        # 3. the critic update (its statistics are logged when it finishes if it runs beside the next rollout)
        critic_stats = critic_update()
        self._n_updates += 1
        keys = next(iter(per_agent.values())).keys() if per_agent else ()
        summary = {k: float(np.mean([s[k] for s in per_agent.values()])) for k in keys}
        self._log_train({**summary, **critic_stats}, per_agent)

    def trust_region_step(self, actor_index: int, batch: ActorBatch) -> dict[str, float]:
        """One TRPO step of actor ``actor_index`` on ``batch`` (the full rollout of one agent); returns statistics."""
        cfg = self.config
        actor = self.actors[actor_index]
        params = [p for p in actor.parameters() if p.requires_grad]
        n_active = batch.active.sum().clamp(min=1.0)

        def surrogate(log_probs: torch.Tensor) -> torch.Tensor:  # L = mean_active(r * factor * A)
            ratio = torch.exp(log_probs - batch.old_log_probs)
            return (ratio * batch.factor * batch.advantages * batch.active).sum() / n_active

        # surrogate gradient g and the old policy (detached)
        log_probs, _, dist = self.evaluate_actions(actor_index, batch)
        loss_old = surrogate(log_probs)
        g = _flat_grad(loss_old, params)
        old_dist = dist.detach()

        # natural gradient direction s = F^-1 g: Fisher-vector products are Hessian-vector products of
        # KL(pi_theta || pi_theta) (mean over all samples, float64 for Gaussians), plus damping 0.1
        _, _, new_dist = self.evaluate_actions(actor_index, batch)
        kl = kl_divergence(new_dist.detach(), new_dist).mean()
        grad_kl = _flat_grad(kl, params, create_graph=True)  # one graph, reused by every product

        def fisher_vector(v: torch.Tensor) -> torch.Tensor:
            hvp = torch.autograd.grad((grad_kl * v.to(grad_kl.dtype)).sum(), params, retain_graph=True, allow_unused=True)
            flat = torch.cat([(torch.zeros_like(p) if h is None else h).reshape(-1) for p, h in zip(params, hvp)])
            return flat.to(v.dtype) + cfg.cg_damping * v

        step_dir = conjugate_gradient(fisher_vector, g, cfg.cg_iters)
        shs = 0.5 * step_dir.dot(fisher_vector(step_dir))
        if not torch.isfinite(shs) or shs <= 0:
            return {"policy_loss": -float(loss_old.detach()), "kl": 0.0, "accepted": 0.0, "step_fraction": 0.0}
        full_step = step_dir / torch.sqrt(shs / cfg.kl_threshold)  # = sqrt(2 delta / s^T F s) * s
        expected = float(g.dot(full_step))

        # backtracking line search with HARL's acceptance test; restore theta_old when no trial is accepted
        theta_old = nn.utils.parameters_to_vector(params).detach().clone()
        frac, accepted, kl_value, loss_new = 1.0, False, 0.0, float(loss_old.detach())
        with torch.no_grad():
            for _ in range(cfg.ls_step):
                _assign(params, theta_old + frac * full_step)
                new_log_probs, _, new_dist = self.evaluate_actions(actor_index, batch)
                loss_new = float(surrogate(new_log_probs))
                improve = loss_new - float(loss_old.detach())
                kl_value = float(kl_divergence(old_dist, new_dist).mean())
                if kl_value < cfg.kl_threshold and expected > 0 and improve / expected > cfg.accept_ratio and improve > 0:
                    accepted = True
                    break
                frac *= cfg.backtrack_coeff
                expected *= cfg.backtrack_coeff
            if not accepted:
                _assign(params, theta_old)
                kl_value, loss_new, frac = 0.0, float(loss_old.detach()), 0.0
        return {"policy_loss": -loss_new, "kl": kl_value, "accepted": float(accepted), "step_fraction": frac}
