"""QTRAN vs VDN vs QMIX on the QTRAN paper's non-monotonic matrix game, printing the learned tables.

Two agents pick A, B or C at once and share the payoff (row = agent 0, column = agent 1)::

          A    B    C
    A     8  -12  -12
    B   -12    0    0
    C   -12    0    0

VDN (a sum) and QMIX (a monotonic mix) cannot represent this table; they settle on the 0 plateau. QTRAN learns the
joint value ``Q_jt`` itself and transfers its argmax to the agents, so their greedy joint action is (A, A).

Run: ``python examples/qtran_matrix_game.py`` (about a minute on one CPU core).
"""

from __future__ import annotations

import argparse
import itertools
import textwrap

import numpy as np
import torch

from trmarl import QMIX, QTRAN, VDN

SETTING = dict(
    n_envs=4,  # 4 one-step episodes per runner iteration, then one gradient step
    batch_size=32,
    buffer_size=10_000,  # keep every episode, as the authors' code does
    lr=1e-3,
    epsilon_anneal_time=4000,  # epsilon 1 -> 0.05 over the first half of the run
    target_update_interval=80,
    test_nepisode=0,
    verbose=0,
    device="cpu",
)


def tables(model: QMIX | QTRAN) -> tuple[np.ndarray, np.ndarray]:
    """Each agent's Q-values ``(2, 3)`` and the joint-value table ``(3, 3)`` at the game's only decision state."""
    obs = np.array([[[1.0, 0.0], [1.0, 0.0]]], dtype=np.float32)
    joint = np.array(list(itertools.product(range(3), range(3))))
    table = model.joint_values(np.repeat(obs, 9, 0), np.repeat([[1.0, 0.0]], 9, 0), joint).reshape(3, 3)
    return model.agent_q_values(obs)[0], table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=8000, help="episodes (= steps) per algorithm (default 8000)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for cls in (VDN, QMIX, QTRAN):
        model = cls("MatrixGame-QTRAN", seed=0, **SETTING).learn(args.timesteps)
        q, table = tables(model)
        greedy = "".join("ABC"[a] for a in q.argmax(-1))
        name = "Q_jt" if cls is QTRAN else "Q_tot"
        print(f"{cls.__name__}: greedy joint action ({greedy[0]}, {greedy[1]})")
        print("  agent Q-values (rows: agent 0, agent 1; columns: A, B, C):")
        print(textwrap.indent(np.array2string(q, precision=2), "    "))
        print(f"  learned {name} (rows: agent 0's action A, B, C; columns: agent 1's):")
        print(textwrap.indent(np.array2string(table, precision=2, suppress_small=True), "    ") + "\n")


if __name__ == "__main__":
    main()
