"""The QTRAN paper's matrix game (Son et al. 2019, Table 1): QTRAN finds (A, A) = 8, VDN and QMIX do not.

Payoff (row = agent 0, column = agent 1)::

          A    B    C
    A     8  -12  -12
    B   -12    0    0
    C   -12    0    0

Setting as in the authors' code: every episode stays in the replay (their buffer outlasts training), epsilon decays
linearly over half the run; 2000 gradient steps on batches of 32 one-step episodes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from trmarl.agents.qmix import QMIX, VDN
from trmarl.agents.qtran import QTRAN

PAYOFF = np.array([[8.0, -12.0, -12.0], [-12.0, 0.0, 0.0], [-12.0, 0.0, 0.0]])
SETTING = dict(
    n_envs=4,
    batch_size=32,
    buffer_size=10_000,
    lr=1e-3,
    epsilon_anneal_time=4000,
    target_update_interval=80,
    test_nepisode=0,
    verbose=0,
    device="cpu",
)
STEPS = 8000


def learned_tables(model) -> tuple[np.ndarray, tuple[int, int]]:
    """The learned joint-value table (QTRAN: Q_jt; VDN/QMIX: Q_tot) and the agents' greedy joint action."""
    obs = np.array([[[1.0, 0.0], [1.0, 0.0]]], dtype=np.float32)  # the game's only decision state
    q = model.agent_q_values(obs)[0]  # (N, A)
    joint = np.array(list(itertools.product(range(3), range(3))))
    table = model.joint_values(np.repeat(obs, 9, 0), np.repeat([[1.0, 0.0]], 9, 0), joint).reshape(3, 3)
    return table, (int(q[0].argmax()), int(q[1].argmax()))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qtran_finds_the_optimal_joint_action(seed):
    model = QTRAN("MatrixGame-QTRAN", seed=seed, **SETTING).learn(STEPS)
    table, greedy = learned_tables(model)
    assert greedy == (0, 0), f"QTRAN's greedy joint action is {greedy}; Q_jt =\n{table.round(2)}"
    # Q_jt recovers the game: its own argmax is (A, A) ~ 8, the -12 cells stay far below the 0 plateau
    assert np.unravel_index(table.argmax(), table.shape) == (0, 0), f"Q_jt =\n{table.round(2)}"
    assert abs(table[0, 0] - 8.0) < 1.5 and (table[PAYOFF == -12.0] < -9.0).all(), f"Q_jt =\n{table.round(2)}"
    assert np.abs(table - PAYOFF).max() < 3.0, f"Q_jt does not match the payoffs:\n{table.round(2)}"


@pytest.mark.slow
@pytest.mark.parametrize(("cls", "seed"), [(VDN, 0), (QMIX, 0)])
def test_vdn_and_qmix_settle_on_a_suboptimal_joint_action(cls, seed):
    model = cls("MatrixGame-QTRAN", seed=seed, **SETTING).learn(STEPS)
    table, greedy = learned_tables(model)
    assert greedy != (0, 0), f"{cls.__name__} found (A, A); Q_tot =\n{table.round(2)}"
    assert PAYOFF[greedy] == 0.0  # the 0 plateau the paper reports
    assert table[0, 0] < table[greedy] - 1.0  # and it values (A, A) below it (monotonic mixing cannot represent 8)


@pytest.mark.slow
def test_qtran_finds_the_optimal_joint_action_from_single_step_samples():
    """The same game through ``sample_unit="step"`` (feedforward agents; one update per iteration of 4 env steps)."""
    setting = dict(SETTING, sample_unit="step", steps_per_update=4, use_rnn=False, obs_last_action=False)
    model = QTRAN("MatrixGame-QTRAN", seed=0, **setting).learn(STEPS)
    table, greedy = learned_tables(model)
    assert model._n_updates == STEPS // 4 - 7  # none in the 7 iterations before the replay holds 32 steps
    assert greedy == (0, 0), f"QTRAN's greedy joint action is {greedy}; Q_jt =\n{table.round(2)}"
    assert np.abs(table - PAYOFF).max() < 3.0, f"Q_jt does not match the payoffs:\n{table.round(2)}"


@pytest.mark.slow
def test_qmix_solves_pymarl2s_monotonic_game_that_vdn_only_approximates():
    """pymarl2's one-step game ``[[12, -0.1, -0.1], [-0.1, 0, 0], [-0.1, 0, 0]]`` ("non-monotonic matrix can be solved by
    qmix"): QMIX's monotonic mixing represents it, so Q_tot matches every cell; VDN's sum finds (A, A) too but cannot
    fit the table (the 12 leaks into the A row and column and pushes the 0 cells down)."""
    from trmarl.envs.toy import PYMARL2_PAYOFF

    payoff = np.array(PYMARL2_PAYOFF)
    qmix = QMIX("MatrixGame-QTRAN", seed=0, env_kwargs={"payoff": PYMARL2_PAYOFF}, **SETTING).learn(STEPS)
    table, greedy = learned_tables(qmix)
    assert greedy == (0, 0), f"QMIX's greedy joint action is {greedy}; Q_tot =\n{table.round(2)}"
    assert np.abs(table - payoff).max() < 1.0, f"QMIX's Q_tot does not match the payoffs:\n{table.round(2)}"
    vdn = VDN("MatrixGame-QTRAN", seed=0, env_kwargs={"payoff": PYMARL2_PAYOFF}, **SETTING).learn(STEPS)
    table, greedy = learned_tables(vdn)
    assert greedy == (0, 0), f"VDN's greedy joint action is {greedy}; Q_tot =\n{table.round(2)}"
    assert np.abs(table - payoff).max() > 3.0, f"VDN's sum fits a table it cannot represent:\n{table.round(2)}"
