"""Property tests (hypothesis) of whole coupling flows over random shapes, depths, seeds
and input scales: invertibility, log|det J| against autograd, finite log-densities far
outside the spline's tail bound, and the component axis."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skflows.nn import coupling_flow, lwta_flow

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _perturbed_flow(d, transform, n_layers, permutation, K, seed):
    torch.manual_seed(seed)  # layer initialisation draws from the global generator
    g = torch.Generator().manual_seed(seed)
    flow = coupling_flow(d, transform=transform, n_layers=n_layers, hidden_dims=(8,),
                         n_bins=4, tail_bound=3.0, permutation=permutation,
                         n_components=K, generator=g).double()
    with torch.no_grad():  # leave the identity initialisation
        for p in flow.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return flow.eval()


flows = st.fixed_dictionaries({
    "d": st.integers(1, 6),
    "transform": st.sampled_from(["nsf", "realnvp"]),
    "n_layers": st.integers(1, 3),
    "permutation": st.sampled_from(["random", "reverse", "lu"]),
    "K": st.sampled_from([None, 2]),
    "seed": st.integers(0, 2**16),
})


@SETTINGS
@given(spec=flows, n=st.integers(1, 20), scale=st.sampled_from([0.1, 1.0, 4.0, 30.0]))
def test_flow_is_invertible_with_opposite_log_dets(spec, n, scale):
    flow = _perturbed_flow(**spec)
    g = torch.Generator().manual_seed(spec["seed"] + 1)
    shape = (n, spec["d"]) if spec["K"] is None else (spec["K"], n, spec["d"])
    x = scale * torch.randn(shape, generator=g, dtype=torch.float64)
    with torch.no_grad():
        z, log_det = flow.forward(x)
        x_back, log_det_inv = flow.inverse(z)
    assert z.shape == x.shape and log_det.shape == x.shape[:-1]
    assert torch.isfinite(z).all() and torch.isfinite(log_det).all()
    torch.testing.assert_close(x_back, x, atol=1e-6 * max(1.0, scale), rtol=1e-6)
    torch.testing.assert_close(log_det_inv, -log_det, atol=1e-6, rtol=1e-6)


@SETTINGS
@given(spec=flows.filter(lambda s: s["K"] is None),
       scale=st.sampled_from([0.5, 2.0, 10.0]))
def test_log_det_equals_log_abs_det_of_autograd_jacobian(spec, scale):
    flow = _perturbed_flow(**spec)
    g = torch.Generator().manual_seed(spec["seed"] + 2)
    x = scale * torch.randn(3, spec["d"], generator=g, dtype=torch.float64)
    _, log_det = flow.forward(x)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda r: flow.forward(r[None])[0][0], x[i])
        torch.testing.assert_close(log_det[i], torch.linalg.slogdet(jac)[1],
                                   atol=1e-8, rtol=1e-8)


@SETTINGS
@given(spec=flows, far=st.sampled_from([1e2, 1e4, 1e6]))
def test_log_prob_stays_finite_far_outside_the_tail_bound(spec, far):
    flow = _perturbed_flow(**spec)
    g = torch.Generator().manual_seed(spec["seed"] + 3)
    shape = (8, spec["d"]) if spec["K"] is None else (spec["K"], 8, spec["d"])
    x = far * torch.randn(shape, generator=g, dtype=torch.float64)
    with torch.no_grad():
        log_prob = flow.log_prob(x)
    assert torch.isfinite(log_prob).all()
    # And it is a density far out: linear tails map to a Gaussian tail, so moving a
    # point 100x further out must lower its log-density by a lot.
    with torch.no_grad():
        further = flow.log_prob(100 * x)
    assert torch.isfinite(further).all()
    far_out = x.abs().amax(-1) > 50
    assert (further[far_out] < log_prob[far_out]).all()


@SETTINGS
@given(d=st.integers(2, 5), seed=st.integers(0, 2**16),
       far=st.sampled_from([1.0, 1e3, 1e5]))
def test_random_lwta_flow_log_prob_is_finite(d, seed, far):
    torch.manual_seed(seed)
    flow = lwta_flow(d, n_layers=2, hidden_dims=(8,), n_competitors=2, n_bins=4,
                     tail_bound=3.0).double().eval()
    x = far * torch.randn(6, d, dtype=torch.float64)
    with torch.no_grad():
        assert torch.isfinite(flow.log_prob_iw(x, n_samples=4)).all()

