"""SMACSim combat mechanics, each against a hand-computed expectation (spec §10-§11)."""

from __future__ import annotations

import numpy as np
import pytest

from trmarl.envs.smacsim import StarCraft2Env
from trmarl.envs.smacsim.engine import F_SHOOT

from ._helpers import LPS, make_battle, park_others, place, step

STOP = 1
MOVE_N, MOVE_S, MOVE_E, MOVE_W = 2, 3, 4, 5


def test_damage_armour_and_bonus() -> None:
    # marauder (10 +10 vs armored) on a stalker (armor 1) whose shield is down to 5:
    # 20 damage, 5 absorbed by the shield, 15 - 1 armour = 14 to health
    b = make_battle((("marauder", 1),), (("stalker", 1),))
    place(b, {0: (10.0, 16.0), 1: (14.0, 16.0)})
    b.shield[0, 1] = 5.0
    step(b, [6])
    assert b.shield[0, 1] == 0.0
    assert b.hp[0, 1] == pytest.approx(80.0 - 14.0)


def test_full_shield_absorbs_everything_and_armour_skips_shields() -> None:
    # 20 damage into 80 shields: no health loss, shield armour 0
    b = make_battle((("marauder", 1),), (("stalker", 1),))
    place(b, {0: (10.0, 16.0), 1: (14.0, 16.0)})
    step(b, [6])
    assert b.shield[0, 1] == pytest.approx(60.0)
    assert b.hp[0, 1] == 80.0


def test_multiple_attacks_apply_armour_each() -> None:
    # zealot 8 x 2 on a marauder (armor 1): 2 x (8 - 1) = 14 per swing
    b = make_battle((("zealot", 1),), (("marauder", 1),))
    place(b, {0: (15.0, 16.0), 1: (16.0, 16.0)})
    step(b, [6])
    assert b.hp[0, 1] == pytest.approx(125.0 - 14.0)


def test_light_bonus_and_no_bonus_vs_other_attributes() -> None:
    # colossus 10 (+5 light) x 2: zergling (light) takes 30, a marauder (armored) takes 2 x (10 - 1) = 18
    b = make_battle((("colossus", 1),), (("zergling", 1), ("marauder", 1)))
    place(b, {0: (10.0, 16.0), 1: (15.0, 20.0), 2: (15.0, 12.0)})
    step(b, [6])
    assert b.hp[0, 1] == pytest.approx(35.0 - 30.0 + 8 * 0.38 / LPS)  # + zerg regeneration over the 8 loops
    b = make_battle((("colossus", 1),), (("zergling", 1), ("marauder", 1)))
    place(b, {0: (10.0, 16.0), 1: (15.0, 20.0), 2: (15.0, 12.0)})
    step(b, [7])
    assert b.hp[0, 2] == pytest.approx(125.0 - 18.0)


