"""MADDPG / MATD3: end to end on MaMuJoCo, a seeded learning check that fails when the update is broken, the pieces of
the update on fixed tensors, truncation handling, checkpoints and resuming, bad input."""

from __future__ import annotations

import csv
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure

import trmarl
from tests.agents_maddpg.conftest import TINY, SumTargetEnv
from tests.dummy_envs import CounterEnv
from trmarl.agents import maddpg as maddpg_module
from trmarl.agents.maddpg import MADDPG, MATD3, MADDPGConfig, StackedMLP, smoothed_target_actions, td_targets
from trmarl.common.evaluation import evaluate_policy
from trmarl.common.replay import TransitionBatch, TransitionReplayBuffer
from trmarl.envs.vec_env import make_vec_env


def counter_env() -> CounterEnv:
    """Unequal obs (3, 2) and action (2, 1) sizes; terminates when the summed action grows, else truncates at 5."""
    return CounterEnv(max_steps=5)


def _params(model: MADDPG) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v.clone() for n, m in model._modules().items() for k, v in m.state_dict().items()}


def _batch(**fields: Any) -> TransitionBatch:
    return TransitionBatch(**{k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in fields.items()})


# --------------------------------------------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [MADDPG, MATD3])
def test_trains_end_to_end_on_mamujoco_and_logs(cls, tmp_path):
    def factory() -> Any:
        return trmarl.make("MaMuJoCo-HalfCheetah-2x3", max_episode_steps=50)

    model = cls(factory, n_envs=2, seed=0, **TINY)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(300, log_interval=10)
    assert model.num_timesteps == 300 and model._n_updates > 0
    assert len(model.replay) == 300 and not model.replay.terminated[:300].any()  # HalfCheetah only truncates
    assert len(model.ep_info_buffer) == 6  # 2 envs x 3 episodes of 50 steps
    with open(tmp_path / "progress.csv") as fh:
        row = list(csv.DictReader(fh))[-1]
    for key in ("train/actor_loss", "train/critic_loss", "train/q_mean", "rollout/noise_std", "rollout/ep_rew_mean"):
        assert row[key] != "", key
    actions, state = model.predict(model.env.reset()[0].obs)
    assert actions.shape == (2, 2, 3) and state is None and np.abs(actions).max() <= 1.0


def test_is_exported_and_matd3_is_a_preset():
    assert trmarl.MADDPG is MADDPG
    model = MATD3(SumTargetEnv, n_envs=1, **TINY)
    cfg = model.config
    assert (cfg.twin_critics, cfg.target_policy_noise, cfg.target_noise_clip, cfg.policy_delay) == (True, 0.2, 0.5, 2)
    assert model.critics.n_members == 2 * 2 and MADDPG(SumTargetEnv, n_envs=1, **TINY).critics.n_members == 2
    assert MADDPG(SumTargetEnv, n_envs=1, shared_critic=True, **TINY).critics.n_members == 1
    assert MADDPG(SumTargetEnv, n_envs=1, **TINY).config.exploration_noise == 0.1
    assert MADDPGConfig().batch_size == 1000 and MADDPGConfig().hidden_sizes == (256, 256)


# --------------------------------------------------------------------------------------------------------------
# Learning check (able to fail)
# --------------------------------------------------------------------------------------------------------------

LEARN = dict(
    TINY,
    train_freq=1,
    gradient_steps=1,
    batch_size=128,
    warmup_steps=400,
    gamma=0.5,
    learning_rate=3e-3,
    critic_learning_rate=3e-3,
    tau=0.05,
)


def _wrong_sign_targets(reward: torch.Tensor, terminated: torch.Tensor, next_q: torch.Tensor, gamma: float) -> torch.Tensor:
    return td_targets(-reward, terminated, next_q, gamma)  # the critic learns the negated return


