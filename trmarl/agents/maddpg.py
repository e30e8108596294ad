"""MADDPG and MATD3: deterministic actors on local observations, centralized Q critics on the state and the joint action.

Papers:
    * MADDPG -- Lowe, Wu, Tamar, Harb, Abbeel, Mordatch. *Multi-Agent Actor-Critic for Mixed Cooperative-Competitive
      Environments.* NeurIPS 2017 (arXiv 1706.02275).
    * TD3 refinements -- Fujimoto, van Hoof, Meger. *Addressing Function Approximation Error in Actor-Critic Methods.*
      ICML 2018: twin critics (clipped double Q), target policy smoothing, delayed actor updates. MATD3 is MADDPG with
      them (Ackermann et al., *Reducing Overestimation Bias in Multi-Agent Domains Using Double Centralized Critics*,
      2019).
    * Defaults -- HARL's MaMuJoCo configs (Zhong et al., *Heterogeneous-Agent Reinforcement Learning*, JMLR 2024):
      ``harl/configs/algos_cfgs/{maddpg,matd3}.yaml`` and ``tuned_configs/mamujoco/HalfCheetah-v2-2x3/{maddpg,matd3}``.

The update, on a batch of ``B`` transitions ``(o, s, a, r, o', s', d)`` from the replay (``d`` = true termination)::

    a'_j    = mu'_j(o'_j) [+ clip(N(0, sigma), -c, c) * half_range_j]         target actors (TD3: smoothing noise)
    y_i     = r + gamma (1 - d) min_k Q'_{i,k}(s', a'_1, ..., a'_N)           k over twin critics (one without TD3);
                                                                                n_step > 1: r and gamma of m-step returns
    L_Q     = sum_{i,k} mean_B (Q_{i,k}(s, a_1, ..., a_N) - y_i)^2             critics (one shared critic: i = 1)
    L_mu_i  = -mean_B Q_{i,1}(s, a_1, ..., mu_i(o_i), ..., a_N)               others' actions from the replay (paper eq. 6)
    theta'  <- tau theta + (1 - tau) theta'                                     after each actor update (every policy_delay)

Acting: ``mu_i(o_i) + N(0, sigma_t) * half_range_i``, clipped to the action box, with ``sigma_t`` decayed linearly from
``exploration_noise`` to ``exploration_noise_final``; uniformly random actions for the first ``warmup_steps`` env
steps. Every ``train_freq`` vec-env steps, ``gradient_steps`` updates.

Implementation notes: the ``N`` actors (and the ``N`` or ``2N`` critics) are separate networks whose weights are stacked
into ``(M, in, out)`` tensors (:class:`StackedMLP`), so every agent is evaluated in one batched pass; agents with
smaller observations or actions see zero padding, whose weights never receive a gradient. One Adam over stacked
weights equals one Adam per network (Adam is elementwise), and the ``N`` actor losses are summed before one backward
pass, which gives each actor exactly its own gradient.

Deviations from HARL: HARL's MADDPG/MATD3 use a single critic for the team (``shared_critic=True`` here), ``n_step``
returns (tuned HalfCheetah: 20 / 10; here ``n_step=1`` by default, as in the papers), a Huber loss for MADDPG's critic
and ValueNorm (here the squared error, as in the papers). HARL counts its warm-up steps outside its training loop;
here they are part of ``total_timesteps``.

Why MADDPG subclasses :class:`~trmarl.agents.base.BaseAgent` directly: ``OffPolicyAgent`` is the episode runner of the
recurrent discrete family (episode replay, epsilon-greedy, GRU state); nothing of it fits one-step transitions of
continuous actions. The transition runner lives here until a second transition-based algorithm shares it.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import polyak_update
from torch import nn

from trmarl.agents.base import BaseAgent, torch_threads
from trmarl.agents.off_policy import DecayThenFlatSchedule
from trmarl.common.optim import make_adam
from trmarl.common.replay import TransitionBatch, TransitionReplayBuffer
from trmarl.envs.vec_env import MultiAgentVecEnv

__all__ = [
    "MADDPG",
    "MATD3",
    "MADDPGConfig",
    "MATD3Config",
    "StackedMLP",
    "smoothed_target_actions",
    "td_targets",
]

SelfMADDPG = TypeVar("SelfMADDPG", bound="MADDPG")


# --------------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class MADDPGConfig:
    """MADDPG hyperparameters. Defaults: HARL's MaMuJoCo MADDPG (``harl/configs/algos_cfgs/maddpg.yaml``, tuned
    ``HalfCheetah-v2-2x3/maddpg/config.json``) unless a field says otherwise."""

    buffer_size: int = 1_000_000
    """Transitions kept in the replay (HARL ``buffer_size``: 1e6)."""
    batch_size: int = 1000
    """Transitions per gradient step (HARL ``batch_size``: 1000; the MADDPG paper: 1024)."""
    learning_rate: float = 5e-4
    """Actor Adam learning rate (HARL ``lr``: 5e-4)."""
    critic_learning_rate: float = 1e-3
    """Critic Adam learning rate (HARL ``critic_lr``: 1e-3)."""
    gamma: float = 0.99
    """Discount (HARL ``gamma``: 0.99; the MADDPG paper: 0.95 on the particle envs)."""
    tau: float = 0.005
    """Polyak coefficient of the soft target updates (HARL ``polyak``: 0.005; the MADDPG paper: 0.01)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Hidden widths of actors and critics, ReLU, PyTorch's default init, no LayerNorm (HARL ``PlainMLP``; tuned
    MaMuJoCo: [256, 256], yaml default [128, 128]; the MADDPG paper: two layers of 64)."""
    warmup_steps: int = 10_000
    """Env steps (summed over envs) of uniformly random actions before the actors act and training starts (HARL
    ``warmup_steps``: 1e4)."""
    train_freq: int = 50
    """Vec-env steps between training phases (HARL ``train_interval``: 50, with 10 envs 500 env steps)."""
    gradient_steps: int = 50
    """Gradient steps per training phase (HARL ``train_interval * update_per_train``: 50, i.e. one per vec-env step)."""
    exploration_noise: float = 0.1
    """Std of the Gaussian exploration noise at step 0, in units of half the action range (HARL ``expl_noise``: 0.1)."""
    exploration_noise_final: float | None = None
    """Std after the decay; None keeps ``exploration_noise`` constant (HARL: constant)."""
    exploration_noise_decay_steps: int = 1_000_000
    """Env steps of the linear decay from ``exploration_noise`` to ``exploration_noise_final``."""
    shared_critic: bool = False
    """One centralized critic for all agents (fully cooperative tasks; HARL's MADDPG) instead of one per agent (the
    MADDPG paper, which also allows competing rewards)."""
    twin_critics: bool = False
    """TD3's clipped double Q: two critics per critic, targets from their minimum (MATD3: True)."""
    target_policy_noise: float | None = None
    """TD3's target policy smoothing: std of the noise on target actions, in half-range units (MATD3: 0.2, HARL
    ``policy_noise``); None turns it off."""
    target_noise_clip: float = 0.5
    """Clip of the smoothing noise, in half-range units (TD3 and HARL ``noise_clip``: 0.5)."""
    policy_delay: int = 1
    """Update the actors and the target networks every this many critic updates (TD3 and HARL ``policy_freq``: 2 for
    MATD3; 1 for MADDPG)."""
    n_step: int = 1
    """Steps of the bootstrapped return, cut at episode ends (the papers: 1; HARL ``n_step``, tuned HalfCheetah-2x3: 20
    for MADDPG, 10 for MATD3, yaml default 1)."""

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        for name in ("buffer_size", "batch_size", "train_freq", "gradient_steps", "policy_delay", "n_step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("warmup_steps", "exploration_noise_decay_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        for name in ("learning_rate", "critic_learning_rate"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 < self.tau <= 1.0:
            raise ValueError(f"gamma must be in [0, 1] and tau in (0, 1], got {self.gamma}, {self.tau}")
        for name in ("exploration_noise", "exploration_noise_final", "target_policy_noise", "target_noise_clip"):
            value = getattr(self, name)
            if value is not None and not float(value) >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive widths, got {self.hidden_sizes}")


@dataclasses.dataclass(kw_only=True)
class MATD3Config(MADDPGConfig):
    """MATD3: MADDPG's configuration with TD3's refinements on (HARL ``matd3.yaml``, tuned HalfCheetah-2x3)."""

    twin_critics: bool = True
    """Clipped double Q (TD3)."""
    target_policy_noise: float | None = 0.2
    """Target policy smoothing std (TD3 and HARL ``policy_noise``: 0.2)."""
    policy_delay: int = 2
    """Delayed actor and target updates (TD3 and HARL ``policy_freq``: 2)."""


# --------------------------------------------------------------------------------------------------------------
# Networks and the pieces of the update
# --------------------------------------------------------------------------------------------------------------


class StackedMLP(nn.Module):
    """``M`` independent ReLU MLPs with the same widths, evaluated in one batched pass (``torch.baddbmm``).

    Member ``m`` reads the first ``in_dims[m]`` input features (the rest is zero padding); its weights are initialised as
    ``nn.Linear`` initialises a layer with that fan-in, and the padded rows are zero.

    Args:
        in_dims: True input size of each member (``M = len(in_dims)``).
        hidden_sizes: Hidden widths.
        out_dim: Output size.
    """

    def __init__(self, in_dims: Sequence[int], hidden_sizes: Sequence[int], out_dim: int) -> None:
        super().__init__()
        M, sizes = len(in_dims), [max(in_dims), *hidden_sizes, out_dim]
        self.n_members = M
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for j in range(len(sizes) - 1):
            weight = torch.zeros(M, sizes[j], sizes[j + 1])
            bias = torch.zeros(M, 1, sizes[j + 1])
            for m in range(M):
                fan_in = in_dims[m] if j == 0 else sizes[j]
                bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's kaiming_uniform(a=sqrt(5)) bound, and its bias bound
                weight[m, :fan_in].uniform_(-bound, bound)
                bias[m].uniform_(-bound, bound)
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(bias))

    def forward(self, x: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        """``(M', B, in)`` -> ``(M', B, out)`` for the members ``members`` (default: all ``M``)."""
        sl = members if members is not None else slice(None)
        last = len(self.weights) - 1
        for j, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(bias[sl], x, weight[sl])
            if j < last:
                x = torch.relu(x)
        return x


def td_targets(
    reward: torch.Tensor, terminated: torch.Tensor, next_q: torch.Tensor, gamma: float | torch.Tensor
) -> torch.Tensor:
    """Targets ``y = r + gamma (1 - d) Q'``; a time limit (``d = 0``) bootstraps, a termination does not.

    Args:
        reward: ``(B,)`` team rewards.
        terminated: ``(B,)`` 1.0 at true terminal steps.
        next_q: ``(..., B)`` target values of the next state and the target actions (already the twin minimum).
        gamma: Discount, or ``(B,)`` per-sample discounts (``gamma^m`` of ``m``-step returns).

    Returns:
        ``(..., B)`` targets.
    """
    return reward + gamma * (1.0 - terminated) * next_q


def smoothed_target_actions(
    actions: torch.Tensor,
    noise_std: float,
    noise_clip: float,
    half_range: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """TD3's target policy smoothing: ``clip(a + clip(N(0, std), -c, c) * half_range, low, high)``.

    Args:
        actions: ``(B, N, A)`` target-actor actions.
        noise_std / noise_clip: In units of half the action range.
        half_range / low / high: ``(N, A)`` action box (zeros on padded action dims).
        generator: Source of the noise.
    """
    noise = torch.randn(actions.shape, generator=generator, device=actions.device, dtype=actions.dtype) * noise_std
    noise = noise.clamp(-noise_clip, noise_clip) * half_range
    return torch.max(torch.min(actions + noise, high), low)


# --------------------------------------------------------------------------------------------------------------
# The algorithm
# --------------------------------------------------------------------------------------------------------------


class MADDPG(BaseAgent):
    """MADDPG (and, by its TD3 options, MATD3) for continuous actions.

    Example:
        >>> from trmarl import MADDPG
        >>> model = MADDPG("MaMuJoCo-HalfCheetah-2x3", seed=0).learn(1e6)   # doctest: +SKIP
        >>> actions, _ = model.predict(obs)                                # deterministic by default  # doctest: +SKIP

    Args:
        env: An env id, ParallelEnv, factory or multi-agent vec env with bounded ``Box`` actions (see
            :class:`~trmarl.agents.base.BaseAgent`); 10 envs by default (HARL ``n_rollout_threads``).
        **kwargs: ``seed``, ``device``, ``verbose``, ``tensorboard_log``, ``n_envs`` and the fields of
            :class:`MADDPGConfig`.

    Attributes:
        actors / target_actors: :class:`StackedMLP` of the ``N`` actors (outputs before ``tanh``).
        critics / target_critics: :class:`StackedMLP` of the ``n_twins * n_q`` critics, member ``k * n_q + i`` being twin
            ``k`` of critic ``i`` (``n_q`` = 1 shared or ``N``).
        replay: The :class:`~trmarl.common.replay.TransitionReplayBuffer`.
    """

    algorithm_name: ClassVar[str] = "MADDPG"
    config_class: ClassVar[type[Any]] = MADDPGConfig
    default_n_envs: ClassVar[int] = 10
    config: MADDPGConfig

    # ----------------------------------------------------------------------------------------------------------
    # Model
    # ----------------------------------------------------------------------------------------------------------
    def _setup_model(self) -> None:
        sp, cfg, dev = self.spaces, self.config, self.device
        name = self.algorithm_name or type(self).__name__
        if sp.discrete:
            raise ValueError(f"{name} needs continuous (Box) actions; this env's are discrete")
        lows = [np.asarray(lo, dtype=np.float64) for lo in sp.action_low]
        highs = [np.asarray(hi, dtype=np.float64) for hi in sp.action_high]
        if not all(np.isfinite(lo).all() and np.isfinite(hi).all() for lo, hi in zip(lows, highs)):
            raise ValueError(f"{name}'s tanh actors need bounded action spaces; this env has infinite bounds")
        N, A = sp.n_agents, sp.act_dim
        low, high = np.zeros((N, A), dtype=np.float32), np.zeros((N, A), dtype=np.float32)
        for n in range(N):
            low[n, : sp.act_dims[n]], high[n, : sp.act_dims[n]] = lows[n], highs[n]
        self.action_low = torch.as_tensor(low, device=dev)  # (N, A), zeros on padded dims
        self.action_high = torch.as_tensor(high, device=dev)
        self.half_range = (self.action_high - self.action_low) / 2  # (N, A)
        self.action_mid = (self.action_high + self.action_low) / 2
        # positions of the true action dims in the flattened (N * A) joint action
        self.joint_index = torch.as_tensor([n * A + k for n in range(N) for k in range(sp.act_dims[n])], device=dev)
        self.n_q = 1 if cfg.shared_critic else N
        self.n_twins = 2 if cfg.twin_critics else 1
        critic_in = sp.state_dim + int(sum(sp.act_dims))
        self.actors = StackedMLP(list(sp.obs_dims), cfg.hidden_sizes, A).to(dev)
        self.critics = StackedMLP([critic_in] * (self.n_twins * self.n_q), cfg.hidden_sizes, 1).to(dev)
        self.target_actors = StackedMLP(list(sp.obs_dims), cfg.hidden_sizes, A).to(dev).requires_grad_(False)
        self.target_critics = StackedMLP([critic_in] * (self.n_twins * self.n_q), cfg.hidden_sizes, 1).to(dev)
        self.target_critics.requires_grad_(False)
        self.target_actors.load_state_dict(self.actors.state_dict())
        self.target_critics.load_state_dict(self.critics.state_dict())
        self.actor_optimizer = make_adam(self.actors.parameters(), lr=cfg.learning_rate)
        self.critic_optimizer = make_adam(self.critics.parameters(), lr=cfg.critic_learning_rate)
        final = cfg.exploration_noise if cfg.exploration_noise_final is None else cfg.exploration_noise_final
        self.noise_schedule = DecayThenFlatSchedule(cfg.exploration_noise, final, cfg.exploration_noise_decay_steps)
        self.replay = TransitionReplayBuffer(cfg.buffer_size, N, sp.obs_dim, sp.state_dim, A, seed=self.seed)

    def _modules(self) -> dict[str, nn.Module]:
        return {
            "actors": self.actors,
            "critics": self.critics,
            "target_actors": self.target_actors,
            "target_critics": self.target_critics,
        }

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor_optimizer": self.actor_optimizer, "critic_optimizer": self.critic_optimizer}

    @property
    def exploration_noise(self) -> float:
        """The current exploration std (half-range units), from the schedule at ``num_timesteps``."""
        return self.noise_schedule(self.num_timesteps)

    # ----------------------------------------------------------------------------------------------------------
    # Forward passes over the (B, N, ...) layout
    # ----------------------------------------------------------------------------------------------------------
    def actor_actions(self, obs: torch.Tensor, target: bool = False) -> torch.Tensor:
        """Every agent's deterministic action, ``(B, N, D)`` -> ``(B, N, A)`` (padded action dims are 0)."""
        net = self.target_actors if target else self.actors
        out = net(obs.transpose(0, 1)).transpose(0, 1)  # (B, N, A)
        return torch.tanh(out) * self.half_range + self.action_mid

    def critic_inputs(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``[s, a_1, ..., a_N]`` (true action dims only): ``(..., S)``, ``(..., N, A)`` -> ``(..., S + sum_i A_i)``."""
        joint = actions.flatten(-2)[..., self.joint_index]
        return torch.cat([state, joint], dim=-1)

    def q_values(self, state: torch.Tensor, actions: torch.Tensor, target: bool = False) -> torch.Tensor:
        """All critics on one joint action: ``(B, S)``, ``(B, N, A)`` -> ``(n_twins, n_q, B)``."""
        net = self.target_critics if target else self.critics
        x = self.critic_inputs(state, actions)  # (B, F)
        q = net(x.unsqueeze(0).expand(net.n_members, *x.shape))  # (n_twins * n_q, B, 1)
        return q.view(self.n_twins, self.n_q, -1)

    # ----------------------------------------------------------------------------------------------------------
    # Acting
    # ----------------------------------------------------------------------------------------------------------
    def _act(self, obs: np.ndarray, noise_std: float) -> np.ndarray:
        """Actor actions for ``obs (E, N, D)`` plus Gaussian noise (``noise_std`` half-ranges), clipped: ``(E, N, A)``."""
        with torch.no_grad():
            actions = self.actor_actions(torch.as_tensor(obs, dtype=torch.float32, device=self.device))
            if noise_std > 0:
                noise = torch.randn(actions.shape, generator=self.torch_rng, device=self.device) * noise_std
                actions = torch.max(torch.min(actions + noise * self.half_range, self.action_high), self.action_low)
        return actions.cpu().numpy()

    def _random_actions(self, n_envs: int) -> np.ndarray:
        """Uniform actions in the action box, ``(E, N, A)`` (warm-up)."""
        low, high = self.action_low.cpu().numpy(), self.action_high.cpu().numpy()
        return self.rng.uniform(low, high, size=(n_envs, *low.shape)).astype(np.float32)

    def _predict_arrays(
        self,
        obs: np.ndarray,
        action_mask: np.ndarray | None,
        state: np.ndarray | None,
        episode_start: np.ndarray | None,
        deterministic: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        with torch_threads(1):
            return self._act(obs, 0.0 if deterministic else self.exploration_noise), None

    def predict(
        self,
        obs: dict[str, Any] | np.ndarray,
        state: np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
        action_mask: dict[str, Any] | np.ndarray | None = None,
    ) -> tuple[dict[str, Any] | np.ndarray, np.ndarray | None]:
        """The actors' actions (see :meth:`BaseAgent.predict`). Deterministic by default: the policy is deterministic;
        ``deterministic=False`` adds the current exploration noise."""
        return super().predict(obs, state, episode_start, deterministic, action_mask)

    # ----------------------------------------------------------------------------------------------------------
    # Runner
    # ----------------------------------------------------------------------------------------------------------
    def learn(
        self: SelfMADDPG,
        total_timesteps: int | float,
        callback: Any = None,
        log_interval: int | None = 20,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfMADDPG:
        """Train for ``total_timesteps`` env steps (see :meth:`BaseAgent.learn`); one iteration is ``train_freq``
        vec-env steps and ``gradient_steps`` updates; logs every 20 iterations (10k steps with the defaults)."""
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)

    def collect_rollouts(self, env: MultiAgentVecEnv, callback: BaseCallback) -> bool:
        """Step the envs ``train_freq`` times (random actions during the warm-up) and store the transitions."""
        assert self._last_obs is not None, "call learn() (it resets the env) before collect_rollouts()"
        E = env.num_envs
        callback.on_rollout_start()
        with torch_threads(1):  # batches of E samples
            for _ in range(self.config.train_freq):
                last = self._last_obs
                if self.num_timesteps < self.config.warmup_steps:
                    actions = self._random_actions(E)
                else:
                    actions = self._act(last.obs, self.exploration_noise)  # (E, N, A)
                step = env.step(actions)
                self.num_timesteps += E
                # the transition's next observation: the final one where an episode ended (same-step autoreset)
                next_obs, next_state = step.obs.obs, step.obs.state
                done = np.flatnonzero(step.terminated | step.truncated)
                if done.size:
                    next_obs, next_state = next_obs.copy(), next_state.copy()
                    for k in done:
                        info = step.infos[k]
                        next_obs[k], next_state[k] = info["final_obs"], info["final_state"]
                        if "episode" in info:
                            self.ep_info_buffer.append(info["episode"])
                        self._episode_num += 1
                self.replay.add(
                    last.obs, last.state, actions, step.reward, next_obs, next_state, step.terminated, step.truncated
                )
                self._last_obs = step.obs
                callback.update_locals(locals())
                if not callback.on_step():
                    return False
        self.logger.record("rollout/noise_std", self.exploration_noise)
        callback.on_rollout_end()
        return True

    # ----------------------------------------------------------------------------------------------------------
    # Update
    # ----------------------------------------------------------------------------------------------------------
    def train(self) -> None:
        """``gradient_steps`` updates on batches from the replay (after the warm-up)."""
        cfg = self.config
        if self.num_timesteps < cfg.warmup_steps or not self.replay.can_sample(cfg.batch_size):
            return
        critic_losses, actor_losses, q_means = [], [], []
        for _ in range(cfg.gradient_steps):
            batch = self.replay.sample(cfg.batch_size, self.device, cfg.n_step, cfg.gamma)
            critic_loss, q_mean = self._critic_update(batch)
            critic_losses.append(critic_loss)
            q_means.append(q_mean)
            self._n_updates += 1
            if self._n_updates % cfg.policy_delay == 0:
                actor_losses.append(self._actor_update(batch))
                self.update_targets(cfg.tau)
        self.logger.record("train/critic_loss", float(np.mean(critic_losses)))
        self.logger.record("train/q_mean", float(np.mean(q_means)))
        if actor_losses:
            self.logger.record("train/actor_loss", float(np.mean(actor_losses)))
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")

    def critic_targets(self, batch: TransitionBatch) -> torch.Tensor:
        """``y = r + gamma (1 - d) min_k Q'_{i,k}(s', a')`` with target actions ``a'`` (TD3: smoothed), ``(n_q, B)``."""
        cfg = self.config
        with torch.no_grad():
            next_actions = self.actor_actions(batch.next_obs, target=True)  # (B, N, A)
            if cfg.target_policy_noise is not None and cfg.target_policy_noise > 0:
                next_actions = smoothed_target_actions(
                    next_actions,
                    cfg.target_policy_noise,
                    cfg.target_noise_clip,
                    self.half_range,
                    self.action_low,
                    self.action_high,
                    self.torch_rng,
                )
            next_q = self.q_values(batch.next_state, next_actions, target=True).min(dim=0).values  # (n_q, B)
            discount = cfg.gamma if batch.discount is None else batch.discount  # gamma^m of n-step samples
            return td_targets(batch.reward, batch.terminated, next_q, discount)

    def _critic_update(self, batch: TransitionBatch) -> tuple[float, float]:
        # 1. targets: target actors (TD3: smoothed) on o', the minimum over twin target critics, bootstrap unless d
        targets = self.critic_targets(batch)  # (n_q, B)
        # 2. critic regression on the stored joint action, summed over critics and twins
        q = self.q_values(batch.state, batch.actions)  # (n_twins, n_q, B)
        loss = (q - targets).pow(2).mean(dim=-1).sum()
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_optimizer.step()
        return float(loss.detach()), float(q[0].mean().detach())

    def actor_loss(self, batch: TransitionBatch) -> torch.Tensor:
        """``sum_i -mean_B Q_{i,1}(s, a_1, ..., mu_i(o_i), ..., a_N)``, the other agents' actions from the replay."""
        N, B = self.spaces.n_agents, batch.reward.shape[0]
        own = self.actor_actions(batch.obs)  # (B, N, A)
        eye = torch.eye(N, device=self.device).view(N, 1, N, 1)  # (N_i, 1, N_j, 1)
        joint = batch.actions.unsqueeze(0) * (1.0 - eye) + own.unsqueeze(0) * eye  # (N_i, B, N, A): slot i is mu_i(o_i)
        x = self.critic_inputs(batch.state.unsqueeze(0).expand(N, *batch.state.shape), joint)  # (N_i, B, F)
        if self.n_q == 1:  # one critic scores every agent's deviation
            q = self.critics(x.reshape(1, N * B, -1), slice(0, 1)).view(N, B)
        else:  # critic i (first twin) scores agent i
            q = self.critics(x, slice(0, N)).view(N, B)
        return -q.mean(dim=-1).sum()

    def _actor_update(self, batch: TransitionBatch) -> float:
        # 3. actors: ascend the critic through each agent's own action (critic weights frozen)
        self.critics.requires_grad_(False)
        try:
            loss = self.actor_loss(batch)
            self.actor_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.actor_optimizer.step()
        finally:
            self.critics.requires_grad_(True)
        return float(loss.detach()) / self.spaces.n_agents

    def update_targets(self, tau: float) -> None:
        """Polyak-average the online networks into the target networks: ``theta' <- tau theta + (1 - tau) theta'``."""
        # 4. soft target updates (SB3's polyak_update, in place)
        polyak_update(self.actors.parameters(), self.target_actors.parameters(), tau)
        polyak_update(self.critics.parameters(), self.target_critics.parameters(), tau)

    # ----------------------------------------------------------------------------------------------------------
    # Checkpoints
    # ----------------------------------------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        return {"replay_rng": self.replay.rng.bit_generator.state}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        if "replay_rng" in state:
            self.replay.rng.bit_generator.state = state["replay_rng"]

    @property
    def replay_buffer(self) -> TransitionReplayBuffer:
        """The replay buffer (``self.replay``), under the name SB3's callbacks look for."""
        return self.replay

    def save_replay_buffer(self, path: str | os.PathLike[str]) -> Path:
        """Write the replay buffer to a zip of ``replay.json`` + ``replay.safetensors`` (nothing pickled; ``.zip`` is
        appended when there is no suffix) and return the path."""
        return self.replay.save(path)

    def load_replay_buffer(self, path: str | os.PathLike[str]) -> None:
        """Load a replay buffer written by :meth:`save_replay_buffer`.

        Raises:
            ValueError: Not a trmarl transition replay file, or one for other array sizes.
        """
        self.replay.load(path)


class MATD3(MADDPG):
    """MATD3: :class:`MADDPG` with twin critics, target policy smoothing and delayed actor updates on by default."""

    algorithm_name: ClassVar[str] = "MATD3"
    config_class: ClassVar[type[Any]] = MATD3Config
    config: MATD3Config
