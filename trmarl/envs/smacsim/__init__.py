"""SMACSim: a SMAC-compatible StarCraft-style combat simulator in numpy (numba where available).

SMACSim speaks SMAC's ``StarCraft2Env`` interface (observations, state, actions, reward, rules and shapes of all 23
SMAC maps) without StarCraft II. Its numbers are SMACSim numbers, not StarCraft II numbers: see ``docs/smacsim.md``.

>>> from trmarl.envs.smacsim import StarCraft2Env         # pymarl/EPyMARL drop-in
>>> import trmarl
>>> env = trmarl.make("SMACSim-3m")                       # PettingZoo ParallelEnv
>>> venv = trmarl.make_vec_env("SMACSim-3m", n_envs=64)   # one batched engine call per step

Importing this package is light: the engine (and numba) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "MAPS",
    "IllegalActionError",
    "MapSpec",
    "SMACSimParallelEnv",
    "SMACSimVecEnv",
    "SpawnGroup",
    "StarCraft2Env",
    "UNIT_TYPES",
    "UnitType",
    "get_map",
    "register_map",
]

_LAZY = {
    "StarCraft2Env": "trmarl.envs.smacsim.env",
    "IllegalActionError": "trmarl.envs.smacsim.env",
    "SMACSimParallelEnv": "trmarl.envs.smacsim.parallel",
    "SMACSimVecEnv": "trmarl.envs.smacsim.parallel",
    "MAPS": "trmarl.envs.smacsim.maps",
    "MapSpec": "trmarl.envs.smacsim.maps",
    "SpawnGroup": "trmarl.envs.smacsim.maps",
    "get_map": "trmarl.envs.smacsim.maps",
    "register_map": "trmarl.envs.smacsim.maps",
    "UNIT_TYPES": "trmarl.envs.smacsim.units",
    "UnitType": "trmarl.envs.smacsim.units",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trmarl.envs.smacsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
