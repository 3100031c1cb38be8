"""Shared helpers for benchmarks: environment notes, CSV, a plain-text table."""

from __future__ import annotations

import csv
import os
import platform
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def environment() -> dict[str, str]:
    import numba
    import numpy

    return {"date": time.strftime("%Y-%m-%d %H:%M"), "host": platform.node(),
            "cpus": str(os.cpu_count()), "python": platform.python_version(),
            "numba": numba.__version__, "numpy": numpy.__version__}


QUICK_NOTE = ("--quick: small sizes, a smoke run; bars are not judged (start-up dominates "
              "at these sizes: run without --quick for figures to read against the bars)")


def verdict(label: str, ok: bool, quick: bool) -> str:
    """``"<label> ok"`` or ``"<label> MISSED"``; at ``--quick`` sizes, ``"<label> not
    judged (--quick)"``: a smoke run's figures say nothing about a bar."""
    if quick:
        return f"{label} not judged (--quick)"
    return f"{label} {'ok' if ok else 'MISSED'}"


def median(xs: Iterable[float]) -> float:
    """The median of the values that are numbers (a ``nan`` marks a measurement noise
    swamped); ``nan`` when there are none."""
    vals = [x for x in xs if x == x]
    return statistics.median(vals) if vals else float("nan")


def write_csv(out_dir: str | os.PathLike, name: str, rows: list[dict[str, Any]]) -> Path:
    path = Path(out_dir) / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    return path


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0])

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.rjust(w) for c, w in zip(columns, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(out)


def report(name: str, rows: list[dict[str, Any]], out_dir: str, columns: list[str] | None = None,
           notes: str = "", quick: bool = False) -> None:
    path = write_csv(out_dir, name, rows)
    env = environment()
    print(f"== workbench bench {name}  ({', '.join(f'{k} {v}' for k, v in env.items())})")
    print(table(rows, columns))
    if notes:
        print(notes)
    if quick:
        print(QUICK_NOTE)
    print(f"CSV: {path}")
