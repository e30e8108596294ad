"""The QTRAN paper's games: matrix game, (multi-domain) Gaussian squeeze, predator-prey."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

import trmarl
from trmarl.envs.predator_prey import DOWN, LEFT, RIGHT, STAY, UP, PredatorPreyEnv, sequential_moves
from trmarl.envs.testing import check_determinism, check_env
from trmarl.envs.toy import PYMARL2_PAYOFF, QTRAN_PAYOFF, GaussianSqueezeEnv, MatrixGameEnv, squeeze_value

TOY_IDS = ["MatrixGame-QTRAN", "GaussianSqueeze", "MultiDomainGaussianSqueeze", "PredatorPrey-5x5", "PredatorPrey-7x7"]


# --------------------------------------------------------------------------------------------------------------
# API and determinism
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", TOY_IDS)
def test_parallel_api(env_id: str) -> None:
    env = trmarl.make(env_id)
    parallel_api_test(env, num_cycles=300)
    assert env.metadata["name"]
    assert env.render_mode is None
    assert env.state_space.dtype == np.float32
    env.reset(seed=1)
    assert env.state_space.contains(env.state())
    for agent in env.possible_agents:
        assert env.observation_space(agent).dtype == np.float32


@pytest.mark.parametrize("env_id", TOY_IDS)
def test_vec_env_team_reward(env_id: str) -> None:
    n_agents = len(trmarl.make(env_id).possible_agents)
    vec = trmarl.make_vec_env(env_id, 2, seed=0)
    try:
        vec_obs, _ = vec.reset()
        assert vec_obs.obs.shape[:2] == (2, n_agents)
        for _ in range(3):
            out = vec.step(np.zeros((2, n_agents), dtype=np.int64))
            assert out.reward.shape == (2,)
            if env_id == "MatrixGame-QTRAN":  # the team reward is the payoff, not a share of it
                np.testing.assert_array_equal(out.reward, [8.0, 8.0])
                assert out.terminated.all() and not out.truncated.any()
    finally:
        vec.close()


def _rollout(env: object, seed: int, n_steps: int) -> list[tuple]:
    """Reset with ``seed`` once, then play ``n_steps`` seeded random joint actions (resetting without a seed)."""
    action_rng = np.random.default_rng(12345)
    obs, _ = env.reset(seed=seed)  # type: ignore[attr-defined]
    trajectory: list[tuple] = [("reset", {a: o.tolist() for a, o in obs.items()})]
    for _ in range(n_steps):
        if not env.agents:  # type: ignore[attr-defined]
            obs, _ = env.reset()  # type: ignore[attr-defined]
            trajectory.append(("reset", {a: o.tolist() for a, o in obs.items()}))
        actions = {a: int(action_rng.integers(env.action_space(a).n)) for a in env.agents}  # type: ignore[attr-defined]
        obs, rew, term, trunc, _ = env.step(actions)  # type: ignore[attr-defined]
        trajectory.append(({a: o.tolist() for a, o in obs.items()}, rew, term, trunc, env.state().tolist()))  # type: ignore[attr-defined]
    return trajectory


@pytest.mark.parametrize("env_id", ["PredatorPrey-5x5", "PredatorPrey-7x7", "GaussianSqueeze", "MultiDomainGaussianSqueeze"])
def test_determinism_helper(env_id: str) -> None:
    check_determinism(lambda: trmarl.make(env_id), seed=3, n_steps=250)


@pytest.mark.parametrize("env_id", TOY_IDS)
def test_check_env(env_id: str) -> None:
    check_env(lambda: trmarl.make(env_id), num_cycles=150)


@pytest.mark.parametrize("env_id", ["PredatorPrey-5x5", "PredatorPrey-7x7", "GaussianSqueeze", "MultiDomainGaussianSqueeze"])
def test_determinism(env_id: str) -> None:
    n_steps = 250
    first = _rollout(trmarl.make(env_id), seed=7, n_steps=n_steps)
    again = _rollout(trmarl.make(env_id), seed=7, n_steps=n_steps)
    other = _rollout(trmarl.make(env_id), seed=8, n_steps=n_steps)
    assert first == again
    assert first != other
    # the global RNG is neither used nor disturbed
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    _rollout(trmarl.make(env_id), seed=7, n_steps=20)
    assert np.random.random() == expected


# --------------------------------------------------------------------------------------------------------------
# Matrix game
# --------------------------------------------------------------------------------------------------------------


def test_matrix_game_payoffs() -> None:
    table = [[8, -12, -12], [-12, 0, 0], [-12, 0, 0]]
    env = trmarl.make("MatrixGame-QTRAN")
    assert isinstance(env, MatrixGameEnv)
    np.testing.assert_array_equal(env.payoff, table)
    np.testing.assert_array_equal(env.payoff, QTRAN_PAYOFF)
    assert env.optimal_joint_action == (0, 0) and env.optimal_value == 8.0
    for a0, a1 in itertools.product(range(3), range(3)):
        obs, _ = env.reset(seed=a0)
        np.testing.assert_array_equal(obs["agent_0"], [1.0, 0.0])
        obs, rew, term, trunc, _ = env.step({"agent_0": a0, "agent_1": np.int64(a1)})
        assert rew == {"agent_0": table[a0][a1], "agent_1": table[a0][a1]}
        assert term == {"agent_0": True, "agent_1": True}
        assert trunc == {"agent_0": False, "agent_1": False}
        np.testing.assert_array_equal(obs["agent_1"], [0.0, 1.0])
        assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({"agent_0": 0, "agent_1": 0})


def test_matrix_game_custom_payoff() -> None:
    env = trmarl.make("MatrixGame-QTRAN", payoff=PYMARL2_PAYOFF)
    env.reset()
    _, rew, *_ = env.step({"agent_0": 0, "agent_1": 1})
    assert rew["agent_0"] == pytest.approx(-0.1)
    rect = MatrixGameEnv(payoff=np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 9.0]]))
    assert rect.action_space("agent_0").n == 2 and rect.action_space("agent_1").n == 4
    assert rect.optimal_joint_action == (1, 3)
    rect.reset()
    _, rew, *_ = rect.step({"agent_0": 1, "agent_1": 2})
    assert rew["agent_1"] == 7.0


def test_matrix_game_render() -> None:
    env = MatrixGameEnv(render_mode="ansi")
    env.reset()
    env.step({"agent_0": 1, "agent_1": 0})
    text = env.render()
    assert isinstance(text, str) and "[-12]" in text


# --------------------------------------------------------------------------------------------------------------
# Gaussian squeeze
# --------------------------------------------------------------------------------------------------------------


def test_squeeze_formula() -> None:
    assert squeeze_value(8.0) == pytest.approx(8.0)
    assert squeeze_value(7.5) == pytest.approx(7.5 * math.exp(-1.0))
    assert squeeze_value(5.0) == pytest.approx(5.0 * math.exp(-36.0))
    assert squeeze_value(5.0, multi_domain=True) == pytest.approx(5.0, abs=1e-6)
    assert squeeze_value(8.0, multi_domain=True) == pytest.approx(8.0 + 8.0 * math.exp(-9.0))
    r = 6.3
    assert squeeze_value(r, multi_domain=True) == pytest.approx(r * math.exp(-(1.3**2)) + r * math.exp(-(1.7**2) / 0.25))


def _play_squeeze(env: GaussianSqueezeEnv, x: list[float], joint: list[int]) -> tuple[float, dict]:
    env.reset(seed=0)
    env.x = np.array(x, dtype=np.float64)
    _, rew, term, trunc, info = env.step({f"agent_{i}": u for i, u in enumerate(joint)})
    assert all(term.values()) and not any(trunc.values()) and env.agents == []
    assert len(set(rew.values())) == 1
    return rew["agent_0"], info["agent_0"]


def test_gaussian_squeeze_rewards() -> None:
    gs = trmarl.make("GaussianSqueeze")
    assert isinstance(gs, GaussianSqueezeEnv) and not gs.multi_domain
    assert gs.action_space("agent_0").n == 11
    reward, info = _play_squeeze(gs, [1.6, 1.6], [5, 5])  # r = (8 + 8) / 2 = 8
    assert info["squeeze_sum"] == pytest.approx(8.0)
    assert reward == pytest.approx(8.0)
    reward, _ = _play_squeeze(gs, [1.0, 0.5], [10, 10])  # r = 7.5
    assert reward == pytest.approx(7.5 * math.exp(-1.0))
    assert gs.optimal_value == pytest.approx(8.0, abs=0.02)
    assert gs.local_optimum_value is None

    mgs = trmarl.make("MultiDomainGaussianSqueeze")
    assert mgs.multi_domain
    reward, _ = _play_squeeze(mgs, [1.0, 1.0], [5, 5])  # r = 5: the wide local optimum
    assert reward == pytest.approx(5.0, abs=1e-6)
    reward, _ = _play_squeeze(mgs, [1.6, 1.6], [5, 5])  # r = 8: the narrow global optimum
    assert reward == pytest.approx(8.0, abs=1e-3)
    assert mgs.optimal_value == pytest.approx(8.0, abs=0.02)
    assert mgs.local_optimum_value == pytest.approx(5.05, abs=0.05)


def test_gaussian_squeeze_spaces_and_best_action() -> None:
    env = GaussianSqueezeEnv(n_agents=3, obs_mode="local")
    obs, _ = env.reset(seed=3)
    assert env.observation_space("agent_2").shape == (1,)
    assert env.state().shape == (3,)
    assert np.all((env.x >= 0.0) & (env.x <= 2.0))
    np.testing.assert_allclose(obs["agent_2"], env.x[2:3], rtol=1e-6)
    joint, value = env.best_joint_action()
    assert value == pytest.approx(float(squeeze_value(env.squeeze_sum(joint))))
    _, rew, *_ = env.step({f"agent_{i}": u for i, u in enumerate(joint)})
    assert rew["agent_0"] == pytest.approx(value)
    glob = trmarl.make("GaussianSqueeze", n_agents=4)
    obs, _ = glob.reset(seed=0)
    assert obs["agent_1"].shape == (4,)
    with pytest.raises(ValueError, match="exceed"):
        GaussianSqueezeEnv(n_agents=10).best_joint_action()


# --------------------------------------------------------------------------------------------------------------
# Predator-prey
# --------------------------------------------------------------------------------------------------------------


def _pp(**kwargs: object) -> PredatorPreyEnv:
    env = PredatorPreyEnv(**kwargs)  # type: ignore[arg-type]
    env.reset(seed=0)
    return env


def _step(env: PredatorPreyEnv, predator_actions: list[int], prey_actions: list[int]) -> tuple:
    env.set_prey_actions(prey_actions)
    return env.step({f"predator_{i}": a for i, a in enumerate(predator_actions)})


def test_capture_gives_plus_one_and_respawns() -> None:
    env = _pp(grid_size=5, n_predators=2, n_prey=1)
    env.set_positions(predators=[[1, 2], [2, 1]], prey=[[2, 2]])
    assert env.adjacent_predators().tolist() == [2]
    _, rew, term, trunc, info = _step(env, [STAY, STAY], [STAY])
    assert rew == {"predator_0": 1.0, "predator_1": 1.0}
    assert info["predator_0"] == {"captures": 1, "penalties": 0}
    assert not any(term.values()) and not any(trunc.values())
    prey = tuple(env.prey_positions[0])
    assert prey != (2, 2) and prey not in {(1, 2), (2, 1)}
    np.testing.assert_array_equal(env.predator_positions, [[1, 2], [2, 1]])


def test_capture_after_moves() -> None:
    env = _pp(grid_size=5, n_predators=2, n_prey=1)
    env.set_positions(predators=[[0, 2], [2, 0]], prey=[[2, 2]])
    _, rew, *_ = _step(env, [DOWN, RIGHT], [STAY])  # predators end at (1, 2) and (2, 1)
    assert rew["predator_0"] == 1.0


@pytest.mark.parametrize("penalty", [0.5, 1.0, 1.5])
def test_single_adjacent_predator_gives_penalty(penalty: float) -> None:
    env = _pp(grid_size=5, n_predators=2, n_prey=1, penalty=penalty)
    env.set_positions(predators=[[1, 2], [4, 4]], prey=[[2, 2]])
    _, rew, _, _, info = _step(env, [STAY, STAY], [STAY])
    assert rew == {"predator_0": -penalty, "predator_1": -penalty}
    assert info["predator_1"] == {"captures": 0, "penalties": 1}
    np.testing.assert_array_equal(env.prey_positions, [[2, 2]])  # no capture, no respawn
    env.set_positions(predators=[[1, 1], [3, 3]], prey=[[2, 2]])  # diagonal cells are not adjacent
    _, rew, *_ = _step(env, [STAY, STAY], [STAY])
    assert rew["predator_0"] == 0.0


def test_rewards_sum_over_prey() -> None:
    env = _pp(grid_size=7, n_predators=4, n_prey=2, penalty=0.5)
    # prey 0 at (1, 1) caught by predators 0 and 1; prey 1 at (5, 5) next to predator 2 only
    env.set_positions(predators=[[0, 1], [1, 0], [5, 4], [3, 3]], prey=[[1, 1], [5, 5]])
    _, rew, _, _, info = _step(env, [STAY] * 4, [STAY, STAY])
    assert rew["predator_3"] == pytest.approx(1.0 - 0.5)
    assert info["predator_0"] == {"captures": 1, "penalties": 1}


def test_wall_bumping_keeps_position() -> None:
    env = _pp(grid_size=5, n_predators=2, n_prey=1)
    env.set_positions(predators=[[0, 0], [4, 4]], prey=[[2, 2]])
    _step(env, [UP, DOWN], [STAY])
    np.testing.assert_array_equal(env.predator_positions, [[0, 0], [4, 4]])
    _step(env, [LEFT, RIGHT], [STAY])
    np.testing.assert_array_equal(env.predator_positions, [[0, 0], [4, 4]])
    _step(env, [RIGHT, UP], [STAY])
    np.testing.assert_array_equal(env.predator_positions, [[0, 1], [3, 4]])


def test_occupant_moves_first() -> None:
    env = _pp(grid_size=5, n_predators=2, n_prey=1)
    # predator 0 moves into predator 1's cell; predator 1 moves on first, so both move
    env.set_positions(predators=[[2, 1], [2, 2]], prey=[[0, 0]])
    _step(env, [RIGHT, RIGHT], [STAY])
    np.testing.assert_array_equal(env.predator_positions, [[2, 2], [2, 3]])
    # the occupant stays: the mover is blocked
    env.set_positions(predators=[[2, 1], [2, 2]], prey=[[0, 0]])
    _step(env, [RIGHT, STAY], [STAY])
    np.testing.assert_array_equal(env.predator_positions, [[2, 1], [2, 2]])
    # a swap is blocked for both
    _step(env, [RIGHT, LEFT], [STAY])
    np.testing.assert_array_equal(env.predator_positions, [[2, 1], [2, 2]])
    # a predator entering the prey's cell lets the prey move first, although prey normally move last
    env.set_positions(predators=[[0, 0], [4, 4]], prey=[[0, 1]])
    _step(env, [RIGHT, STAY], [RIGHT])
    np.testing.assert_array_equal(env.predator_positions[0], [0, 1])
    np.testing.assert_array_equal(env.prey_positions, [[0, 2]])
    # the prey moves into a cell a predator has just left (predators move first)
    env.set_positions(predators=[[3, 3], [4, 0]], prey=[[3, 2]])
    _step(env, [DOWN, STAY], [RIGHT])
    np.testing.assert_array_equal(env.prey_positions, [[3, 3]])
    # a chain predator -> predator -> prey: the prey moves first, then predator 1, then predator 0
    env.set_positions(predators=[[2, 0], [2, 1]], prey=[[2, 2]])
    _step(env, [RIGHT, RIGHT], [RIGHT])
    np.testing.assert_array_equal(env.predator_positions, [[2, 1], [2, 2]])
    np.testing.assert_array_equal(env.prey_positions, [[2, 3]])


def test_sequential_moves_chains_and_cycles() -> None:
    # a train of three moving right into a free cell: everybody moves
    new = sequential_moves(np.array([[0, 0], [0, 1], [0, 2]]), [RIGHT, RIGHT, RIGHT], 4)
    np.testing.assert_array_equal(new, [[0, 1], [0, 2], [0, 3]])
    # the same train against the wall: nobody moves
    new = sequential_moves(np.array([[0, 1], [0, 2], [0, 3]]), [RIGHT, RIGHT, RIGHT], 4)
    np.testing.assert_array_equal(new, [[0, 1], [0, 2], [0, 3]])
    # a rotating 2x2 cycle is blocked
    pos = np.array([[0, 0], [0, 1], [1, 1], [1, 0]])
    new = sequential_moves(pos, [RIGHT, DOWN, LEFT, UP], 3)
    np.testing.assert_array_equal(new, pos)
    # two agents moving into the same free cell: the lower index wins
    new = sequential_moves(np.array([[0, 0], [0, 2]]), [RIGHT, LEFT], 3)
    np.testing.assert_array_equal(new, [[0, 1], [0, 2]])
    # a later agent's move into an earlier agent's vacated cell
    new = sequential_moves(np.array([[1, 1], [1, 0]]), [DOWN, RIGHT], 3)
    np.testing.assert_array_equal(new, [[2, 1], [1, 1]])


def test_truncation_at_max_steps() -> None:
    env = trmarl.make("PredatorPrey-5x5", max_steps=3)
    env.reset(seed=0)
    for t in range(1, 4):
        _, _, term, trunc, _ = env.step(dict.fromkeys(env.agents, STAY))
        assert not any(term.values())
        assert all(trunc.values()) == (t == 3) and any(trunc.values()) == (t == 3)
    assert env.agents == [] and env.n_steps == 3
    with pytest.raises(RuntimeError, match="reset"):
        env.step({"predator_0": 0, "predator_1": 0})
    default = trmarl.make("PredatorPrey-5x5")
    default.reset(seed=0)
    steps = 0
    while default.agents:
        default.step(dict.fromkeys(default.agents, STAY))
        steps += 1
    assert steps == 100


def test_predator_prey_shapes_and_observation() -> None:
    env = trmarl.make("PredatorPrey-7x7")
    assert isinstance(env, PredatorPreyEnv)
    assert env.possible_agents == [f"predator_{i}" for i in range(4)]
    assert (env.grid_size, env.n_predators, env.n_prey, env.penalty, env.max_steps) == (7, 4, 2, 0.5, 100)
    obs, _ = env.reset(seed=0)
    assert all(o.shape == (12,) and o.dtype == np.float32 for o in obs.values())
    assert env.state().shape == (12,) and env.state_space.shape == (12,)
    assert env.action_space("predator_3").n == 5
    positions = np.concatenate([env.predator_positions, env.prey_positions])
    assert len({tuple(p) for p in positions}) == 6
    obs = env.set_positions(predators=[[0, 0], [6, 6], [3, 2], [1, 5]], prey=[[4, 4], [0, 6]])
    expected = (np.array([0, 0, 6, 6, 3, 2, 1, 5, 4, 4, 0, 6]) - 3.5) / 7.0
    np.testing.assert_allclose(obs["predator_2"], expected, rtol=1e-6)
    np.testing.assert_allclose(env.state(), expected, rtol=1e-6)
    assert env.observation_space("predator_0").contains(obs["predator_0"])
    small = trmarl.make("PredatorPrey-5x5")
    obs, _ = small.reset(seed=0)
    assert obs["predator_1"].shape == (6,)


def test_predator_prey_relative_observation() -> None:
    """``observation="relative"``: the input the authors' Q networks build from the state (positions minus the
    predator's own, then ``i / n``, then its own position); the state stays absolute."""
    env = trmarl.make("PredatorPrey-7x7", observation="relative")
    obs, _ = env.reset(seed=3)
    assert all(o.shape == (15,) and o.dtype == np.float32 for o in obs.values())
    assert env.state_space.shape == (12,)
    obs = env.set_positions(predators=[[0, 0], [6, 6], [3, 2], [1, 5]], prey=[[4, 4], [0, 6]])
    grid = np.array([0, 0, 6, 6, 3, 2, 1, 5, 4, 4, 0, 6], dtype=np.float64).reshape(-1, 2)
    for i in range(4):
        own = (grid[i] - 3.5) / 7.0
        expected = np.concatenate([((grid - grid[i]) / 7.0).ravel(), [i / 4], own])
        np.testing.assert_allclose(obs[f"predator_{i}"], expected, atol=1e-6)
        assert env.observation_space(f"predator_{i}").contains(obs[f"predator_{i}"])
    np.testing.assert_allclose(env.state(), (grid.ravel() - 3.5) / 7.0, rtol=1e-6)
    step_obs = env.step({a: STAY for a in env.agents})[0]
    assert all(o.shape == (15,) for o in step_obs.values())
    # the rules do not depend on what the predators see
    plain = PredatorPreyEnv(grid_size=5, penalty=1.0)
    rel = PredatorPreyEnv(grid_size=5, penalty=1.0, observation="relative")
    plain.reset(seed=7)
    rel.reset(seed=7)
    rng = np.random.default_rng(0)
    for _ in range(30):
        actions = {a: int(rng.integers(5)) for a in plain.agents}
        _, r1, *_ = plain.step(actions)
        _, r2, *_ = rel.step(actions)
        assert r1 == r2
        np.testing.assert_array_equal(plain.state(), rel.state())


