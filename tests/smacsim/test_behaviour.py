"""Balance sanity: random play almost never wins 3m, focus fire wins it most of the time (nothing tuned for this)."""

from __future__ import annotations

import numpy as np

from trmarl.envs.smacsim import StarCraft2Env


def focus_fire(env: StarCraft2Env) -> list[int]:
    """Everyone shoots the weakest enemy in range, else walks east (toward the enemy spawn)."""
    avail = env.get_avail_actions_array()
    enemies = env.enemies
    weakness = [e.health + e.shield if e.alive else np.inf for e in enemies.values()]
    actions = []
    for row in avail:
        if row[0]:
            actions.append(0)
            continue
        targets = [e for e in range(env.n_enemies) if row[6 + e]]
        actions.append(6 + min(targets, key=lambda e: weakness[e]) if targets else (4 if row[4] else 1))
    return actions


def play(env: StarCraft2Env, policy: str, episodes: int, seed: int = 0) -> tuple[int, float]:
    rng = np.random.default_rng(seed)
    wins, returns = 0, []
    for _ in range(episodes):
        env.reset()
        done, ret = False, 0.0
        while not done:
            if policy == "random":
                avail = env.get_avail_actions_array()
                actions = np.argmax(rng.random(avail.shape) * avail, axis=1)
            else:
                actions = focus_fire(env)
            reward, done, info = env.step(actions)
            ret += reward
        wins += info["battle_won"]
        returns.append(ret)
    return wins, float(np.mean(returns))


def test_random_policy_rarely_wins_3m() -> None:
    wins, mean_return = play(StarCraft2Env("3m", seed=0), "random", 40)
    assert wins <= 2
    assert 0.5 < mean_return < 6.0


def test_focus_fire_wins_3m_most_of_the_time() -> None:
    wins, mean_return = play(StarCraft2Env("3m", seed=1), "focus", 40)
    assert wins >= 24
    assert mean_return > 12.0


def test_focus_fire_beats_random_on_2s3z() -> None:
    env = StarCraft2Env("2s3z", seed=2)
    assert play(env, "focus", 15)[0] > play(env, "random", 15)[0]
