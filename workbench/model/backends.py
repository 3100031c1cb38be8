"""Backends the lower layers look up by name: engines, the operator compiler, views.

The model is frozen data and imports nothing above it; yet ``prog.run()``, ``op(x)``,
``run.dashboard()`` and ``fn.dashboard()`` are conveniences users expect on the objects
themselves. The package face (:mod:`workbench`) installs the higher layers here when it is
imported, and the model, the runtime and the functions API call them through
:func:`backend` (the way pandas finds its plotting backend). Nothing installed gives a
clear error saying what to import.

>>> install("view", "doctest-example", lambda x: x * 2)
>>> backend("view", "doctest-example")(21)
42
>>> backend("engine", "no-such-engine")
Traceback (most recent call last):
...
workbench.errors.RunError: no engine called 'no-such-engine' is installed ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import RunError

KINDS = ("engine", "compiler", "view")
_INSTALLED: dict[tuple[str, str], Callable[..., Any]] = {}


def install(kind: str, name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory`` the backend ``name`` of ``kind`` (replacing an earlier one)."""
    if kind not in KINDS:
        raise ValueError(f"backend kind must be one of {', '.join(KINDS)}; got {kind!r}")
    _INSTALLED[(kind, name)] = factory


def installed(kind: str) -> list[str]:
    """Names installed for ``kind``."""
    return sorted(n for k, n in _INSTALLED if k == kind)


def backend(kind: str, name: str) -> Callable[..., Any]:
    """The backend ``name`` of ``kind``; a :class:`~workbench.errors.RunError` naming
    what is installed when it is missing."""
    got = _INSTALLED.get((kind, name))
    if got is None:
        have = ", ".join(installed(kind)) or "none"
        raise RunError(
            f"no {kind} called {name!r} is installed (installed: {have}).\nFix: import "
            "workbench (the package installs its engines, compiler and views when it is "
            "imported), e.g. `import workbench as wb` before building programs.")
    return got