def test_predator_prey_render() -> None:
    env = PredatorPreyEnv(render_mode="ansi")
    env.reset(seed=0)
    env.set_positions(predators=[[0, 0], [1, 1]], prey=[[4, 4]])
    text = env.render()
    assert isinstance(text, str)
    assert text.splitlines()[1:] == ["A . . . .", ". B . . .", ". . . . .", ". . . . .", ". . . . a"]
    rgb = PredatorPreyEnv(render_mode="rgb_array")
    rgb.reset(seed=0)
    frame = rgb.render()
    assert isinstance(frame, np.ndarray) and frame.shape == (80, 80, 3) and frame.dtype == np.uint8


# --------------------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", TOY_IDS)
def test_bad_actions(env_id: str) -> None:
    env = trmarl.make(env_id)
    env.reset(seed=0)
    agents = list(env.agents)
    good = dict.fromkeys(agents, 0)
    missing = {a: 0 for a in agents[1:]}
    with pytest.raises(ValueError, match=rf"no action for agent '{agents[0]}'"):
        env.step(missing)
    n = env.action_space(agents[-1]).n
    with pytest.raises(ValueError, match=rf"action {n} of agent '{agents[-1]}' is out of range"):
        env.step({**good, agents[-1]: n})
    with pytest.raises(ValueError, match="out of range"):
        env.step({**good, agents[0]: -1})
    for bad in (1.0, "1", True, None, np.array([0, 1])):
        with pytest.raises(ValueError, match=rf"agent '{agents[0]}'"):
            env.step({**good, agents[0]: bad})
    with pytest.raises(ValueError, match="not live"):
        env.step({**good, "intruder": 0})
    with pytest.raises(ValueError, match="dict"):
        env.step([0] * len(agents))
    env.step({**good, agents[0]: np.array([0])})  # a one-element integer array is accepted


