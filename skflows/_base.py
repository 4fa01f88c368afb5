"""Shared machinery of every skflows estimator: constructor parameters, input validation,
device and seed handling, the call into the training engine, and batched inference."""

from __future__ import annotations

import contextlib
import numbers
import warnings
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import norm, qmc
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._training import TrainingConfig, _as_arrays, train_module
from ._version import __version__

__all__ = ["BaseFlowEstimator", "DensityScoreMixin", "resolve_device", "IncompatibleVersionError"]

_INFERENCE_BATCH_SIZE = 4096


class IncompatibleVersionError(ValueError):
    """A pickled estimator was saved by a skflows version this one cannot load."""


def _release(version: str) -> tuple[str, ...]:
    """The part of a version that must match for a pickle to load: ``major.minor``."""
    return tuple(str(version).split(".")[:2])


def resolve_device(device) -> str:
    """Turn the ``device`` parameter into a concrete torch device string.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If a CUDA device is requested but not available.
    """
    device = "auto" if device is None else str(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = torch.device(device).index or 0
        if index >= n:
            available = ", ".join(["cpu"] + [f"cuda:{i}" for i in range(n)])
            raise ValueError(f"device={device!r} was requested but is not available; "
                             f"available devices: {available}.")
    return device


# ---------------------------------------------------------------------- input messages
#: Columns listed by name in an input error (the rest are counted).
_LISTED_COLUMNS = 8


@contextlib.contextmanager
def _explained_input_errors(estimator, X):
    """Re-raise scikit-learn's refusal of ``X`` with the message of
    :func:`_explain_invalid_input` when it has one (same exception type), else as is."""
    try:
        yield
    except (ValueError, TypeError) as error:
        message = _explain_invalid_input(estimator, X, error)
        if message is None:
            raise
        kind = ValueError if isinstance(error, ValueError) else TypeError
        raise kind(message) from error


def _explain_invalid_input(estimator, X, error) -> str | None:
    """A message naming the columns of ``X`` that scikit-learn refused, or None.

    Called only after ``validate_data`` raised ``error``: for NaN/infinity (scikit-learn's
    ``"Input X contains ..."``) and for values that do not convert to numbers, the
    offending columns are searched (in row chunks, never a copy of the whole array) and
    named, with the remedy. Anything else, a ``y`` refused (conditional estimators), or
    an ``X`` in which no offending column is found, gives None: scikit-learn's message
    stands.
    """
    text = str(error)
    if text.startswith("Input X contains"):
        kind = "finite"
    elif isinstance(error, TypeError) or "convert" in text:
        kind = "numeric"
    else:
        return None
    try:
        found = _offending_columns(X, kind)
    except Exception:  # an input we cannot inspect: scikit-learn's message stands
        return None
    if found is None:
        return None
    names, bad = found
    name = type(estimator).__name__
    if kind == "numeric":
        if not bad["non-numeric"]:
            return None
        where = _list_columns(bad["non-numeric"], names)
        # numpy's type-promotion message (dates) says nothing more than the column does.
        promotion = type(error).__name__ == "DTypePromotionError"
        cause = "" if promotion else f" (scikit-learn: {text})"
        return (f"Input X has non-numeric {where}, which {name} cannot convert to numbers: "
                "it models the density of numeric features only. Encode such columns as "
                "numbers first (categories with sklearn.preprocessing.OneHotEncoder or "
                "OrdinalEncoder in a sklearn.compose.ColumnTransformer, dates as "
                f"timestamps) or drop them.{cause}")
    problems = [f"{label} in {_list_columns(bad[label], names)}"
                for label in ("NaN", "infinity") if bad[label]]
    if not problems:
        return None
    if not bad["infinity"]:
        remedy = (f"{name} needs every feature of every row to model a density: impute "
                  "the missing values first (sklearn.impute.SimpleImputer, e.g. "
                  f"make_pipeline(SimpleImputer(), {name}(...))) or drop the rows that "
                  "hold them (X[~np.isnan(X).any(axis=1)], or X.dropna() for a DataFrame).")
    else:
        remedy = (f"{name} models a density of finite values only: set the infinite "
                  "entries to NaN and impute them (sklearn.impute.SimpleImputer), or drop "
                  "the rows that hold them (X[np.isfinite(X).all(axis=1)]).")
    return f"Input X contains {' and '.join(problems)}. {remedy}"


def _offending_columns(X, kind: str):
    """``(names or None, {"non-numeric": [...], "NaN": [...], "infinity": [...]})`` of
    a 2-D ``X``, each list holding ``(column index, detail)``; None when ``X`` is not a
    2-D dense array or DataFrame. ``kind`` is ``"numeric"`` (look for columns that do not
    convert to float) or ``"finite"`` (count NaN and infinite entries per column)."""
    bad = {"non-numeric": [], "NaN": [], "infinity": []}
    if hasattr(X, "iloc") and hasattr(X, "columns") and getattr(X, "ndim", 0) == 2:
        names = list(X.columns)  # pandas: one column at a time, each in its own dtype
        for j in range(X.shape[1]):
            column = X.iloc[:, j]
            try:
                if getattr(column.dtype, "kind", "O") in "mM":  # dates, durations
                    raise TypeError
                values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                bad["non-numeric"].append((j, f"dtype {column.dtype}"))
                continue
            if kind == "finite":
                _count_non_finite(values[:, None], [j], bad)
        return names, bad
    from scipy.sparse import issparse

    if issparse(X):
        return None
    names = list(X.columns) if hasattr(X, "columns") else None  # other data frames
    A = X if isinstance(X, np.ndarray) else np.asarray(X)
    if A.ndim != 2 or A.dtype.kind == "c":
        return None
    if names is not None and len(names) != A.shape[1]:
        names = None
    if A.dtype.kind in "biuf":
        if kind == "finite" and A.dtype.kind == "f":
            # Row chunks of ~2**16 values: no temporary of the data's size (X may be a
            # memmap).
            step = max(1, 2**16 // max(1, A.shape[1]))
            counts = {"NaN": 0, "infinity": 0}
            for i in range(0, A.shape[0], step):
                chunk = A[i:i + step]
                counts["NaN"] = counts["NaN"] + np.isnan(chunk).sum(axis=0)
                counts["infinity"] = counts["infinity"] + np.isinf(chunk).sum(axis=0)
            for label, per_column in counts.items():
                bad[label] = [(int(j), _rows(per_column[j]))
                              for j in np.flatnonzero(per_column)]
        return names, bad
    for j in range(A.shape[1]):  # object, string or bytes arrays: column by column
        try:
            values = A[:, j].astype(np.float64)
        except (TypeError, ValueError):
            bad["non-numeric"].append((j, f"value {_first_non_number(A[:, j])!r}"))
            continue
        if kind == "finite":
            _count_non_finite(values[:, None], [j], bad)
    return names, bad


def _first_non_number(values):
    """The first entry of ``values`` that does not convert to a float."""
    for value in values:
        try:
            float(value)
        except (TypeError, ValueError):
            return value.item() if isinstance(value, np.generic) else value
    return None


def _rows(count) -> str:
    return f"{int(count)} row" + ("" if count == 1 else "s")


def _count_non_finite(values: np.ndarray, indices, bad) -> None:
    """Add the NaN and infinite counts of the float columns ``values`` (original column
    ``indices``) to ``bad``."""
    for label, test in (("NaN", np.isnan), ("infinity", np.isinf)):
        counts = test(values).sum(axis=0)
        bad[label] += [(indices[k], _rows(counts[k])) for k in np.flatnonzero(counts)]


def _list_columns(columns, names) -> str:
    """``column 'b' (index 1, 3 rows)``, ``columns 0 (2 rows), 4 (1 row)``: the first
    ``_LISTED_COLUMNS`` of ``columns`` (``(index, detail)`` pairs), the rest counted."""
    shown = []
    for j, detail in columns[:_LISTED_COLUMNS]:
        if names is None:
            shown.append(f"{j} ({detail})")
        else:
            shown.append(f"{names[j]!r} (index {j}, {detail})")
    more = len(columns) - len(shown)
    text = ", ".join(shown) + (f" and {more} more" if more else "")
    return ("column " if len(columns) == 1 else "columns ") + text


class BaseFlowEstimator(BaseEstimator):
    """Base class of the skflows estimators (not for direct use).

    Subclasses declare their own ``__init__`` with every parameter explicit, call
    :meth:`_validate_input` for every array they receive, build their torch module and
    loss, and hand both to :meth:`_train`. They never write an epoch loop.

    Shared parameters (see each estimator for the documentation): ``max_epochs``,
    ``batch_size``, ``lr``, ``weight_decay``, ``gradient_clip``, ``validation_fraction``,
    ``n_iter_no_change``, ``tol``, ``device``, ``random_state``, ``verbose``,
    ``warm_start``.
    """

    _parameter_constraints: dict = {
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="left")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "gradient_clip": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "device": [str, torch.device, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    # ------------------------------------------------------------------ tags / state
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.requires_fit = True
        tags.target_tags.required = False
        try:
            tags.non_deterministic = resolve_device(self.device) != "cpu"
        except ValueError:
            tags.non_deterministic = False
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "n_iter_")

    # ------------------------------------------------------------------ persistence
    def __getstate__(self):
        state = super().__getstate__()
        state["_skflows_version"] = __version__
        return state

    def __setstate__(self, state):
        """Restore a pickled estimator, refusing one from an incompatible release.

        Raises
        ------
        IncompatibleVersionError
            (a ``ValueError``) if the pickle was written by a skflows release whose
            ``major.minor`` differs from the installed one (or by no skflows at all):
            module layouts may differ between releases, so a silent load could give
            wrong results. Refit the model, or install the version named in the message.
        """
        saved = state.pop("_skflows_version", None)
        if saved is None or _release(saved) != _release(__version__):
            raise IncompatibleVersionError(
                f"This {type(self).__name__} was saved with skflows "
                f"{saved or '(unknown version)'}, which the installed skflows "
                f"{__version__} cannot load (pickles load only within the same "
                f"major.minor release). Install skflows {saved} to use it, or refit.")
        super().__setstate__(state)

    @property
    def module_(self) -> torch.nn.Module:
        """The trained torch module (lives in ``net_``, so it is pickled once)."""
        check_is_fitted(self, "net_")
        return self.net_.module_

    # ------------------------------------------------------------------ validation
    def _validate_input(self, X, *, reset: bool, y="no_validation"):
        """The one input-validation path: numeric, finite, dense, 2-D, right width.

        Float32 stays float32; anything else (float16, ints, bools, float64) becomes
        float64. Rows come back C-ordered (a copy only for other layouts, such as the
        column-major arrays pandas hands over), so the same values give the same model
        whatever container held them. With a target ``y`` (conditional estimators;
        ``None`` is refused as scikit-learn does), returns ``(X, y)`` with ``y``
        numeric, finite, of ``X``'s rows, 1-D or 2-D, in ``X``'s dtype.

        When scikit-learn refuses ``X`` for NaN, infinity or non-numeric values, the
        ``ValueError`` names the offending columns (index, and name for a DataFrame) and
        says how to fix them; the columns are searched only after that refusal, so valid
        input costs nothing extra. Every other message (and every message about ``y``)
        is scikit-learn's.
        """
        if isinstance(y, str) and y == "no_validation":
            return validate_features(self, X, reset=reset,
                                     ensure_min_samples=2 if reset else 1)
        with _explained_input_errors(self, X):
            X_valid, y = validate_data(self, X, y, reset=reset,
                                       dtype=[np.float64, np.float32], order="C",
                                       ensure_min_samples=2 if reset else 1,
                                       multi_output=True, y_numeric=True)
        return X_valid, np.ascontiguousarray(y, dtype=X_valid.dtype)

    def _validate_latent(self, Z, n_columns: int) -> np.ndarray:
        """Validate arrays of another width (latent codes) as ``PCA.inverse_transform``."""
        Z = check_array(Z, dtype=[np.float64, np.float32])
        if Z.shape[1] != n_columns:
            raise ValueError(f"Z has {Z.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {n_columns} features as input.")
        return Z

    # ------------------------------------------------------------------ fit openings
    def _fit_start(self, X, y="no_validation"):
        """The opening of every ``fit``: ``X`` validated (resetting ``n_features_in_``
        unless warm) in the compute dtype (a warm start continues the same model: same
        features, same dtype), with ``y`` for conditional estimators, and whether this
        is a warm start: ``(X, warm)`` or ``(X, y, warm)``."""
        warm = bool(self.warm_start) and self.__sklearn_is_fitted__()
        validated = self._validate_input(X, reset=not warm, y=y)
        X, *target = validated if isinstance(validated, tuple) else (validated,)
        if warm:
            X = X.astype(self._compute_dtype, copy=False)
            target = [t.astype(self._compute_dtype, copy=False) for t in target]
        return (X, *target, warm)

    @staticmethod
    def _check_min_samples(X, minimum: int, name: str) -> None:
        """``ValueError`` when ``X`` has fewer rows than ``minimum`` (the value of the
        parameter ``name``, such as ``n_components``)."""
        if X.shape[0] < minimum:
            raise ValueError(f"Expected n_samples >= {name}, but got {name}={minimum}, "
                             f"n_samples={X.shape[0]}.")

    @staticmethod
    def _check_dims(value, name: str, allow_empty: bool = False) -> tuple[int, ...]:
        """Hidden widths from an int or a sequence of ints (``hidden_dims`` and its
        relatives): a tuple of positive ints, non-empty unless ``allow_empty``."""
        try:
            dims = tuple(int(h) for h in np.atleast_1d(np.asarray(value, dtype=object)))
        except (TypeError, ValueError):
            dims = None
        if (dims is None or any(h < 1 for h in dims)
                or np.asarray(value, dtype=object).ndim > 1 or (not dims and not allow_empty)):
            raise ValueError(f"{name} must hold positive ints, got {value!r}.")
        return dims

    def _check_sample_request(self, n_samples, random_state):
        """The opening of every ``sample``: fitted, ``n_samples`` a positive int (not a
        bool), and the ``RandomState`` of the draws.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``n_samples`` is not a positive int.
        """
        check_is_fitted(self)
        if (isinstance(n_samples, (bool, np.bool_))
                or not isinstance(n_samples, numbers.Integral) or n_samples < 1):
            raise ValueError(f"n_samples must be a positive int, got {n_samples!r}.")
        return int(n_samples), check_random_state(random_state)

    def _torch_generator(self, rng) -> torch.Generator:
        """A torch generator on the module's device, seeded from ``rng`` (torch's global
        random state is never used)."""
        seed = int(rng.randint(np.iinfo(np.int32).max))
        return torch.Generator(device=self._device_of_module()).manual_seed(seed)

    # ------------------------------------------------------------------ training
    def _set_standardization(self, X: np.ndarray) -> None:
        """Set ``mean_`` and ``scale_`` (per-feature, float64) from ``X``.

        With ``standardize=False`` they are zeros and ones. Constant features (a spread
        of at most 1e-12 of their mean: rounding noise) get scale 1, as in
        ``StandardScaler``, so the flow never divides by zero; features whose values are
        all tiny (1e-30, say) but vary are standardised like any other.
        """
        if self.standardize:
            mean = X.mean(axis=0, dtype=np.float64)
            # Chunks of ~2**16 values: no temporary of the data's size (X may be a memmap).
            step = max(1, 2**16 // X.shape[1])
            scale = np.sqrt(sum(np.square(X[i:i + step] - mean).sum(axis=0)
                                for i in range(0, len(X), step)) / len(X))
            scale[~(scale > 1e-12 * np.abs(mean))] = 1.0
        else:
            mean, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        self.mean_, self.scale_ = mean, scale

    def _seed(self) -> int:
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _training_config(self, seed: int, device: str) -> TrainingConfig:
        return TrainingConfig(
            max_epochs=self.max_epochs, batch_size=self.batch_size, lr=self.lr,
            weight_decay=self.weight_decay, gradient_clip=self.gradient_clip,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change, tol=self.tol, device=device,
            seed=seed, verbose=self.verbose,
        )

    #: Extra per-epoch keys that an estimator's callbacks record in the net's history
    #: and that ``history_`` carries.
    _history_keys: tuple[str, ...] = ()

    def _train(self, build_module: Callable[[], torch.nn.Module], stages, data,
               n_init: int = 1) -> None:
        """Build (or reuse, with ``warm_start``) the module and train it on ``data``.

        ``stages`` is a loss ``loss(module, **batch)``, a list of
        :class:`~skflows._training.Phase`, a :class:`~skflows._training.Stage` or a
        list of them; ``data`` an array (named ``"x"``) or a mapping of row-aligned
        named arrays, the ``"x"`` one setting the compute dtype. Both go to the one
        engine, :func:`~skflows._training.train_module`, with the optimisation settings
        of the *current* parameters (a warm start keeps the module and Adam's moments
        but obeys ``set_params``). ``build_module`` runs inside the seeded ``fork_rng``,
        so it may draw from torch's generator. With ``n_init > 1`` (and no warm start)
        the module is built and trained ``n_init`` times from different
        initialisations, with the same validation split and batch order, and the run
        with the lowest monitored metric of its last stage is kept; the first run is
        the one ``n_init=1`` gives.

        Sets ``net_``, ``history_`` (one row per recorded epoch of every fit, with
        ``epoch``, ``stage``, ``phase``, ``train_loss``, ``valid_loss``,
        ``monitored``, ``duration`` (seconds of the epoch), ``train_duration`` (of its
        training pass alone) and the estimator's ``_history_keys``) and
        ``n_iter_`` (recorded epochs of this fit, all stages). An interrupt
        (``KeyboardInterrupt``) ends the fit with the best weights so far and one
        warning; a run that used its whole epoch budget without early stopping warns
        with ``ConvergenceWarning``. Torch's and numpy's global random states are left
        untouched.
        """
        device = resolve_device(self.device)
        seed = self._seed()
        arrays = _as_arrays(data)
        dtype = torch.float64 if arrays["x"].dtype == np.float64 else torch.float32
        warm = bool(self.warm_start) and self.__sklearn_is_fitted__()
        net = self.net_ if warm else None
        n_before = len(net.history) if warm else 0
        cuda = [torch.device(device).index or 0] if device.startswith("cuda") else []
        for stale in ("n_iter_", "_failed_module"):
            if hasattr(self, stale):
                delattr(self, stale)
        n_runs = 1 if warm else int(n_init)
        init_seeds = [seed, *np.random.RandomState(seed).randint(
            np.iinfo(np.int32).max, size=n_runs - 1)]
        self._compute_dtype = str(dtype).removeprefix("torch.")
        config = self._training_config(seed, device)
        best, best_loss = None, np.inf
        for init_seed in init_seeds:
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(int(init_seed))
                module = net.module_ if warm else build_module().to(dtype=dtype)
                try:
                    run = train_module(module, stages, arrays, config, net=net)
                except FloatingPointError:
                    # Keep the restored (finite) module inspectable, but do not look
                    # fitted.
                    self._failed_module = module
                    raise
            run_loss = _monitored_minimum(run.history[n_before:])
            if best is None or run_loss < best_loss:
                best, best_loss = run, run_loss
            if run.interrupted_:
                break  # no further initialisations
        net = best
        name = type(self).__name__
        if net.interrupted_:
            epoch, stage = net.interrupted_at_
            warnings.warn(
                f"{name}.fit was interrupted during epoch {epoch} (stage {stage!r}); the "
                "model keeps the weights of the best completed epoch (or the last weights "
                "if none completed), the remaining training stages were skipped, and it is "
                "usable.", UserWarning, stacklevel=3)
        elif net.unconverged_:
            warnings.warn(
                f"{name}.fit stopped at max_epochs (stage {', '.join(net.unconverged_)}) "
                "while the monitored loss was still improving by more than tol; raise "
                "max_epochs (or tol) for a converged fit.", ConvergenceWarning,
                stacklevel=3)
        self.net_ = net
        keys = self._history_keys
        self.history_ = [
            {"epoch": int(row["epoch"]), "stage": row.get("stage"), "phase": row.get("phase"),
             "train_loss": float(row["train_loss"]),
             "valid_loss": (float(row["valid_loss"])
                            if row.get("held_out") and "valid_loss" in row else None),
             "monitored": float(row["monitored"]) if "monitored" in row else None,
             "duration": float(row["dur"]),
             "train_duration": float(row["train_dur"]),
             **{key: float(row[key]) if key in row else None for key in keys}}
            for row in net.history
        ]
        self.n_iter_ = len(net.history) - n_before

    # ------------------------------------------------------------------ inference
    def _torch_dtype(self):
        return getattr(torch, self._compute_dtype)

    def _device_of_module(self) -> torch.device:
        p = next(iter(self.module_.parameters()), None)
        return p.device if p is not None else torch.device("cpu")

    def _batched(self, fn: Callable[[torch.Tensor], torch.Tensor], X: np.ndarray,
                 out_dtype=np.float64, batch_size: int = _INFERENCE_BATCH_SIZE) -> np.ndarray:
        """Apply ``fn`` to row chunks of ``X`` without gradients; numpy out."""
        np_dtype = np.dtype(self._compute_dtype)
        device = self._device_of_module()
        module = self.module_
        module.eval()
        outs = []
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                rows = np.array(X[start:start + batch_size], dtype=np_dtype)
                chunk = torch.from_numpy(rows).to(device)
                outs.append(fn(chunk).detach().cpu().numpy())
        return np.concatenate(outs, axis=0).astype(out_dtype, copy=False)


def _monitored_minimum(history) -> float:
    """Lowest metric that early stopping watched in the last stage of a run; inf if no
    epoch completed."""
    rows = list(history)
    if not rows:
        return np.inf
    last = rows[-1].get("stage")
    values = [float(row["monitored"]) for row in rows
              if row.get("stage") == last and "monitored" in row]
    values = [v for v in values if np.isfinite(v)]
    return min(values) if values else np.inf


def validate_features(estimator, X, *, reset: bool, ensure_min_samples: int = 1):
    """The one validation of a feature array ``X`` in skflows (scikit-learn's
    ``validate_data``: numeric, finite, dense, 2-D, the fitted width), float32 kept and
    anything else made float64, rows C-ordered; when scikit-learn refuses ``X`` for
    NaN, infinity or non-numeric values, the error names the offending columns.

    Parameters
    ----------
    estimator : estimator
        The estimator whose ``n_features_in_`` / ``feature_names_in_`` are set
        (``reset=True``) or checked.
    X : array-like of shape (n_samples, n_features)
    reset : bool
        As ``validate_data``'s.
    ensure_min_samples : int, default=1

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-ordered

    Raises
    ------
    ValueError, TypeError
        scikit-learn's, with the offending columns named where they can be.
    """
    with _explained_input_errors(estimator, X):
        return validate_data(estimator, X, reset=reset, dtype=[np.float64, np.float32],
                             order="C", ensure_min_samples=ensure_min_samples)


class ConditionalDensityMixin:
    """What every conditional density estimator of ``y`` given ``X`` shares: the
    regressor tags, the target-count check, validated ``(X, y)`` pairs, ``score`` as the
    mean of ``log_prob`` and the fixed Sobol base points of the deterministic outputs.

    The class sets ``n_targets_`` and ``_y_ndim`` in ``fit`` and implements
    ``log_prob(X, y)``; ``_base_dimension()`` is the dimension of the base points.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        # ``score`` is a mean log-likelihood, not R^2: scikit-learn's "score > 0.5 after
        # training" check does not apply.
        tags.regressor_tags.poor_score = True
        return tags

    def _check_targets(self, Y: np.ndarray) -> np.ndarray:
        if Y.shape[1] != self.n_targets_:
            raise ValueError(f"y has {Y.shape[1]} target(s), but {type(self).__name__} was "
                             f"fitted with {self.n_targets_}.")
        return Y

    def _validate_pairs(self, X, y):
        check_is_fitted(self)
        X, y = self._validate_input(X, reset=False, y=y)
        return X, self._check_targets(y.reshape(len(y), -1))

    def _validate_x(self, X):
        check_is_fitted(self)
        return self._validate_input(X, reset=False)

    def _set_sobol_points(self):
        """Base points of the deterministic outputs (``predict``): a scrambled Sobol
        sequence of ``2^ceil(log2 n_predict_samples)`` points mapped to ``N(0, I)``
        (Owen-scrambled, so the points avoid the cube's faces)."""
        m = max(0, int(np.ceil(np.log2(self.n_predict_samples))))
        sobol = qmc.Sobol(self._base_dimension(), scramble=True, seed=self._seed())
        self._base_points = norm.ppf(sobol.random_base2(m))

    def score(self, X, y, sample_weight=None):
        """Mean conditional log-likelihood ``mean log p(y | x)``, nats per row (not R²).

        The (weighted) mean of :meth:`log_prob`, as ``GaussianMixture.score`` is the mean
        log-likelihood: ``GridSearchCV`` then selects the best held-out likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the mean.

        Returns
        -------
        float
            Larger is better.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input, as :meth:`log_prob`.
        """
        return float(np.average(self.log_prob(X, y), weights=sample_weight))


class DensityScoreMixin:
    """``score`` as the mean of ``score_samples``, as scikit-learn's ``BaseMixture``."""

    def score(self, X, y=None):
        """Mean log-likelihood per sample (nats), as ``GaussianMixture.score``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        float
            ``mean(score_samples(X))``.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``X`` holds NaN/inf, strings or sparse data, or has another
            number of features than the data seen in ``fit``.
        """
        return float(np.mean(self.score_samples(X)))
