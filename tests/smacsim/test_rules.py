"""SMAC's rules: reward (options, scaling, the abs() wart), win/loss/draw/timeout, info, stats, masks, illegal actions."""

from __future__ import annotations

import numpy as np
import pytest

import trmarl
from trmarl.envs.smacsim import IllegalActionError, StarCraft2Env
from trmarl.envs.smacsim.maps import MapSpec, SpawnGroup, register_map

STOP = 1


def kill(env: StarCraft2Env, units: list[int]) -> None:
    b = env.core.battle
    for u in units:
        b.hp[0, u] = 0.0
        b.shield[0, u] = 0.0
        b.alive[0, u] = False
    env.core.observe()  # refresh the masks, as after a real step


def test_win_reward_is_twenty_when_scaled() -> None:
    env = StarCraft2Env("3m", seed=0)
    env.reset()
    kill(env, [3, 4, 5])
    reward, terminated, info = env.step([STOP] * 3)
    assert terminated and info == {"battle_won": True, "dead_allies": 0, "dead_enemies": 3}
    assert reward == pytest.approx((3 * 45 + 3 * 10 + 200) / (365 / 20))
    assert env.get_stats() == {"battles_won": 1, "battles_game": 1, "battles_draw": 0, "win_rate": 1.0, "timeouts": 0,
                               "restarts": 0}  # fmt: skip


def test_unscaled_partial_damage_and_deaths() -> None:
    env = StarCraft2Env("3m", seed=0, reward_scale=False)
    env.reset()
    b = env.core.battle
    b.hp[0, 3] -= 7.0
    kill(env, [4])
    reward, terminated, _ = env.step([STOP] * 3)
    assert not terminated
    assert reward == pytest.approx(7.0 + 45.0 + 10.0)


def test_negative_reward_options_and_abs_wart() -> None:
    env = StarCraft2Env("3m", seed=0, reward_scale=False, reward_only_positive=False)
    env.reset()
    kill(env, [0])
    env.core.battle.hp[0, 3] -= 5.0
    reward, _, _ = env.step([0, STOP, STOP])
    # enemies: +5; allies: -(0.5 * 45) - 0.5 * 10 for the death
    assert reward == pytest.approx(5.0 - 22.5 - 5.0)
    # the abs() wart: shields regenerating after the last hit count as positive reward by default
    env = StarCraft2Env("2s3z", seed=0, reward_scale=False)
    env.reset()
    b = env.core.battle
    b.shield[0, 5:] -= 10.0
    b.prev_hs[0, 5:] = b.hp[0, 5:] + b.shield[0, 5:]
    b.last_hit[0, 5:] = -1e6
    b.pos[0, 5:, 0] += 5.0  # keep the armies apart for a step
    reward, _, _ = env.step([STOP] * 5)
    regen = 5 * 8 * 2.8 / 22.4
    assert reward == pytest.approx(regen)
    env = StarCraft2Env("2s3z", seed=0, reward_scale=False, reward_clip_negative=True)
    env.reset()
    b = env.core.battle
    b.shield[0, 5:] -= 10.0
    b.prev_hs[0, 5:] = b.hp[0, 5:] + b.shield[0, 5:]
    b.last_hit[0, 5:] = -1e6
    b.pos[0, 5:, 0] += 5.0
    reward, _, _ = env.step([STOP] * 5)
    assert reward == 0.0


def test_loss_draw_and_sparse() -> None:
    env = StarCraft2Env("3m", seed=0)
    env.reset()
    kill(env, [0, 1, 2])
    reward, terminated, info = env.step([0, 0, 0])
    assert terminated and not info["battle_won"] and info["dead_allies"] == 3 and reward == 0.0
    env.reset()
    kill(env, [0, 1, 2, 3, 4, 5])
    reward, terminated, info = env.step([0, 0, 0])
    assert terminated and not info["battle_won"]
    assert reward == pytest.approx(3 * 55 / 18.25)  # no win bonus on a draw
    env = StarCraft2Env("3m", seed=0, reward_sparse=True, reward_scale=False)
    env.reset()
    assert env.step([STOP] * 3)[0] == 0.0
    kill(env, [3, 4, 5])
    assert env.step([STOP] * 3)[0] == 1.0
    env.reset()
    kill(env, [0, 1, 2])
    assert env.step([0, 0, 0])[0] == -1.0


def test_mmm_rules() -> None:
    env = StarCraft2Env("MMM", seed=0)
    env.reset()
    assert env.get_unit_types() == ["marauder"] * 2 + ["marine"] * 7 + ["medivac"]
    kill(env, list(range(9)))  # only the medivac left: lost
    _, terminated, info = env.step([0] * 9 + [STOP])
    assert terminated and not info["battle_won"]
    env.reset()
    kill(env, list(range(10, 19)))  # only the enemy medivac left: won
    _, terminated, info = env.step([STOP] * 10)
    assert terminated and info["battle_won"]


