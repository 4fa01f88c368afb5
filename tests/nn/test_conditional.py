"""Conditional coupling flows ``p(x | c)``: couplings whose conditioners also read a
context vector, the flow's context conventions (log_prob, sample, component axis), the
shared context embedding, and the errors for a missing or malformed context."""

import pickle

import numpy as np
import pytest
import torch

from skflows.nn import (AffineCoupling, Flow, ResidualMLP, SplineCoupling, StandardNormal,
                        coupling_flow)

C = 2  # context width


def _perturb(module, scale=0.3, seed=0):
    """Move every parameter away from its (often identity) initial value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _randn(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=g, dtype=torch.float64)


COUPLINGS = {
    "affine": lambda d, K, c: AffineCoupling(d, (8,), n_components=K, context_features=c),
    "spline": lambda d, K, c: SplineCoupling(d, (8,), n_bins=5, tail_bound=3.0,
                                             n_components=K, context_features=c),
    "affine-residual": lambda d, K, c: AffineCoupling(d, (8, 8), n_components=K,
                                                      context_features=c,
                                                      conditioner="residual"),
    "spline-residual": lambda d, K, c: SplineCoupling(d, (8, 8), n_bins=5, tail_bound=3.0,
                                                      n_components=K, context_features=c,
                                                      conditioner="residual"),
}


def _flow(d, transform, embedding, K=None, permutation="lu", scale=0.3, seed=0):
    torch.manual_seed(seed)  # layer initialisation draws from the global generator
    conditioner = "residual" if transform.endswith("-residual") else "mlp"
    flow = coupling_flow(d, transform=transform.removesuffix("-residual"), n_layers=3,
                         hidden_dims=(8,), n_bins=5, tail_bound=3.0,
                         permutation=permutation, n_components=K,
                         generator=torch.Generator().manual_seed(seed),
                         context_features=C, context_embedding=embedding,
                         conditioner=conditioner).double()
    return _perturb(flow, scale, seed).eval()


FLOWS = [("nsf", None), ("nsf", (6, 3)), ("realnvp", None), ("realnvp", (3,)),
         ("nsf-residual", None), ("realnvp-residual", (3,))]
FLOW_IDS = [f"{t}-{'emb' if e else 'raw'}" for t, e in FLOWS]


# ------------------------------------------------------------------ couplings

def test_unconditional_layers_and_parameter_names_are_unchanged():
    torch.manual_seed(0)
    flow = coupling_flow(3, n_layers=2, hidden_dims=(8,))
    shapes = {k: tuple(v.shape) for k, v in flow.state_dict().items()}
    assert shapes == {
        "transforms.0.permutation": (3,), "transforms.0.inverse_permutation": (3,),
        "transforms.1.conditioner.net.0.weight": (8, 1),
        "transforms.1.conditioner.net.0.bias": (8,),
        "transforms.1.conditioner.net.2.weight": (46, 8),
        "transforms.1.conditioner.net.2.bias": (46,),
        "transforms.2.permutation": (3,), "transforms.2.inverse_permutation": (3,),
        "transforms.3.conditioner.net.0.weight": (8, 1),
        "transforms.3.conditioner.net.0.bias": (8,),
        "transforms.3.conditioner.net.2.weight": (46, 8),
        "transforms.3.conditioner.net.2.bias": (46,),
    }
    assert flow.embedding is None and flow.context_features == 0
    assert AffineCoupling(4, (8,)).conditioner.net[0].weight.shape == (8, 2)
    # A conditional coupling widens only the first conditioner layer.
    assert AffineCoupling(4, (8,), context_features=C).conditioner.net[0].weight.shape \
        == (8, 2 + C)


@pytest.mark.parametrize("K", [None, 2])
@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("name", list(COUPLINGS))
def test_coupling_is_invertible_given_the_context(name, d, K):
    layer = _perturb(COUPLINGS[name](d, K, C).double())
    n = 16
    x = _randn(*((n, d) if K is None else (K, n, d)), scale=2.0)
    context = _randn(n, C, seed=1)
    y, log_det = layer(x, context=context)
    x_back, log_det_inv = layer.inverse(y, context=context)
    assert y.shape == x.shape and log_det.shape == x.shape[:-1]
    torch.testing.assert_close(x_back, x, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(log_det_inv, -log_det, atol=1e-9, rtol=1e-9)
    # The output depends on the context (for d = 1 through the context alone).
    assert not torch.allclose(layer(x, context=context + 1.0)[0], y)
    # The identity half passes through.
    assert torch.equal(y[..., : d // 2], x[..., : d // 2])
    if K is not None:  # (n, C) is shared by the components, like (K, n, C) repeated
        y_k, ld_k = layer(x, context=context.expand(K, n, C))
        assert torch.equal(y_k, y) and torch.equal(ld_k, log_det)


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("name", list(COUPLINGS))
def test_coupling_log_det_matches_autograd_jacobian(name, d):
    layer = _perturb(COUPLINGS[name](d, None, C).double())
    x, context = _randn(5, d, scale=2.0), _randn(5, C, seed=1)
    _, log_det = layer(x, context=context)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(
            lambda v: layer(v[None], context=context[i:i + 1])[0][0], x[i])
        torch.testing.assert_close(log_det[i], torch.linalg.slogdet(jac)[1],
                                   atol=1e-9, rtol=1e-9)


def test_single_context_row_is_shared_by_all_samples():
    layer = _perturb(COUPLINGS["spline"](3, None, C).double())
    x, context = _randn(6, 3), _randn(1, C, seed=1)
    y, log_det = layer(x, context=context)
    y_rep, ld_rep = layer(x, context=context.expand(6, C))
    torch.testing.assert_close(y, y_rep)
    torch.testing.assert_close(log_det, ld_rep)
    torch.testing.assert_close(layer(x, context=context[0])[0], y)  # a (C,) row too


# ------------------------------------------------------------------ whole flows

@pytest.mark.parametrize("transform,embedding", FLOWS, ids=FLOW_IDS)
def test_flow_invertible_and_log_det_matches_autograd(transform, embedding):
    flow = _flow(2, transform, embedding)
    x, context = _randn(4, 2, scale=2.0), _randn(4, C, seed=1)
    z, log_det = flow(x, context=context)
    x_back, log_det_inv = flow.inverse(z, context=context)
    torch.testing.assert_close(x_back, x, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(log_det_inv, -log_det, atol=1e-9, rtol=1e-9)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(
            lambda v: flow(v[None], context=context[i:i + 1])[0][0], x[i])
        torch.testing.assert_close(log_det[i], torch.linalg.slogdet(jac)[1],
                                   atol=1e-9, rtol=1e-9)


def _two_contexts():
    return torch.tensor([[-1.0, 0.5], [1.0, -0.5]], dtype=torch.float64)


@pytest.mark.parametrize("transform,embedding", FLOWS, ids=FLOW_IDS)
def test_1d_conditional_density_integrates_to_one(transform, embedding):
    flow = _flow(1, transform, embedding)
    grid = torch.linspace(-30, 30, 12001, dtype=torch.float64)[:, None]
    densities = []
    with torch.no_grad():
        for context in _two_contexts():
            dens = torch.exp(flow.log_prob(grid, context=context[None])).numpy()
            assert abs(np.trapezoid(dens, grid[:, 0].numpy()) - 1.0) < 1e-4
            densities.append(dens)
    assert np.abs(densities[0] - densities[1]).max() > 1e-2, "context has no effect"


@pytest.mark.parametrize("transform,embedding", FLOWS, ids=FLOW_IDS)
def test_2d_conditional_density_integrates_to_one(transform, embedding):
    flow = _flow(2, transform, embedding)
    g = torch.linspace(-16, 16, 321, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    densities = []
    with torch.no_grad():
        for context in _two_contexts():
            dens = torch.exp(flow.log_prob(grid, context=context[None])).reshape(321, 321)
            mass = np.trapezoid(np.trapezoid(dens.numpy(), g.numpy(), axis=1), g.numpy())
            assert abs(mass - 1.0) < 1e-3
            densities.append(dens)
    assert (densities[0] - densities[1]).abs().max() > 1e-3, "context has no effect"


@pytest.mark.parametrize("transform,embedding", FLOWS, ids=FLOW_IDS)
def test_log_prob_depends_on_the_context_row_by_row(transform, embedding):
    flow = _flow(2, transform, embedding)
    x = _randn(5, 2)
    contexts = _randn(5, C, seed=1)
    with torch.no_grad():
        lp = flow.log_prob(x, context=contexts)
        assert lp.shape == (5,)
        assert (flow.log_prob(x, context=contexts + 1.0) - lp).abs().min() > 1e-6
        # Row i of x is scored under row i of the context.
        for i in range(5):
            torch.testing.assert_close(flow.log_prob(x[i:i + 1], context=contexts[i:i + 1]),
                                       lp[i:i + 1])


@pytest.mark.parametrize("transform,embedding", FLOWS, ids=FLOW_IDS)
def test_sample_shapes_and_draws_are_the_inverse_of_base_draws(transform, embedding):
    flow = _flow(2, transform, embedding)
    contexts = _randn(3, C, seed=1)
    with torch.no_grad():
        draws = flow.sample(5, context=contexts, generator=torch.Generator().manual_seed(4))
        assert draws.shape == (3, 5, 2) and draws.dtype == torch.float64
        # Same base draws, context row j repeated for draws j * 5 ... j * 5 + 4.
        z = torch.randn(15, 2, generator=torch.Generator().manual_seed(4),
                        dtype=torch.float64)
        expected = flow.inverse(z, context=contexts.repeat_interleave(5, dim=0))[0]
        torch.testing.assert_close(draws, expected.reshape(3, 5, 2))
        assert flow.sample(4, context=contexts[0]).shape == (4, 2)
        assert flow.sample(0, context=contexts).shape == (3, 0, 2)


def test_samples_follow_the_conditional_density():
    """Empirical CDF of the draws for each context against the CDF integrated from
    exp(log_prob) (a Kolmogorov-Smirnov distance), for two clearly different contexts."""
    flow = _flow(1, "nsf", (6, 3), scale=0.6, seed=1)
    grid = torch.linspace(-30, 30, 12001, dtype=torch.float64)
    contexts = _two_contexts()
    n = 4000
    with torch.no_grad():
        draws = flow.sample(n, context=contexts, generator=torch.Generator().manual_seed(0))
        assert draws.shape == (2, n, 1)
        cdfs = []
        for j, context in enumerate(contexts):
            dens = torch.exp(flow.log_prob(grid[:, None], context=context[None])).numpy()
            cdf = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2
                                                   * np.diff(grid.numpy()))])
            cdfs.append(cdf)
            empirical = np.searchsorted(np.sort(draws[j, :, 0].numpy()), grid.numpy(),
                                        side="right") / n
            assert np.abs(empirical - cdf).max() < 0.035  # KS 1% critical value ~0.026
    assert np.abs(cdfs[0] - cdfs[1]).max() > 0.1, "the two contexts should differ"


def test_context_shift_moves_the_samples():
    """A hand-set conditional affine layer ``z = x + c``: ``p(x | c) = N(-c, 1)``."""
    layer = AffineCoupling(1, (), context_features=1).double()
    with torch.no_grad():
        layer.conditioner.net[0].weight[1, 0] = 1.0  # shift t(c) = c, log-scale 0
    flow = Flow([layer], StandardNormal(1))
    contexts = torch.tensor([[-2.0], [0.0], [3.0]], dtype=torch.float64)
    with torch.no_grad():
        draws = flow.sample(20000, context=contexts, generator=torch.Generator().manual_seed(0))
        means = draws.mean(dim=(1, 2))
        assert torch.allclose(means, -contexts[:, 0], atol=0.03)
        x = _randn(3, 1)
        expected = torch.distributions.Normal(-contexts, 1.0).log_prob(x)[:, 0]
        torch.testing.assert_close(flow.log_prob(x, context=contexts), expected)


@pytest.mark.parametrize("transform,embedding", FLOWS, ids=FLOW_IDS)
def test_component_axis_with_a_shared_context(transform, embedding):
    """K conditional flows in one pass, context (n, C) shared by the components, equal
    K separate flows given the same context."""
    K, n, d = 2, 6, 3
    batched = _flow(d, transform, embedding, K=K)
    x, context = _randn(K, n, d, scale=2.0), _randn(n, C, seed=1)
    with torch.no_grad():
        lp = batched.log_prob(x, context=context)
        assert lp.shape == (K, n)
        torch.testing.assert_close(batched.log_prob(x, context=context.expand(K, n, C)), lp)
        z, _ = batched(x, context=context)
        torch.testing.assert_close(batched.inverse(z, context=context)[0], x)
        assert batched.sample(4, context=context[:3], batch_shape=(K,)).shape == (K, 3, 4, d)
    shared = ("permutation", "inverse_permutation", "_tril_mask")
    for k in range(K):
        single = _flow(d, transform, embedding)
        state = {name: value if name.startswith("embedding.")
                 or name.split(".")[-1] in shared else value[k]
                 for name, value in batched.state_dict().items()}
        single.load_state_dict({name: v.reshape(single.state_dict()[name].shape)
                                for name, v in state.items()})
        with torch.no_grad():
            torch.testing.assert_close(single.log_prob(x[k], context=context), lp[k])


def test_embedding_is_shared_trained_and_evaluated_once_per_call():
    flow = _flow(2, "nsf", (6, 3))
    assert flow.context_features == C and flow.embedding.out_features == 3
    assert all(t.context_features == 3 for t in flow.transforms
               if isinstance(t, SplineCoupling))
    assert any(name.startswith("embedding.") for name, _ in flow.named_parameters())
    calls = []
    hook = flow.embedding.register_forward_hook(lambda *args: calls.append(1))
    x, context = _randn(8, 2), _randn(8, C, seed=1)
    loss = -flow.log_prob(x, context=context).mean()
    loss.backward()
    assert len(calls) == 1
    for p in flow.embedding.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    with torch.no_grad():
        flow.sample(3, context=context)
    assert len(calls) == 2
    hook.remove()
    # Pickling keeps the embedding and the values.
    clone = pickle.loads(pickle.dumps(flow))
    with torch.no_grad():
        torch.testing.assert_close(clone.log_prob(x, context=context),
                                   flow.log_prob(x, context=context))


def test_embedding_module_and_one_linear_layer():
    torch.manual_seed(0)
    emb = torch.nn.Linear(C, 4).double()
    flow = coupling_flow(1, n_layers=2, hidden_dims=(4,), context_features=C,
                         context_embedding=emb).double()
    assert flow.embedding is emb
    assert flow.log_prob(_randn(3, 1), context=_randn(3, C)).shape == (3,)
    linear = coupling_flow(1, n_layers=1, hidden_dims=(4,), context_features=C,
                           context_embedding=(5,))
    assert linear.embedding.out_features == 5 and len(linear.embedding.net) == 1


# ------------------------------------------------------------------ errors

def test_clear_errors_for_a_missing_or_malformed_context():
    cond = _flow(2, "nsf", None)
    emb = _flow(2, "realnvp", (4,))
    uncond = coupling_flow(2, n_layers=1, hidden_dims=(4,)).double()
    x = _randn(5, 2)
    with pytest.raises(ValueError, match="conditional"):
        cond.log_prob(x)
    with pytest.raises(ValueError, match="conditional"):
        emb.sample(3)
    with pytest.raises(ValueError, match="unconditional"):
        uncond.log_prob(x, context=_randn(5, C))
    with pytest.raises(ValueError, match="unconditional"):
        uncond.sample(3, context=_randn(5, C))
    with pytest.raises(ValueError, match="context_features=2"):
        cond.log_prob(x, context=_randn(5, 3))
    with pytest.raises(ValueError, match="context_features=2"):
        emb.inverse(x, context=_randn(5, 1))
    with pytest.raises(ValueError, match="one row per sample"):
        cond.log_prob(x, context=_randn(4, C))
    with pytest.raises(ValueError, match="one row per sample"):
        cond(_randn(2, 5, 2), context=_randn(3, 5, C))
    with pytest.raises(ValueError, match="n_contexts"):
        cond.sample(3, context=_randn(2, 2, C))
    layer = COUPLINGS["affine"](2, None, C).double()
    with pytest.raises(ValueError, match="conditional"):
        layer(x)
    with pytest.raises(ValueError, match="unconditional"):
        COUPLINGS["affine"](2, None, 0).double()(x, context=_randn(5, C))
    with pytest.raises(ValueError, match="context_features"):
        AffineCoupling(2, (4,), context_features=-1)
    with pytest.raises(ValueError, match="context_embedding needs a context"):
        coupling_flow(2, context_embedding=(4,))
    with pytest.raises(ValueError, match="context_embedding"):
        coupling_flow(2, context_features=C, context_embedding=())
    with pytest.raises(ValueError, match="in_features"):
        coupling_flow(2, context_features=C, context_embedding=torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="outputs 5 features"):
        Flow([AffineCoupling(2, (4,), context_features=3)], StandardNormal(2),
             embedding=torch.nn.Linear(C, 5))
    with pytest.raises(ValueError, match="share one context_features"):
        Flow([AffineCoupling(2, (4,), context_features=3),
              AffineCoupling(2, (4,), context_features=2)], StandardNormal(2))


# ------------------------------------------------------------------ residual conditioner

@pytest.mark.parametrize("K", [None, 3])
def test_residual_conditioner_starts_at_zero_and_the_context_gates_every_block(K):
    torch.manual_seed(0)
    net = ResidualMLP(2 + C, 5, (8, 8), context_features=C, n_components=K).double()
    lead = () if K is None else (K,)
    x, context = _randn(*lead, 6, 2), _randn(*lead, 6, C, seed=1)
    assert torch.equal(net(x, context), torch.zeros(*lead, 6, 5, dtype=torch.float64))
    _perturb(net)
    out = net(x, context)
    assert out.shape == (*lead, 6, 5)
    # Rows are independent, and the context changes the output.
    torch.testing.assert_close(net(x[..., :1, :], context[..., :1, :]), out[..., :1, :])
    assert (net(x, context + 1.0) - out).abs().min() > 1e-8
    # Every block's gate is a function of the context: silencing one gate's weights
    # (gate = sigmoid(bias), the same for every context) changes the output.
    with torch.no_grad():
        net.gates[1].weight.zero_()
    assert (net(x, context) - out).abs().max() > 1e-6
    if K is not None:  # components have their own weights
        assert not torch.allclose(out[0], out[1])


def test_residual_conditioner_without_context_is_a_plain_residual_network():
    torch.manual_seed(0)
    net = _perturb(ResidualMLP(3, 4, (8,)).double())
    x = _randn(5, 3)
    h = net.input(x)
    h = h + net.branch_out[0](torch.relu(net.hidden[0](torch.relu(h))))
    torch.testing.assert_close(net(x), net.output(h))  # a linear read-out of the stream
    assert net.gates is None
    # A network pickled before the linear read-out (no instance flag) keeps its ReLU.
    old = pickle.loads(pickle.dumps(net))
    del old.__dict__["_relu_readout"]
    torch.testing.assert_close(old(x), net.output(torch.relu(h)))


def test_residual_conditioner_errors():
    with pytest.raises(ValueError, match="one width"):
        ResidualMLP(3, 4, (8, 16))
    with pytest.raises(ValueError, match="one width"):
        ResidualMLP(3, 4, ())
    with pytest.raises(ValueError, match="context_features"):
        ResidualMLP(3, 4, (8,), context_features=4)
    with pytest.raises(ValueError, match="exactly when"):
        ResidualMLP(3, 4, (8,), context_features=1)(_randn(2, 2).float())
    with pytest.raises(ValueError, match="exactly when"):
        ResidualMLP(3, 4, (8,))(_randn(2, 3).float(), _randn(2, 1).float())
    with pytest.raises(ValueError, match="conditioner must be"):
        coupling_flow(2, conditioner="resnet")
    with pytest.raises(ValueError, match="conditioner must be"):
        SplineCoupling(2, (8,), conditioner="resnet")
    with pytest.raises(ValueError, match="one width"):
        coupling_flow(2, hidden_dims=(8, 4), conditioner="residual", context_features=1)


def test_residual_couplings_start_as_the_identity():
    x, context = _randn(7, 3).float(), _randn(7, C, seed=1).float()
    for name in ("affine-residual", "spline-residual"):
        layer = COUPLINGS[name](3, None, C)
        y, log_det = layer(x, context=context)
        torch.testing.assert_close(y, x)
        torch.testing.assert_close(log_det, torch.zeros(7))


# ------------------------------------------------------------------ box bijection
def _box_points(n=400, seed=0):
    """Points of (-1, 3) x (0, inf) x (-inf, 2) x R, many near the bounded ends."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=g, dtype=torch.float64) * 0.9998 + 1e-4
    return torch.stack([-1 + 4 * u, torch.rand(n, generator=g, dtype=torch.float64) * 5 + 1e-3,
                        2 - torch.rand(n, generator=g, dtype=torch.float64) * 5 - 1e-3,
                        torch.randn(n, generator=g, dtype=torch.float64)], dim=1)


