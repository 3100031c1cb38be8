"""The notebooks tier: each test gets the "Python 3 (workbench)" kernelspec's name."""

from __future__ import annotations

import pytest

from tests.conftest import workbench_kernel


@pytest.fixture(scope="module")
def kernel() -> str:
    return workbench_kernel()
