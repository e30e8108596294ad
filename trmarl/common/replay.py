"""Replay buffers: whole episodes for the recurrent Q-learning family (IQL, VDN, QMIX, QTRAN), single transitions for
MADDPG/MATD3 (:class:`TransitionReplayBuffer`, at the end of this module).

Whole episodes are stored, padded to ``episode_limit + 1`` time slots, as in pymarl's ``EpisodeBatch``/``ReplayBuffer``
(``src/components/episode_buffer.py``): slot ``t`` holds what the agents saw before acting at step ``t`` (``obs``,
``state``, ``action_mask``, ``active``) and, for ``t < L`` (the episode length), what happened at step ``t``
(``actions``, ``reward``, ``terminated``, ``truncated``). Slot ``L`` holds the observation after the last step (the
vec env's ``final_obs``), which a time-limit (truncated) episode bootstraps from.

Capacity counts episodes (FIFO); sampling draws ``batch_size`` stored episodes uniformly and cuts the time axis to the
longest of them, so a batch of short episodes costs little. Observations are float32; masks are bool (one byte).

If an episode is longer than the current time axis (an env whose time limit is not known up front), the storage grows.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import safetensors
import torch
from safetensors.numpy import load as np_load
from safetensors.numpy import save as np_save

__all__ = ["EpisodeBatch", "EpisodeRecorder", "EpisodeReplayBuffer", "TransitionBatch", "TransitionReplayBuffer"]


CHUNK_BYTES = 64 * 2**20  # rows per zip entry are chosen so that one entry holds about this many bytes

Layout = dict[str, tuple[tuple[int, ...], np.dtype]]
"""The shape and dtype of every array stored in a replay file, whole (all entries together)."""
Targets = Callable[[dict, Layout], dict[str, np.ndarray]]
"""Given a replay file's metadata and :data:`Layout`, the arrays (or views) to read it into, of the stored shapes."""


