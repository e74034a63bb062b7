import os

import numpy as np
import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test, excluded by default (run with -m slow)")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
