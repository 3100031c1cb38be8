"""``%%stream`` and ``%wb`` in a real IPython shell (no mocks), with real numba compiles."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError

import workbench as wb
from tests.conftest import ipython_shell as get_ipython
from workbench.notebook import runs, stream_cell

DATA = np.random.default_rng(7).random(8000)


@pytest.fixture(scope="module")
def ip():
    shell = get_ipython()
    shell.run_line_magic("load_ext", "workbench")
    shell.user_ns.update(data=DATA, np=np, wb=wb,
                         df=pd.DataFrame({"price": DATA, "qty": np.arange(DATA.size)}))
    return shell


def cell(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


OPS = cell("""
    import numpy as np
    import workbench as wb

    def scale(x):
        return x * 2.0

    @wb.operator(consumes=4, produces=1)
    def mean4(x):
        return x.reshape(-1, 4).sum(axis=1) / 4.0
    """)


def reference(x):
    return (x * 2.0).reshape(-1, 4).sum(axis=1) / 4.0


# --- programs -------------------------------------------------------------------------
def test_plain_functions_are_chained_behind_source(ip):
    ip.run_cell_magic("stream", "prog --source data --batch-size 1000 --no-widget", OPS)
    run = ip.user_ns["prog"]
    assert run.status == "finished"
    assert run.pipeline.stage_names == ("scale", "mean4")
    np.testing.assert_allclose(run.output, reference(DATA))


def test_helpers_are_not_chained(ip):
    text = cell("""
        def _offset():
            return 1.0

        def twice(v):
            return v * 2.0

        def shift(x):
            return twice(x) + _offset()
        """)
    ip.run_cell_magic("stream", "helped --source data --batch-size 1000 --no-widget", text)
    run = ip.user_ns["helped"]
    assert run.pipeline.stage_names == ("shift",)
    np.testing.assert_allclose(run.output, DATA * 2.0 + 1.0)


def test_source_defined_in_the_cell(ip):
    text = cell("""
        def make(i):
            return np.full(8, float(i))

        src = wb.sources.generator(make, batches=2)

        def scale(x):
            return x * 2.0
        """)
    ip.run_cell_magic("stream", "fromcell --source src --no-widget", text)
    run = ip.user_ns["fromcell"]
    assert run.pipeline.stage_names == ("scale",)
    np.testing.assert_allclose(run.output, np.repeat([0.0, 2.0], 8))


def test_last_expression_pipeline_is_the_program(ip):
    text = OPS + "\ndef unused(x):\n    return x\n\nwb.sources.array(data, 500) >> mean4 >> scale\n"
    ip.run_cell_magic("stream", "piped --no-widget", text)
    run = ip.user_ns["piped"]
    assert run.pipeline.stage_names == ("mean4", "scale")
    np.testing.assert_allclose(run.output, reference(DATA))


def test_stateful_operator(ip):
    text = cell("""
        @wb.operator(state=np.zeros(1))
        def running_sum(x, state):
            out = np.empty_like(x)
            for i in range(x.size):
                state[0] += x[i]
                out[i] = state[0]
            return out
        """)
    ip.run_cell_magic("stream", "cum --source data --batch-size 999 --no-widget", text)
    np.testing.assert_allclose(ip.user_ns["cum"].output, np.cumsum(DATA))


def test_dataframe_column_and_source_objects(ip):
    ip.run_cell_magic("stream", "col --source df.price --batch-size 1000 --no-widget", OPS)
    np.testing.assert_allclose(ip.user_ns["col"].output, reference(DATA))
    ip.user_ns["gen"] = wb.sources.generator(lambda i: np.full(8, float(i)), batches=3)
    ip.run_cell_magic("stream", "gen_run --source gen --no-widget", OPS)
    np.testing.assert_allclose(ip.user_ns["gen_run"].output, np.repeat([0.0, 2.0, 4.0], 2))
    ip.run_cell_magic("stream", "first2 --source gen --batches 2 --no-widget", OPS)
    assert ip.user_ns["first2"].source_records == 16


def test_no_run_binds_a_pipeline(ip):
    before = len(runs.runs())
    ip.run_cell_magic("stream", "built --source data --no-run", OPS)
    prog = ip.user_ns["built"]
    assert isinstance(prog, wb.Pipeline)
    assert prog.stage_names == ("scale", "mean4")
    assert len(runs.runs()) == before


def test_summary_is_printed_without_no_widget(ip, capsys):
    ip.run_cell_magic("stream", "shown --source data --batch-size 2000", OPS)
    out = capsys.readouterr().out
    assert "shown [local] finished: 8,000 records" in out


# --- errors: message names operator, cell line, fix -------------------------------------
def test_typing_error_names_operator_cell_line_and_jit_false(ip):
    text = cell("""
        import numpy as np
        import workbench as wb

        @wb.operator
        def broken_typing(x):
            y = x * 2.0
            return y.no_such_attribute
        """)
    with pytest.raises(wb.CompileError) as info:
        ip.run_cell_magic("stream", "bad --source data --no-widget", text)
    msg = str(info.value)
    # %%stream is line 1, so the cell's 7th line is cell line 8
    assert msg.startswith("operator 'broken_typing' does not compile with numba, at cell line 8")
    assert "return y.no_such_attribute" in msg
    assert "jit=False" in msg


def test_compile_error_is_shown_message_first(ip, capsys):
    result = ip.run_cell("%%stream bad2 --source data --no-widget\n"
                         "def broken_shown(x):\n"
                         "    return x.nope_shown\n")
    assert isinstance(result.error_in_exec, wb.CompileError)
    out = capsys.readouterr().out.strip()
    first = out.splitlines()[0]
    assert "CompileError" in first and "operator 'broken_shown'" in first
    assert "cell line 3" in first
    assert "Traceback" not in out and "numba/core" not in out
    assert "%tb" in out
    ip.run_line_magic("tb", "")     # nothing is lost: the full chain, numba's error first
    full = capsys.readouterr().out
    assert "TypingError" in full and full.rstrip().endswith("jit=False).")


def test_errors_raised_in_the_cell_show_the_cell_line(ip, capsys):
    result = ip.run_cell("%%stream rated --source data\n"
                         "x = 1\n"
                         "@wb.operator(consumes=0)\n"
                         "def zero(x):\n"
                         "    return x\n")
    assert isinstance(result.error_in_exec, wb.GraphError)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("GraphError: operator 'zero': consumes must be a positive")
    assert "  cell line 3, in <module>: @wb.operator(consumes=0)" in lines


def test_inconsistent_rates_name_the_operators(ip):
    text = OPS + "\nwb.splitjoin(scale, mean4, join_weights=(1, 1))\n"
    with pytest.raises(wb.RateError) as info:
        ip.run_cell_magic("stream", "rates --source data --no-widget", text)
    assert "scale" in str(info.value) and "mean4" in str(info.value)
    with pytest.raises(wb.RateError):
        ip.run_cell_magic("stream", "rates --source data --no-run", text)


def test_wrong_output_length_names_operator_and_batch(ip):
    text = cell("""
        def drops_one(x):
            if x[0] >= 2000.0:
                return x[1:]
            return x
        """)
    ip.user_ns["ramp"] = np.arange(5000.0)
    with pytest.raises(wb.OperatorError) as info:
        ip.run_cell_magic("stream", "short --source ramp --batch-size 1000 --no-widget", text)
    assert info.value.operator == "drops_one" and info.value.seq == 2
    assert "operator 'drops_one'" in str(info.value) and "batch 2" in str(info.value)
    assert ip.user_ns["short"].status == "failed"


def test_unknown_option_names_it_and_lists_valid_ones(ip):
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("stream", "p --source data --batchsize 10", OPS)
    msg = str(info.value)
    assert "--batchsize" in msg and "Did you mean --batch-size?" in msg
    for opt in ("--source", "--batches", "--duration", "--placement", "--no-run"):
        assert opt in msg


def test_missing_source_variable(ip):
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("stream", "p --source dta", OPS)
    msg = str(info.value)
    assert "'dta'" in msg and "Did you mean 'data'?" in msg
    assert "data (ndarray (8000,))" in msg and "df (DataFrame" in msg


@pytest.mark.parametrize("line, words", [
    ("p --source data --placement scale", ["scale", "OP=WHERE"]),
    ("p --source data --placement scale=moon", ["moon", "compute", "storage", "gpu:1"]),
    ("p --source data --placement nosuch=compute", ["nosuch", "scale, mean4"]),
    ("p --source data --parallelism scale=x", ["scale=x", "positive integer"]),
    ("p --source data --batches 3 --duration 1", ["--batches", "not both"]),
    ("p --source data --engine spark", ["spark", "local"]),
    ("p --source df", ["price, qty", "df.price"]),
    ("p --source gen --batch-size 10", ["--batch-size", "drop"]),
    ("p", ["--source"]),
    ("1p --source data", ["Python name"]),
    ("", ["NAME"]),
])
def test_bad_lines_are_usage_errors(ip, line, words):
    ip.user_ns["gen"] = wb.sources.generator(lambda i: np.zeros(8), batches=2)
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("stream", line, OPS)
    for w in words:
        assert w in str(info.value)


def test_syntax_error_gives_cell_line(ip):
    with pytest.raises(wb.errors.CellSyntaxError) as info:
        ip.run_cell_magic("stream", "p --source data", "x = 1\ndef f(x):\n    return x +\n")
    assert "cell line 4" in str(info.value) and "return x +" in str(info.value)


BAD_CELLS = [
    ("%%stream p --source data --bogus\n" + OPS, UsageError),
    ("%%stream p --source nothing_here\n" + OPS, UsageError),
    ("%%stream p --source data --placement scale=moon\n" + OPS, UsageError),
    ("%%stream p --source data --parallelism scale=two\n" + OPS, UsageError),
    ("%%stream p --source data\ndef f(x)\n    return x\n", wb.errors.CellSyntaxError),
    ("%%stream p --source data\ndef nocomp(x):\n    return x.zzz\n", wb.CompileError),
    ("%%stream p --source data\ndef boom(x):\n    return x[:1]\n", wb.OperatorError),
    ("%%stream p --source data\n" + OPS + "wb.splitjoin(scale, mean4, join_weights=(1, 1))\n",
     wb.RateError),
    ("%%stream p --source data\nraise KeyError('from the cell')\n", KeyError),
]


@pytest.mark.parametrize("bad, error", BAD_CELLS)
def test_shell_survives_bad_cells(ip, capsys, bad, error):
    result = ip.run_cell(bad)
    assert isinstance(result.error_in_exec, error)
    capsys.readouterr()
    ok = ip.run_cell("%%stream after --source data --batch-size 4000 --no-widget\n" + OPS)
    assert ok.success
    np.testing.assert_allclose(ip.user_ns["after"].output, reference(DATA))


def test_unbounded_source_runs_until_stopped(ip, capsys):
    ip.user_ns["forever"] = wb.sources.generator(lambda i: np.ones(8))
    ip.run_cell_magic("stream", "endless --source forever --engine local", OPS)
    assert "endless.stop()" in capsys.readouterr().out
    run = ip.user_ns["endless"]
    assert run.status == "running"
    run.stop()
    assert run.status == "stopped" and run.source_records > 0
    ip.run_cell_magic("stream", "bounded --source forever --batches 4 --no-widget", OPS)
    np.testing.assert_allclose(ip.user_ns["bounded"].output, np.full(8, 2.0))


# --- %wb ----------------------------------------------------------------------------------
def test_wb_status_and_usage(ip, capsys):
    ip.run_cell_magic("stream", "listed --source data --batch-size 4000 --no-widget", OPS)
    capsys.readouterr()
    ip.run_line_magic("wb", "status")
    out = capsys.readouterr().out
    assert "listed [local] finished" in out
    ip.run_line_magic("wb", "")
    assert "%wb status" in capsys.readouterr().out
    for cmd in ("cluster nowhere", "reconfigure listed scale=2", "frobnicate"):
        with pytest.raises(UsageError):
            ip.run_line_magic("wb", cmd)


# --- the plain function: no IPython ---------------------------------------------------------
def test_stream_cell_without_ipython():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from workbench.notebook.stream_cell import stream_cell
        ns = {"data": np.arange(16.0)}
        cell = "import numpy as np\\ndef scale(x):\\n    return x * 2.0\\n"
        stream_cell("prog", cell, ns, source="data", batch_size=4, widget=False)
        assert (ns["prog"].output == np.arange(16.0) * 2).all(), ns["prog"].output
        assert "IPython" not in sys.modules, "the stream cell must not import IPython"
        print("ok")
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_stream_cell_in_process_takes_values_and_dicts():
    ns: dict = {}
    stream_cell.stream_cell("p", OPS, ns, source=DATA, batch_size=1000, widget=False)
    np.testing.assert_allclose(ns["p"].output, reference(DATA))
    # the local engine places nothing, but hint dicts still name the cell's operators
    with pytest.raises(wb.CellError) as info:
        stream_cell.stream_cell("r", OPS, ns, source=DATA, widget=False,
                                parallelism={"scael": 2})
    assert "'scael'" in str(info.value) and "scale, mean4" in str(info.value)
    assert "r" not in ns                                     # nothing ran, nothing bound
    prog = stream_cell.stream_cell("q", OPS, ns, run=False)
    assert prog.source is None and prog.stage_names == ("scale", "mean4")
    with pytest.raises(wb.CellError, match="positive integer"):
        stream_cell.parse_hints(["scale=0"], "parallelism")


def test_help_shows_cell_magic_usage(ip):
    from workbench.notebook import magics

    for name in ("stream", "function"):
        doc = getattr(magics, name).__doc__                 # what %%stream? shows
        assert doc.startswith(f"::\n\n  %%{name} "), doc
        usage = getattr(magics, name).parser.format_usage()  # what a bad line shows
        assert f"  %%{name} " in usage and f"%%%{name}" not in usage, usage


def test_load_ext_binds_wb_in_a_fresh_namespace():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.user_ns.pop("wb", None)
    shell.run_line_magic("load_ext", "workbench")
    shell.run_line_magic("reload_ext", "workbench")
    assert shell.user_ns["wb"] is wb
