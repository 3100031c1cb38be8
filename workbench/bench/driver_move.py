"""Moving the compile driver: what it costs, and that the moved driver makes the same artifact.

The seed thesis (a relocatable compile driver in a container) names image size as the
drawback: moving the driver to another node means moving its image. These functions
measure that with real Docker and real numba, each returning a tidy
:class:`pandas.DataFrame` (notebook ``01_container_compile``):

- :func:`image_sizes`: the driver image (``workbench containers build --driver``) and the
  full image, ``docker image inspect`` Size;
- :func:`compile_side_by_side`: a cold compile of the benchmark programs
  (:mod:`workbench.bench.ops`) in a fresh process on the host vs a fresh process in a
  container of the driver image, the same measuring code
  (:func:`workbench.bench.compile.worker`), each on an empty store, alternating order;
- :func:`first_batch`: a fresh worker's first batch without the artifact (it compiles)
  vs with the artifact the driver container compiled (numba cache hit);
- :func:`move`: ``docker save | gzip``, then "another node": the image is removed from the
  engine (``docker rmi``) and loaded back from the gzip file (a second engine is not
  available on one machine; after the ``rmi`` no layer of it is left to reuse), the first
  container start, and a compile by the moved driver, compared with the one before the
  move and with the host's.

Artifact identity: numba's compiled-code files (``.nbc``) are not byte-reproducible, not
even between two compiles on the host into the same path: symbol names in the object code
and bitcode carry the address of a Python object (``__numba_array_expr_0x7f0d80bbb890``).
:func:`fingerprint` is therefore what the artifact store and numba key on: the module
names (``wb_<hash of source and toolchain>`` in the toolchain's directory), the module
text and captured arrays (bytes), and numba's index (``.nbi``) decoded: numba's version,
the source stamp, and per entry the signature, target (triple, CPU, features) and the hash
of the function's bytecode. :func:`identity` reports that, the ``.nbc`` byte equality, and
:func:`move` adds whether a fresh host process loads the artifact (a numba cache hit) and
computes the same output.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PROGRAMS = ("scale+mean4+running_sum", "fir")


def require_docker() -> Any:
    """The docker client, or a RuntimeError that says how to get an engine."""
    from ..containers import engine

    why = engine.unavailable()
    if why:
        raise RuntimeError(f"this measurement needs a Docker engine: {why}\nFix: start one "
                           "(`dockerd &` as root, or `sudo systemctl start docker`), then "
                           "run again.")
    return engine.client()


def images(build: bool = True) -> dict[str, str]:
    """``{"driver": tag, "full": tag}`` for this host's toolchain (built when missing;
    ``$WORKBENCH_DRIVER_IMAGE`` / ``$WORKBENCH_IMAGE`` pin them)."""
    from ..containers import image

    require_docker()
    return {k: image.ensure(kind=k, build_missing=build) for k in ("driver", "full")}


# --- what an artifact is ---------------------------------------------------------------------

def _index_digest(data: bytes) -> str:
    """Hash of a numba index file decoded: version, source stamp, and its entries' keys
    (signature, target triple/CPU/features, bytecode hash) -> data file names."""
    import io

    import numba  # noqa: F401 - the signatures are numba types

    f = io.BytesIO(data)
    version = pickle.load(f)
    stamp, overloads = pickle.loads(f.read())
    entries = sorted((repr(k), v) for k, v in overloads.items())
    return hashlib.sha256(repr((version, stamp, entries)).encode()).hexdigest()


def artifact_files(root: str, names: list[str]) -> dict[str, bytes]:
    """The artifact of modules ``names`` in the store at ``root``: what
    :meth:`~workbench.compile.ArtifactStore.bundle` moves, less CPython's own ``.pyc``."""
    from ..compile import ArtifactStore

    files = ArtifactStore(root).bundle(names)
    return {rel: data for rel, (data, _) in files.items() if not rel.endswith(".pyc")}


def fingerprint(root: str, names: list[str]) -> dict[str, str]:
    """``{relpath: digest}``: module text, arrays and numba cache contents (see the module
    docstring), keyed by path relative to the toolchain directory."""
    out = {}
    for rel, data in sorted(artifact_files(root, names).items()):
        if rel.endswith(".nbi"):
            out[rel] = _index_digest(data)
        elif not rel.endswith(".nbc"):
            out[rel] = hashlib.sha256(data).hexdigest()
    return out


