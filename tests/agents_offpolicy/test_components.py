"""Unit tests of the value-decomposition building blocks (no training loop involved)."""

from __future__ import annotations

import json
import tracemalloc
import zipfile

import numpy as np
import pytest
import torch

from trmarl.agents.off_policy import (
    MASKED_Q,
    AgentNetwork,
    DecayThenFlatSchedule,
    build_agent_inputs,
    epsilon_greedy,
    masked_max,
    td_lambda_targets,
)
from trmarl.agents.qmix import QMixer, VDNMixer
from trmarl.common.replay import EpisodeRecorder, EpisodeReplayBuffer, read_replay_file, write_replay_file

# ---------------------------------------------------------------------------------------------------------------
# Exploration and masks
# ---------------------------------------------------------------------------------------------------------------


def test_schedule_decays_then_stays_flat():
    sched = DecayThenFlatSchedule(1.0, 0.05, 100)
    assert sched(0) == 1.0
    assert sched(50) == pytest.approx(0.525)
    assert sched(100) == pytest.approx(0.05)
    assert sched(10_000) == pytest.approx(0.05)
    assert DecayThenFlatSchedule(1.0, 0.1, 0)(0) == 0.1


@pytest.mark.parametrize("epsilon", [0.0, 0.5, 1.0])
def test_epsilon_greedy_never_picks_unavailable_actions(epsilon):
    rng = np.random.default_rng(0)
    q = rng.normal(size=(64, 3, 6)) * 10
    mask = rng.random((64, 3, 6)) < 0.4
    mask[..., 2] |= ~mask.any(-1)  # at least one available action each
    q[~mask] = 1e9  # unavailable actions look best
    for _ in range(20):
        actions = epsilon_greedy(q, mask, epsilon, rng)
        assert actions.shape == (64, 3)
        assert np.take_along_axis(mask, actions[..., None], -1).all()
    if epsilon == 1.0:  # the random branch covers every available action
        counts = np.zeros(6)
        for _ in range(200):
            counts += np.bincount(epsilon_greedy(q[:1, :1], np.ones((1, 1, 6), bool), 1.0, rng).ravel(), minlength=6)
        assert (counts > 0).all()


def test_masked_max_and_double_q_ignore_unavailable_actions():
    q = torch.tensor([[1.0, 50.0, 3.0], [4.0, 2.0, 100.0]])
    mask = torch.tensor([[True, False, True], [True, True, False]])
    assert masked_max(q, mask).tolist() == [3.0, 4.0]
    online = torch.tensor([[9.0, 99.0, 0.0], [0.0, 5.0, 99.0]])  # online argmax (masked): actions 0 and 1
    assert masked_max(q, mask, choose_with=online).tolist() == [1.0, 2.0]
    assert MASKED_Q == -9999999.0


def test_agent_inputs_layout():
    obs = torch.arange(2 * 3 * 2, dtype=torch.float32).view(2, 3, 2)  # (B, N, D)
    last = torch.tensor([[-1, 0, 2], [1, 1, -1]])
    x = build_agent_inputs(obs, last, n_actions=3, agent_id=True)
    assert x.shape == (2, 3, 2 + 3 + 3)
    assert torch.equal(x[0, 0, 2:5], torch.zeros(3))  # no last action at the start
    assert torch.equal(x[0, 2, 2:5], torch.tensor([0.0, 0.0, 1.0]))
    assert torch.equal(x[1, 1, 5:], torch.tensor([0.0, 1.0, 0.0]))  # agent id
    assert build_agent_inputs(obs, None, 3, agent_id=False).shape == (2, 3, 2)


@pytest.mark.parametrize("use_rnn", [True, False])
def test_agent_network_shapes(use_rnn):
    net = AgentNetwork(7, 5, hidden_dim=16, use_rnn=use_rnn)
    h = net.initial_state(4)
    q, h2 = net(torch.randn(4, 7), h)
    assert q.shape == (4, 5) and h2.shape == (4, 16)


