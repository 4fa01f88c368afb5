import numpy as np
import pytest
import torch

from skflows.nn import lwta_flow


@pytest.fixture(autouse=True)
def _isolated_torch_rng():
    """Each test starts from the same torch global state and leaves it unchanged."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


def pytest_configure(config):
    # Two cores on CI: avoid oversubscription between pytest and torch's thread pool.
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def tiny_lwta_flow():
    """Factory of tiny random (LWTA) flows, 2 stochastic layers, perturbed away from the
    identity so that the mixture members differ; enumerable with ``log_prob_exact``.

    ``make(d, seed=0, scale=0.7, hidden_dims=(4, 6), n_blocks=None)``: with the defaults,
    2 blocks x 2 competitors per layer (16 members); ``n_blocks=1`` next to ReLU units
    gives 4 members.
    """
    def make(d, seed=0, scale=0.7, hidden_dims=(4, 6), n_blocks=None):
        torch.manual_seed(seed)
        flow = lwta_flow(d, n_layers=2, hidden_dims=hidden_dims, n_competitors=2,
                         n_bins=4, tail_bound=4.0, permutation="reverse",
                         n_blocks=n_blocks).double()
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in flow.parameters():
                p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
        return flow.eval()
    return make


@pytest.fixture
def contaminated_gaussian():
    """Factory of a contaminated training set: ``make(seed, n=500, fraction=0.1)`` gives
    standard-normal inliers with a tight cluster of anomalies at (2.5, 2.5) among the
    ``n`` training rows, and a labelled test set from the same two laws (200 inliers,
    50 anomalies; 1: inlier, 0: anomaly): ``(X, X_test, y_test)``."""
    def make(seed, n=500, fraction=0.1):
        rng = np.random.RandomState(seed)
        n_out = int(fraction * n)
        cluster = np.array([2.5, 2.5])
        X = np.vstack([rng.randn(n - n_out, 2), cluster + 0.15 * rng.randn(n_out, 2)])
        X_test = np.vstack([rng.randn(200, 2), cluster + 0.15 * rng.randn(50, 2)])
        return X, X_test, np.r_[np.ones(200), np.zeros(50)]
    return make
