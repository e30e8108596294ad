"""Actor and critic networks with HARL's MLP family (``harl/models/base/{mlp,rnn}.py``).

``MLPBase``: an optional input ``LayerNorm`` (HARL's ``use_feature_normalization``), then per hidden layer
``Linear -> activation -> LayerNorm``. Weights are orthogonal with gain ``calculate_gain(activation)`` (``sqrt(2)`` for
ReLU), biases zero. The optional recurrent layer is one GRU whose hidden state is zeroed at episode starts, followed by
a ``LayerNorm``. Actor output layers use gain 0.01 (:mod:`trmarl.common.distributions`), the critic head gain 1.

Recurrent modules take sequences ``(L, B, ...)`` with the hidden state at the start of each sequence ``(B, H)`` and
``episode_starts`` ``(L, B)`` (the hidden state is zeroed before a step whose observation starts an episode). A
rollout step is a sequence of length 1. Feed-forward modules accept any leading shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from trmarl.common.distributions import CategoricalHead, DiagGaussian, DiagGaussianHead, Distribution, MaskedCategorical

__all__ = ["ACTIVATIONS", "Actor", "Critic", "MLPBase", "RecurrentLayer", "StackedActors"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU,
    "sigmoid": nn.Sigmoid,
}
_GAIN_NAME = {"relu": "relu", "tanh": "tanh", "leaky_relu": "leaky_relu", "selu": "selu", "sigmoid": "sigmoid"}


def _activation(name: str) -> tuple[type[nn.Module], float]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name], nn.init.calculate_gain(_GAIN_NAME[name])  # type: ignore[arg-type]


class MLPBase(nn.Module):
    """``[LayerNorm(in)] -> (Linear -> act -> LayerNorm) x len(hidden_sizes)``.

    Args:
        in_dim: Input size.
        hidden_sizes: Width of each hidden layer (HARL MaMuJoCo: ``[128, 128, 128]``).
        activation: ``"relu"`` (HARL default), ``"tanh"``, ``"leaky_relu"``, ``"selu"`` or ``"sigmoid"``.
        feature_norm: Apply ``LayerNorm`` to the raw input (HARL ``use_feature_normalization``).
    """

    def __init__(self, in_dim: int, hidden_sizes: Sequence[int], activation: str = "relu", feature_norm: bool = True):
        super().__init__()
        if not hidden_sizes:
            raise ValueError("hidden_sizes must name at least one layer")
        act_cls, gain = _activation(activation)
        self.feature_norm = nn.LayerNorm(in_dim) if feature_norm else nn.Identity()
        layers: list[nn.Module] = []
        prev = in_dim
        for width in hidden_sizes:
            linear = nn.Linear(prev, int(width))
            nn.init.orthogonal_(linear.weight, gain=gain)
            nn.init.zeros_(linear.bias)
            layers += [linear, act_cls(), nn.LayerNorm(int(width))]
            prev = int(width)
        self.layers = nn.Sequential(*layers)
        self.out_dim = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., in_dim)`` -> ``(..., out_dim)``."""
        return self.layers(self.feature_norm(x))


class RecurrentLayer(nn.Module):
    """One GRU layer with episode-start resets, then ``LayerNorm`` (HARL ``RNNLayer`` with ``recurrent_n=1``).

    Args:
        size: Input and hidden size ``H``.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.cell = nn.GRUCell(size, size)
        for name, param in self.cell.named_parameters():
            if "weight" in name:
                nn.init.orthogonal_(param)
            else:
                nn.init.zeros_(param)
        self.norm = nn.LayerNorm(size)
        self.hidden_size = size

    def forward(
        self, x: torch.Tensor, hidden: torch.Tensor, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run a sequence.

        Args:
            x: ``(L, B, H)`` inputs.
            hidden: ``(B, H)`` hidden state before the first step.
            episode_starts: ``(L, B)``; 1 where that step's observation starts a new episode (hidden state zeroed).

        Returns:
            ``(L, B, H)`` normalised outputs and the ``(B, H)`` hidden state after the last step.
        """
        keep = 1.0 - episode_starts.to(x.dtype).unsqueeze(-1)  # (L, B, 1)
        outputs = []
        h = hidden
        for t in range(x.shape[0]):
            h = self.cell(x[t], h * keep[t])
            outputs.append(h)
        return self.norm(torch.stack(outputs)), h


