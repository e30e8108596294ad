"""Running normalisation of value targets, exactly as HARL's ``ValueNorm`` (``harl/common/valuenorm.py``).

Per :meth:`ValueNorm.update` with a batch of returns (batch mean ``b``, mean square ``b2``)::

    m  <- beta * m  + (1 - beta) * b
    m2 <- beta * m2 + (1 - beta) * b2
    d  <- beta * d  + (1 - beta)              # debiasing term
    mean = m / max(d, eps),  var = max(m2 / max(d, eps) - mean^2, 1e-2)

with ``beta = 0.99999`` and ``eps = 1e-5``. The critic predicts normalised values; GAE uses denormalised ones.
Statistics are float32 buffers, as in HARL, so they travel in ``model.safetensors``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ValueNorm"]


class ValueNorm(nn.Module):
    """Debiased exponential moving mean/variance over the last axis of the values.

    Args:
        size: Number of value columns normalised independently (1 for a centralised critic, ``N`` for IPPO).
        beta: Moving-average weight (HARL: 0.99999).
        epsilon: Floor of the debiasing term (HARL: 1e-5).
        var_floor: Floor of the variance (HARL: 1e-2).
    """

    running_mean: torch.Tensor
    running_mean_sq: torch.Tensor
    debiasing_term: torch.Tensor

    def __init__(self, size: int = 1, beta: float = 0.99999, epsilon: float = 1e-5, var_floor: float = 1e-2) -> None:
        super().__init__()
        self.beta, self.epsilon, self.var_floor = beta, epsilon, var_floor
        self.register_buffer("running_mean", torch.zeros(size))
        self.register_buffer("running_mean_sq", torch.zeros(size))
        self.register_buffer("debiasing_term", torch.zeros(()))

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Debiased ``(size,)`` mean and (floored) variance."""
        d = self.debiasing_term.clamp(min=self.epsilon)
        mean = self.running_mean / d
        var = (self.running_mean_sq / d - mean.pow(2)).clamp(min=self.var_floor)
        return mean, var

    @torch.no_grad()
    def update(self, values: torch.Tensor) -> None:
        """Fold a batch ``(..., size)`` of denormalised returns into the statistics."""
        flat = values.detach().reshape(-1, self.running_mean.shape[0]).to(self.running_mean.dtype)
        batch_mean = flat.mean(0)
        batch_sq_mean = flat.pow(2).mean(0)
        w = self.beta
        self.running_mean.mul_(w).add_(batch_mean * (1.0 - w))
        self.running_mean_sq.mul_(w).add_(batch_sq_mean * (1.0 - w))
        self.debiasing_term.mul_(w).add_(1.0 * (1.0 - w))

    def normalize(self, values: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / sqrt(var)`` over the last axis (``(..., size)``)."""
        mean, var = self.mean_var()
        return (values - mean) / var.sqrt()

    def denormalize(self, values: torch.Tensor) -> torch.Tensor:
        """``x * sqrt(var) + mean`` over the last axis (``(..., size)``)."""
        mean, var = self.mean_var()
        return values * var.sqrt() + mean
