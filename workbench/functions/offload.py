"""``wb.offload``: while active, unmodified code's calls to named functions run remotely.

``with wb.offload("zlib.crc32", "numpy.linalg.norm"): ...`` replaces each attribute on
its module with a stand-in that runs the call on the cluster (:func:`workbench.remote`)
and returns its result, and puts the original back on exit, also when the block raises.
Code that looks the function up on its module when it calls it (``zlib.crc32(chunk)``)
is offloaded; code that bound the function earlier (``from zlib import crc32`` at import
time) keeps its own reference and is not. On a worker, the stand-in calls the original:
a call never offloads itself again.

>>> import zlib, workbench as wb
>>> off = wb.offload("zlib.crc32", placement="compute")
>>> off
<Offload zlib.crc32 (inactive)>
>>> with off:
...     zlib.crc32.__wb_offload_original__ is off.originals["zlib.crc32"]
True
>>> zlib.crc32 is off.originals["zlib.crc32"]
True
>>> wb.offload("zlib.no_such_function")
Traceback (most recent call last):
...
workbench.errors.GraphError: wb.offload: 'zlib.no_such_function': module 'zlib' has no ...
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable
from typing import Any

from ..errors import GraphError

_LOCK = threading.Lock()
ACTIVE: dict[str, Offload] = {}          # dotted name -> the offload that patched it


def _locate(name: str) -> tuple[Any, str, Callable, Any, str]:
    """``(owner, attribute, function, module, qualname)`` for ``"package.module.function"``
    (the longest importable module prefix, then attributes)."""
    parts = name.split(".")
    if len(parts) < 2:
        raise GraphError(f"wb.offload: {name!r} is not a dotted name.\nExpected: "
                         "'package.module.function', e.g. 'zlib.crc32'.")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        where = ".".join(parts[:cut])
        for attr in parts[cut:-1]:
            owner = getattr(owner, attr, None)
            where += "." + attr
        func = getattr(owner, parts[-1], None)
        if func is None or not callable(func):
            raise GraphError(f"wb.offload: {name!r}: module '{where}' has no function "
                             f"{parts[-1]!r}.\nFix: name a function, as the code calls it: "
                             "'package.module.function'.")
        return owner, parts[-1], func, importlib.import_module(".".join(parts[:cut])), \
            ".".join(parts[cut:])
    raise GraphError(f"wb.offload: {name!r}: no importable module in it.\nFix: install "
                     "the package, or put its directory on sys.path.")


class Offload:
    """Patches named functions to run on the cluster while active (a context manager;
    ``start()``/``stop()`` for the ``%offload`` magic). ``calls`` counts offloaded calls
    per name."""

    def __init__(self, *names: str, placement: Any = "auto") -> None:
        from ..runtime.functions.targets import PyTarget, module_code
        from .remote import RemoteFunction

        if not names:
            raise GraphError("wb.offload: no function named.\nFix: wb.offload("
                             "'zlib.crc32', ...).")
        self.names = tuple(dict.fromkeys(names))
        self.placement = placement
        self.targets: dict[str, tuple[Any, str]] = {}
        self.originals: dict[str, Callable] = {}
        self.remotes: dict[str, Any] = {}
        self.calls: dict[str, int] = dict.fromkeys(self.names, 0)
        self.active = False
        for n in self.names:
            owner, attr, func, module, qualname = _locate(n)
            func = getattr(func, "__wb_offload_original__", func)
            self.targets[n] = (owner, attr)
            self.originals[n] = func
            target = PyTarget(module.__name__, qualname, module_code(module))
            self.remotes[n] = RemoteFunction(target, func, attr, placement)

    def _stand_in(self, name: str) -> Callable:
        from ..runtime.functions.targets import on_worker

        original, rfn = self.originals[name], self.remotes[name]

        def offloaded(*args: Any, **kwargs: Any) -> Any:
            if on_worker():
                return original(*args, **kwargs)
            self.calls[name] += 1
            return rfn(*args, **kwargs).result()

        try:
            functools.update_wrapper(offloaded, original)
        except (AttributeError, TypeError):
            pass
        offloaded.__wb_offload_original__ = original  # type: ignore[attr-defined]
        return offloaded

    def start(self) -> Offload:
        with _LOCK:
            if self.active:
                return self
            taken = [n for n in self.names if n in ACTIVE]
            if taken:
                raise GraphError(f"wb.offload: {', '.join(taken)} already offloaded by "
                                 "another wb.offload.\nFix: stop that one first "
                                 "(%offload --off, or leave its with block).")
            for n in self.names:
                owner, attr = self.targets[n]
                setattr(owner, attr, self._stand_in(n))
                ACTIVE[n] = self
            self.active = True
        return self

    def stop(self, *names: str) -> None:
        """Put the originals back (of ``names`` only, when given)."""
        with _LOCK:
            for n in names or self.names:
                if ACTIVE.get(n) is self:
                    owner, attr = self.targets[n]
                    setattr(owner, attr, self.originals[n])
                    del ACTIVE[n]
            self.active = any(ACTIVE.get(n) is self for n in self.names)

    def __enter__(self) -> Offload:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"<Offload {', '.join(self.names)} ({state})>"


def offload(*names: str, placement: Any = "auto") -> Offload:
    """Run unmodified code's calls to ``names`` ("package.module.function") on the
    cluster while the returned :class:`Offload` is active (``with wb.offload(...):``)."""
    return Offload(*names, placement=placement)


def active() -> dict[str, Offload]:
    """The functions offloaded now (dotted name -> its :class:`Offload`)."""
    with _LOCK:
        return dict(ACTIVE)
