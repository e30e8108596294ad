"""Print the Markdown table of every MaMuJoCo id for ``docs/envs_mamujoco.md``.

Builds each id once (``agent_obsk=1``) and reads the dimensions from its spaces, so the table matches the installed
gymnasium-robotics and MuJoCo.

Usage:
    python benchmarks/gen_mamujoco_table.py > /tmp/table.md
"""

from __future__ import annotations

import warnings

import trmarl
from trmarl.envs.mamujoco import MaMuJoCoEnv


def _dims(values: list[int]) -> str:
    """``12, 12``, or ``42 (x4)`` when more than two agents have the same size."""
    if len(set(values)) == 1 and len(values) > 2:
        return f"{values[0]} (x{len(values)})"
    return ", ".join(str(v) for v in values)


def table() -> str:
    """The Markdown table, one row per registered ``MaMuJoCo-*`` id."""
    header = (
        "| id | agent_conf | n_agents | local obs dims | global obs dim | act dims | action range | state dim "
        "| max steps | fast local obs |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [header]
    for env_id in trmarl.list_envs("mamujoco"):
        spec = trmarl.envs.spec(env_id)
        conf = spec.kwargs["agent_conf"].replace("|", "\\|")  # a bare | would end the table cell
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                env: MaMuJoCoEnv = trmarl.make(env_id)
                global_env: MaMuJoCoEnv = trmarl.make(env_id, obs_mode="global")
        except NotImplementedError:
            rows.append(
                f"| `{env_id}` | `{conf}` | 2 | - | - | - | - | - | - | raises `NotImplementedError` (MuJoCo >= 3.6) |"
            )
            continue
        agents = env.possible_agents
        local = [env.observation_space(a).shape[0] for a in agents]
        act = [env.action_space(a).shape[0] for a in agents]
        low, high = env.action_space(agents[0]).low[0], env.action_space(agents[0]).high[0]
        global_dim = global_env.observation_space(agents[0]).shape[0]
        rows.append(
            f"| `{env_id}` | `{conf}` | {len(agents)} | {_dims(local)} | {global_dim} | {_dims(act)} | [{low:g}, {high:g}] "
            f"| {env.state_space.shape[0]} | {env.max_episode_steps} | {'on' if env.fast_obs else 'off'} |"
        )
        env.close()
        global_env.close()
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
