"""Action distributions for the actors: a bounded diagonal Gaussian and a masked categorical.

Both follow HARL (``harl/models/base/distributions.py``):

* :class:`DiagGaussianHead`: the mean is a linear layer; the standard deviation is **state independent** and bounded,
  ``std = sigmoid(log_std / std_x_coef) * std_y_coef`` with ``log_std`` initialised to ``std_x_coef``, so the initial std
  is ``sigmoid(1) * 0.5 = 0.366`` and it always stays in ``(0, std_y_coef)``. No tanh squashing: the env clips.
* :class:`CategoricalHead`: logits of unavailable actions are set to ``-1e10`` (a finite number keeps entropies and
  KLs finite).

The distribution objects are small and allocation-light (no argument validation), because rollouts call them every
step. ``log_prob`` and ``entropy`` are summed over action dimensions (HARL's ``action_aggregation: prod`` takes the
product of per-dimension ratios, which is the exponential of the summed log-ratio).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["CategoricalHead", "DiagGaussian", "DiagGaussianHead", "Distribution", "MaskedCategorical", "kl_divergence"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
MASKED_LOGIT = -1e10


class DiagGaussian:
    """A diagonal Gaussian over ``(..., A)`` actions.

    Args:
        mean: ``(..., A)`` means.
        std: ``(A,)`` or ``(..., A)`` standard deviations (broadcast against ``mean``).
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean = mean
        self.std = std.expand_as(mean)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``(..., A)`` actions with ``generator`` (a dedicated stream keeps runs reproducible)."""
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise

    def detach(self) -> DiagGaussian:
        """A copy without gradients (the "old" side of a KL)."""
        return DiagGaussian(self.mean.detach(), self.std.detach())

    def mode(self) -> torch.Tensor:
        """The deterministic action: the mean."""
        return self.mean

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """Log-density of ``(..., A)`` actions, summed over the action dimensions: ``(...)``."""
        z = (actions - self.mean) / self.std
        return (-0.5 * z.pow(2) - self.std.log() - _LOG_SQRT_2PI).sum(-1)

    def entropy(self) -> torch.Tensor:
        """Entropy summed over action dimensions: ``(...)``."""
        return (0.5 + _LOG_SQRT_2PI + self.std.log()).sum(-1)


class MaskedCategorical:
    """A categorical over ``A`` actions whose unavailable actions carry the logit ``-1e10``.

    Args:
        logits: ``(..., A)`` raw logits.
        action_mask: ``(..., A)`` bool, True where the action is available, or None.
    """

    def __init__(self, logits: torch.Tensor, action_mask: torch.Tensor | None = None) -> None:
        if action_mask is not None:
            logits = logits.masked_fill(~action_mask, MASKED_LOGIT)
        self.logits = logits - logits.logsumexp(-1, keepdim=True)  # normalised log-probabilities

    def detach(self) -> MaskedCategorical:
        """A copy without gradients (the "old" side of a KL)."""
        return MaskedCategorical(self.logits.detach())

    @property
    def probs(self) -> torch.Tensor:
        """``(..., A)`` probabilities."""
        return self.logits.exp()

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``(...)`` integer actions with ``generator``."""
        flat = self.probs.reshape(-1, self.logits.shape[-1])
        return torch.multinomial(flat, 1, generator=generator).reshape(self.logits.shape[:-1])

    def mode(self) -> torch.Tensor:
        """The deterministic action: the argmax."""
        return self.logits.argmax(-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """Log-probability of ``(...)`` integer actions."""
        return self.logits.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        """Entropy ``(...)``; masked actions contribute ``0``."""
        return -(self.probs * self.logits).sum(-1)


Distribution = DiagGaussian | MaskedCategorical


def kl_divergence(old: Distribution, new: Distribution) -> torch.Tensor:
    """``KL(old || new)`` per sample ``(...)``, as HATRPO's trust region measures it (HARL ``trpo_util.kl_divergence``).

    * Gaussian: the exact closed form in **float64**, summed over action dimensions,
      ``0.5 * (so^2/sn^2 + ((mo - mn)/sn)^2 - 1 - log(so^2/sn^2))``.
    * Categorical: ``sum_a [exp(d) - 1 - d]`` with ``d = logp_new - logp_old`` of the normalised log-probabilities
      (HARL's approximation, kept for parity).

    Args:
        old: The distribution before the update (usually detached).
        new: The distribution after the update (gradients flow through it).

    Returns:
        The per-sample KL, in float64 for Gaussians and the logits' dtype for categoricals.
    """
    if isinstance(old, DiagGaussian) and isinstance(new, DiagGaussian):
        mo, so = old.mean.double(), old.std.double()
        mn, sn = new.mean.double(), new.std.double()
        var_ratio = (so / sn).pow(2)
        return 0.5 * (var_ratio + ((mo - mn) / sn).pow(2) - 1.0 - var_ratio.log()).sum(-1)
    if isinstance(old, MaskedCategorical) and isinstance(new, MaskedCategorical):
        d = new.logits - old.logits
        return (d.exp() - 1.0 - d).sum(-1)
    raise TypeError(f"no KL between {type(old).__name__} and {type(new).__name__}")


class DiagGaussianHead(nn.Module):
    """Linear mean plus a bounded state-independent std (HARL's ``DiagGaussian``).

    Args:
        in_dim: Feature size.
        act_dim: Action dimensions ``A``.
        gain: Orthogonal init gain of the mean layer (HARL: 0.01).
        std_x_coef: Initial value and temperature of ``log_std`` (HARL: 1.0).
        std_y_coef: Upper bound of the std (HARL: 0.5).
    """

    def __init__(self, in_dim: int, act_dim: int, gain: float = 0.01, std_x_coef: float = 1.0, std_y_coef: float = 0.5):
        super().__init__()
        self.mean = nn.Linear(in_dim, act_dim)
        nn.init.orthogonal_(self.mean.weight, gain=gain)
        nn.init.zeros_(self.mean.bias)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(std_x_coef)))
        self.std_x_coef = float(std_x_coef)
        self.std_y_coef = float(std_y_coef)

    def std(self) -> torch.Tensor:
        """``(A,)`` current standard deviation."""
        return torch.sigmoid(self.log_std / self.std_x_coef) * self.std_y_coef

    def forward(self, features: torch.Tensor, action_mask: torch.Tensor | None = None) -> DiagGaussian:
        """``(..., F)`` features -> a Gaussian over ``(..., A)``; ``action_mask`` is ignored."""
        return DiagGaussian(self.mean(features), self.std())


class CategoricalHead(nn.Module):
    """Linear logits with action masking (HARL's ``Categorical``).

    Args:
        in_dim: Feature size.
        n_actions: Number of actions ``A``.
        gain: Orthogonal init gain (HARL: 0.01).
    """

    def __init__(self, in_dim: int, n_actions: int, gain: float = 0.01) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, n_actions)
        nn.init.orthogonal_(self.linear.weight, gain=gain)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features: torch.Tensor, action_mask: torch.Tensor | None = None) -> MaskedCategorical:
        """``(..., F)`` features and ``(..., A)`` bool mask -> a masked categorical."""
        return MaskedCategorical(self.linear(features), action_mask)
