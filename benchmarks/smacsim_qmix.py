"""QMIX / VDN / QTRAN / IQL on SMACSim maps with pymarl2's defaults; prints the test win rate over training.

Usage::

    python benchmarks/smacsim_qmix.py --map 3m --algo QMIX --steps 200000 --seeds 0
    python benchmarks/smacsim_qmix.py --map 2s3z --algo VDN --steps 1000000 --seeds 0,1,2 --device cuda
    python benchmarks/smacsim_qmix.py --map 3s5z --steps 1000000 --checkpoint 50000 --resume

``--checkpoint N`` saves the model, its replay buffer and the wall time into the run's folder every N env steps;
``--resume`` continues from there (or starts afresh where there is no checkpoint), so long runs survive interruption;
without ``--resume`` a run whose folder holds a checkpoint stops rather than overwrite it.

Each run logs to ``runs/smacsim_<algo>_<map>/seed<k>/progress.csv`` (SB3's csv logger) and prints one line per test
(``test_nepisode`` greedy episodes every ``test_interval`` env steps, as pymarl's ``sc2.yaml``: 32 every 10k). SMACSim
is trmarl's SMAC-compatible simulator: its numbers are not StarCraft II numbers (see ``docs/envs.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _checkpoint import Checkpointer  # benchmarks/ is on sys.path when run as a script

from trmarl.agents.qmix import IQL, QMIX, VDN
from trmarl.agents.qtran import QTRAN

ALGOS: dict[str, Any] = {"QMIX": QMIX, "VDN": VDN, "QTRAN": QTRAN, "IQL": IQL}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--map", default="3m")
    parser.add_argument("--algo", default="QMIX", choices=sorted(ALGOS))
    parser.add_argument("--steps", type=float, default=2e5)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--test-interval", type=int, default=10_000)
    parser.add_argument("--test-nepisode", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpoint", type=int, default=0, help="save model + replay every N env steps (0: off)")
    parser.add_argument("--resume", action="store_true", help="continue each seed's run from its checkpoint")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    finals = []
    for seed in (int(s) for s in args.seeds.split(",")):
        folder = Path("runs") / f"smacsim_{args.algo.lower()}_{args.map}" / f"seed{seed}"
        saver = Checkpointer(folder, args.checkpoint)
        model = saver.resumed(ALGOS[args.algo], args.resume, device=args.device)
        if model is None:
            model = ALGOS[args.algo](
                f"SMACSim-{args.map}",
                seed=seed,
                n_envs=args.n_envs,
                device=args.device,
                verbose=0,
                test_interval=args.test_interval,
                test_nepisode=args.test_nepisode,
            )
        saver.csv_logger(model)
        if (remaining := int(args.steps) - model.num_timesteps) > 0:
            callback = saver if args.checkpoint > 0 else None
            model.learn(remaining, callback=callback, log_interval=1, reset_num_timesteps=False)
        assert model.env is not None
        stats = model.run_test_episodes(model.env, args.test_nepisode)
        finals.append(stats.get("win_rate", float("nan")))
        print(
            f"{args.algo} SMACSim-{args.map} seed {seed}: {model.num_timesteps} steps in {saver.elapsed():.0f} s, "
            f"final test win rate {finals[-1]:.3f}, return {stats['ep_rew_mean']:.2f}; curve in {folder}/progress.csv"
        )
    print(f"mean final test win rate over {len(finals)} seed(s): {np.mean(finals):.3f}")


if __name__ == "__main__":
    main()
