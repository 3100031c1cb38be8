"""Explain numba's errors in the user's terms: which operator, which cell line, what fix."""

from __future__ import annotations

import linecache
import re
from pathlib import Path

from ..errors import CompileError
from .source import Origin

_FILE_LINE = re.compile(r'File "([^"]+)", line (\d+)|at (\S+\.py) \((\d+)\)')

JIT_FIX = ("Fix: use what numba compiles (numpy arrays, numbers, loops; see "
           "https://numba.readthedocs.io/en/stable/reference/pysupported.html), or run this "
           "operator as plain Python with @wb.operator(jit=False).")


def _summary(text: str) -> str:
    lines = [ln.rstrip() for ln in text.splitlines()]
    if lines and lines[0].startswith("Failed in"):
        lines = lines[1:]
    out: list[str] = []
    for ln in lines:
        if ln.startswith(("During:", "File ", "There are ")) or (out and not ln.strip()
                                                                and len(out) > 2):
            break
        if ln.strip():
            out.append(ln.strip())
    return "\n".join(out[:4])


def locate(text: str, origins: dict[str, list[Origin]]) -> tuple[Origin, int] | None:
    """The first (origin, module line) in numba's message that is in an operator's text."""
    for m in _FILE_LINE.finditer(text):
        path, line = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        for o in origins.get(Path(path).stem, ()):
            if o.module_line <= int(line) < o.module_line + o.lines:
                return o, int(line)
    return None


def explain(exc: Exception, names: list[str], origins: dict[str, list[Origin]],
            call_lines: dict[int, str], segment_module: str) -> CompileError:
    """A CompileError naming the operator and its cell line for numba error ``exc``."""
    text = str(exc)
    found = locate(text, origins)
    summary = _summary(text)
    if found is not None:
        origin, mline = found
        where = origin.describe(mline)
        orig_line = origin.def_line + mline - origin.module_line
        src = linecache.getline(origin.filename, orig_line).strip()
        op = next((n for n in names if n.split("#")[0] == origin.name), origin.name)
        msg = (f"operator '{op}' does not compile with numba, at {where}:\n    {src}\n"
               f"numba: {summary}\n{JIT_FIX}")
        return CompileError(msg)
    for m in _FILE_LINE.finditer(text):
        path, line = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        if Path(path).stem == segment_module and int(line) in call_lines:
            op = call_lines[int(line)]
            if op.endswith(" returned"):
                return CompileError(
                    f"operator '{op[:-9]}' must return a numpy array (a batch of records), "
                    f"but numba says: {summary}\nFix: return an array, e.g. np.array([value])"
                    " for one record per batch, and declare the rates (consumes/produces).")
            msg = (f"operator '{op}' does not compile with numba for the batches it receives "
                   f"(or what it returns is not a batch).\nnumba: {summary}\nExpected: an "
                   "operator takes a numpy array of records (plus its state) and returns a "
                   f"numpy array.\n{JIT_FIX}")
            return CompileError(msg)
    return CompileError(f"segment {'+'.join(names)} does not compile with numba.\n"
                        f"numba: {summary}\n{JIT_FIX}")
