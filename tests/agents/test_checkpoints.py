"""Checkpoints: exact round trips, exact resumption, and safe, clear failures on bad files."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import trmarl
from trmarl import HAPPO, HATRPO, IPPO, MAPPO
from trmarl.common.serialization import CheckpointError

from .conftest import TINY, TINY_PPO
from .coop_envs import CoordinationEnv, ReachEnv


def _state(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model._model_tensors().items()}


@pytest.mark.parametrize(("algo", "kwargs"), [(HAPPO, TINY_PPO), (HATRPO, TINY), (MAPPO, TINY_PPO), (IPPO, TINY_PPO)])
def test_round_trip_gives_identical_actions(tmp_path: Path, algo: type, kwargs: dict[str, Any]) -> None:
    model = algo(ReachEnv, n_envs=2, seed=0, verbose=0, **kwargs).learn(32)
    path = model.save(tmp_path / "model")
    assert path.name == "model.zip" and path.exists()
    obs = np.random.default_rng(0).normal(size=(5, 2, 2)).astype(np.float32)
    for loaded in (algo.load(path), trmarl.load(path)):
        assert type(loaded) is algo and loaded.num_timesteps == model.num_timesteps
        a, _ = model.predict(obs, deterministic=True)
        b, _ = loaded.predict(obs, deterministic=True)
        np.testing.assert_array_equal(a, b)
        for k, v in _state(model).items():
            assert torch.equal(v, _state(loaded)[k]), k
        # stochastic actions come from the saved sampling stream
        model_copy = algo.load(path)
        np.testing.assert_array_equal(loaded.predict(obs)[0], model_copy.predict(obs)[0])


def test_checkpoint_contains_no_pickle(tmp_path: Path) -> None:
    path = HAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO).learn(32).save(tmp_path / "m.zip")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["config.json", "model.safetensors", "optimizer.json", "optimizer.safetensors"]
        config = json.loads(zf.read("config.json"))
    assert config["algorithm"] == "HAPPO" and config["hyperparameters"]["hidden_sizes"] == [16, 16]
    assert config["counters"]["num_timesteps"] == 32 and config["spaces"]["agents"] == ["agent_0", "agent_1"]
    assert {"numpy", "torch_sampling", "torch_global"} <= set(config["rng"])


@pytest.mark.parametrize(
    ("algo", "kwargs"), [(HAPPO, TINY_PPO), (HATRPO, TINY), (MAPPO, {**TINY_PPO, "recurrent": True, "data_chunk_length": 4})]
)
def test_learn_save_load_learn_equals_an_uninterrupted_run(tmp_path: Path, algo: type, kwargs: dict[str, Any]) -> None:
    common = {"n_envs": 2, "seed": 7, "verbose": 0, **kwargs}
    env = ReachEnv if algo is not MAPPO else CoordinationEnv
    straight = algo(env, **common).learn(64)
    straight.learn(64, reset_num_timesteps=False)

    first = algo(env, **common).learn(64)
    path = first.save(tmp_path / "mid")
    resumed = algo.load(path, env=env)
    resumed.learn(64, reset_num_timesteps=False)

    assert resumed.num_timesteps == straight.num_timesteps == 128
    for k, v in _state(straight).items():
        assert torch.equal(v, _state(resumed)[k]), k
    for name, opt in straight._optimizers().items():
        other = resumed._optimizers()[name].state_dict()["state"]
        for pid, entries in opt.state_dict()["state"].items():
            for key, value in entries.items():
                assert torch.equal(value, other[pid][key]), (name, pid, key)
    assert [e["r"] for e in straight.ep_info_buffer] == [e["r"] for e in resumed.ep_info_buffer]


def test_load_without_env_rebuilds_the_registered_env(tmp_path: Path) -> None:
    model = HAPPO("MatrixGame-QTRAN", n_envs=2, seed=0, verbose=0, **TINY_PPO).learn(32)
    loaded = HAPPO.load(model.save(tmp_path / "m"))
    assert loaded.env is None and loaded.env_id == "MatrixGame-QTRAN"
    loaded.learn(32, reset_num_timesteps=False)
    assert loaded.num_timesteps == 64 and loaded.env is not None and loaded.env.num_envs == 2


def _rewrite(path: Path, out: Path, replace: dict[str, bytes], fix_checksums: bool = False) -> Path:
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members.update(replace)
    if fix_checksums:
        import hashlib

        config = json.loads(members["config.json"])
        for name in config["checksums"]:
            config["checksums"][name] = hashlib.sha256(members[name]).hexdigest()
        members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


class _Exploit:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.target}",))


def test_a_pickle_payload_is_never_executed(tmp_path: Path) -> None:
    path = HAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO).save(tmp_path / "ok.zip")
    sentinel = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(str(sentinel)))
    # an extra pickle member is ignored; a pickle in place of the weights is rejected (checksum, then safetensors)
    extra = _rewrite(path, tmp_path / "extra.zip", {"data.pkl": payload, "model.pkl": payload})
    HAPPO.load(extra)
    with pytest.raises(CheckpointError, match="checksum"):
        HAPPO.load(_rewrite(path, tmp_path / "swap.zip", {"model.safetensors": payload}))
    with pytest.raises(CheckpointError, match="decode"):
        HAPPO.load(_rewrite(path, tmp_path / "swap2.zip", {"model.safetensors": payload}, fix_checksums=True))
    with pytest.raises(CheckpointError):
        HAPPO.load(_rewrite(path, tmp_path / "swap3.zip", {"optimizer.json": payload}, fix_checksums=True))
    assert not sentinel.exists()


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    model = HAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO)
    path = model.save(tmp_path / "happo.zip")
    with pytest.raises(FileNotFoundError):
        HAPPO.load(tmp_path / "missing.zip")
    data = path.read_bytes()
    (tmp_path / "trunc.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        HAPPO.load(tmp_path / "trunc.zip")
    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError):
        trmarl.load(tmp_path / "junk.zip")
    # flip one byte inside the stored weights (the zip is stored uncompressed by _rewrite, so it stays a valid zip)
    with zipfile.ZipFile(path) as zf:
        weights = bytearray(zf.read("model.safetensors"))
    weights[-1] ^= 0xFF
    with pytest.raises(CheckpointError, match="checksum"):
        HAPPO.load(_rewrite(path, tmp_path / "tampered.zip", {"model.safetensors": bytes(weights)}))
    with pytest.raises(CheckpointError, match="holds a HAPPO model, not MAPPO"):
        MAPPO.load(path)
    with pytest.raises(CheckpointError, match="does not match"):
        HAPPO.load(path, env=lambda: ReachEnv(n_agents=3))
    with pytest.raises(CheckpointError, match="does not match"):
        HAPPO.load(path, env=CoordinationEnv)


def test_save_is_atomic_and_overwrites(tmp_path: Path) -> None:
    model = HAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO)
    path = model.save(tmp_path / "m.zip")
    model.learn(32)
    model.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.zip"]  # no temp files left behind
    assert HAPPO.load(path).num_timesteps == 32


def test_get_and_set_parameters(tmp_path: Path) -> None:
    a = HAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO).learn(32)
    b = HAPPO(ReachEnv, n_envs=2, seed=1, verbose=0, **TINY_PPO)
    b.set_parameters(a.get_parameters())
    obs = np.zeros((1, 2, 2), np.float32)
    np.testing.assert_array_equal(a.predict(obs, deterministic=True)[0], b.predict(obs, deterministic=True)[0])
    c = HAPPO(ReachEnv, n_envs=2, seed=2, verbose=0, **TINY_PPO)
    c.set_parameters(a.save(tmp_path / "a"))
    np.testing.assert_array_equal(a.predict(obs, deterministic=True)[0], c.predict(obs, deterministic=True)[0])
    with pytest.raises(ValueError, match="unknown parameter groups"):
        c.set_parameters({"policy": {}})


def test_optimizer_state_keeps_the_loading_optimizers_implementation() -> None:
    """A checkpoint written by a foreach Adam loads into a fused one (and back) without changing how it computes, and
    the moments carry over: both then take the same step up to float rounding."""
    from trmarl.common.optim import make_adam
    from trmarl.common.serialization import optimizer_state_from_tensors, optimizer_state_to_tensors

    def net() -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))

    def step(model: torch.nn.Module, opt: torch.optim.Optimizer, seed: int) -> None:
        x = torch.randn(16, 4, generator=torch.Generator().manual_seed(seed))
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()

    a = net()
    foreach = torch.optim.Adam(a.parameters(), lr=1e-2, eps=1e-6, foreach=True)
    for seed in range(3):
        step(a, foreach, seed)
    tensors, meta = optimizer_state_to_tensors("opt", foreach)
    tensors = {k: v.clone() for k, v in tensors.items()}  # as read from a file (not shared with foreach's state)
    b = net()
    b.load_state_dict(a.state_dict())
    fused = make_adam(b.parameters(), lr=1e-2, eps=1e-6)
    assert fused.param_groups[0]["fused"] is True  # torch has the fused kernel on CPU
    optimizer_state_from_tensors("opt", fused, tensors, meta)
    assert fused.param_groups[0]["fused"] is True and not fused.param_groups[0]["foreach"]
    assert fused.param_groups[0]["eps"] == 1e-6 and fused.state_dict()["state"][0]["step"].item() == 3
    step(a, foreach, 3)
    step(b, fused, 3)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
    back = torch.optim.Adam(net().parameters(), lr=1e-2, foreach=True)
    optimizer_state_from_tensors("opt", back, *optimizer_state_to_tensors("opt", fused))
    assert back.param_groups[0]["foreach"] is True and not back.param_groups[0]["fused"]
