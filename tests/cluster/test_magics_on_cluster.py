"""%%stream and %wb on the Dask engine (the default), in a real IPython shell."""

from __future__ import annotations

import numpy as np
import pytest
from IPython.core.error import UsageError

from tests.conftest import ipython_shell as get_ipython

DATA = np.random.default_rng(5).random(40_000)

CELL = '''
def shifted(x):
    return x + 1.0

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
                      "--placement doubled=storage --parallelism shifted=2", CELL)
    run = ip.user_ns["onc"]
    assert run.engine == "dask" and run.status == "finished"
    np.testing.assert_allclose(run.output, np.cumsum(DATA + 1.0) * 2.0)
    storage = [a for a, r in session.workers.items() if r.get("storage")]
    compute = sorted(a for a, r in session.workers.items() if r.get("compute"))
    assert run.placement["doubled"] == storage             # the hints took effect
    assert sorted(run.placement["shifted"]) == compute     # two instances, one per worker
    inst = run.instances
    assert (inst.worker == inst.planned).all()
    assert "onc [dask] finished" in capsys.readouterr().out
    ip.run_line_magic("wb", "status")
    out = capsys.readouterr().out
    assert "onc [dask] finished" in out and f"doubled on {storage[0]}" in out


def test_wb_cluster_shows_the_workers(ip, session, capsys):
    ip.run_line_magic("wb", "cluster")
    out = capsys.readouterr().out
    assert all(addr in out for addr in session.workers)
    assert "{'storage': 1}" in out and "dashboard" in out


def test_wb_cluster_connects_to_a_scheduler_address(ip, session, capsys):
    import workbench as wb

    address = session.client.scheduler.address
    ip.run_line_magic("wb", f"cluster {address}")
    out = capsys.readouterr().out
    assert "[remote]" in out and all(addr in out for addr in session.workers)
    remote = wb.cluster()                    # the connection is the current session now
    assert remote is not session and remote.kind == "remote"
    remote.close()
    assert wb.cluster() is session           # and the local one is current again


def test_wb_cluster_with_nothing_listening_is_a_usage_error(ip, session):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UsageError, match=f"no Dask scheduler answered at tcp://127.0.0.1:{port}"):
        ip.run_line_magic("wb", f"cluster tcp://127.0.0.1:{port}")


def test_wb_reconfigure_changes_a_running_cell_program(ip, session, capsys, monkeypatch):
    import functools

    import workbench as wb

    from .ops import throttled

    monkeypatch.delenv("WORKBENCH_ENGINE", raising=False)
    ip.user_ns["forever"] = wb.sources.generator(functools.partial(throttled, size=4000))
    ip.run_cell_magic("stream", "live --source forever --no-widget", CELL)
    run = ip.user_ns["live"]
    assert run.status == "running" and len(run.plan.units) == 1
    capsys.readouterr()
    rc = ip.run_line_magic("wb", "reconfigure live shifted=2 --placement total=storage "
                                 "doubled=storage --wait")
    printed = capsys.readouterr().out
    assert "switched" in printed and f"at batch {rc.switch}" in printed
    storage = [a for a, r in session.workers.items() if r.get("storage")]
    assert run.placement["total"] == storage and len(run.placement["shifted"]) == 2
    with pytest.raises(UsageError, match="nope"):                 # refused; runs on
        ip.run_line_magic("wb", "reconfigure live nope=2")
    with pytest.raises(UsageError, match="nothing to change"):
        ip.run_line_magic("wb", "reconfigure live")
    assert run.status == "running"
    run.stop()
    n = run.source_records
    read = np.concatenate([throttled(i, 4000, 0) for i in range(n // 4000)])
    np.testing.assert_allclose(run.output, np.cumsum(read + 1.0) * 2.0)
