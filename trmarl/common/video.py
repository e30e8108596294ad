"""Record a trained policy playing whole episodes and write the frames as a GIF or an MP4.

>>> import trmarl
>>> from trmarl.common.video import record_video
>>> model = trmarl.load_pretrained("QMIX", "SMACSim-3m")               # doctest: +SKIP
>>> stats = record_video(model, "SMACSim-3m", "3m.gif", n_episodes=1)   # doctest: +SKIP

Frames come from the env's ``render_mode="rgb_array"`` (MaMuJoCo renders headless through EGL, which the env selects
itself when there is no display; SMACSim draws its battles with numpy). GIFs are written with Pillow (frame by frame,
each reduced to a 256-colour palette as it arrives, so long episodes stay light in memory); MP4s with imageio's ffmpeg
plugin (``pip install imageio imageio-ffmpeg``, or ``pip install "trmarl[video]"``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EpisodeStats", "VideoError", "VideoWriter", "check_video_path", "play_episodes", "record_video"]

_SUFFIXES = (".gif", ".mp4")


class VideoError(RuntimeError):
    """A video that cannot be written: an unsupported suffix, a missing encoder, or an env that cannot render frames."""


@dataclasses.dataclass
class EpisodeStats:
    """Returns, lengths and wins of the episodes played by :func:`play_episodes`."""

    returns: list[float] = dataclasses.field(default_factory=list)
    lengths: list[int] = dataclasses.field(default_factory=list)
    wins: list[bool] = dataclasses.field(default_factory=list)
    frames: int = 0

    @property
    def mean_return(self) -> float:
        """Mean episode return."""
        return float(np.mean(self.returns)) if self.returns else float("nan")

    @property
    def std_return(self) -> float:
        """Standard deviation of the episode returns."""
        return float(np.std(self.returns)) if self.returns else float("nan")

    @property
    def win_rate(self) -> float | None:
        """Fraction of won episodes where the env reports wins, else None."""
        return float(np.mean(self.wins)) if self.wins else None


def check_video_path(path: str | os.PathLike[str]) -> Path:
    """Check that a video can be written to ``path`` before any episode is played.

    Raises:
        VideoError: The suffix is neither ``.gif`` nor ``.mp4``, the MP4 encoder (imageio-ffmpeg) is missing, or the
            folder does not exist.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _SUFFIXES:
        raise VideoError(f"cannot write {str(p)!r}: the video file must end in .gif or .mp4")
    if not p.parent.exists():
        raise VideoError(f"cannot write {str(p)!r}: folder {str(p.parent)!r} does not exist")
    if suffix == ".mp4":
        try:
            import imageio  # noqa: F401
            import imageio_ffmpeg  # noqa: F401
        except ImportError as exc:
            raise VideoError(
                f"writing MP4 needs imageio and imageio-ffmpeg ({exc.name} is not installed): "
                "pip install imageio imageio-ffmpeg, or write a GIF instead (--render out.gif)"
            ) from exc
    else:
        try:
            import PIL  # noqa: F401
        except ImportError as exc:  # pragma: no cover - Pillow comes with matplotlib
            raise VideoError("writing GIF needs Pillow: pip install pillow") from exc
    return p


