"""The critic update in a worker thread (beside the actors, or beside the next rollout) gives exactly the numbers of
HARL's actors-then-critic order."""

from __future__ import annotations

import pytest
import torch

from trmarl import HAPPO, HATRPO, MAPPO

from .conftest import TINY, TINY_PPO
from .coop_envs import ReachEnv


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize(("algo", "extra"), [(HAPPO, TINY_PPO), (HATRPO, TINY), (MAPPO, TINY_PPO)])
def test_concurrent_critic_equals_sequential(algo, extra, n_threads):
    params = []
    for concurrent in (True, False):
        model = algo(
            ReachEnv,
            seed=5,
            n_envs=2,
            verbose=0,
            n_threads=n_threads,
            concurrent_critic=concurrent,
            critic_n_minibatches=2,
            **extra,
        )
        model.learn(3 * 2 * extra["n_steps"])
        params.append(model.get_parameters())
    for name in params[0]:
        for key, value in params[0][name].items():
            # bit for bit with one thread; with two, the critic runs beside the rollout on one thread while the
            # sequential update uses two, which changes float rounding only
            tol = 0.0 if n_threads == 1 else 1e-5
            torch.testing.assert_close(value, params[1][name][key], rtol=tol, atol=tol, msg=f"{name}.{key}")


def test_critic_thread_error_reaches_the_caller(monkeypatch):
    model = HAPPO(ReachEnv, seed=0, n_envs=2, verbose=0, **TINY_PPO)

    def broken(rng=None, data=None):
        raise RuntimeError("critic exploded")

    monkeypatch.setattr(model, "train_critic", broken)
    with pytest.raises(RuntimeError, match="critic exploded"):
        model.learn(2 * TINY_PPO["n_steps"])


def test_with_several_threads_the_critic_update_runs_beside_the_next_rollout():
    from stable_baselines3.common.callbacks import BaseCallback

    seen = []

    class Probe(BaseCallback):
        def _on_rollout_start(self) -> None:
            seen.append(self.model._pending_critic is not None)

        def _on_step(self) -> bool:
            return True

    model = HAPPO(ReachEnv, seed=0, n_envs=2, verbose=0, n_threads=2, **TINY_PPO)
    model.learn(3 * 2 * TINY_PPO["n_steps"], callback=Probe())
    assert seen == [False, True, True]  # iterations 2 and 3 start with the previous critic update in flight
    assert model._pending_critic is None and model._critic_job is None  # learn() finished the last one
    assert "train/value_loss" in model.logger.name_to_value
    single = HAPPO(ReachEnv, seed=0, n_envs=2, verbose=0, n_threads=1, **TINY_PPO)
    seen.clear()
    single.learn(2 * 2 * TINY_PPO["n_steps"], callback=Probe())
    assert seen == [False, False]  # one thread: the critic ran beside the actors and was joined in train()
