"""The critic update in a worker thread gives exactly the numbers of HARL's actors-then-critic order."""

from __future__ import annotations

import pytest
import torch

from trmarl import HAPPO, HATRPO, MAPPO

from .conftest import TINY, TINY_PPO
from .coop_envs import ReachEnv


@pytest.mark.parametrize(("algo", "extra"), [(HAPPO, TINY_PPO), (HATRPO, TINY), (MAPPO, TINY_PPO)])
def test_concurrent_critic_equals_sequential(algo, extra):
    params = []
    for concurrent in (True, False):
        model = algo(ReachEnv, seed=5, n_envs=2, verbose=0, concurrent_critic=concurrent, critic_n_minibatches=2, **extra)
        model.learn(3 * 2 * extra["n_steps"])
        params.append(model.get_parameters())
    for name in params[0]:
        for key, value in params[0][name].items():
            torch.testing.assert_close(value, params[1][name][key], rtol=0, atol=0, msg=f"{name}.{key}")


def test_critic_thread_error_reaches_the_caller(monkeypatch):
    model = HAPPO(ReachEnv, seed=0, n_envs=2, verbose=0, **TINY_PPO)

    def broken(rng=None):
        raise RuntimeError("critic exploded")

    monkeypatch.setattr(model, "train_critic", broken)
    with pytest.raises(RuntimeError, match="critic exploded"):
        model.learn(2 * TINY_PPO["n_steps"])
