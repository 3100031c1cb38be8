"""``%wb cluster docker`` in a real IPython shell starts the container cluster."""

from __future__ import annotations

from tests.conftest import ipython_shell
from workbench.containers import engine
from workbench.runtime.cluster import current


def test_wb_cluster_docker(image, capsys):
    ip = ipython_shell()
    ip.run_line_magic("load_ext", "workbench")
    ip.run_line_magic("wb", "cluster docker")
    out = capsys.readouterr().out
    assert "[docker] 3 workers" in out and "tls://" in out
    session = current()
    assert session.kind == "docker"
    sid = session.cluster.session_id
    session.close()
    flt = {"label": f"{engine.LABEL}.session={sid}"}
    assert engine.client().containers.list(all=True, filters=flt) == []
