"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread. The body prior's first call in a process can take
    seconds with two threads on a loaded 2-core machine; one thread avoids that."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
