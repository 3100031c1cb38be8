"""The ``workbench`` command: ``kernel``, ``demo``, ``containers``, ``bench``, ``experiment``."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any


def _kernel(args: argparse.Namespace) -> int:
    from .notebook import kernelspec

    prefix = sys.prefix if args.sys_prefix else args.prefix
    name, title = (("workbench-container", "Python 3 (workbench, container)")
                   if args.container else (kernelspec.NAME, "Python 3 (workbench)"))
    where = kernelspec.install(user=args.user, prefix=prefix, name=name)
    print(f"installed kernelspec {name!r} ({title}) in {where}")
    return 0


def _kernel_container(args: argparse.Namespace) -> int:
    """What the "Python 3 (workbench, container)" kernelspec runs: the launcher of
    :mod:`workbench.containers.kernel`, sharing this process's artifact store."""
    from .compile import default_root
    from .containers.kernel import launch

    try:
        return launch(args.connection_file, str(default_root()))
    except Exception as exc:  # noqa: BLE001 - Jupyter shows the launcher's stderr
        print(f"workbench container kernel: {exc}", file=sys.stderr)
        return 1


def _demo(args: argparse.Namespace) -> int:
    from .demo import main

    return main(args)


def _bench(args: argparse.Namespace) -> int:
    from .bench import run

    return run(args.name, args)


def _status(args: argparse.Namespace) -> int:
    from .containers import engine, image

    why = engine.unavailable()
    if why:
        print(f"engine: not available: {why}")
        return 1
    info = engine.client().version()
    print(f"engine: Docker {info.get('Version')} ({engine.client().api.base_url})")
    try:
        base = image.resolve_base()
        for kind, label, flag in (("full", "image: ", ""), ("driver", "driver:", " --driver")):
            tag = image.image_tag(kind=kind)
            have = image.exists(tag)
            size = f", {engine.client().images.get(tag).attrs['Size'] / 2**20:,.0f} MiB" \
                if have else ""
            state = "present" + size if have else f"missing: workbench containers build{flag}"
            print(f"{label} {tag} ({state})")
        print(f"base:   {base} ({'present' if image.exists(base) else 'missing'})")
    except Exception as exc:  # noqa: BLE001 - report, do not fail the status
        print(f"image:  {exc}")
    ours = engine.ours()
    print(f"running: {len(ours['containers'])} container(s) {' '.join(ours['containers'])}; "
          f"{len(ours['networks'])} network(s) {' '.join(ours['networks'])}")
    return 0


def _clean(args: argparse.Namespace) -> int:
    from .containers import engine, image

    removed = engine.cleanup(session=args.session)
    print(f"removed {removed['containers']} container(s), {removed['networks']} network(s)")
    if args.images:
        tags, freed = image.prune(everything=True)
        for tag in tags:
            print(f"removed image {tag}")
        print(f"removed {len(tags)} image(s) and the build stages: {freed / 2**20:,.0f} MiB "
              "freed")
    return 0


def _certs(args: argparse.Namespace) -> int:
    from .runtime.docker_cluster import write_certs

    paths = write_certs(args.dir)
    print(f"wrote {', '.join(paths.values())}\nclient: DASK_CONFIG={args.dir} (then "
          "wb.cluster('tls://127.0.0.1:8786')); compose: WORKBENCH_CERTS=" + args.dir)
    return 0


def _base(args: argparse.Namespace) -> int:
    from .containers.image import OFFLINE_BASE, dockerfile_dir

    script = dockerfile_dir() / "base" / "build.sh"
    return subprocess.call(["bash", str(script), args.name or OFFLINE_BASE])


def _build_image(args: argparse.Namespace) -> int:
    from .containers import image

    print(image.build(args.base, no_cache=args.no_cache,
                      kind="driver" if args.driver else "full"))
    return 0


def _add_containers(sub: Any) -> None:
    c = sub.add_parser("containers", help="the pinned image, Docker clusters, clean-up")
    csub = c.add_subparsers(dest="action", required=True)
    b = csub.add_parser("build", help="build this host's image (wheels downloaded here)")
    b.add_argument("--base", default=None, help="base image (default: $WORKBENCH_BASE_IMAGE, "
                   "python:3.11-slim, or workbench-base:bookworm when only that is present)")
    b.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    b.add_argument("--driver", action="store_true", help="the compile driver's image only "
                   "(numba, no Dask or Jupyter; containers/driver/Dockerfile)")
    b.set_defaults(fn=_build_image)
    s = csub.add_parser("status", help="engine, image for this host, our containers")
    s.set_defaults(fn=_status)
    cl = csub.add_parser("clean", help="remove every container and network workbench started")
    cl.add_argument("--session", default=None, help="only this session's (its id)")
    cl.add_argument("--images", action="store_true",
                    help="also remove every workbench image and build stage (`containers "
                         "build` keeps the newest $WORKBENCH_KEEP_IMAGES, 2, per toolchain)")
    cl.set_defaults(fn=_clean)
    ce = csub.add_parser("certs", help="TLS certificates for containers/compose.yaml")
    ce.add_argument("dir", help="directory for ca.pem, cert.pem, key.pem, dask.yaml")
    ce.set_defaults(fn=_certs)
    ba = csub.add_parser("base", help="build the offline base image with debootstrap (root)")
    ba.add_argument("name", nargs="?", default=None, help="image name (workbench-base:bookworm)")
    ba.set_defaults(fn=_base)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="workbench", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    k = sub.add_parser("kernel", help="Jupyter kernelspec")
    ksub = k.add_subparsers(dest="action", required=True)
    ki = ksub.add_parser("install", help='install "Python 3 (workbench)"')
    where = ki.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="into the user's Jupyter dir")
    where.add_argument("--sys-prefix", action="store_true", help="into this environment")
    where.add_argument("--prefix", help="into PREFIX/share/jupyter/kernels")
    ki.add_argument("--container", action="store_true",
                    help='"Python 3 (workbench, container)": ipykernel inside the image')
    ki.set_defaults(fn=_kernel)
    kr = ksub.add_parser("run-container", help="launch the container kernel (what the "
                         "container kernelspec runs; Jupyter passes the connection file)")
    kr.add_argument("connection_file")
    kr.set_defaults(fn=_kernel_container)

    d = sub.add_parser("demo", help="run the quickstart notebook headless, print throughput")
    d.add_argument("--notebook", default=None, help="notebook to run (default: quickstart)")
    d.add_argument("--out", default=None, help="also save the executed notebook here")
    d.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                   help="a parameter of the notebook, e.g. -p size=small")
    d.set_defaults(fn=_demo)

    _add_containers(sub)

    from .experiments.cli import add_parser as add_experiment

    add_experiment(sub)

    from .bench import BENCHMARKS

    b = sub.add_parser("bench", help="benchmarks: CSV plus a printed table")
    b.add_argument("name", choices=sorted(BENCHMARKS))
    b.add_argument("--out", default="data/bench", help="directory for the CSV (data/bench)")
    b.add_argument("--repeat", type=int, default=5, help="repetitions per measurement")
    b.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    b.add_argument("--trials", type=int, default=None,
                   help="recovery: how many times a worker is killed (default 5)")
    b.add_argument("--pairs", type=int, default=None,
                   help="reconfigure: pairs of runs (reconfigured, fresh) per switch for "
                        "after/fresh (default 7)")
    b.set_defaults(fn=_bench)

    args = p.parse_args(argv)
    if args.cmd not in ("experiment", "demo"):
        return args.fn(args)
    from .errors import WorkbenchError

    try:
        return args.fn(args)
    except WorkbenchError as exc:          # a named problem: its message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