BOX = (torch.tensor([-1.0, 0.0, -np.inf, -np.inf], dtype=torch.float64),
       torch.tensor([3.0, np.inf, 2.0, np.inf], dtype=torch.float64))


@pytest.mark.parametrize("transform", ["logit", "linear"])
def test_box_bijection_is_invertible_with_the_autograd_log_det(transform):
    from skflows.nn.conditional import BoxBijection

    box = BoxBijection(*BOX, transform=transform)
    y = _box_points()
    t, log_det = box(y)
    assert torch.isfinite(t).all() and torch.isfinite(log_det).all()
    back, inverse_log_det = box.inverse(t)
    assert torch.allclose(back, y, rtol=1e-9, atol=1e-9)
    assert torch.allclose(inverse_log_det, -log_det, atol=1e-8)
    # Elementwise map: the log-det is the sum of the log-derivatives.
    y_req = y.clone().requires_grad_(True)
    derivative = torch.autograd.grad(box(y_req)[0].sum(), y_req)[0]
    assert torch.allclose(log_det, torch.log(derivative).sum(1), atol=1e-8)
    assert box.inside(box.inverse(10 * torch.randn(50, 4, dtype=torch.float64))[0]).all()


def test_linear_box_map_is_the_identity_in_the_middle_and_smooth_at_the_junction():
    from skflows.nn.conditional import BoxBijection

    low, high = torch.tensor([-1.0], dtype=torch.float64), torch.tensor([3.0], dtype=torch.float64)
    box = BoxBijection(low, high, transform="linear")
    # Centre 1, half-width 2: the identity on [1 - 1.8, 1 + 1.8].
    y = torch.linspace(-0.8, 2.8, 101, dtype=torch.float64)[:, None]
    t, log_det = box(y)
    assert torch.equal(t, y) and torch.equal(log_det, torch.zeros(101, dtype=torch.float64))
    # Value and slope are continuous where the tails start; t grows without bound.
    for edge, sign in ((2.8, 1.0), (-0.8, -1.0)):
        eps = 1e-7
        inner = torch.tensor([[edge - sign * eps]], dtype=torch.float64)
        outer = torch.tensor([[edge + sign * eps]], dtype=torch.float64)
        assert abs(float(box(outer)[0] - box(inner)[0])) < 3 * eps
        assert abs(float(box(outer)[1])) < 1e-5  # log-slope 0 on both sides
    assert float(box(torch.tensor([[3.0 - 1e-12]], dtype=torch.float64))[0]) > 5.0
    # The logit map is not the identity anywhere near the centre's scale.
    assert not torch.allclose(BoxBijection(low, high)(y)[0], y, atol=0.1)
    with pytest.raises(ValueError, match="transform"):
        BoxBijection(low, high, transform="tanh")


