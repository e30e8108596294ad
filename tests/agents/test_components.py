"""Unit tests of the shared on-policy components: distributions, networks, ValueNorm, GAE, CG, surrogates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from trmarl.agents.happo import happo_surrogate
from trmarl.agents.hatrpo import conjugate_gradient
from trmarl.agents.mappo import ppo_surrogate
from trmarl.agents.on_policy import compute_gae
from trmarl.common.distributions import DiagGaussian, DiagGaussianHead, MaskedCategorical, kl_divergence
from trmarl.common.networks import Actor, Critic, MLPBase, StackedActors
from trmarl.common.valuenorm import ValueNorm


def test_gaussian_head_bounded_state_independent_std() -> None:
    head = DiagGaussianHead(8, 3, std_x_coef=1.0, std_y_coef=0.5)
    dist = head(torch.randn(5, 8))
    assert torch.allclose(dist.std, torch.full((5, 3), 0.5 / (1 + math.exp(-1))))  # sigmoid(1) * 0.5 = 0.366
    with torch.no_grad():
        head.log_std.fill_(1e6)
    assert float(head.std().detach().max()) <= 0.5
    ref = torch.distributions.Normal(dist.mean, dist.std)
    a = torch.randn(5, 3)
    assert torch.allclose(dist.log_prob(a), ref.log_prob(a).sum(-1), atol=1e-5)
    assert torch.allclose(dist.entropy(), ref.entropy().sum(-1), atol=1e-5)


def test_masked_categorical_never_picks_masked_actions() -> None:
    logits = torch.tensor([[5.0, 0.0, 0.0, 9.0]]).repeat(1000, 1)
    mask = torch.tensor([[True, True, True, False]]).repeat(1000, 1)
    dist = MaskedCategorical(logits, mask)
    g = torch.Generator().manual_seed(0)
    assert (dist.sample(g) != 3).all()
    assert (dist.mode() == 0).all()
    assert torch.isfinite(dist.entropy()).all()
    assert torch.allclose(dist.probs.sum(-1), torch.ones(1000))


def test_kl_divergence() -> None:
    old = DiagGaussian(torch.randn(4, 3), torch.rand(3) + 0.1)
    new = DiagGaussian(torch.randn(4, 3), torch.rand(3) + 0.1)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(old.mean.double(), old.std.double()),
        torch.distributions.Normal(new.mean.double(), new.std.double()),
    ).sum(-1)
    kl = kl_divergence(old, new)
    assert kl.dtype == torch.float64 and torch.allclose(kl, ref)
    assert torch.allclose(kl_divergence(old, old), torch.zeros(4, dtype=torch.float64))
    cat = MaskedCategorical(torch.randn(4, 5))
    assert torch.allclose(kl_divergence(cat, cat), torch.zeros(4))


def test_mlp_structure_and_init() -> None:
    base = MLPBase(10, (32, 32), "relu", feature_norm=True)
    kinds = [type(m) for m in base.layers]
    assert isinstance(base.feature_norm, nn.LayerNorm)
    assert kinds == [nn.Linear, nn.ReLU, nn.LayerNorm, nn.Linear, nn.ReLU, nn.LayerNorm]
    w = base.layers[3].weight.detach()
    assert torch.allclose(w @ w.T, 2.0 * torch.eye(32), atol=1e-4)  # orthogonal, gain sqrt(2)
    actor = Actor(10, (32,), act_dim=2, recurrent=True)
    obs = torch.randn(4, 3, 10)  # (L, B, D)
    starts = torch.zeros(4, 3)
    dist, h = actor(obs, torch.zeros(3, 32), starts)
    assert dist.mean.shape == (4, 3, 2) and h is not None and h.shape == (3, 32)
    # a reset at step 2 makes the output independent of what came before
    starts[2] = 1.0
    dist_a, _ = actor(obs, torch.randn(3, 32), starts)
    obs_b = obs.clone()
    obs_b[:2] = torch.randn(2, 3, 10)
    dist_b, _ = actor(obs_b, torch.randn(3, 32), starts)
    assert torch.allclose(dist_a.mean[2:], dist_b.mean[2:], atol=1e-6)
    v, _ = Critic(7, (16,))(torch.randn(5, 7))
    assert v.shape == (5,)


def test_value_norm_matches_harl_formula() -> None:
    vn = ValueNorm(1)
    rng = np.random.default_rng(0)
    m = m2 = d = 0.0
    beta = 0.99999
    for _ in range(5):
        x = rng.normal(3.0, 2.0, size=(64, 1)).astype(np.float32)
        vn.update(torch.as_tensor(x))
        m = beta * m + (1 - beta) * x.mean()
        m2 = beta * m2 + (1 - beta) * (x**2).mean()
        d = beta * d + (1 - beta)
    mean = m / max(d, 1e-5)
    var = max(m2 / max(d, 1e-5) - mean**2, 1e-2)
    got_mean, got_var = vn.mean_var()
    assert got_mean.item() == pytest.approx(mean, rel=1e-3)
    assert got_var.item() == pytest.approx(var, rel=1e-2)
    y = torch.tensor([[1.0], [5.0]])
    assert torch.allclose(vn.denormalize(vn.normalize(y)), y, atol=1e-4)
    fresh = ValueNorm(1)
    fresh.update(torch.zeros(4, 1))
    assert fresh.mean_var()[1].item() == pytest.approx(1e-2)  # variance floor


def test_gae_truncation_and_termination() -> None:
    gamma, lam = 0.9, 0.5
    rewards = torch.tensor([[1.0], [2.0], [3.0]])  # (T=3, E=1)
    values = torch.tensor([[[0.5]], [[0.6]], [[0.7]], [[0.8]]])  # (T+1, E, C)
    final = torch.zeros(3, 1, 1)
    final[1, 0, 0] = 10.0  # V(final state) of the episode truncated at t=1
    truncated = torch.tensor([[0.0], [1.0], [0.0]])
    terminated = torch.zeros(3, 1)
    adv, ret = compute_gae(rewards, values, final, terminated, truncated, gamma, lam)
    d2 = 3.0 + gamma * 0.8 - 0.7
    d1 = 2.0 + gamma * 10.0 - 0.6  # bootstraps from the final state, no carry over the boundary
    d0 = 1.0 + gamma * 0.6 - 0.5
    expected = torch.tensor([d0 + gamma * lam * d1, d1, d2])
    assert torch.allclose(adv[:, 0, 0], expected)
    assert torch.allclose(ret, adv + values[:-1])
    # termination: no bootstrap at all
    adv_t, _ = compute_gae(rewards, values, final, truncated, torch.zeros(3, 1), gamma, lam)
    assert adv_t[1, 0, 0].item() == pytest.approx(2.0 - 0.6)
    # HARL's bad_transition convention: the truncated step gets advantage 0 (return V(s_t))
    adv_h, ret_h = compute_gae(rewards, values, final, terminated, truncated, gamma, lam, harl_exact=True)
    assert adv_h[1, 0, 0].item() == 0.0 and ret_h[1, 0, 0].item() == pytest.approx(0.6)
    assert adv_h[0, 0, 0].item() == pytest.approx(d0)


def test_conjugate_gradient_solves_spd_system() -> None:
    g = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=g, dtype=torch.float64)
    a = m @ m.T + 6 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, n_iters=10)
    assert torch.allclose(x, torch.linalg.solve(a, b), atol=1e-8)
    assert torch.equal(
        conjugate_gradient(lambda v: a @ v, torch.zeros(6, dtype=torch.float64)), torch.zeros(6, dtype=torch.float64)
    )


def test_surrogates_on_fixed_tensors() -> None:
    logp = torch.log(torch.tensor([1.2, 0.5, 1.0, 1.01]))
    old = torch.zeros(4)
    adv = torch.tensor([1.0, -1.0, 2.0, -3.0])
    factor = torch.tensor([2.0, 0.5, 1.0, 3.0])
    active = torch.tensor([1.0, 1.0, 0.0, 1.0])
    loss, ratio = happo_surrogate(logp, old, adv, factor, active, clip_range=0.1)
    # min(r A, clip(r) A): 1.1*1 ; min(-0.5, -0.9) = -0.9 ; (inactive) ; min(-3.03, -3.03)
    expected = -(2.0 * 1.1 + 0.5 * -0.9 + 3.0 * -3.03) / 3.0
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert torch.allclose(ratio, torch.tensor([1.2, 0.5, 1.0, 1.01]))
    ppo_loss, _ = ppo_surrogate(logp, old, adv, active, clip_range=0.1)
    happo_ones, _ = happo_surrogate(logp, old, adv, torch.ones(4), active, clip_range=0.1)
    assert ppo_loss.item() == pytest.approx(happo_ones.item())


@pytest.mark.parametrize("discrete", [False, True])
def test_stacked_actors_match_the_individual_actors(discrete: bool) -> None:
    kwargs = {"n_actions": 4} if discrete else {"act_dim": 3}
    actors = [Actor(6, (16, 16), **kwargs) for _ in range(3)]
    for a in actors:  # make the heads and std differ from their initial values
        for p in a.parameters():
            p.data.add_(0.1 * torch.randn_like(p))
    obs = torch.randn(3, 5, 6)  # (N, B, d)
    mask = torch.ones(3, 5, 4, dtype=torch.bool)
    mask[..., 1] = False
    stacked = StackedActors(actors)(obs, mask if discrete else None)
    for i, actor in enumerate(actors):
        single, _ = actor(obs[i], action_mask=mask[i] if discrete else None)
        if discrete:
            assert torch.allclose(stacked.logits[i], single.logits, atol=1e-5)
        else:
            assert torch.allclose(stacked.mean[i], single.mean, atol=1e-6)
            assert torch.allclose(stacked.std[i], single.std, atol=1e-7)
    with pytest.raises(ValueError, match="identical architectures"):
        StackedActors([Actor(6, (16,), act_dim=3), Actor(7, (16,), act_dim=3)])
