"""Existing code as workers run it (``wb.remote``): modules, functions, C libraries.

A target is a small picklable description of what to call; a worker resolves it once and
keeps what it loaded (modules by content digest, ``ctypes`` libraries by path) for every
later call in that process. Nothing here is compiled: the code runs as it is.

- :class:`PyTarget`: a function of a module. A module that is not installed (its file is
  outside the interpreter's stdlib and site-packages) travels with the call as its source
  files (:class:`ModuleCode`, what Dask's ``upload_file`` sends); a worker imports it from
  its own copy unless the same file is importable there already.
- :class:`CTarget`: a function of a shared library with declared ``argtypes`` and
  ``restype``. numpy arrays are passed as pointers to their data; ``outputs`` names the
  array arguments the function writes, which come back with the result.

:func:`crash_guard` leaves a marker while native code runs, so that when the process dies
(a segfault) the attempt Dask makes on another worker raises :class:`RemoteCrash` naming
the function and the lost worker instead of crashing that worker too.

>>> import zlib
>>> t = PyTarget.of(zlib.crc32)
>>> (t.module, t.qualname, t.code)
('zlib', 'crc32', None)
>>> t(b"abc") == zlib.crc32(b"abc")
True
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import importlib.util
import os
import sys
import sysconfig
import tempfile
import threading
import types
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import FunctionError, RemoteCrash

_LOCK = threading.RLock()


# --- Python modules -------------------------------------------------------------------------

@dataclass(frozen=True)
class ModuleCode:
    """The source files of a top-level module or package that is not installed."""

    top: str
    files: dict[str, bytes] = field(repr=False)     # relpath -> bytes ("pkg/__init__.py")
    digest: str = ""


def _installed_roots() -> list[str]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    import site

    roots |= set(getattr(site, "getsitepackages", list)())
    roots.add(getattr(site, "getusersitepackages", lambda: "")() or "/nonexistent")
    return sorted(os.path.realpath(r) for r in roots if r)


_STARTUP_PATH: list[str] = []


def _startup_path() -> list[str]:
    """``sys.path`` of a fresh interpreter of this environment (what a worker starts with:
    site-packages, the paths of editable installs, ``PYTHONPATH``), without the current
    folder; asked once per process."""
    if not _STARTUP_PATH:
        import json
        import subprocess

        try:
            out = subprocess.run([sys.executable, "-c",
                                  "import sys, json; print(json.dumps(sys.path))"],
                                 capture_output=True, text=True, timeout=60, check=True)
            paths = json.loads(out.stdout)
        except (OSError, ValueError, subprocess.SubprocessError):
            paths = []
        _STARTUP_PATH.extend(os.path.realpath(p) for p in paths if p)
        if not _STARTUP_PATH:
            _STARTUP_PATH.append("/nonexistent")
    return _STARTUP_PATH


def module_code(module: types.ModuleType) -> ModuleCode | None:
    """``None`` for an installed module (workers import it by name), else its top-level
    module's or package's ``.py`` files, to travel with the call."""
    top = sys.modules.get(module.__name__.split(".")[0], module)
    path = getattr(top, "__file__", None)
    if path is None:                              # builtin or namespace: by name
        return None
    real = os.path.realpath(path)
    if any(real.startswith(r + os.sep) for r in _installed_roots()):
        return None
    where = Path(real).parent.parent if Path(real).name == "__init__.py" else Path(real).parent
    if str(where) in _startup_path():               # importable by name: pip -e installs too
        return None
    files: dict[str, bytes] = {}
    if Path(real).name == "__init__.py":
        base = Path(real).parent
        for f in sorted(base.rglob("*.py")):
            files[str(Path(top.__name__) / f.relative_to(base))] = f.read_bytes()
    else:
        files[f"{top.__name__}.py"] = Path(real).read_bytes()
    h = hashlib.sha256()
    for k, v in files.items():
        h.update(k.encode() + b"\0" + v)
    return ModuleCode(top.__name__, files, h.hexdigest()[:20])


_MODULES: dict[tuple[str, str], types.ModuleType] = {}   # (module, digest) -> loaded


def load_module(name: str, code: ModuleCode | None) -> types.ModuleType:
    """Module ``name`` on this worker: imported by name, or from the copy that travelled
    with the call (kept per digest: loaded once per worker process)."""
    if code is None:
        return importlib.import_module(name)
    key = (name, code.digest)
    with _LOCK:
        mod = _MODULES.get(key)
        if mod is None:
            mod = _MODULES[key] = _import_copy(name, code)
        return mod


def _import_copy(name: str, code: ModuleCode) -> types.ModuleType:
    have = sys.modules.get(code.top)
    if have is not None and getattr(have, "__wb_digest__", None) in (code.digest, None):
        # this copy already, or the worker's own module of that name: never replaced
        # (replacing a package the worker runs on would split its classes in two)
        return importlib.import_module(name)
    if have is None and _same_file_importable(code):
        return importlib.import_module(name)       # the same file, shared filesystem
    root = Path(tempfile.gettempdir()) / "workbench-remote" / code.digest
    for rel, data in code.files.items():
        p = root / rel
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, p)
    for k in [k for k in sys.modules if k == code.top or k.startswith(code.top + ".")]:
        del sys.modules[k]                           # another version: replaced
    pkg = root / code.top / "__init__.py"
    path = pkg if pkg.exists() else root / f"{code.top}.py"
    spec = importlib.util.spec_from_file_location(
        code.top, path, submodule_search_locations=[str(pkg.parent)] if pkg.exists() else None)
    mod = importlib.util.module_from_spec(spec)   # type: ignore[arg-type]
    mod.__wb_digest__ = code.digest  # type: ignore[attr-defined]
    sys.modules[code.top] = mod
    try:
        spec.loader.exec_module(mod)               # type: ignore[union-attr]
    except BaseException:
        del sys.modules[code.top]
        raise
    return importlib.import_module(name)


def _same_file_importable(code: ModuleCode) -> bool:
    try:
        spec = importlib.util.find_spec(code.top)
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.origin or not os.path.exists(spec.origin):
        return False
    rel = (f"{code.top}/__init__.py" if spec.submodule_search_locations
           else f"{code.top}.py")
    return rel in code.files and Path(spec.origin).read_bytes() == code.files[rel]


@dataclass(frozen=True)
class PyTarget:
    """``module.qualname``, called on a worker as it is (``code``: see :class:`ModuleCode`)."""

    module: str
    qualname: str
    code: ModuleCode | None = None

    @classmethod
    def of(cls, func: Callable, module: types.ModuleType | None = None,
           qualname: str | None = None) -> PyTarget:
        mod = module or sys.modules[func.__module__]
        return cls(mod.__name__, qualname or func.__qualname__, module_code(mod))

    @property
    def label(self) -> str:
        return f"{self.module}.{self.qualname}"

    def resolve(self) -> Callable:
        obj: Any = load_module(self.module, self.code)
        for part in self.qualname.split("."):
            obj = getattr(obj, part)
        # in a process where wb.offload patched it (a threaded local cluster): the original
        return getattr(obj, "__wb_offload_original__", obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)


# --- C libraries ----------------------------------------------------------------------------

def ctype_spec(t: Any) -> Any:
    """A picklable description of a ctypes type (``ndpointer`` classes are made at run
    time and do not pickle by reference)."""
    if t is None:
        return None
    if isinstance(t, type) and all(hasattr(t, a) for a in ("_dtype_", "_ndim_", "_flags_")):
        dtype = t._dtype_                     # numpy.ctypeslib.ndpointer(...)
        return ("ndpointer", None if dtype is None else dtype.str, t._ndim_,
                getattr(t, "_shape_", None), t._flags_)
    if isinstance(t, type) and issubclass(t, ctypes._Pointer):   # POINTER(c_double)
        return ("pointer", ctype_spec(t._type_))
    return ("type", t)


def ctype_of(spec: Any) -> Any:
    if spec is None:
        return None
    if spec[0] == "ndpointer":
        from numpy.ctypeslib import ndpointer

        return ndpointer(dtype=spec[1], ndim=spec[2], shape=spec[3], flags=spec[4])
    if spec[0] == "pointer":
        return ctypes.POINTER(ctype_of(spec[1]))
    return spec[1]


_LIBS: dict[str, ctypes.CDLL] = {}


def library(path: str) -> ctypes.CDLL:
    """The library at ``path``, loaded once per worker process and kept."""
    with _LOCK:
        lib = _LIBS.get(path)
        if lib is None:
            lib = _LIBS[path] = ctypes.CDLL(path)
        return lib


def loaded_libraries() -> list[str]:
    """Paths of the libraries this worker has loaded (``client.run``)."""
    return sorted(_LIBS)


@dataclass(frozen=True)
class CTarget:
    """Function ``name`` of the shared library ``library`` (a path or a soname)."""

    library: str
    name: str
    argtypes: tuple
    restype: Any
    outputs: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return f"{Path(self.library).name}:{self.name}"

    def _function(self) -> Any:
        key = f"{self.library}\0{self.name}\0{self.argtypes!r}\0{self.restype!r}"
        with _LOCK:
            f = _CFUNCS.get(key)
            if f is None:
                lib = library(self.library)
                f = lib[self.name]           # a new function object: its own types
                f.argtypes = [ctype_of(a) for a in self.argtypes]
                f.restype = ctype_of(self.restype)
                _CFUNCS[key] = f
            return f

    def __call__(self, *args: Any) -> Any:
        f = self._function()
        conv = [_arg(a, t) for a, t in zip(args, f.argtypes or [None] * len(args))]
        ret = f(*conv)
        if not self.outputs:
            return ret
        outs = tuple(args[i] for i in self.outputs)
        if f.restype is None:
            return outs[0] if len(outs) == 1 else outs
        return (ret, *outs)


_CFUNCS: dict[str, Any] = {}


def _arg(value: Any, t: Any) -> Any:
    """numpy arrays for a ``POINTER(...)`` (or ``c_void_p``) parameter: their data's address."""
    if isinstance(value, np.ndarray) and t is not None and not hasattr(t, "_dtype_"):
        if not value.flags.c_contiguous:
            raise TypeError("a numpy array passed as a pointer must be C-contiguous; "
                            "pass np.ascontiguousarray(x)")
        if t is ctypes.c_void_p:
            return value.ctypes.data
        return value.ctypes.data_as(t)
    return value


