"""Environments: the registry, the built-in PettingZoo environments and multi-agent vectorized envs.

Importing this package registers the built-in ids (strings only: no simulator is imported until an env is made).
"""

from __future__ import annotations

from trmarl.envs.registry import EnvSpec, list_envs, make, register, spec
from trmarl.envs.vec_env import MultiAgentVecEnv, make_vec_env

__all__ = ["EnvSpec", "MultiAgentVecEnv", "list_envs", "make", "make_vec_env", "register", "spec"]

from trmarl.envs.registry import _ensure_builtins

_ensure_builtins()
