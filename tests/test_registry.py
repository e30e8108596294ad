"""The env registry: ids, lazy entry points, close-match errors, PettingZoo mirroring."""

from __future__ import annotations

import subprocess
import sys

import pettingzoo
import pytest

import trmarl
from trmarl.envs import catalog, registry


def test_builtin_ids_listed():
    ids = trmarl.list_envs()
    assert "MaMuJoCo-HalfCheetah-2x3" in ids and "MaMuJoCo-Humanoid-9x8" in ids
    assert len(trmarl.list_envs("smacsim")) == len(catalog.SMAC_MAPS) == 23
    assert {"MatrixGame-QTRAN", "GaussianSqueeze", "PredatorPrey-5x5", "PredatorPrey-7x7"} <= set(trmarl.list_envs("toy"))
    assert all("|" not in i for i in ids)


def test_unknown_id_lists_close_matches():
    with pytest.raises(KeyError, match="Did you mean: SMACSim-3m"):
        trmarl.make("SMACSim-3mm")
    with pytest.raises(KeyError, match="list_envs"):
        trmarl.make("zzzzzzzzzz")


def test_register_validation():
    with pytest.raises(ValueError, match="invalid env id"):
        trmarl.register("bad id!", "x:y")
    with pytest.raises(ValueError, match="module:attr"):
        trmarl.register("Good-Id", "nocolon")
    trmarl.register("TestCounter-v1", "tests.dummy_envs:CounterEnv", {"max_steps": 3}, override=True)
    with pytest.raises(ValueError, match="already registered"):
        trmarl.register("TestCounter-v1", "tests.dummy_envs:CounterEnv")
    env = trmarl.make("TestCounter-v1", max_steps=9)
    assert env.max_steps == 9
    with pytest.raises(TypeError, match="TestCounter-v1"):
        trmarl.make("TestCounter-v1", not_a_kwarg=1)


def test_bad_entry_point_message():
    trmarl.register("TestBroken-v0", "tests.dummy_envs:NoSuchEnv", override=True)
    with pytest.raises(ImportError, match="no attribute 'NoSuchEnv'"):
        trmarl.make("TestBroken-v0")


def test_pettingzoo_registry_mirrors_ids():
    trmarl.register("TestCounter-v2", "tests.dummy_envs:CounterEnv", {"max_steps": 4}, override=True)
    env = pettingzoo.make("parallel", "TestCounter-v2")
    assert env.max_steps == 4
    assert "MaMuJoCo-HalfCheetah-2x3" in pettingzoo.parallel_registry


def test_import_is_light():
    code = "import sys, trmarl; trmarl.list_envs(); bad = [m for m in ('torch', 'mujoco', 'gymnasium_robotics') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"import trmarl pulled in heavy modules: {out}"


def test_spec_object():
    s = registry.spec("MaMuJoCo-Humanoid-9x8")
    assert s.kwargs == {"scenario": "Humanoid", "agent_conf": "9|8"} and s.family == "mamujoco"
