"""Torch's intra-op thread count, set for a test and put back afterwards (shared by the folders' conftests)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run the block with ``n`` torch threads (None: leave the count alone) and restore the count on exit.

    The test networks are tiny: one thread is faster than several fighting over two cores, and a test that changes the
    count (the CLI and the agents' ``torch_threads`` option do) must not leak it into the next test.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
