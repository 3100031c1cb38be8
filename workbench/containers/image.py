"""The workbench image: this host's exact toolchain, pinned, built offline from wheels.

:func:`build` downloads wheels on the host (``pip download`` for the image's Python and
platform, pinned to the versions installed here: numba, llvmlite, numpy, distributed, ...),
builds a wheel of this workbench source, and runs ``containers/Dockerfile`` on them: no
package index is reached from inside the build. The tag names the toolchain and carries a
hash of every pinned version, the base image and the workbench source, so a host whose
numba (or workbench) changes gets a new image instead of a stale one::

    workbench:py311-numba0.68.1-llvmlite0.50.0-3f9c2a1b7e40

Two kinds (``kind=``): ``"full"`` (``containers/Dockerfile``: the compile driver, Dask
scheduler/workers and the container kernel) and ``"driver"`` (``containers/driver/
Dockerfile``: only what the docker compile driver runs, Python, numpy, numba, llvmlite and
the workbench package, no Dask or Jupyter; under 400 MB, so moving it to another node is
cheaper)::

    workbench-driver:py311-numba0.68.1-llvmlite0.50.0-5d0e1c2b3a49

``$WORKBENCH_IMAGE`` (``$WORKBENCH_DRIVER_IMAGE`` for the driver image) overrides the tag
(use that image as it is). The base image is
``$WORKBENCH_BASE_IMAGE``, else ``python:3.11-slim`` when the engine has
it, else ``workbench-base:bookworm`` (``workbench containers base``, no registry needed)
when the engine has that, else ``python:3.11-slim`` (pulled).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ContainerError
from .engine import LABEL, client

REPOSITORY = "workbench"
DEFAULT_BASE = "python:3.11-slim"
OFFLINE_BASE = "workbench-base:bookworm"
# what the image runs: compile driver, Dask scheduler/workers, the container kernel
# (ipykernel, and the widget packages so the live dashboard works there too)
REQUIREMENTS = ("numba", "llvmlite", "numpy", "pandas", "dask", "distributed", "cloudpickle",
                "platformdirs", "ipykernel", "ipython", "ipywidgets", "anywidget", "plotly")
# what the compile driver alone runs (workbench.compile.docker_driver serve: numba, and
# cloudpickle for its requests; platformdirs for the store's default root)
DRIVER_REQUIREMENTS = ("numba", "llvmlite", "numpy", "cloudpickle", "platformdirs")
# kind -> (repository, Dockerfile under containers/, requirements, variable pinning a tag)
KINDS = {"full": (REPOSITORY, "Dockerfile", REQUIREMENTS, "WORKBENCH_IMAGE"),
         "driver": ("workbench-driver", "driver/Dockerfile", DRIVER_REQUIREMENTS,
                    "WORKBENCH_DRIVER_IMAGE")}


def _kind(kind: str) -> tuple[str, str, tuple[str, ...], str]:
    if kind not in KINDS:
        raise ContainerError(f"image kind must be one of {', '.join(KINDS)}; got {kind!r}")
    return KINDS[kind]


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def pins() -> dict[str, str]:
    """``{distribution: version}`` of everything installed in this environment (the image
    installs the subset its requirements need, at exactly these versions)."""
    out: dict[str, str] = {}
    for d in md.distributions():
        name = d.metadata["Name"]
        if name and _norm(name) not in out and _norm(name) != "workbench":
            out[_norm(name)] = d.version
    return out


def _tree() -> Path:
    """The workbench source tree (pyproject.toml beside the package)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").exists() or not (root / "workbench").is_dir():
        raise ContainerError(
            f"workbench is installed from a wheel ({Path(__file__).parents[1]}); building "
            "the image needs the source tree.\nFix: pip install -e <checkout of workbench>, "
            "then `workbench containers build`.")
    return root


def dockerfile_dir() -> Path:
    """``containers/`` of the source tree (or its copy inside the wheel)."""
    here = Path(__file__).resolve().parents[1]
    for d in (here.parent / "containers", here / "_containers"):
        if (d / "Dockerfile").exists():
            return d
    raise ContainerError(f"containers/Dockerfile not found next to {here}")


