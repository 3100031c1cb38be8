"""The ``workbench`` command: ``kernel install``, ``demo``, ``containers ...``, ``bench ...``."""

from __future__ import annotations

import argparse
import sys


def _kernel(args: argparse.Namespace) -> int:
    from . import kernelspec

    prefix = sys.prefix if args.sys_prefix else args.prefix
    name, title = (("workbench-container", "Python 3 (workbench, container)")
                   if args.container else (kernelspec.NAME, "Python 3 (workbench)"))
    where = kernelspec.install(user=args.user, prefix=prefix, name=name)
    print(f"installed kernelspec {name!r} ({title}) in {where}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import main

    return main(args)


def _bench(args: argparse.Namespace) -> int:
    from .bench import run

    return run(args.name, args)


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

    d = sub.add_parser("demo", help="run the quickstart notebook headless, print throughput")
    d.add_argument("--notebook", default=None, help="notebook to run (default: quickstart)")
    d.add_argument("--out", default=None, help="where to save the executed notebook")
    d.set_defaults(fn=_demo)

    from .containers.cli import add_parser as add_containers

    add_containers(sub)

    from .bench import BENCHMARKS

    b = sub.add_parser("bench", help="benchmarks: CSV plus a printed table")
    b.add_argument("name", choices=sorted(BENCHMARKS))
    b.add_argument("--out", default="data/bench", help="directory for the CSV (data/bench)")
    b.add_argument("--repeat", type=int, default=5, help="repetitions per measurement")
    b.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    b.set_defaults(fn=_bench)

    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
