"""Existing code on the real local cluster (2 compute, 1 storage worker): ``wb.remote`` of
modules, functions and a C library, ``wb.offload``, errors and crashes that come back,
expression trees; and ``@wb.function`` bodies numba cannot compile, run as plain Python."""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
import zlib

import numpy as np
import pytest

import workbench as wb
from tests.pure.test_jit_precheck import (
    loop,
    with_dict_comprehension,
    with_fractions,
    with_fstring,
    with_generator,
    with_generator_expression,
    with_import,
    with_json,
    with_set_comprehension,
    with_try,
    with_try_as,
)

MODULE = '''
import time


def square(x):
    return x * x


def fail(x):
    if x >= 2:
        raise ValueError(f"no square for {x}")
    return x


def slow_add(a, b, delay):
    time.sleep(delay)
    return a + b
'''

CHUNKS = '''
import zlib

import numpy as np


def checksums(data, size):
    return [zlib.crc32(data[i:i + size]) for i in range(0, len(data), size)]


def norms(rows):
    return [float(np.linalg.norm(r)) for r in rows]
'''

C_SOURCE = r'''
#include <stddef.h>
double dot(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
void scale(double *x, size_t n, double k) {
    for (size_t i = 0; i < n; i++) x[i] *= k;
}
int boom(void) {
    volatile int *p = NULL;
    return *p;
}
'''


def _module(tmp_path_factory, text: str, stem: str):
    """A module file outside the installed packages, importable here (its directory on
    this process's sys.path) but not on the workers."""
    d = tmp_path_factory.mktemp("remote-mod")
    name = f"{stem}_{uuid.uuid4().hex[:8]}"
    (d / f"{name}.py").write_text(textwrap.dedent(text))
    sys.path.insert(0, str(d))
    try:
        return __import__(name), str(d)
    finally:
        sys.path.remove(str(d))


@pytest.fixture(scope="module")
def mymod(tmp_path_factory):
    return _module(tmp_path_factory, MODULE, "wbt_remote")


@pytest.fixture(scope="module")
def clib(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (apt install gcc)")
    d = tmp_path_factory.mktemp("clib")
    (d / "tiny.c").write_text(C_SOURCE)
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(d / "libtiny.so"),
                    str(d / "tiny.c")], check=True)
    lib = ctypes.CDLL(str(d / "libtiny.so"))
    vec = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
    lib.dot.argtypes = [vec, vec, ctypes.c_size_t]
    lib.dot.restype = ctypes.c_double
    lib.scale.argtypes = [ctypes.POINTER(ctypes.c_double), ctypes.c_size_t, ctypes.c_double]
    lib.scale.restype = None
    lib.boom.argtypes = []
    lib.boom.restype = ctypes.c_int
    return lib


# --- @wb.function bodies numba cannot compile ---------------------------------------------

@pytest.mark.parametrize("func,args,construct", [
    (with_import, (9.0,), "an import statement"),
    (with_generator, (5,), "yield"),
    (with_generator_expression, (5,), "a generator expression"),
    (with_try, (0,), "except ZeroDivisionError"),
    (with_try_as, (0,), "as exc"),
    (with_fstring, (2.5,), "an f-string"),
    (with_dict_comprehension, (6,), "a dict comprehension"),
    (with_set_comprehension, (7,), "a set comprehension"),
    (with_json, (3,), "json.dumps"),
    (with_fractions, (1, 2), "fractions.Fraction"),
])
def test_function_bodies_numba_cannot_compile_run_as_python(session, func, args, construct):
    fn = wb.function(func, placement="compute")
    assert construct in fn.jit_reason                  # decided before the first call
    assert fn(*args).result() == func(*args)
    many = fn.map(*[[a] * 3 for a in args]).result()
    assert list(many) == [func(*args)] * 3
    assert fn.jit is False and construct in fn.jit_reason


def test_a_body_numba_compiles_still_compiles(session):
    fn = wb.function(loop, placement="compute")
    x = np.arange(10.0)
    assert fn(x).result() == loop(x)
    assert fn.jit is True and fn.jit_reason is None


# --- wb.remote: modules, functions ------------------------------------------------------------

def test_a_module_that_is_not_installed_travels_with_the_call(session, mymod):
    mod, where = mymod
    on_path = session.client.run(lambda d: d in sys.path, where)
    assert not any(on_path.values())                  # the workers cannot import it
    rm = wb.remote(mod, placement="compute")
    assert rm.square(7).result() == 49
    got = rm.square.map(np.arange(200)).result()
    assert got.tolist() == [i * i for i in range(200)]
    assert rm.square.jit is False and "never compiled" in rm.square.jit_reason
    loaded = session.client.run(lambda n: n in sys.modules, mod.__name__)
    assert sum(loaded.values()) >= 1                  # loaded there, and kept


def test_an_installed_package_goes_by_name_and_is_never_replaced(session):
    # workbench itself is installed (pip -e here): its modules are imported by name on the
    # workers, never shipped or re-imported from a copy (a worker runs on that package)
    from workbench.runtime.functions.targets import module_code
    from workbench.workloads import chunks

    assert module_code(chunks) is None
    rm = wb.remote(chunks, placement="compute")
    assert rm.generated(1, 0, 100).result() == chunks.generated(1, 0, 100)
    copies = session.client.run(
        lambda: getattr(sys.modules["workbench"], "__wb_digest__", None))
    assert set(copies.values()) == {None}
    run = (wb.sources.array(np.arange(4096.0), batch_size=1024) >> _double).run().wait()
    assert np.array_equal(run.output, np.arange(4096.0) * 2)   # the stream engine still runs


@wb.operator
def _double(x):
    return x * 2.0


