"""``wb.store``: values kept on storage workers, passed around as references.

``put`` sends a value to the storage worker that owns its key (a stable hash of the key
over the storage workers) and returns a :class:`StoreRef`; passing the reference to a
function moves only the reference: the function reads the value where it runs (locally on
the storage side, over the network on the compute side). These functions work the same on
the client and inside a function running on a worker (a function can ``put`` its result
and return the reference, so large results never visit the client).

>>> import workbench as wb
>>> ref = wb.store.put("doc/x", np.arange(3))          # doctest: +SKIP
>>> wb.store.get(ref)                                  # doctest: +SKIP
array([0, 1, 2])
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np  # noqa: F401 - the doctest uses it

from ..errors import StoreError, StoreKeyError
from ..model.refs import StoreRef

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["StoreError", "StoreKeyError", "StoreRef", "delete", "get", "list", "put", "ref",
           "sizes"]


def _client() -> Any:
    from ..runtime.functions.store_server import StoreClient

    return StoreClient()


def put(key: str, value: Any, *, worker: str | None = None, replicas: int = 1) -> StoreRef:
    """Keep ``value`` under ``key`` on a storage worker (replacing what was there).

    Parameters
    ----------
    key : str
        Any non-empty string; ``/`` makes hierarchies for :func:`list` prefixes.
    value : object
        Anything Dask can serialise; numpy arrays in it are made read-only.
    worker : str, optional
        A storage worker's address (default: the key's owner).
    replicas : int
        Copies on that many distinct storage workers (default 1). Reads go to a live
        copy, so a key with ``replicas=2`` survives the loss of one storage worker; one
        with a single copy on a lost worker raises :class:`StoreError` naming the key, the
        worker and when it left. More replicas than storage workers is refused.
    """
    return _client().put(key, value, worker, replicas)


def get(key: str | StoreRef) -> Any:
    """The value of a key or reference; a missing key raises :class:`StoreKeyError`
    naming it."""
    c = _client()
    r = key if isinstance(key, StoreRef) else c.ref(_check(key))
    return c.fetch(r)[0]


def ref(key: str) -> StoreRef:
    """The reference of an existing key."""
    return _client().ref(_check(key))


def delete(key: str | StoreRef) -> None:
    """Remove a key, every copy of it (a missing key raises :class:`StoreKeyError`)."""
    if isinstance(key, StoreRef):
        _client().delete(key.key, key.worker)
    else:
        _client().delete(_check(key))


def list(prefix: str = "") -> builtins.list[str]:  # noqa: A001 - wb.store.list is the API
    """Keys starting with ``prefix``, sorted (a replicated key once)."""
    return sorted({row[0] for row in _client().listing(prefix)})


def sizes(prefix: str = "") -> pd.DataFrame:
    """``key``, ``worker``, ``nbytes``, ``type`` of every key starting with ``prefix``
    (a row per copy: a replicated key has one per storage worker that keeps it)."""
    import pandas as pd

    return pd.DataFrame(_client().listing(prefix),
                        columns=["key", "worker", "nbytes", "type"])


def _check(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise StoreError(f"store keys are non-empty strings; got {key!r}.")
    return key
