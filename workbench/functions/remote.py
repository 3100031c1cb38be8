"""``wb.remote``: run existing code's functions on the cluster, unchanged and uncompiled.

``wb.remote(target)`` takes a module (its functions become remote callables by attribute),
a function, or a ``ctypes.CDLL`` whose functions declare ``argtypes`` and ``restype``
(numpy arrays are passed as pointers; pass their sizes as the C function expects). A call
returns a Dask future; ``.map`` coalesces many calls into one task per worker (the
machinery of ``fn.map``); ``.lazy`` builds an expression tree (:class:`Lazy`) that runs
nothing until it is evaluated. Placement hints are those of ``@wb.function``.

What runs on the workers is the code as it is: a module that is not installed travels
with the call (:mod:`workbench.runtime.functions.targets`), a library is loaded once per
worker and kept. An exception raised there arrives as itself (``except ValueError``
catches it), with the worker and the remote traceback in its notes; a crash of the
worker's process (a segfault in native code) raises :class:`~workbench.errors.RemoteCrash`.

>>> import math, workbench as wb
>>> rm = wb.remote(math)
>>> rm.hypot
<RemoteFunction hypot (math.hypot) placement='auto'>
>>> rm.nothing_here
Traceback (most recent call last):
...
AttributeError: wb.remote(math): module 'math' has no function 'nothing_here' ...
"""

from __future__ import annotations

import ctypes
import functools
import types
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import GraphError
from .function import Function
from .trees import Lazy

NEVER_COMPILED = "wb.remote runs existing code as it is (never compiled)"


class RemoteFunction(Function):
    """One function of existing code, called on the cluster (``rm.f``).

    ``rm.f(...)`` is one call (a Dask future); ``rm.f.map(...)`` many calls, coalesced;
    ``rm.f.lazy(...)`` a node of an expression tree. ``py_func`` is the local function
    (a ``ctypes`` function for a library).
    """

    def __init__(self, target: Any, local: Callable, name: str, placement: Any = "auto") -> None:
        super().__init__(target, placement, name, jit=False)
        if getattr(local, "__name__", None):
            functools.update_wrapper(self, local, updated=())
        self.target = target
        self.local = local
        self.label = target.label

    @property
    def py_func(self) -> Callable:
        return self.local

    def __repr__(self) -> str:
        return f"<RemoteFunction {self.name} ({self.label}) placement={self.placement!r}>"

    def spec(self) -> Any:
        if self._spec is None:
            from ..compile.artifacts import default_store
            from ..runtime.functions.calls import FnSpec

            self._spec = FnSpec(self.name, self.token, self.target, None, self.name,
                                str(default_store().root), NEVER_COMPILED, self.label)
        return self._spec

    def with_placement(self, placement: Any) -> RemoteFunction:
        return RemoteFunction(self.target, self.local, self.name, placement)

    def lazy(self, *args: Any, **kwargs: Any) -> Lazy:
        """A node of an expression tree: nothing runs until ``.compute()``/``.submit()``.
        Arguments may be other nodes (their results are passed worker to worker)."""
        return Lazy(self, args, kwargs, f"wb-fn-{self.name}-{uuid.uuid4().hex[:12]}")


class _Remotes:
    """Remote callables by attribute, each made once (``_make``) and kept."""

    _fns: dict[str, RemoteFunction]

    def __getattr__(self, name: str) -> RemoteFunction:
        if name.startswith("__"):
            raise AttributeError(name)
        got = self._fns.get(name)
        if got is None:
            got = self._fns[name] = self._make(name)
        return got

    def _make(self, name: str) -> RemoteFunction:
        raise NotImplementedError


class RemoteModule(_Remotes):
    """A module whose functions run on the cluster: ``rm.f`` is a :class:`RemoteFunction`."""

    def __init__(self, module: types.ModuleType, placement: Any = "auto") -> None:
        self._module = module
        self._placement = placement
        self._fns: dict[str, RemoteFunction] = {}

    def _make(self, name: str) -> RemoteFunction:
        mod = self._module
        f = getattr(mod, name, None)
        if not callable(f):
            have = sorted(n for n, v in vars(mod).items()
                          if callable(v) and not n.startswith("_"))[:12]
            raise AttributeError(
                f"wb.remote({mod.__name__}): module '{mod.__name__}' has no function "
                f"{name!r} (found {'a ' + type(f).__name__ if f is not None else 'nothing'})."
                f"\nIts functions include: {', '.join(have) or 'none'}.")
        from ..runtime.functions.targets import PyTarget

        f = getattr(f, "__wb_offload_original__", f)
        return RemoteFunction(PyTarget.of(f, mod, name), f, name, self._placement)

    def __dir__(self) -> list[str]:
        return sorted(n for n, v in vars(self._module).items()
                      if callable(v) and not n.startswith("_"))

    def __repr__(self) -> str:
        return f"<RemoteModule {self._module.__name__} placement={self._placement!r}>"


