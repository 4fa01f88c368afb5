"""Plotting helpers (matplotlib is imported only when a function is called)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["plot_history"]

_DEFAULT_KEYS = ("train_loss", "valid_loss")


def _history_rows(history) -> list[Mapping]:
    """The per-epoch rows of ``estimator.history_`` or of a history list itself."""
    if hasattr(history, "get_params"):  # a scikit-learn estimator
        rows = getattr(history, "history_", None)
        if rows is None:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                f"This {type(history).__name__} instance has no history_ yet. Call 'fit' "
                "with appropriate arguments before using plot_history."
            )
        return list(rows)
    if isinstance(history, Mapping) or isinstance(history, (str, bytes)):
        raise TypeError("history must be a fitted skflows estimator or a list of per-epoch "
                        f"dicts (its history_), got {type(history).__name__}.")
    rows = list(history)
    if not all(isinstance(row, Mapping) for row in rows):
        raise TypeError("history must be a fitted skflows estimator or a list of per-epoch "
                        "dicts (its history_).")
    return rows


def plot_history(history, ax=None, keys: Sequence[str] = _DEFAULT_KEYS, *, logy=False):
    """Plot per-epoch training curves of a fitted estimator.

    Draws one line per key of ``history_`` against the epoch number (1-based, as
    recorded). Values that are missing or ``None`` (for example ``valid_loss`` when
    ``validation_fraction=0``) are skipped; a key absent from every epoch is an error.

    Parameters
    ----------
    history : fitted estimator or list of dict
        A fitted skflows estimator (its ``history_`` is used) or the ``history_`` list
        itself: one dict per epoch with ``"epoch"`` and the loss keys.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on. By default a new figure with one axes is created.
    keys : sequence of str, default=("train_loss", "valid_loss")
        History entries to draw. Losses of the density estimators are negative
        log-likelihoods in nats per sample; other estimators document their own losses.
    logy : bool, default=False
        Logarithmic y axis (only sensible for positive losses).

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on, with one line per plotted key (labelled by the key), the
        x axis labelled ``"epoch"`` and a legend.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If an estimator without ``history_`` (not fitted) is given.
    TypeError
        If ``history`` is neither an estimator nor a list of dicts.
    ValueError
        If the history is empty or none of its epochs holds one of ``keys``.
    ImportError
        If matplotlib is not installed.

    References
    ----------
    .. [1] J. D. Hunter. Matplotlib: A 2D Graphics Environment. Computing in Science &
       Engineering 9(3), 2007 (the plotting library).
    .. [2] L. Prechelt. Early Stopping - But When? In Neural Networks: Tricks of the
       Trade, LNCS 1524, Springer 1998 (reading training and validation curves
       to stop training; the estimators' early stopping uses ``valid_loss``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import make_moons
    >>> from skflows import FlowDensity
    >>> from skflows.plotting import plot_history
    >>> X, _ = make_moons(300, noise=0.05, random_state=0)
    >>> est = FlowDensity(max_epochs=3, hidden_dims=(8,), random_state=0).fit(X)
    >>> ax = plot_history(est)
    >>> [line.get_label() for line in ax.get_lines()]
    ['train_loss', 'valid_loss']
    """
    rows = _history_rows(history)
    if isinstance(keys, str):
        keys = (keys,)
    keys = list(keys)
    if not rows:
        raise ValueError("The history is empty: nothing to plot.")
    if not keys:
        raise ValueError("keys must name at least one history entry.")

    series = {}
    for key in keys:
        points = [(row.get("epoch", i + 1), row[key]) for i, row in enumerate(rows)
                  if row.get(key) is not None]
        if points:
            series[key] = np.asarray(points, dtype=float)
    if not series:
        available = sorted({k for row in rows for k, v in row.items() if v is not None})
        raise ValueError(f"None of the keys {keys} is recorded in the history; "
                         f"available: {available}.")

    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.5))
    for key, points in series.items():
        ax.plot(points[:, 0], points[:, 1], marker="." if len(points) < 30 else None,
                label=key)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax
