"""Seeded R-MAT graphs (as in Graph500) cut into CSR partitions, and k-hop queries.

A partition owns a contiguous range of vertices and their out-edges: ``CSR(indptr,
indices, first)`` with ``indices`` holding global vertex ids. A k-hop query from a vertex
counts the vertices of the partition reachable in at most ``k`` hops (edges leaving the
partition end the walk there): it reads a whole partition and returns one number, the
case where running next to the data pays.

>>> src, dst = rmat_edges(8, edge_factor=4, seed=1)
>>> src.size, int(src.max()) < 256
(1024, True)
>>> parts = partitions(8, 2, edge_factor=4, seed=1)
>>> [p.first for p in parts], parts[0].indptr.size
([0, 128], 129)
>>> khop(parts[0], 5, 0), khop(parts[0], 5, 2) >= 1
(1, True)
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

CSR = namedtuple("CSR", ["indptr", "indices", "first"])
CSR.__doc__ = "One graph partition: rows ``first .. first + len(indptr) - 2`` (global ids)."


def rmat_edges(scale: int, edge_factor: int = 16, seed: int = 0, a: float = 0.57,
               b: float = 0.19, c: float = 0.19) -> tuple[np.ndarray, np.ndarray]:
    """``edge_factor * 2**scale`` directed edges of an R-MAT graph on ``2**scale`` vertices
    (Graph500's parameters by default), vertex labels permuted, all from ``seed``."""
    rng = np.random.default_rng(seed)
    m = edge_factor << scale
    src = np.zeros(m, np.int64)
    dst = np.zeros(m, np.int64)
    ab = a + b
    c_norm, a_norm = c / (1.0 - ab), a / ab
    for bit in range(scale):
        down = rng.random(m) > ab
        right = rng.random(m) > np.where(down, c_norm, a_norm)
        src |= down.astype(np.int64) << bit
        dst |= right.astype(np.int64) << bit
    perm = rng.permutation(1 << scale)
    return perm[src], perm[dst]


def partitions(scale: int, parts: int, edge_factor: int = 16, seed: int = 0) -> list[CSR]:
    """The graph's vertices cut into ``parts`` contiguous ranges, one CSR each."""
    n = 1 << scale
    src, dst = rmat_edges(scale, edge_factor, seed)
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order].astype(np.int32)
    out = []
    for i in range(parts):
        lo, hi = i * n // parts, (i + 1) * n // parts
        e0, e1 = np.searchsorted(src, [lo, hi])
        counts = np.bincount(src[e0:e1] - lo, minlength=hi - lo)
        indptr = np.zeros(hi - lo + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        out.append(CSR(indptr, np.ascontiguousarray(dst[e0:e1]), lo))
    return out


def khop(graph: Any, start: int, k: int) -> int:
    """Vertices of ``graph`` (a partition) within ``k`` hops of ``start`` (numba-typable)."""
    indptr, indices, first = graph.indptr, graph.indices, graph.first
    n = indptr.size - 1
    seen = np.zeros(n, np.bool_)
    frontier = np.empty(n, np.int32)
    nxt = np.empty(n, np.int32)
    s = start - first
    seen[s] = True
    frontier[0] = s
    nf, count = 1, 1
    for _ in range(k):
        nn = 0
        for i in range(nf):
            u = frontier[i]
            for e in range(indptr[u], indptr[u + 1]):
                v = indices[e] - first
                if 0 <= v < n and not seen[v]:
                    seen[v] = True
                    nxt[nn] = v
                    nn += 1
        frontier, nxt = nxt, frontier
        nf = nn
        count += nn
    return count


def put_graph(name: str, scale: int, parts: int, edge_factor: int = 16,
              seed: int = 0) -> list[Any]:
    """Generate the graph and keep its partitions in the store as ``NAME/part-i``;
    returns their references."""
    import workbench as wb

    cut = partitions(scale, parts, edge_factor, seed)
    refs = [wb.store.put(f"{name}/part-{i}", p) for i, p in enumerate(cut)]
    remember(refs, cut)
    return refs


def queries(refs: list[Any], count: int, seed: int) -> tuple[list[Any], np.ndarray]:
    """``count`` seeded queries: (partition reference, start vertex in it) per query."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(refs), count)
    parts = [refs[i] for i in which.tolist()]
    firsts = np.asarray([_first(r) for r in refs])
    sizes = np.asarray([_rows(r) for r in refs])
    starts = firsts[which] + (rng.random(count) * sizes[which]).astype(np.int64)
    return parts, starts


_META: dict[str, tuple[int, int]] = {}


def _first(ref: Any) -> int:
    return _META[ref.key][0]


def _rows(ref: Any) -> int:
    return _META[ref.key][1]


def remember(refs: list[Any], parts: list[CSR]) -> None:
    """Keep each partition's first vertex and row count by key (for :func:`queries`)."""
    for r, p in zip(refs, parts):
        _META[r.key] = (int(p.first), int(p.indptr.size - 1))
