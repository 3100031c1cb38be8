"""Expression trees of remote calls on ``dask.delayed`` (Dask schedules them).

A tree is nested lazy calls (``rm.add.lazy(rm.mul.lazy(2, 3), 4)``: objects with ``fn``,
``args``, ``kwargs`` and ``key``, see :mod:`workbench.functions.remote`). Each node
becomes one delayed :func:`~.calls.call_one` task whose arguments are its children's
delayed values; placement hints become annotations. Dask runs independent subtrees
concurrently on different workers and passes results worker to worker. Each node's task
reports its worker and its start and stop times as an event (the functions' topic), which
:func:`node_times` reads back after the tree has been evaluated.
"""

from __future__ import annotations

from typing import Any

from .calls import TOPIC, call_one


def _is_node(v: Any) -> bool:
    return hasattr(v, "fn") and hasattr(v, "key") and hasattr(v, "args")


def to_delayed(node: Any, rt: Any, memo: dict[str, Any] | None = None) -> Any:
    """The ``dask.delayed`` value of ``node`` (children first; a node used twice is one
    task)."""
    import dask

    memo = {} if memo is None else memo
    if node.key in memo:
        return memo[node.key]
    args = tuple(to_delayed(a, rt, memo) if _is_node(a) else a for a in node.args)
    kwargs = {k: to_delayed(v, rt, memo) if _is_node(v) else v
              for k, v in node.kwargs.items()}
    side, workers = rt.targets(node.fn)
    annotations: dict[str, Any] = {}
    if side is not None:
        annotations = {"workers": list(workers), "allow_other_workers": False}
        if side == "storage":
            annotations["resources"] = {"storage": 1}
    with dask.annotate(**annotations):
        d = dask.delayed(call_one, pure=False)(node.fn.spec(), side or "compute", False,
                                               args, kwargs, dask_key_name=node.key)
    memo[node.key] = d
    return d


def submit(node: Any, rt: Any) -> Any:
    """Evaluate the tree on the cluster: the root's Dask future."""
    d = to_delayed(node, rt)
    return rt.client.compute(d, optimize_graph=False)


def node_times(rt: Any, keys: set[str]) -> dict[str, dict]:
    """Per task key: the worker that ran it and its start and stop (epoch seconds), from
    the events its task sent."""
    out: dict[str, dict] = {}
    for _, msg in rt.client.get_events(TOPIC):
        k = msg.get("key") if isinstance(msg, dict) else None
        if k in keys:
            out[k] = {"worker": msg["worker"], "start": msg["t0"], "stop": msg["t"],
                      "side": msg["side"]}
    return out
