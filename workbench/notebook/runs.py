"""The runs started from cells in this process (what ``%wb status`` lists)."""

from __future__ import annotations

from typing import Any

_RUNS: list[Any] = []


def add(run: Any) -> Any:
    _RUNS.append(run)
    return run


def runs() -> list[Any]:
    """Runs started by ``%%stream`` cells in this process, oldest first."""
    return list(_RUNS)


def find(name: str) -> Any:
    """The latest run a cell bound to ``name``, or None."""
    return next((r for r in reversed(_RUNS) if r.name == name), None)


def status() -> str:
    """One summary per run started by a ``%%stream`` cell, with where its stages run."""
    if not _RUNS:
        return "no %%stream runs in this session yet."
    lines = []
    for r in _RUNS:
        lines.append(r.summary())
        plan = getattr(r, "plan", None)
        if plan is not None and hasattr(plan, "describe"):
            lines += ["  " + ln for ln in plan.describe().splitlines()]
    return "\n".join(lines)