def _truncated_density(d, members=1, seed=0):
    """A perturbed conditional spline flow on R^d, truncated to (-1, 1)^d."""
    from skflows.nn.conditional import BoxBijection, ConditionalDensity

    torch.manual_seed(seed)
    flow = _perturb(coupling_flow(d, transform="nsf", n_layers=2, hidden_dims=(8,), n_bins=5,
                                  tail_bound=3.0, context_features=C,
                                  n_components=None if members == 1 else members), seed=seed)
    box = BoxBijection(-torch.ones(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64))
    points = torch.special.ndtri(torch.quasirandom.SobolEngine(d, scramble=True, seed=0)
                                 .draw(4096, dtype=torch.float64))
    return ConditionalDensity(flow.double(), torch.zeros(C, dtype=torch.float64),
                              torch.ones(C, dtype=torch.float64), box=box, n_members=members,
                              truncate=True, mass_points=points if d > 1 else None)


@pytest.mark.parametrize("members", [1, 3])
@torch.no_grad()
def test_truncated_density_is_the_flow_divided_by_its_mass_in_the_box(members):
    density = _truncated_density(1, members)
    x = _randn(3, C, seed=1)
    grid = torch.linspace(-1, 1, 40001, dtype=torch.float64)[1:-1, None]
    for row in x:
        flow = density.log_prob(grid, row[None], normalize=False).exp()
        mass = torch.trapezoid(flow, grid[:, 0])
        assert 0.05 < float(mass) < 0.999
        # Exact mass against the trapezoid rule on 40 000 intervals.
        assert float(density.log_mass(row[None])) == pytest.approx(float(mass.log()), abs=1e-4)
        full = density.log_prob(grid, row[None]).exp()
        assert float(torch.trapezoid(full, grid[:, 0])) == pytest.approx(1.0, abs=1e-4)
        levels = density.truncated_levels(torch.tensor([0.0, 1.0], dtype=torch.float64),
                                          row[None])[0]
        assert float(levels[1] - levels[0]) == pytest.approx(float(mass), abs=1e-4)
    draws = density.sample(500, x, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (3, 500, 1) and density.box.inside(draws).all()
    # Outside the box: no density, and no mass lost to it.
    assert torch.isneginf(density.log_prob(torch.tensor([[1.5]], dtype=torch.float64),
                                           x[:1])).all()


@torch.no_grad()
def test_truncated_mass_of_several_targets_comes_from_the_points():
    density = _truncated_density(2)
    x = _randn(2, C, seed=2)
    axis = torch.linspace(-1, 1, 501, dtype=torch.float64)[1:-1]
    g1, g2 = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([g1.reshape(-1), g2.reshape(-1)], dim=1)
    for row in x:
        flow = density.log_prob(grid, row[None], normalize=False).exp().reshape(g1.shape)
        mass = torch.trapezoid(torch.trapezoid(flow, axis, dim=1), axis)
        estimate = float(density.log_mass(row[None]).exp())
        assert estimate == pytest.approx(float(mass), abs=0.01)  # 4096 Sobol points
    with pytest.raises(ValueError, match="one-dimensional"):
        density.truncated_levels(torch.tensor([0.5]), x)


def test_truncation_needs_a_box_and_points_and_old_modules_are_untruncated():
    from skflows.nn.conditional import BoxBijection, ConditionalDensity

    flow = coupling_flow(2, transform="nsf", n_layers=1, hidden_dims=(4,), context_features=C)
    shift, scale = torch.zeros(C), torch.ones(C)
    with pytest.raises(ValueError, match="needs a box"):
        ConditionalDensity(flow, shift, scale, truncate=True)
    box = BoxBijection(-torch.ones(2), torch.ones(2))
    with pytest.raises(ValueError, match="mass_points"):
        ConditionalDensity(flow, shift, scale, box=box, truncate=True)
    module = ConditionalDensity(flow, shift, scale, box=box)
    del module.__dict__["truncate"]  # as a module pickled before truncation existed
    restored = pickle.loads(pickle.dumps(module))
    assert restored.truncate is False
    y, x = torch.zeros(4, 2), torch.zeros(4, C)
    assert torch.equal(restored.log_prob(y, x), restored.log_prob(y, x, normalize=False))
