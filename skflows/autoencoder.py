"""CWAutoencoder: the Cramér-Wold autoencoder behind the scikit-learn transformer API."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from skorch.callbacks import Callback
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import BaseFlowEstimator
from ._training import Stage
from .metrics import cw_normality_index, silverman_gamma
from .nn import Autoencoder, feedforward_net

__all__ = ["CWAutoencoder"]

#: Rows of the training set on which ``cw_index_`` is evaluated (as the paper's protocol).
_INDEX_ROWS = 2000

_TERMS = ("train_reconstruction", "train_cw_index", "valid_reconstruction", "valid_cw_index")


class CramerWoldCost:
    """Training cost of a batch: ``rec + lambda * log(CW)`` or ``rec + lambda * CW``.

    ``rec`` is the mean over the batch of the per-row sum of squared errors (in
    standardised units) and ``CW`` the Cramér-Wold normality index of the batch's codes
    with kernel variance ``gamma`` (the CWAE cost of Knop et al. 2020). The two
    terms of the last call are kept in ``last_terms`` for the history.

    Parameters
    ----------
    cost : {"log_product", "sum"}
        ``"log_product"``: ``rec + lambda * log CW`` (the published cost, the log of
        ``exp(rec) * CW^lambda``); ``"sum"``: ``rec + lambda * CW``.
    lambda_ : float
        Weight of the CW term.
    gamma : float
        Kernel variance of the CW index.
    """

    def __init__(self, cost: str, lambda_: float, gamma: float):
        self.cost = cost
        self.lambda_ = float(lambda_)
        self.gamma = float(gamma)
        self.last_terms = None

    def __call__(self, module: Autoencoder, x: torch.Tensor) -> torch.Tensor:
        z, squared_error = module(x)
        rec = squared_error.mean()
        cw = cw_normality_index(z, gamma=self.gamma)
        if self.cost == "log_product":
            penalty = torch.log(cw.clamp_min(torch.finfo(cw.dtype).tiny))
        else:
            penalty = cw
        self.last_terms = (rec.detach(), cw.detach(), len(x))
        return rec + self.lambda_ * penalty

    def __getstate__(self):
        state = self.__dict__.copy()
        state["last_terms"] = None  # tensors of the last batch, maybe on a GPU
        return state


class LossTerms(Callback):
    """Record the epoch means of both cost terms in the skorch history:
    ``train_reconstruction``, ``train_cw_index``, ``valid_reconstruction``,
    ``valid_cw_index`` (row-weighted means over the epoch's mini-batches)."""

    def on_epoch_begin(self, net, **kwargs):
        self._totals = {True: np.zeros(3), False: np.zeros(3)}

    def on_batch_end(self, net, training=False, **kwargs):
        terms = getattr(net.loss, "last_terms", None)
        if terms is None:
            return
        rec, cw, n = terms
        self._totals[bool(training)] += (float(rec) * n, float(cw) * n, n)

    def on_epoch_end(self, net, **kwargs):
        for training, prefix in ((True, "train"), (False, "valid")):
            rec, cw, n = self._totals[training]
            if n:
                net.history.record(f"{prefix}_reconstruction", rec / n)
                net.history.record(f"{prefix}_cw_index", cw / n)


class CWAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseFlowEstimator):
    """Cramér-Wold autoencoder: an autoencoder whose decoder generates from ``N(0, I)``.

    A deterministic autoencoder whose latent is pushed to ``N(0, I)``, so that its
    decoder is a generator.

    An encoder ``z = e(x)`` and a decoder ``x = d(z)`` (dense ReLU networks) minimise,
    per mini-batch ``X`` of ``n`` rows::

        cost = (1/n) sum_i ||x_i - d(e(x_i))||^2 + lambda_ * log d_cw^2(e(X), N(0, I))

    (``cost="log_product"``; the cost of Knop et al. 2020), where ``d_cw^2`` is the
    Cramér-Wold normality index of the batch's codes (:func:`skflows.metrics.cw_normality_index`):
    the average over directions of the squared L2 distance between the kernel-smoothed
    1-D projections of the codes and of ``N(0, I)``, in closed form. No sampling, no
    adversary, no encoder variance. The log makes the penalty scale-free in ``d_cw^2`` (a
    constant factor only shifts the cost), but the reconstruction term is a sum over the
    features, so the best ``lambda_`` still depends on the data: choose it on validation
    data (``history_`` holds the validation reconstruction error of every epoch).
    ``cost="sum"`` uses ``lambda_ * d_cw^2`` instead. After fitting,
    :meth:`sample` decodes draws from ``N(0, I)``.

    Read more in the :ref:`user guide <cw_autoencoder>`.

    Parameters
    ----------
    n_components : int, default=8
        Dimension of the latent space.
    encoder_hidden_dims : int or tuple of int, default=(200, 200, 200)
        Hidden widths of the encoder (the paper's MNIST encoder is 3 x 200).
    decoder_hidden_dims : int or tuple of int, default=(200, 200, 200)
        Hidden widths of the decoder.
    cost : {"log_product", "sum"}, default="log_product"
        ``"log_product"``: reconstruction + ``lambda_ * log d_cw^2`` (the published
        CWAE); ``"sum"``: reconstruction + ``lambda_ * d_cw^2``.
    lambda_ : float >= 0, default=1.0
        Weight of the Cramér-Wold term (the paper uses 1 for MNIST, 5 for CelebA, 10 for
        Fashion-MNIST; 0 gives a plain autoencoder of the same architecture). Larger
        values give a more normal latent at some cost in reconstruction: in
        ``benchmarks/bench_cwae.py`` (8-D codes), 0.1 on the 64-pixel optdigits and 3 on
        784-pixel MNIST digits keep the reconstruction error within 5 % of a plain
        autoencoder's, while 1 costs 37 % on optdigits.
    output_activation : {"linear", "sigmoid"}, default="linear"
        Activation of the decoder's last layer. ``"sigmoid"`` bounds reconstructions to
        ``(0, 1)`` and is meant for data in ``[0, 1]`` (pixel intensities) with
        ``standardize=False``.
    standardize : bool, default=True
        Standardise each feature with the training mean and standard deviation before the
        encoder (the decoder output is mapped back). The training cost is then measured
        in standardised units. Set False for images, where nearly constant border
        pixels would otherwise be blown up.
    max_epochs : int, default=100
        Maximum number of passes over the training data.
    batch_size : int, default=128
        Mini-batch size. A model hyperparameter, not only a speed knob: the CW term is
        computed per mini-batch with the kernel variance
        ``gamma_ = (4 / (3 min(batch_size, n_samples)))^(2/5)`` (Silverman's rule, as in
        the paper), and its finite-sample floor shrinks as ``1 / batch_size``. The last
        mini-batch of an epoch is smaller unless ``batch_size`` divides the number of
        training rows; it uses the same ``gamma_`` (its CW estimate is noisier).
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        Adam weight decay (L2 penalty).
    gradient_clip : float or None, default=5.0
        Clip the gradient's global norm to this value; None disables clipping.
    validation_fraction : float in [0, 1), default=0.1
        Fraction of the training rows held out for early stopping (monitoring the
        validation cost). With 0 the training cost is monitored.
    n_iter_no_change : int, default=10
        Stop after this many epochs without an improvement of at least ``tol``; the
        weights of the best epoch are restored.
    tol : float, default=1e-4
        Minimum improvement of the monitored cost.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, the validation split, shuffling and the rows of
        ``cw_index_``. With an int and ``device="cpu"`` two fits are identical. The
        global torch and numpy random states are never used or changed.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar with the loss.
    warm_start : bool, default=False
        Continue training the fitted nets (weights and optimizer state) on the next call
        to ``fit``; the architecture and standardisation of the first fit are kept.

    Attributes
    ----------
    gamma_ : float
        Kernel variance of the CW term in the training cost.
    cw_index_ : float
        CW normality index (:func:`~skflows.metrics.cw_normality_index`, default
        bandwidth) of the codes of at most 2000 training rows drawn at random (the
        paper's evaluation protocol uses subsets of 2000 rows). Its floor for a true
        ``N(0, I)`` sample of 2000 rows is about ``4.7e-4``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X is a DataFrame with string names).
    mean_, scale_ : ndarray of shape (n_features_in_,)
        Standardisation applied before the encoder (zeros and ones if
        ``standardize=False``).
    history_ : list of dict
        One row per epoch of every fit: ``epoch``, ``stage``, ``phase``, ``train_loss``,
        ``valid_loss`` (the cost), ``monitored`` (what early stopping watched),
        ``train_reconstruction``, ``valid_reconstruction`` (mean per-row sum of squared
        errors, standardised units), ``train_cw_index``, ``valid_cw_index`` (mean CW
        index of the mini-batches' codes, with ``gamma_``) and ``duration`` (seconds);
        ``valid_*`` entries are None without a validation split.
    n_iter_ : int
        Number of epochs run by the last ``fit``.
    net_ : skorch.NeuralNet
        The private training net.
    module_ : skflows.nn.Autoencoder
        The trained encoder and decoder.

    See Also
    --------
    sklearn.decomposition.PCA : The linear autoencoder; with ``whiten=True`` its latent
        is also standardised.
    skflows.metrics.cw_normality_index : The normality index used in the cost.

    Notes
    -----
    There is no ``score_samples``: the model defines no density. ``score(X)`` is minus
    the mean reconstruction error, so that model selection tools maximise it; it ignores
    how normal the latent is (check ``cw_index_`` or ``history_`` for that).

    The compute dtype follows ``X`` at fit time (float32 data train in float32);
    ``transform`` and ``inverse_transform`` return the dtype of their input. If the
    training cost becomes non-finite, fitting stops with :class:`FloatingPointError`
    (weights restored to finite values) and the estimator is not fitted.

    The Cramér-Wold index is evaluated with an accurate ``1F1(1/2; D/2; -s)`` in every
    latent dimension, not with the reference code's approximation (31 % off at
    ``D = 2``, which biases the optimal latent scale below 1 in low dimension).

    References
    ----------
    .. [1] S. Knop, P. Spurek, J. Tabor, I. Podolak, M. Mazur, S. Jastrzębski.
       Cramer-Wold Auto-Encoder. JMLR 21 (2020), 1-28 (the Cramer-Wold distance, the
       model and its cost, the MNIST architecture).
    .. [2] S. Knop, J. Tabor, P. Spurek, I. Podolak, M. Mazur, S. Jastrzębski.
       Cramer-Wold AutoEncoder. arXiv:1805.09235, 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skflows import CWAutoencoder
    >>> X = load_digits().data / 16.0
    >>> est = CWAutoencoder(n_components=2, encoder_hidden_dims=(32,),
    ...                     decoder_hidden_dims=(32,), max_epochs=3,
    ...                     standardize=False, random_state=0).fit(X)
    >>> est.transform(X[:5]).shape
    (5, 2)
    >>> est.sample(3, random_state=0).shape
    (3, 64)
    """

    #: Per-epoch cost terms recorded by :class:`LossTerms`, carried into ``history_``.
    _history_keys = _TERMS

    _parameter_constraints: dict = {
        **BaseFlowEstimator._parameter_constraints,
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "encoder_hidden_dims": ["array-like", Interval(numbers.Integral, 1, None,
                                                       closed="left")],
        "decoder_hidden_dims": ["array-like", Interval(numbers.Integral, 1, None,
                                                       closed="left")],
        "cost": [StrOptions({"log_product", "sum"})],
        "lambda_": [Interval(numbers.Real, 0, None, closed="left")],
        "output_activation": [StrOptions({"linear", "sigmoid"})],
        "standardize": ["boolean"],
    }

    def __init__(
        self,
        n_components=8,
        encoder_hidden_dims=(200, 200, 200),
        decoder_hidden_dims=(200, 200, 200),
        cost="log_product",
        lambda_=1.0,
        output_activation="linear",
        standardize=True,
        *,
        max_epochs=100,
        batch_size=128,
        lr=1e-3,
        weight_decay=0.0,
        gradient_clip=5.0,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.n_components = n_components
        self.encoder_hidden_dims = encoder_hidden_dims
        self.decoder_hidden_dims = decoder_hidden_dims
        self.cost = cost
        self.lambda_ = lambda_
        self.output_activation = output_activation
        self.standardize = standardize
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.gradient_clip = gradient_clip
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the encoder and decoder by minimising the CWAE cost.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 data train in float32, anything else in float64.
            Needs at least 2 rows.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : CWAutoencoder
            The fitted estimator.

        Raises
        ------
        ValueError
            On invalid input (NaN/inf, sparse, complex, strings, fewer than 2 rows) or
            invalid parameters, or an unavailable ``device``.
        FloatingPointError
            If the training cost diverges (weights are restored to finite values).
        """
        X, warm = self._fit_start(X)
        encoder_dims = self._check_dims(self.encoder_hidden_dims, "encoder_hidden_dims")
        decoder_dims = self._check_dims(self.decoder_hidden_dims, "decoder_hidden_dims")
        if not warm:
            self._set_standardization(X)
            self._n_features_out = int(self.n_components)
        d, k = X.shape[1], self._n_features_out
        shift = torch.from_numpy(self.mean_)
        scale = torch.from_numpy(self.scale_)

        def build():
            return Autoencoder(
                feedforward_net(d, k, encoder_dims),
                feedforward_net(k, d, decoder_dims, self.output_activation),
                shift=shift, scale=scale)

        self.gamma_ = silverman_gamma(min(self.batch_size, len(X)))
        loss = CramerWoldCost(self.cost, self.lambda_, self.gamma_)
        self._train(build, Stage(loss, callbacks=[("loss_terms", LossTerms())]), X)

        rng = np.random.RandomState(self._seed())
        rows = (X if len(X) <= _INDEX_ROWS
                else X[np.sort(rng.choice(len(X), _INDEX_ROWS, replace=False))])
        self.cw_index_ = float(cw_normality_index(self._batched(self.module_.encode, rows)))
        return self

    def transform(self, X):
        """Encode: map data to latent codes ``z = e(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data, in the units of the training data.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            Latent codes, in the dtype of ``X``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, sparse, strings, wrong number of features).
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        return self._batched(self.module_.encode, X, out_dtype=X.dtype)

    def inverse_transform(self, Z):
        """Decode: map latent codes to data space, ``x = d(z)``.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_components)
            Latent codes (for example from :meth:`transform`, or draws from ``N(0, I)``).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            Decoded points in the units of the training data, in the dtype of ``Z``.

        Raises
        ------
        ValueError
            If ``Z`` does not have ``n_components`` columns or is not finite.
        """
        check_is_fitted(self)
        Z = self._validate_latent(Z, self._n_features_out)
        return self._batched(self.module_.decode, Z, out_dtype=Z.dtype)

    def reconstruction_error(self, X):
        """Squared reconstruction error of each row, ``||x - d(e(x))||^2``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data, in the units of the training data.

        Returns
        -------
        error : ndarray of shape (n_samples,), float64
            Sum over features of squared errors, in squared units of ``X`` (not
            standardised).

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``X`` holds NaN/inf, strings or sparse data, or has another
            number of features than the data seen in ``fit``.
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        module = self.module_
        return self._batched(lambda x: (module.decode(module.encode(x)) - x).square().sum(-1),
                             X)

    def score(self, X, y=None):
        """Minus the mean squared reconstruction error (higher is better).

        Not a log-likelihood: a CWAE defines no density. The normality of the latent
        does not enter (see ``cw_index_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data, in the units of the training data.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        float
            ``-mean(reconstruction_error(X))``.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``X`` holds NaN/inf, strings or sparse data, or has another
            number of features than the data seen in ``fit``.
        """
        return -float(np.mean(self.reconstruction_error(X)))

    def sample(self, n_samples=1, random_state=None):
        """Generate data by decoding draws ``z ~ N(0, I)``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seeds the latent draws (a fresh stream per call when None, as
            ``KernelDensity.sample``). Torch's global random state is not used.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            Samples in the units of the training data, in the compute dtype.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``n_samples`` is not a positive integer.
        """
        n_samples, rng = self._check_sample_request(n_samples, random_state)
        gen = self._torch_generator(rng)
        z = torch.randn(n_samples, self._n_features_out, generator=gen,
                        dtype=self._torch_dtype(), device=self._device_of_module())
        module = self.module_
        module.eval()
        with torch.no_grad():
            return module.decode(z).cpu().numpy()