def test_agent_network_extra_mlp_layers():
    torch.manual_seed(0)
    net = AgentNetwork(7, 5, hidden_dim=16, use_rnn=False, mlp_hidden_layers=3)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 4  # input, second hidden, third hidden, output
    x = torch.randn(4, 7)
    q, h = net(x, net.initial_state(4))
    # the returned hidden features are the second layer's (what the QTRAN authors' joint network reads)
    second = torch.relu(net.rnn(torch.relu(net.fc1(x))))
    assert torch.allclose(h, second)
    assert torch.allclose(q, net.fc2(torch.relu(net.extra[0](second))))
    with torch.no_grad():
        net.extra[0].weight.add_(1.0)
    assert not torch.allclose(net(x, net.initial_state(4))[0], q)  # the extra layer is on the path to Q
    assert len(AgentNetwork(7, 5, 16, use_rnn=False).extra) == 0  # the default keeps the old parameter names
    for bad in (dict(use_rnn=False, mlp_hidden_layers=1), dict(use_rnn=True, mlp_hidden_layers=3)):
        with pytest.raises(ValueError, match="mlp_hidden_layers"):
            AgentNetwork(7, 5, 16, **bad)


# ---------------------------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------------------------


def _col(values):
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1)


def test_td_lambda_hand_computed():
    gamma, lam = 0.5, 0.5
    r, q = _col([1.0, 2.0, 3.0]), _col([10.0, 20.0, 30.0, 40.0])
    # terminated at the last step: G2 = 3, G1 = 2 + .5 (.5*30 + .5*3), G0 = 1 + .5 (.5*20 + .5*G1)
    out = td_lambda_targets(r, _col([0, 0, 1]), _col([1, 1, 1]), q, gamma, lam)
    assert out.view(-1).tolist() == pytest.approx([8.5625, 10.25, 3.0])
    # truncated (time limit): G2 = 3 + .5*40 bootstraps from the final observation
    out = td_lambda_targets(r, _col([0, 0, 0]), _col([1, 1, 1]), q, gamma, lam)
    assert out.view(-1).tolist() == pytest.approx([9.8125, 15.25, 23.0])
    # lambda = 0: one-step targets r_t + gamma (1 - d_t) Qbar_{t+1}
    out = td_lambda_targets(r, _col([0, 0, 1]), _col([1, 1, 1]), q, gamma, 0.0)
    assert out.view(-1).tolist() == pytest.approx([11.0, 17.0, 3.0])


def _pymarl2_reference(rewards, terminated, mask, target_qs, gamma, td_lambda):
    """The recursion of the spec (pymarl2 ``build_td_lambda_targets``), written out naively."""
    ret = torch.zeros_like(target_qs)
    ret[:, -1] = target_qs[:, -1] * (1 - terminated.sum(dim=1))
    for t in range(ret.shape[1] - 2, -1, -1):
        ret[:, t] = td_lambda * gamma * ret[:, t + 1] + mask[:, t] * (
            rewards[:, t] + (1 - td_lambda) * gamma * target_qs[:, t + 1] * (1 - terminated[:, t])
        )
    return ret[:, :-1]


def test_td_lambda_matches_pymarl2_on_full_and_terminated_episodes():
    torch.manual_seed(0)
    B, T = 6, 7
    r, q = torch.randn(B, T, 1), torch.randn(B, T + 1, 1)
    terminated = torch.zeros(B, T, 1)
    lengths = [7, 7, 3, 5, 1, 7]  # episodes 2, 3, 4 terminate early; 0, 1 and 5 run to the time limit
    for b, L in enumerate(lengths):
        if L < T or b == 1:
            terminated[b, L - 1] = 1
    mask = torch.zeros(B, T, 1)
    for b, L in enumerate(lengths):
        mask[b, :L] = 1
    for lam in (0.6, 0.0):  # 0: the one-step path, which skips the recursion
        ours = td_lambda_targets(r, terminated, mask, q, 0.99, lam)
        ref = _pymarl2_reference(r, terminated, mask, q, 0.99, lam)
        assert torch.allclose(ours * mask, ref * mask, atol=1e-5)


