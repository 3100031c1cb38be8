"""The "Python 3 (workbench)" kernelspec in a real Jupyter kernel: the extension is preloaded."""

from __future__ import annotations

import queue

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from tests.conftest import kernel_client
from workbench.notebook import kernelspec


@pytest.fixture(scope="module")
def kc(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("jupyter-prefix")
    where = kernelspec.install(prefix=str(prefix))
    ksm = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")])
    assert ksm.get_kernel_spec("workbench").display_name == "Python 3 (workbench)"
    assert where.startswith(str(prefix))
    with kernel_client("workbench", ksm) as client:
        yield client


def execute(client, code: str, timeout: float = 120) -> tuple[dict, list[dict]]:
    """Run ``code``; return the execute_reply content and the iopub messages of the cell."""
    msgs: list[dict] = []
    reply = client.execute_interactive(code, timeout=timeout, output_hook=msgs.append,
                                       allow_stdin=False)
    try:   # drain anything that arrived after the reply
        while True:
            msgs.append(client.get_iopub_msg(timeout=0.2))
    except queue.Empty:
        pass
    return reply["content"], msgs


def text_of(msgs: list[dict]) -> str:
    out = []
    for m in msgs:
        c = m["content"]
        if m["msg_type"] == "stream":
            out.append(c["text"])
        elif m["msg_type"] in ("execute_result", "display_data"):
            out.append(c["data"].get("text/plain", ""))
    return "".join(out)


def test_kernel_answers(kc):
    content, msgs = execute(kc, "1+1")
    assert content["status"] == "ok"
    assert text_of(msgs) == "2"


def test_stream_magic_works_without_load_ext(kc):
    content, _ = execute(kc, "import numpy as np\ndata = np.arange(4000.0)")
    assert content["status"] == "ok"
    cell = ("%%stream prog --source data --batch-size 1000\n"
            "def scale(x):\n"
            "    return x * 2.0\n")
    content, msgs = execute(kc, cell)
    assert content["status"] == "ok", content
    assert "prog [dask] finished: 4,000 records" in text_of(msgs)
    content, msgs = execute(kc, "print(prog.output.sum() == (data * 2).sum())")
    assert text_of(msgs).strip() == "True"


def test_compile_error_reaches_the_frontend_message_first(kc):
    cell = ("%%stream bad --source data --no-widget\n"
            "import numpy as np\n"
            "def broken_in_kernel(x):\n"
            "    return x.not_an_attribute\n")
    content, msgs = execute(kc, cell)
    assert content["status"] == "error"
    assert content["ename"] == "CompileError"
    errors = [m["content"] for m in msgs if m["msg_type"] == "error"]
    assert len(errors) == 1
    first = errors[0]["traceback"][0]
    assert "CompileError" in first and "operator 'broken_in_kernel'" in first
    assert "cell line 4" in first and "jit=False" in first
    content, msgs = execute(kc, "%wb status")     # the kernel and the session carry on
    assert content["status"] == "ok" and "prog [dask] finished" in text_of(msgs)
