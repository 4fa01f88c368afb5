"""Mathematical invariants of every invertible layer: invertibility, log|det J| against
autograd's Jacobian, identity at initialisation, and the batched component axis."""

import numpy as np
import pytest
import torch

from skflows.nn import (ActNorm, AffineCoupling, FixedAffine, LULinear, Permutation,
                        SplineCoupling, coupling_flow, rational_quadratic_spline)

D = 5


def _perturb(module, scale=0.2, seed=0):
    """Move every parameter away from its (often identity) initial value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


LAYERS = {
    "affine": lambda K: AffineCoupling(D, (16, 16), n_components=K),
    "spline": lambda K: SplineCoupling(D, (16, 16), n_bins=6, tail_bound=3.0, n_components=K),
    "permutation": lambda K: Permutation.random(D, torch.Generator().manual_seed(1)),
    "lu": lambda K: LULinear(D, n_components=K, generator=torch.Generator().manual_seed(1)),
    "actnorm": lambda K: ActNorm(D, n_components=K),
    "fixed_affine": lambda K: FixedAffine(torch.linspace(-1, 1, D, dtype=torch.float64),
                                          torch.linspace(0.5, 2, D, dtype=torch.float64)),
}


def _inputs(K, n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (n, D) if K is None else (K, n, D)
    # Scale 2.5 puts a share of the points beyond the spline's tail bound of 3.
    return 2.5 * torch.randn(shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("K", [None, 3])
@pytest.mark.parametrize("name", list(LAYERS))
def test_invertible_in_float64(name, K):
    layer = _perturb(LAYERS[name](K).double())
    x = _inputs(K)
    y, log_det = layer(x)
    x_back, log_det_inv = layer.inverse(y)
    assert y.shape == x.shape and log_det.shape == x.shape[:-1]
    assert torch.max(torch.abs(x_back - x)) < 1e-5
    assert torch.max(torch.abs(log_det + log_det_inv)) < 1e-5
    assert not torch.allclose(y, x), "perturbed layer should not be the identity"


@pytest.mark.parametrize("name", list(LAYERS))
def test_log_det_matches_autograd_jacobian(name):
    layer = _perturb(LAYERS[name](None).double())
    layer.eval()
    x = _inputs(None, n=6, seed=3)
    if name == "actnorm":
        layer.initialized.fill_(True)
    _, log_det = layer(x)
    for i in range(x.shape[0]):
        jac = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], x[i])
        expected = torch.linalg.slogdet(jac)[1]
        assert torch.allclose(log_det[i], expected, atol=1e-8), (i, log_det[i], expected)


@pytest.mark.parametrize("transform", ["nsf", "realnvp"])
@pytest.mark.parametrize("permutation", ["random", "reverse", "lu"])
def test_flow_log_det_matches_autograd(transform, permutation):
    torch.manual_seed(0)
    flow = _perturb(coupling_flow(3, transform=transform, n_layers=3, hidden_dims=(8,),
                                  permutation=permutation, tail_bound=3.0).double(), 0.1)
    x = _inputs(None, n=4)[:, :3]
    _, log_det = flow(x)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], x[i])
        assert torch.allclose(log_det[i], torch.linalg.slogdet(jac)[1], atol=1e-8)


@pytest.mark.parametrize("cls", [AffineCoupling, SplineCoupling])
def test_coupling_is_identity_at_initialisation(cls):
    layer = cls(D, (16, 16)).double()
    x = _inputs(None)
    y, log_det = layer(x)
    assert torch.allclose(y, x, atol=1e-12)
    assert torch.allclose(log_det, torch.zeros_like(log_det), atol=1e-12)


def test_coupling_leaves_identity_half_unchanged():
    layer = _perturb(SplineCoupling(D, (16,)).double())
    x = _inputs(None)
    y, _ = layer(x)
    assert torch.equal(y[:, : D // 2], x[:, : D // 2])


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 8])
def test_alternating_permutation_swaps_the_coupling_halves(d):
    h = d // 2
    order = Permutation.alternating(d, torch.Generator().manual_seed(d)).permutation
    assert sorted(order.tolist()) == list(range(d))
    # The transformed half (h..d-1) goes first, into the next coupling's conditioning half.
    assert sorted(order[: d - h].tolist()) == list(range(h, d))
    assert sorted(order[d - h:].tolist()) == list(range(h))


def test_lu_layer_starts_at_the_given_permutation_and_rejects_others():
    order = torch.tensor([3, 0, 4, 1, 2])
    layer = LULinear(D, permutation=order).double()
    x = _inputs(None)
    y, log_det = layer(x)
    assert torch.allclose(y, x[:, order], atol=1e-12)
    assert torch.allclose(layer.inverse(y)[0], x, atol=1e-12)
    assert torch.allclose(log_det, torch.zeros_like(log_det), atol=1e-2)  # diag 1 - eps
    for bad in ([0, 1, 2, 3, 3], [0, 1, 2, 3]):
        with pytest.raises(ValueError, match="permutation"):
            LULinear(D, permutation=torch.tensor(bad))


@pytest.mark.parametrize("d", [2, 3, 6])
def test_lu_flow_couplings_take_turns_on_the_coordinates(d):
    """At initialisation, tracking which input coordinate sits in each position through
    the LU layers: every coordinate is transformed by some coupling, and in 2-D the
    couplings alternate (a random start permutation could leave one coordinate
    transformed by every layer)."""
    flow = coupling_flow(d, n_layers=6, hidden_dims=(8,), permutation="lu",
                         generator=torch.Generator().manual_seed(0))
    where = list(range(d))  # where[pos] = input coordinate at that position
    transformed = []
    for layer in flow.transforms:
        if isinstance(layer, LULinear):
            where = [where[i] for i in layer.inverse_permutation.tolist()]
        elif isinstance(layer, (SplineCoupling, AffineCoupling)):
            transformed.append(sorted(where[d // 2:]))
    assert set().union(*map(set, transformed)) == set(range(d))
    for previous, current in zip(transformed, transformed[1:]):
        # The next coupling conditions on (most of) what the previous one transformed.
        assert len(set(previous) & set(current)) <= (d - d // 2) - d // 2
    if d == 2:
        assert [t[0] for t in transformed[1:]] != [transformed[0][0]] * 5


def test_spline_identity_outside_tail_bound_and_finite_gradients():
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([-10.0, -3.0, -1.0, 0.0, 2.9999, 3.0, 7.0], dtype=torch.float64,
                     requires_grad=True)
    # One spline shared by all seven points, so that monotonicity can be checked.
    w = torch.randn(1, 4, generator=g, dtype=torch.float64, requires_grad=True)
    h = torch.randn(1, 4, generator=g, dtype=torch.float64, requires_grad=True)
    d = torch.randn(1, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y, log_det = rational_quadratic_spline(x, w.expand(7, 4), h.expand(7, 4), d.expand(7, 3),
                                           bound=3.0)
    assert y[0] == -10.0 and y[-1] == 7.0 and log_det[0] == 0 and log_det[-1] == 0
    # Boundary knots are fixed: the spline maps [-B, B] onto itself.
    assert torch.isclose(y[1], torch.tensor(-3.0, dtype=torch.float64))
    assert torch.isclose(y[5], torch.tensor(3.0, dtype=torch.float64))
    # Monotone increasing inside.
    assert torch.all(torch.diff(y) > 0)
    (y.sum() + log_det.sum()).backward()
    for t in (x, w, h, d):
        assert torch.isfinite(t.grad).all()


def test_spline_inverse_on_dense_grid_float64():
    g = torch.Generator().manual_seed(2)
    x = torch.linspace(-3.5, 3.5, 2001, dtype=torch.float64)
    w = torch.randn(1, 8, generator=g, dtype=torch.float64).expand(len(x), 8)
    h = torch.randn(1, 8, generator=g, dtype=torch.float64).expand(len(x), 8)
    d = torch.randn(1, 7, generator=g, dtype=torch.float64).expand(len(x), 7)
    y, ld = rational_quadratic_spline(x, w, h, d, bound=3.0)
    x_back, ld_inv = rational_quadratic_spline(y, w, h, d, bound=3.0, inverse=True)
    assert torch.max(torch.abs(x_back - x)) < 1e-9
    assert torch.max(torch.abs(ld + ld_inv)) < 1e-8
    # log-det against autograd's elementwise derivative of the map itself.
    xg = x.clone().requires_grad_(True)
    yg, _ = rational_quadratic_spline(xg, w, h, d, bound=3.0)
    (dy_dx,) = torch.autograd.grad(yg.sum(), xg)
    assert torch.max(torch.abs(torch.log(dy_dx) - ld)) < 1e-9


@pytest.mark.parametrize("transform", ["nsf", "realnvp"])
def test_components_axis_equals_independent_flows(transform):
    """K flows in one batched pass give the same output as K separate flows."""
    K = 3
    torch.manual_seed(0)
    batched = _perturb(coupling_flow(D, transform=transform, n_layers=2, hidden_dims=(8,),
                                     permutation="lu", n_components=K).double(), 0.1)
    x = _inputs(K, n=10)
    log_p = batched.log_prob(x)
    assert log_p.shape == (K, 10)
    for k in range(K):
        torch.manual_seed(0)
        single = coupling_flow(D, transform=transform, n_layers=2, hidden_dims=(8,),
                               permutation="lu").double()
        single_state = {name: (value[k] if value.dim() and value.shape[0] == K
                               and name.split(".")[-1] not in ("permutation",
                                                                "inverse_permutation",
                                                                "_tril_mask")
                               else value)
                        for name, value in batched.state_dict().items()}
        # Component-indexed parameters of shape (K, 1, d) drop to (d,) style shapes.
        single_state = {n: v.reshape(single.state_dict()[n].shape)
                        for n, v in single_state.items()}
        single.load_state_dict(single_state)
        assert torch.allclose(single.log_prob(x[k]), log_p[k], atol=1e-10)


def test_actnorm_data_dependent_init_standardises_first_batch():
    layer = ActNorm(D).double()
    layer.train()
    x = 3.0 + 2.0 * _inputs(None, n=500)
    y, _ = layer(x)
    assert np.allclose(y.mean(0).detach().numpy(), 0, atol=1e-10)
    assert np.allclose(y.std(0).detach().numpy(), 1, atol=1e-10)
    # Later batches use the stored statistics.
    y2, _ = layer(x + 1.0)
    assert torch.allclose(y2, y + torch.exp(layer.log_scale).detach(), atol=1e-10)


def test_spline_unequal_minimum_bin_sizes_and_packed_path():
    """Different minimum widths and heights are honoured (the smallest bin of each is at
    least its minimum), the end knots stay pinned, log-det matches autograd, and the
    coupling layers' packed path gives the public function's values."""
    from skflows.nn.splines import _knots, _spline
    g = torch.Generator().manual_seed(3)
    x = torch.linspace(-3.2, 3.2, 301, dtype=torch.float64, requires_grad=True)
    # Very peaked logits so that the minimum sizes bind.
    w = (8 * torch.randn(1, 6, generator=g, dtype=torch.float64)).expand(len(x), 6)
    h = (8 * torch.randn(1, 6, generator=g, dtype=torch.float64)).expand(len(x), 6)
    d = torch.randn(1, 5, generator=g, dtype=torch.float64).expand(len(x), 5)
    y, ld = rational_quadratic_spline(x, w, h, d, bound=3.0, min_bin_width=0.05,
                                      min_bin_height=0.01)
    knots = _knots(torch.stack([w[:1], h[:1]], dim=-2), 3.0,
                   torch.tensor([[0.05], [0.01]], dtype=torch.float64))
    sizes = torch.diff(knots, dim=-1) / 6.0
    assert sizes[0, 0].min() >= 0.05 - 1e-12 and sizes[0, 1].min() >= 0.01 - 1e-12
    assert sizes[0, 0].min() < 0.051 and sizes[0, 1].min() < 0.011  # they do bind
    assert knots[0, :, 0].tolist() == [-3.0, -3.0] and knots[0, :, -1].tolist() == [3.0, 3.0]
    (dy_dx,) = torch.autograd.grad(y.sum(), x)
    assert torch.max(torch.abs(torch.log(dy_dx) - ld)) < 1e-9
    y2, ld2 = _spline(x.detach(), torch.stack([w, h], dim=-2), d, 3.0, False,
                      torch.tensor([[0.05], [0.01]], dtype=torch.float64), 1e-3)
    assert torch.allclose(y2, y.detach(), atol=1e-12) and torch.allclose(ld2, ld, atol=1e-12)