class RemoteLibrary(_Remotes):
    """A shared library (``ctypes.CDLL``) whose functions run on the cluster's workers.

    Each function must declare ``argtypes`` (and ``restype``, ``None`` for void) on the
    local library object, as for a local ctypes call. ``outputs={"fname": (0,)}`` names
    array arguments the function writes: the call returns them (after the return value
    unless ``restype`` is ``None``; one array alone for a void function with one output),
    as the worker's copies are what the C code wrote.
    """

    def __init__(self, lib: ctypes.CDLL, placement: Any = "auto",
                 outputs: dict[str, tuple[int, ...]] | None = None) -> None:
        self._lib = lib
        self._placement = placement
        self._outputs = {k: tuple(v) for k, v in (outputs or {}).items()}
        self._fns: dict[str, RemoteFunction] = {}

    def _make(self, name: str) -> RemoteFunction:
        from ..runtime.functions.targets import CTarget, ctype_spec

        path = self._lib._name
        try:
            cf = getattr(self._lib, name)
        except AttributeError:
            raise AttributeError(f"wb.remote({path}): the library has no symbol "
                                 f"{name!r}.\nFix: check the name (nm -D {path}).") from None
        if cf.argtypes is None:
            raise GraphError(
                f"wb.remote({path}).{name}: the function declares no argtypes.\nExpected: "
                f"lib.{name}.argtypes = [...] and lib.{name}.restype = ... (None for void) "
                "on the local library, so workers know how to pass numbers and numpy "
                f"arrays.\nFix: e.g. lib.{name}.argtypes = [ctypes.POINTER(ctypes.c_double)"
                f", ctypes.c_size_t]; lib.{name}.restype = ctypes.c_double.")
        target = CTarget(path, name, tuple(ctype_spec(t) for t in cf.argtypes),
                         ctype_spec(cf.restype), self._outputs.get(name, ()))
        return RemoteFunction(target, cf, name, self._placement)

    def __repr__(self) -> str:
        return f"<RemoteLibrary {self._lib._name} placement={self._placement!r}>"


def remote(target: Any, *, placement: Any = "auto",
           outputs: dict[str, tuple[int, ...]] | None = None) -> Any:
    """Existing code on the cluster: a module, a function or a ``ctypes.CDLL``.

    Parameters
    ----------
    target : module, function or ctypes.CDLL
        A module gives a :class:`RemoteModule` (``rm.f`` for each of its functions); a
        function gives its :class:`RemoteFunction`; a library a :class:`RemoteLibrary`.
    placement : str or dict
        As for ``@wb.function``: ``"auto"``, ``"compute"``, ``"storage"``, a worker
        address or resources.
    outputs : dict, optional
        For a library: ``{function: (argument positions,)}`` of arrays it writes.

    Examples
    --------
    >>> import zlib, workbench as wb
    >>> wb.remote(zlib.crc32, placement="compute")
    <RemoteFunction crc32 (zlib.crc32) placement='compute'>
    """
    if isinstance(target, Function):
        raise GraphError(f"wb.remote({target.name}): it is already a workbench function; "
                         f"call it directly, or wb.remote({target.name}.py_func).")
    if isinstance(target, types.ModuleType):
        return RemoteModule(target, placement)
    if isinstance(target, ctypes.CDLL):
        return RemoteLibrary(target, placement, outputs)
    if callable(target) and getattr(target, "__name__", None):
        import sys

        from ..runtime.functions.targets import PyTarget

        original = getattr(target, "__wb_offload_original__", target)
        mod = sys.modules.get(getattr(original, "__module__", None) or "")
        name = original.__name__
        if mod is None or mod.__name__ == "__main__" or "<locals>" in original.__qualname__ \
                or getattr(mod, "__file__", None) is None and mod.__name__ not in \
                sys.builtin_module_names:
            pickled = _ByValue(original)          # a cell's or script's function: by value
            return RemoteFunction(pickled, original, name, placement)
        return RemoteFunction(PyTarget.of(original, mod), original, name, placement)
    raise GraphError(
        f"wb.remote: cannot call a {type(target).__name__} remotely.\nExpected: a module, a "
        "function, or a ctypes.CDLL with argtypes declared.\nFix: wb.remote(mymodule), "
        "wb.remote(mymodule.f) or wb.remote(ctypes.CDLL(path)).")


class _ByValue:
    """A function without an importable home (defined in a cell or a script's
    ``__main__``): pickled with its code, as Dask sends a cell's function."""

    def __init__(self, func: Callable) -> None:
        self.func = func
        self.label = f"{getattr(func, '__module__', '?')}.{func.__qualname__}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)
