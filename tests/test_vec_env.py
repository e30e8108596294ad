"""The multi-agent vec env contract: shapes, autoreset, termination vs truncation, backends, errors."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import trmarl
from trmarl.envs.vec_env import SubprocMultiAgentVecEnv, SyncMultiAgentVecEnv, make_vec_env

from .dummy_envs import CounterEnv


def _run(vec, steps: int, discrete: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    vo, _ = vec.reset(seed=seed)
    out.append(vo)
    for _ in range(steps):
        if discrete:
            legal = vo.action_mask
            acts = np.array(
                [[rng.choice(np.flatnonzero(legal[e, n])) for n in range(vec.n_agents)] for e in range(vec.num_envs)]
            )
        else:
            acts = rng.uniform(-1, 1, (vec.num_envs, vec.n_agents, vec.act_dim)).astype(np.float32)
        step = vec.step(acts)
        out.append(step)
        vo = step.obs
    return out


def test_shapes_and_padding_continuous():
    vec = make_vec_env(CounterEnv, n_envs=3, seed=1)
    assert isinstance(vec, SyncMultiAgentVecEnv)
    assert vec.n_agents == 2 and vec.obs_dim == 3 and list(vec.obs_dims) == [3, 2] and vec.state_dim == 4
    assert not vec.discrete and vec.act_dim == 2 and list(vec.act_dims) == [2, 1]
    vo, _infos = vec.reset()
    assert vo.obs.shape == (3, 2, 3) and vo.obs.dtype == np.float32
    assert vo.state.shape == (3, 4) and vo.action_mask is None and vo.active.all()
    assert np.all(vo.obs[:, 1, 2] == 0.0), "agent b's obs is zero-padded to the widest agent"
    step = vec.step(np.zeros((3, 2, 2), np.float32))
    assert step.reward.shape == (3,) and step.terminated.dtype == bool and len(step.infos) == 3
    vec.close()


def test_discrete_masks_from_dict_observations():
    vec = make_vec_env(functools.partial(CounterEnv, discrete=True), n_envs=2, seed=0)
    vo, _ = vec.reset()
    assert vec.discrete and vec.n_actions == 4
    assert vo.action_mask.shape == (2, 2, 4) and vo.action_mask.dtype == bool
    assert not vo.action_mask[..., 3].any(), "the env masks action 3 at even steps"
    step = vec.step(np.ones((2, 2), dtype=np.int64))
    assert step.obs.action_mask[..., 3].all()
    vec.close()


def test_seeds_same_and_different():
    a = make_vec_env(CounterEnv, n_envs=2, seed=5).reset()[0]
    b = make_vec_env(CounterEnv, n_envs=2, seed=5).reset()[0]
    c = make_vec_env(CounterEnv, n_envs=2, seed=6).reset()[0]
    np.testing.assert_array_equal(a.obs, b.obs)
    assert not np.array_equal(a.obs, c.obs)
    assert a.obs[0, 0, 0] != a.obs[1, 0, 0], "env i is seeded with seed + i"


def test_autoreset_truncation_and_final_obs():
    vec = make_vec_env(functools.partial(CounterEnv, max_steps=3), n_envs=1, seed=0)
    vec.reset()
    zero = np.zeros((1, 2, 2), np.float32)
    for _t in range(1, 4):
        step = vec.step(zero)
    assert step.truncated[0] and not step.terminated[0]
    info = step.infos[0]
    assert info["episode"] == {"r": 0.0, "l": 3, "t": info["episode"]["t"], "win": False}
    assert info["final_state"][0] == 3.0 and info["final_obs"][0, 1] == 3.0
    assert step.obs.state[0, 0] == 0.0, "the returned arrays already hold the next episode's first observation"
    step = vec.step(zero)
    assert not step.truncated[0] and "episode" not in step.infos[0]


def test_termination_is_not_truncation():
    vec = make_vec_env(functools.partial(CounterEnv, max_steps=50), n_envs=2, seed=0)
    vec.reset()
    step = vec.step(np.full((2, 2, 2), 1.0, np.float32))  # sum = 3 > 2 -> terminated
    assert step.terminated.all() and not step.truncated.any()
    assert step.infos[0]["episode"]["win"] is True
    np.testing.assert_allclose(step.reward, 3.0)


@pytest.mark.parametrize("discrete", [False, True])
def test_sync_and_subprocess_identical(discrete):
    fn = functools.partial(CounterEnv, max_steps=4, discrete=discrete)
    sync = make_vec_env(fn, n_envs=3, seed=11, backend="sync")
    sub = make_vec_env(fn, n_envs=3, seed=11, backend="subprocess", n_workers=2)
    assert isinstance(sub, SubprocMultiAgentVecEnv)
    try:
        ra, rb = _run(sync, 12, discrete), _run(sub, 12, discrete)
        for x, y in zip(ra[1:], rb[1:]):
            for fx, fy in zip(x.obs, y.obs):
                if fx is not None:
                    np.testing.assert_array_equal(fx, fy)
            np.testing.assert_array_equal(x.reward, y.reward)
            np.testing.assert_array_equal(x.terminated, y.terminated)
            np.testing.assert_array_equal(x.truncated, y.truncated)
            for ix, iy in zip(x.infos, y.infos):
                assert ix.keys() == iy.keys()
                if "final_obs" in ix:
                    np.testing.assert_array_equal(ix["final_obs"], iy["final_obs"])
        assert sub.get_attr("max_steps") == [4, 4, 4]
        assert sub.env_method("render", indices=[2]) == [None]
    finally:
        sync.close()
        sub.close()
    assert all(not p.is_alive() for p in sub.processes), "workers exit on close"


def test_subprocess_worker_exception_is_reported():
    vec = make_vec_env(functools.partial(CounterEnv, crash_at=2), n_envs=2, backend="subprocess", n_workers=2)
    vec.reset(seed=0)
    vec.step(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(RuntimeError, match=r"worker 0 .*raised during step:(.|\n)*boom: simulated env failure"):
        vec.step(np.zeros((2, 2, 2), np.float32))
    assert all(not p.is_alive() for p in vec.processes)


def test_subprocess_worker_death_does_not_hang():
    vec = make_vec_env(functools.partial(CounterEnv, crash_at=1, hard_crash=True), n_envs=2, backend="subprocess")
    vec.reset(seed=0)
    with pytest.raises(RuntimeError, match=r"worker \d .*died during step with exit code 3"):
        vec.step(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(RuntimeError, match="closed"):
        vec.step(np.zeros((2, 2, 2), np.float32))


def test_bad_actions_raise_clear_errors():
    vec = make_vec_env(CounterEnv, n_envs=2)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(n_envs, n_agents, act_dim\) = \(2, 2, 2\)"):
        vec.step(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="floats"):
        vec.step(np.zeros((2, 2, 2), np.int64))
    with pytest.raises(ValueError, match="NaN"):
        vec.step(np.full((2, 2, 2), np.nan, np.float32))
    dvec = make_vec_env(functools.partial(CounterEnv, discrete=True), n_envs=2)
    dvec.reset(seed=0)
    with pytest.raises(ValueError, match=r"action 4 of agent 'a' in env 0 is out of range \[0, 3\]"):
        dvec.step(np.array([[4, 0], [0, 0]]))
    with pytest.raises(ValueError, match="integers"):
        dvec.step(np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="n_envs"):
        make_vec_env(CounterEnv, n_envs=0)
    with pytest.raises(ValueError, match="backend"):
        make_vec_env(CounterEnv, backend="ray")
    with pytest.raises(KeyError, match="Did you mean"):
        make_vec_env("MaMuJoCo-HalfCheeta-2x3")
    with pytest.raises(ValueError, match="native"):
        make_vec_env(CounterEnv, backend="native")


def test_registered_id_with_kwargs_roundtrip():
    trmarl.register("TestCounter-v0", "tests.dummy_envs:CounterEnv", {"max_steps": 2}, override=True)
    vec = make_vec_env("TestCounter-v0", n_envs=2, seed=0, env_kwargs={"max_steps": 5})
    assert vec.env_id == "TestCounter-v0" and vec.env_kwargs == {"max_steps": 5}
    assert vec.get_attr("max_steps") == [5, 5]
    assert "TestCounter-v0" in repr(vec)


@pytest.mark.parametrize(("env_id", "obs_mode"), [("MaMuJoCo-HalfCheetah-2x3", "local"), ("MaMuJoCo-Hopper-3x1", "global")])
def test_array_protocol_equals_dict_path(env_id, obs_mode):
    """MaMuJoCo's step_arrays/reset_arrays fast path gives the same arrays and infos as the PettingZoo dict path."""
    from trmarl.envs.mamujoco import MaMuJoCoEnv

    class DictOnly(MaMuJoCoEnv):
        supports_array_api = False  # type: ignore[assignment]

    kwargs = {**trmarl.envs.spec(env_id).kwargs, "obs_mode": obs_mode, "max_episode_steps": 30}
    fast = make_vec_env(lambda: MaMuJoCoEnv(**kwargs), n_envs=2, seed=3)
    slow = make_vec_env(lambda: DictOnly(**kwargs), n_envs=2, seed=3)
    assert fast._slice.array_api and not slow._slice.array_api
    rng = np.random.default_rng(0)
    a, _ = fast.reset()
    b, _ = slow.reset()
    np.testing.assert_array_equal(a.obs, b.obs)
    ends = 0
    for _ in range(70):
        acts = rng.uniform(-2, 2, (2, fast.n_agents, fast.act_dim)).astype(np.float32)
        x, y = fast.step(acts), slow.step(acts)
        np.testing.assert_array_equal(x.obs.obs, y.obs.obs)
        np.testing.assert_array_equal(x.obs.state, y.obs.state)
        np.testing.assert_array_equal(x.reward, y.reward)
        np.testing.assert_array_equal(x.terminated, y.terminated)
        np.testing.assert_array_equal(x.truncated, y.truncated)
        for ix, iy in zip(x.infos, y.infos):
            if "final_obs" in ix:
                ends += 1
                np.testing.assert_array_equal(ix["final_obs"], iy["final_obs"])
                assert ix["episode"]["r"] == iy["episode"]["r"] and ix["episode"]["l"] == iy["episode"]["l"]
    assert ends >= 2
