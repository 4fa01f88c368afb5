"""The scikit-learn surface of every estimator, and the documentation pages that use it.

Every estimator of :data:`skflows._testing.FAST_PARAMS` is swept (``fit_target`` gives
the ``y`` of the conditional ones), so an estimator added there is covered:

* model selection: ``GridSearchCV`` with its default scoring works wherever ``score``
  exists; the outlier detector has no ``score`` and is tuned with ``scoring="roc_auc"``
  on labelled rows, or through its flow's likelihood and a ``FrozenEstimator``;
* output names: every estimator with ``transform`` has ``get_feature_names_out`` and
  returns DataFrames after ``set_output(transform="pandas")``, alone and in a pipeline;
* input errors: NaN, infinity and non-numeric columns are refused with a message that
  names the columns (index, and name for a DataFrame), in ``fit`` and in every per-row
  method; ``y`` keeps scikit-learn's messages; the search for the columns does not copy
  a large memmap.

The last part runs the ``.. code-block:: python`` blocks of the quick start and of every
user-guide page, in order, in one namespace per page, exactly as written.
(ConvergenceWarning and ``verbose`` are tested in ``test_base.py`` and
``test_progress.py``.)
"""

import re
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_outlier_detector
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skflows
from skflows._testing import FAST_PARAMS, SUPERVISED, fit_target

NAMES = sorted(FAST_PARAMS)
TRANSFORMERS = [name for name in NAMES if hasattr(getattr(skflows, name), "transform")]
#: Methods that take data rows X and validate them.
ROW_METHODS = ("score_samples", "decision_function", "predict", "predict_proba",
               "transform", "reconstruction_error", "predict_quantiles", "predict_interval")
N_FEATURES = 3
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def make(name, **params):
    return getattr(skflows, name)(**{**FAST_PARAMS[name], **params})


def fit(est, X):
    """``est.fit(X)``, with the sweeps' target for a conditional estimator."""
    return est.fit(X, fit_target(type(est).__name__, X))


def data(n=80, d=N_FEATURES, seed=0):
    rng = np.random.RandomState(seed)
    return rng.normal(size=(n, d)) @ rng.uniform(0.5, 1.5, size=(d, d))


def frame(X, index_start=100):
    """``X`` as a DataFrame with named columns and an index that is not 0..n-1."""
    return pd.DataFrame(X, columns=COLUMNS[:X.shape[1]],
                        index=pd.RangeIndex(index_start, index_start + len(X)))


@pytest.fixture(scope="module")
def fitted():
    """One estimator per name fitted on an array (read-only use)."""
    return {name: fit(make(name), data()) for name in NAMES}


# ------------------------------------------------------------------------ model selection
def test_the_sweep_covers_transformers_and_the_detector():
    assert {"FlowDensity", "ManifoldFlow", "DeepArchetypes", "CWAutoencoder"} <= \
        set(TRANSFORMERS)
    assert not hasattr(skflows.FlowOutlierGenerator, "score")


@pytest.mark.parametrize("name", NAMES)
def test_default_grid_search_works_wherever_score_exists(name):
    X = data()
    y = fit_target(name, X)
    est = make(name)
    grid = {"max_epochs": [1, 2]}
    if not hasattr(est, "score"):
        # Outlier detectors have no score, as in scikit-learn; a search needs a scoring.
        assert is_outlier_detector(est)
        with pytest.raises(TypeError, match="score"):
            GridSearchCV(est, grid, cv=2).fit(X, y)
        return
    search = GridSearchCV(est, grid, cv=2, error_score="raise").fit(X, y)
    assert search.best_params_["max_epochs"] in (1, 2)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.__sklearn_is_fitted__()


def _labelled_detection_data():
    """Training rows (clean), and a validation set of inliers (+1) and outliers (-1)."""
    rng = np.random.RandomState(0)
    X_train = data(120)
    X_val = np.vstack([data(40, seed=1), rng.uniform(6, 9, size=(12, N_FEATURES))
                       * rng.choice([-1, 1], size=(12, N_FEATURES))])
    y_val = np.r_[np.ones(40), -np.ones(12)]
    return X_train, X_val, y_val


