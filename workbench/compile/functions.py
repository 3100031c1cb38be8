"""A function's body as a content-addressed module for numba (the operators' compile path).

numba-typable bodies are compiled where they run, from a module in the artifact store
(:mod:`workbench.compile.source`): workers of one machine share the compiled code, and a
cell's function gets a file numba can cache. A body that cannot become such a module (it
captures a dict, say), or whose source shows a construct numba's nopython mode cannot
compile (:mod:`workbench.compile.precheck`: an ``import`` inside it, an f-string, ...),
runs as plain Python, and the reason is kept: decided here, before the first call.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import CompileError
from .artifacts import jit_enabled, toolchain
from .precheck import obstacle
from .source import ModuleBuilder, ModuleText


def function_module(func: Callable, name: str) -> tuple[ModuleText | None, str | None]:
    """``(module, None)`` to compile, or ``(None, reason)`` to run plain Python."""
    if not jit_enabled():
        return None, "WORKBENCH_DISABLE_JIT is set: plain Python"
    try:
        builder = ModuleBuilder(name)
        builder.add(func, entry=True)
        mt = builder.build(f"workbench artifact: function '{name}'\ntoolchain: "
                           f"{toolchain()}\nentry: {func.__name__}")
    except CompileError as exc:
        return None, "not compiled: " + str(exc).replace("operator '", "function '", 1)
    for f in builder.callables:          # the body and the helpers it calls
        reason = obstacle(f)
        if reason is not None:
            return None, (reason if f is func else
                          reason.replace(" (read", f" in {f.__name__} (read", 1))
    # annotations (``graph: Any``) name things the module does not import: keep them text
    mt.text = "from __future__ import annotations\n" + mt.text
    for o in mt.origins:
        o.module_line += 1
    return mt, None