@pytest.mark.parametrize(
    "payoff", [[1, 2, 3], [[[1]]], [], [[]], [[1, 2], [3]], [[1, float("nan")], [0, 0]], [["a", "b"], ["c", "d"]], 5]
)
def test_bad_payoff(payoff: object) -> None:
    with pytest.raises(ValueError, match="payoff"):
        trmarl.make("MatrixGame-QTRAN", payoff=payoff)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"grid_size": 2, "n_predators": 2, "n_prey": 2},
        {"grid_size": 1},
        {"grid_size": 5.0},
        {"n_predators": 0},
        {"n_prey": 0},
        {"penalty": -0.5},
        {"penalty": float("inf")},
        {"penalty": "0.5"},
        {"max_steps": 0},
        {"render_mode": "human"},
        {"observation": "local"},
    ],
)
def test_bad_predator_prey_kwargs(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        PredatorPreyEnv(**kwargs)


def test_bad_other_kwargs_and_hooks() -> None:
    for kwargs in ({"n_agents": 0}, {"n_actions": 1}, {"obs_mode": "partial"}, {"render_mode": "rgb_array"}):
        with pytest.raises(ValueError):
            GaussianSqueezeEnv(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="render_mode"):
        MatrixGameEnv(render_mode="human")
    with pytest.raises(TypeError, match="MatrixGame-QTRAN"):
        trmarl.make("MatrixGame-QTRAN", grid_size=3)
    env = _pp()
    with pytest.raises(ValueError, match="share a cell"):
        env.set_positions(predators=[[0, 0], [0, 0]], prey=[[1, 1]])
    with pytest.raises(ValueError, match=r"lie in"):
        env.set_positions(predators=[[0, 0], [0, 5]], prey=[[1, 1]])
    with pytest.raises(ValueError, match="needs 2 predator"):
        env.set_positions(predators=[[0, 0]], prey=[[1, 1], [2, 2]])
    with pytest.raises(ValueError, match="set_prey_actions"):
        env.set_prey_actions([5])