@pytest.mark.parametrize("outlier_label", [-1, 0])
def test_outlier_detector_is_tuned_by_roc_auc_on_a_labelled_validation_set(outlier_label):
    X_train, X_val, y_val = _labelled_detection_data()
    y_val = np.where(y_val > 0, 1, outlier_label)
    X_all = np.vstack([X_train, X_val])
    y_all = np.r_[np.ones(len(X_train)), y_val]
    fold = np.r_[np.full(len(X_train), -1), np.zeros(len(X_val))]
    det = make("FlowOutlierGenerator")
    search = GridSearchCV(det, {"method": ["shell", "extreme"]}, scoring="roc_auc",
                          cv=PredefinedSplit(fold), refit=False, error_score="raise")
    search.fit(X_all, y_all)
    # The score of each candidate is the ROC-AUC of decision_function on the
    # validation rows of a detector fitted on the training rows only.
    for params, score in zip(search.cv_results_["params"],
                             search.cv_results_["mean_test_score"]):
        manual = clone(det).set_params(**params).fit(X_train)
        assert score == pytest.approx(roc_auc_score(y_val, manual.decision_function(X_val)))
    assert search.best_score_ > 0.5  # far outliers: better than chance


def test_outlier_detector_with_a_flow_tuned_by_likelihood_and_frozen():
    X_train, X_val, y_val = _labelled_detection_data()
    flow_search = GridSearchCV(make("FlowDensity"), {"n_layers": [1, 2]}, cv=2,
                               error_score="raise").fit(X_train)
    best_flow = flow_search.best_estimator_
    frozen = FrozenEstimator(best_flow)
    det = make("FlowOutlierGenerator", flow_estimator=frozen)
    before = best_flow.score_samples(X_val)
    det.fit(X_train)
    assert det.flow_ is best_flow  # used as is, not refitted
    np.testing.assert_array_equal(best_flow.score_samples(X_val), before)
    # Cloned (as a search does), the frozen flow stays the same fitted object.
    assert clone(det).fit(X_train).flow_ is best_flow
    assert np.isfinite(det.decision_function(X_val)).all()


# ---------------------------------------------------------------------- output names
@pytest.mark.parametrize("name", TRANSFORMERS)
def test_feature_names_out_name_the_transform_columns(name, fitted):
    est = fitted[name]
    Z = est.transform(data(5))
    names = est.get_feature_names_out()
    expected = [f"{name.lower()}{i}" for i in range(Z.shape[1])]
    np.testing.assert_array_equal(names, expected)
    assert names.dtype == object
    with pytest.raises(NotFittedError):
        make(name).get_feature_names_out()


@pytest.mark.filterwarnings("error:X does not have valid feature names")
@pytest.mark.parametrize("name", NAMES)
def test_dataframes_fit_and_score_without_feature_name_warnings(name):
    """A DataFrame in ``fit`` and in every per-row method: no warning about feature
    names (the training scores behind ``offset_`` come from the validated array)."""
    X = data()
    est = fit(make(name), frame(X))
    np.testing.assert_array_equal(est.feature_names_in_, COLUMNS)
    for method in [m for m in ROW_METHODS if hasattr(est, m)]:
        getattr(est, method)(frame(X[:5]))


