"""Shared by the off-policy benchmark scripts: save a run every N env steps and continue it after an interruption."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from trmarl.common.logs import configure_logger


class Checkpointer(BaseCallback):
    """Save the model, its replay buffer and the wall time spent into ``folder`` every ``every`` env steps, so that a
    multi-hour off-policy run survives interruption; :meth:`resumed` continues it (episodes in flight restart).

    The three files are written to temporary names first and then renamed into place, and ``timing.json`` names the
    step it belongs to, so a kill while saving leaves the previous checkpoint whole, and the one unlikely mixed set
    (a kill between two renames) is detected on resume rather than continued from.
    """

    def __init__(self, folder: Path, every: int) -> None:
        super().__init__()
        self.folder, self.every = folder, every
        self.start = time.perf_counter()
        self.elapsed_before = 0.0
        self.next_save = 0

    def elapsed(self) -> float:
        """Wall seconds spent on this run, earlier sessions included."""
        return self.elapsed_before + time.perf_counter() - self.start

    def resumed(self, cls: Any, resume: bool, **load_kwargs: Any) -> Any:
        """The checkpointed model with its replay buffer, or None when the folder has no complete checkpoint.

        Raises:
            SystemExit: The folder holds a checkpoint and ``resume`` is False (a fresh run would overwrite it).
        """
        files = [self.folder / name for name in ("checkpoint.zip", "replay.zip", "timing.json")]
        if not all(f.exists() for f in files):
            return None
        if not resume:
            steps = json.loads(files[2].read_text()).get("num_timesteps")
            raise SystemExit(
                f"{self.folder} holds a checkpoint at {steps} steps: pass --resume to continue it, or move the folder "
                "away to start afresh"
            )
        model = cls.load(files[0], **load_kwargs)
        model.load_replay_buffer(files[1])
        timing = json.loads(files[2].read_text())
        if timing["num_timesteps"] != model.num_timesteps:  # killed between the writes: the files disagree
            raise RuntimeError(f"{self.folder}: checkpoint and timing.json disagree; delete them to start over")
        self.elapsed_before = float(timing["elapsed"])
        print(f"resuming {self.folder} at {model.num_timesteps} steps", flush=True)
        return model

    def csv_logger(self, model: Any) -> None:
        """Log to ``folder/progress.csv``; a resumed run keeps the rows up to its checkpoint and goes on below them
        (runs resumed before this existed left their earlier rows in ``progress.csv.partN``)."""
        resume_step = model.num_timesteps if self.elapsed_before > 0 else None
        model.set_logger(configure_logger(self.folder, ["csv"], resume_step=resume_step))

    def _on_training_start(self) -> None:
        self.next_save = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_save:
            self.next_save = (self.num_timesteps // self.every + 1) * self.every
            self.folder.mkdir(parents=True, exist_ok=True)
            names = ("checkpoint.zip", "replay.zip", "timing.json")
            self.model.save(self.folder / "tmp_checkpoint.zip")
            self.model.save_replay_buffer(self.folder / "tmp_replay.zip")
            timing = {"num_timesteps": self.num_timesteps, "elapsed": self.elapsed()}
            (self.folder / "tmp_timing.json").write_text(json.dumps(timing))
            # every file written before any is put in place: a kill while writing (seconds, for a large replay) leaves
            # the older, consistent set; only one between the three renames (microseconds) would leave a mixed one
            for name in names:
                os.replace(self.folder / f"tmp_{name}", self.folder / name)
        return True