class VideoWriter:
    """Append ``(H, W, 3)`` uint8 frames one at a time and write a GIF (Pillow) or an MP4 (imageio + ffmpeg).

    Use as a context manager; the file is complete after :meth:`close`.

    Args:
        path: Target ``.gif`` or ``.mp4`` file.
        fps: Frames per second.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float = 30.0) -> None:
        self.path = check_video_path(path)
        if not fps > 0:
            raise VideoError(f"fps must be > 0, got {fps!r}")
        self.fps = float(fps)
        self.n_frames = 0
        self._gif_frames: list[Any] = []
        self._mp4: Any = None
        if self.path.suffix.lower() == ".mp4":
            import imageio

            # macro_block_size=1: keep the frame size (ffmpeg would otherwise pad to multiples of 16)
            self._mp4 = imageio.get_writer(str(self.path), fps=self.fps, macro_block_size=1)

    def append(self, frame: np.ndarray) -> None:
        """Add one ``(H, W, 3)`` (or ``(H, W, 4)``) uint8 frame."""
        arr = np.asarray(frame)
        if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
            raise VideoError(f"a frame must be an (H, W, 3) RGB array, got shape {arr.shape}")
        arr = np.ascontiguousarray(arr[..., :3], dtype=np.uint8)
        if self._mp4 is not None:
            self._mp4.append_data(arr)
        else:
            from PIL import Image

            self._gif_frames.append(Image.fromarray(arr).quantize(colors=256))
        self.n_frames += 1

    def close(self) -> Path:
        """Finish the file and return its path."""
        if self._mp4 is not None:
            self._mp4.close()
            self._mp4 = None
        elif self._gif_frames:
            first, rest = self._gif_frames[0], self._gif_frames[1:]
            duration = max(round(1000.0 / self.fps), 20)  # ms per frame; browsers clamp below 20 ms
            first.save(self.path, save_all=True, append_images=rest, duration=duration, loop=0, optimize=False)
            self._gif_frames = []
        return self.path

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def play_episodes(
    model: Any,
    env: Any,
    n_episodes: int = 1,
    deterministic: bool = True,
    seed: int | None = None,
    writer: VideoWriter | None = None,
    max_frames: int | None = None,
) -> EpisodeStats:
    """Play whole episodes in one PettingZoo ``ParallelEnv`` with ``model.predict`` on its observation dicts.

    Args:
        model: A trmarl agent.
        env: A ParallelEnv, made with ``render_mode="rgb_array"`` when ``writer`` is given.
        n_episodes: Episodes to play.
        deterministic: Greedy / mean actions.
        seed: Seed of the first reset (episode ``k`` uses ``seed + k``).
        writer: Where the frames go (None: no frames are rendered).
        max_frames: Stop adding frames after this many (the episodes still finish).

    Returns:
        The episodes' returns (team reward sums), lengths and wins (SMAC-style envs).
    """
    stats = EpisodeStats()
    for k in range(n_episodes):
        obs, _ = env.reset(seed=None if seed is None else seed + k)
        state = None
        start = np.ones(1, dtype=bool)
        total, length, won = 0.0, 0, None
        if writer is not None:
            _add_frame(env, writer, stats, max_frames)
        while env.agents:
            actions, state = model.predict(obs, state=state, episode_start=start, deterministic=deterministic)
            start = np.zeros(1, dtype=bool)
            obs, rewards, terminations, truncations, infos = env.step(actions)
            length += 1
            total += float(np.mean(list(rewards.values()))) if rewards else 0.0
            for info in infos.values():
                if "battle_won" in info:
                    won = bool(info["battle_won"])
            if writer is not None:
                _add_frame(env, writer, stats, max_frames)
            if all(terminations.get(a, False) or truncations.get(a, False) for a in rewards):
                break
        stats.returns.append(total)
        stats.lengths.append(length)
        if won is not None:
            stats.wins.append(won)
    return stats


def _add_frame(env: Any, writer: VideoWriter, stats: EpisodeStats, max_frames: int | None) -> None:
    if max_frames is not None and stats.frames >= max_frames:
        return
    frame = env.render()
    if not isinstance(frame, np.ndarray):
        raise VideoError(f"{type(env).__name__}.render() returned {type(frame).__name__}, not an RGB array")
    writer.append(frame)
    stats.frames += 1


def record_video(
    model: Any,
    env_id: str,
    path: str | os.PathLike[str],
    env_kwargs: dict[str, Any] | None = None,
    n_episodes: int = 1,
    deterministic: bool = True,
    seed: int | None = 0,
    fps: float | None = None,
    max_frames: int | None = None,
) -> EpisodeStats:
    """Play ``n_episodes`` of a registered env with ``model`` and write the frames to ``path`` (``.gif`` or ``.mp4``).

    Args:
        model: A trmarl agent trained on ``env_id``.
        env_id: A registered id whose env supports ``render_mode="rgb_array"`` (MaMuJoCo, SMACSim).
        path: The video file.
        env_kwargs: Keyword arguments of the env (``obs_mode``, ``width``/``height`` for MaMuJoCo...).
        n_episodes: Episodes to record, one after the other.
        deterministic: Greedy / mean actions.
        seed: Seed of the first episode.
        fps: Frames per second (default: the env's ``metadata["render_fps"]``, else 30).
        max_frames: Keep at most this many frames.

    Returns:
        The episodes' statistics (``.frames`` frames were written).

    Raises:
        VideoError: Unsupported file suffix, missing encoder, or an env without ``rgb_array`` rendering.
    """
    from trmarl.envs.registry import resolve_entry_point, spec

    check_video_path(path)
    env_spec = spec(env_id)
    factory = resolve_entry_point(env_spec.entry_point)
    modes = list((getattr(factory, "metadata", None) or {}).get("render_modes", ["rgb_array"]))
    if "rgb_array" not in modes:
        raise VideoError(f"{env_id} cannot render frames (its render modes: {modes}); videos need 'rgb_array'")
    env = env_spec.make(**{**(env_kwargs or {}), "render_mode": "rgb_array"})
    try:
        rate = fps or float((getattr(env, "metadata", None) or {}).get("render_fps") or 30.0)
        with VideoWriter(path, fps=rate) as writer:
            stats = play_episodes(model, env, n_episodes, deterministic, seed, writer, max_frames)
    finally:
        env.close()
    return stats
