"""Tests of ``trmarl.envs.mamujoco``: PettingZoo API, every id, determinism, fast == stock, limits and errors."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test
from pettingzoo.test.state_test import test_parallel_env as parallel_state_test

import trmarl
from trmarl.envs.catalog import MAMUJOCO_CONFIGS
from trmarl.envs.mamujoco import FAST_OBS_CONFIGS, FAST_OBS_OBSK, MaMuJoCoEnv

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WORKING = [(s, c, gr) for s, c, gr in MAMUJOCO_CONFIGS if s != "CoupledHalfCheetah"]


def make(scenario: str, agent_conf: str, **kwargs: Any) -> MaMuJoCoEnv:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MaMuJoCoEnv(scenario, agent_conf, **kwargs)


def random_actions(env: MaMuJoCoEnv, rng: np.random.Generator, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Uniform actions over each agent's Box (times ``scale``), float32."""
    return {
        a: (rng.uniform(-1.0, 1.0, env.action_space(a).shape) * scale * env.action_space(a).high).astype(np.float32)
        for a in env.agents
    }


def rollout(env: MaMuJoCoEnv, seed: int, n_steps: int, scale: float = 1.0) -> list[Any]:
    """Everything the env returns over ``n_steps`` seeded random steps, resetting (seeded) when an episode ends."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out: list[Any] = [({a: o.copy() for a, o in obs.items()}, env.state())]
    for t in range(n_steps):
        obs, rew, term, trunc, info = env.step(random_actions(env, rng, scale))
        out.append(({a: o.copy() for a, o in obs.items()}, rew, term, trunc, info, env.state()))
        if not env.agents:
            obs, _ = env.reset(seed=seed + 1000 + t)
            out.append(({a: o.copy() for a, o in obs.items()}, env.state()))
    return out


def assert_identical(x: Any, y: Any, where: str = "") -> None:
    """Exact equality (dtype and bits for arrays) of nested dicts, tuples and lists."""
    if isinstance(x, dict):
        assert x.keys() == y.keys(), where
        for k in x:
            assert_identical(x[k], y[k], f"{where}/{k}")
    elif isinstance(x, (tuple, list)):
        assert len(x) == len(y), where
        for i, (a, b) in enumerate(zip(x, y)):
            assert_identical(a, b, f"{where}[{i}]")
    elif isinstance(x, np.ndarray):
        assert x.dtype == y.dtype and x.shape == y.shape, where
        assert np.array_equal(x.view(np.uint8), y.view(np.uint8)), f"{where}: max diff {np.max(np.abs(x - y))}"
    else:
        assert type(x) is type(y) and x == y, f"{where}: {x!r} != {y!r}"


# ----------------------------------------------------------------------------------------------------------------
# PettingZoo API
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("MaMuJoCo-HalfCheetah-2x3", {}),
        ("MaMuJoCo-HalfCheetah-2x3", {"obs_mode": "global"}),
        ("MaMuJoCo-HalfCheetah-2x3", {"fast_obs": False}),
        ("MaMuJoCo-Hopper-3x1", {}),
        ("MaMuJoCo-Ant-4x2", {}),
        ("MaMuJoCo-Humanoid-9x8", {"obs_mode": "global"}),
    ],
)
def test_parallel_api(env_id: str, kwargs: dict[str, Any]) -> None:
    env = trmarl.make(env_id, max_episode_steps=25, **kwargs)  # the 40 cycles cross an episode end
    parallel_api_test(env, num_cycles=40)
    parallel_state_test(env)
    parallel_seed_test(lambda: trmarl.make(env_id, max_episode_steps=25, **kwargs), num_cycles=30)
    assert env.render_mode is None
    assert env.metadata["render_fps"] > 0
    for agent in env.possible_agents:
        assert env.observation_space(agent) is env.observation_space(agent)
        assert env.action_space(agent) is env.action_space(agent)


@pytest.mark.parametrize("env_id", trmarl.list_envs("mamujoco"))
def test_every_id(env_id: str) -> None:
    if "CoupledHalfCheetah" in env_id:
        with pytest.raises(NotImplementedError, match=r"MuJoCo >= 3\.6.*IndexError.*#300.*#307"):
            trmarl.make(env_id)
        return
    env = trmarl.make(env_id)
    obs, infos = env.reset(seed=0)
    assert env.agents == env.possible_agents and set(obs) == set(infos) == set(env.agents)
    rng = np.random.default_rng(0)
    for _ in range(3):
        for agent, o in obs.items():
            assert o.dtype == np.float32 and env.observation_space(agent).contains(o), agent
        state = env.state()
        assert state.dtype == np.float32 and state.shape == env.state_space.shape
        obs, rewards, _, truncs, _ = env.step(random_actions(env, rng))
        assert len(set(rewards.values())) == 1 and isinstance(rewards[env.possible_agents[0]], float)
        assert not any(truncs.values())
    env.close()


def test_pettingzoo_make() -> None:
    import pettingzoo

    env = pettingzoo.make("parallel", "MaMuJoCo-HalfCheetah-2x3")
    assert isinstance(env, MaMuJoCoEnv) and env.possible_agents == ["agent_0", "agent_1"]


def test_documented_dims() -> None:
    """The dimensions in shared/specs/trust_region.md section 11 (agent_obsk=1)."""
    env = make("Humanoid", "9x8")  # trmarl's spelling of "9|8" is accepted
    assert env.agent_conf == "9|8"
    assert [env.observation_space(a).shape[0] for a in env.possible_agents] == [242, 170]
    assert [env.action_space(a).shape[0] for a in env.possible_agents] == [9, 8]
    assert env.state_space.shape == (348,)
    assert env.action_space("agent_0").high[0] == np.float32(0.4)
    hopper = make("Hopper", "3x1")
    assert [hopper.observation_space(a).shape[0] for a in hopper.possible_agents] == [8, 9, 8]
    pusher = make("Pusher", "3p")
    assert [pusher.action_space(a).shape[0] for a in pusher.possible_agents] == [3, 1, 3]
    assert pusher.max_episode_steps == 100 and pusher.action_space("agent_1").low[0] == -2.0
    assert [make("HalfCheetah", "2x3", agent_obsk=k).observation_space("agent_0").shape[0] for k in (0, 1, 2)] == [11, 12, 13]


# ----------------------------------------------------------------------------------------------------------------
# Determinism and the fast path
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scenario", "conf"), [("HalfCheetah", "2x3"), ("Hopper", "3x1")])
def test_determinism(scenario: str, conf: str) -> None:
    first = rollout(make(scenario, conf), seed=3, n_steps=200)
    assert_identical(first, rollout(make(scenario, conf), seed=3, n_steps=200))
    other = rollout(make(scenario, conf), seed=4, n_steps=200)
    assert not np.array_equal(first[0][1], other[0][1])  # another seed, another initial state
    env = make(scenario, conf)
    env.reset(seed=7)
    sampled = [env.action_space(a).sample() for a in env.possible_agents]
    env.reset(seed=7)
    assert_identical(sampled, [env.action_space(a).sample() for a in env.possible_agents])


FAST_CASES = [(s, c, k) for s, c in sorted(FAST_OBS_CONFIGS) for k in sorted(FAST_OBS_OBSK)]


@pytest.mark.parametrize(("scenario", "conf", "obsk"), FAST_CASES)
def test_fast_matches_stock(scenario: str, conf: str, obsk: int) -> None:
    fast = make(scenario, conf, agent_obsk=obsk)
    stock = make(scenario, conf, agent_obsk=obsk, fast_obs=False)
    assert fast.fast_obs and not stock.fast_obs
    n_steps = 150 if obsk == 1 else 40
    # Large actions so that Hopper and Ant fall: episodes end and restart inside the trajectory.
    assert_identical(rollout(fast, seed=11, n_steps=n_steps), rollout(stock, seed=11, n_steps=n_steps))


@pytest.mark.parametrize(("scenario", "conf", "gr_conf"), WORKING, ids=[f"{s}-{c}" for s, c, _ in WORKING])
def test_global_fast_matches_stock(scenario: str, conf: str, gr_conf: str) -> None:
    fast = make(scenario, gr_conf, obs_mode="global")
    stock = make(scenario, gr_conf, obs_mode="global", fast_obs=False)
    assert fast.fast_obs
    assert_identical(rollout(fast, seed=5, n_steps=30), rollout(stock, seed=5, n_steps=30))


def test_fast_path_auto_choice() -> None:
    for scenario, _, gr_conf in WORKING:
        expected = (scenario, gr_conf) in FAST_OBS_CONFIGS
        assert make(scenario, gr_conf).fast_obs == expected, scenario
    assert not make("Walker2d", "2x3").fast_obs
    assert not make("Reacher", "2x1").fast_obs and not make("ManySegmentAnt", "2x3").fast_obs
    assert not make("HalfCheetah", "2x3", agent_obsk=3).fast_obs  # not covered by the tests above
    assert not make("HalfCheetah", "2x3", exclude_current_positions_from_observation=False).fast_obs  # changes obs
    assert make("HalfCheetah", "2x3", ctrl_cost_weight=0.2).fast_obs  # reward-only kwargs keep it
    with pytest.raises(ValueError, match="no index factorization"):
        MaMuJoCoEnv("Reacher", "2x1", fast_obs=True)


def test_walker_fast_obs_differs_from_stock() -> None:
    """Why Walker2d is left out: its task observation clips joint velocities, its local observations do not."""
    with pytest.warns(UserWarning, match="not verified"):
        fast = MaMuJoCoEnv("Walker2d", "2x3", fast_obs=True)
    stock = make("Walker2d", "2x3", fast_obs=False)
    for env in (fast, stock):
        env.reset(seed=0)
        mj: Any = env.single_agent_env.unwrapped
        qvel = np.full(mj.model.nv, 20.0)
        mj.set_state(mj.data.qpos.copy(), qvel)
    zero = {a: np.zeros(3, dtype=np.float32) for a in fast.possible_agents}
    obs_fast, obs_stock = fast.step(zero)[0], stock.step(zero)[0]
    assert not np.array_equal(obs_fast["agent_0"], obs_stock["agent_0"])
    assert np.abs(obs_stock["agent_0"]).max() > 10.0 >= np.abs(obs_fast["agent_0"]).max()


# ----------------------------------------------------------------------------------------------------------------
# Episode ends, observation modes
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fast_obs", [True, False])
def test_truncation_at_max_episode_steps(fast_obs: bool) -> None:
    env = make("HalfCheetah", "2x3", max_episode_steps=5, fast_obs=fast_obs)
    zero = {a: np.zeros(3, dtype=np.float32) for a in env.possible_agents}
    for _ in range(2):
        env.reset(seed=0)
        for t in range(1, 6):
            _, _, terms, truncs, _ = env.step(zero)
            assert not any(terms.values())
            assert all(truncs.values()) == (t == 5) and any(truncs.values()) == (t == 5)
        assert env.agents == []
        with pytest.raises(RuntimeError, match="reset"):
            env.step(zero)
    assert make("Reacher", "2x1").max_episode_steps == 50
    assert make("HalfCheetah", "6x1").max_episode_steps == 1000
    reacher = make("Reacher", "2x1")
    reacher.reset(seed=0)
    n = 0
    while reacher.agents:
        _, _, terms, truncs, _ = reacher.step({a: np.zeros(1) for a in reacher.agents})
        n += 1
    assert n == 50 and all(truncs.values()) and not any(terms.values())


@pytest.mark.parametrize("fast_obs", [True, False])
def test_termination_when_unhealthy(fast_obs: bool) -> None:
    env = make("Hopper", "3x1", fast_obs=fast_obs)
    env.reset(seed=0)
    mj: Any = env.single_agent_env.unwrapped
    qpos = mj.data.qpos.copy()
    qpos[1] = 0.3  # torso height below Hopper's healthy_z_range (0.7, inf)
    mj.set_state(qpos, mj.data.qvel.copy())
    _, _, terms, truncs, _ = env.step({a: np.zeros(1) for a in env.agents})
    assert all(terms.values()) and not any(truncs.values()) and env.agents == []
    # Big random actions make the hopper fall well before the time limit.
    rng = np.random.default_rng(0)
    env.reset(seed=1)
    n = 0
    while env.agents:
        _, _, terms, truncs, _ = env.step(random_actions(env, rng))
        n += 1
    assert n < 1000 and all(terms.values()) and not any(truncs.values())


def test_global_obs() -> None:
    env = make("HalfCheetah", "2x3", obs_mode="global")
    assert env.observation_space("agent_0").shape == (19,) and env.state_space.shape == (17,)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        state = env.state()
        for i, agent in enumerate(env.possible_agents):
            assert obs[agent].dtype == np.float32 and obs[agent].shape == (19,)
            np.testing.assert_array_equal(obs[agent][:17], state)
            np.testing.assert_array_equal(obs[agent][17:], np.eye(2, dtype=np.float32)[i])
        obs = env.step(random_actions(env, rng))[0]
    local = make("HalfCheetah", "2x3")
    local_obs, _ = local.reset(seed=0)
    global_obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(global_obs["agent_0"][:17], local.state())
    assert local_obs["agent_0"].shape == (12,)
    humanoid = make("Humanoid", "9|8", obs_mode="global")
    assert {humanoid.observation_space(a).shape for a in humanoid.possible_agents} == {(350,)}


def test_global_obs_zscore_is_harls() -> None:
    """``obs_zscore``: obs_i = z(concat(s, one_hot(i))), state = z(s), z over the features of one vector (HARL)."""
    plain = make("HalfCheetah", "2x3", obs_mode="global")
    z_fast = make("HalfCheetah", "2x3", obs_mode="global", obs_zscore=True)
    z_stock = make("HalfCheetah", "2x3", obs_mode="global", obs_zscore=True, fast_obs=False)
    assert z_fast.fast_obs and not z_stock.fast_obs
    assert np.isinf(z_fast.observation_space("agent_0").low).all()  # the one-hot features move too
    rng = np.random.default_rng(1)
    obs = [env.reset(seed=3)[0] for env in (plain, z_fast, z_stock)]
    for _ in range(4):
        raw = plain.state().astype(np.float64)
        np.testing.assert_allclose(z_fast.state(), (raw - raw.mean()) / raw.std(), rtol=1e-5, atol=1e-6)
        for i, agent in enumerate(plain.possible_agents):
            x = np.concatenate([raw, np.eye(2)[i]])
            np.testing.assert_allclose(obs[1][agent], (x - x.mean()) / x.std(), rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(obs[1][agent], obs[2][agent])
            assert obs[1][agent].dtype == np.float32
        np.testing.assert_array_equal(z_fast.state(), z_stock.state())
        actions = random_actions(plain, rng)
        obs = [env.step(actions)[0] for env in (plain, z_fast, z_stock)]
    # the vectorized path writes the same arrays
    vec = trmarl.make_vec_env(
        "MaMuJoCo-HalfCheetah-2x3", n_envs=1, seed=3, env_kwargs={"obs_mode": "global", "obs_zscore": True}
    )
    vobs = vec.reset()[0]
    single = make("HalfCheetah", "2x3", obs_mode="global", obs_zscore=True)
    sobs, _ = single.reset(seed=3)
    np.testing.assert_array_equal(vobs.obs[0, 0], sobs["agent_0"])
    np.testing.assert_array_equal(vobs.state[0], single.state())
    vec.close()


# ----------------------------------------------------------------------------------------------------------------
# Errors and rendering
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"obs_mode": "full"}, "obs_mode"),
        ({"obs_zscore": True}, "obs_zscore"),
        ({"obs_mode": "global", "obs_zscore": 1}, "obs_zscore"),
        ({"agent_obsk": -1}, "agent_obsk"),
        ({"agent_obsk": 1.5}, "agent_obsk"),
        ({"max_episode_steps": 0}, "max_episode_steps"),
        ({"max_episode_steps": -3}, "max_episode_steps"),
        ({"max_episode_steps": 2.5}, "max_episode_steps"),
        ({"render_mode": "depth"}, "render_mode"),
        ({"fast_obs": "yes"}, "fast_obs"),
    ],
)
def test_bad_kwargs(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MaMuJoCoEnv("HalfCheetah", "2x3", **kwargs)


def test_bad_scenario_and_conf() -> None:
    with pytest.raises(ValueError, match="scenario"):
        MaMuJoCoEnv("Cheetah", "2x3")
    with pytest.raises(ValueError, match="agent_conf '5x5'"):
        MaMuJoCoEnv("HalfCheetah", "5x5")
    with pytest.raises(NotImplementedError, match="CoupledHalfCheetah"):
        MaMuJoCoEnv("CoupledHalfCheetah", "1p1")


def test_bad_actions() -> None:
    env = make("HalfCheetah", "2x3")
    with pytest.raises(RuntimeError, match="reset"):
        env.step({a: np.zeros(3) for a in env.possible_agents})
    env.reset(seed=0)
    good = {a: np.zeros(3, dtype=np.float32) for a in env.possible_agents}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "agent_1": np.zeros(2)}, r"agent_1.*shape"),
        ({**good, "agent_0": np.array([0.0, np.nan, 0.0])}, "agent_0.*not finite"),
        ({**good, "agent_1": np.array([np.inf, 0.0, 0.0])}, "agent_1.*not finite"),
        ({"agent_0": good["agent_0"]}, "agent_1"),
        ({**good, "agent_7": np.zeros(3)}, "agent_7"),
        ({**good, "agent_0": ["a", "b", "c"]}, "agent_0.*numeric"),
    ]
    for actions, match in cases:
        with pytest.raises(ValueError, match=match):
            env.step(actions)
    env.step(good)  # the env is still usable after rejected actions
    hopper = make("Hopper", "3x1")
    hopper.reset(seed=0)
    hopper.step({a: 0.5 for a in hopper.agents})  # a scalar is fine for a 1-dim action


def test_render_rgb_array() -> None:
    saved = {k: os.environ.get(k) for k in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    try:
        env = make("HalfCheetah", "2x3", render_mode="rgb_array", width=64, height=48)
        assert env.render_mode == "rgb_array"
        env.reset(seed=0)
        try:
            frame = env.render()
        except RuntimeError as exc:  # pragma: no cover - machines without EGL/OSMesa
            assert "MUJOCO_GL" in str(exc)
            pytest.skip(f"no headless OpenGL here: {exc}")
        assert frame is not None and frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and frame.std() > 0
        env.close()
    finally:  # the env may have chosen EGL for this process; leave the environment as it was
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_render_follows_the_robot() -> None:
    """Frames come from the model's tracking camera: a cheetah 50 m down the track is still in the picture."""
    import mujoco

    saved = {k: os.environ.get(k) for k in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    try:
        env = make("HalfCheetah", "2x3", render_mode="rgb_array", width=96, height=96)
        env.reset(seed=0)
        inner = env.unwrapped._mujoco_env  # type: ignore[attr-defined]
        assert inner.mujoco_renderer.camera_id == mujoco.mj_name2id(inner.model, mujoco.mjtObj.mjOBJ_CAMERA, "track")
        inner.data.qpos[0] += 50.0
        mujoco.mj_forward(inner.model, inner.data)
        try:
            frame = env.render()
        except RuntimeError as exc:  # pragma: no cover - machines without EGL/OSMesa
            pytest.skip(f"no headless OpenGL here: {exc}")
        assert frame is not None
        rgb = frame.astype(np.int16)
        body = (rgb[..., 0] > 120) & (rgb[..., 0] - rgb[..., 2] > 50)  # the cheetah's tan/pink capsules
        assert body.mean() > 0.01, "the robot is out of the picture"
        env.close()
        explicit = make("HalfCheetah", "2x3", render_mode="rgb_array", camera_id=-1)
        assert explicit.unwrapped._mujoco_env.mujoco_renderer.camera_id == -1  # type: ignore[attr-defined]
        explicit.close()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_render_human_without_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        with pytest.raises(RuntimeError, match="display"):
            MaMuJoCoEnv("HalfCheetah", "2x3", render_mode="human")