def _tiny_map() -> str:
    register_map(
        MapSpec(
            name="test_timeout", map_type="marines", episode_limit=3, ally_race="T", enemy_race="T",
            ally_groups=(SpawnGroup((("marine", 1),), (3.0, 16.0)),),
            enemy_groups=(SpawnGroup((("marine", 1),), (29.0, 16.0)),),
        ),
        override=True,
    )  # fmt: skip
    return "test_timeout"


def test_timeout_rules_and_info() -> None:
    name = _tiny_map()
    env = StarCraft2Env(name, seed=0, enemy_ai="passive")
    env.reset()
    for _ in range(2):
        assert not env.step([STOP])[1]
    _, terminated, info = env.step([STOP])
    assert terminated and "episode_limit" not in info
    assert env.get_stats()["timeouts"] == 1 and env.get_stats()["battles_draw"] == 1
    env = StarCraft2Env(name, seed=0, enemy_ai="passive", continuing_episode=True)
    env.reset()
    env.step([STOP])
    env.step([STOP])
    assert env.step([STOP])[2]["episode_limit"] is True
    with pytest.raises(RuntimeError, match="reset"):
        env.step([STOP])


def test_pettingzoo_truncation_vs_termination() -> None:
    name = _tiny_map()
    from trmarl.envs.smacsim.parallel import SMACSimParallelEnv

    env = SMACSimParallelEnv(name, enemy_ai="passive")
    env.reset(seed=0)
    for _ in range(3):
        _, rewards, terms, truncs, infos = env.step({"marine_0": STOP})
    assert truncs == {"marine_0": True} and terms == {"marine_0": False} and env.agents == []
    env = trmarl.make("SMACSim-3m")
    env.reset(seed=0)
    kill(env.smac, [3, 4, 5])
    _, rewards, terms, truncs, infos = env.step(dict.fromkeys(env.agents, STOP))
    assert all(terms.values()) and not any(truncs.values())
    assert len(set(rewards.values())) == 1 and infos["marine_0"]["battle_won"] is True


def test_dead_agents_only_noop_and_zero_obs() -> None:
    env = trmarl.make("SMACSim-3m")
    obs, infos = env.reset(seed=0)
    assert infos["marine_0"]["active"] and obs["marine_0"]["action_mask"][0] == 0
    kill(env.smac, [0])
    obs, _, _, _, infos = env.step({"marine_0": 0, "marine_1": STOP, "marine_2": STOP})
    assert "marine_0" in env.agents and infos["marine_0"]["active"] is False
    assert obs["marine_0"]["action_mask"].tolist() == [1] + [0] * 8
    assert not obs["marine_0"]["observation"].any()
    assert not env.state()[:4].any()  # its state row is zero
    with pytest.raises(IllegalActionError, match="dead"):
        env.step({"marine_0": STOP, "marine_1": STOP, "marine_2": STOP})
    obs, *_ = env.step({"marine_1": STOP, "marine_2": STOP})  # dead agents may be left out


def test_illegal_actions_raise() -> None:
    env = StarCraft2Env("3m", seed=0)
    env.reset()
    with pytest.raises(IllegalActionError, match="available actions"):
        env.step([0, STOP, STOP])  # no-op while alive
    with pytest.raises(AssertionError):  # SMAC code catching AssertionError keeps working
        env.step([6, STOP, STOP])  # enemy out of range at spawn
    with pytest.raises(IllegalActionError):
        env.step([STOP, STOP, 99])
    env.step([STOP] * 3)  # the env is still usable


def test_state_and_obs_features_at_spawn() -> None:
    env = StarCraft2Env("2s3z", seed=0)
    obs, _state = env.reset()
    d = env.get_state_dict()
    assert d["allies"].shape == (5, 4 + 1 + 2) and d["enemies"].shape == (5, 3 + 1 + 2)
    assert np.allclose(d["allies"][:, 0], 1.0) and np.allclose(d["allies"][:, 4], 1.0)  # health, shield
    assert d["allies"][:2, 5].tolist() == [1, 1] and d["allies"][2:, 6].tolist() == [1, 1, 1]  # stalkers 0, zealots 1
    # SMAC's enemy one-hot quirk on stalkers_and_zealots: zealot 0, stalker 1
    assert d["enemies"][:2, 4:6].tolist() == [[0, 1], [0, 1]] and d["enemies"][2:, 4:6].tolist() == [[1, 0]] * 3
    b = env.core.battle
    x0 = b.pos[0, 0, 0]
    assert d["allies"][0, 2] == pytest.approx((x0 - 16) / 32)
    env2 = StarCraft2Env("2s3z", seed=0, smac_enemy_type_order=False)
    env2.reset()
    assert env2.get_state_dict()["enemies"][:2, 4].tolist() == [1, 1]
    assert obs[0][-4:].tolist() == [1.0, 1.0, 1.0, 0.0]  # own: health, shield, one-hot stalker
    vis = env.get_visibility_matrix()
    assert vis.shape == (5, 10) and vis.dtype == bool
