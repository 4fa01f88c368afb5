"""Bundled regression data for conditional density estimation: concrete strength,
diamond prices and Old Faithful's eruptions (sources and licences in
``data/README.md``)."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from ._real import _check_return_X_y, _load_npz

__all__ = ["load_concrete", "load_diamonds", "load_faithful"]


def _bunch(X, y, feature_names, target_name, descr, return_X_y):
    if _check_return_X_y(return_X_y):
        return X, y
    return Bunch(data=X, target=y, feature_names=[str(n) for n in feature_names],
                 target_name=str(target_name), DESCR=descr)


def load_concrete(*, return_X_y=False):
    """Load the concrete compressive-strength data (1030 mixtures, 8 features).

    The standard probabilistic-regression benchmark of the UCI protocol (20 random
    90/10 splits; Hernandez-Lobato & Adams 2015; NGBoost, Duan et al. 2020, Table 1).

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (1030, 8) float64: cement, blast furnace slag, fly ash, water,
        superplasticizer, coarse and fine aggregate (kg per m^3), age (days);
        ``target`` (1030,) float64: compressive strength (MPa); ``feature_names``,
        ``target_name``, ``DESCR``.
    (data, target) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    ValueError
        If ``return_X_y`` is not a bool.

    References
    ----------
    I.-C. Yeh. Modeling of strength of high-performance concrete using artificial
    neural networks. Cement and Concrete Research 28(12), 1998. UCI Machine Learning
    Repository (CC BY 4.0).

    Examples
    --------
    >>> from skflows.datasets import load_concrete
    >>> X, y = load_concrete(return_X_y=True)
    >>> X.shape, y.shape
    ((1030, 8), (1030,))
    """
    a = _load_npz("concrete.npz")
    return _bunch(np.asarray(a["X"], np.float64), np.asarray(a["y"], np.float64),
                  a["feature_names"], a["target_name"],
                  "UCI Concrete Compressive Strength (Yeh 1998), 1030 x 8, target in MPa.",
                  return_X_y)


def load_diamonds(*, return_X_y=False):
    """Load ggplot2's diamonds (53940 stones, 9 features, target the log price).

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (53940, 9) float64: carat, cut (Fair..Ideal = 0..4), color (J..D =
        0..6), clarity (I1..IF = 0..7), depth, table, x, y, z; ``target`` (53940,)
        float64: natural log of the price in USD; ``feature_names``, ``target_name``,
        ``DESCR``.
    (data, target) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    ValueError
        If ``return_X_y`` is not a bool.

    References
    ----------
    H. Wickham. ggplot2: Elegant Graphics for Data Analysis. Springer 2016 (data set
    ``diamonds``, MIT licence).

    Examples
    --------
    >>> from skflows.datasets import load_diamonds
    >>> X, y = load_diamonds(return_X_y=True)
    >>> X.shape
    (53940, 9)
    """
    a = _load_npz("diamonds.npz")
    return _bunch(np.asarray(a["X"], np.float64), np.asarray(a["y"], np.float64),
                  a["feature_names"], a["target_name"],
                  "ggplot2 diamonds, 53940 x 9 (ordinal codes for cut, color, clarity), "
                  "target log(price in USD).", return_X_y)


def load_faithful(*, return_X_y=False):
    """Load Old Faithful's eruptions: duration given the waiting time (272 eruptions).

    The classic bimodal conditional density: short and long eruptions both follow some
    waiting times.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (272, 1) float64: waiting time before the eruption (minutes);
        ``target`` (272,) float64: eruption duration (minutes); ``feature_names``
        ``["waiting"]``, ``target_name`` ``"eruptions"``, ``DESCR``.
    (data, target) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    ValueError
        If ``return_X_y`` is not a bool.

    References
    ----------
    A. Azzalini and A. W. Bowman. A look at some data on the Old Faithful geyser.
    Applied Statistics 39, 1990 (R ``datasets::faithful``).

    Examples
    --------
    >>> from skflows.datasets import load_faithful
    >>> X, y = load_faithful(return_X_y=True)
    >>> X.shape, y.shape
    ((272, 1), (272,))
    """
    a = _load_npz("faithful.npz")
    columns = [str(n) for n in a["feature_names"]]
    table = np.asarray(a["X"], np.float64)
    X = table[:, [columns.index("waiting")]]
    y = table[:, columns.index("eruptions")]
    return _bunch(X, y, ["waiting"], "eruptions",
                  "Old Faithful (R datasets::faithful), 272 eruptions: waiting time and "
                  "duration in minutes.", return_X_y)
