"""get_env_info() against the spec's golden shape table (SMAC's map_param_registry), for all 23 maps."""

from __future__ import annotations

import pytest

import trmarl
from trmarl.envs.catalog import SMAC_MAPS
from trmarl.envs.smacsim import StarCraft2Env
from trmarl.envs.smacsim.maps import MAPS

# map: (n_agents, n_enemies, limit, n_actions, obs_shape, state_shape)
GOLDEN = {
    "3m": (3, 3, 60, 9, 30, 48),
    "8m": (8, 8, 120, 14, 80, 168),
    "25m": (25, 25, 150, 31, 250, 950),
    "5m_vs_6m": (5, 6, 70, 12, 55, 98),
    "8m_vs_9m": (8, 9, 120, 15, 85, 179),
    "10m_vs_11m": (10, 11, 150, 17, 105, 243),
    "27m_vs_30m": (27, 30, 180, 36, 285, 1170),
    "MMM": (10, 10, 150, 16, 160, 290),
    "MMM2": (10, 12, 180, 18, 176, 322),
    "2s3z": (5, 5, 120, 11, 80, 120),
    "3s5z": (8, 8, 150, 14, 128, 216),
    "3s5z_vs_3s6z": (8, 9, 170, 15, 136, 230),
    "3s_vs_3z": (3, 3, 150, 9, 36, 54),
    "3s_vs_4z": (3, 4, 200, 10, 42, 61),
    "3s_vs_5z": (3, 5, 250, 11, 48, 68),
    "1c3s5z": (9, 9, 180, 15, 162, 270),
    "2m_vs_1z": (2, 1, 150, 7, 16, 26),
    "corridor": (6, 24, 400, 30, 156, 282),
    "6h_vs_8z": (6, 8, 150, 14, 78, 140),
    "2s_vs_1sc": (2, 1, 300, 7, 17, 27),
    "so_many_baneling": (7, 32, 100, 38, 202, 397),
    "bane_vs_bane": (24, 24, 200, 30, 336, 984),
    "2c_vs_64zg": (2, 64, 400, 70, 332, 342),
}

MAX_REWARD = {"3m": 365, "8m": 640, "2s3z": 1020, "3s5z": 1510, "MMM": 1015, "MMM2": 1205, "27m_vs_30m": 1850,
              "corridor": 1280, "2c_vs_64zg": 3080}  # fmt: skip


def test_all_maps_listed() -> None:
    assert set(GOLDEN) == set(SMAC_MAPS) <= set(MAPS)


@pytest.mark.parametrize("map_name", sorted(GOLDEN))
def test_env_info_matches_golden_table(map_name: str) -> None:
    n_agents, n_enemies, limit, n_actions, obs_shape, state_shape = GOLDEN[map_name]
    env = StarCraft2Env(map_name=map_name, seed=0)
    info = env.get_env_info()
    assert info["n_agents"] == n_agents and env.n_enemies == n_enemies
    assert info["episode_limit"] == limit
    assert info["n_actions"] == n_actions
    assert info["obs_shape"] == obs_shape
    assert info["state_shape"] == state_shape
    obs, state = env.reset()
    assert len(obs) == n_agents and all(o.shape == (obs_shape,) and o.dtype.name == "float32" for o in obs)
    assert state.shape == (state_shape,) and state.dtype.name == "float32"
    assert len(info["agent_features"]) == env.get_ally_num_attributes()
    assert len(info["enemy_features"]) == env.get_enemy_num_attributes()
    if map_name in MAX_REWARD:
        assert env.max_reward == pytest.approx(MAX_REWARD[map_name])


def test_flag_dependent_sizes() -> None:
    env = StarCraft2Env("3m", obs_last_action=True, obs_pathing_grid=True, obs_terrain_height=True, obs_timestep_number=True,
                        state_last_action=False, state_timestep_number=True)  # fmt: skip
    # move 4+8+9, enemies 3 x 5, allies 2 x (5 + 9), own 1 + 1
    assert env.get_obs_size() == 21 + 15 + 28 + 2
    assert env.get_state_size() == 3 * 4 + 3 * 3 + 1
    obs, state = env.reset()
    assert obs[0].shape == (66,) and state.shape == (22,)
    env = StarCraft2Env("3m", obs_all_health=False, obs_own_health=False)
    assert env.get_obs_size() == 4 + 3 * 4 + 2 * 4 + 0
    env = StarCraft2Env("3m", obs_instead_of_state=True)
    assert env.get_state_size() == 90 and env.reset()[1].shape == (90,)


def test_smacsim_ids_build_every_map() -> None:
    for map_name in ("3m", "bane_vs_bane"):
        env = trmarl.make(f"SMACSim-{map_name}")
        assert env.state_space.shape == (GOLDEN[map_name][5],)
