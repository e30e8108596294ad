"""The SB3-shaped surface: construction, predict, learn, callbacks, logging, evaluation, seeding, bad input."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.logger import configure

import trmarl
from trmarl import HAPPO, HATRPO, MAPPO, evaluate_policy
from trmarl.common.callbacks import EvalCallback
from trmarl.envs.vec_env import make_vec_env

from .conftest import TINY, TINY_PPO
from .coop_envs import CoordinationEnv, ReachEnv


def _weights(model: Any) -> list[torch.Tensor]:
    return [t.clone() for t in model._model_tensors().values()]


# -- construction -------------------------------------------------------------------------------------------------
def test_env_forms() -> None:
    by_factory = HAPPO(ReachEnv, n_envs=3, verbose=0, **TINY_PPO)
    assert by_factory.env is not None and by_factory.env.num_envs == 3
    by_instance = HAPPO(ReachEnv(), verbose=0, **TINY_PPO)
    assert by_instance.n_envs == 1
    vec = make_vec_env(ReachEnv, 2)
    by_vec = HAPPO(vec, verbose=0, **TINY_PPO)
    assert by_vec.get_env() is vec and by_vec.n_envs == 2
    by_id = MAPPO("MatrixGame-QTRAN", n_envs=2, verbose=0, **TINY_PPO)
    assert by_id.env_id == "MatrixGame-QTRAN" and by_id.spaces.discrete
    assert HAPPO(ReachEnv, verbose=0).n_envs == 20  # HARL's 20 rollout threads


def test_defaults_follow_harl_halfcheetah() -> None:
    cfg = HAPPO(ReachEnv(), verbose=0).config
    assert cfg.hidden_sizes == (128, 128, 128) and cfg.n_steps == 200 and cfg.learning_rate == 5e-4
    assert cfg.clip_range == 0.05 and cfg.n_epochs == 15 and cfg.critic_epochs == 15 and cfg.ent_coef == 0.01
    assert not cfg.share_param and not cfg.fixed_order and cfg.use_value_norm and cfg.huber_delta == 10.0
    m = MAPPO(ReachEnv(), verbose=0).config
    assert m.share_param and m.fixed_order
    t = HATRPO(ReachEnv(), verbose=0).config
    assert t.kl_threshold == 0.01 and t.clip_range == 0.2 and t.critic_epochs == 5 and t.backtrack_coeff == 0.8


def test_bad_constructor_input() -> None:
    with pytest.raises(TypeError, match="did you mean 'learning_rate'"):
        HAPPO(ReachEnv, lerning_rate=1e-3)
    with pytest.raises(TypeError, match="unexpected hyperparameter 'kl_threshold'"):
        HAPPO(ReachEnv, kl_threshold=0.1)  # a HATRPO field
    with pytest.raises(ValueError, match="n_steps"):
        HAPPO(ReachEnv, n_steps=0)
    with pytest.raises(ValueError, match="n_envs"):
        HAPPO(ReachEnv, n_envs=0)
    with pytest.raises(ValueError, match="seed"):
        HAPPO(ReachEnv, seed=-1)
    with pytest.raises(TypeError, match="env must be"):
        HAPPO(42)
    with pytest.raises(KeyError, match="Did you mean"):
        HAPPO("MaMuJoCo-HalfCheeta-2x3")
    with pytest.raises(ValueError, match="ParallelEnv instance is one env"):
        HAPPO(ReachEnv(), n_envs=4)
    with pytest.raises(ValueError, match="multiple of data_chunk_length"):
        HAPPO(ReachEnv, recurrent=True, n_steps=15, data_chunk_length=10)


# -- predict ------------------------------------------------------------------------------------------------------
def test_predict_forms_and_errors() -> None:
    model = HAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO)
    acts, state = model.predict({"agent_0": np.array([0.5, 0.0]), "agent_1": np.array([-0.5, 0.0])}, deterministic=True)
    assert set(acts) == {"agent_0", "agent_1"} and acts["agent_0"].shape == (1,) and state is None
    single, _ = model.predict(np.zeros((2, 2), np.float32))
    assert single.shape == (2, 1)
    batch, _ = model.predict(np.zeros((4, 2, 2), np.float32))
    assert batch.shape == (4, 2, 1) and batch.dtype == np.float32
    # deterministic predictions on the same input agree; dict and array forms agree
    obs = np.array([[[0.5, 0.0], [-0.5, 0.0]]], np.float32)
    a, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a[0, 0], acts["agent_0"])
    with pytest.raises(ValueError, match="obs must be"):
        model.predict(np.zeros((4, 3, 2)))
    with pytest.raises(KeyError, match="unknown agent"):
        model.predict({"agent_9": np.zeros(2)})
    with pytest.raises(ValueError, match="expects 2"):
        model.predict({"agent_0": np.zeros(5)})
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((1, 2, 2), np.nan))


def test_predict_respects_action_masks() -> None:
    model = MAPPO(CoordinationEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO)
    obs = np.tile(np.eye(3, dtype=np.float32)[0], (50, 2, 1))
    mask = np.zeros((50, 2, 4), bool)
    mask[..., 2] = True
    acts, _ = model.predict(obs, action_mask=mask)
    assert (acts == 2).all() and acts.dtype == np.int64
    d, _ = model.predict({"agent_1": {"observation": np.eye(3)[0], "action_mask": np.array([0, 1, 0, 0])}})
    assert d == {"agent_1": 1}
    with pytest.raises(ValueError, match="no available action"):
        model.predict(obs, action_mask=np.zeros((50, 2, 4), bool))


# -- learn --------------------------------------------------------------------------------------------------------
def test_learn_arguments() -> None:
    model = HAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO)
    assert model.learn(3.2e1) is model and model.num_timesteps == 32
    model.learn(32, reset_num_timesteps=False)
    assert model.num_timesteps == 64
    model.learn(32)
    assert model.num_timesteps == 32
    for bad in (-1, 0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="total_timesteps"):
            model.learn(bad)
    with pytest.raises(TypeError, match="total_timesteps"):
        model.learn("100")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log_interval"):
        model.learn(32, log_interval=0)
    with pytest.raises(TypeError, match="callback"):
        model.learn(32, callback=123)


def test_seeding_is_deterministic() -> None:
    def run(seed: int) -> list[torch.Tensor]:
        return _weights(HAPPO(ReachEnv, n_envs=2, seed=seed, verbose=0, **TINY_PPO).learn(64))

    a, b, c = run(5), run(5), run(6)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert any(not torch.equal(x, y) for x, y in zip(a, c))


def test_set_env_checks_the_layout() -> None:
    model = HAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO)
    model.set_env(make_vec_env(ReachEnv, 3))
    model.learn(48)
    assert model.buffer.n_envs == 3 and model.num_timesteps == 48
    with pytest.raises(ValueError, match="does not match"):
        model.set_env(CoordinationEnv)


# -- callbacks and logging ----------------------------------------------------------------------------------------
class _Recorder(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.seen_keys: set[str] = set()

    def _on_training_start(self) -> None:
        self.events.append("start")

    def _on_rollout_start(self) -> None:
        self.events.append("rollout_start")

    def _on_step(self) -> bool:
        self.seen_keys |= set(self.locals)
        return self.n_calls < 20  # stop after 20 vec steps

    def _on_rollout_end(self) -> None:
        self.events.append("rollout_end")

    def _on_training_end(self) -> None:
        self.events.append("end")


def test_sb3_callbacks(tmp_path: Path) -> None:
    model = HAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO)
    rec = _Recorder()
    ckpt = CheckpointCallback(save_freq=16, save_path=str(tmp_path), name_prefix="happo")
    model.learn(10_000, callback=CallbackList([rec, ckpt]))
    assert model.num_timesteps == 40  # stopped by the recorder after 20 steps of 2 envs
    assert rec.events[:3] == ["start", "rollout_start", "rollout_end"] and rec.events[-1] == "end"
    assert {"dones", "infos", "rewards", "actions", "new_obs", "total_timesteps"} <= rec.seen_keys
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == ["happo_32_steps.zip"]
    assert HAPPO.load(tmp_path / saved[0]).num_timesteps == 32
    # StopTrainingOnMaxEpisodes reads locals["dones"]
    model.learn(10_000, callback=StopTrainingOnMaxEpisodes(max_episodes=1))
    assert model.num_timesteps == 40  # one 20-step episode per env
    # a plain function works as in SB3
    calls: list[int] = []
    model.learn(32, callback=lambda loc, glob: calls.append(1) is None)
    assert len(calls) == 16


def test_eval_callback_and_reward_threshold(tmp_path: Path) -> None:
    model = HAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO)
    stop = StopTrainingOnRewardThreshold(reward_threshold=-1e9, verbose=0)
    evaluator = EvalCallback(
        ReachEnv, callback_on_new_best=stop, n_eval_episodes=2, eval_freq=8, log_path=str(tmp_path),
        best_model_save_path=str(tmp_path), verbose=0,
    )  # fmt: skip
    model.learn(10_000, callback=evaluator)
    assert model.num_timesteps == 16  # stopped at the first evaluation
    assert np.isfinite(evaluator.best_mean_reward) and (tmp_path / "best_model.zip").exists()
    assert (tmp_path / "evaluations.npz").exists()


def test_logger_writes_the_documented_keys(tmp_path: Path) -> None:
    model = HAPPO(CoordinationEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(64)
    with open(tmp_path / "progress.csv") as fh:
        keys = set(next(csv.reader(fh)))
    expected = {
        "rollout/ep_rew_mean", "rollout/ep_len_mean", "rollout/win_rate", "time/fps", "train/policy_loss",
        "train/value_loss", "train/approx_kl", "train/clip_fraction", "train/entropy", "train/explained_variance",
        "train/agent_0/policy_loss", "train/agent_1/approx_kl",
    }  # fmt: skip
    assert expected <= keys, expected - keys


def test_tensorboard_and_progress_bar(tmp_path: Path) -> None:
    model = HAPPO(ReachEnv, n_envs=2, seed=0, verbose=0, tensorboard_log=str(tmp_path), **TINY_PPO)
    model.learn(32, progress_bar=True)
    assert any(p.name.startswith("HAPPO_") for p in tmp_path.iterdir())


def test_evaluate_policy() -> None:
    model = MAPPO(CoordinationEnv, n_envs=2, seed=0, verbose=0, **TINY_PPO)
    result = evaluate_policy(model, CoordinationEnv, n_eval_episodes=5)
    mean, std = result
    assert len(result.episode_rewards) == 5 and result.win_rate is not None and 0.0 <= result.win_rate <= 1.0
    assert mean == pytest.approx(np.mean(result.episode_rewards)) and std >= 0
    rewards, lengths = evaluate_policy(model, make_vec_env(CoordinationEnv, 3), n_eval_episodes=4, return_episode_rewards=True)
    assert len(rewards) == 4 and lengths == [8, 8, 8, 8]
    assert evaluate_policy(HAPPO(ReachEnv, verbose=0, **TINY), ReachEnv(), 2).win_rate is None
    assert trmarl.evaluate_policy is evaluate_policy
    with pytest.raises(ValueError):
        evaluate_policy(model, CoordinationEnv, n_eval_episodes=0)
