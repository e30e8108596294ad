"""The networks in these tests are tiny: one torch thread is faster than several fighting over two cores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.torch_threads import torch_threads


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    with torch_threads(1):
        yield