def test_td_lambda_short_truncated_episode_bootstraps_from_its_own_final_slot():
    r = torch.tensor([[1.0, 1.0, 1.0], [2.0, 0.0, 0.0]]).unsqueeze(-1)
    q = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 7.0, 99.0, 99.0]]).unsqueeze(-1)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]).unsqueeze(-1)
    out = td_lambda_targets(r, torch.zeros_like(r), mask, q, 0.9, 0.6)
    assert out[1, 0, 0].item() == pytest.approx(2.0 + 0.9 * 7.0)


# ---------------------------------------------------------------------------------------------------------------
# Mixers
# ---------------------------------------------------------------------------------------------------------------


def test_vdn_mixer_is_the_sum():
    qs = torch.randn(4, 5, 3)
    assert torch.allclose(VDNMixer()(qs, torch.randn(4, 5, 8)), qs.sum(-1, keepdim=True))


@pytest.mark.parametrize("hypernet_embed, bias_after_elu", [(64, False), (0, False), (0, True)])
def test_qmix_mixer_is_monotonic_in_every_agent_q(hypernet_embed, bias_after_elu):
    torch.manual_seed(1)
    mixer = QMixer(n_agents=4, state_dim=10, embed_dim=8, hypernet_embed=hypernet_embed, bias_after_elu=bias_after_elu)
    qs = (torch.randn(16, 3, 4) * 5).requires_grad_(True)
    state = torch.randn(16, 3, 10) * 3
    q_tot = mixer(qs, state)
    assert q_tot.shape == (16, 3, 1)
    (grad,) = torch.autograd.grad(q_tot.sum(), qs)
    assert (grad >= 0).all()
    # and not trivially zero: raising one agent's Q raises Q_tot somewhere
    assert (grad > 0).any()


@pytest.mark.parametrize("bias_after_elu", [False, True])
def test_qmix_mixer_places_b1_inside_or_after_the_elu(bias_after_elu):
    torch.manual_seed(2)
    mixer = QMixer(n_agents=3, state_dim=5, embed_dim=4, hypernet_embed=0, bias_after_elu=bias_after_elu)
    qs, state = torch.randn(2, 6, 3) * 3, torch.randn(2, 6, 5)
    s, q = state.reshape(-1, 5), qs.reshape(-1, 1, 3)
    w1 = mixer.hyper_w1(s).abs().view(-1, 3, 4)
    b1 = mixer.hyper_b1(s).view(-1, 1, 4)
    mixed = torch.bmm(q, w1)
    hidden = torch.nn.functional.elu(mixed) + b1 if bias_after_elu else torch.nn.functional.elu(mixed + b1)
    expected = torch.bmm(hidden, mixer.hyper_w2(s).abs().view(-1, 4, 1)) + mixer.hyper_v(s).view(-1, 1, 1)
    assert torch.allclose(mixer(qs, state), expected.view(2, 6, 1), atol=1e-6)
    # the two forms differ: the other placement gives another Q_tot
    other = QMixer(n_agents=3, state_dim=5, embed_dim=4, hypernet_embed=0, bias_after_elu=not bias_after_elu)
    other.load_state_dict(mixer.state_dict())
    assert not torch.allclose(other(qs, state), mixer(qs, state), atol=1e-3)


# ---------------------------------------------------------------------------------------------------------------
# Replay
# ---------------------------------------------------------------------------------------------------------------


def _fill(buffer: EpisodeReplayBuffer, lengths, terminal, n_envs=1):
    rec = EpisodeRecorder(n_envs, 2, 3, 4, 5, max_len=2)
    for k, (L, term) in enumerate(zip(lengths, terminal)):
        for t in range(L):
            rec.observe(
                np.full((1, 2, 3), t, np.float32),
                np.full((1, 4), k, np.float32),
                np.ones((1, 2, 5), bool),
                np.ones((1, 2), bool),
            )
            last = t == L - 1
            rec.act(np.full((1, 2), t % 5), np.array([float(t)]), np.array([last and term]), np.array([last and not term]))
        rec.observe(
            np.full((1, 2, 3), 100 + k, np.float32),
            np.full((1, 4), k, np.float32),
            np.ones((1, 2, 5), bool),
            np.ones((1, 2), bool),
        )
        buffer.add(rec.finish(0))


