"""Torch building blocks of skflows: invertible transforms, conditioners and flows.

Pure torch: nothing here knows about numpy arrays or estimators. Every transform returns
``(output, log_det_jacobian)`` and accepts an optional leading component axis. Coupling
layers and flows may be conditional (``context_features > 0``): they then take a keyword
``context`` and model ``p(x | context)``; every other transform accepts and ignores it.
"""

from .base import Transform, component_shape
from .conditioners import MLP, ResidualMLP
from .coupling import AffineCoupling, SplineCoupling
from .flows import Flow, StandardNormal, coupling_flow
from .linear import BatchedLinear
from .linear_flows import ActNorm, FixedAffine, LULinear, Permutation
from .splines import rational_quadratic_spline

__all__ = [
    "Transform", "component_shape", "MLP", "ResidualMLP", "BatchedLinear", "AffineCoupling",
    "SplineCoupling", "Flow", "StandardNormal", "coupling_flow", "ActNorm", "FixedAffine",
    "LULinear", "Permutation", "rational_quadratic_spline",
]

from .lwta import LWTA, StochasticFlow, StochasticSplineCoupling, keyed_uniform, lwta_flow, row_keys  # noqa: E402

__all__ += ["LWTA", "StochasticFlow", "StochasticSplineCoupling", "keyed_uniform",
            "lwta_flow", "row_keys"]

from .autoencoder import Autoencoder, feedforward_net  # noqa: E402

__all__ += ["Autoencoder", "feedforward_net"]

from .manifold import (FixedLinear, ManifoldFlowModule, align_chart, chart_jacobian,  # noqa: E402
                       gram_log_det)

__all__ += ["FixedLinear", "ManifoldFlowModule", "align_chart", "chart_jacobian",
            "gram_log_det"]

from .discriminator import Discriminator  # noqa: E402

__all__ += ["Discriminator"]
