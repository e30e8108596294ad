"""trmarl: trust-region and value-decomposition multi-agent reinforcement learning with an SB3-style API.

>>> import trmarl
>>> env = trmarl.make("MaMuJoCo-HalfCheetah-2x3")          # a PettingZoo ParallelEnv
>>> venv = trmarl.make_vec_env("SMACSim-3m", n_envs=8)      # fixed-shape multi-agent arrays

Algorithms (``HAPPO``, ``HATRPO``, ``MAPPO``, ``IPPO``, ``QMIX``, ``VDN``, ``QTRAN``, ``IQL``, ``MADDPG``, ``MATD3``) are imported
lazily on first access, so ``import trmarl`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from trmarl.envs import list_envs, make, make_vec_env, register

__version__ = "0.1.0"

_LAZY = {
    "HAPPO": "trmarl.agents.happo",
    "HATRPO": "trmarl.agents.hatrpo",
    "MAPPO": "trmarl.agents.mappo",
    "IPPO": "trmarl.agents.mappo",
    "QMIX": "trmarl.agents.qmix",
    "VDN": "trmarl.agents.qmix",
    "IQL": "trmarl.agents.qmix",
    "QTRAN": "trmarl.agents.qtran",
    "MADDPG": "trmarl.agents.maddpg",
    "MATD3": "trmarl.agents.maddpg",
    "load": "trmarl.agents.base",
    "evaluate_policy": "trmarl.common.evaluation",
    "load_pretrained": "trmarl.zoo",
}

__all__ = ["__version__", "list_envs", "make", "make_vec_env", "register", *_LAZY]


def __getattr__(name: str) -> Any:
    if name == "zoo":  # the pretrained-checkpoint package, as an attribute too: trmarl.zoo.list_pretrained()
        return importlib.import_module("trmarl.zoo")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trmarl' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise AttributeError(f"trmarl.{name} is not available yet ({exc})") from exc
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
