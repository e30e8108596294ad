"""PettingZoo API, multi-step determinism and rendering of SMACSim-<map>."""

from __future__ import annotations

import numpy as np
import pytest

import trmarl
from trmarl.envs.smacsim import StarCraft2Env
from trmarl.envs.smacsim.parallel import SMACSimParallelEnv
from trmarl.envs.testing import check_determinism, check_env


@pytest.mark.parametrize("map_name", ["3m", "2s3z", "MMM2", "corridor", "bane_vs_bane"])
def test_parallel_api(map_name: str) -> None:
    check_env(lambda: trmarl.make(f"SMACSim-{map_name}"), num_cycles=60)


@pytest.mark.parametrize("map_name", ["3m", "3s5z", "MMM", "2c_vs_64zg"])
def test_multi_step_determinism(map_name: str) -> None:
    check_determinism(lambda: trmarl.make(f"SMACSim-{map_name}"), seed=3, n_steps=150)


def test_spaces_and_metadata() -> None:
    env = SMACSimParallelEnv("MMM2")
    assert env.possible_agents[:3] == ["marauder_0", "marauder_1", "marine_0"] and env.possible_agents[-1] == "medivac_0"
    space = env.observation_space("marine_0")
    assert space is env.observation_space("marine_0")
    assert space["observation"].shape == (176,) and space["action_mask"].dtype == np.int8
    assert env.action_space("marine_0").n == 18
    assert env.state_space.shape == (322,)
    assert env.metadata["is_parallelizable"] and "rgb_array" in env.metadata["render_modes"]
    obs, infos = env.reset(seed=0)
    assert space.contains(obs["marine_0"])
    assert set(infos["marine_0"]) >= {"action_mask", "battle_won", "dead_allies", "dead_enemies", "active"}


def test_seeded_reset_replays_and_seeds_differ() -> None:
    def run(seed: int) -> np.ndarray:
        env = StarCraft2Env("8m", seed=seed)
        env.reset()
        rng = np.random.default_rng(0)
        trace = []
        for _ in range(40):
            avail = env.get_avail_actions_array()
            _, done, _ = env.step(np.argmax(rng.random(avail.shape) * avail, axis=1))
            trace.append(env.get_state())
            if done:
                break
        return np.concatenate(trace)

    a, b, c = run(1), run(1), run(2)
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_rgb_array_render() -> None:
    env = trmarl.make("SMACSim-MMM", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (512, 512, 3) and frame.dtype == np.uint8
    assert (frame == [60, 110, 230]).all(axis=-1).any() and (frame == [220, 60, 50]).all(axis=-1).any()
    assert trmarl.make("SMACSim-3m").render() is None
    with pytest.raises(ValueError):
        trmarl.make("SMACSim-3m", render_mode="ansi")


def test_pymarl_style_loop() -> None:
    env = StarCraft2Env(map_name="3m", seed=0, state_last_action=False)
    info = env.get_env_info()
    env.reset()
    terminated, steps = False, 0
    while not terminated:
        obs, state = env.get_obs(), env.get_state()
        assert len(obs) == info["n_agents"] and state.shape == (info["state_shape"],)
        actions = []
        for agent_id in range(env.n_agents):
            avail = env.get_avail_agent_actions(agent_id)
            actions.append(int(np.nonzero(avail)[0][-1]))
        reward, terminated, step_info = env.step(actions)
        assert isinstance(reward, float) and isinstance(terminated, bool)
        assert set(step_info) >= {"battle_won", "dead_allies", "dead_enemies"}
        steps += 1
    assert steps <= info["episode_limit"]
    env.close()


def test_smac_pz_compat_mode() -> None:
    from pettingzoo.test import parallel_api_test

    parallel_api_test(trmarl.make("SMACSim-3m", smac_pz_compat=True), num_cycles=100)  # agents leave as they die
    env = trmarl.make("SMACSim-3m", smac_pz_compat=True)
    obs, _ = env.reset(seed=0)
    assert env.action_space("marine_0").n == 8 and obs["marine_0"]["action_mask"].shape == (8,)
    b = env.core.battle
    b.hp[0, 0], b.alive[0, 0] = 0.0, False
    env.core.observe()
    obs, _, terms, _, _ = env.step({"marine_1": 0, "marine_2": 0})  # 0 = SMAC's stop
    assert terms == {"marine_0": True, "marine_1": False, "marine_2": False} and "marine_0" in obs
    assert env.agents == ["marine_1", "marine_2"]
    with pytest.raises(ValueError, match="smac_pz_compat"):
        trmarl.make_vec_env("SMACSim-3m", n_envs=2, env_kwargs={"smac_pz_compat": True})
