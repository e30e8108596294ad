"""SMACSim's extra options and SMAC's less common methods run and do what they say."""

from __future__ import annotations

import os

import numpy as np
import pytest

from trmarl.envs.smacsim import StarCraft2Env


def _random_episode(env: StarCraft2Env, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    env.reset()
    done, info = False, {}
    while not done:
        avail = env.get_avail_actions_array()
        _, done, info = env.step(np.argmax(rng.random(avail.shape) * avail, axis=1))
    return info


@pytest.mark.parametrize(
    "kwargs",
    [
        {"enemy_ai": "smax_heuristic"},
        {"unit_ranges": True},
        {"spawn_jitter": 2.0},
        {"heuristic_ai": True},
        {"obs_last_action": True, "obs_pathing_grid": True, "obs_terrain_height": True, "obs_timestep_number": True},
    ],
)
def test_options_run(kwargs: dict) -> None:
    env = StarCraft2Env("MMM", seed=0, **kwargs)
    info = _random_episode(env)
    assert set(info) >= {"battle_won", "dead_allies", "dead_enemies"}
    obs = env.get_obs()
    assert all(np.all(np.abs(o) <= 1.0) for o in obs)


def test_heuristic_ai_beats_random() -> None:
    # SMAC's heuristic_ai (attack the nearest enemy until it dies) overrides the agents' actions
    heuristic = StarCraft2Env("3s5z", seed=0, heuristic_ai=True)
    random = StarCraft2Env("3s5z", seed=0)
    assert sum(_random_episode(heuristic, s)["battle_won"] for s in range(6)) > sum(
        _random_episode(random, s)["battle_won"] for s in range(6)
    )


def test_spawn_jitter_changes_spawns() -> None:
    a = StarCraft2Env("3m", seed=0, spawn_jitter=2.0)
    b = StarCraft2Env("3m", seed=1, spawn_jitter=2.0)
    assert not np.array_equal(a.reset()[1], b.reset()[1])


def test_unknown_options_raise() -> None:
    with pytest.raises(KeyError, match="unknown SMACSim map"):
        StarCraft2Env("4m")
    with pytest.raises(ValueError, match="enemy_ai"):
        StarCraft2Env("3m", enemy_ai="smart")
    with pytest.raises(NotImplementedError):
        StarCraft2Env("3m", collision="orca")
    with pytest.raises(TypeError):
        StarCraft2Env("3m", no_such_option=1)  # type: ignore[call-arg]


def test_sc2_only_arguments_are_ignored(tmp_path: os.PathLike) -> None:
    env = StarCraft2Env("3m", difficulty="A", game_version="4.10", window_size_x=10, replay_dir=str(tmp_path), debug=True)
    _random_episode(env)
    path = env.save_replay()
    data = np.load(path)
    assert data["pos"].shape[1:] == (6, 2) and data["pos"].shape[0] >= 2
    assert env.get_unit_by_id(0).unit_type == "marine" and env.get_unit_by_id(0).health_max == 45.0
    env.full_restart()
    assert env.seed(3) == 3