def test_shield_regeneration_waits_7_14_seconds() -> None:
    # regeneration starts 160 loops (7.14 s) after the last hit, at 2.8/s = 0.125 per loop
    b = make_battle((("stalker", 1),), (("marine", 1),))
    place(b, {0: (5.0, 16.0), 1: (28.0, 16.0)})
    b.shield[0, 0] = 40.0
    b.last_hit[0, 0] = float(b.loop[0])
    delay = round(10 / 1.4 * LPS)
    assert delay == 160
    for _ in range(delay // 8):
        step(b, [STOP])
    assert b.shield[0, 0] == pytest.approx(40.0)
    step(b, [STOP])  # 8 more loops, all past the delay
    assert b.shield[0, 0] == pytest.approx(40.0 + 8 * 2.8 / LPS)


def test_zerg_regeneration() -> None:
    b = make_battle((("zergling", 1),), (("marine", 1),))
    place(b, {0: (5.0, 16.0), 1: (28.0, 16.0)})
    b.hp[0, 0] = 20.0
    step(b, [STOP])
    assert b.hp[0, 0] == pytest.approx(20.0 + 8 * 0.38 / LPS)


def test_medivac_heals_with_energy() -> None:
    # 12.6 hp/s = 0.5625 per loop, 1 energy per 3 hp, energy regen 0.7875/s
    b = make_battle((("marine", 1), ("medivac", 1)), (("marine", 2),), map_type="MMM")
    assert b.unit_names[:2] == ["marine", "medivac"]
    place(b, {0: (9.0, 16.0), 1: (10.0, 16.0), 2: (28.0, 10.0), 3: (28.0, 20.0)})
    b.hp[0, 0] = 20.0
    step(b, [STOP, 6])  # heal ally 0
    assert b.hp[0, 0] == pytest.approx(20.0 + 8 * 12.6 / LPS)
    assert b.energy[0, 1] == pytest.approx(50.0 - 8 * 12.6 / LPS / 3.0 + 8 * 0.7875 / LPS)
    # healing stops at full health and spends no energy then
    b.hp[0, 0] = 45.0 - 0.1
    e0 = b.energy[0, 1]
    step(b, [STOP, 6])
    assert b.hp[0, 0] == pytest.approx(45.0)
    assert b.energy[0, 1] == pytest.approx(e0 - 0.1 / 3.0 + 8 * 0.7875 / LPS)


def test_medivac_needs_five_energy_to_start() -> None:
    b = make_battle((("marine", 1), ("medivac", 1)), (("marine", 2),), map_type="MMM")
    place(b, {0: (9.0, 16.0), 1: (10.0, 16.0), 2: (28.0, 10.0), 3: (28.0, 20.0)})
    b.hp[0, 0] = 20.0
    b.energy[0, 1] = 4.0
    step(b, [STOP, 6])
    assert b.hp[0, 0] == pytest.approx(20.0)


def test_baneling_splash_and_self_destruct() -> None:
    # an enemy baneling touching marine 0 explodes: 16 + 19 (light) = 35 to every ally within 2.2 + radius
    b = make_battle((("marine", 3),), (("baneling", 1), ("zergling", 1)), enemy_ai="attack_move")
    place(b, {0: (16.8, 16.0), 1: (16.0, 18.0), 2: (16.0, 13.0), 3: (16.0, 16.0), 4: (30.0, 28.0)})
    step(b, [STOP, STOP, STOP])
    assert not b.alive[0, 3] and b.hp[0, 3] == 0.0
    assert b.hp[0, 0] == pytest.approx(10.0)  # touching
    assert b.hp[0, 1] == pytest.approx(10.0)  # 2.0 away: 2.0 <= 2.2 + 0.375
    assert b.hp[0, 2] == pytest.approx(45.0)  # 3.0 away: outside
    assert b.hp[0, 4] == pytest.approx(35.0)  # no friendly fire on the zergling


def test_baneling_explodes_when_killed() -> None:
    b = make_battle((("marine", 2),), (("baneling", 1),))
    place(b, {0: (13.0, 16.0), 1: (18.5, 16.0), 2: (17.0, 16.0)})
    b.hp[0, 2] = 5.0
    step(b, [6, STOP])  # marine 0 shoots the baneling (4 away); it dies and splashes marine 1 (1.5 away)
    assert not b.alive[0, 2]
    assert b.hp[0, 1] == pytest.approx(10.0)
    assert b.hp[0, 0] == pytest.approx(45.0)


def test_colossus_line_splash() -> None:
    # shot along +x onto a zergling at (20, 16): the 2.8 x 0.3 rectangle reaches 1.4 + 0.375 sideways
    b = make_battle((("colossus", 1),), (("zergling", 3),))
    place(b, {0: (14.0, 16.0), 1: (20.0, 16.0), 2: (20.0, 17.7), 3: (20.0, 14.1)})
    step(b, [6])
    regen = 8 * 0.38 / LPS
    assert b.hp[0, 1] == pytest.approx(5.0 + regen)  # target: 2 x 15
    assert b.hp[0, 2] == pytest.approx(5.0 + regen)  # 1.7 sideways <= 1.775
    assert b.hp[0, 3] == pytest.approx(35.0)  # 1.9 sideways: missed


def test_attack_action_mask_uses_centre_distance_six() -> None:
    env = StarCraft2Env("3m", seed=0)
    b = env.core.battle
    assert b.fst[0, F_SHOOT] == 6.0
    park_others(b, {0, 3})
    place(b, {0: (10.0, 16.0), 3: (16.0, 16.0)})
    env.core.observe()
    assert env.get_avail_agent_actions(0)[6] == 1
    place(b, {3: (16.01, 16.0)})
    env.core.observe()
    assert env.get_avail_agent_actions(0)[6] == 0


def test_weapon_range_edge_to_edge() -> None:
    # marine range 5 + radii 0.375 + 0.375: fires at 5.75, walks first at 5.9 (0.140625 per loop)
    b = make_battle((("marine", 1),), (("marine", 1),))
    place(b, {0: (10.0, 16.0), 1: (15.75, 16.0)})
    step(b, [6])
    assert b.pos[0, 0, 0] == 10.0
    assert b.hp[0, 1] == pytest.approx(39.0)
    b = make_battle((("marine", 1),), (("marine", 1),))
    place(b, {0: (10.0, 16.0), 1: (15.9, 16.0)})
    step(b, [6])
    assert b.pos[0, 0, 0] == pytest.approx(10.0 + 2 * 3.15 / LPS)
    assert b.hp[0, 1] == pytest.approx(39.0)


def test_sight_range_is_strict_nine() -> None:
    env = StarCraft2Env("3m", seed=0)
    b = env.core.battle
    park_others(b, {0, 3})
    place(b, {0: (10.0, 16.0), 3: (18.99, 16.0)})
    env.core.observe()
    obs = env.get_obs_agent(0)
    assert obs[4 + 1] == pytest.approx(8.99 / 9, abs=1e-6)  # first enemy block: [avail, dist, dx, dy, hp]
    place(b, {3: (19.0, 16.0)})
    env.core.observe()
    assert np.all(env.get_obs_agent(0)[4:9] == 0.0)


def test_move_distance_per_step() -> None:
    b = make_battle((("marine", 1), ("stalker", 1)), (("marine", 1),))
    place(b, {0: (10.0, 14.0), 1: (10.0, 18.0), 2: (28.0, 16.0)})
    step(b, [MOVE_E, MOVE_N])
    assert b.pos[0, 0, 0] == pytest.approx(10.0 + 8 * 3.15 / LPS)  # 1.125
    assert b.pos[0, 1, 1] == pytest.approx(18.0 + 8 * 4.13 / LPS)
    step(b, [MOVE_W, MOVE_S])  # a new order replaces the old one
    assert b.pos[0, 0, 0] == pytest.approx(10.0)


def test_move_order_stops_at_the_point() -> None:
    b = make_battle((("marine", 1),), (("marine", 1),))
    place(b, {0: (10.0, 14.0), 1: (28.0, 16.0)})
    step(b, [MOVE_E])
    step(b, [0 if False else MOVE_E])
    x = b.pos[0, 0, 0]
    assert x == pytest.approx(10.0 + 1.125 + 1.125)  # the second order is 2 further from the new position
    b2 = make_battle((("marine", 1),), (("marine", 1),))
    place(b2, {0: (10.0, 14.0), 1: (28.0, 16.0)})
    step(b2, [MOVE_E])
    step(b2, [STOP])
    assert b2.pos[0, 0, 0] == pytest.approx(11.125)


def test_no_overlaps_after_crowding() -> None:
    env = StarCraft2Env("27m_vs_30m", seed=0)
    rng = np.random.default_rng(0)
    b = env.core.battle
    r = b.fst[:, 9]
    worst = 0.0
    for _ in range(25):
        avail = env.get_avail_actions_array()
        actions = np.argmax(rng.random(avail.shape) * avail, axis=1)
        _, done, _ = env.step(actions)
        alive = b.alive[0]
        p = b.pos[0][alive]
        d = np.linalg.norm(p[:, None] - p[None], axis=-1)
        rr = r[alive][:, None] + r[alive][None]
        np.fill_diagonal(d, np.inf)
        worst = max(worst, float((rr - d).max()))
        if done:
            break
    assert worst < 0.05


@pytest.mark.parametrize("map_name", ["corridor", "2c_vs_64zg"])
def test_walls_are_never_entered(map_name: str) -> None:
    env = StarCraft2Env(map_name, seed=0)
    b = env.core.battle
    rng = np.random.default_rng(1)
    for _ in range(40):
        avail = env.get_avail_actions_array()
        actions = np.argmax(rng.random(avail.shape) * avail, axis=1)
        _, done, _ = env.step(actions)
        for u in np.flatnonzero(b.alive[0]):
            x, y = b.pos[0, u]
            assert b.grid[int(x), int(y)], f"unit {u} at ({x:.2f}, {y:.2f}) is inside a wall"
        if done:
            env.reset()


def test_wall_blocks_moves_and_mask() -> None:
    # RAVINE: wall at y=12 for x in [4, 27]; a colossus just north of it cannot move south
    b = make_battle((("colossus", 1),), (("zergling", 1),), terrain="RAVINE")
    place(b, {0: (16.0, 13.6), 1: (30.0, 7.0)})
    env_like_avail = b.avail
    obs = np.zeros((1, 1, 64), dtype=np.float32)
    flags = dict.fromkeys(
        ("obs_all_health", "obs_own_health", "obs_last_action", "obs_pathing_grid", "obs_terrain_height",
         "obs_timestep_number", "state_last_action", "state_timestep_number"), False,
    )  # fmt: skip
    b.observe(obs, None, flags, 100)
    assert env_like_avail[0, 0, MOVE_S] == 0 and env_like_avail[0, 0, MOVE_N] == 1
    step(b, [MOVE_N])
    step(b, [STOP])
    place(b, {0: (16.0, 13.2)})
    b.order[0, 0] = 1
    b.opt[0, 0] = (16.0, 10.0)  # a move order into the wall stops at it
    step(b, [0]) if False else b.step(np.array([[0]]))
    assert int(b.pos[0, 0, 1]) >= 13
