"""Outlier-detection surface shared by the density-based estimators.

Follows scikit-learn's convention (IsolationForest, EllipticEnvelope): larger
``score_samples`` means more normal, ``offset_`` is the ``100 * contamination``
percentile of the training scores, ``decision_function = score_samples - offset_`` and
``predict`` returns -1 for outliers and +1 for inliers.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OutlierScoresMixin"]


class OutlierScoresMixin:
    """``offset_``, ``decision_function`` and ``predict`` from ``score_samples``."""

    def _set_offset(self, X) -> None:
        """``offset_`` from the training rows ``X``, already validated by ``fit``.

        They are scored by ``_validated_scores`` (``score_samples`` without the input
        check): through ``score_samples`` the bare array would be checked against the
        feature names of a DataFrame given to ``fit``, and warn.
        """
        scores = self._validated_scores(X)
        self.offset_ = float(np.percentile(scores, 100.0 * self.contamination))

    def decision_function(self, X):
        """Shifted log-density: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), float64
            ``score_samples(X) - offset_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, sparse, wrong number of features, ...).
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each row +1 (inlier) or -1 (outlier).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), int
            -1 where ``decision_function(X) < 0``, else +1.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
