"""``workbench containers build | status | clean`` against the real engine."""

from __future__ import annotations

import subprocess
import sys
import uuid

from workbench.containers import engine


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench.cli", "containers", *args],
                          capture_output=True, text=True, timeout=300)


def test_build_prints_the_tag_of_this_hosts_image(image):
    from workbench.containers.image import image_tag

    out = cli("build")               # the tests' image is there: the same inputs, same tag
    assert out.returncode == 0, out.stderr
    tag = image_tag()
    assert out.stdout.strip() == tag, (out.stdout, out.stderr[-2000:])
    assert f"built {tag} (" in out.stderr, out.stderr[-2000:]


def test_status_names_the_engine_and_this_hosts_image(image):
    out = cli("status")
    assert out.returncode == 0, out.stderr
    assert "engine: Docker" in out.stdout and "image:" in out.stdout


def test_clean_removes_a_sessions_leftovers(image):
    sid = uuid.uuid4().hex[:10]
    c = engine.client()
    net = c.networks.create(f"wb-{sid}", labels=engine.labels(sid, "network"))
    ctr = c.containers.create(image, ["sleep", "60"], labels=engine.labels(sid, "worker"),
                              network=net.name)
    out = cli("clean", "--session", sid)
    assert out.returncode == 0, out.stderr
    assert "removed 1 container(s), 1 network(s)" in out.stdout
    flt = {"label": f"{engine.LABEL}.session={sid}"}
    assert c.containers.list(all=True, filters=flt) == [] and c.networks.list(filters=flt) == []
    assert ctr.id and net.id


def test_containers_of_a_dead_process_are_reaped(image):
    import socket

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()                                       # its pid now names no process
    sid = uuid.uuid4().hex[:10]
    labels = dict(engine.labels(sid, "worker"),
                  **{f"{engine.LABEL}.owner": f"{socket.gethostname()}:{proc.pid}"})
    c = engine.client()
    c.containers.create(image, ["sleep", "60"], labels=labels)
    assert engine.reap_orphans()["containers"] >= 1
    assert c.containers.list(all=True, filters={"label": f"{engine.LABEL}.session={sid}"}) == []
