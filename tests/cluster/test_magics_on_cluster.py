"""%%stream and %wb on the Dask engine (the default), in a real IPython shell."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ipython_shell as get_ipython

DATA = np.random.default_rng(5).random(40_000)

CELL = '''
@wb.operator(state=np.zeros(1))
def total(x, state):
    out = np.empty_like(x)
    for i in range(x.size):
        state[0] += x[i]
        out[i] = state[0]
    return out

def doubled(x):
    return x * 2.0
'''


@pytest.fixture(scope="module")
def ip(session):
    import workbench as wb

    shell = get_ipython()
    shell.run_line_magic("load_ext", "workbench")
    shell.user_ns.update(data=DATA, np=np, wb=wb)
    return shell


def test_stream_runs_on_the_cluster_with_hints(ip, session, capsys, monkeypatch):
    monkeypatch.delenv("WORKBENCH_ENGINE", raising=False)
    ip.run_cell_magic("stream", "onc --source data --batch-size 4000 "
                      "--placement doubled=storage --parallelism total=1", CELL)
    run = ip.user_ns["onc"]
    assert run.engine == "dask" and run.status == "finished"
    np.testing.assert_allclose(run.output, np.cumsum(DATA) * 2.0)
    storage = [a for a, r in session.workers.items() if r.get("storage")]
    assert run.placement["doubled"] == storage
    assert "onc [dask] finished" in capsys.readouterr().out
    ip.run_line_magic("wb", "status")
    out = capsys.readouterr().out
    assert "onc [dask] finished" in out and f"doubled on {storage[0]}" in out


def test_wb_cluster_shows_the_workers(ip, session, capsys):
    ip.run_line_magic("wb", "cluster")
    out = capsys.readouterr().out
    assert all(addr in out for addr in session.workers)
    assert "{'storage': 1}" in out and "dashboard" in out