@pytest.mark.filterwarnings("error:X does not have valid feature names")
@pytest.mark.parametrize("name", TRANSFORMERS)
def test_pandas_output_alone_and_in_a_pipeline(name):
    X = data()
    est = fit(make(name), frame(X))
    reference = est.transform(frame(X))
    assert isinstance(reference, np.ndarray)
    out = est.set_output(transform="pandas").transform(frame(X))
    assert isinstance(out, pd.DataFrame)
    np.testing.assert_array_equal(out.columns, est.get_feature_names_out())
    np.testing.assert_array_equal(out.index, frame(X).index)
    np.testing.assert_array_equal(out.to_numpy(), reference)
    # fit_transform obeys set_output too.
    refit = make(name).set_output(transform="pandas").fit_transform(frame(X),
                                                                    fit_target(name, X))
    assert isinstance(refit, pd.DataFrame)
    np.testing.assert_array_equal(refit.to_numpy(), reference)
    # In a pipeline: the scaler hands a DataFrame on, the estimator names its columns.
    pipe = make_pipeline(StandardScaler(), make(name)).set_output(transform="pandas")
    piped = pipe.fit(frame(X), fit_target(name, X)).transform(frame(X))
    assert isinstance(piped, pd.DataFrame)
    np.testing.assert_array_equal(piped.columns, pipe.get_feature_names_out())
    np.testing.assert_array_equal(piped.columns, est.get_feature_names_out())
    np.testing.assert_array_equal(pipe[-1].feature_names_in_, COLUMNS)
    # The other outputs stay arrays.
    for method in ("score_samples", "inverse_transform"):
        if hasattr(est, method):
            arg = reference if method == "inverse_transform" else frame(X)
            assert isinstance(getattr(est, method)(arg), np.ndarray), method


# ---------------------------------------------------------------------- input errors
def _with(X, column, value, rows=(7, 11)):
    X = np.array(X, dtype=np.float64)
    X[list(rows), column] = value
    return X


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "infinity"),
                                       (-np.inf, "infinity")])
def test_non_finite_input_names_the_column(name, bad, word, fitted):
    X = _with(data(), 1, bad)
    array_message = rf"Input X contains {word} in column 1 \(2 rows\)"
    frame_message = rf"Input X contains {word} in column 'f1' \(index 1, 2 rows\)"
    remedy = "SimpleImputer"
    with pytest.raises(ValueError, match=array_message) as error:
        fit(make(name), X)
    assert remedy in str(error.value) and "drop the rows" in str(error.value)
    with pytest.raises(ValueError, match=frame_message):
        fit(make(name), frame(X))
    est = fitted[name]
    methods = [m for m in ROW_METHODS if hasattr(est, m)]
    assert methods
    for method in methods:
        with pytest.raises(ValueError, match=array_message):
            getattr(est, method)(X)


def test_several_bad_columns_are_listed_and_counted():
    est = make("FlowDensity")
    X = _with(_with(data(), 0, np.nan, rows=(3,)), 2, np.inf, rows=(4, 5, 6))
    with pytest.raises(ValueError, match=r"NaN in column 'f0' \(index 0, 1 row\) and "
                                         r"infinity in column 'f2' \(index 2, 3 rows\)"):
        est.fit(frame(X))
    wide = data(40, d=20)
    wide[0, ::2] = np.nan
    with pytest.raises(ValueError, match=r"NaN in columns 0 \(1 row\), 2 \(1 row\), .*"
                                         r"14 \(1 row\) and 2 more\."):
        est.fit(wide)


