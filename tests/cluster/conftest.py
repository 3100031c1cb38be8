"""The cluster tier: one real local Dask cluster (2 compute workers, 1 storage worker, on
loopback) for the whole session."""

from __future__ import annotations

import pytest

import workbench as wb


@pytest.fixture(scope="session")
def session():
    s = wb.cluster(compute=2, storage=1)
    yield s
    s.close()
