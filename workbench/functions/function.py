"""``@wb.function``: a plain function that runs on the cluster, placed by hint or by cost.

>>> import workbench as wb
>>> @wb.function(placement="storage")
... def nbytes(x):
...     return x.nbytes
>>> nbytes
<Function nbytes placement='storage'>
>>> nbytes.py_func(np.zeros(4))
32
>>> wb.function(placement="gpu-rack")(len)
Traceback (most recent call last):
...
workbench.errors.PlacementError: function 'len': placement 'gpu-rack' ...
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np  # noqa: F401 - the doctest above uses it

from ..model import backends
from ..placement import hints
from . import catalog

if TYPE_CHECKING:
    import pandas as pd

PLACEMENTS = ("auto", "storage", "compute")


def _check_placement(name: str, placement: Any) -> Any:
    return hints.check(placement, f"function '{name}'", allow_auto=True,
                       fix='@wb.function(placement="auto").')


class Function:
    """A function that runs on the cluster. Calling it returns a Dask future.

    Parameters
    ----------
    func : callable
        The body. numba-compiled where it runs when numba can type it (from a
        content-addressed module, as operators are); plain Python otherwise, with the
        reason in :attr:`jit_reason`.
    placement : str or dict
        ``"auto"`` (the cost model: :mod:`workbench.placement.functions`), ``"storage"``,
        ``"compute"``, a worker address, or worker resources ``{name: amount}``.
    name : str, optional
        Defaults to ``func.__name__``.
    jit : bool
        ``False`` runs plain Python everywhere.
    """

    def __init__(self, func: Callable, placement: Any = "auto", name: str | None = None,
                 jit: bool = True) -> None:
        if isinstance(func, Function):
            raise TypeError(f"{func.name} is already a workbench function; its Python "
                            f"function is {func.name}.py_func.")
        self.func = func
        self.name = name or getattr(func, "__name__", "function")
        self.placement = _check_placement(self.name, placement)
        self.jit_requested = jit
        self.token = f"{self.name}-{uuid.uuid4().hex[:10]}"
        self._spec: Any = None
        functools.update_wrapper(self, func, updated=())
        catalog.add(self)

    @property
    def py_func(self) -> Callable:
        """The original Python function (as numba's ``py_func``)."""
        return self.func

    def __repr__(self) -> str:
        return f"<Function {self.name} placement={self.placement!r}>"

    # --- what workers receive --------------------------------------------------------------
    def spec(self) -> Any:
        if self._spec is None:
            from ..compile.artifacts import default_store
            from ..compile.functions import function_module
            from ..runtime.functions.calls import FnSpec

            module, reason = (function_module(self.func, self.name) if self.jit_requested
                              else (None, "jit=False: plain Python"))
            entry = getattr(self.func, "__name__", self.name)
            self._spec = FnSpec(self.name, self.token, self.func, module, entry,
                                str(default_store().root), reason)
        return self._spec

    def _rt(self) -> Any:
        from ..runtime.functions import runtime

        return runtime()

    # --- calling ---------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run one call on the cluster; returns a ``distributed.Future``.

        Futures among the arguments are resolved by Dask where the call runs; store
        references (:class:`~workbench.functions.refs.StoreRef`) are read there (locally on
        the storage side). ``future.result()`` raises :class:`FunctionError` naming this
        function if the body raised.
        """
        return self._rt().call(self, args, kwargs)

    def map(self, *args: Any, **kwargs: Any) -> Any:
        """Many calls, coalesced into one task per worker of the chosen side.

        Positional arguments that are sequences (numpy arrays: along the first axis;
        lists; tuples) give call ``i`` their element ``i``; other positional arguments and
        all keyword arguments go to every call. Returns a ``Calls`` handle:
        ``.result()`` is the results in call order (a numpy array for numbers).

        Large per-call arguments (over 4 MiB in all) travel to each worker in pieces of
        about 4 MiB, one task a piece (straight from the client where it reaches the
        workers: a local cluster, a docker cluster on this machine), so workers compute
        while the rest arrives and results come back as pieces finish; a piece whose
        worker dies is sent again from the client's copy (``calls.resent`` counts them).
        """
        return self._rt().map(self, args, kwargs)

    def warm(self, *args: Any, **kwargs: Any) -> dict[str, tuple[bool, str | None]]:
        """Run one call with these arguments on every worker (compiling or loading the
        compiled code there) without recording it in the profile; returns
        ``{worker: (compiled, reason)}``."""
        return self._rt().warm(self.spec(), args, kwargs)

    def with_placement(self, placement: Any) -> Function:
        """The same body under another placement, with a profile of its own."""
        f = Function(self.func, placement, self.name, self.jit_requested)
        catalog.add(self)                # the registry keeps the original
        return f

    # --- what was measured and decided -------------------------------------------------------
    @property
    def decisions(self) -> pd.DataFrame:
        """Every placement decision with the numbers behind it (pandas DataFrame)."""
        import pandas as pd

        rt = _current_rt()
        rows = [] if rt is None else rt.placer.rows(self.token)
        df = pd.DataFrame(rows)
        if len(df):
            df["time"] = pd.to_datetime(df["time"], unit="s")
            df["function"] = self.name
        return df

    @property
    def profile(self) -> pd.DataFrame:
        """Measured per-call costs on each side (pandas DataFrame, one row per side)."""
        from .view import profile_frame

        return profile_frame(self)

    @property
    def jit(self) -> bool | None:
        """Whether the body ran compiled (``None`` before its first call)."""
        got = self._jit_state()
        if got is None:
            return None if self.spec().module is not None else False
        return got[0]

    def _jit_state(self) -> tuple[bool, str | None] | None:
        """What the workers reported; asks them when their report has not arrived yet."""
        rt = _current_rt()
        if rt is None:
            return None
        return rt.jit_state(self.token, ask=self._spec is not None)

    @property
    def jit_reason(self) -> str | None:
        """Why the body runs as plain Python (``None`` when it is compiled).

        Known before the first call when the source shows why (an ``import`` inside the
        body, an f-string, a call into a pure-Python module: :mod:`workbench.compile.
        precheck`); otherwise from the workers, which fall back to plain Python when numba
        refuses the body at its first call."""
        got = self._jit_state()
        if got is not None:
            return got[1]
        return self.spec().reason

    def view(self) -> dict[str, Any]:
        """A plain record for a dashboard: calls/s, placement, latest decision, reasons."""
        from .view import record

        return record(self)

    def summary(self) -> str:
        from .view import text

        return text([self])

    def dashboard(self, window: float = 60.0, interval: float = 0.5) -> Any:
        """This function's live board (:class:`workbench.observe.widgets.FunctionsBoard`):
        calls/s over the last ``window`` seconds, placement, the latest decision and its
        reasons. ``board.close()`` stops it."""
        return backends.backend("view", "functions-board")([self], window=window,
                                                          interval=interval)


def _current_rt() -> Any:
    """The functions runtime of the current session, if there is one (never starts one)."""
    from ..runtime.functions import current

    return current()


def function(func: Callable | None = None, *, placement: Any = "auto",
             name: str | None = None, jit: bool = True) -> Any:
    """Decorator: ``@wb.function`` or ``@wb.function(placement="storage")``."""
    if func is None:
        return lambda f: Function(f, placement, name, jit)
    return Function(func, placement, name, jit)