def identity(a: tuple[str, list[str]], b: tuple[str, list[str]]) -> dict[str, Any]:
    """Two artifacts ``(root, names)`` compared: same module names and files, same module
    text, same numba index, the :func:`fingerprint` as a whole, and how many of numba's
    compiled-code files are byte-identical (numba does not reproduce them)."""
    fa, fb = fingerprint(*a), fingerprint(*b)
    ra, rb = artifact_files(*a), artifact_files(*b)
    text = [k for k in fa if k.endswith((".py", ".npy"))]
    nbi = [k for k in fa if k.endswith(".nbi")]
    nbc = [k for k in ra if k.endswith(".nbc")]
    return {"same_names": sorted(a[1]) == sorted(b[1]), "same_files": set(ra) == set(rb),
            "same_module_text": all(fa[k] == fb.get(k) for k in text),
            "same_numba_index": all(fa[k] == fb.get(k) for k in nbi),
            "same_fingerprint": fa == fb,
            "nbc_files": len(nbc), "nbc_byte_identical": sum(ra[k] == rb.get(k) for k in nbc),
            "artifact_bytes": sum(len(v) for v in ra.values())}


# --- compiling ---------------------------------------------------------------------------------

def _program(name: str, batch_size: int = 4096) -> Any:
    import numpy as np

    from .ops import PROGRAMS as P

    return P[name](np.random.default_rng(0).random(batch_size), batch_size=batch_size)


def driver_compile(drv: Any, program: str) -> dict[str, Any]:
    """What the engine's preflight does with the docker driver: write the modules into the
    store here, dry-run batch 0 in the container (numba compiles there)."""
    from ..compile import CompiledSegment
    from ..model.fusion import plan_segments, segments
    from ..runtime.preflight import dry_run

    prog = _program(program)
    nodes = plan_segments(prog)
    arts = {s.name: CompiledSegment(s, drv.store).art for s in segments(nodes)}
    names = [n for a in arts.values() for n in a.names]
    t = time.perf_counter()
    counts = drv.call(dry_run, nodes, arts, prog.source.batch(0), names=names)
    return {"names": names, "client_s": time.perf_counter() - t,
            "inside_s": drv.last_seconds, "counts": counts}


def _driver(tag: str, root: str) -> Any:
    from ..compile import ArtifactStore
    from ..compile.docker_driver import DockerDriver

    return DockerDriver(ArtifactStore(root), image=tag).start()


def _container(tag: str, base: str, sid: str) -> Any:
    """A long-lived container of ``tag`` (``sleep infinity``) with ``base`` mounted."""
    from ..containers import engine

    return engine.client().containers.run(
        tag, ["sleep", "infinity"], detach=True, init=True, name=f"wb-move-{sid}",
        user=engine.host_user(), volumes={base: {"bind": base, "mode": "rw"}},
        labels=engine.labels(sid, "bench"))


def _in_container(ctr: Any, root: str, program: str) -> dict[str, Any]:
    from .containers import _in_container as measure

    return measure(ctr, root, program, module="workbench.bench.compile")


def compile_side_by_side(tag: str, programs: tuple[str, ...] = PROGRAMS[:1],
                         reps: int = 3) -> Any:
    """Cold compile, host vs the driver image: one row per (program, rep, where)."""
    import pandas as pd

    from ..containers import engine
    from .compile import spawn

    require_docker()
    base = tempfile.mkdtemp(prefix="wb-move-compile-")
    sid = uuid.uuid4().hex[:10]
    rows = []
    try:
        ctr = _container(tag, base, sid)
        for rep in range(reps):
            for program in programs:
                order = ("host", "container") if rep % 2 == 0 else ("container", "host")
                for where in order:
                    root = os.path.join(base, f"{where}-{rep}-{program}")
                    r = spawn(root, program) if where == "host" else \
                        _in_container(ctr, root, program)
                    rows.append({"program": program, "rep": rep, "where": where,
                                 "compile_ms": r["first_ms"], "setup_ms": r["setup_ms"],
                                 "numba_warm_ms": r["warm_ms"], "misses": r["misses"],
                                 "artifact_bytes": sum(len(v) for v in artifact_files(
                                     root, r["segments"]).values()),
                                 "checksum": r["checksum"]})
    finally:
        engine.cleanup(session=sid)
        shutil.rmtree(base, ignore_errors=True)
    return pd.DataFrame(rows)


def first_batch(tag: str, programs: tuple[str, ...] = PROGRAMS[:1], reps: int = 3) -> Any:
    """A fresh worker (a new numba-warm Python on the host) runs the first batch: on an
    empty store (it compiles) vs on the store the driver container compiled into (it loads
    the artifact). One row per (program, rep, artifact)."""
    import pandas as pd

    from .compile import spawn

    require_docker()
    rows = []
    base = tempfile.mkdtemp(prefix="wb-move-first-")
    try:
        for rep in range(reps):
            for program in programs:
                shipped = os.path.join(base, f"driver-{rep}-{program}")
                drv = _driver(tag, shipped)
                try:
                    made = driver_compile(drv, program)
                finally:
                    drv.close()
                cold = spawn(os.path.join(base, f"empty-{rep}-{program}"), program)
                warm = spawn(shipped, program)
                size = sum(len(v) for v in artifact_files(shipped, made["names"]).values())
                for label, r in (("none (compiles)", cold), ("from the driver", warm)):
                    rows.append({"program": program, "rep": rep, "artifact": label,
                                 "first_batch_ms": r["first_ms"], "hits": r["hits"],
                                 "misses": r["misses"], "artifact_bytes": size,
                                 "checksum": r["checksum"]})
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return pd.DataFrame(rows)


