"""Shared machinery of every skflows estimator: constructor parameters, input validation,
device and seed handling, the call into the training engine, and batched inference."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._training import TrainingConfig, train_module
from ._version import __version__

__all__ = ["BaseFlowEstimator", "resolve_device", "IncompatibleVersionError"]

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
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
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
    def _validate_input(self, X, *, reset: bool) -> np.ndarray:
        """The one input-validation path: numeric, finite, dense, 2-D, right width.

        Float32 stays float32; anything else (float16, ints, bools, float64) becomes
        float64. Rows come back C-ordered (a copy only for other layouts, such as the
        column-major arrays pandas hands over), so the same values give the same model
        whatever container held them.
        """
        return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                             order="C", ensure_min_samples=2 if reset else 1)

    def _validate_latent(self, Z, n_columns: int) -> np.ndarray:
        """Validate arrays of another width (latent codes) as ``PCA.inverse_transform``."""
        Z = check_array(Z, dtype=[np.float64, np.float32])
        if Z.shape[1] != n_columns:
            raise ValueError(f"Z has {Z.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {n_columns} features as input.")
        return Z

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

    def _train(self, build_module: Callable[[], torch.nn.Module], loss, X: np.ndarray,
               callbacks=(), n_init: int = 1) -> None:
        """Build (or reuse, with ``warm_start``) the module and train it on ``X``.

        ``loss`` is ``loss(module, X_batch)`` or a list of :class:`~skflows._training.Phase`;
        ``callbacks`` are extra ``(name, skorch Callback)`` pairs for method-specific
        behaviour. Both go to the one engine, :func:`~skflows._training.train_module`.
        With ``n_init > 1`` (and no warm start) the module is built and trained
        ``n_init`` times from different initialisations, with the same validation split
        and batch order, and the run with the lowest monitored loss (the loss early
        stopping watches) is kept; the first run is the one ``n_init=1`` gives.

        Sets ``net_``, ``history_`` and ``n_iter_``. Torch's and numpy's global random
        states are left untouched: everything random happens inside ``fork_rng`` from a
        seed drawn from ``random_state``.
        """
        device = resolve_device(self.device)
        seed = self._seed()
        dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        warm = self.warm_start and self.__sklearn_is_fitted__()
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
        best, best_loss = None, np.inf
        for init_seed in init_seeds:
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(int(init_seed))
                module = net.module_ if warm else build_module().to(dtype=dtype)
                try:
                    run = train_module(module, loss, X, self._training_config(seed, device),
                                       net=net, callbacks=callbacks)
                except FloatingPointError:
                    # Keep the restored (finite) module inspectable, but do not look
                    # fitted.
                    self._failed_module = module
                    raise
            run_loss = _monitored_minimum(run.history[n_before:])
            if best is None or run_loss < best_loss:
                best, best_loss = run, run_loss
            if any("train_loss" not in row for row in run.history):
                break  # interrupted (KeyboardInterrupt): no further initialisations
        net = best
        # An epoch cut short by KeyboardInterrupt (skorch stops training and keeps the
        # best weights so far) leaves a history row without a train loss: drop it.
        complete = [row for row in net.history if "train_loss" in row]
        if len(complete) < len(net.history):
            del net.history[len(complete):]
            warnings.warn(
                f"{type(self).__name__}.fit was interrupted during epoch "
                f"{len(complete) + 1}; the model keeps the weights of the best completed "
                "epoch (or the last weights if none completed) and is usable.",
                UserWarning, stacklevel=3)
        self.net_ = net
        self.history_ = [
            {"epoch": int(row["epoch"]), "train_loss": float(row["train_loss"]),
             "valid_loss": float(row["valid_loss"]) if "valid_loss" in row else None,
             "duration": float(row["dur"])}
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
    """Lowest loss that early stopping watched in a run (``monitored_loss`` with
    phases, else ``valid_loss``, else ``train_loss``); inf if no epoch completed."""
    values = []
    for row in history:
        for key in ("monitored_loss", "valid_loss", "train_loss"):
            if key in row and row[key] is not None:
                values.append(float(row[key]))
                break
    values = [v for v in values if np.isfinite(v)]
    return min(values) if values else np.inf