@pytest.mark.parametrize("name", NAMES)
def test_non_numeric_columns_are_named(name, fitted):
    X = frame(data())
    strings = X.assign(f1=["a", "b"] * (len(X) // 2))
    with pytest.raises(ValueError, match=r"non-numeric column 'f1' \(index 1, dtype "
                                         r".*\), which .* cannot convert") as error:
        fit(make(name), strings)
    assert "could not convert string to float" in str(error.value)  # scikit-learn's cause
    both = strings.assign(f2=pd.Categorical(["u", "v"] * (len(X) // 2)))
    with pytest.raises(ValueError, match=r"columns 'f1' \(index 1, .*\), 'f2' "
                                         r"\(index 2, dtype category\)"):
        fit(make(name), both)
    array = strings.to_numpy(dtype=object)
    with pytest.raises(ValueError, match=r"non-numeric column 1 \(value 'a'\)"):
        fit(make(name), array)
    est = fitted[name]
    for method in [m for m in ROW_METHODS if hasattr(est, m)]:
        with pytest.raises(ValueError, match=r"non-numeric column 1 \(value 'a'\)"):
            getattr(est, method)(array)


def test_dates_are_named_and_numbers_stored_as_objects_are_accepted():
    est = make("FlowDensity")
    X = frame(data())
    dates = X.assign(f2=pd.date_range("2020-01-01", periods=len(X)))
    with pytest.raises(TypeError, match=r"non-numeric column 'f2' \(index 2, dtype "
                                        r"datetime64.*\).*convert"):
        est.fit(dates)
    # Numbers in an object column are numbers: scikit-learn converts them.
    est.fit(X.astype(object))
    # A missing value of a nullable integer column is a NaN.
    nullable = X.assign(f0=pd.array([1, None] * (len(X) // 2), dtype="Int64"))
    with pytest.raises(ValueError, match=r"NaN in column 'f0' \(index 0, 40 rows\)"):
        est.fit(nullable)


def test_other_errors_and_the_target_keep_scikit_learns_messages():
    est = make("FlowDensity")
    with pytest.raises(ValueError, match="Expected 2D array"):
        est.fit(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="Complex data not supported"):
        est.fit(data().astype(complex))
    with pytest.raises(TypeError, match="Sparse data"):
        from scipy import sparse
        est.fit(sparse.csr_matrix(_with(data(), 0, np.nan)))
    for name in SUPERVISED:
        X = data()
        y = fit_target(name, X)
        y[3] = np.nan
        with pytest.raises(ValueError, match=r"^Input y contains NaN\.$"):
            make(name).fit(X, y)
        with pytest.raises(ValueError, match="could not convert"):
            make(name).fit(X, np.array(["a"] * len(X), dtype=object))


def test_finding_the_bad_columns_does_not_copy_a_memmap(tmp_path):
    """The columns are searched in row chunks, after scikit-learn's own check: no
    temporary of the data's size (scikit-learn's check allocates one boolean per
    value, an eighth of the data)."""
    n, d = 200_000, 10  # 16 MB of float64
    path = tmp_path / "X.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    X[:] = 0.0
    X[n - 5, 7] = np.nan
    X.flush()
    del X
    mapped = np.load(path, mmap_mode="r")
    est = make("FlowDensity")
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"NaN in column 7 \(1 row\)"):
            est.fit(mapped)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < mapped.nbytes / 4, peak


# ---------------------------------------------------------------------- documentation
DOCS = Path(__file__).resolve().parent.parent / "docs"
#: Pages whose code runs here: the quick start and every user-guide page.
PAGES = ["quickstart.rst"] + sorted(
    f"user_guide/{p.name}" for p in (DOCS / "user_guide").glob("*.rst"))
#: Pages without code (a table of contents and prose).
NO_CODE = {"user_guide/index.rst"}

_BLOCK = re.compile(r"^\.\. code-block:: python\n((?:[ \t]*\n|   .*\n)+)", re.MULTILINE)


def code_blocks(text: str) -> list[str]:
    """The ``.. code-block:: python`` blocks of a reST page, dedented, in order."""
    return [textwrap.dedent(block) for block in _BLOCK.findall(text)]


def test_code_blocks_are_extracted_whole():
    text = ("Intro\n\n.. code-block:: python\n\n   a = 1\n\n   b = a + 1   # two\n\n"
            "Prose.\n\n.. code-block:: python\n\n   c = b * 3\n")
    blocks = code_blocks(text)
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, "page", "exec"), namespace)
    assert namespace["c"] == 6


@pytest.mark.parametrize("page", PAGES)
def test_documentation_code_runs_as_written(page, tmp_path, monkeypatch):
    """The page's code blocks, in order, in one namespace, in a scratch directory
    (they save files); each page's examples are sized to run in a few seconds."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = code_blocks((DOCS / page).read_text(encoding="utf-8"))
    if page in NO_CODE:
        assert not blocks
        return
    assert blocks, f"{page} has no code block"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    try:
        for i, block in enumerate(blocks):
            exec(compile(block, f"{page}, code block {i + 1}", "exec"), namespace)
    finally:
        plt.close("all")
