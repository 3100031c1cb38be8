"""The functions defined in this process: by name (the latest of each), and every live
version (copies made by ``fn.with_placement`` included)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .function import Function

_BY_NAME: dict[str, Function] = {}
_ALL: weakref.WeakValueDictionary[str, Function] = weakref.WeakValueDictionary()  # by token


def add(fn: Function, latest: bool = True) -> None:
    """Record ``fn``; ``latest=False`` keeps the version the name already has."""
    _ALL[fn.token] = fn
    if latest or fn.name not in _BY_NAME:
        _BY_NAME[fn.name] = fn


def registry() -> list[Function]:
    """Functions defined in this process (the latest of each name)."""
    return list(_BY_NAME.values())


def versions() -> list[Function]:
    """Every live Function object, including copies made by ``with_placement``."""
    return list(_ALL.values())
