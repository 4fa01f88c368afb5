r"""Monotone rational-quadratic splines with linear (identity) tails.

Durkan, Bekasov, Murray & Papamakarios, "Neural Spline Flows", NeurIPS 2019,
Section 3.1 and Appendix A (forward map, derivative, and the inverse as the root of a
quadratic). Everything is elementwise and batched: no loop over samples or features.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

__all__ = ["rational_quadratic_spline", "DEFAULT_MIN_BIN_WIDTH", "DEFAULT_MIN_BIN_HEIGHT",
           "DEFAULT_MIN_DERIVATIVE"]

DEFAULT_MIN_BIN_WIDTH = 1e-3
DEFAULT_MIN_BIN_HEIGHT = DEFAULT_MIN_BIN_WIDTH  # equal: the coupling layers pass one minimum
DEFAULT_MIN_DERIVATIVE = 1e-3


def _knots(logits: torch.Tensor, bound: float, min_sizes: torch.Tensor | float) -> torch.Tensor:
    """Knot positions (..., K + 1) on [-bound, bound] from bin logits (..., K).

    Bin sizes are ``min_size + (1 - K min_size) softmax(logits)``; ``logits`` may stack
    the width and height logits on axis -2 (``min_sizes`` then of shape (2, 1)), so that
    both sets of knots come out of one pass."""
    n_bins = logits.shape[-1]
    # On CPU, torch's softmax and cumsum over a short last axis take 20-200 us each
    # (they are not vectorised along it); exponentials and one matrix product with a
    # triangle of ones do the same in a few elementwise passes.
    e = torch.exp(logits - logits.amax(dim=-1, keepdim=True).detach())
    # Unnormalised sizes S min_size + (1 - K min_size) e_k, with S = sum_k e_k.
    sizes = (1.0 - min_sizes * n_bins) * e + min_sizes * e.sum(dim=-1, keepdim=True)
    cumulative = sizes @ _triangle(n_bins, logits)  # (..., K + 1), starts at 0
    # Dividing by the last cumulative sum normalises the sizes and pins the end knots
    # exactly at -bound and bound (x / x == 1 and 2 b - b == b in floating point).
    return (2.0 * bound) * (cumulative / cumulative[..., -1:]) - bound


def _triangle(n_bins: int, like: torch.Tensor) -> torch.Tensor:
    """(K, K + 1) matrix T with ``T[i, j] = 1`` for ``i < j``: ``a @ T`` is the
    cumulative sum of ``a`` with a leading 0."""
    return _cached_triangle(n_bins, like.dtype, like.device)


@functools.lru_cache(maxsize=64)
def _cached_triangle(n_bins: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.ones(n_bins, n_bins + 1, dtype=dtype, device=device).triu(1)


def rational_quadratic_spline(
    inputs: torch.Tensor,
    width_logits: torch.Tensor,
    height_logits: torch.Tensor,
    derivative_logits: torch.Tensor,
    bound: float,
    inverse: bool = False,
    min_bin_width: float = DEFAULT_MIN_BIN_WIDTH,
    min_bin_height: float = DEFAULT_MIN_BIN_HEIGHT,
    min_derivative: float = DEFAULT_MIN_DERIVATIVE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply a monotone rational-quadratic spline elementwise.

    Inside ``[-bound, bound]`` the map is the spline of Durkan et al. (2019, Eq. 4); outside
    it is the identity, so the boundary derivatives are fixed to 1 and the map is
    continuously differentiable everywhere. Inputs are clamped into the domain before the
    spline maths (so that no NaN reaches the gradients of the unused branch) and the result
    is selected with ``torch.where``.

    Parameters
    ----------
    inputs : Tensor of shape (..., d)
        Points to transform.
    width_logits, height_logits : Tensor of shape (..., d, K)
        Unnormalised bin widths and heights (softmax over the last axis).
    derivative_logits : Tensor of shape (..., d, K - 1)
        Unnormalised derivatives at the interior knots. A zero logit gives derivative 1,
        so all-zero logits make the spline the identity.
    bound : float
        Half-width of the spline's domain ``[-bound, bound]``.
    inverse : bool, default=False
        Evaluate the inverse map instead.
    min_bin_width, min_bin_height, min_derivative : float
        Lower limits that keep the spline strictly monotone and invertible
        (``K * min_bin_width < 1``, ``K * min_bin_height < 1``,
        ``0 <= min_derivative < 1``).

    Returns
    -------
    outputs : Tensor of shape (..., d)
        Transformed points.
    log_abs_det : Tensor of shape (..., d)
        Elementwise ``log |d outputs / d inputs|`` in nats.

    Raises
    ------
    ValueError
        If the width and height logits have different numbers of bins, the derivative
        logits do not have ``K - 1`` entries on their last axis, ``bound <= 0``, or the
        minimum sizes leave no room for the bins (``K * min_bin_width >= 1``,
        ``K * min_bin_height >= 1``, ``min_derivative`` outside ``[0, 1)``).
    RuntimeError
        If the leading shapes of ``inputs`` and the logits do not broadcast (raised
        by torch).

    References
    ----------
    .. [1] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019, Sec. 3.1 (monotonic rational-quadratic transform with linear
       tails; the spline of Eq. 4 built from bin widths, heights and knot
       derivatives) and Appendix A (derivative, and the inverse as the root of a
       quadratic).
    .. [2] J. A. Gregory, R. Delbourgo. Piecewise Rational Quadratic Interpolation to
       Monotonic Data. IMA Journal of Numerical Analysis 2(2), 1982 (the monotone
       rational-quadratic interpolant).
    """
    n_bins = width_logits.shape[-1]
    if height_logits.shape[-1] != n_bins or derivative_logits.shape[-1] != n_bins - 1:
        raise ValueError(
            f"width and height logits need the same number of bins K and derivative "
            f"logits K - 1 entries on the last axis; got {width_logits.shape[-1]}, "
            f"{height_logits.shape[-1]} and {derivative_logits.shape[-1]}.")
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound!r}.")
    if not (n_bins * min_bin_width < 1.0 and n_bins * min_bin_height < 1.0
            and 0.0 <= min_derivative < 1.0):
        raise ValueError(
            f"min_bin_width={min_bin_width!r} and min_bin_height={min_bin_height!r} must "
            f"be below 1 / K = 1 / {n_bins} and min_derivative={min_derivative!r} in "
            f"[0, 1).")
    logits = torch.stack([width_logits, height_logits], dim=-2)
    if min_bin_width == min_bin_height:
        min_sizes = min_bin_width
    else:
        min_sizes = logits.new_tensor([[min_bin_width], [min_bin_height]])
    return _spline(inputs, logits, derivative_logits, bound, inverse, min_sizes,
                   min_derivative)