def write_replay_file(
    path: str | os.PathLike[str],
    fmt: str,
    meta: dict,
    arrays: dict[str, np.ndarray],
    compress: bool = False,
    chunk_bytes: int = CHUNK_BYTES,
) -> Path:
    """Write a replay zip atomically: ``replay.json`` (``{"format": fmt, **meta}``) and the arrays as safetensors.

    The arrays share their first (row) axis; they are cut along it into entries ``replay-00000.safetensors``, ... of
    about ``chunk_bytes`` each, so writing holds one entry's bytes in memory on top of the buffer instead of a copy of
    the whole buffer (one safetensors blob of a full SMACSim-3s5z replay, 3.9 GB, took about 11 GB more). ``.zip`` is
    appended when ``path`` has no suffix. Returns the path written.
    """
    target = Path(path)
    target = target if target.suffix else target.with_suffix(".zip")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    rows = {len(a) for a in arrays.values()}
    n = rows.pop() if len(rows) == 1 else None
    row_bytes = sum(a[:1].nbytes for a in arrays.values())
    step = max(1, int(chunk_bytes) // max(1, row_bytes))
    bounds = [(lo, min(lo + step, n)) for lo in range(0, n, step)] if n else []
    header = {"format": fmt, **meta}
    if n is not None:
        header[_CHUNKS_KEY] = [hi - lo for lo, hi in bounds]
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as zf:
        zf.writestr("replay.json", json.dumps(header))
        if n is None or not bounds:  # rows of different lengths, or nothing stored: one entry as before
            zf.writestr("replay.safetensors", np_save({k: np.ascontiguousarray(a) for k, a in arrays.items()}))
        for i, (lo, hi) in enumerate(bounds):
            zf.writestr(_chunk_name(i), np_save({k: np.ascontiguousarray(a[lo:hi]) for k, a in arrays.items()}))
    os.replace(tmp, target)
    return target


_CHUNKS_KEY = "row_chunks"


def _chunk_name(i: int) -> str:
    return f"replay-{i:05d}.safetensors"


def read_replay_file(
    path: str | os.PathLike[str], fmt: str, into: Targets | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    """The metadata and arrays of a replay zip written by :func:`write_replay_file` with format ``fmt``.

    Entries are read one at a time into arrays allocated once, so reading takes the arrays plus one entry of memory.
    With ``into``, those arrays are the ones it returns when called with the metadata and the :data:`Layout` (a replay
    buffer's own storage, see :meth:`EpisodeReplayBuffer.restore_targets`): reading then takes one entry of memory and
    nothing more. Values are cast to the targets' dtypes (``uint8`` flags to ``bool``). Files from before the chunked
    layout (a single ``replay.safetensors``) read as well.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a trmarl replay file, one of another format, one whose entries do not fit together, or (raised
            by ``into``) one that does not fit the targets.
    """
    try:
        with zipfile.ZipFile(path, "r") as zf:
            meta = json.loads(zf.read("replay.json").decode())
            if not isinstance(meta, dict) or meta.get("format") != fmt:
                raise ValueError(f"{str(path)!r} is not a trmarl replay buffer file of format {fmt!r}")
            chunks = meta.pop(_CHUNKS_KEY, None)
            if not chunks:  # one entry: the layout before chunking, an empty buffer, or rows of different lengths
                whole = np_load(zf.read("replay.safetensors"))
                if into is None:
                    return meta, whole
                arrays = _targets(path, meta, {k: (a.shape, a.dtype) for k, a in whole.items()}, into)
                for k, a in whole.items():
                    arrays[k][...] = a
                return meta, arrays
            if not isinstance(chunks, list) or not all(type(c) is int and c > 0 for c in chunks):
                raise ValueError(f"{str(path)!r} has a malformed {_CHUNKS_KEY!r} list in replay.json")
            lo = 0
            for i, rows in enumerate(chunks):
                part = np_load(zf.read(_chunk_name(i)))
                if i == 0:
                    layout = {k: ((sum(chunks), *a.shape[1:]), a.dtype) for k, a in part.items()}
                    arrays = _targets(path, meta, layout, into)
                if part.keys() != layout.keys() or any(
                    a.shape != (rows, *layout[k][0][1:]) or a.dtype != layout[k][1] for k, a in part.items()
                ):
                    raise ValueError(
                        f"{str(path)!r}: entry {_chunk_name(i)} does not match the {rows} rows that replay.json lists "
                        "for it or the arrays, shapes and dtypes of the entries before it"
                    )
                for k, a in part.items():
                    arrays[k][lo : lo + rows] = a
                lo += rows
                del part
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, safetensors.SafetensorError) as exc:
        raise ValueError(f"{str(path)!r} is not a trmarl replay buffer file ({exc})") from exc
    return meta, arrays


def _targets(path: str | os.PathLike[str], meta: dict, layout: Layout, into: Targets | None) -> dict[str, np.ndarray]:
    if into is None:
        return {k: np.empty(shape, dtype=dtype) for k, (shape, dtype) in layout.items()}
    try:
        arrays = into(meta, layout)
    except ValueError as exc:  # the buffer's own checks do not know the file
        raise ValueError(f"cannot load the replay buffer in {str(path)!r}: {exc}") from exc
    wrong = [k for k, (shape, _) in layout.items() if k not in arrays or arrays[k].shape != shape]
    if wrong or arrays.keys() != layout.keys():
        raise ValueError(f"{str(path)!r}: the arrays to read into do not match the stored ones ({wrong or 'names'})")
    return arrays


def _counters(meta: dict, names: tuple[str, ...]) -> dict[str, int]:
    """The integer counters ``names`` of a replay's metadata."""
    try:
        return {k: int(meta[k]) for k in names}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the replay metadata lacks a counter or has a malformed one ({exc!r})") from exc


class EpisodeBatch(NamedTuple):
    """A batch of ``B`` episodes cut to ``T`` steps (the longest in the batch), as torch tensors.

    ``mask`` marks the steps that count in a loss: filled steps up to and including the terminal one
    (pymarl: ``mask = filled[:, :-1]; mask[:, 1:] *= 1 - terminated[:, :-1]``).
    """

    obs: torch.Tensor  # (B, T+1, N, D) float32
    state: torch.Tensor  # (B, T+1, S) float32
    action_mask: torch.Tensor  # (B, T+1, N, A) bool
    active: torch.Tensor  # (B, T+1, N) bool
    actions: torch.Tensor  # (B, T, N) int64 (0 where not filled)
    reward: torch.Tensor  # (B, T) float32
    terminated: torch.Tensor  # (B, T) float32, 1 at a true terminal step (no bootstrap)
    truncated: torch.Tensor  # (B, T) float32, 1 at the last step of an episode cut by a time limit (bootstrap)
    mask: torch.Tensor  # (B, T) float32


class EpisodeRecorder:
    """Collects the steps of ``E`` concurrent episodes (one per env) until each one ends.

    Args:
        n_envs: ``E``.
        n_agents, obs_dim, state_dim, n_actions: Array sizes ``N``, ``D``, ``S``, ``A``.
        max_len: Initial time capacity (grows when an episode runs longer).
    """

    def __init__(self, n_envs: int, n_agents: int, obs_dim: int, state_dim: int, n_actions: int, max_len: int = 64) -> None:
        self.n_envs = n_envs
        self.T = max(1, int(max_len))
        self.shapes = {
            "obs": ((n_agents, obs_dim), np.float32),
            "state": ((state_dim,), np.float32),
            "action_mask": ((n_agents, n_actions), np.bool_),
            "active": ((n_agents,), np.bool_),
            "actions": ((n_agents,), np.int64),
            "reward": ((), np.float32),
            "terminated": ((), np.bool_),
            "truncated": ((), np.bool_),
        }
        self.data: dict[str, np.ndarray] = {
            k: np.zeros((n_envs, self.T + 1, *s), dtype=dt) for k, (s, dt) in self.shapes.items()
        }
        self.t = np.zeros(n_envs, dtype=np.int64)

    def _grow(self) -> None:
        new_T = self.T * 2
        for k, v in self.data.items():
            grown = np.zeros((v.shape[0], new_T + 1, *v.shape[2:]), dtype=v.dtype)
            grown[:, : self.T + 1] = v
            self.data[k] = grown
        self.T = new_T

    def observe(self, obs: np.ndarray, state: np.ndarray, action_mask: np.ndarray, active: np.ndarray) -> None:
        """Write what every env shows now at its current slot (``(E, N, D)``, ``(E, S)``, ``(E, N, A)``, ``(E, N)``)."""
        idx = np.arange(self.n_envs)
        self.data["obs"][idx, self.t] = obs
        self.data["state"][idx, self.t] = state
        self.data["action_mask"][idx, self.t] = action_mask
        self.data["active"][idx, self.t] = active

    def observe_env(self, env: int, obs: np.ndarray, state: np.ndarray, action_mask: np.ndarray, active: np.ndarray) -> None:
        """Write what env ``env`` shows at its current slot (``(N, D)``, ``(S,)``, ``(N, A)``, ``(N,)``), e.g. the final
        observation of an episode that just ended."""
        t = self.t[env]
        self.data["obs"][env, t] = obs
        self.data["state"][env, t] = state
        self.data["action_mask"][env, t] = action_mask
        self.data["active"][env, t] = active

    def act(self, actions: np.ndarray, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """Record the step taken in every env (``actions (E, N)``, the rest ``(E,)``) and advance the slots."""
        idx = np.arange(self.n_envs)
        self.data["actions"][idx, self.t] = actions
        self.data["reward"][idx, self.t] = reward
        self.data["terminated"][idx, self.t] = terminated
        self.data["truncated"][idx, self.t] = truncated
        self.t += 1
        if int(self.t.max()) >= self.T:
            self._grow()

    def finish(self, env: int) -> dict[str, np.ndarray]:
        """Return env ``env``'s episode (``L`` steps, ``L + 1`` observation slots) and clear its slots."""
        L = int(self.t[env])
        episode = {k: v[env, : L + 1].copy() for k, v in self.data.items()}
        for v in self.data.values():
            v[env] = 0
        self.t[env] = 0
        return episode


class EpisodeReplayBuffer:
    """FIFO store of whole episodes, sampled uniformly.

    Args:
        capacity: Episodes kept (pymarl ``buffer_size``: 5000).
        n_agents, obs_dim, state_dim, n_actions: Array sizes ``N``, ``D``, ``S``, ``A``.
        episode_limit: Longest episode expected (``T``); the time axis grows if a longer one arrives.
        seed: Seed of the sampling generator.
    """

    ARRAYS = ("obs", "state", "action_mask", "active", "actions", "reward", "terminated", "truncated", "filled")
    """The per-episode arrays (``lengths`` aside), as :meth:`state_dict` names them."""

    FORMAT = "trmarl-episode-replay"
    """The ``format`` of the files :meth:`save` writes."""

    def __init__(
        self,
        capacity: int,
        n_agents: int,
        obs_dim: int,
        state_dim: int,
        n_actions: int,
        episode_limit: int = 1,
        seed: int | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = int(capacity)
        self.episode_limit = max(1, int(episode_limit))
        self.n_agents, self.obs_dim, self.state_dim, self.n_actions = n_agents, obs_dim, state_dim, n_actions
        T, C, N = self.episode_limit, self.capacity, n_agents
        self.obs = np.zeros((C, T + 1, N, obs_dim), dtype=np.float32)
        self.state = np.zeros((C, T + 1, state_dim), dtype=np.float32)
        self.action_mask = np.zeros((C, T + 1, N, n_actions), dtype=np.bool_)
        self.active = np.zeros((C, T + 1, N), dtype=np.bool_)
        self.actions = np.zeros((C, T, N), dtype=np.int32 if n_actions > 255 else np.uint8)
        self.reward = np.zeros((C, T), dtype=np.float32)
        self.terminated = np.zeros((C, T), dtype=np.bool_)
        self.truncated = np.zeros((C, T), dtype=np.bool_)
        self.filled = np.zeros((C, T), dtype=np.bool_)
        self.lengths = np.zeros(C, dtype=np.int64)
        self.pos = 0  # next slot to write
        self.size = 0  # episodes stored
        self.episodes_in = 0  # episodes ever inserted
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def _grow(self, new_limit: int) -> None:
        old = self.episode_limit
        for name in self.ARRAYS:
            arr = getattr(self, name)
            extra = 1 if arr.shape[1] == old + 1 else 0
            grown = np.zeros((arr.shape[0], new_limit + extra, *arr.shape[2:]), dtype=arr.dtype)
            grown[: self.size, : arr.shape[1]] = arr[: self.size]  # only stored episodes: the rest is untouched zeros
            setattr(self, name, grown)
        self.episode_limit = new_limit

    def add(self, episode: dict[str, np.ndarray]) -> None:
        """Insert one episode as given by :meth:`EpisodeRecorder.finish` (``L + 1`` slots for what is seen, ``L`` used
        for what is done; the last ``actions``/``reward``/``terminated`` slot is ignored)."""
        L = int(episode["obs"].shape[0]) - 1
        if L < 1:
            raise ValueError("an episode needs at least one step")
        if self.episode_limit < L:
            self._grow(max(L, 2 * self.episode_limit))
        i = self.pos
        for name in ("obs", "state", "action_mask", "active"):
            arr = getattr(self, name)
            arr[i] = 0
            arr[i, : L + 1] = episode[name]
        for name in ("actions", "reward", "terminated", "truncated"):
            arr = getattr(self, name)
            arr[i] = 0
            arr[i, :L] = episode[name][:L]
        self.filled[i] = False
        self.filled[i, :L] = True
        self.lengths[i] = L
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        self.episodes_in += 1

    def can_sample(self, batch_size: int) -> bool:
        """Whether ``batch_size`` episodes are stored."""
        return self.size >= batch_size

    def sample(self, batch_size: int, device: torch.device | str = "cpu") -> EpisodeBatch:
        """Draw ``batch_size`` distinct episodes uniformly, cut to the longest of them, as tensors on ``device``."""
        if not self.can_sample(batch_size):
            raise ValueError(f"cannot sample {batch_size} episodes from a buffer holding {self.size}")
        idx = np.sort(self.rng.choice(self.size, size=batch_size, replace=False))
        return self.batch(idx, device)

    def n_steps(self) -> int:
        """Steps stored over all episodes."""
        return int(self.lengths[: self.size].sum())

    def sample_steps(self, batch_size: int, device: torch.device | str = "cpu") -> EpisodeBatch:
        """Draw ``batch_size`` single steps uniformly over all stored steps (with replacement, as a DQN replay), each as
        an episode of one step: slots ``t`` and ``t + 1`` of what is seen, step ``t`` of what is done (``T = 1``).

        For feedforward agents without history inputs, whose values at step ``t`` depend on slot ``t`` alone (the QTRAN
        authors' predator-prey learner samples 32 transitions per update this way).
        """
        lengths = self.lengths[: self.size]
        total = int(lengths.sum())
        if total == 0 or batch_size < 1:
            raise ValueError(f"cannot sample {batch_size} steps from a buffer holding {total}")
        flat = self.rng.integers(0, total, size=batch_size)
        ends = np.cumsum(lengths)
        ep = np.searchsorted(ends, flat, side="right")
        t = flat - (ends[ep] - lengths[ep])  # step within the episode, 0 <= t < L
        slots = t[:, None] + np.arange(2)  # (B, 2)
        rows = ep[:, None]

        def tens(x: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
            out = torch.as_tensor(np.ascontiguousarray(x), device=device)
            return out if dtype is None else out.to(dtype)

        return EpisodeBatch(
            obs=tens(self.obs[rows, slots]),
            state=tens(self.state[rows, slots]),
            action_mask=tens(self.action_mask[rows, slots]),
            active=tens(self.active[rows, slots]),
            actions=tens(self.actions[ep, t][:, None], torch.int64),
            reward=tens(self.reward[ep, t][:, None]),
            terminated=tens(self.terminated[ep, t][:, None], torch.float32),
            truncated=tens(self.truncated[ep, t][:, None], torch.float32),
            mask=torch.ones((batch_size, 1), dtype=torch.float32, device=device),
        )

    def batch(self, idx: np.ndarray, device: torch.device | str = "cpu") -> EpisodeBatch:
        """The episodes at storage indices ``idx`` as an :class:`EpisodeBatch`."""
        T = int(self.lengths[idx].max())

        def t(x: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
            out = torch.as_tensor(np.ascontiguousarray(x), device=device)
            return out if dtype is None else out.to(dtype)

        terminated = self.terminated[idx, :T]
        filled = self.filled[idx, :T].astype(np.float32)
        mask = filled.copy()
        mask[:, 1:] *= 1.0 - terminated[:, :-1]
        return EpisodeBatch(
            obs=t(self.obs[idx, : T + 1]),
            state=t(self.state[idx, : T + 1]),
            action_mask=t(self.action_mask[idx, : T + 1]),
            active=t(self.active[idx, : T + 1]),
            actions=t(self.actions[idx, :T], torch.int64),
            reward=t(self.reward[idx, :T]),
            terminated=t(terminated, torch.float32),
            truncated=t(self.truncated[idx, :T], torch.float32),
            mask=t(mask),
        )

    # -- checkpoints (optional) -------------------------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """The stored episodes as arrays (for safetensors) and the counters (for JSON)."""
        n = self.size
        arrays = {name: np.ascontiguousarray(getattr(self, name)[:n]) for name in self.ARRAYS}
        arrays["lengths"] = self.lengths[:n].copy()
        meta = {"pos": self.pos, "size": self.size, "episodes_in": self.episodes_in, "episode_limit": self.episode_limit}
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, int]) -> None:
        """Restore what :meth:`state_dict` returned into a buffer of at least the same capacity.

        Raises:
            ValueError: More episodes than this buffer holds, missing arrays or ones of other sizes.
        """
        targets = self.restore_targets(meta, {k: (a.shape, a.dtype) for k, a in arrays.items()})
        for name, arr in arrays.items():
            targets[name][...] = arr
        self.restore_counters(meta)

    def restore_targets(self, meta: dict, layout: Layout) -> dict[str, np.ndarray]:
        """Views of the storage to restore saved arrays of the shapes in ``layout`` into (the first ``size`` episodes;
        the saved time slots of each), after checking that they fit; see :func:`read_replay_file`'s ``into``.

        Everything is checked before the buffer changes, so a file that does not fit leaves it as it was. Then it is
        emptied (padding past the saved time slots zeroed; ``size`` 0) until :meth:`restore_counters`, so a load that
        breaks off part way leaves an empty buffer, not a mix of two.

        Raises:
            ValueError: More episodes than this buffer holds, missing arrays or ones of other sizes.
        """
        c = _counters(meta, ("size", "episode_limit", "pos", "episodes_in"))  # all of them, before anything changes
        n = c["size"]
        if n > self.capacity:
            raise ValueError(f"the saved replay buffer holds {n} episodes, more than this buffer's capacity {self.capacity}")
        names = (*self.ARRAYS, "lengths")
        if set(layout) != set(names):
            raise ValueError(f"the saved replay buffer has the arrays {sorted(layout)}, expected {sorted(names)}")
        limit = max(self.episode_limit, c["episode_limit"])  # the time axis after growing to the saved one
        for name, (shape, _) in layout.items():
            target = getattr(self, name)
            if name == "lengths":
                fits = shape == (n,)
            else:
                slots = limit + target.shape[1] - self.episode_limit  # T + 1 slots for what is seen, T for the rest
                fits = len(shape) == target.ndim and shape[0] == n and shape[1] <= slots
                fits = fits and shape[2:] == target.shape[2:]
            if not fits:
                raise ValueError(
                    f"the saved replay buffer's {name!r} has shape {tuple(shape)}, which does not fit this buffer's "
                    f"{target.shape} (other numbers of agents, observation, state or action sizes?)"
                )
        if limit > self.episode_limit:
            self._grow(limit)
        self.size = self.pos = 0
        views: dict[str, np.ndarray] = {}
        for name, (shape, _) in layout.items():
            target = getattr(self, name)
            if name == "lengths":
                views[name] = target[:n]
            else:
                target[:n, shape[1] :] = 0
                views[name] = target[:n, : shape[1]]
        return views

    def restore_counters(self, meta: dict) -> None:
        """Set the counters of a buffer whose arrays :meth:`restore_targets` prepared and the caller filled."""
        c = _counters(meta, ("size", "pos", "episodes_in"))
        self.size = c["size"]
        self.pos = c["pos"] if self.size == self.capacity else self.size % self.capacity
        self.episodes_in = c["episodes_in"]

    def save(self, path: str | os.PathLike[str], compress: bool = True) -> Path:
        """Write the buffer to a zip of ``replay.json`` (counters) + safetensors entries of ~64 MB (arrays, the flags
        as ``uint8`` views, not copies): nothing pickled, written atomically. ``.zip`` is appended when ``path`` has
        no suffix.

        Returns:
            The path written.
        """
        arrays, meta = self.state_dict()
        arrays = {k: (a.view(np.uint8) if a.dtype == np.bool_ else a) for k, a in arrays.items()}
        return write_replay_file(path, self.FORMAT, meta, arrays, compress=compress)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore a buffer written by :meth:`save`, entry by entry straight into the storage (one entry of memory on
        top of the buffer). A file that does not fit leaves the buffer as it was (see :meth:`restore_targets`).

        Raises:
            FileNotFoundError: No such file.
            ValueError: Not a trmarl episode replay file, or one that does not fit this buffer.
        """
        meta, _ = read_replay_file(path, self.FORMAT, into=self.restore_targets)
        self.restore_counters(meta)


# --------------------------------------------------------------------------------------------------------------
# Transition replay (MADDPG, MATD3)
# --------------------------------------------------------------------------------------------------------------


class TransitionBatch(NamedTuple):
    """``B`` transitions ``(o, s, a, r, o', s', d)`` (or ``n``-step ones) as torch tensors.

    ``next_obs``/``next_state`` are what the agents saw *after* the step: for a step that ended an episode, the vec
    env's ``final_obs``/``final_state`` (not the first observation of the next episode, which same-step autoreset puts in
    ``obs``). ``terminated`` is 1 only where the task ended; a time limit (truncation) keeps 0, so its target bootstraps
    from ``Q(s', a')`` (Pardo et al., *Time Limits in Reinforcement Learning*, ICML 2018). For ``n``-step samples,
    ``reward`` is the discounted sum of the ``m <= n`` rewards up to the episode's end, ``next_*``/``terminated`` belong
    to the ``m``-th step and ``discount`` is ``gamma^m``.
    """

    obs: torch.Tensor  # (B, N, D) float32
    state: torch.Tensor  # (B, S) float32
    actions: torch.Tensor  # (B, N, A) float32 (padded to the widest agent)
    reward: torch.Tensor  # (B,) float32
    next_obs: torch.Tensor  # (B, N, D) float32
    next_state: torch.Tensor  # (B, S) float32
    terminated: torch.Tensor  # (B,) float32, 1 at a true terminal step (no bootstrap)
    discount: torch.Tensor | None = None  # (B,) float32 gamma^m of the bootstrap, or None for the caller's gamma


class TransitionReplayBuffer:
    """FIFO ring of single multi-agent transitions, sampled uniformly with replacement (as SB3's ``ReplayBuffer`` and
    HARL's ``OffPolicyBuffer``), optionally as ``n``-step returns (HARL's ``n_step``).

    Storage is ``(C, ...)`` numpy arrays allocated once with ``np.zeros`` (the OS commits pages only when written, so a
    1e6 buffer costs memory as it fills: about 470 bytes per HalfCheetah-2x3 transition in ``"global"`` mode). Each
    :meth:`add` writes the ``E`` transitions of one vec-env step, so env ``k``'s next transition sits ``E`` slots later;
    ``n``-step sampling relies on that and needs every add to have the same ``E``.

    Args:
        capacity: Transitions kept (HARL ``buffer_size``: 1e6).
        n_agents, obs_dim, state_dim, act_dim: Array sizes ``N``, ``D``, ``S``, ``A`` (``D``/``A`` padded as the vec env).
        seed: Seed of the sampling generator.
    """

    FIELDS = ("obs", "state", "actions", "reward", "next_obs", "next_state", "terminated", "truncated")
    FORMAT = "trmarl-transition-replay"

    def __init__(self, capacity: int, n_agents: int, obs_dim: int, state_dim: int, act_dim: int, seed: int | None = None):
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        self.capacity = int(capacity)
        C, N = self.capacity, n_agents
        self.n_agents, self.obs_dim, self.state_dim, self.act_dim = n_agents, obs_dim, state_dim, act_dim
        self.obs = np.zeros((C, N, obs_dim), dtype=np.float32)
        self.state = np.zeros((C, state_dim), dtype=np.float32)
        self.actions = np.zeros((C, N, act_dim), dtype=np.float32)
        self.reward = np.zeros(C, dtype=np.float32)
        self.next_obs = np.zeros((C, N, obs_dim), dtype=np.float32)
        self.next_state = np.zeros((C, state_dim), dtype=np.float32)
        self.terminated = np.zeros(C, dtype=np.bool_)
        self.truncated = np.zeros(C, dtype=np.bool_)  # a time limit ended the episode here (n-step returns stop)
        self.pos = 0  # next slot to write
        self.size = 0  # transitions stored
        self.transitions_in = 0  # transitions ever inserted
        self.stride = 0  # E of the adds so far (0: none yet, -1: adds of different sizes)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: np.ndarray,
        state: np.ndarray,
        actions: np.ndarray,
        reward: np.ndarray,
        next_obs: np.ndarray,
        next_state: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray | None = None,
    ) -> None:
        """Insert one vec-env step of ``E`` transitions (``obs (E, N, D)``, ``state (E, S)``, ``actions (E, N, A)``,
        ``reward (E,)``, ``next_obs (E, N, D)``, ``next_state (E, S)``, ``terminated (E,)`` -- True only for a true
        terminal step, not for a time limit -- and ``truncated (E,)``, True where a time limit ended the episode)."""
        E = int(np.shape(reward)[0])
        if self.capacity < E:
            raise ValueError(f"cannot add {E} transitions at once to a buffer of capacity {self.capacity}")
        idx = (self.pos + np.arange(E)) % self.capacity
        self.obs[idx] = obs
        self.state[idx] = state
        self.actions[idx] = actions
        self.reward[idx] = reward
        self.next_obs[idx] = next_obs
        self.next_state[idx] = next_state
        self.terminated[idx] = terminated
        self.truncated[idx] = False if truncated is None else truncated
        self.stride = E if self.stride in (0, E) else -1
        self.pos = int((self.pos + E) % self.capacity)
        self.size = min(self.size + E, self.capacity)
        self.transitions_in += E

    def can_sample(self, batch_size: int) -> bool:
        """Whether at least ``batch_size`` transitions are stored."""
        return self.size >= batch_size

    def sample(
        self, batch_size: int, device: torch.device | str = "cpu", n_step: int = 1, gamma: float = 0.99
    ) -> TransitionBatch:
        """Draw ``batch_size`` stored transitions uniformly (with replacement), as tensors on ``device``.

        Args:
            batch_size: ``B``.
            device: Where the tensors go.
            n_step: Length of the bootstrapped return (1: plain transitions, ``discount`` = ``gamma``).
            gamma: Discount of the ``n``-step return.
        """
        if self.size == 0 or batch_size < 1:
            raise ValueError(f"cannot sample {batch_size} transitions from a buffer holding {self.size}")
        return self.batch(self.rng.integers(0, self.size, size=batch_size), device, n_step, gamma)

    def batch(
        self, idx: np.ndarray, device: torch.device | str = "cpu", n_step: int = 1, gamma: float = 0.99
    ) -> TransitionBatch:
        """The transitions at storage indices ``idx`` as a :class:`TransitionBatch` (see :meth:`sample`)."""
        idx = np.asarray(idx, dtype=np.int64)
        reward, last, discount = self.reward[idx], idx, np.full(idx.shape, gamma, dtype=np.float32)
        if n_step > 1:
            reward, last, discount = self._n_step(idx, n_step, gamma)

        def t(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(x, device=device)

        return TransitionBatch(
            obs=t(self.obs[idx]),
            state=t(self.state[idx]),
            actions=t(self.actions[idx]),
            reward=t(reward),
            next_obs=t(self.next_obs[last]),
            next_state=t(self.next_state[last]),
            terminated=t(self.terminated[last].astype(np.float32)),
            discount=t(discount),
        )

    def _n_step(self, idx: np.ndarray, n_step: int, gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Discounted rewards of up to ``n_step`` steps of each sampled transition's env, stopping at the end of its
        episode and at the newest stored step; the index of the last step taken; ``gamma^m``."""
        if self.stride < 1:
            raise ValueError("n-step sampling needs every add() to hold the same number of envs")
        C, E = self.capacity, self.stride
        later = ((self.pos - 1 - idx) % C) // E  # how many later steps of the same env are stored
        ret = np.zeros(idx.shape, dtype=np.float64)
        g = np.ones(idx.shape, dtype=np.float64)
        last, cur = idx.copy(), idx.copy()
        alive = np.ones(idx.shape, dtype=bool)
        for j in range(n_step):
            ret[alive] += g[alive] * self.reward[cur[alive]]
            last[alive] = cur[alive]
            g[alive] *= gamma
            alive &= ~(self.terminated[cur] | self.truncated[cur]) & (later > j)
            cur = (cur + E) % C
        return ret.astype(np.float32), last, g.astype(np.float32)

    # -- checkpoints (optional) -------------------------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """The stored transitions as arrays (for safetensors; ``terminated`` as uint8) and the counters (for JSON)."""
        n = self.size
        arrays = {name: np.ascontiguousarray(getattr(self, name)[:n]) for name in self.FIELDS}
        arrays["terminated"] = arrays["terminated"].view(np.uint8)
        arrays["truncated"] = arrays["truncated"].view(np.uint8)
        meta = {
            "pos": self.pos,
            "size": self.size,
            "transitions_in": self.transitions_in,
            "capacity": self.capacity,
            "stride": self.stride,
        }
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, int]) -> None:
        """Restore what :meth:`state_dict` returned (into a buffer of the same sizes and at least the same capacity).

        Raises:
            ValueError: Missing arrays, other array sizes, or more transitions than this buffer holds.
        """
        targets = self.restore_targets(meta, {k: (a.shape, a.dtype) for k, a in arrays.items()})
        for name, target in targets.items():
            target[...] = arrays[name]  # uint8 -> bool for the flags
        self.restore_counters(meta)

    def restore_targets(self, meta: dict, layout: Layout) -> dict[str, np.ndarray]:
        """Views of the storage (the first ``size`` rows) to restore saved arrays of the shapes in ``layout`` into,
        after checking that they fit (a file that does not fit leaves the buffer as it was); the buffer is then empty
        until :meth:`restore_counters` (see :meth:`EpisodeReplayBuffer.restore_targets`).

        Raises:
            ValueError: Missing arrays, other array sizes, or more transitions than this buffer holds.
        """
        n = self._counters(meta)["size"]  # all of them, before anything changes
        if n > self.capacity:
            raise ValueError(
                f"the saved replay buffer holds {n} transitions, more than this buffer's capacity {self.capacity}"
            )
        for name in self.FIELDS:
            if name not in layout:
                raise ValueError(f"the saved replay buffer has no {name!r} array")
            target = getattr(self, name)
            if tuple(layout[name][0]) != (n, *target.shape[1:]):
                raise ValueError(
                    f"the saved replay buffer's {name!r} has shape {tuple(layout[name][0])}, expected {(n, *target.shape[1:])}"
                )
        if set(layout) - set(self.FIELDS):
            raise ValueError(f"the saved replay buffer has unknown arrays {sorted(set(layout) - set(self.FIELDS))}")
        self.size = self.pos = 0
        return {name: getattr(self, name)[:n] for name in self.FIELDS}

    def restore_counters(self, meta: dict) -> None:
        """Set the counters of a buffer whose arrays :meth:`restore_targets` prepared and the caller filled."""
        c = self._counters(meta)
        n, pos = c["size"], c["pos"]
        self.size = n
        # a full ring continues where it stopped; a partly filled one (or one moved into a larger buffer) appends
        self.pos = pos if n == self.capacity == c["capacity"] else n % self.capacity
        self.transitions_in = c["transitions_in"]
        # n-step sampling needs the same layout: true unless a full ring was moved into a larger buffer
        self.stride = c["stride"] if self.pos == pos else -1

    @staticmethod
    def _counters(meta: dict) -> dict[str, int]:
        """The counters of a saved buffer (``capacity`` and ``stride`` are absent from older files)."""
        return _counters(
            {"capacity": meta.get("size"), "stride": -1, **meta}, ("size", "pos", "transitions_in", "capacity", "stride")
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the buffer to a zip of ``replay.json`` (counters) + safetensors entries (arrays): nothing pickled,
        written atomically. ``.zip`` is appended when ``path`` has no suffix.

        Returns:
            The path written.
        """
        arrays, meta = self.state_dict()
        return write_replay_file(path, self.FORMAT, meta, arrays)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore a buffer written by :meth:`save`.

        Raises:
            FileNotFoundError: No such file.
            ValueError: Not a trmarl transition replay file, or one for other array sizes.
        """
        meta, _ = read_replay_file(path, self.FORMAT, into=self.restore_targets)  # straight into the storage
        self.restore_counters(meta)
