"""The random (LWTA) flow: an exact finite mixture of bijections, its bound, its
importance-weighted estimate, sampling, and the keyed noise behind reproducible scores."""

import math

import numpy as np
import pytest
import torch

from skflows.nn import LWTA, keyed_uniform, lwta_flow, row_keys


def test_enumeration_size_and_joint_sums_to_marginal(tiny_lwta_flow):
    flow = tiny_lwta_flow(2)
    x = torch.randn(7, 2, dtype=torch.float64)
    exact = flow.log_prob_exact(x)
    assert exact.shape == (7,)
    # Same value by summing exp(log_joint) over the 16 configurations one by one.
    total = torch.zeros(7, dtype=torch.float64)
    for a in range(4):
        for b in range(4):
            w = [torch.tensor([a // 2, a % 2]).expand(7, 2),
                 torch.tensor([b // 2, b % 2]).expand(7, 2)]
            total += torch.exp(flow.log_joint(x, w))
    assert torch.allclose(torch.log(total), exact, atol=1e-10)


def test_exact_mixture_density_integrates_to_one_2d(tiny_lwta_flow):
    flow = tiny_lwta_flow(2)
    g = torch.linspace(-8, 8, 241, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        dens = torch.exp(flow.log_prob_exact(grid)).reshape(241, 241).numpy()
    mass = np.trapezoid(np.trapezoid(dens, g.numpy(), axis=1), g.numpy())
    assert abs(mass - 1.0) < 2e-3


def test_exact_mixture_density_integrates_to_one_1d(tiny_lwta_flow):
    flow = tiny_lwta_flow(1)
    g = torch.linspace(-12, 12, 8001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        dens = torch.exp(flow.log_prob_exact(g)).numpy()
    assert abs(np.trapezoid(dens, g[:, 0].numpy()) - 1.0) < 1e-4


def test_elbo_below_iw_below_exact_and_iw_converges(tiny_lwta_flow):
    flow = tiny_lwta_flow(2, seed=1)
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        exact = flow.log_prob_exact(x)
        draws = 4000
        single = flow.log_prob(x.expand(draws, 6, 2), flow.keyed_uniforms(x, 11, draws))
        elbo = single.mean(0)
        elbo_se = single.std(0) / math.sqrt(draws)
        # Average IW estimates over independent seeds to compare expectations.
        iw8 = torch.stack([flow.log_prob_iw(x, 8, seed) for seed in range(200)]).mean(0)
        errors = [float((flow.log_prob_iw(x, s, 3) - exact).abs().max())
                  for s in (4, 64, 4096)]
    assert torch.all(elbo < exact)
    assert torch.all(elbo - 3 * elbo_se <= iw8)
    assert torch.all(iw8 <= exact + 0.02)
    assert torch.all(exact - elbo > 0.01), "members should differ for the test to bite"
    assert errors[2] < 0.03 and errors[2] < errors[0]


def test_few_blocks_next_to_deterministic_units_form_an_exact_mixture(tiny_lwta_flow):
    """One LWTA block of 2 per layer (a random switch), the other units ReLU: 4 members."""
    flow = tiny_lwta_flow(2, seed=3, scale=0.4, hidden_dims=(5, 6), n_blocks=1)
    assert [t.dense.weight.shape[0] for t in flow._stochastic()] == [3, 3]
    grid1 = torch.linspace(-8, 8, 241, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(grid1, grid1, indexing="ij"), -1).reshape(-1, 2)
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        dens = torch.exp(flow.log_prob_exact(grid)).reshape(241, 241).numpy()
        exact = flow.log_prob_exact(x)
        elbo = flow.log_prob(x.expand(4000, 6, 2), flow.keyed_uniforms(x, 11, 4000)).mean(0)
        iw = torch.stack([flow.log_prob_iw(x, 8, seed) for seed in range(200)]).mean(0)
    mass = np.trapezoid(np.trapezoid(dens, grid1.numpy(), axis=1), grid1.numpy())
    assert abs(mass - 1.0) < 2e-3
    assert float((exact - elbo).mean()) > 0.02, "members should differ for the test to bite"
    assert torch.all(elbo < iw) and torch.all(iw <= exact + 0.02)
    with pytest.raises(ValueError, match="units exceed the first hidden width"):
        lwta_flow(2, hidden_dims=(5,), n_competitors=2, n_blocks=3)


def test_each_mixture_member_is_a_bijection_with_correct_log_det(tiny_lwta_flow):
    flow = tiny_lwta_flow(3, seed=2)
    coupling = flow._stochastic()[0]
    x = torch.randn(5, 3, dtype=torch.float64)
    winners = torch.tensor([1, 0]).expand(5, 2)
    y, log_det, _ = coupling.couple(x, winners=winners)
    x_back, log_det_inv, _ = coupling.couple(y, inverse=True, winners=winners)
    assert torch.allclose(x_back, x, atol=1e-10)
    assert torch.allclose(log_det, -log_det_inv, atol=1e-10)
    for i in range(5):
        jac = torch.autograd.functional.jacobian(
            lambda v: coupling.couple(v[None], winners=winners[:1])[0][0], x[i])
        assert torch.allclose(torch.linalg.slogdet(jac)[1], log_det[i], atol=1e-8)


def test_samples_follow_the_exact_mixture_density(tiny_lwta_flow):
    flow = tiny_lwta_flow(1, seed=3)
    with torch.no_grad():
        s = flow.sample(20000, generator=torch.Generator().manual_seed(0))[:, 0].numpy()
        fine = torch.linspace(-6, 6, 4001, dtype=torch.float64)[:, None]
        dens = torch.exp(flow.log_prob_exact(fine)).numpy()
    grid = fine[:, 0].numpy()
    cdf = np.concatenate([[0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(grid))])
    edges = np.linspace(-3, 3, 13)
    expected = np.diff(np.interp(edges, grid, cdf))
    observed = np.histogram(s, edges)[0] / len(s)
    se = np.sqrt(expected * (1 - expected) / len(s)) + 1e-4
    assert np.all(np.abs(observed - expected) < 5 * se)


def test_keyed_estimate_is_subset_and_order_invariant(tiny_lwta_flow):
    flow = tiny_lwta_flow(2)
    x = torch.randn(30, 2, dtype=torch.float64)
    with torch.no_grad():
        full = flow.log_prob_iw(x, 16, seed=4)
        part = flow.log_prob_iw(x[[7, 3, 20]], 16, seed=4)
        other = flow.log_prob_iw(x, 16, seed=5)
    assert torch.allclose(part, full[[7, 3, 20]], rtol=0, atol=1e-12)
    assert not torch.allclose(full, other)


def test_keyed_uniforms_look_uniform_and_independent():
    keys = row_keys(torch.randn(500, 3, dtype=torch.float64))
    u = keyed_uniform(keys, torch.arange(40), (4,))
    assert u.shape == (40, 500, 4)
    assert 0 < u.min() and u.max() < 1
    flat = u.reshape(-1, 4)
    assert abs(flat.mean() - 0.5) < 0.005 and abs(flat.var() - 1 / 12) < 0.002
    corr = torch.corrcoef(flat.T) - torch.eye(4, dtype=flat.dtype)
    assert corr.abs().max() < 0.02
    # Neighbouring streams are not correlated either.
    assert abs(torch.corrcoef(torch.stack([u[0].ravel(), u[1].ravel()]))[0, 1]) < 0.05


def test_straight_through_gradient_reaches_winner_logits():
    torch.manual_seed(0)
    layer = LWTA(3, n_blocks=2, n_competitors=3).double().train()
    x = torch.randn(64, 3, dtype=torch.float64)
    out, _ = layer(x)
    (out ** 2).sum().backward()
    assert torch.isfinite(layer.linear.weight.grad).all()
    # Exactly one unit per block is active in the forward value.
    active = (out.reshape(64, 2, 3) != 0).sum(-1)
    assert torch.all(active == 1)


def test_fixed_winner_probabilities_match_softmax():
    torch.manual_seed(0)
    layer = LWTA(2, n_blocks=1, n_competitors=4).double().eval()
    x = torch.randn(1, 2, dtype=torch.float64).expand(20000, 2)
    u = keyed_uniform(torch.arange(20000), torch.arange(1), (1, 4))[0]
    out, _ = layer(x, uniforms=u)
    freq = (out != 0).double().mean(0)
    probs = torch.softmax(layer.linear(x[:1]), -1)[0]
    assert torch.allclose(freq, probs, atol=0.015)


def test_first_hidden_width_must_be_a_multiple_of_competitors():
    with pytest.raises(ValueError, match="multiple of n_competitors"):
        lwta_flow(2, hidden_dims=(5, 5), n_competitors=2)
