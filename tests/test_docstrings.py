"""Every public class and function has a complete numpydoc docstring (the API reference).

Walks ``__all__`` of the public modules and parses each docstring with numpydoc:

* a function needs Parameters (when it takes arguments), Returns, Raises and References;
* a class needs Parameters (when its constructor takes arguments) and References;
* each public method that skflows defines (on the class or on a skflows base class, not
  inherited from torch or scikit-learn; ``extra_repr`` excepted) needs Parameters (when
  it takes arguments), Returns and Raises.

A failure lists every incomplete object with the sections it lacks.
"""

from __future__ import annotations

import importlib
import inspect
import warnings

import pytest

docscrape = pytest.importorskip(
    "numpydoc.docscrape",
    reason="numpydoc parses the docstrings (it is part of the docs extra)")

MODULES = ["skflows", "skflows.metrics", "skflows.sampling", "skflows.plotting",
           "skflows.nn", "skflows.nn.conditional", "skflows.datasets", "skflows.regression",
           "skflows.inference", "skflows.model_selection", "skflows.preprocessing",
           "skflows.ood"]
SKIPPED_METHODS = {"extra_repr"}  # torch's repr hook: a string, nothing to raise


def _sections(obj) -> docscrape.NumpyDocString:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpydoc warns on sections it does not know
        return docscrape.NumpyDocString(inspect.getdoc(obj) or "")


def _takes_arguments(func, drop_first: bool) -> bool:
    params = list(inspect.signature(func).parameters.values())
    return len(params) > (1 if drop_first else 0)


def _is_ours(obj) -> bool:
    return (getattr(obj, "__module__", None) or "").split(".")[0] == "skflows"


def _constructor(cls):
    """The ``__init__`` that a class uses, or None when it comes from outside skflows."""
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            return vars(klass)["__init__"] if _is_ours(klass) else None
    return None


def _own_methods(cls):
    """``(name, function, is_static)`` for the public methods skflows defines for ``cls``.

    The class and its skflows base classes are searched in MRO order, so an override
    hides the method it overrides, as attribute lookup does.
    """
    seen = set()
    for klass in cls.__mro__:
        for name, attr in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if name.startswith("_") or name in SKIPPED_METHODS or not _is_ours(klass):
                continue
            is_static = isinstance(attr, staticmethod)
            func = attr.__func__ if isinstance(attr, (classmethod, staticmethod)) else attr
            if inspect.isfunction(func):
                yield name, func, is_static


def function_gaps(func, *, method: bool = False, is_static: bool = False) -> list[str]:
    """Sections missing from the docstring of a function (or method)."""
    doc = _sections(func)
    missing = []
    if _takes_arguments(func, drop_first=method and not is_static) and not doc["Parameters"]:
        missing.append("Parameters")
    if not doc["Returns"] and not doc["Yields"]:
        missing.append("Returns")
    if not doc["Raises"]:
        missing.append("Raises")
    if not method and not doc["References"]:
        missing.append("References")
    return missing


def class_gaps(cls) -> dict[str, list[str]]:
    """``{name: missing sections}`` for a class and its public skflows methods."""
    gaps = {}
    doc = _sections(cls)
    missing = []
    init = _constructor(cls)
    if init is not None and _takes_arguments(init, drop_first=True) and not doc["Parameters"]:
        missing.append("Parameters")
    if not doc["References"]:
        missing.append("References")
    if missing:
        gaps[cls.__name__] = missing
    for name, func, is_static in _own_methods(cls):
        missing = function_gaps(func, method=True, is_static=is_static)
        if missing:
            gaps[f"{cls.__name__}.{name}"] = missing
    return gaps


def module_gaps(module_name: str) -> dict[str, list[str]]:
    module = importlib.import_module(module_name)
    gaps = {}
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            gaps.update({f"{module_name}.{k}": v for k, v in class_gaps(obj).items()})
        elif callable(obj):
            missing = function_gaps(obj)
            if missing:
                gaps[f"{module_name}.{name}"] = missing
    return gaps


@pytest.mark.parametrize("module_name", MODULES)
def test_public_docstrings_are_complete(module_name):
    module = importlib.import_module(module_name)
    assert [n for n in module.__all__ if callable(getattr(module, n))], "nothing public"
    gaps = module_gaps(module_name)
    report = "\n".join(f"  {name}: missing {missing}" for name, missing in sorted(gaps.items()))
    assert not gaps, f"{len(gaps)} incomplete docstring(s) in {module_name}:\n{report}"


# --------------------------------------------------------------- the checker itself

def _undocumented(x):
    """Only a summary."""
    return x


def _complete(x):
    """Complete docstring.

    Parameters
    ----------
    x : int
        Input.

    Returns
    -------
    int
        ``x``.

    Raises
    ------
    ValueError
        Never, in this test helper.

    References
    ----------
    .. [1] A reference.
    """
    return x


class _Layer:
    """A class without References.

    Parameters
    ----------
    width : int
        Width.
    """

    __module__ = "skflows.fake"

    def __init__(self, width):
        self.width = width

    def forward(self, x):
        """Forward pass without sections."""
        return x

    def extra_repr(self):
        return ""

    @classmethod
    def build(cls):
        """Construct.

        Returns
        -------
        _Layer
            The layer.
        """
        return cls(1)



