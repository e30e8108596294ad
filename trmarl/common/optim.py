"""Optimizers for the many-small-updates learners (QMIX and family on single steps, MADDPG).

An off-policy learner that takes a gradient step per env step spends a large share of each step inside
``optimizer.step()`` when the networks are small: torch's multi-tensor ("foreach") Adam still launches about ten
kernels over the parameter list, its single-tensor Adam a Python loop per parameter. The fused Adam kernel does the whole
update in one call: for QMIX's ~20 small parameter tensors a step took 0.11 ms against foreach's 0.77 ms on the
project's 2-core CPU VM (measured in isolation; a whole step-learner update got 5-12% faster, docs/benchmarks.md). Its
results equal the foreach ones up to float rounding.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["make_adam"]


def make_adam(params: Iterable[torch.nn.Parameter], lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam with torch's fused kernel where the parameters' device and dtype support it, else the foreach one.

    Args:
        params: The parameters to optimize.
        lr: Learning rate.
        eps: Adam's ``eps``.

    Returns:
        The optimizer; ``param_groups[0]["fused"]`` tells which implementation it got.
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except RuntimeError:  # a device or dtype without the fused kernel
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)