def _zero_actor_loss(self: MADDPG, batch: TransitionBatch) -> torch.Tensor:
    return 0.0 * _CORRECT_ACTOR_LOSS(self, batch)  # no gradient reaches the actors


_CORRECT_ACTOR_LOSS = MADDPG.actor_loss


@pytest.mark.parametrize("variant", ["correct", "wrong_target_sign", "zero_actor_gradient"])
@pytest.mark.parametrize("cls", [MADDPG, MATD3])
def test_learns_to_coordinate_and_the_check_fails_when_the_update_is_broken(cls, variant, monkeypatch):
    if variant == "wrong_target_sign":
        monkeypatch.setattr(maddpg_module, "td_targets", _wrong_sign_targets)
    elif variant == "zero_actor_gradient":
        monkeypatch.setattr(MADDPG, "actor_loss", _zero_actor_loss)
    model = cls(SumTargetEnv, n_envs=4, seed=0, **LEARN)
    eval_env = make_vec_env(SumTargetEnv, 4)
    before = evaluate_policy(model, eval_env, n_eval_episodes=20, seed=123).mean_reward
    model.learn(1600 if cls is MADDPG else 2000)
    after = evaluate_policy(model, eval_env, n_eval_episodes=20, seed=123).mean_reward
    learned = after > -0.6 and after > before + 1.5  # random play: about -5.7; doing nothing: -3; best: 0
    assert learned == (variant == "correct"), (before, after)


# --------------------------------------------------------------------------------------------------------------
# Pieces of the update on fixed tensors
# --------------------------------------------------------------------------------------------------------------


