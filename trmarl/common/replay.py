"""Episode replay for the recurrent Q-learning family (IQL, VDN, QMIX, QTRAN).

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

from typing import NamedTuple

import numpy as np
import torch

__all__ = ["EpisodeBatch", "EpisodeReplayBuffer", "EpisodeRecorder"]


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
        for name in ("obs", "state", "action_mask", "active", "actions", "reward", "terminated", "truncated", "filled"):
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
        arrays = {
            name: np.ascontiguousarray(getattr(self, name)[:n])
            for name in ("obs", "state", "action_mask", "active", "actions", "reward", "terminated", "truncated", "filled")
        }
        arrays["lengths"] = self.lengths[:n].copy()
        meta = {"pos": self.pos, "size": self.size, "episodes_in": self.episodes_in, "episode_limit": self.episode_limit}
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, int]) -> None:
        """Restore what :meth:`state_dict` returned into a buffer of at least the same capacity."""
        n = int(meta["size"])
        if n > self.capacity:
            raise ValueError(f"the saved replay buffer holds {n} episodes, more than this buffer's capacity {self.capacity}")
        if int(meta["episode_limit"]) > self.episode_limit:
            self._grow(int(meta["episode_limit"]))
        for name, arr in arrays.items():
            if name == "lengths":
                self.lengths[:n] = arr[:n]
            else:
                getattr(self, name)[:n, : arr.shape[1]] = arr[:n]
        self.size = n
        self.pos = int(meta["pos"]) if n == self.capacity else n % self.capacity
        self.episodes_in = int(meta["episodes_in"])
