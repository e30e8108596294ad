"""End-to-end and behavioural tests of HAPPO, HATRPO, MAPPO and IPPO."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import trmarl.agents.happo as happo_module
from trmarl import HAPPO, HATRPO, IPPO, MAPPO
from trmarl.common.evaluation import evaluate_policy

from .conftest import TINY, TINY_PPO, mamujoco_factory
from .coop_envs import CoordinationEnv, ReachEnv

ALGOS: list[tuple[type, dict[str, Any]]] = [(HAPPO, TINY_PPO), (HATRPO, TINY), (MAPPO, TINY_PPO), (IPPO, TINY_PPO)]


def _params(model: Any) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.actors.parameters()]


@pytest.mark.parametrize(("algo", "kwargs"), ALGOS, ids=lambda x: getattr(x, "__name__", ""))
def test_trains_on_halfcheetah(algo: type, kwargs: dict[str, Any]) -> None:
    model = algo(mamujoco_factory(max_episode_steps=24), n_envs=2, seed=0, verbose=0, **kwargs)
    before = _params(model)
    model.learn(100)
    assert model.num_timesteps == 4 * 2 * 16  # whole iterations: 128 >= 100
    assert len(model.ep_info_buffer) > 0  # the 24-step limit truncated episodes
    assert any(not torch.equal(a, b) for a, b in zip(before, _params(model)))
    obs = model.env.reset()[0].obs
    actions, state = model.predict(obs, deterministic=True)
    assert actions.shape == (2, 2, 3) and state is None
    assert np.all(np.abs(actions) <= 1.0)


@pytest.mark.parametrize(("algo", "kwargs"), ALGOS, ids=lambda x: getattr(x, "__name__", ""))
def test_trains_on_discrete_masked_env(algo: type, kwargs: dict[str, Any]) -> None:
    model = algo(CoordinationEnv, n_envs=3, seed=0, verbose=0, **kwargs)
    model.learn(96)  # CoordinationEnv raises on a masked action, so this also checks the masks
    assert "win" in model.ep_info_buffer[0]
    acts, _ = model.predict({"agent_0": {"observation": np.eye(3)[1], "action_mask": [1, 1, 1, 0]}})
    assert set(acts) == {"agent_0"} and acts["agent_0"] in (0, 1, 2)


@pytest.mark.parametrize(("algo", "kwargs"), ALGOS, ids=lambda x: getattr(x, "__name__", ""))
def test_trains_on_the_qtran_matrix_game(algo: type, kwargs: dict[str, Any]) -> None:
    model = algo("MatrixGame-QTRAN", n_envs=2, seed=0, verbose=0, **kwargs)
    model.learn(32)
    assert model.env_id == "MatrixGame-QTRAN" and model.num_timesteps == 32 and model.spaces.discrete
    assert len(model.ep_info_buffer) == 32  # one-step episodes


@pytest.mark.parametrize("algo", [HAPPO, MAPPO])
def test_recurrent_policies_train(algo: type) -> None:
    model = algo(CoordinationEnv, n_envs=2, seed=0, verbose=0, recurrent=True, data_chunk_length=4, **TINY_PPO)
    model.learn(64)
    obs = model.env.reset()[0]
    actions, state = model.predict(obs.obs, action_mask=obs.action_mask, episode_start=np.ones(2, bool))
    assert actions.shape == (2, 2) and state is not None and state.shape == (2, 2, 16)
    actions2, _ = model.predict(obs.obs, state=state, action_mask=obs.action_mask)
    assert actions2.shape == (2, 2)


def test_ippo_has_one_value_column_per_agent_and_mappo_shares_the_actor() -> None:
    ippo = IPPO(ReachEnv, n_envs=2, seed=0, verbose=0, share_param=False, **TINY_PPO)
    assert ippo.buffer.values.shape[-1] == 2 and len(ippo.critics) == 2 and len(ippo.actors) == 2
    assert ippo.critics[0].in_dim == 2  # own observation, not the state
    mappo = MAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO)
    assert len(mappo.actors) == 1 and mappo.critics[0].in_dim == 3
    with pytest.raises(ValueError, match="share_param"):
        MAPPO(mamujoco_heterogeneous_factory(), n_envs=1, verbose=0, **TINY_PPO)


def mamujoco_heterogeneous_factory() -> Any:
    """Hopper 3x1 has observation sizes 8, 9, 8: parameter sharing is impossible."""
    import trmarl

    return lambda: trmarl.make("MaMuJoCo-Hopper-3x1")


def test_happo_factor_is_the_product_of_the_updated_agents_ratios(monkeypatch: pytest.MonkeyPatch) -> None:
    model = HAPPO(lambda: ReachEnv(n_agents=3), n_envs=2, seed=1, verbose=0, **TINY_PPO)
    model.learn(32)  # one iteration to leave the initial state
    calls: list[dict[str, Any]] = []
    original = model.ppo_update

    def spy(agent_ids: list[int], advantages: torch.Tensor, factor: torch.Tensor, *args: Any) -> dict[str, float]:
        (i,) = agent_ids
        before = model.rollout_log_probs([i])[..., 0].clone()
        out = original(agent_ids, advantages, factor, *args)
        calls.append(
            {"agent": i, "factor": factor[..., 0].clone(), "before": before, "after": model.rollout_log_probs([i])[..., 0]}
        )
        return out

    monkeypatch.setattr(model, "ppo_update", spy)
    model.learn(32, reset_num_timesteps=False)
    assert sorted(c["agent"] for c in calls) == [0, 1, 2]
    expected = torch.ones_like(calls[0]["factor"])
    for call in calls:
        assert torch.allclose(call["factor"], expected, rtol=1e-5, atol=1e-6)
        expected = expected * torch.exp(call["after"] - call["before"])  # never clipped
    assert not torch.allclose(expected, torch.ones_like(expected))  # the agents really moved


def test_happo_agent_order_is_a_fresh_permutation(monkeypatch: pytest.MonkeyPatch) -> None:
    model = HAPPO(lambda: ReachEnv(n_agents=3), n_envs=1, seed=0, verbose=0, **{**TINY_PPO, "critic_epochs": 1})
    orders: list[list[int]] = []
    current: list[int] = []
    original = model.ppo_update

    def spy(agent_ids: list[int], *args: Any) -> dict[str, float]:
        current.append(agent_ids[0])
        if len(current) == 3:
            orders.append(list(current))
            current.clear()
        return original(agent_ids, *args)

    monkeypatch.setattr(model, "ppo_update", spy)
    model.learn(16 * 8)
    assert all(sorted(o) == [0, 1, 2] for o in orders) and len({tuple(o) for o in orders}) > 1
    fixed = HAPPO(lambda: ReachEnv(n_agents=3), n_envs=1, seed=0, verbose=0, fixed_order=True, **TINY_PPO)
    seen: list[int] = []
    orig_fixed = fixed.ppo_update
    monkeypatch.setattr(fixed, "ppo_update", lambda ids, *a: (seen.append(ids[0]), orig_fixed(ids, *a))[1])
    fixed.learn(32)
    assert seen == [0, 1, 2, 0, 1, 2]


def test_hatrpo_accepted_steps_respect_the_kl_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    model = HATRPO(ReachEnv, n_envs=4, seed=0, verbose=0, kl_threshold=0.005, **TINY)
    results: list[tuple[dict[str, float], float]] = []
    original = model.trust_region_step

    def spy(actor_index: int, batch: Any) -> dict[str, float]:
        with torch.no_grad():
            _, _, old = model.evaluate_actions(actor_index, batch)
            old = old.detach()
        stats = original(actor_index, batch)
        with torch.no_grad():
            _, _, new = model.evaluate_actions(actor_index, batch)
            from trmarl.common.distributions import kl_divergence

            results.append((stats, float(kl_divergence(old, new).mean())))
        return stats

    monkeypatch.setattr(model, "trust_region_step", spy)
    model.learn(64 * 4)
    assert results and any(s["accepted"] for s, _ in results)
    for stats, kl in results:
        if stats["accepted"]:
            assert 0.0 < kl < 0.005 and kl == pytest.approx(stats["kl"], rel=1e-6)
        else:
            assert kl == 0.0  # a rejected step restores the old parameters exactly


def test_hatrpo_restores_parameters_when_no_step_is_accepted() -> None:
    model = HATRPO(ReachEnv, n_envs=2, seed=0, verbose=0, accept_ratio=1e9, **TINY)  # nothing can be accepted
    before = _params(model)
    model.learn(32)
    assert all(torch.equal(a, b) for a, b in zip(before, _params(model)))


LEARN_KW: dict[str, Any] = {
    "n_envs": 8,
    "seed": 3,
    "verbose": 0,
    "n_steps": 20,
    "hidden_sizes": (32, 32),
    "n_epochs": 5,
    "critic_epochs": 5,
    "clip_range": 0.2,
    "learning_rate": 3e-3,
    "critic_learning_rate": 3e-3,
    "ent_coef": 0.0,
}


def _improvement() -> tuple[float, float]:
    model = HAPPO(ReachEnv, **LEARN_KW)
    before, _ = evaluate_policy(model, ReachEnv(), n_eval_episodes=20, seed=100)
    model.learn(6000)
    after, _ = evaluate_policy(model, ReachEnv(), n_eval_episodes=20, seed=100)
    return before, after


def test_happo_learns_the_cooperative_reach_task() -> None:
    before, after = _improvement()
    assert after > before + 15.0, (before, after)  # about -40 -> -13; moving straight to the target gives about -10


@pytest.mark.parametrize(
    ("algo", "kwargs"),
    [
        (HATRPO, {"kl_threshold": 0.02}),
        (MAPPO, {"n_epochs": 5, "learning_rate": 3e-3, "ent_coef": 0.0}),
        (IPPO, {"n_epochs": 5, "learning_rate": 3e-3, "ent_coef": 0.0}),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_the_other_algorithms_learn_the_reach_task(algo: type, kwargs: dict[str, Any]) -> None:
    common = {k: LEARN_KW[k] for k in ("n_envs", "seed", "verbose", "n_steps", "hidden_sizes", "critic_epochs", "clip_range")}
    model = algo(ReachEnv, **common, critic_learning_rate=3e-3, **kwargs)
    before, _ = evaluate_policy(model, ReachEnv(), n_eval_episodes=20, seed=100)
    model.learn(6000)
    after, _ = evaluate_policy(model, ReachEnv(), n_eval_episodes=20, seed=100)
    assert after > before + 10.0, (before, after)  # measured: HATRPO -40 -> -24, MAPPO -41 -> -11, IPPO -41 -> -12


def test_the_learning_check_fails_when_the_factor_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    original = happo_module.happo_surrogate
    monkeypatch.setattr(
        happo_module,
        "happo_surrogate",
        lambda lp, old, adv, factor, active, clip: original(lp, old, adv, -factor, active, clip),
    )
    before, after = _improvement()
    assert not after > before + 15.0, (before, after)  # the same check as above would fail


@pytest.mark.parametrize("harl_exact", [False, True])
def test_truncation_bootstrap_modes(harl_exact: bool) -> None:
    model = HAPPO(lambda: ReachEnv(max_steps=8), n_envs=2, seed=0, verbose=0, harl_exact=harl_exact, **TINY_PPO)
    model.learn(32)
    buf = model.buffer
    assert buf.truncated.sum() == 4  # two 8-step episodes per env in 16 steps
    truncated = buf.truncated.bool()
    if harl_exact:  # HARL: no bootstrap; the truncated step's advantage is zero
        assert torch.all(buf.final_values == 0) and torch.all(buf.advantages[truncated] == 0)
    else:  # V(final_state) is computed for exactly the truncated steps
        assert torch.all(buf.final_values[truncated] != 0) and torch.all(buf.final_values[~truncated] == 0)


def test_batched_rollout_values_equal_per_step_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The feed-forward critic values the rollout in one pass after it: the same numbers as one call per step."""
    model = HAPPO(lambda: ReachEnv(max_steps=8), n_envs=2, seed=0, verbose=0, **TINY_PPO)
    monkeypatch.setattr(model, "train", lambda: None)  # keep the critic that valued the rollout
    model.learn(32)
    buf, critic = model.buffer, model.critics[0]
    with torch.no_grad():
        for t in range(buf.n_steps):
            expected, _ = critic(buf.states[t])
            torch.testing.assert_close(buf.values[t, :, 0], expected.reshape(-1))
        assert model._last_obs is not None
        last, _ = critic(torch.as_tensor(model._last_obs.state))
        torch.testing.assert_close(buf.values[buf.n_steps, :, 0], last.reshape(-1))
    assert buf.truncated.sum() == 4 and torch.all(buf.final_values[buf.truncated.bool()] != 0)
