"""IQL, VDN, QMIX and QTRAN on the QTRAN paper's games (Son et al., ICML 2019).

Games:
    * ``matrix``: the non-monotonic matrix game (``MatrixGame-QTRAN``); reports each agent's greedy joint action,
      its payoff (optimum 8 at (A, A)) and the learned joint-value table (QTRAN: ``Q_jt``; VDN/QMIX: ``Q_tot``;
      IQL: ``Q_1 + Q_2``), averaged over seeds.
    * ``squeeze``: Gaussian squeeze and its multi-domain variant (one step, 11 actions; ``max G`` about 8, the
      multi-domain local optimum about 5); reports the mean greedy reward next to the expected reward of a
      centralized oracle that picks the best joint action for every ``x`` (5.61 on GS, 6.56 on MGS).
    * ``pp``: modified predator-prey (``PredatorPrey-5x5`` with 2 predators, ``PredatorPrey-7x7`` with 4) at several
      miss penalties ``P``; reports the mean greedy return per 100-step episode, next to a scripted coordinated
      policy's (:func:`scripted_predator_prey`).

Usage::

    python benchmarks/qtran_games.py --games matrix --seeds 0,1,2,3,4
    python benchmarks/qtran_games.py --games squeeze,pp --seeds 0,1 --pp-steps 200000
    python benchmarks/qtran_games.py --games squeeze --squeeze-setting authors --squeeze-steps 10000 --seeds 0,1,2
    python benchmarks/qtran_games.py --games pp --pp-setting authors --pp-envs PredatorPrey-5x5 --penalties 0.5 \
        --pp-steps 1000000 --seeds 0 --algos QMIX,QTRAN --pp-test-interval 100000 --pp-checkpoint 50000 [--resume]

``--pp-checkpoint N`` saves each predator-prey run's model, replay buffer and wall time into its ``runs/qtran_pp/``
folder every N env steps; ``--resume`` continues runs from there (without it a run whose folder holds a checkpoint
stops rather than overwrite it; a run on the step learner takes 1-1.5 h per 1M steps on one core).

Settings: the matrix game keeps every episode in the replay and decays epsilon over half the run, as the authors'
code does (its buffer outlasts training); 8000 env steps, 4 envs, batch 32, Adam 1e-3. The other games use the
pymarl2 defaults of each algorithm with a shorter epsilon anneal, or with ``--squeeze-setting authors`` /
``--pp-setting authors`` the authors' learner as far as trmarl's episode learner allows (:data:`SQUEEZE_AUTHORS`,
:data:`PP_AUTHORS`), or with ``--pp-setting authors-steps`` their one update on 32 transitions per env step
(:data:`PP_AUTHORS_STEPS`), or with ``--pp-setting authors-agents`` that and their agent networks, inputs and warm-up
(:data:`PP_AUTHORS_AGENTS`). The paper trains predator-prey for 3M (5x5) and 6M (7x7) steps.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _checkpoint import Checkpointer  # benchmarks/ is on sys.path when run as a script

import trmarl
from trmarl.agents.qmix import IQL, QMIX, VDN
from trmarl.agents.qtran import QTRAN
from trmarl.envs.predator_prey import MOVES, STAY
from trmarl.envs.toy import squeeze_value

ALGOS: dict[str, Any] = {"IQL": IQL, "VDN": VDN, "QMIX": QMIX, "QTRAN": QTRAN}
PP_ENVS = ("PredatorPrey-5x5", "PredatorPrey-7x7")
PAYOFF = np.array([[8.0, -12.0, -12.0], [-12.0, 0.0, 0.0], [-12.0, 0.0, 0.0]])
MATRIX_SETTING = dict(
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


def matrix_tables(model: Any) -> tuple[np.ndarray, tuple[int, int]]:
    """The learned joint-value table at the game's decision state and the agents' greedy joint action."""
    obs = np.array([[[1.0, 0.0], [1.0, 0.0]]], dtype=np.float32)
    q = model.agent_q_values(obs)[0]  # (N, A)
    joint = np.array(list(itertools.product(range(3), range(3))))
    table = model.joint_values(np.repeat(obs, 9, 0), np.repeat([[1.0, 0.0]], 9, 0), joint).reshape(3, 3)
    return table, (int(q[0].argmax()), int(q[1].argmax()))


def algo_variant(name: str, qtran_arch: str, qmix_mixer: str = "pymarl") -> tuple[str, dict[str, Any]]:
    """The column label and extra kwargs of algorithm ``name`` for ``--qtran-arch`` and ``--qmix-mixer``: the authors'
    QTRAN-base comes with their loss weights (1 on both constraints), the authors' QMIX mixer adds ``b1`` after the
    ELU."""
    if name == "QTRAN" and qtran_arch != "qtran_paper":
        return f"QTRAN-{qtran_arch}", dict(qtran_arch=qtran_arch, opt_loss=1.0, nopt_min_loss=1.0)
    if name == "QMIX" and qmix_mixer == "authors":
        return "QMIX-authors", dict(mixer_bias_after_elu=True)
    return name, {}


def run_matrix(seeds: list[int], steps: int, qtran_arch: str = "qtran_paper") -> None:
    print(f"## Matrix game (MatrixGame-QTRAN), {steps} env steps, seeds {seeds}\n")
    print("| algorithm | greedy joint actions | seeds at (A,A) | mean greedy payoff | time/seed |")
    print("|---|---|---|---|---|")
    tables: dict[str, np.ndarray] = {}
    for algo, cls in ALGOS.items():
        name, variant = algo_variant(algo, qtran_arch)
        greedy_all, payoffs, tabs = [], [], []
        start = time.perf_counter()
        for seed in seeds:
            model = cls("MatrixGame-QTRAN", seed=seed, **MATRIX_SETTING, **variant).learn(steps)
            table, greedy = matrix_tables(model)
            greedy_all.append("".join("ABC"[a] for a in greedy))
            payoffs.append(PAYOFF[greedy])
            tabs.append(table)
        tables[name] = np.mean(tabs, axis=0)
        per_seed = (time.perf_counter() - start) / len(seeds)
        n_opt = sum(g == "AA" for g in greedy_all)
        print(f"| {name} | {' '.join(greedy_all)} | {n_opt}/{len(seeds)} | {np.mean(payoffs):.2f} | {per_seed:.0f} s |")
    print()
    for name, table in tables.items():
        label = "Q_jt" if name.startswith("QTRAN") else {"IQL": "Q_1 + Q_2"}.get(name, "Q_tot")
        print(f"{name} learned {label} (mean over seeds), rows = agent 0's action A, B, C:")
        print(np.array2string(table, precision=2, suppress_small=True))
        print()


def evaluate(model: Any, n_episodes: int) -> float:
    """Mean return of greedy test episodes."""
    assert model.env is not None
    return model.run_test_episodes(model.env, n_episodes)["ep_rew_mean"]


def squeeze_oracle(multi_domain: bool, n_agents: int = 2, n_actions: int = 11, samples: int = 100_000) -> float:
    """Expected reward of the best joint action for every draw of ``x`` (a centralized oracle that sees ``x``).

    ``max_r G(r)`` (about 8) is reached only for some ``x``: with ``x_i ~ U(0, 2)`` and ``u_i`` in ``{0, ..., 10}`` the
    sum ``r`` often cannot come close to the narrow peak, so this, not 8, is the best any policy can score on average.
    """
    x = np.random.default_rng(0).uniform(0.0, 2.0, (samples, n_agents))
    joint = np.array(list(itertools.product(range(n_actions), repeat=n_agents)), dtype=np.float64)  # (A^N, N)
    r = joint @ x.T / n_agents  # (A^N, samples)
    return float(squeeze_value(r, multi_domain).max(axis=0).mean())


SQUEEZE_AUTHORS = dict(
    n_envs=1,  # one gradient step per env step (one-step episodes), as in the authors' code
    batch_size=32,
    buffer_size=10_000,
    optimizer="adam",
    lr=5e-4,  # the authors' one learning rate for every algorithm
    epsilon_start=1.0,
    epsilon_finish=0.1,
    use_rnn=False,
    hidden_dim=64,
    obs_last_action=False,
    obs_agent_id=True,
    target_update_interval=3000,
    grad_norm_clip=1e6,  # the authors do not clip
)
"""The authors' Gaussian squeeze setup (``Sonkyunghwan/QTRAN`` ``Others/``, ``--training_step 10000``) as far as trmarl's
agents allow: shared MLP agents instead of per-agent 3-layer MLPs, no 320-step random warm-up. QTRAN also gets the
authors' loss weights (``alpha = 1`` on ``L_opt + L_nopt``) instead of pymarl's ``nopt_min_loss = 0.1``."""


def run_squeeze(seeds: list[int], steps: int, setting: str = "pymarl2", qtran_arch: str = "qtran_paper") -> None:
    print(f"## Gaussian squeeze, {steps} env steps, {setting} setting, seeds {seeds}: mean greedy reward\n")
    print("| env | oracle (best joint action per x) | " + " | ".join(algo_variant(n, qtran_arch)[0] for n in ALGOS) + " |")
    print("|---|---|" + "---|" * len(ALGOS))
    for env_id in ("GaussianSqueeze", "MultiDomainGaussianSqueeze"):
        row = [f"{squeeze_oracle(env_id.startswith('MultiDomain')):.2f}"]
        for name, cls in ALGOS.items():
            scores = []
            for seed in seeds:
                if setting == "authors":  # epsilon falls by 2/T per step to its 0.1 floor, reached at 0.45 T
                    kwargs: dict[str, Any] = dict(SQUEEZE_AUTHORS, epsilon_anneal_time=int(0.45 * steps))
                    if name == "QTRAN":
                        kwargs.update(opt_loss=1.0, nopt_min_loss=1.0)
                else:
                    kwargs = dict(batch_size=32, epsilon_anneal_time=steps // 2, buffer_size=5000)
                kwargs.update(algo_variant(name, qtran_arch)[1])
                model = cls(env_id, seed=seed, verbose=0, device="cpu", test_nepisode=0, **kwargs)
                scores.append(evaluate(model.learn(steps), 200))
            row.append(f"{np.mean(scores):.2f} ± {np.std(scores):.2f}")
        print(f"| {env_id} | " + " | ".join(row) + " |", flush=True)
    print()


def _step_toward(pos: np.ndarray, target: np.ndarray, grid_size: int) -> int:
    """The on-grid move that most shortens the Manhattan distance from ``pos`` to ``target`` (STAY if none does)."""
    best, best_dist = STAY, int(np.abs(pos - target).sum())
    for action, move in enumerate(MOVES):
        nxt = pos + move
        if (nxt >= 0).all() and (nxt < grid_size).all() and int(np.abs(nxt - target).sum()) < best_dist:
            best, best_dist = action, int(np.abs(nxt - target).sum())
    return best


def scripted_predator_prey(env_id: str, penalty: float, n_episodes: int = 100) -> float:
    """Mean return of a hand-written coordinated policy, a reference for what cooperation earns on ``env_id``.

    Predators ``2k`` and ``2k + 1`` hunt prey ``k``: they head for the two free cells of its 4-neighbourhood closest to
    them, and a predator one step from its cell waits there until its partner is one step from its own, so that they
    close in together and rarely pay the miss penalty. Not an optimum: on 5x5 it earns 18.8 / 9.2 / -0.4 at
    P = 0.5 / 1.0 / 1.5 (keeping away from the prey earns about -1, standing still -11 at P = 0.5), on 7x7
    10.4 / -14.2 / -38.9, where one pair's predator next to the other pair's prey also counts.
    """
    env = trmarl.make(env_id, penalty=penalty)
    base: Any = getattr(env, "unwrapped", env)
    grid, returns = base.grid_size, []
    for episode in range(n_episodes):
        env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            pred, prey = base.predator_positions, base.prey_positions
            actions = np.full(len(pred), STAY)
            for k, target in enumerate(prey):
                team = [i for i in (2 * k, 2 * k + 1) if i < len(pred)]
                cells = [c for c in target + MOVES if (c >= 0).all() and (c < grid).all() and (c != target).any()]
                goal = min(itertools.permutations(cells, len(team)), key=lambda g: sum(np.abs(pred[team] - g).sum(1)))
                dist = [int(np.abs(pred[i] - g).sum()) for i, g in zip(team, goal)]
                for j, (i, g) in enumerate(zip(team, goal)):
                    alone = dist[j] == 1 and any(d > 1 for jj, d in enumerate(dist) if jj != j)
                    actions[i] = STAY if alone else _step_toward(pred[i], g, grid)
            _, rewards, terms, truncs, _ = env.step({a: int(actions[i]) for i, a in enumerate(env.agents)})
            total += float(next(iter(rewards.values())))
            done = any(terms.values()) or any(truncs.values())
        returns.append(total)
    return float(np.mean(returns))


PP_AUTHORS = dict(
    n_envs=1,  # one update per 100-step episode on 32 episodes: the authors' 32 samples per env step
    batch_size=32,
    optimizer="adam",
    lr=5e-4,
    adam_eps=1.5e-4,  # the authors' (the first runs of this setting had torch's 1e-8: see docs/benchmarks.md)
    epsilon_start=1.0,
    epsilon_finish=0.1,
    use_rnn=False,  # the state is fully observed: MLP agents on it, as the authors'
    hidden_dim=64,
    obs_last_action=False,
    obs_agent_id=True,
    td_lambda=0.0,  # 1-step Q-learning targets
    double_q=False,
    target_update_interval=100,  # episodes: the authors' 10,000 updates of one step each
    grad_norm_clip=1e6,  # the authors do not clip
)
"""The authors' predator-prey learner (``Predator-Prey/agents/pos_cac_fo``) as far as trmarl's episode learner allows:
one update of 32 transitions per env step there, one update of 32 whole episodes per episode here (the same samples
per env step, 100 times fewer and larger steps); replay 600k transitions on 5x5 and 1M on 7x7 (the README's); epsilon
falls by 2/T per step to 0.1 (reached at 0.45 T); shared MLP agents instead of the authors' per-agent networks. QTRAN
gets the authors' loss weights, as in :data:`SQUEEZE_AUTHORS`."""


PP_AUTHORS_STEPS = dict(PP_AUTHORS, sample_unit="step", steps_per_update=1)
"""The authors' predator-prey learner step for step: :data:`PP_AUTHORS` with ``sample_unit="step"``, one gradient step
on 32 single transitions per env step (3M updates in a 3M-step run) and the target copied every 10,000 of them. Left
different: updates start once 32 transitions are stored (the authors wait for 9,600), shared MLP agents with an id input
instead of per-agent networks."""


PP_AUTHORS_AGENTS = dict(
    PP_AUTHORS_STEPS,
    mlp_hidden_layers=3,  # dense_h1..h3 of 64 ReLU units, then the Q layer
    init_std=0.1,  # every dense layer: N(0, 0.1) weights, zero biases
    warmup_steps=9600,  # m_size x pre_train_step random steps before the first update
    obs_agent_id=False,  # the id is the scalar i / n inside the relative observation
)
""":data:`PP_AUTHORS_STEPS` with the authors' agent networks as well (``dq_network.py``): the env's
``observation="relative"`` input (positions relative to the predator, ``i / n``, its own position), three hidden
layers of 64, ``N(0, 0.1)`` initialisation with zero biases (agents and mixers), and 9,600 random steps before the
first update. The authors' agents share their weights too (``reuse=tf.AUTO_REUSE`` on the same layer names), as
trmarl's do. QMIX gets their mixer's sizes (``generate_QMIX``: one-layer hypernetworks, width 64); left different:
their QMIX adds ``b1`` after the ELU (``elu(Q W1) + b1``, pymarl's and trmarl's default ``elu(Q W1 + b1)``), which
``--qmix-mixer authors`` turns on (``mixer_bias_after_elu``). QTRAN is pymarl's or the authors' network by
``--qtran-arch``."""

PP_SETTINGS = {"authors": PP_AUTHORS, "authors-steps": PP_AUTHORS_STEPS, "authors-agents": PP_AUTHORS_AGENTS}


def run_predator_prey(
    seeds: list[int],
    steps: int,
    penalties: list[float],
    env_ids: tuple[str, ...] = PP_ENVS,
    setting: str = "pymarl2",
    test_interval: int = 0,
    checkpoint_every: int = 0,
    resume: bool = False,
    qtran_arch: str = "qtran_paper",
    qmix_mixer: str = "pymarl",
) -> None:
    print(f"## Predator-prey, {steps} env steps, {setting} setting, seeds {seeds}: mean greedy return per episode\n")
    print("| env | P | scripted | " + " | ".join(algo_variant(n, qtran_arch, qmix_mixer)[0] for n in ALGOS) + " |")
    print("|---|---|---|" + "---|" * len(ALGOS))
    for env_id in env_ids:
        for penalty in penalties:
            row = [f"{scripted_predator_prey(env_id, penalty):.1f}"]
            for name, cls in ALGOS.items():
                scores = []
                for seed in seeds:
                    env_kwargs: dict[str, Any] = {"penalty": penalty}
                    if setting == "authors-agents":
                        env_kwargs["observation"] = "relative"
                    if setting in PP_SETTINGS:
                        kwargs: dict[str, Any] = dict(PP_SETTINGS[setting], epsilon_anneal_time=int(0.45 * steps))
                        kwargs["buffer_size"] = 6000 if env_id == "PredatorPrey-5x5" else 10_000  # 600k / 1M steps
                        if name == "QTRAN":
                            kwargs.update(opt_loss=1.0, nopt_min_loss=1.0)
                        if name == "QMIX" and setting == "authors-agents":  # their generate_QMIX
                            kwargs.update(mixing_embed_dim=64, hypernet_embed=0)
                    else:
                        kwargs = dict(batch_size=32, epsilon_anneal_time=steps // 2)
                    label, variant = algo_variant(name, qtran_arch, qmix_mixer)
                    kwargs.update(variant)
                    if test_interval > 0:  # a learning curve: 16 greedy test episodes every test_interval steps
                        kwargs.update(test_interval=test_interval, test_nepisode=16)
                    else:
                        kwargs["test_nepisode"] = 0
                    folder = Path("runs") / "qtran_pp" / f"{env_id}_P{penalty:g}_{label}_{setting}_s{seed}"
                    saver = Checkpointer(folder, checkpoint_every)
                    model = saver.resumed(cls, resume, device="cpu")
                    if model is None:
                        model = cls(env_id, seed=seed, verbose=0, device="cpu", env_kwargs=env_kwargs, **kwargs)
                    if test_interval > 0:
                        saver.csv_logger(model)
                    if (remaining := steps - model.num_timesteps) > 0:
                        callback = saver if checkpoint_every > 0 else None
                        model.learn(remaining, callback=callback, reset_num_timesteps=False)
                    scores.append(evaluate(model, 16))
                    print(f"<!-- {env_id} P={penalty} {label} seed {seed}: {scores[-1]:.1f} "
                          f"({saver.elapsed():.0f} s) -->", flush=True)  # fmt: skip
                row.append(f"{np.mean(scores):.1f} ± {np.std(scores):.1f}")
            print(f"| {env_id} | {penalty} | " + " | ".join(row) + " |", flush=True)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", default="matrix", help="comma-separated: matrix, squeeze, pp")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--matrix-steps", type=int, default=8000)
    parser.add_argument("--squeeze-steps", type=int, default=20_000)
    parser.add_argument("--squeeze-setting", default="pymarl2", choices=["pymarl2", "authors"])
    parser.add_argument("--pp-steps", type=int, default=100_000)
    parser.add_argument("--penalties", default="0.5,1.0,1.5")
    parser.add_argument("--pp-setting", default="pymarl2", choices=["pymarl2", *PP_SETTINGS])
    parser.add_argument("--pp-test-interval", type=int, default=0, help="log a test curve to runs/qtran_pp/ (0: off)")
    parser.add_argument("--pp-checkpoint", type=int, default=0, help="save model + replay every N steps (0: off)")
    parser.add_argument("--resume", action="store_true", help="continue predator-prey runs from their checkpoints")
    parser.add_argument("--pp-envs", default=",".join(PP_ENVS), help="comma-separated predator-prey ids")
    parser.add_argument("--algos", default=",".join(ALGOS), help="comma-separated subset of " + ", ".join(ALGOS))
    parser.add_argument(
        "--qtran-arch",
        default="qtran_paper",
        choices=["qtran_paper", "authors"],
        help="QTRAN's networks and losses: pymarl's QTranBase or the authors' code (pqmix7, with their loss weights)",
    )
    parser.add_argument(
        "--qmix-mixer",
        default="pymarl",
        choices=["pymarl", "authors"],
        help="QMIX's mixer: pymarl's ELU(Q W1 + b1) or the authors' ELU(Q W1) + b1 (predator-prey only)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the networks are tiny)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    chosen = args.algos.split(",")
    if unknown := sorted(set(chosen) - set(ALGOS)):
        parser.error(f"unknown --algos {unknown}; choose from {', '.join(ALGOS)}")
    for name in [n for n in ALGOS if n not in chosen]:  # the tables' columns follow ALGOS
        del ALGOS[name]
    pp_envs = tuple(args.pp_envs.split(","))
    if unknown := sorted(set(pp_envs) - set(PP_ENVS)):
        parser.error(f"unknown --pp-envs {unknown}; choose from {', '.join(PP_ENVS)}")
    games = args.games.split(",")
    if "matrix" in games:
        run_matrix(seeds, args.matrix_steps, args.qtran_arch)
    if "squeeze" in games:
        run_squeeze(seeds, args.squeeze_steps, args.squeeze_setting, args.qtran_arch)
    if "pp" in games:
        penalties = [float(p) for p in args.penalties.split(",")]
        run_predator_prey(
            seeds,
            args.pp_steps,
            penalties,
            pp_envs,
            args.pp_setting,
            args.pp_test_interval,
            args.pp_checkpoint,
            args.resume,
            args.qtran_arch,
            args.qmix_mixer,
        )


if __name__ == "__main__":
    main()