def test_polyak_target_update_and_delayed_actor_updates():
    model = MADDPG(SumTargetEnv, n_envs=1, seed=0, **TINY)
    for p in model.target_actors.parameters():
        p.data.zero_()
    for p in model.target_critics.parameters():
        p.data.fill_(2.0)
    model.update_targets(0.3)
    for online, target in zip(model.actors.parameters(), model.target_actors.parameters()):
        assert torch.allclose(target, 0.3 * online)
    for online, target in zip(model.critics.parameters(), model.target_critics.parameters()):
        assert torch.allclose(target, 0.3 * online + 0.7 * 2.0)
    # in train(): every policy_delay critic updates, the actors step and the targets move by tau
    model = MATD3(SumTargetEnv, n_envs=1, seed=0, **dict(TINY, gradient_steps=1, tau=0.25)).learn(200)
    if model._n_updates % 2:
        model.train()
    assert model._n_updates % 2 == 0
    actors, t_actors, t_critics = (
        [p.clone() for p in m.parameters()] for m in (model.actors, model.target_actors, model.target_critics)
    )
    model.train()  # odd update: critic only
    assert all(torch.equal(a, b) for a, b in zip(actors, model.actors.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(t_critics, model.target_critics.parameters()))
    model.train()  # even update: actors, then the targets
    assert not all(torch.equal(a, b) for a, b in zip(actors, model.actors.parameters()))
    for old, new, online in zip(t_actors, model.target_actors.parameters(), model.actors.parameters()):
        assert torch.allclose(new, 0.25 * online + 0.75 * old, atol=1e-6)


def test_exploration_noise_schedule_and_noisy_predict():
    model = MADDPG(
        SumTargetEnv,
        n_envs=1,
        seed=0,
        exploration_noise=0.5,
        exploration_noise_final=0.1,
        exploration_noise_decay_steps=1000,
        **TINY,
    )
    for t, expected in [(0, 0.5), (250, 0.4), (500, 0.3), (1000, 0.1), (5000, 0.1)]:
        model.num_timesteps = t
        assert model.exploration_noise == pytest.approx(expected)
    assert MADDPG(SumTargetEnv, n_envs=1, **TINY).noise_schedule(10**7) == 0.1  # constant by default (HARL)
    model.num_timesteps = 0
    obs = np.zeros((4000, 2, 2), dtype=np.float32)
    mean, _ = model.predict(obs)  # deterministic by default
    again, _ = model.predict(obs, deterministic=True)
    noisy, _ = model.predict(obs, deterministic=False)
    assert np.array_equal(mean, again) and np.abs(noisy).max() <= 1.0
    assert 0.42 < float((noisy - mean).std()) < 0.52  # N(0, 0.5) with a few clipped at the bounds


def test_twin_critic_minimum_and_terminal_vs_truncated_targets():
    model = MATD3(SumTargetEnv, n_envs=1, seed=0, shared_critic=True, gamma=0.9, **TINY)
    last_w, last_b = model.target_critics.weights[-1], model.target_critics.biases[-1]
    last_w.data.zero_()
    last_b.data[0].fill_(1.0)  # twin 0: Q' = 1
    last_b.data[1].fill_(3.0)  # twin 1: Q' = 3
    batch = _batch(
        obs=np.zeros((2, 2, 2)),
        state=np.zeros((2, 2)),
        actions=np.zeros((2, 2, 1)),
        reward=[0.5, 0.5],
        next_obs=np.zeros((2, 2, 2)),
        next_state=np.zeros((2, 2)),
        terminated=[1.0, 0.0],  # a termination, then a time limit with the same next state
    )
    targets = model.critic_targets(batch)
    assert targets.shape == (1, 2)
    assert torch.allclose(targets[0], torch.tensor([0.5, 0.5 + 0.9 * 1.0]))  # min(1, 3); no bootstrap at termination
    assert torch.allclose(
        td_targets(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([[2.0], [4.0]]), 0.5), torch.tensor([[2.0], [3.0]])
    )


def test_target_policy_smoothing_is_clipped_and_stays_in_the_box():
    low, high = torch.tensor([[-3.0, 0.0]]), torch.tensor([[1.0, 10.0]])  # half ranges 2 and 5, middles -1 and 5
    half_range = (high - low) / 2
    middle = ((high + low) / 2).expand(1000, 1, 2)
    gen = torch.Generator().manual_seed(0)
    out = smoothed_target_actions(middle, 1e6, 0.5, half_range, low, high, gen)  # huge noise: always clipped
    assert torch.allclose((out - middle).abs(), (0.5 * half_range).expand(1000, 1, 2))
    small = smoothed_target_actions(middle, 0.01, 0.5, half_range, low, high, gen)
    assert (small - middle).abs().max() < 0.5 and (small != middle).all()
    at_bound = smoothed_target_actions(high.expand(1000, 1, 2), 0.3, 0.5, half_range, low, high, gen)
    assert (at_bound <= high).all() and (at_bound < high).any() and (at_bound == high).any()


def test_stacked_mlp_members_are_independent_and_ignore_padding():
    net = StackedMLP([1, 3], (8,), 2)
    assert torch.count_nonzero(net.weights[0][0, 1:]) == 0  # member 0 reads one feature
    x = torch.randn(2, 5, 3)
    x[0, :, 1:] = 0.0
    out = net(x)
    single = torch.relu(x[1] @ net.weights[0][1] + net.biases[0][1]) @ net.weights[1][1] + net.biases[1][1]
    assert torch.allclose(out[1], single, atol=1e-6)
    assert torch.allclose(net(x[1:], slice(1, 2))[0], out[1])


def test_actor_loss_gives_each_actor_only_its_own_gradient():
    model = MADDPG(counter_env, n_envs=1, seed=0, **TINY)
    obs, act = torch.randn(16, 2, 3), torch.rand(16, 2, 2) * 2 - 1
    obs[:, 1, 2] = 0.0  # agent 1's padding
    act[:, 1, 1] = 0.0
    batch = _batch(
        obs=obs,
        state=np.zeros((16, 4)),
        actions=act,
        reward=np.zeros(16),
        next_obs=obs,
        next_state=np.zeros((16, 4)),
        terminated=np.zeros(16),
    )
    model.actor_loss(batch).backward()
    full = [p.grad.clone() for p in model.actors.parameters()]
    for i in range(2):  # agent i's own loss alone moves the same slice of the stacked weights
        model.actors.zero_grad()
        critic_i = model.critics(
            model.critic_inputs(
                batch.state, torch.where(torch.arange(2).view(1, 2, 1) == i, model.actor_actions(batch.obs), batch.actions)
            ).unsqueeze(0),
            slice(i, i + 1),
        )
        (-critic_i.mean()).backward()
        for p, g in zip(model.actors.parameters(), full):
            assert torch.allclose(p.grad[i], g[i], atol=1e-6)
            assert torch.count_nonzero(p.grad[1 - i]) == 0
    assert torch.count_nonzero(full[0][1, 2:]) == 0  # padded observation inputs get no gradient


# --------------------------------------------------------------------------------------------------------------
# Replay and truncation
# --------------------------------------------------------------------------------------------------------------


def test_runner_stores_final_observations_and_keeps_time_limits_apart_from_terminations():
    model = MADDPG(SumTargetEnv, n_envs=3, seed=0, **TINY).learn(120)
    n = len(model.replay)
    assert n == 120 and not model.replay.terminated[:n].any()
    t_next, t_now = model.replay.next_state[:n, 1], model.replay.state[:n, 1]
    assert (t_next == 1.0).sum() == 30 and not (t_now == 1.0).any()  # final states, never the next episode's first
    model = MADDPG(counter_env, n_envs=2, seed=0, **TINY).learn(200)  # random warm-up: both endings occur
    term = model.replay.terminated[: len(model.replay)]
    assert term.any() and not term.all()
    assert (model.replay.next_state[: len(model.replay)][term, 2] > 2.0).all()  # terminal: accumulated action > 2


def test_transition_buffer_ring_sampling_and_state_dict():
    buf = TransitionReplayBuffer(5, 2, 3, 4, 2, seed=0)
    for k in range(4):  # 2 transitions per add: the ring wraps
        full = np.full(2, k, dtype=np.float32)
        buf.add(
            np.full((2, 2, 3), k),
            np.full((2, 4), k),
            np.full((2, 2, 2), k),
            full,
            np.full((2, 2, 3), k + 1),
            np.full((2, 4), k + 1),
            np.array([k == 3, False]),
        )
    assert len(buf) == 5 and buf.pos == 3 and buf.transitions_in == 8
    assert sorted(buf.reward.tolist()) == [1.0, 2.0, 2.0, 3.0, 3.0]  # the 5 newest of 8
    batch = buf.sample(64)
    assert batch.obs.shape == (64, 2, 3) and batch.terminated.dtype == torch.float32
    assert torch.equal(batch.next_state[:, 0], batch.state[:, 0] + 1)
    arrays, meta = buf.state_dict()
    other = TransitionReplayBuffer(5, 2, 3, 4, 2)
    other.load_state_dict(arrays, meta)
    assert other.pos == buf.pos and all(np.array_equal(getattr(other, f), getattr(buf, f)) for f in buf.FIELDS)
    with pytest.raises(ValueError, match="capacity"):
        TransitionReplayBuffer(3, 2, 3, 4, 2).load_state_dict(arrays, meta)
    with pytest.raises(ValueError, match="shape"):
        TransitionReplayBuffer(5, 2, 4, 4, 2).load_state_dict(arrays, meta)
    with pytest.raises(ValueError, match="counter"):  # a malformed counter is refused before anything is copied
        other.load_state_dict(arrays, {**meta, "stride": "two"})
    assert len(other) == 5 and all(np.array_equal(getattr(other, f), getattr(buf, f)) for f in buf.FIELDS)
    with pytest.raises(ValueError, match="capacity"):
        TransitionReplayBuffer(0, 2, 3, 4, 2)


def test_n_step_returns_stop_at_episode_ends_and_at_the_newest_step():
    # 2 envs, 5 vec steps; env 0: truncated after step 1, terminated after step 4; env 1: no ending
    buf = TransitionReplayBuffer(100, 1, 1, 1, 1)
    rewards = [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0], [5.0, 50.0]]
    for t, r in enumerate(rewards):
        buf.add(
            np.zeros((2, 1, 1)),
            np.full((2, 1), t),
            np.zeros((2, 1, 1)),
            np.array(r),
            np.zeros((2, 1, 1)),
            np.array([[t + 0.5], [t + 0.5]]),  # next_state marks the step whose next state is used
            np.array([t == 3, False]),
            np.array([t == 1, False]),
        )
    g = 0.5
    batch = buf.batch(np.array([0, 2, 4, 1, 7, 9]), n_step=3, gamma=g)  # rows: env = row % 2, step = row // 2
    expected_reward = [1 + g * 2, 2, 3 + g * 4, 10 + g * 20 + g * g * 30, 40 + g * 50, 50]
    assert np.allclose(batch.reward.numpy(), expected_reward)
    assert np.allclose(batch.discount.numpy(), [g**2, g, g**2, g**3, g**2, g])
    assert np.allclose(batch.next_state[:, 0].numpy(), [1.5, 1.5, 3.5, 2.5, 4.5, 4.5])
    assert batch.terminated.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]  # only the terminal step stops the bootstrap
    one = buf.batch(np.array([0, 2]), gamma=g)
    assert np.allclose(one.reward.numpy(), [1, 2]) and np.allclose(one.discount.numpy(), [g, g])
    buf.add(
        *(np.zeros((3, *shape)) for shape in [(1, 1), (1,), (1, 1)]),
        np.zeros(3),
        np.zeros((3, 1, 1)),
        np.zeros((3, 1)),
        np.zeros(3, dtype=bool),
    )
    with pytest.raises(ValueError, match="same number of envs"):
        buf.sample(4, n_step=2)


