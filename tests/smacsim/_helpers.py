"""Small builders shared by the SMACSim tests."""

from __future__ import annotations

import numpy as np

from trmarl.envs.smacsim.engine import Battle, BattleOptions
from trmarl.envs.smacsim.maps import MapSpec, SpawnGroup

LPS = 22.4


def make_battle(
    allies: tuple[tuple[str, int], ...],
    enemies: tuple[tuple[str, int], ...],
    map_type: str = "marines",
    enemy_ai: str = "passive",
    terrain: str = "SIMPLE",
    **options: object,
) -> Battle:
    """A one-env battle on a throw-away map, reset, with enemies passive unless asked otherwise."""
    spec = MapSpec(
        name="test",
        map_type=map_type,
        episode_limit=100,
        ally_race="T",
        enemy_race="T",
        ally_groups=(SpawnGroup(allies, (9.0, 16.0)),),
        enemy_groups=(SpawnGroup(enemies, (23.0, 16.0)),),
        terrain=terrain,
    )
    battle = Battle(spec, 1, BattleOptions(enemy_ai=enemy_ai, **options))  # type: ignore[arg-type]
    battle.seed_env(0, 0)
    battle.reset()
    return battle


def place(battle: Battle, positions: dict[int, tuple[float, float]]) -> None:
    """Move units (by index) to positions; everyone else is parked far away in a corner-free strip."""
    for u, (x, y) in positions.items():
        battle.pos[0, u] = (x, y)
        battle.opt[0, u] = (x, y)


def park_others(battle: Battle, keep: set[int]) -> None:
    """Put every unit not in ``keep`` out of the way (dead), so it cannot interfere."""
    for u in range(battle.n_units):
        if u not in keep:
            battle.alive[0, u] = False
            battle.hp[0, u] = 0.0
            battle.shield[0, u] = 0.0
            battle.dead_seen[0, u] = True


def step(battle: Battle, actions: list[int]) -> None:
    """One agent step of the single battle."""
    battle.step(np.array([actions], dtype=np.int64))
