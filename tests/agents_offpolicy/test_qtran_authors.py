"""QTRAN-base as the authors' code builds it (``qtran_arch="authors"``): network, TD target, the matrix game."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.agents_offpolicy.test_matrix_game import PAYOFF, SETTING, STEPS, learned_tables
from tests.dummy_envs import CounterEnv
from trmarl.agents.off_policy import MASKED_Q
from trmarl.agents.qtran import QTRAN, QTranAuthors


def test_authors_joint_network_ignores_the_state_and_the_agent_order():
    torch.manual_seed(0)
    net = QTranAuthors(n_actions=4, hidden_dim=6, embed_dim=8)
    hidden, actions = torch.randn(5, 3, 2, 6), torch.eye(4)[torch.randint(0, 4, (5, 3, 2))]
    q_jt, v_jt = net(torch.randn(5, 3, 7), hidden, actions)
    assert q_jt.shape == v_jt.shape == (5, 3, 1) and (v_jt == 0).all()  # no V_jt
    q_other_state, _ = net(torch.randn(5, 3, 7), hidden, actions)
    q_swapped, _ = net(torch.zeros(5, 3, 7), hidden.flip(-2), actions.flip(-2))  # the mean over agents
    torch.testing.assert_close(q_other_state, q_jt)
    torch.testing.assert_close(q_swapped, q_jt)
    assert q_jt.std() > 0  # it does depend on what the agents see and do


def test_unknown_qtran_arch_is_refused():
    with pytest.raises(ValueError, match="qtran_arch"):
        QTRAN(lambda: CounterEnv(max_steps=6, discrete=True), n_envs=1, qtran_arch="alt", verbose=0)


@pytest.mark.parametrize("double_q", [False, True])
def test_authors_td_target_is_the_target_agents_greedy_sum(double_q):
    """L_td = mean (Q_jt(s, u) - [r + gamma (1 - d) sum_i Q_i^target(s', u'_i)])^2, with no Q_jt^target in it."""
    model = QTRAN(
        lambda: CounterEnv(max_steps=6, discrete=True), n_envs=2, seed=0, qtran_arch="authors", double_q=double_q,
        use_rnn=False, obs_last_action=False, sample_unit="step", batch_size=16, hidden_dim=16, mixing_embed_dim=8,
        test_nepisode=0, verbose=0, device="cpu",
    ).learn(200)  # fmt: skip
    with torch.no_grad():  # make the target networks differ from the online ones (and Q_jt^target from sum Q_i)
        for p in [*model.target_agent.parameters(), *model.target_mixer.parameters()]:
            p.add_(0.3 * torch.randn_like(p))
    batch = model.replay.sample_steps(16)
    with torch.no_grad():
        q, hidden = model._unroll(model.agent, batch)
        q_jt, _ = model.mixer(batch.state[:, :-1], hidden[:, :-1], torch.eye(model.n_actions)[batch.actions])
        target_q, _ = model._unroll(model.target_agent, batch)
        chooser = (q if double_q else target_q).masked_fill(~batch.action_mask, MASKED_Q)
        next_value = target_q.gather(-1, chooser.argmax(-1, keepdim=True)).squeeze(-1).sum(-1)[:, 1]  # (B,)
        y = batch.reward[:, 0] + model.config.gamma * (1 - batch.terminated[:, 0]) * next_value
        expected = ((q_jt[:, 0, 0] - y) * batch.mask[:, 0]).pow(2).sum() / batch.mask.sum()
    model._update(batch)
    assert model.logger.name_to_value["train/td_loss"] == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.slow
def test_authors_qtran_finds_the_optimal_joint_action():
    """With the authors' loss weights (1 on both constraints) their QTRAN-base solves the game as pymarl's does."""
    model = QTRAN("MatrixGame-QTRAN", seed=0, qtran_arch="authors", nopt_min_loss=1.0, **SETTING).learn(STEPS)
    table, greedy = learned_tables(model)
    assert greedy == (0, 0), f"QTRAN's greedy joint action is {greedy}; Q_jt =\n{table.round(2)}"
    assert np.abs(table - PAYOFF).max() < 1.5, f"Q_jt does not match the payoffs:\n{table.round(2)}"


def test_authors_variant_round_trips_through_a_checkpoint(tmp_path):
    model = QTRAN(
        lambda: CounterEnv(max_steps=6, discrete=True), n_envs=2, seed=0, qtran_arch="authors", batch_size=4,
        hidden_dim=16, mixing_embed_dim=8, test_nepisode=0, verbose=0, device="cpu",
    ).learn(120)  # fmt: skip
    loaded = QTRAN.load(model.save(tmp_path / "model"))
    assert loaded.config.qtran_arch == "authors" and isinstance(loaded.mixer, QTranAuthors)
    for (name, a), b in zip(model.mixer.state_dict().items(), loaded.mixer.state_dict().values()):
        assert torch.equal(a, b), name