def image_sizes(tags: dict[str, str], artifact_bytes: int | None = None) -> Any:
    """One row per image: Size on disk (``docker image inspect``), and its ratio to an
    artifact's bytes when given."""
    import pandas as pd

    c = require_docker()
    rows = []
    for kind, tag in tags.items():
        attrs = c.images.get(tag).attrs
        size = int(attrs["Size"])
        rows.append({"image": kind, "tag": tag, "size_bytes": size, "size_mb": size / 1e6,
                     "layers": len(attrs.get("RootFS", {}).get("Layers", [])),
                     "image_per_artifact": size / artifact_bytes if artifact_bytes else None})
    return pd.DataFrame(rows)


# --- moving the driver ------------------------------------------------------------------------

def _shell(cmd: str) -> float:
    t = time.perf_counter()
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"`{cmd}` failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.perf_counter() - t


def _start_and_compile(tag: str, root: str, program: str) -> tuple[float, dict]:
    """Start a driver of ``tag`` on ``root``, compile ``program`` in it, stop it: its start
    time and the compile's record."""
    drv = _driver(tag, root)
    try:
        return drv.started_s, driver_compile(drv, program)
    finally:
        drv.close()


def move(tag: str, program: str = PROGRAMS[0], workdir: str | None = None) -> tuple[Any, Any]:
    """Move the driver image as a file and compile with it "on the other node".

    Steps, each timed: the driver compiles ``program`` (before the move); ``docker save |
    gzip``; ``docker rmi`` (the engine has no layer of it left); ``gunzip | docker load``;
    the first container start (the compile driver created, started and answering); the moved
    driver compiles the same program into a new store; a fresh host process compiles it
    too. Returns ``(steps, identity)``: steps one row per step (seconds, bytes), identity one
    row per comparison (after vs before, after vs host) from :func:`identity`, plus whether
    a fresh host process loads the moved driver's artifact without compiling.
    """
    import pandas as pd

    from .compile import spawn

    c = require_docker()
    work = Path(workdir or tempfile.mkdtemp(prefix="wb-move-"))
    work.mkdir(parents=True, exist_ok=True)
    gz = work / "driver-image.tar.gz"
    roots = {k: str(work / k) for k in ("before", "after", "host", "host2")}
    steps = []
    image_id = c.images.get(tag).id
    try:
        started, before = _start_and_compile(tag, roots["before"], program)
        steps.append(("driver start (before)", started, None))
        steps.append(("compile in the driver (before)", before["inside_s"], None))
        s = _shell(f"docker save {tag} | gzip > {gz}")
        steps.append(("docker save | gzip", s, gz.stat().st_size))
        t = time.perf_counter()
        c.images.remove(tag)            # fails while a container uses it: nothing half-done
        steps.append(("docker rmi", time.perf_counter() - t, None))
        if any(i.id == image_id for i in c.images.list()):
            raise RuntimeError(f"{tag} is still on the engine under another name; the load "
                               "would reuse its layers")
        s = _shell(f"gunzip -c {gz} | docker load")
        steps.append(("gunzip | docker load", s, c.images.get(tag).attrs["Size"]))
        started, after = _start_and_compile(tag, roots["after"], program)
        steps.append(("first container start (driver ready)", started, None))
        steps.append(("compile in the moved driver", after["inside_s"], None))
        host = spawn(roots["host"], program)
        steps.append(("compile on the host (fresh process)", host["first_ms"] / 1e3, None))
        spawn(roots["host2"], program)      # the baseline: numba compiling twice on the host
        loads = spawn(roots["after"], program)     # a worker loads the moved driver's artifact
        names = after["names"]
        ident = [{"comparison": label, **identity((roots[a], names), (roots[b], names))}
                 for label, a, b in (("moved driver vs before the move", "after", "before"),
                                     ("moved driver vs host", "after", "host"),
                                     ("host vs host (baseline)", "host2", "host"))]
        for row in ident:
            row["same_names"] = row["same_names"] and sorted(before["names"]) == sorted(names)
            row["host_loads_moved"] = loads["hits"] > 0 and loads["misses"] == 0
            row["same_output"] = loads["checksum"] == host["checksum"]
    finally:
        if not any(tag in i.tags for i in c.images.list()) and gz.exists():
            _shell(f"gunzip -c {gz} | docker load")     # never leave the engine without it
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    df = pd.DataFrame(steps, columns=["step", "seconds", "bytes"])
    df["mb"] = df["bytes"] / 1e6
    return df, pd.DataFrame(ident)