def source_hash() -> str:
    """Hash of the workbench package source, kernels and project metadata."""
    root = _tree()
    h = hashlib.sha256()
    files = sorted(p for p in (root / "workbench").rglob("*") if p.is_file()
                   and "__pycache__" not in p.parts and p.suffix in (".py", ".json"))
    files += sorted(p for p in (root / "kernels").rglob("*") if p.is_file())
    files += [root / "pyproject.toml", root / "README.md"]
    for p in files:
        if p.exists():
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def resolve_base(base: str | None = None) -> str:
    """The base image to build on (see the module docstring)."""
    base = base or os.environ.get("WORKBENCH_BASE_IMAGE")
    if base:
        return base
    images = client().images
    for name in (DEFAULT_BASE, OFFLINE_BASE):
        try:
            images.get(name)
            return name
        except Exception:  # noqa: BLE001 - ImageNotFound
            continue
    return DEFAULT_BASE


def _pins_hash() -> str:
    p = pins()
    return hashlib.sha256("".join(f"{k}=={p[k]}\n" for k in sorted(p)).encode()
                          ).hexdigest()[:12]


def image_tag(base: str | None = None, kind: str = "full") -> str:
    """``workbench:py311-numba..-llvmlite..-<hash>``: the image for this host's toolchain,
    base and workbench source (``workbench-driver:...`` for ``kind="driver"``)."""
    repository, dockerfile, _, _ = _kind(kind)
    p = pins()
    base = resolve_base(base)
    h = hashlib.sha256(_pins_hash().encode())
    h.update(f"base={base}\nsource={source_hash()}\n".encode())
    h.update(dockerfile_dir().joinpath(dockerfile).read_bytes())
    py = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return (f"{repository}:{py}-numba{p.get('numba', '0')}-llvmlite{p.get('llvmlite', '0')}"
            f"-{h.hexdigest()[:12]}")


def exists(tag: str) -> bool:
    try:
        client().images.get(tag)
        return True
    except Exception:  # noqa: BLE001 - ImageNotFound
        return False


def ensure(base: str | None = None, build_missing: bool = True,
           log: Callable[[str], None] | None = None, kind: str = "full") -> str:
    """The image tag for this host, building it first when the engine lacks it.
    ``$WORKBENCH_IMAGE`` (``$WORKBENCH_DRIVER_IMAGE``) names an image to use as it is (a
    lab's shared one)."""
    var = _kind(kind)[3]
    pinned = os.environ.get(var)
    if pinned:
        if not exists(pinned):
            raise ContainerError(f"{var}={pinned} is not on the engine.\nFix: "
                                 f"docker load/pull it, or unset {var} to build "
                                 "this host's image.")
        return pinned
    tag = image_tag(base, kind)
    if exists(tag):
        return tag
    if not build_missing:
        flag = " --driver" if kind == "driver" else ""
        raise ContainerError(f"the engine has no image {tag} (this host's toolchain and "
                             f"workbench source).\nFix: workbench containers build{flag}")
    return build(base, log=log, kind=kind)


def _wheel_cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("workbench")) / "wheels"