def _spline(inputs, logits, derivative_logits, bound, inverse,
            min_sizes=DEFAULT_MIN_BIN_WIDTH, min_derivative=DEFAULT_MIN_DERIVATIVE):
    """The spline of :func:`rational_quadratic_spline` from the width and height logits
    stacked on axis -2 (``logits`` of shape (..., d, 2, K)), without argument checks:
    the fast path of the coupling layers, which hold their parameters packed so.
    ``min_sizes``: one minimum for widths and heights (the defaults are equal), or a
    (2, 1) tensor of the two.

    Every knot-indexed quantity is read with two gathers: the knots below and above
    each input (widths and heights as their differences) and the two derivatives."""
    knots = _knots(logits, bound, min_sizes)  # (..., d, 2, K + 1): x knots, y knots
    # Softplus shifted so that a zero logit gives derivative exactly 1.
    shift = math.log(math.expm1(1.0 - min_derivative))
    derivs = F.pad(F.softplus(derivative_logits + shift) + min_derivative, (1, 1),
                   value=1.0)

    inside = (inputs >= -bound) & (inputs <= bound)
    x = inputs.clamp(-bound, bound)
    # Bin index: number of interior knots at or below x (0 .. K-1).
    searched = knots[..., 1 if inverse else 0, 1:-1]
    idx = (x.unsqueeze(-1) >= searched).sum(dim=-1, keepdim=True)
    idx = torch.cat([idx, idx + 1], dim=-1)  # (..., d, 2): the bin's two knots
    ends = knots.gather(-1, idx.unsqueeze(-2).expand(*idx.shape[:-1], 2, 2))
    lo, hi = ends.unbind(-1)  # (..., d, 2) each: (x, y) at the bin's lower/upper knot
    x_lo, y_lo = lo.unbind(-1)
    w, h = (hi - lo).unbind(-1)
    d0, d1 = derivs.gather(-1, idx).unbind(-1)
    s = h / w
    d_sum = d0 + d1 - 2.0 * s

    if inverse:
        dy = x - y_lo
        a = h * (s - d0) + dy * d_sum
        b = h * d0 - dy * d_sum
        c = -s * dy
        disc = (b * b - 4.0 * a * c).clamp_min(0.0)
        xi = (2.0 * c) / (-b - torch.sqrt(disc))
        out = xi * w + x_lo
        xi1m = xi * (1.0 - xi)
        denom = s + d_sum * xi1m
    else:
        xi = (x - x_lo) / w
        xi1m = xi * (1.0 - xi)
        denom = s + d_sum * xi1m
        out = y_lo + h * (s * xi * xi + d0 * xi1m) / denom

    one_m_xi = 1.0 - xi
    numer = s * s * (d1 * xi * xi + 2.0 * s * xi1m + d0 * one_m_xi * one_m_xi)
    log_det = torch.log(numer) - 2.0 * torch.log(denom)
    if inverse:
        log_det = -log_det
    outputs = torch.where(inside, out, inputs)
    return outputs, log_det.masked_fill(~inside, 0.0)
