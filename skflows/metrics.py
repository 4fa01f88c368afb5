"""Cramér-Wold distance and normality index (numpy or torch, differentiable in torch).

The Cramér-Wold (CW) distance between two distributions on ``R^D`` is the average, over
directions ``v`` on the unit sphere, of the squared L2 distance between their 1-D
projections ``v^T x`` after smoothing each with a Gaussian kernel ``N(0, gamma)``
(Knop et al., JMLR 2020: the Cramer-Wold distance). For samples it has a closed form
through the Kummer confluent hypergeometric function
``phi_D(s) = 1F1(1/2; D/2; -s)``, so it needs neither sampling nor an adversary.

``phi_D`` is evaluated accurately in every dimension (relative error below about
``1e-11`` in float64 against ``scipy.special.hyp1f1``, ``1e-9`` for its first two
derivatives), not with the approximation
``(1 + 4 s / (2 D - 3))^{-1/2}`` of the reference implementations (31 % off at
``D = 2``, 3 % at ``D = 8``). Two quadratures of the Euler integral

    phi_D(s) = E[exp(-s B)],   B ~ Beta(1/2, (D - 1) / 2),

are used: Gauss-Jacobi nodes adapted to the Beta weight while ``s + (D - 3) / 2`` is
small, generalised Gauss-Laguerre nodes in ``x = (s + (D - 3) / 2) t`` otherwise (where
the integrand is concentrated near ``t = 0``). The derivatives are
``phi_D^{(k)}(s) = (-1)^k E[B^k exp(-s B)]``, evaluated by the same quadratures, so
gradients of any order are exact too and the memory kept for the backward pass is one
number per pair of points. ``D = 1`` uses ``phi_1(s) = exp(-s)``.

Two-sample metrics of the simulation-based-inference benchmark (numpy / scikit-learn):
:func:`c2st`, the classifier two-sample test accuracy, and :func:`mmd`, the unbiased
squared maximum mean discrepancy with a Gaussian kernel.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np
import torch
from scipy.special import gammaln, roots_genlaguerre, roots_jacobi
from sklearn.utils.validation import check_array

__all__ = ["cramer_wold_distance", "cw_normality_index", "silverman_gamma", "c2st", "mmd"]

_N_NODES = 16
# Below this value of lam = s + (D - 3) / 2 the Gauss-Jacobi rule is used, above it the
# Gauss-Laguerre rule (with 16 nodes both are accurate to ~1e-12 in float64 on their
# side of the switch, in every dimension).
_SWITCH = 30.0
# Elements of s evaluated at once (times _N_NODES temporaries).
_CHUNK = 1 << 16
# Rows of the pairwise matrix formed at once.
_PAIR_CHUNK = 1 << 20


# ----------------------------------------------------------------------------- phi_D
@functools.lru_cache(maxsize=None)
def _quadrature(dim: int):
    """Nodes and weights (float64 numpy) of both rules for dimension ``dim >= 2``."""
    a = (dim - 3) / 2.0
    jacobi = None
    if a < _SWITCH:  # only then can lam = s + a fall below the switch
        u, w = roots_jacobi(_N_NODES, a, -0.5)
        jacobi = ((1.0 + u) / 2.0, w / w.sum())
    x, w = roots_genlaguerre(_N_NODES, -0.5)
    log_beta = gammaln(0.5) + gammaln((dim - 1) / 2.0) - gammaln(dim / 2.0)
    return jacobi, (x, w * math.exp(-log_beta)), a


def _moment(s: torch.Tensor, dim: int, order: int) -> torch.Tensor:
    """``(-1)^order E[B^order exp(-s B)]`` elementwise, ``B ~ Beta(1/2, (dim-1)/2)``:
    the ``order``-th derivative of ``phi_dim`` at ``s >= 0``."""
    jacobi, (x_np, wl_np), a = _quadrature(dim)
    kw = dict(dtype=s.dtype, device=s.device)
    flat = s.reshape(-1)
    out = torch.empty_like(flat)
    lam = flat + a
    low = lam < _SWITCH if jacobi is not None else torch.zeros_like(flat, dtype=torch.bool)
    sign = (-1.0) ** order

    # Gauss-Jacobi: sum_j w_j t_j^k exp(-s t_j), nodes adapted to the Beta weight.
    if bool(low.any()):
        tj = torch.as_tensor(jacobi[0], **kw)
        wj = torch.as_tensor(jacobi[1], **kw) * (sign * tj ** order)
        index = low.nonzero().squeeze(1)
        for start in range(0, index.numel(), _CHUNK):
            i = index[start:start + _CHUNK]
            out[i] = torch.exp(flat[i, None] * -tj) @ wj
    # Gauss-Laguerre in x = lam t: lam^{-1/2} sum_j w_j t_j^k g(t_j), t_j = x_j / lam,
    # with g(t) = (1 - t)^a exp(a t) on [0, 1) and 0 beyond.
    high = ~low
    if bool(high.any()):
        x = torch.as_tensor(x_np, **kw)
        wl = torch.as_tensor(wl_np, **kw) * sign
        index = high.nonzero().squeeze(1)
        for start in range(0, index.numel(), _CHUNK):
            i = index[start:start + _CHUNK]
            lam_i = lam[i]
            t = x / lam_i[:, None]
            inside = t < 1.0
            t = torch.where(inside, t, torch.zeros_like(t))
            g = torch.exp(a * (torch.log1p(-t) + t))
            if order:
                g = g * t ** order
            g = torch.where(inside, g, torch.zeros_like(g))
            out[i] = (g @ wl) * lam_i.rsqrt()
    return out.reshape(s.shape)


class _KummerPhi(torch.autograd.Function):
    """Differentiable ``phi_dim^{(order)}(s)``; its derivative is order + 1."""

    @staticmethod
    def forward(ctx, s, dim, order):
        ctx.save_for_backward(s)
        ctx.dim, ctx.order = dim, order
        with torch.no_grad():
            return _moment(s, dim, order)

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * _KummerPhi.apply(s, ctx.dim, ctx.order + 1), None, None


def kummer_phi(s: torch.Tensor, dim: int) -> torch.Tensor:
    """``phi_D(s) = 1F1(1/2; D/2; -s)`` for ``s >= 0``, elementwise, differentiable.

    This is the average over unit vectors ``v`` in ``R^D`` of ``exp(-s (v_1)^2)``,
    the sphere average behind the Cramér-Wold closed form (Knop et al. 2020).

    Parameters
    ----------
    s : Tensor of any shape
        Non-negative arguments (negative values are clamped to 0).
    dim : int
        Dimension ``D >= 1``.

    Returns
    -------
    Tensor of the shape and dtype of ``s``
        Values in ``(0, 1]``.
    """
    s = s.clamp_min(0.0)
    if dim == 1:
        return torch.exp(-s)
    return _KummerPhi.apply(s, int(dim), 0)


# ----------------------------------------------------------------------------- helpers
def silverman_gamma(n_samples: int) -> float:
    """Silverman's rule-of-thumb kernel variance ``gamma = (4 / (3 n))^(2/5)``.

    The squared rule-of-thumb bandwidth for a unit-variance 1-D normal sample of size
    ``n``: the bandwidth of the Cramer-Wold distance used by Knop et al. (2020).

    Parameters
    ----------
    n_samples : int
        Sample size ``n >= 1``.

    Returns
    -------
    gamma : float
        The kernel variance, in squared units of the (standardised) data; it decreases
        like ``n^(-2/5)``.

    Raises
    ------
    ValueError
        If ``n_samples`` is not an int ``>= 1``.

    References
    ----------
    .. [1] B. W. Silverman. Density Estimation for Statistics and Data Analysis.
       Chapman & Hall, 1986, Sec. 3.4.2, Eq. 3.28 (the normal-reference bandwidth
       ``h = (4 / (3 n))^(1/5) sigma``, about ``1.06 sigma n^(-1/5)``).
    .. [2] S. Knop, P. Spurek, J. Tabor, I. Podolak, M. Mazur, S. Jastrzebski.
       Cramer-Wold Auto-Encoder. JMLR 21, 2020 (this ``gamma`` as the smoothing
       variance of the Cramer-Wold distance).

    Examples
    --------
    >>> from skflows.metrics import silverman_gamma
    >>> round(silverman_gamma(100), 4)
    0.1778
    """
    if isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, numbers.Integral) \
            or n_samples < 1:
        raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}.")
    return (4.0 / (3.0 * n_samples)) ** 0.4


def _as_tensor(A, name):
    """(tensor, was_torch): validated 2-D float tensor; numpy is checked like sklearn."""
    if isinstance(A, torch.Tensor):
        if A.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape "
                             f"{tuple(A.shape)}.")
        if not A.is_floating_point():
            A = A.double()
        return A, True
    A = check_array(A, dtype=[np.float64, np.float32], input_name=name)
    return torch.from_numpy(np.ascontiguousarray(A, dtype=np.float64)), False


def _check_gamma(gamma, n):
    if gamma is None:
        return silverman_gamma(n)
    if (isinstance(gamma, bool) or not isinstance(gamma, numbers.Real)
            or not math.isfinite(gamma) or gamma <= 0):
        raise ValueError(f"gamma must be a positive float or None, got {gamma!r}.")
    return float(gamma)


def _mean_phi(A: torch.Tensor, B: torch.Tensor | None, scale: float,
              dim: int) -> torch.Tensor:
    """``mean_{i,j} phi_D(scale * ||a_i - b_j||^2)``, row-chunked; ``B=None`` means
    ``B = A`` (then only pairs ``i < j`` are evaluated: ``phi_D(0) = 1``)."""
    same = B is None
    B = A if same else B
    sq_b = (B * B).sum(-1)
    rows = max(1, _PAIR_CHUNK // max(1, len(B)))
    cols = torch.arange(len(B), device=A.device)
    total = A.new_zeros(())
    for start in range(0, len(A), rows):
        a = A[start:start + rows]
        sq = ((a * a).sum(-1)[:, None] + sq_b[None, :] - 2.0 * (a @ B.T)).clamp_min(0.0)
        if same:  # strict upper triangle
            sq = sq[cols[None, :] > cols[start:start + len(a), None]]
        total = total + kummer_phi(scale * sq, dim).sum()
    if same:
        total = 2.0 * total + len(A)
    return total / (len(A) * len(B))


def _finish(value: torch.Tensor, was_torch: bool):
    return value if was_torch else float(value)


# ----------------------------------------------------------------------------- public
def cramer_wold_distance(X, Y, gamma=None, *, squared=False):
    r"""Cramér-Wold distance between two samples.

    The squared distance is the average over unit directions ``v`` of the squared L2
    distance between the kernel-smoothed densities of the projections ``v^T x_i`` and
    ``v^T y_j`` (Gaussian kernel of variance ``gamma``). Its closed form
    (Knop et al. 2020; their formula for the distance of two samples) is

    .. math::

        d^2 = \frac{1}{2\sqrt{\pi\gamma}} \Big[ \frac{1}{n^2}\sum_{i,i'}
        \phi_D\big(\tfrac{\|x_i - x_{i'}\|^2}{4\gamma}\big)
        + \frac{1}{m^2}\sum_{j,j'} \phi_D\big(\tfrac{\|y_j - y_{j'}\|^2}{4\gamma}\big)
        - \frac{2}{nm}\sum_{i,j} \phi_D\big(\tfrac{\|x_i - y_j\|^2}{4\gamma}\big) \Big]

    with ``phi_D(s) = 1F1(1/2; D/2; -s)``, evaluated accurately in every dimension
    (see the module docstring). It is the exact distance between the two smoothed
    empirical distributions, hence non-negative, symmetric and zero for ``X = Y``.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples_X, n_features)
        First sample.
    Y : array-like or torch.Tensor of shape (n_samples_Y, n_features)
        Second sample, with the same number of features.
    gamma : float or None, default=None
        Variance of the smoothing kernel (in squared units of the data). None:
        Silverman's rule for unit-variance projections,
        ``(4 / (3 n))^(2/5)`` with ``n = min(n_samples_X, n_samples_Y)``; pass a
        value for data of another scale or to compare distances across sample sizes.
    squared : bool, default=False
        Return ``d^2`` instead of ``d``.

    Returns
    -------
    distance : float or 0-d torch.Tensor
        A Python float for numpy inputs; a differentiable tensor (dtype and device of
        the inputs) when either input is a tensor.

    Raises
    ------
    ValueError
        If an input is not 2-D, is empty, holds NaN or inf, or the numbers of
        features differ; or if ``gamma`` is not positive.

    See Also
    --------
    cw_normality_index : The squared distance to ``N(0, I)``.

    References
    ----------
    .. [1] S. Knop, J. Tabor, P. Spurek, I. Podolak, M. Mazur, S. Jastrzębski.
       Cramer-Wold AutoEncoder. arXiv:1805.09235, 2018.
    .. [2] S. Knop, P. Spurek, J. Tabor, I. Podolak, M. Mazur, S. Jastrzębski.
       Cramer-Wold Auto-Encoder. JMLR 21 (2020), 1-28 (definition of the Cramer-Wold
       distance and its closed form for samples).

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.metrics import cramer_wold_distance
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.randn(200, 3), rng.randn(200, 3) + 1.0
    >>> cramer_wold_distance(X, X)
    0.0
    >>> cramer_wold_distance(X, Y) > cramer_wold_distance(X, rng.randn(200, 3))
    True
    """
    A, a_torch = _as_tensor(X, "X")
    B, b_torch = _as_tensor(Y, "Y")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"X has {A.shape[1]} features but Y has {B.shape[1]}; the "
                         "Cramér-Wold distance needs samples of the same dimension.")
    if len(A) == 0 or len(B) == 0:
        raise ValueError("X and Y need at least one sample each.")
    was_torch = a_torch or b_torch
    if was_torch:
        ref = A if a_torch else B
        A, B = A.to(ref), B.to(ref)
    g = _check_gamma(gamma, min(len(A), len(B)))
    dim = A.shape[1]
    scale = 1.0 / (4.0 * g)
    with torch.set_grad_enabled(was_torch and torch.is_grad_enabled()):
        aa, bb, ab = (_mean_phi(A, None, scale, dim), _mean_phi(B, None, scale, dim),
                      _mean_phi(A, B, scale, dim))
        bracket = aa + bb - 2.0 * ab
        # a difference of O(1) terms: below their rounding noise it is 0 (for X = Y)
        noise = 16.0 * torch.finfo(bracket.dtype).eps * (aa + bb + 2.0 * ab).detach()
        bracket = torch.where(bracket > noise, bracket, torch.zeros_like(bracket))
        d2 = bracket / (2.0 * math.sqrt(math.pi * g))
        # sqrt with a finite (zero) gradient at d = 0 instead of inf * 0 = NaN
        tiny = torch.finfo(d2.dtype).tiny
        value = d2 if squared else torch.where(d2 > tiny, d2.clamp_min(tiny).sqrt(),
                                                torch.zeros_like(d2))
    return _finish(value, was_torch)


def cw_normality_index(Z, gamma=None):
    r"""Cramér-Wold normality index: squared CW distance of a sample to ``N(0, I)``.

    Closed form (Knop et al. 2020, the distance of a sample to the standard normal):

    .. math::

        d^2 = \frac{1}{2\sqrt{\pi}} \Big[ \frac{1}{n^2\sqrt{\gamma}} \sum_{i,j}
        \phi_D\big(\tfrac{\|z_i - z_j\|^2}{4\gamma}\big) + \frac{1}{\sqrt{1+\gamma}}
        - \frac{2}{n\sqrt{\gamma + 1/2}} \sum_i
        \phi_D\big(\tfrac{\|z_i\|^2}{2 + 4\gamma}\big) \Big]

    with ``phi_D(s) = 1F1(1/2; D/2; -s)`` evaluated accurately in every dimension.
    The normalisation is the paper's ``d^2`` in every dimension (the reference code
    returns ``2 sqrt(pi) d^2`` for ``D >= 2`` and ``d^2`` for ``D = 1``).

    The index of a finite sample from ``N(0, I)`` is not 0: its expectation is
    exactly ``(1 / (2 n sqrt(pi))) (gamma^{-1/2} - (1 + gamma)^{-1/2})`` in every
    dimension (the ``i = j`` terms), about ``7.9e-4`` for ``n = 1000`` with the default
    ``gamma``. Compare indices at equal ``n`` and ``gamma``.

    Parameters
    ----------
    Z : array-like or torch.Tensor of shape (n_samples, n_features)
        Sample (for example latent codes).
    gamma : float or None, default=None
        Kernel variance; None: Silverman's rule ``(4 / (3 n))^(2/5)``.

    Returns
    -------
    index : float or 0-d torch.Tensor
        ``d^2``: a Python float for numpy input, a differentiable tensor for tensor
        input.

    Raises
    ------
    ValueError
        If ``Z`` is not 2-D, empty, or holds NaN or inf; or if ``gamma`` is not
        positive.

    See Also
    --------
    cramer_wold_distance : The two-sample distance.

    References
    ----------
    .. [1] S. Knop, P. Spurek, J. Tabor, I. Podolak, M. Mazur, S. Jastrzębski.
       Cramer-Wold Auto-Encoder. JMLR 21 (2020), 1-28 (closed form of the distance
       to ``N(0, I)``; Silverman bandwidth of the CWAE cost).

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.metrics import cw_normality_index
    >>> rng = np.random.RandomState(0)
    >>> Z = rng.randn(1000, 8)
    >>> cw_normality_index(Z) < cw_normality_index(Z + 0.5) < cw_normality_index(Z + 1.0)
    True
    """
    A, was_torch = _as_tensor(Z, "Z")
    if len(A) == 0:
        raise ValueError("Z needs at least one sample.")
    n, dim = A.shape
    g = _check_gamma(gamma, n)
    with torch.set_grad_enabled(was_torch and torch.is_grad_enabled()):
        pair = _mean_phi(A, None, 1.0 / (4.0 * g), dim) / math.sqrt(g)
        cross = _mean_phi(A, A.new_zeros(1, dim), 1.0 / (2.0 + 4.0 * g), dim)
        bracket = pair + 1.0 / math.sqrt(1.0 + g) - 2.0 * cross / math.sqrt(g + 0.5)
        value = (bracket / (2.0 * math.sqrt(math.pi))).clamp_min(0.0)
    return _finish(value, was_torch)


# --------------------------------------------------------------- two-sample metrics
# Entries of a pairwise block (rows x columns) formed at once by mmd and the median.
_MMD_CHUNK = 1 << 20
# At most this many pairwise distances are gathered at once to select the median
# exactly; above it, histogram passes over the blocks narrow down the median's bin.
_SELECT_LIMIT = 1 << 22
_N_BINS = 1 << 12


def _check_two_samples(X, Y, what):
    X = check_array(X, dtype=np.float64, ensure_min_samples=2, input_name="X")
    Y = check_array(Y, dtype=np.float64, ensure_min_samples=2, input_name="Y")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features but Y has {Y.shape[1]}; {what} "
                         "needs samples of the same dimension.")
    return X, Y


def c2st(X, Y, *, random_state=0, n_folds=5, z_score=True, scoring="accuracy"):
    """Classifier two-sample test (C2ST): cross-validated accuracy of telling X from Y.

    The metric of the simulation-based-inference benchmark (Lueckmann et al. 2021),
    with its settings: both samples are z-scored with the mean and standard deviation
    (``ddof=1``) of the first sample ``X``; a
    :class:`~sklearn.neural_network.MLPClassifier` with two hidden layers of
    ``10 * n_features`` ReLU units, the Adam solver, ``max_iter=10000`` and otherwise
    scikit-learn's defaults (no early stopping: training stops when the training loss
    improves by less than ``tol=1e-4`` for 10 epochs) is trained to separate ``X``
    (label 0) from ``Y`` (label 1); the score is its mean accuracy over the folds of a
    shuffled :class:`~sklearn.model_selection.KFold` (not stratified), with
    ``random_state`` seeding both the folds and the network. About 0.5 means the
    samples are indistinguishable, 1.0 that they are perfectly separable.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        First sample (for instance the reference posterior); sets the z-scoring.
    Y : array-like of shape (n_samples_Y, n_features)
        Second sample, with the same number of features.
    random_state : int, RandomState instance or None, default=0
        Seed of the folds and of the classifier's initialisation and batches (sbibm's
        default seed is 1).
    n_folds : int, default=5
        Number of cross-validation folds (``2 <= n_folds <= n_samples_X +
        n_samples_Y``).
    z_score : bool, default=True
        Standardise both samples with the statistics of ``X``. A feature that is
        constant in ``X`` is only centred (its standard deviation is taken as 1).
    scoring : str, default="accuracy"
        Scikit-learn scorer; ``"roc_auc"`` gives sbibm's ``c2st_auc``.

    Returns
    -------
    score : float
        Mean cross-validated accuracy (or ``scoring``) of the classifier.

    Raises
    ------
    ValueError
        If ``X`` or ``Y`` is not 2-D, has fewer than 2 rows, contains NaN or infinity,
        or their numbers of features differ; or if ``n_folds`` is invalid.

    See Also
    --------
    mmd : A kernel two-sample statistic.

    References
    ----------
    .. [1] D. Lopez-Paz, M. Oquab (2017). Revisiting Classifier Two-Sample Tests.
       ICLR 2017.
    .. [2] J.-M. Lueckmann, J. Boelts, D. S. Greenberg, P. J. Goncalves, J. H. Macke
       (2021). Benchmarking Simulation-Based Inference. AISTATS 2021;
       arXiv:2101.04653 (Sec. 3: the C2ST metric; code: sbibm.metrics.c2st).

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.metrics import c2st
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.randn(300, 2), rng.randn(300, 2) + 3.0
    >>> c2st(X, Y) > 0.95
    True
    """
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.neural_network import MLPClassifier

    X, Y = _check_two_samples(X, Y, "c2st")
    if z_score:
        mean = X.mean(axis=0)
        std = X.std(axis=0, ddof=1)
        std = np.where(std > 0.0, std, 1.0)
        X = (X - mean) / std
        Y = (Y - mean) / std
    dim = X.shape[1]
    classifier = MLPClassifier(activation="relu", hidden_layer_sizes=(10 * dim, 10 * dim),
                               max_iter=10000, solver="adam", random_state=random_state)
    data = np.concatenate([X, Y])
    target = np.concatenate([np.zeros(len(X)), np.ones(len(Y))])
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    scores = cross_val_score(classifier, data, target, cv=folds, scoring=scoring)
    return float(np.mean(scores))


def _sq_dist_block(A, sq_a, B, sq_b):
    """Squared Euclidean distances between the rows of ``A`` and ``B`` (clipped at 0)."""
    D = sq_a[:, None] + sq_b[None, :] - 2.0 * (A @ B.T)
    return np.maximum(D, 0.0, out=D)


def _pair_sq_dists(Z):
    """Yield the squared distances ``||z_i - z_j||^2``, ``i < j``, block by block."""
    n = len(Z)
    sq = np.einsum("ij,ij->i", Z, Z)
    rows = max(1, _MMD_CHUNK // max(1, n))
    for start in range(0, n - 1, rows):
        stop = min(n - 1, start + rows)
        D = _sq_dist_block(Z[start:stop], sq[start:stop], Z[start + 1:], sq[start + 1:])
        upper = np.arange(start + 1, n)[None, :] > np.arange(start, stop)[:, None]
        yield D[upper]


def _median_pairwise_distance(Z):
    """Exact median of the ``n (n - 1) / 2`` distances between distinct rows of ``Z``
    (mean of the two middle values when their number is even), in O(chunk) memory."""
    n_pairs = len(Z) * (len(Z) - 1) // 2
    k_lo, k_hi = (n_pairs - 1) // 2, n_pairs // 2  # 0-based ranks of the middle values
    below = 0  # number of distances smaller than the window [lo, hi)
    count = n_pairs
    lo = hi = None
    for _ in range(200):
        if count <= _SELECT_LIMIT or (lo is not None and np.nextafter(lo, np.inf) >= hi):
            if lo is not None and np.nextafter(lo, np.inf) >= hi:
                v_lo = v_hi = lo  # the window holds one value only
            else:
                values = np.concatenate(
                    [b if lo is None else b[(b >= lo) & (b < hi)] for b in _pair_sq_dists(Z)])
                i_lo = min(max(k_lo - below, 0), len(values) - 1)
                i_hi = min(max(k_hi - below, 0), len(values) - 1)
                part = np.partition(values, [i_lo, i_hi])
                v_lo, v_hi = part[i_lo], part[i_hi]
            return 0.5 * (math.sqrt(v_lo) + math.sqrt(v_hi))
        if lo is None:  # range of all distances
            lo, top = np.inf, -np.inf
            for b in _pair_sq_dists(Z):
                lo, top = min(lo, b.min()), max(top, b.max())
            hi = np.nextafter(top, np.inf)
            continue
        edges = np.linspace(lo, hi, _N_BINS + 1)
        edges[-1] = hi
        hist = np.zeros(_N_BINS, dtype=np.int64)
        for b in _pair_sq_dists(Z):
            b = b[(b >= lo) & (b < hi)]
            idx = np.clip(np.searchsorted(edges, b, side="right") - 1, 0, _N_BINS - 1)
            hist += np.bincount(idx, minlength=_N_BINS)
        cum = np.cumsum(hist)
        bin_lo = min(int(np.searchsorted(cum, k_lo - below, side="right")), _N_BINS - 1)
        bin_hi = min(int(np.searchsorted(cum, k_hi - below, side="right")), _N_BINS - 1)
        below += int(cum[bin_lo] - hist[bin_lo])
        count = int(hist[bin_lo:bin_hi + 1].sum())
        lo, hi = edges[bin_lo], edges[bin_hi + 1]
    raise RuntimeError("median selection did not converge")  # pragma: no cover


def _kernel_sum(A, B, gamma, *, same):
    """``sum_{i,j} exp(-gamma ||a_i - b_j||^2)``, block by block; ``same`` (``B is A``)
    leaves out the diagonal ``i = j``."""
    sq_a = np.einsum("ij,ij->i", A, A)
    sq_b = sq_a if same else np.einsum("ij,ij->i", B, B)
    rows = max(1, _MMD_CHUNK // len(B))
    total = 0.0
    for start in range(0, len(A), rows):
        stop = min(len(A), start + rows)
        K = _sq_dist_block(A[start:stop], sq_a[start:stop], B, sq_b)
        K *= -gamma
        np.exp(K, out=K)
        if same:
            i = np.arange(stop - start)
            K[i, start + i] = 0.0
        total += float(K.sum())
    return total


def mmd(X, Y, *, bandwidth=None):
    r"""Squared maximum mean discrepancy (unbiased) with a Gaussian kernel.

    The unbiased U-statistic of Gretton et al. (2012, Eq. 3),

    .. math::

        \mathrm{MMD}^2_u = \frac{1}{m(m-1)} \sum_{i \ne i'} k(x_i, x_{i'})
        + \frac{1}{n(n-1)} \sum_{j \ne j'} k(y_j, y_{j'})
        - \frac{2}{mn} \sum_{i, j} k(x_i, y_j),

    with ``k(a, b) = exp(-||a - b||^2 / (2 sigma^2))``. It estimates the squared MMD
    of the two laws without bias, so it is near 0 (and may be slightly negative) for
    samples of one law, and positive in expectation otherwise. The kernel matrices are
    never formed whole: blocks of about 2^20 entries are summed, so memory stays
    O(chunk) (``O(n)`` rows at a time) for any sample size.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        First sample (``m >= 2`` rows).
    Y : array-like of shape (n_samples_Y, n_features)
        Second sample (``n >= 2`` rows), with the same number of features.
    bandwidth : float or None, default=None
        Kernel width ``sigma > 0``. None uses the median heuristic: ``sigma`` is the
        median of the Euclidean distances between all pairs of distinct rows of the
        pooled sample ``[X; Y]`` (computed exactly, block by block; the mean of the two
        middle distances when their number is even). sbibm's ``mmd`` takes the median
        over ``X`` only by default.

    Returns
    -------
    mmd2 : float
        The unbiased estimate of the squared MMD (symmetric in ``X`` and ``Y``).

    Raises
    ------
    ValueError
        If ``X`` or ``Y`` is not 2-D, has fewer than 2 rows, contains NaN or infinity,
        or their numbers of features differ; if ``bandwidth`` is not a positive
        finite number; or if the median heuristic gives 0 (most pooled points
        coincide: pass ``bandwidth``).

    See Also
    --------
    c2st : The classifier two-sample test.

    References
    ----------
    .. [1] A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schoelkopf, A. Smola (2012).
       A Kernel Two-Sample Test. JMLR 13, 723-773 (Eq. 3: the unbiased statistic;
       Sec. 8: the median heuristic for the Gaussian kernel width).
    .. [2] J.-M. Lueckmann, J. Boelts, D. S. Greenberg, P. J. Goncalves, J. H. Macke
       (2021). Benchmarking Simulation-Based Inference. AISTATS 2021;
       arXiv:2101.04653 (MMD as a benchmark metric).

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.metrics import mmd
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(500, 2)
    >>> abs(mmd(X, rng.randn(500, 2))) < 0.01 < mmd(X, rng.randn(500, 2) + 1.0)
    True
    """
    X, Y = _check_two_samples(X, Y, "mmd")
    if bandwidth is None:
        sigma = _median_pairwise_distance(np.concatenate([X, Y]))
        if not sigma > 0.0:
            raise ValueError("The median heuristic gives a zero bandwidth (most pooled "
                             "points coincide); pass bandwidth explicitly.")
    else:
        if (isinstance(bandwidth, (bool, np.bool_)) or not isinstance(bandwidth, numbers.Real)
                or not math.isfinite(bandwidth) or bandwidth <= 0):
            raise ValueError(f"bandwidth must be a positive float or None, got "
                             f"{bandwidth!r}.")
        sigma = float(bandwidth)
    gamma = 1.0 / (2.0 * sigma * sigma)
    m, n = len(X), len(Y)
    kxx = _kernel_sum(X, X, gamma, same=True)
    kyy = _kernel_sum(Y, Y, gamma, same=True)
    kxy = _kernel_sum(X, Y, gamma, same=False)
    return kxx / (m * (m - 1)) + kyy / (n * (n - 1)) - 2.0 * kxy / (m * n)
