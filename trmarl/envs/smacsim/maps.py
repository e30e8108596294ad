"""SMACSim maps: the 23 SMAC maps as dataclass rows, terrain presets, and :func:`register_map` for your own.

A map names its units, episode limit, races and SMAC ``map_type`` (which decides the unit-type one-hot), its spawn
groups and the point the enemy AI attack-moves to. Geometry follows SMAClite's 32 x 32 maps (spec §8.2); maps SMAClite
lacks use the ``SIMPLE`` band with spawns (9, 16) / (23, 16). Real SMAC geometry lives in binary ``.SC2Map`` files and is
not reproduced.

Example:
    >>> from trmarl.envs.smacsim.maps import MapSpec, SpawnGroup, get_map, register_map
    >>> get_map("3m").n_agents
    3
    >>> _ = register_map(MapSpec(
    ...     name="4m_vs_3z", map_type="marines", episode_limit=100, ally_race="T", enemy_race="P",
    ...     ally_groups=(SpawnGroup((("marine", 4),), (9.0, 16.0)),),
    ...     enemy_groups=(SpawnGroup((("zealot", 3),), (23.0, 16.0)),),
    ... ))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from trmarl.envs.smacsim.units import UNIT_TYPES

__all__ = [
    "MAPS",
    "MAP_TYPES",
    "TERRAIN_PRESETS",
    "MapSpec",
    "SpawnGroup",
    "get_map",
    "register_map",
    "spawn_layout",
    "terrain_grid",
]

#: SMAC ``map_type`` -> unit types in RL-unit-id order (the ally one-hot order), and SMAC's enemy one-hot order (§9).
MAP_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "marines": (("marine",), ("marine",)),
    "stalkers": (("stalker",), ("stalker",)),
    "zealots": (("zealot",), ("zealot",)),
    "hydralisks": (("hydralisk",), ("hydralisk",)),
    "colossus": (("colossus",), ("colossus",)),
    "MMM": (("marauder", "marine", "medivac"), ("marauder", "marine", "medivac")),
    "stalkers_and_zealots": (("stalker", "zealot"), ("zealot", "stalker")),
    "colossi_stalkers_zealots": (("colossus", "stalker", "zealot"), ("colossus", "stalker", "zealot")),
    "bane": (("baneling", "zergling"), ("baneling", "zergling")),
}

MAP_SIZE = (32, 32)
TERRAIN_PRESETS = ("SIMPLE", "RAVINE", "OCTAGON", "PENTAGON", "CORRIDOR", "ALL_GREEN")


@dataclass(frozen=True)
class SpawnGroup:
    """Units spawned together on a grid.

    Attributes:
        units: ``((unit_name, count), ...)``; placed in this order.
        center: The group's centre ``(x, y)``.
        cols: Grid columns (default ``ceil(sqrt(n))``); rows follow.
    """

    units: tuple[tuple[str, int], ...]
    center: tuple[float, float]
    cols: int | None = None

    @property
    def n_units(self) -> int:
        """Number of units in the group."""
        return sum(c for _, c in self.units)


@dataclass(frozen=True)
class MapSpec:
    """One map.

    Attributes:
        name: SMAC map name (``"3s5z"``).
        map_type: SMAC ``map_type`` (a key of :data:`MAP_TYPES`); decides the unit-type one-hot and the MMM rules.
        episode_limit: SMAC's ``limit`` (agent steps before a timeout).
        ally_race / enemy_race: ``"T"``, ``"P"`` or ``"Z"``; a Protoss side has the shield feature.
        ally_groups / enemy_groups: Spawn groups (enemy grids are mirrored through their centre).
        unit_type_bits: Length of the type one-hot (SMAC's ``unit_type_bits``; 0 on single-type maps).
        attack_point: Where the enemy AI attack-moves (default: the first ally group's centre).
        terrain: A :data:`TERRAIN_PRESETS` name.
        size: ``(map_x, map_y)``; the playable area is the whole map.
        difficulty: Informal difficulty class (``"Easy"``, ``"Hard"``, ``"Super Hard"`` or ``""``).
    """

    name: str
    map_type: str
    episode_limit: int
    ally_race: str
    enemy_race: str
    ally_groups: tuple[SpawnGroup, ...]
    enemy_groups: tuple[SpawnGroup, ...]
    unit_type_bits: int = 0
    attack_point: tuple[float, float] | None = None
    terrain: str = "SIMPLE"
    size: tuple[int, int] = MAP_SIZE
    difficulty: str = ""
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.map_type not in MAP_TYPES:
            raise ValueError(f"map {self.name!r}: unknown map_type {self.map_type!r}; known: {sorted(MAP_TYPES)}")
        if self.terrain not in TERRAIN_PRESETS:
            raise ValueError(f"map {self.name!r}: unknown terrain {self.terrain!r}; known: {TERRAIN_PRESETS}")
        for group in (*self.ally_groups, *self.enemy_groups):
            for unit, count in group.units:
                if unit not in UNIT_TYPES:
                    raise ValueError(f"map {self.name!r}: unknown unit type {unit!r}; known: {sorted(UNIT_TYPES)}")
                if count < 1:
                    raise ValueError(f"map {self.name!r}: unit count must be positive, got {count} {unit}")
        if self.unit_type_bits and self.unit_type_bits < len(MAP_TYPES[self.map_type][0]):
            raise ValueError(f"map {self.name!r}: unit_type_bits={self.unit_type_bits} is too small for {self.map_type}")

    @property
    def n_agents(self) -> int:
        """Number of RL-controlled units."""
        return sum(g.n_units for g in self.ally_groups)

    @property
    def n_enemies(self) -> int:
        """Number of built-in-AI units."""
        return sum(g.n_units for g in self.enemy_groups)

    @property
    def target_point(self) -> tuple[float, float]:
        """The enemy AI's attack-move point."""
        return self.attack_point if self.attack_point is not None else self.ally_groups[0].center


MAPS: dict[str, MapSpec] = {}


def register_map(map_spec: MapSpec, override: bool = False) -> MapSpec:
    """Add a map to :data:`MAPS` so ``StarCraft2Env(map_name=...)`` finds it.

    Args:
        map_spec: The map.
        override: Replace a map of the same name instead of raising.

    Raises:
        ValueError: A map of that name exists and ``override`` is False.
    """
    if map_spec.name in MAPS and not override:
        raise ValueError(f"map {map_spec.name!r} is already registered; pass override=True to replace it")
    MAPS[map_spec.name] = map_spec
    return map_spec


def get_map(name: str) -> MapSpec:
    """The :class:`MapSpec` called ``name``.

    Raises:
        KeyError: Unknown map (the message lists the known ones).
    """
    try:
        return MAPS[name]
    except KeyError:
        raise KeyError(f"unknown SMACSim map {name!r}; known maps: {', '.join(sorted(MAPS))}") from None


# --------------------------------------------------------------------------------------------------------------
# Terrain and spawn layout
# --------------------------------------------------------------------------------------------------------------


def terrain_grid(preset: str, size: tuple[int, int] = MAP_SIZE) -> np.ndarray:
    """Pathing grid of a preset: bool ``(map_x, map_y)``, True where ground units may stand, indexed ``[x, y]``."""
    w, h = size
    xs, ys = np.meshgrid(np.arange(w), np.arange(h), indexing="ij")
    if preset == "SIMPLE":
        grid = (ys >= 8) & (ys <= 23)
    elif preset == "RAVINE":
        grid = (ys >= 6) & (ys <= 19)
        for y, cut in ((6, 3), (7, 2), (8, 1), (19, 3), (18, 2), (17, 1)):
            grid[:cut, y] = False
            grid[w - cut :, y] = False
        grid[4:28, 12] = False
    elif preset == "OCTAGON":
        grid = (xs >= 5) & (xs <= 26) & (ys >= 5) & (ys <= 26)
        cx, cy = 15.5, 15.5
        grid &= (np.abs(xs - cx) + np.abs(ys - cy)) <= 16.0
    elif preset == "PENTAGON":
        grid = (xs >= 7) & (xs <= 20) & (ys >= 7) & (ys <= 24)
        taper = np.clip((ys - 18) / 6.0, 0.0, 1.0)  # 0 below y=18, 1 at y=24
        lo = 7 + taper * 5
        hi = 20 - taper * 5
        grid &= (xs >= np.floor(lo)) & (xs <= np.ceil(hi))
    elif preset == "CORRIDOR":
        room = (xs >= 1) & (xs <= 13) & (ys >= 1) & (ys <= 12)
        diag = (xs >= 11) & (xs <= 30) & (ys >= 13) & (ys <= 30) & (np.abs(xs - ys) <= 7)
        joint = (xs >= 11) & (xs <= 14) & (ys >= 12) & (ys <= 13)
        grid = room | diag | joint
    elif preset == "ALL_GREEN":
        grid = (xs >= 3) & (xs <= 28) & (ys >= 3) & (ys <= 28)
        ring = (xs == 0) | (ys == 0) | (xs == w - 1) | (ys == h - 1)
        grid |= ring
    else:
        raise ValueError(f"unknown terrain preset {preset!r}; known: {TERRAIN_PRESETS}")
    return np.ascontiguousarray(grid, dtype=np.bool_)


def spawn_layout(group: SpawnGroup, mirror: bool = False) -> list[tuple[str, float, float]]:
    """Positions of a group's units: a grid of the largest unit diameter (+0.05 gap) centred on the group point.

    Args:
        group: The group.
        mirror: Reflect the grid through its centre (enemy groups).

    Returns:
        ``[(unit_name, x, y), ...]`` in the group's unit order.
    """
    names = [name for name, count in group.units for _ in range(count)]
    n = len(names)
    cols = group.cols or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    cell = max(2.0 * UNIT_TYPES[name].radius for name in names) + 0.05
    cx, cy = group.center
    out = []
    for k, name in enumerate(names):
        col, row = k % cols, k // cols
        dx = (col - (cols - 1) / 2.0) * cell
        dy = ((rows - 1) / 2.0 - row) * cell
        if mirror:
            dx, dy = -dx, -dy
        out.append((name, cx + dx, cy + dy))
    return out


# --------------------------------------------------------------------------------------------------------------
# The 23 SMAC maps (spec §8 and §8.1)
# --------------------------------------------------------------------------------------------------------------

_ALLY, _ENEMY = (9.0, 16.0), (23.0, 16.0)


def _mirror_map(
    name: str,
    map_type: str,
    limit: int,
    races: tuple[str, str],
    allies: tuple[tuple[str, int], ...],
    enemies: tuple[tuple[str, int], ...],
    utb: int = 0,
    terrain: str = "SIMPLE",
    difficulty: str = "",
) -> MapSpec:
    return MapSpec(
        name=name,
        map_type=map_type,
        episode_limit=limit,
        ally_race=races[0],
        enemy_race=races[1],
        ally_groups=(SpawnGroup(allies, _ALLY),),
        enemy_groups=(SpawnGroup(enemies, _ENEMY),),
        unit_type_bits=utb,
        terrain=terrain,
        difficulty=difficulty,
    )


def _builtin_maps() -> list[MapSpec]:
    m, s, z = "marine", "stalker", "zealot"
    maps = [
        _mirror_map("3m", "marines", 60, ("T", "T"), ((m, 3),), ((m, 3),)),
        _mirror_map("8m", "marines", 120, ("T", "T"), ((m, 8),), ((m, 8),), difficulty="Easy"),
        _mirror_map("25m", "marines", 150, ("T", "T"), ((m, 25),), ((m, 25),), difficulty="Hard"),
        _mirror_map("5m_vs_6m", "marines", 70, ("T", "T"), ((m, 5),), ((m, 6),), difficulty="Hard"),
        _mirror_map("8m_vs_9m", "marines", 120, ("T", "T"), ((m, 8),), ((m, 9),), difficulty="Hard"),
        _mirror_map("10m_vs_11m", "marines", 150, ("T", "T"), ((m, 10),), ((m, 11),), difficulty="Easy"),
        _mirror_map("27m_vs_30m", "marines", 180, ("T", "T"), ((m, 27),), ((m, 30),), difficulty="Super Hard"),
        _mirror_map(
            "MMM",
            "MMM",
            150,
            ("T", "T"),
            (("marauder", 2), (m, 7), ("medivac", 1)),
            (("marauder", 2), (m, 7), ("medivac", 1)),
            utb=3,
        ),
        _mirror_map(
            "MMM2",
            "MMM",
            180,
            ("T", "T"),
            (("marauder", 2), (m, 7), ("medivac", 1)),
            (("marauder", 3), (m, 8), ("medivac", 1)),
            utb=3,
            difficulty="Super Hard",
        ),
        _mirror_map("2s3z", "stalkers_and_zealots", 120, ("P", "P"), ((s, 2), (z, 3)), ((s, 2), (z, 3)), 2, difficulty="Easy"),
        _mirror_map("3s5z", "stalkers_and_zealots", 150, ("P", "P"), ((s, 3), (z, 5)), ((s, 3), (z, 5)), 2, difficulty="Easy"),
        _mirror_map(
            "3s5z_vs_3s6z",
            "stalkers_and_zealots",
            170,
            ("P", "P"),
            ((s, 3), (z, 5)),
            ((s, 3), (z, 6)),
            2,
            difficulty="Super Hard",
        ),
        _mirror_map("3s_vs_3z", "stalkers", 150, ("P", "P"), ((s, 3),), ((z, 3),)),
        _mirror_map("3s_vs_4z", "stalkers", 200, ("P", "P"), ((s, 3),), ((z, 4),)),
        _mirror_map("3s_vs_5z", "stalkers", 250, ("P", "P"), ((s, 3),), ((z, 5),), terrain="ALL_GREEN", difficulty="Hard"),
        _mirror_map(
            "1c3s5z",
            "colossi_stalkers_zealots",
            180,
            ("P", "P"),
            (("colossus", 1), (s, 3), (z, 5)),
            (("colossus", 1), (s, 3), (z, 5)),
            3,
            difficulty="Easy",
        ),
        _mirror_map("2m_vs_1z", "marines", 150, ("T", "P"), ((m, 2),), ((z, 1),)),
        _mirror_map("6h_vs_8z", "hydralisks", 150, ("Z", "P"), (("hydralisk", 6),), ((z, 8),), difficulty="Super Hard"),
        _mirror_map("so_many_baneling", "zealots", 100, ("P", "Z"), ((z, 7),), (("baneling", 32),)),
        MapSpec(
            name="corridor",
            map_type="zealots",
            episode_limit=400,
            ally_race="P",
            enemy_race="Z",
            ally_groups=(SpawnGroup(((z, 6),), (19.04, 19.12)),),
            enemy_groups=(SpawnGroup((("zergling", 24),), (27.91, 28.24)),),
            attack_point=(4.47, 4.33),
            terrain="CORRIDOR",
            difficulty="Super Hard",
        ),
        MapSpec(
            name="2s_vs_1sc",
            map_type="stalkers",
            episode_limit=300,
            ally_race="P",
            enemy_race="Z",
            ally_groups=(SpawnGroup(((s, 1),), (11.12, 10.34)), SpawnGroup(((s, 1),), (16.98, 10.37))),
            enemy_groups=(SpawnGroup((("spine_crawler", 1),), (13.92, 20.04)),),
            attack_point=(13.92, 20.04),
            terrain="PENTAGON",
            difficulty="Easy",
        ),
        MapSpec(
            name="bane_vs_bane",
            map_type="bane",
            episode_limit=200,
            ally_race="Z",
            enemy_race="Z",
            ally_groups=(SpawnGroup((("zergling", 20),), (16.0, 11.0), cols=10), SpawnGroup((("baneling", 4),), (16.0, 8.0))),
            enemy_groups=(
                SpawnGroup((("zergling", 20),), (16.0, 21.0), cols=10),
                SpawnGroup((("baneling", 4),), (16.0, 24.0)),
            ),
            unit_type_bits=2,
            attack_point=(16.0, 8.0),
            terrain="OCTAGON",
            difficulty="Hard",
        ),
        MapSpec(
            name="2c_vs_64zg",
            map_type="colossus",
            episode_limit=400,
            ally_race="P",
            enemy_race="Z",
            ally_groups=(SpawnGroup((("colossus", 2),), (16.0, 16.0)),),
            enemy_groups=(SpawnGroup((("zergling", 64),), (16.0, 9.0), cols=16),),
            attack_point=(16.0, 16.0),
            terrain="RAVINE",
            difficulty="Hard",
        ),
    ]
    return maps


for _spec in _builtin_maps():
    register_map(_spec, override=True)
