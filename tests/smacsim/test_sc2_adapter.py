"""The SMAC-<map> adapter, tested with SMACSim's StarCraft2Env as a stand-in for oxwhirl's SMAC."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import trmarl
from trmarl.envs.sc2 import SMACParallelEnv, StarCraftIINotAvailableError
from trmarl.envs.smacsim import StarCraft2Env
from trmarl.envs.testing import check_env


def test_adapter_passes_api_test() -> None:
    check_env(lambda: SMACParallelEnv.from_smac_env(StarCraft2Env("2s3z")), num_cycles=60)


def test_adapter_matches_smacsim_parallel_env() -> None:
    ours = trmarl.make("SMACSim-3m")
    adapted = SMACParallelEnv("3m", _env=StarCraft2Env("3m"))
    assert adapted.possible_agents == ours.possible_agents == ["marine_0", "marine_1", "marine_2"]
    rng = np.random.default_rng(0)
    for episode in range(3):
        oa, _ = ours.reset(seed=episode)
        ob, _ = adapted.reset(seed=episode)
        while ours.agents:
            for a in ours.possible_agents:
                assert np.array_equal(oa[a]["observation"], ob[a]["observation"])
                assert np.array_equal(oa[a]["action_mask"], ob[a]["action_mask"])
            actions = {a: int(rng.choice(np.flatnonzero(oa[a]["action_mask"]))) for a in ours.agents}
            oa, ra, ta, ua, ia = ours.step(actions)
            ob, rb, tb, ub, ib = adapted.step(actions)
            assert ra == rb and ta == tb and ua == ub
            for a in ours.possible_agents:
                for key in ("battle_won", "dead_allies", "dead_enemies", "active"):
                    assert ia[a][key] == ib[a][key]
            assert np.array_equal(ours.state(), adapted.state())
        assert adapted.agents == []


def test_adapter_timeout_is_truncation() -> None:
    adapted = SMACParallelEnv.from_smac_env(StarCraft2Env("3m", enemy_ai="passive"))
    adapted.reset(seed=0)
    for _ in range(60):
        _, _, terms, truncs, _ = adapted.step(dict.fromkeys(adapted.agents, 1))
    assert all(truncs.values()) and not any(terms.values())


def test_missing_smac_names_smacsim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "smac", None)
    monkeypatch.setitem(sys.modules, "smac.env", None)
    with pytest.raises(StarCraftIINotAvailableError, match="SMACSim-3m"):
        trmarl.make("SMAC-3m")
    with pytest.raises(ImportError, match="smac"):
        SMACParallelEnv("MMM2")