# --- errors that come back ------------------------------------------------------------------

EXPECTED: deque[str] = deque(maxlen=1000)     # keys whose code raised (not a worker failure)


def raise_remote(exc: BaseException, name: str, label: str, call: int | None) -> None:
    """Re-raise ``exc`` as itself with where it happened in its notes: the caller's
    ``except ValueError`` catches it, and the message shows the worker and the remote
    traceback."""
    import traceback

    from distributed import get_worker

    try:
        w = get_worker()
        addr = w.address
        EXPECTED.append(str(w.get_current_task()))
    except ValueError:
        addr = "this process"
    where = f" (call {call} of a map)" if call is not None else ""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        exc.add_note(f"raised by remote function '{name}' ({label}) on worker {addr}"
                     f"{where}\nremote traceback:\n{tb.rstrip()}")
    except AttributeError:          # not an Exception that takes notes
        pass
    try:
        import pickle

        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - cannot travel: say so with its type and text
        raise FunctionError(f"remote function '{name}' ({label}) raised "
                            f"{type(exc).__name__} on worker {addr}{where}: {exc}\n{tb}",
                            function=name, call=call) from None
    raise exc


def _marker_dir(root: str) -> Path:
    d = Path(root) / "remote-running"
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextmanager
def crash_guard(name: str, label: str, root: str, calls: int):
    """Leave a marker (task key, worker, function) while the call runs. An attempt that
    finds its task's marker is Dask's retry after the process running it died: it raises
    :class:`RemoteCrash` instead of running the code again."""
    from distributed import get_worker

    w = get_worker()
    key = str(w.get_current_task())
    path = _marker_dir(root) / hashlib.sha1(key.encode()).hexdigest()
    if path.exists():
        lost = path.read_text().split("\n", 1)[0]
        path.unlink(missing_ok=True)
        raise RemoteCrash(name, label, lost, calls)
    path.write_text(f"{w.address}\n{key}\n")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def on_worker() -> bool:
    """Whether this thread is running a Dask task (offloaded calls there run locally)."""
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True