def test_n_step_option_trains():
    model = MATD3(SumTargetEnv, n_envs=2, seed=0, n_step=3, **TINY).learn(200)
    assert model._n_updates > 0 and model.replay.truncated[: len(model.replay)].sum() == 50


# --------------------------------------------------------------------------------------------------------------
# Checkpoints, resuming, callbacks
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [MADDPG, MATD3])
def test_save_load_round_trip_gives_identical_actions(cls, tmp_path):
    model = cls(counter_env, n_envs=2, seed=3, **TINY).learn(200)
    path = model.save(tmp_path / "model")
    loaded = cls.load(path)
    assert type(loaded) is cls and loaded.num_timesteps == model.num_timesteps and loaded.config == model.config
    for k, v in _params(model).items():
        assert torch.equal(v, _params(loaded)[k]), k
    obs = np.random.default_rng(1).normal(size=(7, 2, 3)).astype(np.float32)
    assert np.array_equal(model.predict(obs)[0], loaded.predict(obs)[0])
    pz_obs, _ = counter_env().reset(seed=0)
    acts, _ = loaded.predict(pz_obs)
    assert set(acts) == {"a", "b"} and acts["a"].shape == (2,) and acts["b"].shape == (1,)
    if cls is MADDPG:
        assert type(trmarl.load(path)) is MADDPG
    with pytest.raises(ValueError, match=cls.algorithm_name):
        (MATD3 if cls is MADDPG else MADDPG).load(path)


