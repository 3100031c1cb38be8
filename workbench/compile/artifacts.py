"""The artifact store: content-addressed modules plus numba's cache files beside them.

Layout: ``ROOT/<toolchain>/wb_<hash>.py`` with numba's ``__pycache__`` next to it, and
``ROOT/<toolchain>/arrays/<hash>.npy`` for arrays operators capture. ``<toolchain>`` names
Python, numba, llvmlite and the target CPU, so artifacts of different toolchains (or of
``NUMBA_CPU_NAME=generic``) coexist. A module file is created once and never rewritten:
numba stamps its cache index with the file's mtime and size, and a rewrite would make
every other process recompile. A process that finds the module and the index loads the
compiled code instead of compiling; :meth:`ArtifactStore.bundle` and
:meth:`ArtifactStore.install` move these few KB to a process that has no shared disk.

ROOT is ``$WORKBENCH_ARTIFACTS``, or ``<user cache dir>/workbench/artifacts``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .source import ModuleText, Origin

_LOCK = threading.RLock()
ORIGINS: dict[str, list[Origin]] = {}   # module name -> where its functions came from


def default_root() -> Path:
    env = os.environ.get("WORKBENCH_ARTIFACTS")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("workbench")) / "artifacts"


_TOOLCHAIN: str | None = None


def toolchain() -> str:
    """``py311-numba0.68.1-llvmlite0.50.0-<cpu>``: what compiled code depends on."""
    global _TOOLCHAIN
    if _TOOLCHAIN is None:
        import llvmlite
        import numba
        from llvmlite import binding

        cpu = numba.config.CPU_NAME or binding.get_host_cpu_name()
        _TOOLCHAIN = (f"py{sys.version_info[0]}{sys.version_info[1]}-numba{numba.__version__}"
                      f"-llvmlite{llvmlite.__version__}-{cpu}")
    return _TOOLCHAIN


def jit_enabled() -> bool:
    return os.environ.get("WORKBENCH_DISABLE_JIT", "") in ("", "0")


def _njit(func: Any) -> Any:
    import numba

    return numba.njit(nogil=True, cache=True)(func)


def _njit_scalar(func: Any) -> Any:
    """A function of one record inside a fused loop: numpy's error model (a division by
    zero gives inf or nan, as on arrays, instead of raising)."""
    import numba

    return numba.njit(nogil=True, cache=True, error_model="numpy")(func)


_SHARED: dict[str, ArtifactStore] = {}


class ArtifactStore:
    """Content-addressed compiled operators shared by every process that sees ``root``."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self._jitted: dict[tuple[str, str], Any] = {}

    @property
    def dir(self) -> Path:
        return self.root / toolchain()

    def __repr__(self) -> str:
        return f"ArtifactStore({str(self.root)!r})"

    @classmethod
    def shared(cls, root: str | os.PathLike) -> ArtifactStore:
        """This process's store at ``root`` (one per root): whatever uses it shares the
        imported modules and numba dispatchers, so code one stage instance (or function)
        loaded is ready for the next one on the same worker."""
        key = str(root)
        with _LOCK:
            st = _SHARED.get(key)
            if st is None:
                st = _SHARED[key] = cls(root)
            return st

    # --- writing --------------------------------------------------------------------------
    def put(self, mt: ModuleText) -> str:
        """Write a module (once); return its module name ``wb_<hash>``."""
        name = "wb_" + mt.digest[:24]
        path = self.dir / f"{name}.py"
        if not path.exists():
            _write_once(path, mt.text.encode())
        for digest, arr in mt.arrays.items():
            apath = self.dir / "arrays" / f"{digest}.npy"
            if not apath.exists():
                import io

                buf = io.BytesIO()
                np.save(buf, arr, allow_pickle=False)
                _write_once(apath, buf.getvalue())
        ORIGINS[name] = mt.origins
        return name

    # --- loading --------------------------------------------------------------------------
    def module(self, name: str) -> Any:
        """Import ``name`` from the store (once per process)."""
        with _LOCK:
            mod = sys.modules.get(name)
            if mod is not None and getattr(mod, "__wb_store__", None) is self:
                return mod
            path = self.dir / f"{name}.py"
            if not path.exists():
                from ..errors import CompileError

                raise CompileError(f"artifact {name} is not in the store {self.dir}.\nFix: "
                                   "compile it here, or install the bundle from the process "
                                   "that compiled it (ArtifactStore.install).")
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            mod.__wb_store__ = self  # type: ignore[attr-defined]
            mod.__wb_jit__ = _njit if jit_enabled() else (lambda f: f)  # type: ignore
            mod.__wb_scalar__ = _njit_scalar if jit_enabled() else (  # type: ignore
                lambda f: f)
            mod.__wb_array__ = self._array  # type: ignore[attr-defined]
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)  # type: ignore[union-attr]
            except BaseException:
                del sys.modules[name]
                raise
            return mod

    def jitted(self, name: str, func: str) -> Any:
        """The numba dispatcher of ``func`` in module ``name`` (lazy: compiles or loads from
        the cache on first call)."""
        key = (name, func)
        with _LOCK:
            disp = self._jitted.get(key)
            if disp is None:
                py = getattr(self.module(name), func)
                disp = _njit(py) if jit_enabled() else py
                self._jitted[key] = disp
            return disp

    def _array(self, digest: str) -> np.ndarray:
        return np.load(self.dir / "arrays" / f"{digest}.npy", allow_pickle=False)

    # --- moving artifacts between processes without a shared disk ------------------------
    def bundle(self, names: list[str]) -> dict[str, tuple[bytes, int]]:
        """Module files, numba cache files and arrays of ``names``: ``{relpath: (bytes,
        mtime_ns)}`` relative to :attr:`dir`."""
        out: dict[str, tuple[bytes, int]] = {}

        def take(path: Path) -> None:
            rel = str(path.relative_to(self.dir))
            out[rel] = (path.read_bytes(), path.stat().st_mtime_ns)

        cache = self.dir / "__pycache__"
        for name in names:
            path = self.dir / f"{name}.py"
            take(path)
            if cache.is_dir():
                for f in cache.glob(f"{name}.*"):
                    take(f)
            for line in path.read_text().splitlines():
                if "__wb_array__(" in line:
                    digest = line.split("__wb_array__(")[1].strip("')\"")
                    take(self.dir / "arrays" / f"{digest}.npy")
                if "__wb_store__.jitted(" in line:
                    dep = line.split("__wb_store__.jitted(")[1].split(",")[0].strip("'\"")
                    if dep not in names:
                        out.update(self.bundle([dep]))
        return out

    def install(self, files: dict[str, tuple[bytes, int]]) -> None:
        """Write a bundle made by :meth:`bundle`, keeping mtimes (numba checks them)."""
        for rel, (data, mtime_ns) in files.items():
            path = self.dir / rel
            if path.exists() and path.stat().st_mtime_ns == mtime_ns:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
            os.replace(tmp, path)


def _write_once(path: Path, data: bytes) -> None:
    """Create ``path`` atomically unless it exists (never replace: mtimes must not move)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


_DEFAULT: ArtifactStore | None = None


def default_store() -> ArtifactStore:
    global _DEFAULT
    root = default_root()
    if _DEFAULT is None or _DEFAULT.root != root:
        _DEFAULT = ArtifactStore(root)
    return _DEFAULT
