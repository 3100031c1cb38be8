"""The magics tier runs its programs on the local engine (in the shell's process); the
Dask engine behind %%stream is exercised in the cluster tier."""

import pytest


@pytest.fixture(autouse=True)
def local_engine(monkeypatch):
    monkeypatch.setenv("WORKBENCH_ENGINE", "local")
