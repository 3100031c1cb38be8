"""Serverless functions, the API: ``@wb.function``, ``wb.store``, the function view, and
existing code on the cluster: ``wb.remote``, ``wb.offload``, expression trees.

The Dask side lives in :mod:`workbench.runtime.functions`; the cost model in
:mod:`workbench.placement.functions`; the live board in :mod:`workbench.observe.widgets`.
Nothing here imports Dask at module level.
"""

from __future__ import annotations

from typing import Any

from ..model import backends
from . import store
from .catalog import registry
from .function import Function, function
from .offload import Offload, offload
from .remote import RemoteFunction, RemoteLibrary, RemoteModule, remote
from .trees import Lazy, TreeRun
from .view import records, text

__all__ = ["Function", "Lazy", "Offload", "RemoteFunction", "RemoteLibrary", "RemoteModule",
           "TreeRun", "autoscale", "calibrate", "dashboard", "function", "offload", "records",
           "registry", "remote", "store", "summary"]


_SCALER: list[Any] = []


def autoscale(policy: str = "forecast", minimum: int = 1, maximum: int = 4,
              slo_ms: float = 100.0, *, interval: float = 1.0, season_s: float | None = None,
              utilization: float = 0.8, service_s: float | None = None,
              target_duration: float | None = None, session: Any = None) -> Any:
    """Scale the compute workers of the local cluster (``wb.cluster()``) with real worker
    processes; storage workers are never removed. Returns the running
    :class:`~workbench.runtime.scaling.Autoscaler` (``.history``, ``.stop()``); a new
    call stops the previous one.

    ``policy``: ``"forecast"`` (exponential smoothing of the arrival rate, Holt-Winters
    once two seasons of ``season_s`` seconds are seen, asks for the workers the highest
    rate predicted within one measured worker start time needs), ``"reactive"`` (Dask's
    own ``Adaptive``) or ``"fixed"`` (``minimum`` workers). ``slo_ms``: the latency the
    history's ``over_slo`` column counts against. ``service_s``: seconds a call holds a
    worker thread, if known (else measured from the calls). ``target_duration``
    (``reactive`` only): Dask's ``Adaptive`` knob, the seconds of queued work it sizes the
    cluster to clear (Dask's default 5 s when ``None``; with ``interval``, Dask's own
    ``interval`` is then also ours); a latency target in the sub-second range needs it set
    near the SLO, or ``Adaptive`` barely grows.
    """
    from ..runtime.cluster import cluster
    from ..runtime.scaling import Autoscaler

    while _SCALER:
        _SCALER.pop().stop()
    session = session or cluster()
    scaler = Autoscaler(session, policy, minimum, maximum, slo_ms, interval, season_s,
                        utilization, service_s=service_s, target_duration=target_duration)
    _SCALER.append(scaler.start())
    session.on_close.append(lambda _: scaler.stop())
    return scaler


def summary() -> str:
    """Every function's calls/s, placement and latest decision (``%wb functions``)."""
    return text()


def calibrate() -> None:
    """Measure latency and transfer rate between storage and compute workers now (``auto``
    placement does it before its first decision; benchmarks do it before timing)."""
    from ..runtime.functions import runtime

    runtime().calibrate()


def dashboard(window: float = 60.0, interval: float = 0.5) -> Any:
    """The live function board of every function, including those defined after it opens
    (:class:`workbench.observe.widgets.FunctionsBoard`): calls/s per function over the last
    ``window`` seconds, placement, the latest decision and its reasons.
    ``board.close()`` stops it."""
    return backends.backend("view", "functions-board")(None, window=window,
                                                      interval=interval)