def _pip(args: list[str], what: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode != 0:
        raise ContainerError(f"{what} failed (pip {proc.returncode}):\n{proc.stderr[-2000:]}"
                             "\nFix: check that this machine reaches the package index, or "
                             "fill the wheel cache by hand: pip download ... -d "
                             f"{_wheel_cache()}")


def download_wheels(dest: Path, arch: str = "x86_64",
                    requirements: tuple[str, ...] = REQUIREMENTS) -> list[str]:
    """Wheels of ``requirements`` (default :data:`REQUIREMENTS`) and their dependencies,
    for CPython 3.11 on Linux ``arch``, pinned to this host's versions; cached between
    builds."""
    p = pins()
    dest.mkdir(parents=True, exist_ok=True)
    req = dest / "requirements.txt"
    req.write_text("".join(f"{r}=={p[r]}\n" for r in requirements if r in p))
    con = dest / "constraints.txt"
    con.write_text("".join(f"{k}=={v}\n" for k, v in sorted(p.items())))
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    abi = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    platforms = [f"manylinux_2_{n}_{arch}" for n in (36, 35, 34, 31, 28, 27, 26, 24, 17, 12, 5)]
    platforms += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    wheels = dest / "third-party"
    _pip(["download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
          "--python-version", py, "--implementation", "cp", "--abi", abi, "--abi", "abi3",
          "--abi", "none", *[a for pl in platforms for a in ("--platform", pl)],
          "-d", str(wheels), "-r", str(req), "-c", str(con)], "downloading wheels")
    return sorted(w.name for w in wheels.glob("*.whl"))


def workbench_wheel(dest: Path) -> Path:
    """A wheel of this workbench source tree (no dependencies)."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):
        old.unlink()
    _pip(["wheel", "--quiet", "--disable-pip-version-check", "--no-deps", "-w", str(dest),
          str(_tree())], "building the workbench wheel")
    return next(dest.glob("*.whl"))


def build(base: str | None = None, tag: str | None = None, no_cache: bool = False,
          log: Callable[[str], None] | None = None, kind: str = "full") -> str:
    """Build the image (``kind``: ``"full"`` or ``"driver"``) for this host's toolchain;
    returns its tag."""
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    _, dockerfile, requirements, _ = _kind(kind)
    base = resolve_base(base)
    tag = tag or image_tag(base, kind)
    c = client()
    arch = {"aarch64": "aarch64", "arm64": "aarch64"}.get(
        c.info().get("Architecture", "x86_64"), "x86_64")
    t0 = time.time()
    cache = _wheel_cache() / f"{'' if kind == 'full' else kind + '-'}{arch}-{_pins_hash()}"
    log(f"workbench containers build: {tag} on {base}; wheels in {cache}")
    names = download_wheels(cache, arch, requirements)
    log(f"  {len(names)} wheels ready ({time.time() - t0:.0f} s)")
    with tempfile.TemporaryDirectory(prefix="wb-image-") as ctx:
        ctxp = Path(ctx)
        shutil.copy(dockerfile_dir() / dockerfile, ctxp / "Dockerfile")
        for f in ("requirements.txt", "constraints.txt"):
            shutil.copy(cache / f, ctxp / f)
        (ctxp / "wheels" / "third-party").mkdir(parents=True)
        for w in (cache / "third-party").glob("*.whl"):
            os.link(w, ctxp / "wheels" / "third-party" / w.name) if _same_fs(w, ctxp) \
                else shutil.copy(w, ctxp / "wheels" / "third-party" / w.name)
        wb_whl = workbench_wheel(ctxp / "wheels" / "workbench")
        log(f"  {wb_whl.name} built; docker build ...")
        p = pins()
        lab = {f"{LABEL}.image": "1", f"{LABEL}.kind": kind, f"{LABEL}.base": base,
               f"{LABEL}.pins": _pins_hash(),
               f"{LABEL}.source": source_hash()[:16],
               f"{LABEL}.toolchain": f"numba {p.get('numba')} llvmlite {p.get('llvmlite')}"}
        lines: list[str] = []
        try:
            for chunk in c.api.build(path=ctx, tag=tag, buildargs={"BASE": base}, rm=True,
                                     forcerm=True, decode=True, labels=lab,
                                     nocache=no_cache):
                if "stream" in chunk and chunk["stream"].strip():
                    lines.append(chunk["stream"].rstrip())
                    if chunk["stream"].startswith("Step "):
                        log("  " + chunk["stream"].strip()[:110])
                if "error" in chunk:
                    raise ContainerError(_build_failed(base, chunk["error"], lines))
        except ContainerError:
            raise
        except Exception as exc:  # noqa: BLE001 - APIError, connection trouble
            raise ContainerError(_build_failed(base, str(exc), lines)) from exc
    size = c.images.get(tag).attrs["Size"]
    log(f"built {tag} ({size / 2**20:,.0f} MiB) in {time.time() - t0:.0f} s")
    removed, freed = prune()
    if removed or freed:
        log(f"removed {len(removed)} older image(s) and build stages: {freed / 2**20:,.0f} "
            f"MiB freed (keeping {keep_images()} per toolchain: WORKBENCH_KEEP_IMAGES)")
    return tag


KEEP = 2      # images kept per toolchain: the current one and the one before it


def keep_images() -> int:
    """How many images to keep per toolchain (``$WORKBENCH_KEEP_IMAGES``, default 2)."""
    try:
        return max(1, int(os.environ.get("WORKBENCH_KEEP_IMAGES", KEEP)))
    except ValueError:
        return KEEP


def prune(keep: int | None = None, everything: bool = False) -> tuple[list[str], int]:
    """Remove our images beyond the newest ``keep`` per toolchain (Python, numba and
    llvmlite: the tag without its hash; all of them with ``everything``) and the build
    stages builds leave behind. The image of this source tree and toolchain (the current
    one) is always one of the kept, and an image a container uses stays. Returns the tags
    removed and the bytes the engine reclaimed."""
    c = client()
    keep = keep_images() if keep is None else keep
    try:
        current = {image_tag(kind=k) for k in KINDS}
    except Exception:  # noqa: BLE001 - no source tree or no base here: nothing is current
        current = set()
    before = _disk(c)
    removed: list[str] = []
    groups: dict[str, list] = {}
    for img in c.images.list(filters={"label": f"{LABEL}.image=1"}):
        groups.setdefault(_toolchain_of(img), []).append(img)
    for imgs in groups.values():
        imgs.sort(key=lambda i: (not current & set(i.tags), _created(i)))
        # an image whose tag a later build of it took over keeps no place among the kept
        tagged = [i for i in imgs if i.tags]
        for img in imgs if everything else [i for i in imgs if not i.tags] + tagged[keep:]:
            for tag in img.tags or [img.id]:
                try:
                    c.images.remove(tag, noprune=False)
                    removed.append(tag)
                except Exception:  # noqa: BLE001 - in use by a container: keep it
                    pass
    try:        # dangling build stages (Dockerfile: LABEL org.workbench.stage=build)
        c.images.prune(filters={"dangling": True, "label": f"{LABEL}.stage=build"})
    except Exception:  # noqa: BLE001 - another prune running
        pass
    return removed, max(before - _disk(c), 0)


def _toolchain_of(img: Any) -> str:
    """``workbench:py311-numba0.68.1-llvmlite0.50.0`` for an image of ours ('' untagged)."""
    return img.tags[0].rsplit("-", 1)[0] if img.tags else ""


def _created(img: Any) -> float:
    """Newest first: minus the creation time in seconds (RFC 3339 from the engine)."""
    from datetime import datetime

    stamp = img.attrs.get("Created", "")
    try:
        return -datetime.fromisoformat(stamp[:26].rstrip("Z")).timestamp()
    except ValueError:
        return 0.0


def _disk(c) -> int:
    """Bytes the engine's image layers take."""
    try:
        return int(c.df().get("LayersSize") or 0)
    except Exception:  # noqa: BLE001 - an engine without /system/df
        return 0


def _same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def _build_failed(base: str, error: str, lines: list[str]) -> str:
    tail = "\n".join(lines[-15:])
    msg = f"docker build on {base} failed: {error.strip()}\n{tail}\n"
    if "pull access denied" in error or "lookup" in error or "not found" in error.lower():
        msg += (f"Fix: the engine cannot fetch {base} (no registry reachable?). Build the "
                f"offline base (as root), then use it:\n  workbench containers base "
                f"{OFFLINE_BASE}\n  workbench containers build --base {OFFLINE_BASE}   (or "
                "set WORKBENCH_BASE_IMAGE)")
    else:
        msg += "Fix: read the build output above; `workbench containers build --no-cache` " \
               "starts from scratch."
    return msg