def test_replay_pads_masks_and_cuts_to_longest():
    buf = EpisodeReplayBuffer(10, n_agents=2, obs_dim=3, state_dim=4, n_actions=5, episode_limit=4, seed=0)
    _fill(buf, [3, 6, 2], [True, False, True])  # the 6-step episode grows the time axis
    assert len(buf) == 3 and buf.episode_limit >= 6
    batch = buf.batch(np.array([0, 2]))
    assert batch.obs.shape == (2, 4, 2, 3) and batch.actions.shape == (2, 3, 2)
    assert batch.obs.dtype == torch.float32 and batch.action_mask.dtype == torch.bool
    assert batch.mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch.terminated.tolist() == [[0, 0, 1], [0, 1, 0]]
    assert batch.obs[0, 3, 0, 0].item() == 100  # the observation after the last step
    full = buf.batch(np.array([1]))
    assert full.truncated[0, -1].item() == 1 and full.terminated.sum().item() == 0  # time limit: bootstrap
    assert full.obs.shape[1] == 7


def test_replay_fifo_capacity_and_uniform_sampling():
    buf = EpisodeReplayBuffer(4, n_agents=2, obs_dim=3, state_dim=4, n_actions=5, episode_limit=3, seed=0)
    _fill(buf, [1, 2, 3, 1, 2, 3], [True] * 6)
    assert len(buf) == 4 and buf.episodes_in == 6
    assert sorted(buf.state[:, 0, 0].tolist()) == [2, 3, 4, 5]  # the two oldest were overwritten
    assert not buf.can_sample(5) and buf.can_sample(4)
    seen = np.zeros(4)
    for _ in range(200):
        b = buf.sample(2)
        seen[b.state[:, 0, 0].long().numpy() - 2] += 1
    assert (seen > 60).all()
    arrays, meta = buf.state_dict()
    copy = EpisodeReplayBuffer(4, n_agents=2, obs_dim=3, state_dim=4, n_actions=5, episode_limit=3)
    copy.load_state_dict(arrays, meta)
    a, b = buf.batch(np.arange(4)), copy.batch(np.arange(4))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_replay_step_sampling_pairs_each_step_with_the_next_slot_uniformly():
    buf = EpisodeReplayBuffer(10, n_agents=2, obs_dim=3, state_dim=4, n_actions=5, episode_limit=4, seed=0)
    _fill(buf, [1, 3, 2], [True, False, True])  # 6 steps; obs slot t holds t, the slot after the last step 100 + k
    assert buf.n_steps() == 6
    batch = buf.sample_steps(6000)
    assert batch.obs.shape == (6000, 2, 2, 3) and batch.actions.shape == (6000, 1, 2) and batch.mask.shape == (6000, 1)
    episode = batch.state[:, 0, 0].long()
    t = batch.obs[:, 0, 0, 0].long()
    assert (batch.state[:, 1, 0].long() == episode).all()  # both slots from the same episode
    length = torch.tensor([1, 3, 2])[episode]
    assert ((t >= 0) & (t < length)).all()  # only filled steps
    last = t == length - 1
    nxt = batch.obs[:, 1, 0, 0].long()
    assert (nxt[~last] == t[~last] + 1).all() and (nxt[last] == 100 + episode[last]).all()
    assert (batch.actions[:, 0, 0] == t % 5).all() and (batch.reward[:, 0].long() == t).all()
    assert batch.terminated[last & (episode != 1), 0].eq(1).all() and batch.terminated[~last, 0].eq(0).all()
    assert batch.truncated[last & (episode == 1), 0].eq(1).all()  # the time-limited episode bootstraps
    counts = np.bincount((episode * 3 + t).numpy(), minlength=9)[[0, 3, 4, 5, 6, 7]]
    assert counts.min() > 850 and counts.max() < 1150  # uniform over the 6 steps, not over episodes
    with pytest.raises(ValueError, match="cannot sample"):
        EpisodeReplayBuffer(2, n_agents=2, obs_dim=3, state_dim=4, n_actions=5).sample_steps(1)


