"""Data sets for density estimation: 2-D toy densities and small real data.

Toy densities (:mod:`skflows.datasets._toy`) come as samplers
``make_<name>`` and, where the density is known exactly, ``<name>_log_prob``;
:data:`TOY_DENSITIES`, :func:`make_toy`, :func:`toy_log_prob` and
:func:`toy_entropy` dispatch by name. Real data: :func:`load_optdigits` and
:func:`load_pendigits` (bundled UCI files, no download), :func:`load_penguins` and
:func:`load_crabs` (small morphometric clustering benchmarks), :func:`load_mnist5k`
(5000 MNIST training digits), :func:`load_anomaly`
(twelve UCI anomaly-detection benchmarks, :data:`ANOMALY_DATASETS`), and
:func:`dequantize` for integer-valued data. Data with known archetypes
(:mod:`skflows.datasets._simplex`): :func:`make_simplex` and the curved
:func:`make_warped_triangle`. Data on known manifolds
(:mod:`skflows.datasets._manifold`): :func:`make_gaussian_on_circle`,
:func:`make_gaussian_on_sphere` and :func:`make_polynomial_surface`, with the true
distance to the manifold.
SBI benchmark tasks (:mod:`skflows.datasets._sbi`): :func:`make_sbi_task`, :func:`simulate_sbi`.
"""

from ._real import load_coil20
from ._regression import load_concrete, load_diamonds, load_faithful
from ._real import (ANOMALY_DATASETS, dequantize, load_anomaly, load_crabs, load_mnist5k,
                    load_optdigits, load_pendigits, load_penguins)
from ._manifold import (
    circle_distance,
    gaussian_on_circle_log_prob,
    make_gaussian_on_circle,
    make_gaussian_on_sphere,
    make_polynomial_surface,
    polynomial_surface_distance,
    polynomial_surface_log_prob,
    sphere_distance,
)
from ._sbi import SBI_TASKS, SBITask, make_sbi_task, simulate_sbi
from ._simplex import (make_simplex, make_warped_triangle, regular_simplex, warp_triangle,
                       warped_triangle_barycentric, warped_triangle_boundary)
from ._toy import (
    TOY_DENSITIES,
    annulus_log_prob,
    checkerboard_log_prob,
    eight_gaussians_log_prob,
    gaussian_ring_log_prob,
    make_annulus,
    make_checkerboard,
    make_eight_gaussians,
    make_gaussian_ring,
    make_pinwheel,
    make_split_gaussian,
    make_toy,
    make_two_circles,
    make_two_moons,
    make_two_uniforms,
    pinwheel_log_prob,
    split_gaussian_log_prob,
    toy_entropy,
    toy_log_prob,
    two_circles_log_prob,
    two_uniforms_log_prob,
)

__all__ = [
    "load_concrete", "load_diamonds", "load_faithful",
    "SBI_TASKS",
    "SBITask",
    "make_sbi_task",
    "simulate_sbi",
    "load_coil20",
    "make_gaussian_on_circle",
    "gaussian_on_circle_log_prob",
    "circle_distance",
    "make_gaussian_on_sphere",
    "sphere_distance",
    "make_polynomial_surface",
    "polynomial_surface_log_prob",
    "polynomial_surface_distance",
    "make_simplex",
    "make_warped_triangle",
    "warp_triangle",
    "warped_triangle_barycentric",
    "warped_triangle_boundary",
    "regular_simplex",
    "load_mnist5k",
    "load_optdigits",
    "load_pendigits",
    "load_penguins",
    "load_crabs",
    "load_anomaly",
    "ANOMALY_DATASETS",
    "dequantize",
    "TOY_DENSITIES",
    "make_toy",
    "toy_log_prob",
    "toy_entropy",
    "make_two_moons",
    "make_eight_gaussians",
    "eight_gaussians_log_prob",
    "make_checkerboard",
    "checkerboard_log_prob",
    "make_pinwheel",
    "pinwheel_log_prob",
    "make_two_circles",
    "two_circles_log_prob",
    "make_gaussian_ring",
    "gaussian_ring_log_prob",
    "make_two_uniforms",
    "two_uniforms_log_prob",
    "make_annulus",
    "annulus_log_prob",
    "make_split_gaussian",
    "split_gaussian_log_prob",
]
