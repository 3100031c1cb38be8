"""``wb.function`` and ``%%function``'s plain function, without a cluster."""

from __future__ import annotations

import numpy as np
import pytest

import workbench as wb
from workbench.compile.functions import function_module
from workbench.errors import CellError
from workbench.notebook.function_cell import function_cell


def test_decorator_forms() -> None:
    @wb.function
    def a(x):
        return x

    @wb.function(placement="storage", name="bee")
    def b(x):
        return x

    assert isinstance(a, wb.Function) and a.placement == "auto"
    assert (b.name, b.placement, b.py_func(3)) == ("bee", "storage", 3)
    assert a.with_placement("compute").placement == "compute"


def test_bad_placement_is_refused_with_the_choices() -> None:
    with pytest.raises(wb.PlacementError, match="auto.*storage.*compute.*worker address"):
        wb.function(placement="nowhere")(len)


def test_function_cell_binds_the_named_function() -> None:
    ns: dict = {}
    cell = "def helper(x):\n    return x + 1\n\ndef twice(x):\n    return 2 * helper(x)\n"
    fn = function_cell("twice", cell, ns, placement="storage")
    assert ns["twice"] is fn and fn.py_func(1) == 4 and fn.placement == "storage"
    fn = function_cell("other", cell, ns)
    assert fn.name == "other" and fn.py_func(1) == 4      # the top-level, unused one


def test_function_cell_errors() -> None:
    with pytest.raises(CellError, match="defines no function"):
        function_cell("f", "x = 1\n", {})
    with pytest.raises(CellError, match="not a Python name"):
        function_cell("1f", "def f(x):\n    return x\n", {})


def test_module_for_numba_or_a_reason() -> None:
    def annotated(x: SomethingUnbound) -> int:  # noqa: F821 - annotations stay text
        return x + 1

    mt, reason = function_module(annotated, "annotated")
    assert reason is None and mt.text.startswith("from __future__ import annotations")
    table = {"a": 1}

    def uses_dict(k):
        return table[k]

    mt, reason = function_module(uses_dict, "uses_dict")
    assert mt is None and "function 'uses_dict'" in reason and "dict" in reason


def test_map_arguments_travel_in_pieces_only_when_large() -> None:
    from workbench.runtime.functions.batch import split_args
    from workbench.runtime.functions.dispatch import PIECE_BYTES, _piece_calls

    small = split_args("f", (np.arange(1000.0),))[1]
    assert _piece_calls(small) == 0                       # one task per worker
    rows = np.zeros((100, 100_000))                       # 800 KB a call, 80 MB in all
    assert _piece_calls(split_args("f", (rows,))[1]) == PIECE_BYTES // 800_000
    huge = np.zeros((3, 2_000_000))                       # 16 MB a call: one per piece
    assert _piece_calls(split_args("f", (huge,))[1]) == 1
    lists = split_args("f", ([b"x" * 2**20] * 8,))[1]     # objects: measured by sizeof
    assert 1 <= _piece_calls(lists) <= 4
