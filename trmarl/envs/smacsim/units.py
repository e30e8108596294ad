"""SMACSim unit types: one dataclass row per unit, all numbers on one time base.

Time base: one SMAC agent step is ``step_mul=8`` game loops at 22.4 loops per second ("Faster" game speed), i.e.
8 / 22.4 = 0.357 s. Durations below are Faster-speed seconds and rates are per Faster second; the engine converts
them to game loops (``x * 22.4`` loops, ``rate / 22.4`` per loop).

The numbers come from SC2 Legacy of the Void (Liquipedia) and SMAClite, as collected in ``shared/specs/smacsim.md``
§10.1. They are *SMACSim's* numbers: close to StarCraft II, but not StarCraft II (no acceleration, no turning, no
pathing around units, no upgrades).

Example:
    >>> from trmarl.envs.smacsim.units import UNIT_TYPES
    >>> UNIT_TYPES["marine"].hp
    45.0
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = [
    "ARMORED",
    "BIO",
    "LIGHT",
    "MASSIVE",
    "MECH",
    "STRUCTURE",
    "UNIT_KINDS",
    "UNIT_TYPES",
    "UNIT_TYPE_NAMES",
    "UnitType",
    "attribute_mask",
]

# attribute bits
LIGHT, ARMORED, BIO, MECH, MASSIVE, STRUCTURE = 1, 2, 4, 8, 16, 32
_ATTR_BITS = {"light": LIGHT, "armored": ARMORED, "bio": BIO, "mech": MECH, "massive": MASSIVE, "structure": STRUCTURE}

#: Weapon kinds: an ordinary weapon, a healer (medivac), a suicide splash (baneling), a line splash (colossus).
UNIT_KINDS = ("weapon", "healer", "baneling", "colossus")


def attribute_mask(names: tuple[str, ...] | list[str]) -> int:
    """Bit mask of attribute names (``"light"``, ``"armored"``, ``"bio"``, ``"mech"``, ``"massive"``, ``"structure"``)."""
    mask = 0
    for name in names:
        try:
            mask |= _ATTR_BITS[name]
        except KeyError as exc:
            raise ValueError(f"unknown unit attribute {name!r}; known: {sorted(_ATTR_BITS)}") from exc
    return mask


@dataclass(frozen=True)
class UnitType:
    """One unit type (Faster-speed seconds).

    Attributes:
        name: Lower-case SC2 name (``"marine"``); agent names are ``f"{name}_{i}"``.
        race: ``"T"``, ``"P"`` or ``"Z"``; Protoss units have shields, Zerg units regenerate health.
        hp: Maximum health.
        shield: Maximum shields (Protoss).
        armor: Health armour (shield armour is 0).
        damage: Damage per attack.
        attacks: Attacks per shot (zealot 2, colossus 2).
        bonus: Extra damage per attack against units with ``bonus_vs`` attributes.
        bonus_vs: Attributes the bonus applies to.
        cooldown: Seconds between shots.
        range: Weapon range (edge to edge: fire when centre distance ``<= range + r_self + r_target``).
        speed: Movement speed per second.
        radius: Collision radius.
        sight: Sight range (used with ``unit_ranges=True`` and as the enemy AI's chase leash).
        attributes: SC2 attributes (``"light"``, ``"armored"``, ``"bio"``, ``"mech"``, ``"massive"``, ``"structure"``).
        air: Flying unit (ignores ground collisions; only ``hits_air`` units can shoot it).
        hits_ground: The weapon hits ground units.
        hits_air: The weapon hits air units.
        kind: One of :data:`UNIT_KINDS`.
        max_cd: SMAC's state normaliser for the cooldown (medivac: energy) feature.
        scan_range: Enemy AI acquisition range (SMAClite ``minimum_scan_range`` 5, spine crawler 10).
        energy_max: Maximum energy (medivac).
        energy_start: Energy at spawn.
        energy_regen: Energy per second.
        heal_rate: Health healed per second (medivac).
        heal_energy_per_hp: Energy spent per healed hit point.
        heal_min_energy: Energy needed to start healing.
        splash_radius: Baneling: explosion radius (plus the target's radius).
        splash_width: Colossus: width of the line splash rectangle (perpendicular to the shot).
        splash_depth: Colossus: depth of the line splash rectangle (along the shot).
        regen: Zerg health regeneration per second.
    """

    name: str
    race: str
    hp: float
    shield: float
    armor: float
    damage: float
    attacks: int
    bonus: float
    bonus_vs: tuple[str, ...]
    cooldown: float
    range: float
    speed: float
    radius: float
    sight: float
    attributes: tuple[str, ...]
    air: bool = False
    hits_ground: bool = True
    hits_air: bool = False
    kind: str = "weapon"
    max_cd: float = 15.0
    scan_range: float = 5.0
    energy_max: float = 0.0
    energy_start: float = 0.0
    energy_regen: float = 0.0
    heal_rate: float = 0.0
    heal_energy_per_hp: float = 0.0
    heal_min_energy: float = 0.0
    splash_radius: float = 0.0
    splash_width: float = 0.0
    splash_depth: float = 0.0
    regen: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.type == "float":  # accept ints in the table, store floats
                object.__setattr__(self, f.name, float(getattr(self, f.name)))
        if self.kind not in UNIT_KINDS:
            raise ValueError(f"unit {self.name!r}: kind must be one of {UNIT_KINDS}, got {self.kind!r}")
        if self.race not in ("T", "P", "Z"):
            raise ValueError(f"unit {self.name!r}: race must be 'T', 'P' or 'Z', got {self.race!r}")
        attribute_mask(self.attributes)
        attribute_mask(self.bonus_vs)

    @property
    def attribute_bits(self) -> int:
        """The attributes as a bit mask."""
        return attribute_mask(self.attributes)

    @property
    def bonus_bits(self) -> int:
        """The bonus-damage attributes as a bit mask."""
        return attribute_mask(self.bonus_vs)


_ZERG_REGEN = 0.38  # hp per Faster second (SMAClite 0.27 per game second)

#: The built-in unit table (spec §10.1).
UNIT_TYPES: dict[str, UnitType] = {
    u.name: u
    for u in (
        UnitType("marine", "T", 45, 0, 0, 6, 1, 0, (), 0.61, 5, 3.15, 0.375, 9, ("light", "bio"), hits_air=True, max_cd=15),
        UnitType(
            "marauder", "T", 125, 0, 1, 10, 1, 10, ("armored",), 1.07, 6, 3.15, 0.5625, 10, ("armored", "bio"), max_cd=25
        ),
        UnitType(
            "medivac",
            "T",
            150,
            0,
            1,
            0,
            0,
            0,
            (),
            0.0,
            4,
            3.5,
            0.75,
            11,
            ("armored", "mech"),
            air=True,
            hits_ground=False,
            kind="healer",
            max_cd=200,
            scan_range=11,
            energy_max=200,
            energy_start=50,
            energy_regen=0.7875,
            heal_rate=12.6,
            heal_energy_per_hp=1.0 / 3.0,
            heal_min_energy=5,
        ),
        UnitType(
            "stalker",
            "P",
            80,
            80,
            1,
            13,
            1,
            5,
            ("armored",),
            1.34,
            6,
            4.13,
            0.625,
            10,
            ("armored", "mech"),
            hits_air=True,
            max_cd=35,
        ),
        UnitType("zealot", "P", 100, 50, 1, 8, 2, 0, (), 0.86, 0.1, 3.15, 0.5, 9, ("light", "bio"), max_cd=22),
        UnitType(
            "colossus",
            "P",
            200,
            150,
            1,
            10,
            2,
            5,
            ("light",),
            1.07,
            7,
            3.15,
            1.0,
            10,
            ("armored", "mech", "massive"),
            kind="colossus",
            max_cd=24,
            splash_width=2.8,
            splash_depth=0.3,
        ),
        UnitType(
            "hydralisk",
            "Z",
            90,
            0,
            0,
            12,
            1,
            0,
            (),
            0.59,
            5,
            3.15,
            0.625,
            9,
            ("light", "bio"),
            hits_air=True,
            max_cd=10,
            regen=_ZERG_REGEN,
        ),
        UnitType(
            "zergling", "Z", 35, 0, 0, 5, 1, 0, (), 0.497, 0.1, 4.13, 0.375, 8, ("light", "bio"), max_cd=11, regen=_ZERG_REGEN
        ),
        UnitType(
            "baneling",
            "Z",
            30,
            0,
            0,
            16,
            1,
            19,
            ("light",),
            0.0,
            0.25,
            3.5,
            0.375,
            8,
            ("bio",),
            kind="baneling",
            max_cd=1,
            splash_radius=2.2,
            regen=_ZERG_REGEN,
        ),
        UnitType(
            "spine_crawler",
            "Z",
            300,
            0,
            2,
            25,
            1,
            5,
            ("armored",),
            1.32,
            7,
            0.0,
            0.5,
            11,
            ("armored", "bio", "structure"),
            max_cd=15,
            scan_range=10,
            regen=_ZERG_REGEN,
        ),
    )
}

#: Global type codes used by the engine: index in this tuple.
UNIT_TYPE_NAMES: tuple[str, ...] = tuple(UNIT_TYPES)
