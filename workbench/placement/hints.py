"""The placement-hint vocabulary, in one place (pure).

A hint says where a stage instance or a function call may run:

- ``"compute"`` or ``"storage"``: workers with that resource;
- a worker address (``"tcp://127.0.0.1:40123"``): that worker;
- resources ``{"gpu": 1}``: workers that have at least those amounts;
- ``"auto"`` (functions only): the cost model decides (:mod:`.functions`).

:func:`parse` reads a hint written on a magic line (``storage``, ``tcp://...``,
``gpu:1,mem:2``), :func:`check` refuses a value that is not a hint, and :func:`resolve`
maps a hint onto the workers Dask knows, refusing one that no worker satisfies with the
list of workers (a Dask task asking for a missing resource would wait forever, silently).

>>> parse("gpu:1,mem:2", "scale")
{'gpu': 1.0, 'mem': 2.0}
>>> resolve("storage", {"tcp://a:1": {"compute": 1}, "tcp://b:1": {"storage": 1}}, "stage 'x'")
('tcp://b:1',)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import PlacementError

PLACES = ("compute", "storage")
EXPECTED = ("compute, storage, a worker address such as tcp://127.0.0.1:8786, or resources "
            "such as gpu:1")


def parse(text: str, who: str, *, allow_auto: bool = False) -> Any:
    """A hint from its written form; ``who`` names the stage or function for the error."""
    text = text.strip()
    if text in PLACES or "://" in text or (allow_auto and text == "auto"):
        return text
    out: dict[str, float] = {}
    for part in text.split(","):
        name, colon, amount = part.partition(":")
        try:
            n = float(amount) if colon and name.strip() else 0.0
        except ValueError:
            n = 0.0
        if n <= 0:
            raise PlacementError(f"{who}: {text!r} is not a place. Expected "
                                 f"{'auto, ' if allow_auto else ''}{EXPECTED}.")
        out[name.strip()] = n
    return out


def check(hint: Any, who: str, *, allow_auto: bool = False, fix: str = "") -> Any:
    """``hint`` if it is a hint (see the module docstring), else a PlacementError whose
    last line is ``fix``."""
    if isinstance(hint, Mapping) or hint in PLACES or (allow_auto and hint == "auto"):
        return hint
    if isinstance(hint, str) and "://" in hint:
        return hint            # a worker address: checked against the cluster on use
    auto = '"auto", ' if allow_auto else ""
    raise PlacementError(
        f"{who}: placement {hint!r} is not a place.\nExpected: {auto}\"storage\", "
        "\"compute\", a worker address such as \"tcp://127.0.0.1:40123\", or worker "
        "resources such as {\"storage\": 1}." + (f"\nFix: {fix}" if fix else ""))


def fmt_workers(workers: Mapping[str, Mapping[str, float]]) -> str:
    return "\n".join(f"  {addr}: {dict(res) or '{}'}" for addr, res in sorted(workers.items()))


def resolve(hint: Any, workers: Mapping[str, Mapping[str, float]], who: str) -> tuple[str, ...]:
    """Workers that satisfy ``hint``, sorted; ``who`` (``"stage 'x'"``, ``"function
    'f'"``) names what asked, in the error."""
    if isinstance(hint, str) and hint in workers:
        return (hint,)
    if isinstance(hint, str) and "://" not in hint:
        req: Mapping[str, Any] = {hint: 1}
    elif isinstance(hint, Mapping):
        req = hint
    else:
        raise PlacementError(
            f"{who}: placement {hint!r} is not a worker of this cluster.\nKnown "
            f"workers:\n{fmt_workers(workers)}\nFix: use one of these addresses, "
            "\"compute\", \"storage\" or a resource dict such as {\"compute\": 1}.")
    found = tuple(sorted(a for a, res in workers.items()
                         if all(res.get(k, 0) >= v for k, v in req.items())))
    if not found:
        raise PlacementError(
            f"{who}: no worker has the resources {dict(req)} (placement {hint!r}).\n"
            f"Workers and their resources:\n{fmt_workers(workers)}\nFix: start the cluster "
            "with such workers, e.g. wb.cluster(compute=2, storage=1), or change the hint.")
    return found
