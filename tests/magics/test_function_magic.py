"""``%%function`` and ``%wb functions`` in a real IPython shell (no cluster needed)."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

import workbench as wb
from tests.conftest import ipython_shell


@pytest.fixture
def ip():
    shell = ipython_shell()
    shell.run_line_magic("load_ext", "workbench")
    return shell


def test_function_magic_binds_a_function(ip):
    ip.run_cell_magic("function", "triple --placement storage",
                      "def triple(x):\n    return 3 * x\n")
    fn = ip.user_ns["triple"]
    assert isinstance(fn, wb.Function)
    assert (fn.name, fn.placement, fn.py_func(2)) == ("triple", "storage", 6)
    ip.run_cell_magic("function", "helper_user", "def _h(x):\n    return x\n\n"
                      "def user(x):\n    return _h(x) + 1\n")
    assert ip.user_ns["helper_user"].placement == "auto"
    assert ip.user_ns["helper_user"].py_func(1) == 2


def test_function_magic_keeps_the_cell_source_for_numba(ip):
    from workbench.compile.functions import function_module

    ip.run_cell_magic("function", "sq", "def sq(x):\n    return x * x\n")
    mt, reason = function_module(ip.user_ns["sq"].py_func, "sq")
    assert reason is None and "return x * x" in mt.text


def test_function_magic_bad_lines(ip):
    with pytest.raises(UsageError, match="--placement"):
        ip.run_cell_magic("function", "f --placment storage", "def f(x):\n    return x\n")
    with pytest.raises(UsageError, match="defines no function"):
        ip.run_cell_magic("function", "f", "x = 1\n")
    with pytest.raises(UsageError, match="'moon' is not a place"):
        ip.run_cell_magic("function", "f --placement moon", "def f(x):\n    return x\n")


def test_wb_functions_lists_them(ip, capsys):
    ip.run_cell_magic("function", "listed", "def listed(x):\n    return x\n")
    ip.run_line_magic("wb", "functions")
    out = capsys.readouterr().out
    assert "listed: placement 'auto'" in out          # no kernel here: the text view
    ip.run_line_magic("wb", "functions --text")
    assert "listed: placement 'auto'" in capsys.readouterr().out
