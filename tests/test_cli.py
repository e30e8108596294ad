"""The ``trmarl`` command: typed ``--set`` parsing, one-line errors, and train -> eval -> info -> plot -> render."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from trmarl.cli import CLIError, main, parse_env_kwargs, parse_overrides, parse_value

TINY_QMIX = [
    "--timesteps", "100", "--n-envs", "2", "--set", "batch_size=4", "--set", "test_nepisode=0",
    "--set", "hidden_dim=8", "--set", "mixing_embed_dim=4", "--set", "hypernet_embed=8", "--quiet",
]  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# parsing
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tp", "expected"),
    [
        ("3", int, 3),
        ("100_000", int, 100_000),
        ("1e6", int, 1_000_000),
        ("3e-4", float, 3e-4),
        ("true", bool, True),
        ("No", bool, False),
        ("relu", str, "relu"),
        ("none", float | None, None),
        ("0.5", float | None, 0.5),
        ("64,64", tuple[int, ...], (64, 64)),
        ("[128, 128, 128]", tuple[int, ...], (128, 128, 128)),
        ("(1, 2)", list[int], [1, 2]),
        ("vdn", Literal["qmix", "vdn"] | None, "vdn"),
        ("None", Literal["qmix", "vdn"] | None, None),
    ],
)
def test_parse_value(text: str, tp: object, expected: object) -> None:
    value = parse_value(text, tp)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "tp"),
    [("abc", float), ("1.5", int), ("maybe", bool), ("x", Literal["qmix", "vdn"]), ("1,x", tuple[int, ...]), ("none", int)],
)
def test_parse_value_rejects(text: str, tp: object) -> None:
    with pytest.raises(ValueError):
        parse_value(text, tp)


def test_parse_overrides_typed_and_validated() -> None:
    from trmarl.agents.happo import HAPPOConfig
    from trmarl.agents.qmix import QMIXConfig

    out = parse_overrides(HAPPOConfig, ["n_steps=50", "hidden_sizes=32,32", "max_grad_norm=none", "linear-lr-decay=yes"])
    assert out == {"n_steps": 50, "hidden_sizes": (32, 32), "max_grad_norm": None, "linear_lr_decay": True}
    assert parse_overrides(QMIXConfig, ["mixer=none", "lr=5e-4"]) == {"mixer": None, "lr": 5e-4}
    with pytest.raises(CLIError, match="Did you mean: lr"):
        parse_overrides(QMIXConfig, ["learning_rate=1e-3"])
    with pytest.raises(CLIError, match="n_epoch"):
        parse_overrides(HAPPOConfig, ["n_epoch=3"])
    with pytest.raises(CLIError, match="takes"):
        parse_overrides(HAPPOConfig, ["n_steps=ten"])
    with pytest.raises(CLIError, match="invalid hyperparameters"):
        parse_overrides(HAPPOConfig, ["n_steps=0"])  # the config's own validation
    with pytest.raises(CLIError, match="key=value"):
        parse_overrides(HAPPOConfig, ["n_steps"])


def test_parse_env_kwargs() -> None:
    assert parse_env_kwargs(["obs_mode=global", "agent_obsk=2", "fast_obs=false", "x=none", "l=[1, 2]"]) == {
        "obs_mode": "global",
        "agent_obsk": 2,
        "fast_obs": False,
        "x": None,
        "l": [1, 2],
    }


# ----------------------------------------------------------------------------------------------------------------
# one-line errors
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "qmxi", "SMACSim-3m"], "Did you mean: QMIX"),
        (["train", "qmix", "SMACSim-3x"], "Did you mean: SMACSim-3m"),
        (["train", "qmix", "SMACSim-3m", "--set", "lr=abc"], "lr takes float"),
        (["train", "qmix", "SMACSim-3m", "--set", "mixer=foo"], "one of 'qmix', 'vdn'"),
        (["train", "happo", "MatrixGame-QTRAN", "--set", "n_step=10"], "Did you mean: n_steps"),
        (["train", "qmix", "MatrixGame-QTRAN", "--env-kwarg", "nope=1", "--timesteps", "10"], "nope"),
        (["eval", "missing.zip"], "no checkpoint at 'missing.zip'"),
        (["info", "missing.zip"], "no checkpoint"),
        (["plot", "no_such_run"], "no run folder"),
        (["list", "hyperparameters", "foo"], "unknown algorithm"),
    ],
)
def test_user_errors_are_one_line(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main([*argv, *(["--out", str(tmp_path / "run")] if argv[0] == "train" else [])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trmarl: error:") and err.count("\n") == 1, err
    assert needle in err


def test_not_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"not a zip")
    for cmd in ("info", "eval"):
        assert main([cmd, str(bogus)]) == 2
        assert "not a trmarl checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["train"], ["eval"], ["list"], ["plot"], ["info"]])
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    assert "usage: trmarl" in capsys.readouterr().out


def test_console_script_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "trmarl.cli", "list", "algos"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "QMIX" in done.stdout and "HAPPO" in done.stdout


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "envs", "--family", "toy"]) == 0
    assert "MatrixGame-QTRAN" in capsys.readouterr().out
    assert main(["list", "pretrained"]) == 0
    capsys.readouterr()
    assert main(["list", "hyperparameters", "qmix"]) == 0
    out = capsys.readouterr().out
    assert "mixer (one of 'qmix', 'vdn' or None) = 'qmix'" in out and "monotonic" in out


# ----------------------------------------------------------------------------------------------------------------
# the user's path: train -> info -> eval -> plot, Ctrl-C
# ----------------------------------------------------------------------------------------------------------------


def test_train_eval_info_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for seed in (0, 1):
        run = tmp_path / f"qmix_s{seed}"
        assert main(["train", "qmix", "MatrixGame-QTRAN", *TINY_QMIX, "--seed", str(seed), "--out", str(run)]) == 0
        runs.append(run)
    assert "trmarl eval" in capsys.readouterr().out
    run = runs[0]
    for name in ("config.json", "progress.csv", "final_model.zip"):
        assert (run / name).exists(), name
    assert list((run / "checkpoints").glob("model_*_steps.zip"))
    config = json.loads((run / "config.json").read_text())
    assert config["algo"] == "QMIX" and config["env_id"] == "MatrixGame-QTRAN" and config["status"] == "finished"
    assert config["hyperparameters"]["batch_size"] == 4 and config["overrides"]["hidden_dim"] == 8
    assert config["num_timesteps"] >= 100 and config["command"][:2] == ["trmarl", "train"]
    pytest.importorskip("torch.utils.tensorboard")
    assert list(run.glob("events.out.tfevents.*"))

    assert main(["info", str(run / "final_model.zip")]) == 0
    out = capsys.readouterr().out
    assert "QMIX" in out and "MatrixGame-QTRAN" in out and "hidden_dim" in out
    assert main(["info", str(run / "final_model.zip"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["algorithm"] == "QMIX"

    assert main(["eval", str(run), "--episodes", "3"]) == 0  # a run folder means its final_model.zip
    assert "over 3 episodes" in capsys.readouterr().out

    fig = tmp_path / "curves.png"
    assert main(["plot", *map(str, runs), "--metric", "train/loss", "--out", str(fig)]) == 0
    assert "QMIX on MatrixGame-QTRAN: 2 runs" in capsys.readouterr().out
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(run), "--metric", "nope"]) == 2


def test_ctrl_c_saves_interrupted_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from trmarl.agents.qmix import QMIX

    original = QMIX.collect_rollouts
    calls = {"n": 0}

    def interrupted(self: QMIX, *args: object, **kwargs: object) -> bool:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(QMIX, "collect_rollouts", interrupted)
    run = tmp_path / "run"
    assert main(["train", "qmix", "MatrixGame-QTRAN", *TINY_QMIX, "--out", str(run)]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and f"trmarl resume {run}" in err
    assert (run / "interrupted_model.zip").exists() and not (run / "final_model.zip").exists()
    assert json.loads((run / "config.json").read_text())["status"] == "interrupted"
    import trmarl

    stopped_at = trmarl.load(run / "interrupted_model.zip").num_timesteps
    assert stopped_at > 0 and (run / "interrupted_replay_buffer.zip").exists()

    monkeypatch.undo()
    assert main(["resume", str(run), "--quiet"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["status"] == "finished" and config["num_timesteps"] >= 100
    (entry,) = config["resumed"]
    assert entry["from"] == "interrupted_model.zip" and entry["num_timesteps"] == stopped_at
    assert entry["replay_buffer"] == "interrupted_replay_buffer.zip"
    assert trmarl.load(run / "final_model.zip").num_timesteps == config["num_timesteps"]


def test_resume_continues_checkpoints_replay_and_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import trmarl
    from trmarl.common.callbacks import CheckpointCallback, checkpoint_steps, model_checkpoints
    from trmarl.common.serialization import CheckpointError

    run = tmp_path / "run"
    args = ["train", "qmix", "MatrixGame-QTRAN", *TINY_QMIX, "--checkpoint-freq", "20", "--out", str(run)]
    assert main(args) == 0
    # the final replay replaces the checkpoints' (only the newest of which was kept while training)
    assert not list((run / "checkpoints").glob("model_replay_buffer_*")) and (run / "final_replay_buffer.zip").exists()
    assert main(["info", str(run / "final_replay_buffer.zip")]) == 2  # a replay given where a model belongs is named
    assert "is a replay buffer, not a model checkpoint" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match=r"model\.load_replay_buffer"):
        trmarl.load(run / "final_replay_buffer.zip")
    assert [checkpoint_steps(p) for p in model_checkpoints(run / "checkpoints", "model")] == [20, 40, 60, 80, 100]
    steps_before = np.loadtxt(run / "progress.csv", delimiter=",", skiprows=1, usecols=_step_column(run), ndmin=1)

    assert main(args) == 2  # a second run into the same folder would mix its checkpoints with the first's
    assert f"trmarl resume {run}" in capsys.readouterr().err
    assert main(["resume", str(run), "--quiet"]) == 2  # already at its 100 steps
    assert "--timesteps" in capsys.readouterr().err
    assert main(["resume", str(run), "--timesteps", "200", "--quiet"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["timesteps"] == 200 and config["num_timesteps"] >= 200 and config["status"] == "finished"
    assert config["resumed"][0]["from"] == "final_model.zip"  # the tie with checkpoints/model_100: the one with a replay
    assert config["resumed"][0]["replay_buffer"] == "final_replay_buffer.zip"
    assert not list((run / "checkpoints").glob("model_replay_buffer_*"))
    steps = np.loadtxt(run / "progress.csv", delimiter=",", skiprows=1, usecols=_step_column(run), ndmin=1)
    assert np.all(np.diff(steps) > 0), steps  # one continuous log: the first run's rows, then the new ones
    assert np.array_equal(steps[: len(steps_before)], steps_before) and steps[-1] > 100
    assert trmarl.load(run / "final_model.zip").num_timesteps == config["num_timesteps"]

    with pytest.raises(ValueError, match="keep_replays"):
        CheckpointCallback(1, str(tmp_path), keep_replays=0)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["resume", str(empty)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def _step_column(run: Path) -> int:
    return (run / "progress.csv").read_text().splitlines()[0].split(",").index("time/total_timesteps")


def test_resumed_csv_keeps_rows_up_to_the_checkpoint(tmp_path: Path) -> None:
    from trmarl.common.logs import configure_logger

    first = configure_logger(tmp_path, ["csv"])
    for step in (10, 20, 30):
        first.record("time/total_timesteps", step)
        first.record("a", step * 2)
        first.dump(step)
    first.close()
    again = configure_logger(tmp_path, ["csv"], resume_step=20)
    again.record("time/total_timesteps", 25)
    again.record("a", 1)
    again.record("b", "x,y")  # a new column: SB3 rewrites the header and pads the kept rows
    again.dump(25)
    again.close()
    with open(tmp_path / "progress.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["time/total_timesteps"], r["a"], r["b"]) for r in rows] == [
        ("10", "20", ""),
        ("20", "40", ""),
        ("25", "1", "x,y"),
    ]


# ----------------------------------------------------------------------------------------------------------------
# video
# ----------------------------------------------------------------------------------------------------------------


def test_eval_render_gif_smacsim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trmarl import QMIX

    ckpt = QMIX("SMACSim-3m", seed=0, n_envs=1, hidden_dim=8, verbose=0).save(tmp_path / "untrained.zip")
    gif = tmp_path / "battle.gif"
    assert main(["eval", str(ckpt), "--render", str(gif), "--max-frames", "5"]) == 0
    assert "wrote 5 frames" in capsys.readouterr().out
    from PIL import Image

    with Image.open(gif) as im:
        assert im.n_frames == 5


def test_render_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = Path(__file__).resolve().parents[1] / "trmarl" / "zoo" / "checkpoints" / "qtran_MatrixGame-QTRAN.zip"
    if not ckpt.exists():
        pytest.skip("no shipped QTRAN checkpoint")
    assert main(["eval", str(ckpt), "--render", str(tmp_path / "x.avi")]) == 2
    assert ".gif or .mp4" in capsys.readouterr().err
    assert main(["eval", str(ckpt), "--render", str(tmp_path / "x.gif")]) == 2
    assert "cannot render frames" in capsys.readouterr().err
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        assert main(["eval", str(ckpt), "--render", str(tmp_path / "x.mp4")]) == 2
        assert "imageio-ffmpeg" in capsys.readouterr().err and ".gif" in capsys.readouterr().err + ".gif"


def test_eval_render_mp4_mamujoco(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("imageio_ffmpeg")
    import imageio

    from trmarl import HAPPO

    ckpt = tmp_path / "happo.zip"
    HAPPO("MaMuJoCo-HalfCheetah-2x3", n_envs=1, n_steps=10, seed=0, verbose=0).save(ckpt)
    video = tmp_path / "cheetah.mp4"
    try:
        code = main(["eval", str(ckpt), "--render", str(video), "--max-frames", "12", "--env-kwarg", "width=64"])
    except RuntimeError as exc:  # pragma: no cover - no EGL/OSMesa on this machine
        pytest.skip(f"headless MuJoCo rendering unavailable: {exc}")
    assert code == 0, capsys.readouterr().err
    reader = imageio.get_reader(video)
    frames = [f for f in reader]
    assert len(frames) == 12 and frames[0].shape[1] == 64 and frames[0].dtype == np.uint8
    assert float(np.std(frames[5])) > 0


def test_record_video_mamujoco(tmp_path: Path) -> None:
    from trmarl import HAPPO
    from trmarl.common.video import record_video

    model = HAPPO("MaMuJoCo-HalfCheetah-2x3", n_envs=1, n_steps=10, seed=0, verbose=0)
    try:
        stats = record_video(
            model,
            "MaMuJoCo-HalfCheetah-2x3",
            tmp_path / "cheetah.gif",
            env_kwargs={"max_episode_steps": 4, "width": 64, "height": 48},
        )
    except RuntimeError as exc:  # no EGL/OSMesa on this machine
        pytest.skip(f"headless MuJoCo rendering unavailable: {exc}")
    assert stats.frames == 5 and stats.lengths == [4]
    from PIL import Image

    with Image.open(tmp_path / "cheetah.gif") as im:
        assert im.size == (64, 48) and im.n_frames == 5