@pytest.mark.parametrize("cls", [MADDPG, MATD3])
def test_learn_save_load_learn_equals_an_uninterrupted_run(cls, tmp_path):
    kwargs = dict(TINY, exploration_noise_final=0.02, exploration_noise_decay_steps=400, n_step=1 if cls is MADDPG else 3)
    model = cls(counter_env, n_envs=2, seed=5, **kwargs).learn(200)
    path = model.save(tmp_path / "ckpt")
    model.save_replay_buffer(tmp_path / "replay")
    loaded = cls.load(path, env=counter_env, n_envs=2)
    loaded.load_replay_buffer(tmp_path / "replay.zip")
    model.learn(200, reset_num_timesteps=False)
    loaded.learn(200, reset_num_timesteps=False)
    assert loaded.num_timesteps == model.num_timesteps == 400 and loaded._n_updates == model._n_updates
    for k, v in _params(model).items():
        assert torch.equal(v, _params(loaded)[k]), k
    for name in ("actor_optimizer", "critic_optimizer"):
        a, b = model._optimizers()[name].state_dict()["state"], loaded._optimizers()[name].state_dict()["state"]
        assert all(torch.equal(a[i]["exp_avg_sq"], b[i]["exp_avg_sq"]) for i in a)
    assert np.array_equal(model.replay.actions, loaded.replay.actions) and loaded.replay.stride == 2