def _replay_arrays(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "obs": rng.standard_normal((rows, 5, 2, 3), dtype=np.float32),
        "mask": rng.random((rows, 5, 2, 4)) < 0.5,
        "lengths": rng.integers(0, 5, rows),
    }


def test_replay_file_is_written_in_row_chunks_and_reads_back_exactly(tmp_path):
    arrays = _replay_arrays(37)
    row_bytes = sum(a[:1].nbytes for a in arrays.values())
    path = write_replay_file(tmp_path / "r", "fmt", {"size": 37}, arrays, compress=True, chunk_bytes=10 * row_bytes)
    assert path.name == "r.zip"
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
    assert names == [f"replay-{i:05d}.safetensors" for i in range(4)] + ["replay.json"]  # 37 rows, 10 per entry
    meta, back = read_replay_file(path, "fmt")
    assert meta == {"format": "fmt", "size": 37}  # the chunk layout stays inside the file
    assert back.keys() == arrays.keys()
    assert all(back[k].dtype == arrays[k].dtype and np.array_equal(back[k], arrays[k]) for k in arrays)
    with pytest.raises(ValueError, match="of format 'other'"):
        read_replay_file(path, "other")


def test_replay_file_reads_the_single_entry_layout_and_rejects_mismatched_chunks(tmp_path):
    from safetensors.numpy import save as np_save

    arrays = _replay_arrays(6)
    old = tmp_path / "old.zip"  # the layout written before chunking
    with zipfile.ZipFile(old, "w") as zf:
        zf.writestr("replay.json", json.dumps({"format": "fmt", "size": 6}))
        zf.writestr("replay.safetensors", np_save(arrays))
    meta, back = read_replay_file(old, "fmt")
    assert meta["size"] == 6 and np.array_equal(back["obs"], arrays["obs"])
    empty = write_replay_file(tmp_path / "empty.zip", "fmt", {}, _replay_arrays(0))
    assert read_replay_file(empty, "fmt")[1]["obs"].shape == (0, 5, 2, 3)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("replay.json", json.dumps({"format": "fmt", "row_chunks": [3, 3]}))
        zf.writestr("replay-00000.safetensors", np_save(_replay_arrays(3)))
        zf.writestr("replay-00001.safetensors", np_save({"obs": arrays["obs"][:3]}))
    with pytest.raises(ValueError, match="does not match"):
        read_replay_file(bad, "fmt")
    with zipfile.ZipFile(bad, "w") as zf:  # the list names an entry that is not there
        zf.writestr("replay.json", json.dumps({"format": "fmt", "row_chunks": [3, 3]}))
        zf.writestr("replay-00000.safetensors", np_save(_replay_arrays(3)))
    with pytest.raises(ValueError, match="not a trmarl replay buffer file"):
        read_replay_file(bad, "fmt")


def test_replay_file_write_and_read_hold_one_chunk_not_a_copy_of_the_buffer(tmp_path):
    arrays = _replay_arrays(4000)  # 672 kB; chunks of 16 kB
    total = sum(a.nbytes for a in arrays.values())
    tracemalloc.start()
    try:
        write_replay_file(tmp_path / "r.zip", "fmt", {}, arrays, chunk_bytes=16 * 2**10)
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        _, back = read_replay_file(tmp_path / "r.zip", "fmt")
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert write_peak < 0.25 * total, (write_peak, total)  # one safetensors copy of everything would be > total
    assert read_peak < 1.25 * total, (read_peak, total)  # the arrays themselves plus about one chunk
    assert np.array_equal(back["mask"], arrays["mask"])


