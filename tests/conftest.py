import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_torch_rng():
    """Each test starts from the same torch global state and leaves it unchanged."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


def pytest_configure(config):
    # Two cores on CI: avoid oversubscription between pytest and torch's thread pool.
    torch.set_num_threads(min(2, torch.get_num_threads()))
