"""Peak memory of saving and loading an episode replay buffer the size of SMACSim-3s5z's (8 agents, obs 128, state 216,
14 actions, 150-step episodes), each phase in a fresh process so one peak does not hide the other.

    python benchmarks/replay_memory.py --episodes 400 1500      # a full 3s5z replay holds 5000 episodes (3.9 GB)

The buffer is filled with random observations (episode by episode, so the baseline holds no whole-buffer temporaries),
then :meth:`~trmarl.agents.off_policy.OffPolicyAgent.save_replay_buffer`'s file is written or read back. "extra" is the
rise of the process's peak resident memory over what it held with the filled buffer.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(name: str, episodes: int, path: str) -> str:
    """Fill a buffer, run one phase (``save`` or ``load``), and describe its memory and time."""
    from trmarl.common.replay import EpisodeReplayBuffer

    buf = EpisodeReplayBuffer(episodes, n_agents=8, obs_dim=128, state_dim=216, n_actions=14, episode_limit=150, seed=0)
    rng = np.random.default_rng(0)
    for e in range(episodes):
        buf.obs[e] = rng.standard_normal(buf.obs.shape[1:], dtype=np.float32)
        buf.state[e] = rng.standard_normal(buf.state.shape[1:], dtype=np.float32)
    buf.action_mask[...] = True
    buf.lengths[:] = 150
    buf.size = buf.episodes_in = episodes
    base, start = _peak_mb(), time.perf_counter()
    if name == "save":  # what OffPolicyAgent.save_replay_buffer calls
        buf.save(path)
    else:  # what OffPolicyAgent.load_replay_buffer calls: entry by entry into the buffer's own storage
        buf.load(path)
    seconds = time.perf_counter() - start
    size = sum(a.nbytes for a in buf.state_dict()[0].values()) / 2**20
    extra = _peak_mb() - base
    return f"| {episodes} | {size:,.0f} | {name} | {extra:,.0f} | {extra / size:.2f} | {seconds:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, nargs="+", default=[400])
    parser.add_argument("--phase", choices=["save", "load"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(phase(args.phase, args.episodes[0], args.path), flush=True)
        return
    print("| episodes | buffer MB | phase | extra peak MB | x buffer | seconds |\n|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for episodes in args.episodes:
            path = str(Path(tmp) / f"replay_{episodes}.zip")
            for name in ("save", "load"):
                cmd = [sys.executable, __file__, "--phase", name, "--episodes", str(episodes), "--path", path]
                subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