def test_checker_reports_missing_sections():
    assert function_gaps(_undocumented) == ["Parameters", "Returns", "Raises", "References"]
    assert function_gaps(_complete) == []
    # A method needs no References, and a method without arguments no Parameters.
    assert function_gaps(_complete, method=True) == []
    gaps = class_gaps(_Layer)
    assert gaps == {"_Layer": ["References"],
                    "_Layer.forward": ["Parameters", "Returns", "Raises"],
                    "_Layer.build": ["Raises"]}


# ------------------------------------------- documented Raises that the code honours
# The argument checks added with the Raises sections: without them these inputs either
# failed deep inside torch/numpy with an unrelated message or, worse, broadcast silently
# (a 3-feature batch through a 4-feature coupling layer returned 4 features).

def _raising_calls():
    import numpy as np
    import torch

    from skflows import datasets, metrics, nn, sampling

    x3, x4 = torch.randn(5, 3), torch.randn(5, 4)
    flow = nn.coupling_flow(4, n_layers=1, hidden_dims=(4,))
    random_flow = nn.lwta_flow(4, n_layers=1, hidden_dims=(4,))
    outer = nn.coupling_flow(4, n_layers=1, hidden_dims=(4,), transform="realnvp")
    manifold = nn.ManifoldFlowModule(outer, nn.coupling_flow(2, n_layers=1, hidden_dims=(4,)), 2)
    zeros = torch.zeros
    return {
        "component_shape": lambda: nn.component_shape(0, 3),
        "AffineCoupling.forward": lambda: nn.AffineCoupling(4, (4,))(x3),
        "SplineCoupling.inverse": lambda: nn.SplineCoupling(4, (4,)).inverse(x3),
        "ActNorm.forward": lambda: nn.ActNorm(4)(torch.randn(5, 1)),
        "FixedAffine.forward": lambda: nn.FixedAffine(zeros(4), torch.ones(4))(x3[:, :1]),
        "Permutation.forward": lambda: nn.Permutation.reverse(4)(torch.randn(5, 5)),
        "Permutation.random": lambda: nn.Permutation.random(0),
        "LULinear.inverse": lambda: nn.LULinear(4).inverse(x3),
        "FixedLinear": lambda: nn.FixedLinear(zeros(3, 2)),
        "StandardNormal.log_prob": lambda: nn.StandardNormal(4).log_prob(x3),
        "Flow.forward": lambda: flow(x3),
        "Flow.sample": lambda: flow.sample(-1),
        "coupling_flow": lambda: nn.coupling_flow(4, transform="glow", n_layers=0),
        "rational_quadratic_spline": lambda: nn.rational_quadratic_spline(
            x3, zeros(5, 3, 4), zeros(5, 3, 4), zeros(5, 3, 4), 3.0),
        "StochasticFlow.forward": lambda: random_flow(x4, uniforms=[]),
        "StochasticFlow.log_prob_iw": lambda: random_flow.log_prob_iw(x4, 0),
        "StochasticSplineCoupling.forward": lambda: nn.StochasticSplineCoupling(4, (4,))(x3),
        "row_keys": lambda: nn.row_keys(x3, seed=0.5),
        "keyed_uniform": lambda: nn.keyed_uniform(nn.row_keys(x3).double(), torch.arange(2), (2,)),
        "chart_jacobian": lambda: nn.chart_jacobian(lambda h: h, torch.randn(5)),
        "gram_log_det": lambda: nn.gram_log_det(torch.randn(5, 2, 3)),
        "align_chart": lambda: nn.align_chart(outer, torch.eye(3)),
        "ManifoldFlowModule": lambda: nn.ManifoldFlowModule(outer, flow, 2),
        "ManifoldFlowModule.decode_chart": lambda: manifold.decode_chart(x3),
        "ManifoldFlowModule.noisy_log_prob": lambda: manifold.noisy_log_prob(x4, 0.0),
        "silverman_gamma": lambda: metrics.silverman_gamma(0),
        "chi_quantile": lambda: sampling.chi_quantile(1.5, 2),
        "warp_triangle": lambda: datasets.warp_triangle(np.zeros((2, 2)), bend="x"),
        "load_penguins": lambda: datasets.load_penguins(return_X_y="yes"),
    }


_CASES = ["component_shape", "AffineCoupling.forward", "SplineCoupling.inverse",
          "ActNorm.forward", "FixedAffine.forward", "Permutation.forward",
          "Permutation.random", "LULinear.inverse", "FixedLinear", "StandardNormal.log_prob",
          "Flow.forward", "Flow.sample", "coupling_flow", "rational_quadratic_spline",
          "StochasticFlow.forward", "StochasticFlow.log_prob_iw",
          "StochasticSplineCoupling.forward", "row_keys", "keyed_uniform", "chart_jacobian",
          "gram_log_det", "align_chart", "ManifoldFlowModule",
          "ManifoldFlowModule.decode_chart", "ManifoldFlowModule.noisy_log_prob",
          "silverman_gamma", "chi_quantile", "warp_triangle", "load_penguins"]


def test_every_case_is_listed():
    assert sorted(_CASES) == sorted(_raising_calls())


@pytest.mark.parametrize("name", _CASES)
def test_documented_value_errors_are_raised(name):
    with pytest.raises(ValueError):
        _raising_calls()[name]()