def test_callbacks_see_every_vec_step_and_can_stop_training():
    class StopAfter(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def _on_step(self) -> bool:
            self.calls += 1
            assert self.locals["step"].reward.shape == (2,)
            return self.calls < 7

    cb = StopAfter()
    model = MADDPG(SumTargetEnv, n_envs=2, seed=0, **TINY).learn(1000, callback=cb)
    assert cb.calls == 7 and model.num_timesteps == 14


# --------------------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------------------


class _UnboundedEnv(SumTargetEnv):
    def action_space(self, agent: str) -> gym.Space:
        return gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)


def test_bad_input_gives_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="continuous"):
        MADDPG(lambda: CounterEnv(discrete=True), n_envs=1)
    with pytest.raises(ValueError, match="bounded"):
        MADDPG(_UnboundedEnv, n_envs=1)
    with pytest.raises(TypeError, match="policy_delay"):
        MADDPG(SumTargetEnv, n_envs=1, policy_dealy=2)
    for bad in (
        dict(batch_size=0),
        dict(tau=0.0),
        dict(gamma=1.5),
        dict(exploration_noise=-0.1),
        dict(train_freq=2.5),
        dict(warmup_steps=-1),
        dict(hidden_sizes=()),
        dict(target_policy_noise=-1.0),
        dict(learning_rate=0.0),
    ):
        with pytest.raises(ValueError):
            MADDPG(SumTargetEnv, n_envs=1, **bad)
    model = MADDPG(SumTargetEnv, n_envs=1, **TINY)
    with pytest.raises(ValueError, match="obs must be"):
        model.predict(np.zeros((3, 2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((1, 2, 2), np.nan, dtype=np.float32))
    with pytest.raises(KeyError, match="unknown agent"):
        model.predict({"c": np.zeros(1)})
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a trmarl replay"):
        model.load_replay_buffer(bogus)
    other = MADDPG(counter_env, n_envs=1, **TINY).learn(20)
    with pytest.raises(ValueError, match="shape"):
        model.load_replay_buffer(other.save_replay_buffer(tmp_path / "other"))
    with pytest.raises(ValueError, match="does not match"):
        model.set_env(counter_env)


def test_checkpoint_callback_writes_the_replay_too(tmp_path):
    from trmarl.common.callbacks import CheckpointCallback

    callback = CheckpointCallback(save_freq=50, save_path=str(tmp_path), name_prefix="m", save_replay_buffer=True)
    MADDPG(counter_env, n_envs=1, seed=0, **TINY).learn(100, callback=callback)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "m_100_steps.zip",
        "m_50_steps.zip",
        "m_replay_buffer_100_steps.zip",
        "m_replay_buffer_50_steps.zip",
    ]
    loaded = MADDPG.load(tmp_path / "m_50_steps.zip", env=counter_env)
    loaded.load_replay_buffer(tmp_path / "m_replay_buffer_50_steps.zip")
    assert len(loaded.replay_buffer) == 50
