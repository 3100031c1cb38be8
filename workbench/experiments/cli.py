"""``workbench experiment run | list | compare | report`` (a thin layer over the module's
functions, which work the same from Python)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .record import ExperimentError


def _run(args: argparse.Namespace) -> int:
    from .runs import notebooks, parse_params, run

    paths = args.notebooks or ([str(p) for p in notebooks()] if args.all else [])
    if not paths:
        print("name a notebook (notebooks/NN_name.ipynb) or --all", file=sys.stderr)
        return 2
    params = parse_params(args.param)
    failed = []
    for path in paths:
        try:
            run(path, params, results=args.results, run_id=args.run_id,
                kernel=args.kernel, timeout=args.timeout)
        except ExperimentError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed.append(path)
    if failed:
        print(f"{len(failed)} of {len(paths)} failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _list(args: argparse.Namespace) -> int:
    from .history import COLUMNS, list_runs
    from .runs import notebooks

    if args.notebooks:
        for p in notebooks():
            print(p)
        return 0
    df = list_runs(args.results)
    if args.experiment:
        df = df[df.experiment == args.experiment]
    if not len(df):
        print("no runs yet: workbench experiment run notebooks/NN_name.ipynb -p size=small")
        return 0
    heads = [c for c in df.columns if c not in COLUMNS]

    def headlines(row) -> str:               # one compact column, not one per headline
        return ", ".join(f"{c}={_short(row[c])}" for c in heads if row[c] == row[c])

    view = df[COLUMNS].assign(headlines=df.apply(headlines, axis=1))
    print(view.to_string(index=False, max_colwidth=90))
    return 0


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _compare(args: argparse.Namespace) -> int:
    from .history import compare, compare_text

    result = compare(args.run_a, args.run_b, args.results)
    print(compare_text(result, all_rows=args.all))
    return 1 if result["flagged"] and args.strict else 0


def _report(args: argparse.Namespace) -> int:
    from .report import build

    print(f"wrote {build(args.results, args.out)}")
    return 0


def add_parser(sub: Any) -> None:
    e = sub.add_parser("experiment", help="run, list, compare and report experiment notebooks")
    esub = e.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--results", default=None,
                        help="results folder (default $WORKBENCH_RESULTS or data/results)")
    r = esub.add_parser("run", parents=[common], help="execute notebooks with papermill and "
                        "record each run in RESULTS/NAME/RUN_ID/")
    r.add_argument("notebooks", nargs="*", help="notebooks/NN_name.ipynb ...")
    r.add_argument("--all", action="store_true", help="every notebooks/NN_*.ipynb")
    r.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                   help="a parameter of the notebook's parameters cell (repeatable)")
    r.add_argument("--run-id", default=None, help="name of the run's folder")
    r.add_argument("--kernel", default=None, help="kernel (default: the notebook's)")
    r.add_argument("--timeout", type=float, default=None, help="seconds per cell")
    r.set_defaults(fn=_run)
    ls = esub.add_parser("list", parents=[common], help="a table of recorded runs")
    ls.add_argument("experiment", nargs="?", help="only this experiment's runs")
    ls.add_argument("--notebooks", action="store_true", help="list the notebooks instead")
    ls.set_defaults(fn=_list)
    c = esub.add_parser("compare", parents=[common], help="two runs' tables side by side")
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.add_argument("--all", action="store_true", help="every value, not only flagged ones")
    c.add_argument("--strict", action="store_true", help="exit 1 when anything is flagged")
    c.set_defaults(fn=_compare)
    rp = esub.add_parser("report", parents=[common], help="one static HTML page of all runs")
    rp.add_argument("--out", default=None, help="where (default RESULTS/report.html)")
    rp.set_defaults(fn=_report)