class _Body(nn.Module):
    """``MLPBase`` plus an optional ``RecurrentLayer``: the shared trunk of actors and critics."""

    def __init__(self, in_dim: int, hidden_sizes: Sequence[int], activation: str, feature_norm: bool, recurrent: bool):
        super().__init__()
        self.in_dim = in_dim
        self.base = MLPBase(in_dim, hidden_sizes, activation, feature_norm)
        self.rnn = RecurrentLayer(self.base.out_dim) if recurrent else None
        self.out_dim = self.base.out_dim

    @property
    def hidden_size(self) -> int:
        """``H`` of the GRU, 0 for a feed-forward body."""
        return 0 if self.rnn is None else self.rnn.hidden_size

    def trunk(
        self, x: torch.Tensor, hidden: torch.Tensor | None, episode_starts: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        features = self.base(x)
        if self.rnn is None:
            return features, None
        if hidden is None or episode_starts is None:
            raise ValueError("a recurrent network needs the hidden state and episode_starts")
        return self.rnn(features, hidden, episode_starts)


class Actor(_Body):
    """One agent's policy: trunk plus a Gaussian (continuous) or masked categorical (discrete) head.

    Args:
        obs_dim: The agent's true observation size.
        hidden_sizes / activation / feature_norm: See :class:`MLPBase`.
        recurrent: Add a GRU layer.
        act_dim: Continuous action dimensions (``n_actions`` must be 0).
        n_actions: Number of discrete actions (0 for continuous).
        gain: Orthogonal gain of the output layer (HARL: 0.01).
        std_x_coef / std_y_coef: Gaussian std parameterisation (see :class:`~trmarl.common.distributions.DiagGaussianHead`).
    """

    def __init__(
        self,
        obs_dim: int,
        hidden_sizes: Sequence[int],
        *,
        act_dim: int = 0,
        n_actions: int = 0,
        activation: str = "relu",
        feature_norm: bool = True,
        recurrent: bool = False,
        gain: float = 0.01,
        std_x_coef: float = 1.0,
        std_y_coef: float = 0.5,
    ) -> None:
        super().__init__(obs_dim, hidden_sizes, activation, feature_norm, recurrent)
        self.head: nn.Module
        if n_actions > 0:
            self.head = CategoricalHead(self.out_dim, n_actions, gain)
        elif act_dim > 0:
            self.head = DiagGaussianHead(self.out_dim, act_dim, gain, std_x_coef, std_y_coef)
        else:
            raise ValueError("an actor needs act_dim > 0 (continuous) or n_actions > 0 (discrete)")

    def forward(
        self,
        obs: torch.Tensor,
        hidden: torch.Tensor | None = None,
        episode_starts: torch.Tensor | None = None,
        action_mask: torch.Tensor | None = None,
    ) -> tuple[Distribution, torch.Tensor | None]:
        """Action distribution for ``obs`` (``(..., obs_dim)``; recurrent: ``(L, B, obs_dim)``).

        Returns:
            The distribution over ``(..., A)`` and the hidden state after the sequence (None when feed-forward).
        """
        features, hidden_out = self.trunk(obs, hidden, episode_starts)
        return self.head(features, action_mask), hidden_out


class Critic(_Body):
    """A state-value network ``V`` (normalised output when a ValueNorm is used).

    Args:
        in_dim: Input size (the global state for a centralised critic, an observation for IPPO).
        hidden_sizes / activation / feature_norm / recurrent: See :class:`Actor`.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_sizes: Sequence[int],
        *,
        activation: str = "relu",
        feature_norm: bool = True,
        recurrent: bool = False,
    ) -> None:
        super().__init__(in_dim, hidden_sizes, activation, feature_norm, recurrent)
        self.v_out = nn.Linear(self.out_dim, 1)
        nn.init.orthogonal_(self.v_out.weight, gain=1.0)
        nn.init.zeros_(self.v_out.bias)

    def forward(
        self, x: torch.Tensor, hidden: torch.Tensor | None = None, episode_starts: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(..., in_dim)`` -> values ``(...)`` and the hidden state after the sequence (None when feed-forward)."""
        features, hidden_out = self.trunk(x, hidden, episode_starts)
        return self.v_out(features).squeeze(-1), hidden_out


class StackedActors:
    """A read-only snapshot of ``N`` same-shaped feed-forward actors, evaluated for all agents in one pass per layer.

    Rollouts act for every agent at once with ``torch.baddbmm`` over stacked weights instead of calling each actor in
    turn (half the inference time for two HalfCheetah agents). The snapshot copies the weights: take a new one whenever
    the actors change.

    Args:
        actors: Feed-forward actors with identical architectures (same input size, widths, head).

    Raises:
        ValueError: Recurrent actors or differing architectures.
    """

    def __init__(self, actors: Sequence[Actor]) -> None:
        shapes = {tuple((k, tuple(v.shape)) for k, v in a.state_dict().items()) for a in actors}
        if len(shapes) != 1 or any(a.rnn is not None for a in actors):
            raise ValueError("StackedActors needs feed-forward actors with identical architectures")

        def stack(tensors: list[torch.Tensor]) -> torch.Tensor:  # N tensors (...) -> (N, 1, ...)
            return torch.stack([t.detach() for t in tensors]).unsqueeze(1).clone()

        def head_linear(actor: Actor) -> nn.Linear:
            head = actor.head
            return head.mean if isinstance(head, DiagGaussianHead) else cast(CategoricalHead, head).linear

        first = actors[0]
        self.feature_norm: tuple[torch.Tensor, torch.Tensor, float] | None = None
        norms = [a.base.feature_norm for a in actors if isinstance(a.base.feature_norm, nn.LayerNorm)]
        if norms:
            self.feature_norm = (stack([n.weight for n in norms]), stack([n.bias for n in norms]), norms[0].eps)
        self.activation = first.base.layers[1]
        linears = [[m for m in a.base.layers if isinstance(m, nn.Linear)] for a in actors]
        layer_norms = [[m for m in a.base.layers if isinstance(m, nn.LayerNorm)] for a in actors]
        self.layers: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]] = []
        for j, ln in enumerate(layer_norms[0]):
            weight = stack([lin[j].weight.t() for lin in linears]).squeeze(1)  # (N, in, out)
            bias = stack([lin[j].bias for lin in linears])  # (N, 1, out)
            gamma = stack([lns[j].weight for lns in layer_norms])
            beta = stack([lns[j].bias for lns in layer_norms])
            self.layers.append((weight, bias, gamma, beta, ln.eps))
        outs = [head_linear(a) for a in actors]
        self.head_weight = stack([o.weight.t() for o in outs]).squeeze(1)  # (N, F, A)
        self.head_bias = stack([o.bias for o in outs])  # (N, 1, A)
        stds = [a.head.std() for a in actors if isinstance(a.head, DiagGaussianHead)]
        self.std = stack(stds) if stds else None  # (N, 1, A)

    def __call__(self, obs: torch.Tensor, action_mask: torch.Tensor | None = None) -> Distribution:
        """``(N, B, obs_dim)`` observations (and ``(N, B, A)`` masks) -> a distribution over ``(N, B, ...)`` actions."""
        x = obs
        if self.feature_norm is not None:
            gamma0, beta0, eps0 = self.feature_norm
            x = torch.addcmul(beta0, F.layer_norm(x, x.shape[-1:], eps=eps0), gamma0)
        for weight, bias, gamma, beta, eps in self.layers:
            x = self.activation(torch.baddbmm(bias, x, weight))
            x = torch.addcmul(beta, F.layer_norm(x, x.shape[-1:], eps=eps), gamma)
        out = torch.baddbmm(self.head_bias, x, self.head_weight)
        if self.std is not None:
            return DiagGaussian(out, self.std)
        return MaskedCategorical(out, action_mask)
