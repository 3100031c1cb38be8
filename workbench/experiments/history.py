"""The runs recorded under the results folder: ``list`` and ``compare``.

``compare(A, B)`` puts each table of two runs side by side, row by row on the table's key
columns: a measured column (times, rates) is flagged past the table's tolerance (relative
difference), any other column as soon as it differs (same parameters and seed should give
the same values); and it lists what changed in the environment.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .environment import differences
from .record import ExperimentError, read_meta
from .runs import ENV, results_root

COLUMNS = ["experiment", "run_id", "started", "seconds", "status", "size", "seed", "commit"]


def _runs(root: Path) -> list[Path]:
    return sorted((d for d in root.glob("*/*") if (d / ENV).exists()),
                  key=lambda d: (d.parent.name, _env(d).get("started_at") or 0))


def _env(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / ENV).read_text())
    except (OSError, ValueError):
        return {}


def list_runs(root: str | Path | None = None) -> pd.DataFrame:
    """One row per recorded run: experiment, run id, when, how long, status, size, seed,
    commit and its headline numbers."""
    root = Path(root) if root else results_root()
    rows = []
    for d in _runs(root):
        env, meta = _env(d), read_meta(d)
        p = env.get("parameters", {})
        row = {"experiment": d.parent.name, "run_id": d.name,
               "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(env["started_at"]))
               if env.get("started_at") else "", "seconds": env.get("seconds"),
               "status": env.get("status"), "size": p.get("size"), "seed": p.get("seed"),
               "commit": (env.get("commit") or "")[:8] + ("+" if env.get("dirty") else "")}
        for k, h in meta.get("headlines", {}).items():
            row[k] = h.get("value")
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else COLUMNS)


def find_run(ref: str | Path, root: str | Path | None = None) -> Path:
    """A run folder from its path, ``NAME/RUN_ID``, its run id, or a unique prefix of it."""
    p = Path(ref)
    if (p / ENV).exists():
        return p
    root = Path(root) if root else results_root()
    if (root / p / ENV).exists():
        return root / p
    hits = [d for d in _runs(root) if d.name.startswith(str(ref))]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ExperimentError(f"no run {ref!r} under {root}; `workbench experiment list` "
                              "shows the runs.")
    raise ExperimentError(f"run {ref!r} is ambiguous: "
                          f"{', '.join(f'{h.parent.name}/{h.name}' for h in hits[:6])}; "
                          "give NAME/RUN_ID or more of the run id.")


def tables(run_dir: Path) -> dict[str, tuple[pd.DataFrame, dict]]:
    meta = read_meta(run_dir)
    return {name: (pd.read_csv(run_dir / spec["file"]), spec)
            for name, spec in meta.get("tables", {}).items()}


def _rel(a: Any, b: Any) -> float:
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return math.nan
    if a == b:
        return 0.0
    return (b - a) / abs(a) if a else math.inf


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def compare_tables(a: pd.DataFrame, b: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Long form: one row per (row key, column) with both values, the relative difference
    and whether it is flagged."""
    key = [k for k in spec.get("key", []) if k in a.columns and k in b.columns]
    measured = set(spec.get("measured", []))
    tol = float(spec.get("tolerance", 0.25))
    if key and not a.duplicated(key).any() and not b.duplicated(key).any():
        ja, jb = a.set_index(key), b.set_index(key)
    else:                                          # no unique key: row by row
        ja, jb = a.reset_index(drop=True), b.reset_index(drop=True)
    rows = []
    for idx in ja.index.union(jb.index, sort=False):
        for col in [c for c in ja.columns.union(jb.columns, sort=False)]:
            va = ja.at[idx, col] if idx in ja.index and col in ja.columns else None
            vb = jb.at[idx, col] if idx in jb.index and col in jb.columns else None
            rel = _rel(va, vb)
            if col in measured:     # beyond the tolerance, or on one side only
                flag = (va is None) != (vb is None) or abs(rel) > tol
            else:
                flag = not _same(va, vb)
            rows.append({"row": idx if not isinstance(idx, tuple) else " / ".join(map(str, idx)),
                         "column": col, "measured": col in measured, "a": va, "b": vb,
                         "rel_diff": rel, "flagged": flag})
    return pd.DataFrame(rows)


def compare(run_a: str | Path, run_b: str | Path, root: str | Path | None = None) -> dict:
    """Both runs' tables side by side and the environment's differences (see the module)."""
    da, db = find_run(run_a, root), find_run(run_b, root)
    ta, tb = tables(da), tables(db)
    out: dict[str, Any] = {"a": str(da), "b": str(db), "tables": {}, "missing": []}
    for name in sorted(set(ta) | set(tb)):
        if name not in ta or name not in tb:
            out["missing"].append(f"table {name!r} only in run {'A' if name in ta else 'B'}")
            continue
        out["tables"][name] = compare_tables(ta[name][0], tb[name][0], ta[name][1])
    ea, eb = _env(da), _env(db)
    out["environment"] = differences(ea, eb)
    out["flagged"] = sum(int(t.flagged.sum()) for t in out["tables"].values()) + len(out["missing"])
    return out


def compare_text(result: dict, all_rows: bool = False) -> str:
    lines = [f"A: {result['a']}", f"B: {result['b']}", ""]
    for name, t in result["tables"].items():
        shown = t if all_rows else t[t.flagged]
        lines.append(f"table {name}: {len(t)} value(s), {int(t.flagged.sum())} flagged")
        if len(shown):
            view = shown.assign(rel_diff=shown.rel_diff.map(
                lambda r: "" if r != r else f"{r:+.1%}"))
            lines.append(view.to_string(index=False))
        lines.append("")
    lines += result["missing"]
    if result["environment"]:
        lines.append("environment changed:")
        lines += [f"  {k}: {a!r} -> {b!r}" for k, a, b in result["environment"]]
    else:
        lines.append("environment: unchanged")
    lines.append(f"{result['flagged']} flagged")
    return "\n".join(lines)
