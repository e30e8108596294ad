"""Embed a trained trmarl policy in another program: load a checkpoint and drive a plain PettingZoo env with it.

The program owns the loop; the policy only answers ``predict`` calls. ``predict`` takes the env's observation dict
(``{agent: obs}``, where an obs may be PettingZoo's ``{"observation", "action_mask"}`` dict) and returns an action
dict for the same agents. Recurrent policies (QMIX, QTRAN) also return a hidden state to pass back on the next call,
with ``episode_start`` set at the first step of every episode.

    python examples/embed_policy.py                                   # the shipped QMIX on SMACSim-3m
    python examples/embed_policy.py --checkpoint runs/qmix_smacsim/model.zip --episodes 5
    python examples/embed_policy.py --algo QTRAN --env MatrixGame-QTRAN
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

import trmarl
from trmarl.agents.base import BaseAgent


def run_episode(policy: BaseAgent, env: Any, seed: int) -> tuple[float, int, bool | None]:
    """Play one episode; returns the team return, the length and whether the battle was won (where reported)."""
    obs, infos = env.reset(seed=seed)
    hidden = None  # recurrent state of the policy
    first = np.ones(1, dtype=bool)
    total, steps, won = 0.0, 0, None
    while env.agents:
        actions, hidden = policy.predict(obs, state=hidden, episode_start=first, deterministic=True)
        first = np.zeros(1, dtype=bool)
        obs, rewards, _, _, infos = env.step(actions)
        total += float(np.mean(list(rewards.values())))  # the team reward (every agent receives it)
        steps += 1
        won = next((bool(i["battle_won"]) for i in infos.values() if "battle_won" in i), won)
    return total, steps, won


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="a checkpoint zip (default: the shipped --algo on --env)")
    parser.add_argument("--algo", default="QMIX", help="pretrained algorithm when no --checkpoint is given")
    parser.add_argument("--env", default="SMACSim-3m", help="env id (default SMACSim-3m)")
    parser.add_argument("--episodes", type=int, default=3, help="episodes to play (default 3)")
    args = parser.parse_args()

    if args.checkpoint is not None:
        policy = trmarl.load(args.checkpoint, device="cpu", verbose=0)
    else:
        policy = trmarl.load_pretrained(args.algo, args.env, device="cpu", verbose=0)
    env = trmarl.make(args.env, **policy.env_kwargs)
    print(f"{policy.algorithm_name} ({policy.num_timesteps} training steps) playing {args.env}; agents {env.possible_agents}")
    for episode in range(args.episodes):
        total, steps, won = run_episode(policy, env, seed=episode)
        outcome = "" if won is None else (", won" if won else ", lost")
        print(f"episode {episode}: return {total:.2f} in {steps} steps{outcome}")
    env.close()


if __name__ == "__main__":
    main()
