"""Fixtures for the agent tests: tiny configs so the whole suite stays within a few minutes on two cores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.torch_threads import torch_threads

#: Small networks and rollouts shared by the end-to-end tests.
TINY: dict[str, Any] = {"n_steps": 16, "hidden_sizes": (16, 16), "critic_epochs": 2}
TINY_PPO: dict[str, Any] = {**TINY, "n_epochs": 2}


@pytest.fixture(autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    with torch_threads():
        yield


def mamujoco_factory(max_episode_steps: int = 1000) -> Any:
    """A MaMuJoCo HalfCheetah-2x3 factory with a short time limit (so tiny runs see truncations)."""
    import trmarl

    def factory() -> Any:
        return trmarl.make("MaMuJoCo-HalfCheetah-2x3", max_episode_steps=max_episode_steps)

    return factory
