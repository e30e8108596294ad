"""End-to-end checks of IQL, VDN, QMIX and QTRAN on tiny configs: masks, predict, checkpoints, resuming."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import trmarl
from tests.dummy_envs import CounterEnv
from trmarl.agents.qmix import IQL, QMIX, VDN
from trmarl.agents.qtran import QTRAN

TINY = dict(
    batch_size=4,
    buffer_size=64,
    hidden_dim=16,
    mixing_embed_dim=8,
    epsilon_anneal_time=200,
    target_update_interval=5,
    test_interval=150,
    test_nepisode=2,
    verbose=0,
    device="cpu",
)


def counter_env() -> CounterEnv:
    """Two agents, Discrete(4), action 3 unavailable at even steps, terminates or truncates at 6 steps."""
    return CounterEnv(max_steps=6, discrete=True)


def _params(model) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v.clone() for n, m in model._modules().items() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("cls", [QMIX, VDN, IQL, QTRAN])
def test_learns_and_never_acts_or_stores_unavailable_actions(cls):
    model = cls(counter_env, n_envs=3, seed=0, **TINY).learn(300)
    assert model.num_timesteps >= 300 and model._n_updates > 0
    buf = model.replay
    n = len(buf)
    assert n > 4
    taken = buf.actions[:n].astype(np.int64)  # (n, T, N)
    avail = np.take_along_axis(buf.action_mask[:n, :-1], taken[..., None], -1)[..., 0]
    assert avail[buf.filled[:n]].all(), "an unavailable action was taken"
    assert (buf.truncated[:n].any(1) | buf.terminated[:n].any(1)).all()
    stats = model.run_test_episodes(model.env, 3)  # greedy episodes; CounterEnv reports wins
    assert set(stats) == {"ep_rew_mean", "ep_len_mean", "win_rate"}
    assert model.logger.name_to_value["eval/win_rate"] == stats["win_rate"]


def test_mixer_kinds_and_algorithm_names():
    assert QMIX(counter_env, n_envs=1, **TINY).mixer.__class__.__name__ == "QMixer"
    assert VDN(counter_env, n_envs=1, **TINY).mixer.__class__.__name__ == "VDNMixer"
    assert IQL(counter_env, n_envs=1, **TINY).mixer is None
    assert QMIX(counter_env, n_envs=1, mixer="vdn", **TINY).mixer.__class__.__name__ == "VDNMixer"
    with pytest.raises(TypeError, match="mixing_embed_dim"):
        QMIX(counter_env, n_envs=1, mixing_embed_dimm=3)
    with pytest.raises(ValueError, match="discrete"):
        QMIX(CounterEnv, n_envs=1)
    assert trmarl.QMIX is QMIX and trmarl.QTRAN is QTRAN


def test_predict_masks_dicts_and_recurrent_state():
    model = QMIX(counter_env, n_envs=2, seed=1, **TINY)
    obs = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    mask = np.ones((5, 2, 4), dtype=bool)
    mask[:, :, 0] = False
    mask[:, 1, 1:3] = False
    actions, state = model.predict(obs, action_mask=mask)
    assert actions.shape == (5, 2) and np.take_along_axis(mask, actions[..., None], -1).all()
    assert state.shape == (5, 2, 16 + 4)
    assert (actions[:, 1] == 3).all()
    again, _ = model.predict(obs, action_mask=mask)
    assert np.array_equal(actions, again)  # greedy by default
    _, state2 = model.predict(obs, state=state, action_mask=mask)
    assert not np.allclose(state2, state)
    # a PettingZoo dict for one env, with packed masks
    env = counter_env()
    pz_obs, _ = env.reset(seed=0)
    acts, _ = model.predict(pz_obs)
    assert set(acts) == {"a", "b"} and all(pz_obs[a]["action_mask"][acts[a]] for a in acts)


AUTHORS_AGENTS = dict(use_rnn=False, obs_last_action=False, mlp_hidden_layers=3, init_std=0.1, warmup_steps=30)


@pytest.mark.parametrize(
    ("cls", "extra"),
    [(QMIX, {}), (QMIX, dict(AUTHORS_AGENTS, mixer_bias_after_elu=True)), (QTRAN, {}), (QTRAN, AUTHORS_AGENTS)],
)
def test_save_load_round_trip_gives_identical_greedy_actions(cls, extra, tmp_path):
    model = cls(counter_env, n_envs=2, seed=3, **TINY, **extra).learn(120)
    path = model.save(tmp_path / "model")
    loaded = trmarl.load(path)
    assert type(loaded) is cls and loaded.num_timesteps == model.num_timesteps
    if cls is QMIX:  # the mixer form travels with the checkpoint
        assert loaded.mixer.bias_after_elu is model.mixer.bias_after_elu is bool(extra)
    assert loaded.exploration_rate == pytest.approx(model.exploration_rate)
    for k, v in _params(model).items():
        assert torch.equal(v, _params(loaded)[k]), k
    obs = np.random.default_rng(1).normal(size=(7, 2, 3)).astype(np.float32)
    a1, s1 = model.predict(obs, deterministic=True)
    a2, s2 = loaded.predict(obs, deterministic=True)
    assert np.array_equal(a1, a2) and np.allclose(s1, s2)
    with pytest.raises(ValueError, match=r"QMIX|QTRAN"):
        (VDN if cls is QMIX else QMIX).load(path)


def test_learn_save_load_learn_resumes_exactly(tmp_path):
    kwargs = dict(TINY, test_nepisode=0)
    model = QMIX(counter_env, n_envs=2, seed=5, **kwargs).learn(100)
    path = model.save(tmp_path / "ckpt")
    model.save_replay_buffer(tmp_path / "replay")
    loaded = QMIX.load(path, env=counter_env, n_envs=2)
    with pytest.raises(ValueError, match="not a trmarl replay buffer file") as err:  # a model checkpoint, not a replay
        loaded.load_replay_buffer(path)
    assert str(err.value).count(str(path)) == 1
    loaded.load_replay_buffer(tmp_path / "replay.zip")
    assert loaded._episodes_since_target_update == model._episodes_since_target_update
    model.learn(100, reset_num_timesteps=False)
    loaded.learn(100, reset_num_timesteps=False)
    assert loaded.num_timesteps == model.num_timesteps and loaded._n_updates == model._n_updates
    assert loaded.exploration_rate == model.exploration_rate
    for k, v in _params(model).items():
        assert torch.allclose(v, _params(loaded)[k]), k
    opt_a, opt_b = model.optimizer.state_dict()["state"], loaded.optimizer.state_dict()["state"]
    assert all(torch.allclose(opt_a[i]["exp_avg"], opt_b[i]["exp_avg"]) for i in opt_a)


STEP_MODE = dict(TINY, test_nepisode=0, sample_unit="step", use_rnn=False, obs_last_action=False, steps_per_update=2)


@pytest.mark.parametrize("cls", [QMIX, QTRAN])
def test_step_sampling_makes_one_update_per_steps_per_update_env_steps(cls, tmp_path):
    model = cls(counter_env, n_envs=2, seed=3, **STEP_MODE).learn(60)
    # no update before the replay holds batch_size (4) steps (within two iterations of at most 2 x 6 steps), then one
    # per 2 env steps collected, all paid after each iteration
    assert 0 <= model.num_timesteps - model._trained_t < 2
    assert (model.num_timesteps - 24) // 2 <= model._n_updates <= model.num_timesteps // 2
    path = model.save(tmp_path / "ckpt")
    model.save_replay_buffer(tmp_path / "replay")
    loaded = cls.load(path, env=counter_env, n_envs=2)
    loaded.load_replay_buffer(tmp_path / "replay.zip")
    n0, trained0 = model._n_updates, model._trained_t
    model.learn(30, reset_num_timesteps=False)
    loaded.learn(30, reset_num_timesteps=False)
    assert loaded._n_updates == model._n_updates == n0 + (model.num_timesteps - trained0) // 2
    for k, v in _params(model).items():
        assert torch.allclose(v, _params(loaded)[k]), k
    n1 = model._n_updates
    model.learn(30)  # a fresh count of env steps still trains: nothing owed from before the reset
    assert model._n_updates - n1 == model.num_timesteps // 2 > 0


@pytest.mark.parametrize("sample_unit", ["episode", "step"])
def test_warmup_steps_act_at_random_and_make_no_update(sample_unit):
    kwargs = dict(TINY, test_nepisode=0, epsilon_anneal_time=50, epsilon_finish=0.0, warmup_steps=120)
    if sample_unit == "step":
        kwargs.update(sample_unit="step", use_rnn=False, obs_last_action=False)
    model = QMIX(counter_env, n_envs=2, seed=0, **kwargs)
    start = _params(model)
    model.learn(100)  # all of it inside the warm-up, past the end of the epsilon anneal
    assert model._n_updates == 0 and model.exploration_rate == 1.0
    assert all(torch.equal(v, start[k]) for k, v in _params(model).items())
    # the warm-up acts uniformly at random: every available action shows up for each agent
    n = len(model.replay)
    taken = model.replay.actions[:n][model.replay.filled[:n]]
    assert all(set(np.unique(taken[:, i])) == {0, 1, 2, 3} for i in range(2))
    model.learn(80, reset_num_timesteps=False)
    assert model._n_updates > 0 and model.exploration_rate == 0.0
    if sample_unit == "step":  # nothing is owed for the steps of the warm-up
        assert model._n_updates <= model.num_timesteps - 120
    with pytest.raises(ValueError, match="warmup_steps"):
        QMIX(counter_env, n_envs=1, **dict(TINY, warmup_steps=-1))


@pytest.mark.parametrize("cls", [QMIX, QTRAN])
def test_init_std_draws_every_linear_of_agent_and_mixer(cls):
    kwargs = dict(TINY, hidden_dim=64, mixing_embed_dim=64)
    model = cls(counter_env, n_envs=1, seed=0, init_std=0.1, **kwargs)
    for module in (model.agent, model.mixer):
        linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
        assert linears
        weights = torch.cat([m.weight.flatten() for m in linears])
        assert abs(weights.std().item() - 0.1) < 0.01 and abs(weights.mean().item()) < 0.01
        assert all(m.bias is None or not m.bias.any() for m in linears)
    assert all(torch.equal(a, b) for a, b in zip(model.agent.parameters(), model.target_agent.parameters()))
    default = cls(counter_env, n_envs=1, seed=0, **kwargs)  # torch's init: biases are not zero
    assert any(m.bias.any() for m in default.agent.modules() if isinstance(m, torch.nn.Linear))
    with pytest.raises(ValueError, match="init_std"):
        cls(counter_env, n_envs=1, init_std=0.0, **TINY)


def test_mlp_agents_unroll_all_slots_at_once_as_step_by_step():
    from trmarl.agents.off_policy import build_agent_inputs

    model = QMIX(counter_env, n_envs=2, seed=1, **dict(TINY, use_rnn=False, obs_last_action=True)).learn(60)
    batch = model.replay.sample(4)
    q, h = model._unroll(model.agent, batch)
    last = torch.cat([torch.full_like(batch.actions[:, :1], -1), batch.actions], dim=1)
    inputs = build_agent_inputs(batch.obs, last, model.n_actions, True)
    B, T1, N = batch.obs.shape[:3]
    for t in range(T1):
        q_t, h_t = model.agent(inputs[:, t].reshape(B * N, -1), model.agent.initial_state(B * N))
        assert torch.allclose(q[:, t], q_t.view(B, N, -1), atol=1e-6) and torch.allclose(h[:, t], h_t.view(B, N, -1))


def test_step_sampling_rejects_agents_with_history():
    for bad in (dict(use_rnn=True, obs_last_action=False), dict(use_rnn=False, obs_last_action=True)):
        with pytest.raises(ValueError, match="use_rnn=False and obs_last_action=False"):
            QMIX(counter_env, n_envs=1, **dict(STEP_MODE, **bad))
    with pytest.raises(ValueError, match="steps_per_update"):
        QMIX(counter_env, n_envs=1, **dict(STEP_MODE, steps_per_update=0))
    with pytest.raises(ValueError, match="sample_unit"):
        QMIX(counter_env, n_envs=1, **dict(STEP_MODE, sample_unit="transitions"))


@pytest.mark.parametrize("bootstrap", [True, False])
def test_time_limits_are_stored_as_truncations_unless_told_otherwise(bootstrap):
    model = QMIX(lambda: CounterEnv(max_steps=3, discrete=True), n_envs=2, seed=0, bootstrap_truncated=bootstrap, **TINY)
    model.learn(60)
    n = len(model.replay)
    truncated, terminated = model.replay.truncated[:n].any(1), model.replay.terminated[:n].any(1)
    if bootstrap:
        assert truncated.any() and terminated.any() and (truncated ^ terminated).all()
    else:
        assert not truncated.any() and terminated.all()


def test_target_networks_hard_and_soft_updates():
    hard = QMIX(counter_env, n_envs=2, seed=0, **TINY).learn(60)
    hard._episodes_since_target_update = hard.config.target_update_interval
    hard.train()
    assert hard._episodes_since_target_update == 0
    for a, b in zip(hard.agent.parameters(), hard.target_agent.parameters()):
        assert torch.equal(a, b)
    soft = QMIX(counter_env, n_envs=2, seed=0, target_update_tau=0.3, **TINY).learn(60)
    old = [p.clone() for p in soft.target_mixer.parameters()]
    soft.train()
    for new, before, online in zip(soft.target_mixer.parameters(), old, soft.mixer.parameters()):
        assert torch.allclose(new, 0.3 * online + 0.7 * before, atol=1e-6)


def test_callbacks_see_every_vec_step_and_can_stop_training():
    from stable_baselines3.common.callbacks import BaseCallback

    class StopAfter(BaseCallback):
        def _on_step(self) -> bool:
            return self.n_calls < 7

    model = VDN(counter_env, n_envs=3, seed=0, **TINY)
    model.learn(10_000, callback=StopAfter())
    assert model.num_timesteps == 7 * 3


@pytest.mark.parametrize("cls", [QMIX, QTRAN])
def test_smacsim_smoke_illegal_actions_would_raise(cls):
    """SMACSim raises on an illegal action, so a run with dead units and masks proves the masking end to end."""
    model = cls("SMACSim-3m", n_envs=2, seed=0, batch_size=2, buffer_size=8, test_interval=10**9, test_nepisode=1,
                hidden_dim=16, mixing_embed_dim=8, verbose=0, device="cpu")  # fmt: skip
    model.learn(150)
    assert model._n_updates > 0 and model.replay.episode_limit >= 60
    assert "win" in model.ep_info_buffer[0]


def test_checkpoint_callback_writes_model_and_replay_that_resume(tmp_path):
    from trmarl.common.callbacks import CheckpointCallback, checkpoint_steps, model_checkpoints, replay_checkpoints

    callback = CheckpointCallback(save_freq=20, save_path=str(tmp_path), name_prefix="q", save_replay_buffer=True)
    model = QMIX(counter_env, n_envs=2, seed=0, **dict(TINY, test_nepisode=0)).learn(100, callback=callback)
    replays = {int(p.stem.split("_")[-2]): p for p in tmp_path.glob("q_replay_buffer_*_steps.zip")}
    models = {int(p.stem.split("_")[-2]): p for p in tmp_path.glob("q_*_steps.zip") if "replay" not in p.name}
    assert len(replays) >= 2 and replays.keys() == models.keys() and not list(tmp_path.glob("*.pkl"))
    last = max(models)
    loaded = QMIX.load(models[last], env=counter_env, n_envs=2)
    loaded.load_replay_buffer(replays[last])
    assert loaded.num_timesteps == last and 0 < len(loaded.replay) <= len(model.replay)
    n = len(loaded.replay)
    assert np.array_equal(loaded.replay.actions[:n], model.replay_buffer.actions[:n])  # the same episodes, in order
    updates = loaded._n_updates
    loaded.learn(40, reset_num_timesteps=False)  # training goes on from the checkpoint, on the restored episodes
    assert loaded.num_timesteps >= last + 40 and len(loaded.replay) > n and loaded._n_updates > updates

    # keep_replays=1: only the replay written last stays, even beside an earlier, longer run's file with more steps
    folder = tmp_path / "kept"
    folder.mkdir()
    (folder / "q_replay_buffer_1000000_steps.zip").write_bytes(b"an earlier run's replay")
    saver = CheckpointCallback(20, str(folder), name_prefix="q", save_replay_buffer=True, keep_replays=1)
    model = QMIX(counter_env, n_envs=2, seed=0, **dict(TINY, test_nepisode=0)).learn(100, callback=saver)
    (kept,) = replay_checkpoints(folder, "q")
    assert checkpoint_steps(kept) == max(checkpoint_steps(p) for p in model_checkpoints(folder, "q")) > 0


@pytest.mark.parametrize("failing", ["save_replay_buffer", "save"])
def test_checkpoint_killed_midway_leaves_a_model_with_its_replay(tmp_path, monkeypatch, failing):
    # the disk fills up (or the job is killed) in the middle of the second checkpoint: whichever write fails, every
    # model checkpoint left on disk has its replay buffer, so a resume never starts from a model with an empty replay
    from trmarl.common.callbacks import CheckpointCallback, checkpoint_steps, model_checkpoints, replay_checkpoints

    original = getattr(QMIX, failing)

    def disk_full_at_40(self, path, *args, **kwargs):
        if str(path).endswith("_40_steps.zip"):
            raise OSError(28, "No space left on device")
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(QMIX, failing, disk_full_at_40)
    saver = CheckpointCallback(10, str(tmp_path), name_prefix="q", save_replay_buffer=True, keep_replays=1)
    with pytest.raises(OSError, match="No space"):
        QMIX(counter_env, n_envs=2, seed=0, **dict(TINY, test_nepisode=0)).learn(100, callback=saver)
    models = [checkpoint_steps(p) for p in model_checkpoints(tmp_path, "q")]
    replays = [checkpoint_steps(p) for p in replay_checkpoints(tmp_path, "q")]
    assert models == [20] and 20 in replays
