"""Expression trees of remote calls: build without running, evaluate concurrently, explain.

``rm.f.lazy(...)`` gives a :class:`Lazy` node; arguments that are nodes are subtrees. The
tree is evaluated by Dask (``dask.delayed``: :mod:`workbench.runtime.functions.trees`), so
independent subtrees run at the same time on different workers. The :class:`TreeRun` it
returns knows where each node ran and when (:attr:`TreeRun.nodes`), and compares the
critical path with the serial sum (:meth:`TreeRun.critical_path`).

>>> import operator, workbench as wb
>>> rm = wb.remote(operator)
>>> t = rm.add.lazy(rm.mul.lazy(2, 3), rm.mul.lazy(4, 5))
>>> t
<Lazy add(mul(...), mul(...)): 3 nodes>
>>> t.local()                        # the same tree, run here in this process
26
>>> t.frame()[["function", "depth"]].to_dict("list")
{'function': ['add', 'mul', 'mul'], 'depth': [0, 1, 1]}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(eq=False)
class Lazy:
    """One call of an expression tree (``fn.lazy(*args, **kwargs)``); nothing runs yet."""

    fn: Any
    args: tuple
    kwargs: dict
    key: str

    def children(self) -> list[Lazy]:
        return [a for a in (*self.args, *self.kwargs.values()) if isinstance(a, Lazy)]

    def walk(self) -> Iterator[tuple[Lazy, Lazy | None, int]]:
        """Every distinct node once, parents before children: (node, parent, depth)."""
        seen: set[str] = set()
        todo: list[tuple[Lazy, Lazy | None, int]] = [(self, None, 0)]
        while todo:
            node, parent, depth = todo.pop(0)
            if node.key in seen:
                continue
            seen.add(node.key)
            yield node, parent, depth
            todo.extend((c, node, depth + 1) for c in node.children())

    def frame(self) -> pd.DataFrame:
        """The tree as rows: key, function, parent, children (keys), depth."""
        import pandas as pd

        return pd.DataFrame([{"key": n.key, "function": n.fn.name,
                              "parent": None if p is None else p.key,
                              "children": [c.key for c in n.children()], "depth": d}
                             for n, p, d in self.walk()])

    def local(self) -> Any:
        """Evaluate the tree here, with the local functions (a reference result)."""
        args = [a.local() if isinstance(a, Lazy) else a for a in self.args]
        kwargs = {k: v.local() if isinstance(v, Lazy) else v for k, v in self.kwargs.items()}
        return self.fn.py_func(*args, **kwargs)

    def submit(self) -> TreeRun:
        """Evaluate on the cluster (Dask schedules the tree); returns at once."""
        from ..runtime.functions import runtime
        from ..runtime.functions.trees import submit

        rt = runtime()
        return TreeRun(self, submit(self, rt), rt)

    def compute(self) -> Any:
        """Evaluate on the cluster and return the root's value."""
        return self.submit().result()

    def __repr__(self) -> str:
        inner = ", ".join(f"{a.fn.name}(...)" if isinstance(a, Lazy) else repr(a)[:20]
                          for a in self.args)
        return f"<Lazy {self.fn.name}({inner}): {sum(1 for _ in self.walk())} nodes>"


@dataclass
class TreeRun:
    """An expression tree being evaluated: ``result()``, then where and when each node ran."""

    tree: Lazy
    future: Any
    rt: Any = field(repr=False)
    _nodes: Any = field(default=None, repr=False)

    def result(self, timeout: float | None = None) -> Any:
        return self.future.result(timeout=timeout)

    @property
    def nodes(self) -> pd.DataFrame:
        """One row per node: key, function, parent, children, depth, worker, start, stop
        (seconds from the first node's start) and seconds (after ``result()``)."""
        if self._nodes is None:
            self.result()
            from ..runtime.functions.trees import node_times

            df = self.tree.frame()
            times = node_times(self.rt, set(df["key"]))
            for col in ("worker", "side", "start", "stop"):
                df[col] = [times.get(k, {}).get(col) for k in df["key"]]
            t0 = df["start"].min()
            df["start"] -= t0
            df["stop"] -= t0
            df["seconds"] = df["stop"] - df["start"]
            self._nodes = df
        return self._nodes

    def critical_path(self) -> dict[str, Any]:
        """The longest chain of node times from the root to a leaf against the sum of all
        node times: ``critical_s``, ``serial_s``, ``wall_s`` (first start to last stop),
        ``speedup_bound`` (serial / critical) and ``path`` (functions, root first)."""
        df = self.nodes.set_index("key")
        best: dict[str, tuple[float, list[str]]] = {}

        def longest(key: str) -> tuple[float, list[str]]:
            if key not in best:
                row = df.loc[key]
                sub = max((longest(c) for c in row["children"]), default=(0.0, []),
                          key=lambda t: t[0])
                best[key] = (float(row["seconds"]) + sub[0], [key, *sub[1]])
            return best[key]

        crit, path = longest(self.tree.key)
        serial = float(df["seconds"].sum())
        return {"critical_s": crit, "serial_s": serial,
                "wall_s": float(df["stop"].max() - df["start"].min()),
                "speedup_bound": serial / crit if crit > 0 else float("nan"),
                "path": [df.loc[k, "function"] for k in path], "path_keys": path}
