"""The artifact store: a second fresh process loads what the first compiled (numba's own
cache hit counters, not timings), and bundles move artifacts to a store on another disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import workbench as wb
from workbench.compile import ArtifactStore
from workbench.compile.source import operator_module

# A notebook cell, as IPython runs it: source registered in linecache, no file on disk.
CELL = '''
import numpy as np
import workbench as wb
FACTOR = {factor}
WEIGHTS = np.array([0.5, 0.25, 0.25])

def helper(v):
    return v * FACTOR

@wb.operator
def fir(x):
    out = np.empty(x.size - 2 if x.size >= 2 else 0)
    for i in range(out.size):
        out[i] = helper(WEIGHTS[0] * x[i] + WEIGHTS[1] * x[i + 1] + WEIGHTS[2] * x[i + 2])
    return np.concatenate((out, np.zeros(x.size - out.size)))

@wb.operator(state=np.zeros(1))
def acc(x, s):
    out = np.empty_like(x)
    for i in range(x.size):
        s[0] += x[i]
        out[i] = s[0]
    return out
'''

DRIVER = '''
import json, linecache, sys, os
cell = {cell!r}
name = "<ipython-input-7-abc>"
linecache.cache[name] = (len(cell), None, cell.splitlines(True), name)
ns = {{"__name__": "__main__"}}
exec(compile(cell, name, "exec"), ns)
import numpy as np
from workbench.compile import ArtifactStore, CompiledSegment
from workbench.model.fusion import plan_segments, segments
import workbench as wb
{install}
prog = wb.sources.array(np.arange(64.0), batch_size=16) >> ns["fir"] >> ns["acc"]
seg = segments(plan_segments(prog))[0]
store = ArtifactStore(os.environ["STORE"])
cs = CompiledSegment(seg, store)
out = cs(np.arange(16.0), cs.new_states(), 0)
d = cs.dispatcher
print(json.dumps({{"hits": sum(d.stats.cache_hits.values()),
                   "misses": sum(d.stats.cache_misses.values()),
                   "out": out.tolist(), "module": cs.module, "artifacts": cs.artifacts}}))
'''


def run_cell(store, factor=2.0, install=""):
    code = DRIVER.format(cell=CELL.format(factor=factor), install=install)
    env = dict(os.environ, STORE=str(store))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_second_fresh_process_loads_the_artifact(tmp_path):
    first = run_cell(tmp_path)
    assert first["misses"] == 1 and first["hits"] == 0
    second = run_cell(tmp_path)
    assert second["hits"] == 1 and second["misses"] == 0
    assert second["out"] == first["out"]


def test_changing_a_captured_constant_changes_the_key(tmp_path):
    a = run_cell(tmp_path, factor=2.0)
    b = run_cell(tmp_path, factor=3.0)
    assert a["module"] != b["module"]
    assert b["misses"] == 1                      # no stale cache hit
    np.testing.assert_allclose(np.array(b["out"][:14]), np.array(a["out"][:14]) * 1.5)


def test_a_bundle_installed_elsewhere_is_a_cache_hit(tmp_path):
    src_root, dst_root = tmp_path / "here", tmp_path / "there"
    first = run_cell(src_root)
    store = ArtifactStore(src_root)
    files = store.bundle([first["module"]])
    assert any(k.endswith(".nbi") for k in files) and any(k.endswith(".nbc") for k in files)
    assert sum(len(v[0]) for v in files.values()) < 1_000_000   # KBs, not an image
    ArtifactStore(dst_root).install(files)
    moved = run_cell(dst_root)
    assert moved["hits"] == 1 and moved["misses"] == 0
    assert moved["out"] == first["out"]


def test_module_text_captures_globals_helpers_and_arrays(tmp_path):
    ns: dict = {"__name__": "__main__"}
    import linecache

    name = "<ipython-input-9-def>"
    cell = CELL.format(factor=2.0)
    linecache.cache[name] = (len(cell), None, cell.splitlines(True), name)
    exec(compile(cell, name, "exec"), ns)
    mt = operator_module(ns["fir"], "toolchain-x")
    assert "FACTOR = 2.0" in mt.text
    assert "def helper(v):" in mt.text and "helper = __wb_jit__(helper)" in mt.text
    assert "WEIGHTS = __wb_array__(" in mt.text and len(mt.arrays) == 1
    assert "@wb.operator" not in mt.text
    assert [o.name for o in mt.origins] == ["fir", "helper"]
    fir_origin = mt.origins[0]
    assert fir_origin.def_line == cell.splitlines().index("def fir(x):") + 1


def test_uncapturable_globals_are_refused_with_the_fix():
    class Thing:
        pass

    thing = Thing()  # noqa: F841 - captured by the closure below

    def uses_thing(x):
        return x + thing.value

    with pytest.raises(wb.CompileError, match="(?s)uses the global 'thing'.*jit=False"):
        operator_module(wb.operator(uses_thing), "t")


def test_closure_constants_are_captured():
    def make(k):
        @wb.operator
        def mul(x):
            return x * k
        return mul

    mt = operator_module(make(4.0), "t")
    assert "k = 4.0" in mt.text and textwrap.dedent(mt.text).count("def mul") == 1
    np.testing.assert_allclose(make(4.0)(np.ones(2)), [4.0, 4.0])


def test_annotations_naming_unimported_types_are_fine():
    from typing import Any

    def annotated(x: Any) -> Any:
        return x * 2.0

    np.testing.assert_allclose(wb.operator(annotated)(np.arange(3.0)), [0.0, 2.0, 4.0])


FACTOR_DEFAULT = 3.0


def test_default_values_that_read_globals_are_captured():
    def times(x, k=FACTOR_DEFAULT):
        return x * k

    np.testing.assert_allclose(wb.operator(times)(np.arange(3.0)), [0.0, 3.0, 6.0])
