"""Data sets for density estimation: 2-D toy densities and small real data.

Toy densities (:mod:`skflows.datasets._toy`) come as samplers
``make_<name>`` and, where the density is known exactly, ``<name>_log_prob``;
:data:`TOY_DENSITIES`, :func:`make_toy`, :func:`toy_log_prob` and
:func:`toy_entropy` dispatch by name. Real data: :func:`load_optdigits` and
:func:`load_pendigits` (bundled UCI files, no download), :func:`load_penguins` and
:func:`load_crabs` (small morphometric clustering benchmarks), and
:func:`dequantize` for integer-valued data.
"""

from ._real import dequantize, load_crabs, load_optdigits, load_pendigits, load_penguins
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
    "load_optdigits",
    "load_pendigits",
    "load_penguins",
    "load_crabs",
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
