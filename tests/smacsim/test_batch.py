"""The batched engine equals the single-env path step for step; the native vec env equals the sync one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import trmarl
from trmarl.envs.smacsim.env import SMACCore

_FIELDS = ("pos", "hp", "shield", "energy", "cooldown", "alive", "order", "otarget", "rng")


@pytest.mark.parametrize("map_name", ["3m", "MMM2", "corridor", "bane_vs_bane"])
def test_batch_equals_single(map_name: str) -> None:
    B, seeds = 4, [11, 12, 13, 14]
    batch = SMACCore(map_name, B)
    singles = [SMACCore(map_name, 1) for _ in range(B)]
    for k, s in enumerate(seeds):
        batch.seed(k, s)
        singles[k].seed(0, s)
        singles[k].reset()
    batch.reset()
    rng = np.random.default_rng(0)
    for _ in range(60):
        actions = np.argmax(rng.random(batch.avail.shape) * batch.avail, axis=-1)
        out = batch.step(actions)
        for k, single in enumerate(singles):
            one = single.step(actions[k : k + 1])
            for name in _FIELDS:
                assert np.array_equal(getattr(batch.battle, name)[k], getattr(single.battle, name)[0]), name
            assert np.array_equal(batch.obs[k], single.obs[0]) and np.array_equal(batch.state[k], single.state[0])
            assert out["reward"][k] == one["reward"][0] and out["terminated"][k] == one["terminated"][0]
            if one["terminated"][0]:
                single.reset()
        if out["terminated"].any():
            batch.reset(out["terminated"])


def test_native_vec_env_matches_sync_backend() -> None:
    native = trmarl.make_vec_env("SMACSim-3m", n_envs=4, seed=0)
    sync = trmarl.make_vec_env("SMACSim-3m", n_envs=4, seed=0, backend="sync")
    assert type(native).__name__ == "SMACSimVecEnv"
    for name in ("agents", "n_agents", "obs_dim", "state_dim", "n_actions", "discrete"):
        assert getattr(native, name) == getattr(sync, name), name
    a, _ = native.reset()
    b, _ = sync.reset()
    rng = np.random.default_rng(0)
    episodes = 0
    for _ in range(150):
        for x, y in zip(a, b):
            assert np.array_equal(x, y)
        actions = np.argmax(rng.random(a.action_mask.shape) * a.action_mask, axis=-1)
        sa, sb = native.step(actions), sync.step(actions)
        assert np.allclose(sa.reward, sb.reward)
        assert np.array_equal(sa.terminated, sb.terminated) and np.array_equal(sa.truncated, sb.truncated)
        for ia, ib in zip(sa.infos, sb.infos):
            assert ("episode" in ia) == ("episode" in ib)
            if "episode" in ia:
                episodes += 1
                assert ia["episode"]["l"] == ib["episode"]["l"] and ia["episode"]["win"] == ib["episode"]["win"]
                assert ia["episode"]["r"] == pytest.approx(ib["episode"]["r"], abs=1e-5)
                for key in ("final_obs", "final_state", "final_action_mask", "final_active"):
                    assert np.array_equal(ia[key], ib[key]), key
        a, b = sa.obs, sb.obs
    assert episodes > 5
    native.close()
    sync.close()


def test_vec_env_attrs_and_render() -> None:
    venv = trmarl.make_vec_env("SMACSim-2s3z", n_envs=2, seed=0, env_kwargs={"render_mode": "rgb_array"})
    venv.reset()
    assert venv.get_attr("map_name") == ["2s3z", "2s3z"]
    assert venv.render().shape == (512, 512, 3)
    assert venv.env_method("state", indices=[1])[0].shape == (venv.state_dim,)
    with pytest.raises(ValueError, match="illegal action"):
        venv.step(np.zeros((2, 5), dtype=np.int64))


def test_python_fallback_matches_numba() -> None:
    """Without numba the same kernels run as Python and give the same numbers."""
    code = (
        "import json, numpy as np\n"
        "from trmarl.envs.smacsim.env import SMACCore\n"
        "c = SMACCore('2s3z', 2); c.seed(0, 5); c.seed(1, 6); c.reset(); rng = np.random.default_rng(0)\n"
        "for _ in range(6):\n"
        "    c.step(np.argmax(rng.random(c.avail.shape) * c.avail, axis=-1))\n"
        "print(json.dumps([c.battle.pos.tolist(), c.battle.hp.tolist(), c.obs.tolist(), int(c.battle.rng[0])]))\n"
    )
    results = []
    for flag in ("0", "1"):
        env = {**os.environ, "TRMARL_SMACSIM_NO_NUMBA": flag}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert results[0] == results[1]


def test_parallel_kernels_match_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    """The opt-in multi-threaded kernels (engine.PARALLEL_MIN_ENVS) give the same numbers as the serial ones."""
    from trmarl.envs.smacsim import engine

    if not engine.HAVE_NUMBA or engine.numba_threads() < 2:
        pytest.skip("needs numba and at least two threads")
    cores = []
    for threshold in (None, 1):
        monkeypatch.setattr(engine, "PARALLEL_MIN_ENVS", threshold)
        core = SMACCore("2s3z", 6)
        for k in range(6):
            core.seed(k, 100 + k)
        core.reset()
        rng = np.random.default_rng(0)
        for _ in range(30):
            out = core.step(np.argmax(rng.random(core.avail.shape) * core.avail, axis=-1))
            if out["terminated"].any():
                core.reset(out["terminated"])
        cores.append(core)
    for name in _FIELDS:
        assert np.array_equal(getattr(cores[0].battle, name), getattr(cores[1].battle, name)), name
    assert np.array_equal(cores[0].obs, cores[1].obs)
