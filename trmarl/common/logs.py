"""SB3 loggers that continue a run's ``progress.csv`` instead of overwriting it.

SB3's ``configure(folder, ["csv"])`` opens ``progress.csv`` for writing and so drops the rows of a run being resumed.
:func:`configure_logger` keeps them: the rows logged up to the step the run continues from stay, later rows (logged
after the checkpoint being resumed, so about to be logged again) go, and new rows follow with the same columns.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from stable_baselines3.common.logger import CSVOutputFormat, KVWriter, Logger, make_output_format

__all__ = ["ResumedCSVOutputFormat", "configure_logger"]

#: The column whose value decides which rows of a resumed log are kept.
STEP_COLUMN = "time/total_timesteps"


class ResumedCSVOutputFormat(CSVOutputFormat):
    """SB3's CSV writer that first keeps the rows of an existing file logged at or before ``resume_step``.

    Args:
        filename: The CSV file; created when missing.
        resume_step: Keep the rows whose ``time/total_timesteps`` is at most this (rows without a step count are kept
            when they come before the first dropped row). None: start a new file, as SB3 does.
    """

    def __init__(self, filename: str | os.PathLike[str], resume_step: int | None = None) -> None:
        path = Path(filename)
        header, kept = _rows_until(path, resume_step) if resume_step is not None and path.exists() else ([], [])
        super().__init__(str(path))  # opens the file "w+", emptying it
        if header:
            self.keys = list(header)
            self.file.write(",".join(header) + "\n")
            self.file.writelines(kept)
            self.file.flush()


def _rows_until(path: Path, resume_step: int) -> tuple[list[str], list[str]]:
    with open(path, newline="") as f:
        lines = f.readlines()
    if not lines:
        return [], []
    header = next(csv.reader([lines[0]]))
    col = header.index(STEP_COLUMN) if STEP_COLUMN in header else None
    kept = []
    for line in lines[1:]:
        if not line.endswith("\n"):  # a row cut short by a crash
            break
        if col is not None:
            cells = next(csv.reader([line]))
            try:
                step = float(cells[col])
            except (IndexError, ValueError):
                step = None
            if step is not None and step > resume_step:
                break
        kept.append(line)
    return header, kept


def configure_logger(
    folder: str | os.PathLike[str], format_strings: Sequence[str] = ("stdout", "csv"), resume_step: int | None = None
) -> Logger:
    """SB3's ``configure(folder, format_strings)``, except that ``"csv"`` continues ``progress.csv`` up to
    ``resume_step`` (see :class:`ResumedCSVOutputFormat`) when that is given.

    Args:
        folder: The log folder (created when missing).
        format_strings: Any of SB3's ``"stdout"``, ``"csv"``, ``"log"``, ``"json"``, ``"tensorboard"``.
        resume_step: The step count of the checkpoint a run continues from; None starts new logs.
    """
    os.makedirs(folder, exist_ok=True)
    outputs: list[KVWriter] = []
    for fmt in format_strings:
        if fmt == "csv":
            outputs.append(ResumedCSVOutputFormat(Path(folder) / "progress.csv", resume_step))
        else:
            outputs.append(make_output_format(fmt, str(folder)))
    return Logger(folder=str(folder), output_formats=outputs)