def _episode_buffer(capacity: int, episodes: int, episode_limit: int = 4, obs_dim: int = 3) -> EpisodeReplayBuffer:
    buf = EpisodeReplayBuffer(capacity, n_agents=2, obs_dim=obs_dim, state_dim=4, n_actions=5, episode_limit=episode_limit)
    rng = np.random.default_rng(episodes)
    for _ in range(episodes):
        L = int(rng.integers(1, episode_limit + 1))
        buf.add(
            {
                "obs": rng.standard_normal((L + 1, 2, obs_dim), dtype=np.float32),
                "state": rng.standard_normal((L + 1, 4), dtype=np.float32),
                "action_mask": rng.random((L + 1, 2, 5)) < 0.5,
                "active": rng.random((L + 1, 2)) < 0.9,
                "actions": rng.integers(0, 5, (L + 1, 2)),
                "reward": rng.standard_normal(L + 1).astype(np.float32),
                "terminated": np.arange(L + 1) == L - 1,
                "truncated": np.zeros(L + 1, dtype=bool),
            }
        )
    return buf


def _write_episode_buffer(buf: EpisodeReplayBuffer, path, chunk_bytes: int):
    arrays, meta = buf.state_dict()
    arrays = {k: (v.view(np.uint8) if v.dtype == np.bool_ else v) for k, v in arrays.items()}  # as save_replay_buffer
    return write_replay_file(path, "fmt", meta, arrays, chunk_bytes=chunk_bytes)


def test_replay_file_reads_straight_into_a_buffer_holding_one_chunk(tmp_path):
    buf = _episode_buffer(600, 700, obs_dim=40)  # a full ring that wrapped (1.1 MB): pos continues where it stopped
    path = _write_episode_buffer(buf, tmp_path / "r.zip", chunk_bytes=8 * 2**10)
    total = sum(a.nbytes for a in buf.state_dict()[0].values())
    copy = _episode_buffer(600, 600, episode_limit=6, obs_dim=40)  # a longer time axis, holding other episodes
    tracemalloc.start()
    try:
        meta, _ = read_replay_file(path, "fmt", into=copy.restore_targets)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    copy.restore_counters(meta)
    assert peak < 0.2 * total, (peak, total)  # reading into fresh arrays first would take > total
    assert (copy.size, copy.pos, copy.episodes_in) == (buf.size, buf.pos, buf.episodes_in)
    a, b = buf.batch(np.arange(600)), copy.batch(np.arange(600))
    assert all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b))
    assert not copy.obs[:, 5:].any() and not copy.filled[:, 4:].any()  # the old episodes' longer slots are cleared


def test_replay_file_that_does_not_fit_the_buffer_raises_and_leaves_it_unchanged(tmp_path):
    path = _write_episode_buffer(_episode_buffer(8, 8), tmp_path / "r.zip", chunk_bytes=512)
    other = _episode_buffer(8, 8, episode_limit=3, obs_dim=4)
    before = other.batch(np.arange(8))
    with pytest.raises(ValueError, match=r"'obs' has shape \(8, 5, 2, 3\), which does not fit") as err:
        read_replay_file(path, "fmt", into=other.restore_targets)
    assert str(err.value).count(str(path)) == 1  # the buffer's error is told the file, once
    assert len(other) == 8 and other.episode_limit == 3  # checked before growing or emptying anything
    assert all(torch.equal(x, y) for x, y in zip(before, other.batch(np.arange(8))))
    broken = tmp_path / "broken.zip"  # a file that breaks off after its first entry: an empty buffer, not a mix
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        for name in ("replay.json", "replay-00000.safetensors"):
            dst.writestr(name, src.read(name))
    same = _episode_buffer(8, 8)
    with pytest.raises(ValueError, match="not a trmarl replay buffer file") as err:
        read_replay_file(broken, "fmt", into=same.restore_targets)
    assert str(err.value).count(str(broken)) == 1
    assert len(same) == 0 and not same.can_sample(1)
    small = _episode_buffer(4, 0)
    with pytest.raises(ValueError, match="more than this buffer's capacity 4"):
        read_replay_file(path, "fmt", into=small.restore_targets)
    fits = _episode_buffer(8, 8)
    with pytest.raises(ValueError, match="counter"):  # no episodes_in: refused before the buffer changes
        read_replay_file(path, "fmt", into=lambda meta, layout: fits.restore_targets({"size": 8, "pos": 0}, layout))
    assert len(fits) == 8
