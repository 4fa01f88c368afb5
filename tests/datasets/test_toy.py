"""Tests for the 2-D toy densities of skflows.datasets."""

import math
import warnings

import numpy as np
import pytest

from skflows.datasets import (
    TOY_DENSITIES,
    annulus_log_prob,
    checkerboard_log_prob,
    make_annulus,
    make_gaussian_ring,
    make_pinwheel,
    make_split_gaussian,
    make_toy,
    make_two_circles,
    make_two_moons,
    pinwheel_log_prob,
    split_gaussian_log_prob,
    toy_entropy,
    toy_log_prob,
    two_uniforms_log_prob,
)

ALL_TOYS = sorted(TOY_DENSITIES)
EXACT_TOYS = sorted(k for k, (_, lp) in TOY_DENSITIES.items() if lp is not None)
ENTROPY_TOYS = ["annulus", "checkerboard", "split_gaussian", "two_uniforms"]
UNIFORM_TOYS = ["annulus", "checkerboard", "two_uniforms"]


def midpoint_grid(x_lo, x_hi, y_lo, y_hi, h):
    """Cell midpoints of a grid of step ``h`` over a box, and the cell area."""
    xs = np.arange(x_lo, x_hi - 1e-12, h) + h / 2
    ys = np.arange(y_lo, y_hi - 1e-12, h) + h / 2
    xx, yy = np.meshgrid(xs, ys, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1), h * h


def integrate(log_prob, half_width, h, **params):
    pts, area = midpoint_grid(-half_width, half_width, -half_width, half_width, h)
    return float(np.exp(log_prob(pts, **params)).sum() * area)


# ---------------------------------------------------------------------------
# registry, shapes, dtypes, determinism
# ---------------------------------------------------------------------------


def test_registry_contents():
    assert set(ALL_TOYS) == {
        "two_moons", "eight_gaussians", "checkerboard", "pinwheel", "two_circles",
        "gaussian_ring", "two_uniforms", "annulus", "split_gaussian",
    }
    assert TOY_DENSITIES["two_moons"][1] is None
    for name, (sampler, log_prob) in TOY_DENSITIES.items():
        assert callable(sampler)
        assert log_prob is None or callable(log_prob)


@pytest.mark.parametrize("name", ALL_TOYS)
def test_sampler_shape_dtype_and_determinism(name):
    sampler, log_prob = TOY_DENSITIES[name]
    X = sampler(257, random_state=3)
    assert X.shape == (257, 2) and X.dtype == np.float64
    assert np.all(np.isfinite(X))
    assert sampler().shape == (1000, 2)
    assert sampler(0, random_state=0).shape == (0, 2)
    np.testing.assert_array_equal(X, sampler(257, random_state=3))
    assert not np.array_equal(X, sampler(257, random_state=4))
    np.testing.assert_array_equal(X, make_toy(name, 257, random_state=3))
    # RandomState instances and Generators are accepted too
    np.testing.assert_array_equal(
        sampler(50, random_state=np.random.RandomState(7)),
        sampler(50, random_state=np.random.RandomState(7)),
    )
    Y = sampler(50, random_state=np.random.default_rng(7))
    np.testing.assert_array_equal(Y, sampler(50, random_state=np.random.default_rng(7)))
    if log_prob is not None:
        lp = log_prob(X)
        assert lp.shape == (257,) and lp.dtype == np.float64
        assert np.all(np.isfinite(lp))
        np.testing.assert_array_equal(lp, toy_log_prob(name, X))
        assert log_prob(np.empty((0, 2))).shape == (0,)


@pytest.mark.parametrize("name", ALL_TOYS)
def test_int_seed_leaves_global_rng_alone(name):
    np.random.seed(12345)
    before = np.random.get_state()[1].copy()
    make_toy(name, 100, random_state=0)
    after = np.random.get_state()[1]
    np.testing.assert_array_equal(before, after)


