"""Regenerate the id table of ``docs/envs.md`` from the registry (every id built, its spaces read).

Usage:
    python docs/gen_envs.py            # rewrites the table between the markers in docs/envs.md
    python docs/gen_envs.py --check    # exits 1 if docs/envs.md is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import trmarl
from trmarl.envs.vec_env import EnvLayout

DOC = Path(__file__).with_name("envs.md")
BEGIN, END = "<!-- env-table -->", "<!-- /env-table -->"


def _dims(values: Any) -> str:
    vals = [int(v) for v in values]
    if len(set(vals)) == 1:
        return f"{vals[0]}" + (f" x{len(vals)}" if len(vals) > 1 else "")
    return ", ".join(str(v) for v in vals)


def describe(env_id: str) -> str:
    """One markdown table row for ``env_id`` (or the reason it cannot be built here)."""
    note = ""
    build_id = env_id
    if env_id.startswith("SMAC-"):  # real StarCraft II: the same spaces as the SMACSim map
        build_id, note = "SMACSim-" + env_id[len("SMAC-") :], "StarCraft II through `smac` (same spaces as SMACSim)"
    try:
        env = trmarl.make(build_id)
    except Exception as exc:  # an id whose simulator is absent or broken here: say why
        reason = str(exc).splitlines()[0].split(" (")[0][:110].replace("|", "/")
        return f"| `{env_id}` | - | - | - | - | not available here: {reason} |"
    try:
        layout = EnvLayout(env)
        acts = f"Discrete({_dims(layout.n_actions_per_agent)})" if layout.discrete else f"Box({_dims(layout.act_dims)})"
        extra = [note] if note else []
        if env_id.startswith("MaMuJoCo-"):
            glob = trmarl.make(env_id, obs_mode="global")
            extra.append(f"global obs {_dims(EnvLayout(glob).obs_dims)}")
            glob.close()
        if any(layout.packed_mask):
            extra.append("action masks")
        return (
            f"| `{env_id}` | {layout.n_agents} | {_dims(layout.obs_dims)} | {acts} | {layout.state_dim} | {'; '.join(extra)} |"
        )
    finally:
        env.close()


def table() -> str:
    rows = ["| id | agents | obs dims | actions | state dim | notes |", "|---|---|---|---|---|---|"]
    for family in ("mamujoco", "smacsim", "toy", "smac"):
        rows.extend(describe(i) for i in trmarl.list_envs(family))
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = DOC.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{table()}\n{END}{tail}"
    if args.check:
        if new != text:
            print("docs/envs.md is out of date: run python docs/gen_envs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