def test_a_function_and_a_builtin(session, mymod):
    mod, _ = mymod
    assert wb.remote(math.hypot, placement="compute")(3, 4).result() == 5.0
    assert wb.remote(mod.square, placement="storage")(5).result() == 25
    crc = wb.remote(zlib.crc32, placement="compute")
    chunks = [bytes([i]) * 100 for i in range(20)]
    assert crc.map(chunks).result().tolist() == [zlib.crc32(c) for c in chunks]


def test_remote_exceptions_keep_their_type_and_name_the_worker(session, mymod):
    mod, _ = mymod
    rm = wb.remote(mod, placement="compute")
    with pytest.raises(ValueError, match="no square for 3") as info:
        rm.fail(3).result()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "remote function 'fail'" in notes and "on worker tcp://127.0.0.1:" in notes
    assert "remote traceback" in notes and 'raise ValueError(f"no square for {x}")' in notes
    with pytest.raises(ValueError) as info:
        rm.fail.map([0, 1, 2, 1]).result()
    assert "(call 2 of a map)" in "\n".join(info.value.__notes__)


# --- a C library --------------------------------------------------------------------------------

def test_a_c_library_with_numpy_arrays(session, clib):
    rl = wb.remote(clib, placement="compute", outputs={"scale": (0,)})
    rng = np.random.default_rng(1)
    a, b = rng.random(1000), rng.random(1000)
    assert rl.dot(a, b, a.size).result() == pytest.approx(float(a @ b))
    A, B = rng.random((50, 16)), rng.random((50, 16))
    got = rl.dot.map(A, B, 16).result()
    assert np.allclose(got, (A * B).sum(axis=1))
    x = np.arange(5.0)
    assert rl.scale(x, x.size, 3.0).result().tolist() == [0.0, 3.0, 6.0, 9.0, 12.0]
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]     # the caller's copy is its own
    libs = session.client.run(lambda: __import__(
        "workbench.runtime.functions.targets", fromlist=["x"]).loaded_libraries())
    assert any(clib._name in v for v in libs.values())   # loaded once, kept


def test_a_c_function_without_argtypes_is_refused(session, clib):
    lib = ctypes.CDLL(clib._name)                        # a fresh handle: nothing declared
    with pytest.raises(wb.GraphError, match="(?s)declares no argtypes.*Fix: e.g. lib.dot.argtypes"):
        _ = wb.remote(lib).dot


# --- wb.offload -----------------------------------------------------------------------------

def test_offload_runs_unmodified_code_on_the_cluster(session, tmp_path_factory):
    chunks, _ = _module(tmp_path_factory, CHUNKS, "wbt_chunks")
    data = np.random.default_rng(2).integers(0, 255, 20_000, dtype=np.uint8).tobytes()
    rows = np.random.default_rng(3).random((12, 30))
    want_crc, want_norms = chunks.checksums(data, 1000), chunks.norms(rows)
    original = zlib.crc32
    with wb.offload("zlib.crc32", "numpy.linalg.norm", placement="compute") as off:
        assert zlib.crc32 is not original
        got_crc, got_norms = chunks.checksums(data, 1000), chunks.norms(rows)
    assert zlib.crc32 is original and np.linalg.norm.__name__ == "norm"
    assert got_crc == want_crc and got_norms == want_norms
    assert off.calls == {"zlib.crc32": 20, "numpy.linalg.norm": 12}
    with pytest.raises(RuntimeError, match="inside"):
        with wb.offload("zlib.crc32"):
            raise RuntimeError("inside")
    assert zlib.crc32 is original                        # restored on error too


# --- expression trees ---------------------------------------------------------------------

def test_an_expression_tree_runs_its_subtrees_concurrently(session, mymod):
    mod, _ = mymod
    rm = wb.remote(mod, placement="compute")
    assert rm.slow_add(rm.slow_add(1, 2, 0), 3, 0).result() == 6     # futures as arguments
    d = 0.4
    tree = rm.slow_add.lazy(rm.slow_add.lazy(1, 2, d), rm.slow_add.lazy(3, 4, d), d)
    assert tree.local() == 10
    run = tree.submit()
    assert run.result() == 10
    nodes = run.nodes
    assert len(nodes) == 3 and nodes["worker"].notna().all()
    leaves = nodes[nodes["depth"] == 1]
    assert leaves["worker"].nunique() == 2                 # on different workers
    first, second = leaves.sort_values("start").itertuples()
    assert second.start < first.stop                       # at the same time
    root = nodes[nodes["depth"] == 0].iloc[0]
    assert root["start"] >= leaves["stop"].max()
    cp = run.critical_path()
    assert cp["path"] == ["slow_add", "slow_add"]
    assert cp["critical_s"] < cp["serial_s"] and cp["speedup_bound"] > 1.2


# --- a crash (last: it costs a worker, which the nanny restarts) --------------------------

def test_a_segfault_is_a_named_error_and_the_worker_comes_back(session, clib):
    before = set(session.client.scheduler_info()["workers"])
    rl = wb.remote(clib, placement="compute")
    t = time.monotonic()
    with pytest.raises(wb.RemoteCrash, match=r"remote function 'boom' \(libtiny.so:boom\) "
                                             r"crashed worker tcp://") as info:
        rl.boom().result(timeout=120)
    print(f"RemoteCrash after {time.monotonic() - t:.2f} s")
    assert info.value.worker in before
    deadline = time.monotonic() + 60
    while len(session.client.scheduler_info()["workers"]) < len(before):
        assert time.monotonic() < deadline, "the nanny did not bring the worker back"
        time.sleep(0.2)
    x = np.arange(4.0)
    assert rl.dot(x, x, 4).result(timeout=60) == 14.0     # later calls work