def test_aliases_and_name_normalisation():
    for alias, key in [("8gaussians", "eight_gaussians"), ("2uniforms", "two_uniforms"),
                       ("moons", "two_moons"), ("Split-Gaussian", "split_gaussian"),
                       ("circles", "two_circles"), ("ring", "gaussian_ring")]:
        np.testing.assert_array_equal(
            make_toy(alias, 20, random_state=1), make_toy(key, 20, random_state=1)
        )
    X = make_toy("2uniforms", 10, random_state=0)
    np.testing.assert_array_equal(toy_log_prob("2uniforms", X), two_uniforms_log_prob(X))


def test_unknown_name_and_missing_density():
    with pytest.raises(ValueError, match="Unknown toy density"):
        make_toy("spirals")
    with pytest.raises(ValueError, match="Unknown toy density"):
        toy_log_prob("spirals", np.zeros((1, 2)))
    with pytest.raises(NotImplementedError, match="two_moons"):
        toy_log_prob("two_moons", np.zeros((1, 2)))
    for name in sorted(set(ALL_TOYS) - set(ENTROPY_TOYS)):
        with pytest.raises(NotImplementedError, match="closed form"):
            toy_entropy(name)


def test_params_are_forwarded_and_validated():
    X = make_toy("annulus", 500, random_state=0, inner_radius=2.0, outer_radius=3.0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.min() >= 2.0 - 1e-12 and r.max() <= 3.0 + 1e-12
    assert toy_entropy("annulus", inner_radius=2.0, outer_radius=3.0) == pytest.approx(
        math.log(5 * math.pi)
    )
    with pytest.raises(ValueError):
        make_annulus(10, inner_radius=2.0, outer_radius=1.0)
    with pytest.raises(ValueError):
        make_toy("eight_gaussians", 10, std=0.0)
    with pytest.raises(ValueError):
        make_toy("checkerboard", 10, n_cells=0)
    with pytest.raises(ValueError):
        make_toy("two_circles", 10, radii=(-1.0, 1.0))
    with pytest.raises(ValueError):
        make_toy("pinwheel", 10, rate=-1.0)
    with pytest.raises(ValueError):
        make_toy("two_moons", -1)
    with pytest.raises(ValueError):
        make_toy("two_moons", 2.5)
    with pytest.raises(TypeError):
        make_toy("two_uniforms", 10, shift=1.0)
    with pytest.raises(ValueError, match="shape"):
        checkerboard_log_prob(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        annulus_log_prob(np.zeros(2))


def test_closed_form_entropies():
    assert toy_entropy("two_uniforms") == pytest.approx(math.log(4.0), abs=1e-15)
    assert toy_entropy("2uniforms") == pytest.approx(math.log(4.0), abs=1e-15)
    assert toy_entropy("annulus") == pytest.approx(math.log(3 * math.pi), abs=1e-15)
    assert toy_entropy("split_gaussian") == pytest.approx(
        math.log(2 * math.pi * math.e), abs=1e-15
    )
    assert toy_entropy("split_gaussian", shift=5.0) == toy_entropy("split_gaussian")
    assert toy_entropy("checkerboard") == pytest.approx(math.log(32.0), abs=1e-15)


# ---------------------------------------------------------------------------
# exact densities integrate to one
# ---------------------------------------------------------------------------

# (name, params, half-width of the box covering the support, grid step, tol)
NORMALISATION_CASES = [
    ("eight_gaussians", {}, 5.0, 0.02, 1e-6),
    ("eight_gaussians", {"radius": 1.0, "std": 0.5}, 4.5, 0.02, 1e-6),
    ("checkerboard", {}, 4.5, 0.05, 1e-9),
    ("checkerboard", {"n_cells": 3, "cell_size": 1.5}, 2.5, 0.01, 1e-9),
    ("pinwheel", {}, 5.5, 0.05, 1e-5),
    # large swirl: folds (several preimages, integrable caustics) in the bulk
    ("pinwheel", {"rate": 1.0, "n_arms": 3}, 5.5, 0.05, 1e-2),
    ("two_circles", {}, 4.5, 0.02, 1e-6),
    # radius 0: half-normal radius, exercises the truncation at r > 0
    ("two_circles", {"radii": (0.0, 1.0), "std": 0.5}, 3.5, 0.01, 5e-3),
    ("gaussian_ring", {}, 3.5, 0.02, 1e-6),
    ("gaussian_ring", {"radius": 0.3, "std": 0.5}, 3.0, 0.01, 5e-3),
    ("two_uniforms", {}, 2.5, 0.01, 1e-9),
    ("annulus", {}, 2.5, 0.005, 1e-3),
    ("annulus", {"inner_radius": 0.5, "outer_radius": 3.0}, 3.5, 0.01, 1e-3),
    ("split_gaussian", {}, 9.0, 0.03, 1e-5),
    ("split_gaussian", {"shift": 0.5}, 7.0, 0.03, 1e-5),
]


@pytest.mark.parametrize(
    "name, params, half_width, h, tol", NORMALISATION_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(NORMALISATION_CASES)],
)
def test_log_prob_integrates_to_one(name, params, half_width, h, tol):
    _, log_prob = TOY_DENSITIES[name]
    assert abs(integrate(log_prob, half_width, h, **params) - 1.0) < tol


def test_every_exact_toy_has_a_normalisation_case():
    assert {c[0] for c in NORMALISATION_CASES} == set(EXACT_TOYS)


# ---------------------------------------------------------------------------
# Monte Carlo: samples follow the density
# ---------------------------------------------------------------------------

N_MC = 20000


@pytest.mark.parametrize("name", ENTROPY_TOYS)
def test_mean_log_prob_matches_minus_entropy(name):
    X = make_toy(name, N_MC, random_state=0)
    lp = toy_log_prob(name, X)
    se = lp.std(ddof=1) / math.sqrt(N_MC)
    assert abs(lp.mean() + toy_entropy(name)) <= 5 * se + 1e-12


def _two_moons_density(pts, noise=0.1, n_t=300):
    """Reference density of make_two_moons by quadrature over the arc angle."""
    t = (np.arange(n_t) + 0.5) * math.pi / n_t
    sd = 2.0 * noise
    dens = np.zeros(len(pts))
    for mx, my in [(np.cos(t), np.sin(t)), (1.0 - np.cos(t), 0.5 - np.sin(t))]:
        cx, cy = 2.0 * mx - 1.0, 2.0 * my - 0.2
        d2 = (pts[:, 0, None] - cx) ** 2 + (pts[:, 1, None] - cy) ** 2
        dens += 0.5 * np.exp(-0.5 * d2 / sd**2).mean(axis=1) / (2 * math.pi * sd**2)
    return dens


BOXES = [
    (0.0, 2.0, 0.0, 2.0),
    (-2.5, 0.5, -1.0, 1.0),
    (-1.0, 1.0, -3.0, -0.5),
    (1.2, 3.7, -0.5, 3.0),
    (-3.3, -0.7, 0.4, 2.9),
]


@pytest.mark.parametrize("name", ALL_TOYS)
def test_sample_histogram_matches_density(name):
    _, log_prob = TOY_DENSITIES[name]
    X = make_toy(name, N_MC, random_state=1)
    h = {"two_moons": 0.04, "pinwheel": 0.025}.get(name, 0.01)
    for x_lo, x_hi, y_lo, y_hi in BOXES:
        pts, area = midpoint_grid(x_lo, x_hi, y_lo, y_hi, h)
        dens = _two_moons_density(pts) if log_prob is None else np.exp(log_prob(pts))
        expected = dens.sum() * area
        inside = (X[:, 0] >= x_lo) & (X[:, 0] < x_hi) & (X[:, 1] >= y_lo) & (X[:, 1] < y_hi)
        observed = inside.mean()
        se = math.sqrt(max(expected * (1 - expected), 1e-4) / N_MC)
        assert abs(observed - expected) <= 5 * se + 3e-3, (name, (x_lo, x_hi, y_lo, y_hi))


def test_pinwheel_histogram_with_folds():
    # rate=1: most points have several preimages; checks the preimage sum
    params = {"rate": 1.0, "n_arms": 3}
    X = make_pinwheel(N_MC, random_state=5, **params)
    for x_lo, x_hi, y_lo, y_hi in BOXES:
        pts, area = midpoint_grid(x_lo, x_hi, y_lo, y_hi, 0.025)
        expected = np.exp(pinwheel_log_prob(pts, **params)).sum() * area
        inside = (X[:, 0] >= x_lo) & (X[:, 0] < x_hi) & (X[:, 1] >= y_lo) & (X[:, 1] < y_hi)
        se = math.sqrt(max(expected * (1 - expected), 1e-4) / N_MC)
        assert abs(inside.mean() - expected) <= 5 * se + 3e-3


def test_pinwheel_density_bounds_the_known_preimage():
    # p(x) >= p_z(z) / |g'(alpha)| / (n_arms scale^2) for the z that made x
    rng = np.random.RandomState(0)
    K, rate, scale, sr, st = 3, 1.0, 2.0, 0.3, 0.1
    n = 2000
    arm = rng.randint(K, size=n)
    a = 1.0 + sr * rng.standard_normal(n)
    b = st * rng.standard_normal(n)
    theta = 2 * math.pi * arm / K + rate * np.exp(a)
    X = scale * np.stack([a * np.cos(theta) - b * np.sin(theta),
                          a * np.sin(theta) + b * np.cos(theta)], axis=1)
    rho, alpha = np.hypot(a, b), np.arctan2(b, a)
    jac = np.abs(1 - rate * rho * np.sin(alpha) * np.exp(rho * np.cos(alpha)))
    lower = (-0.5 * ((a - 1) / sr) ** 2 - 0.5 * (b / st) ** 2
             - math.log(2 * math.pi * sr * st) - np.log(jac) - math.log(K * scale**2))
    lp = pinwheel_log_prob(X, n_arms=K, rate=rate, scale=scale)
    assert np.all(lp >= lower - 1e-9)
    # and several points really have more than one preimage
    assert np.mean(lp > lower + 1e-3) > 0.02


def test_two_moons_reference_density_is_normalised():
    # guards the quadrature used as the two-moons reference above
    pts, area = midpoint_grid(-4.5, 4.5, -3.0, 3.5, 0.08)
    assert abs(_two_moons_density(pts).sum() * area - 1.0) < 1e-3


def test_two_moons_noise_parameter():
    X = make_two_moons(5000, random_state=0, noise=0.0)
    # noiseless points lie exactly on the two (scaled) unit arcs
    upper = (X + np.array([1.0, 0.2])) / 2.0
    lower = upper - np.array([1.0, 0.5])
    on_arc = np.isclose(np.hypot(*upper.T), 1.0) | np.isclose(np.hypot(*lower.T), 1.0)
    assert on_arc.all()


# ---------------------------------------------------------------------------
# supports, boundaries and special values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", UNIFORM_TOYS)
def test_uniform_toys_are_minus_inf_outside_the_support(name):
    outside = np.array([
        [10.0, 10.0], [-50.0, 0.0], [0.0, 0.0] if name != "checkerboard" else [0.5, -0.5],
        [np.inf, 0.0], [-np.inf, -np.inf],
    ])
    if name == "checkerboard":
        outside = np.vstack([outside, [[-3.0, -1.0], [1.0, -1.0], [4.0, 0.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lp = toy_log_prob(name, outside)
    assert np.all(lp == -np.inf)
    assert not np.any(np.isnan(lp))
    inside = make_toy(name, 1000, random_state=2)
    lp_in = toy_log_prob(name, inside)
    np.testing.assert_allclose(lp_in, -toy_entropy(name))


def test_nan_input_gives_nan():
    pts = np.array([[np.nan, 0.0], [0.5, 0.5]])
    for name in EXACT_TOYS:
        lp = toy_log_prob(name, pts)
        assert np.isnan(lp[0]) and not np.isnan(lp[1]), name


def test_checkerboard_layout_matches_ffjord_convention():
    # lower-left square [-4, -2)^2 is filled, its right neighbour is empty
    lp = checkerboard_log_prob(np.array([[-3.0, -3.0], [-1.0, -3.0], [-1.0, -1.0],
                                         [3.9, 3.9], [3.9, 0.1]]))
    np.testing.assert_array_equal(lp, [-math.log(32)] + [-np.inf] + [-math.log(32)] * 2
                                  + [-np.inf])


def test_two_uniforms_support():
    X = make_toy("two_uniforms", 4000, random_state=0)
    assert np.all((np.abs(X[:, 0]) >= 1) & (np.abs(X[:, 0]) <= 2))
    assert np.all(np.abs(X[:, 1]) <= 1)
    assert 0.45 < np.mean(X[:, 0] > 0) < 0.55


def test_split_gaussian_boundary_and_formula():
    X = np.array([[0.0, 2.0], [-1e-300, -2.0], [1.0, -1.0]])
    lp = split_gaussian_log_prob(X)
    c = -math.log(2 * math.pi)
    np.testing.assert_allclose(lp, [c, c, c - 0.5 - 4.5])
    S = make_split_gaussian(2000, random_state=0, shift=3.0)
    assert abs((S[:, 1] - 3.0)[S[:, 0] >= 0].mean()) < 0.2
    assert abs((S[:, 1] + 3.0)[S[:, 0] < 0].mean()) < 0.2


def test_radial_toys_truncation():
    X = make_gaussian_ring(20000, random_state=0, radius=0.0, std=1.0)
    r = np.hypot(X[:, 0], X[:, 1])
    # half-normal radius: E r = sqrt(2/pi)
    assert abs(r.mean() - math.sqrt(2 / math.pi)) < 5 * r.std() / math.sqrt(r.size)
    lp = toy_log_prob("gaussian_ring", np.array([[0.0, 0.0], [1.0, 0.0]]), radius=0.0,
                      std=1.0)
    assert lp[0] == np.inf
    # half-normal density 2 phi(1) over circumference 2 pi
    expected = math.log(2 * math.exp(-0.5) / math.sqrt(2 * math.pi) / (2 * math.pi))
    assert lp[1] == pytest.approx(expected, rel=1e-12)


def test_pinwheel_without_swirl_is_a_gaussian_mixture():
    X = make_pinwheel(500, random_state=0, rate=0.0)
    K, scale = 5, 2.0
    z = X / scale
    comps = []
    for k in range(K):
        a = -2 * math.pi * k / K
        za = z[:, 0] * math.cos(a) - z[:, 1] * math.sin(a)
        zb = z[:, 0] * math.sin(a) + z[:, 1] * math.cos(a)
        comps.append(-0.5 * ((za - 1) / 0.3) ** 2 - 0.5 * (zb / 0.1) ** 2
                     - math.log(2 * math.pi * 0.3 * 0.1))
    comps = np.array(comps)
    ref = np.log(np.exp(comps).mean(axis=0)) - 2 * math.log(scale)
    np.testing.assert_allclose(pinwheel_log_prob(X, rate=0.0), ref, rtol=1e-10, atol=1e-10)


def test_pinwheel_special_points():
    lp = pinwheel_log_prob(np.array([[0.0, 0.0], [12.0, 5.0], [np.inf, 0.0]]))
    assert np.isfinite(lp[:2]).all() and lp[2] == -np.inf
    with pytest.raises(ValueError, match="too far"):
        pinwheel_log_prob(np.array([[40.0, 0.0]]))


def test_pinwheel_and_two_circles_return_labels():
    X, arm = make_pinwheel(2000, random_state=0, return_labels=True)
    np.testing.assert_array_equal(X, make_pinwheel(2000, random_state=0))
    assert arm.dtype == np.int64 and set(np.unique(arm)) == set(range(5))
    # Arm k starts (a = 1, b = 0, before the swirl) at angle 2 pi k / 5 + rate * e.
    angle = np.arctan2(X[:, 1], X[:, 0]) - 0.25 * np.exp(np.hypot(X[:, 0], X[:, 1]) / 2)
    centre = np.angle(np.exp(1j * angle)[:, None] / np.exp(2j * np.pi * np.arange(5) / 5))
    assert np.mean(np.abs(centre).argmin(axis=1) == arm) > 0.95
    X, ring = make_two_circles(2000, random_state=0, return_labels=True)
    np.testing.assert_array_equal(X, make_two_circles(2000, random_state=0))
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.mean((r > 2.25) == (ring == 1)) > 0.99
