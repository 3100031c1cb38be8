"""Every error the workbench raises on purpose, in one module.

Every message says what was expected, what arrived, where (operator or function, cell
line, batch sequence number) and the fix, in that order, so the first line a user reads
is useful. Errors that carry an original exception (:class:`OperatorError`,
:class:`FunctionError`) cross process boundaries (Dask results) intact.
"""

from __future__ import annotations

import pickle


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""


# --- programs: building, validating, placing ---------------------------------------------

class GraphError(WorkbenchError, ValueError):
    """A program is malformed: bad operator options, bad composition, unknown names."""


class RateError(GraphError):
    """SDF rates disagree: the balance equations of a program have no solution."""


class PlacementError(GraphError):
    """A hint no worker satisfies, or parallelism a stage cannot have."""


class CellError(GraphError):
    """The options of a ``%%stream``/``%%function`` cell, or what the cell defines, do not
    make a program or a function. The magic shows it as a ``UsageError`` (no traceback)."""


class CellSyntaxError(GraphError):
    """The cell is not valid Python; the message shows the cell line and the caret."""


# --- compiling and running ---------------------------------------------------------------

class CompileError(WorkbenchError):
    """numba could not compile an operator (typing error, unsupported construct)."""


class RunError(WorkbenchError):
    """A run cannot do what was asked (for example reconfigure a finished run)."""


class OperatorError(WorkbenchError):
    """An operator failed while running; names the operator and the batch sequence number.

    The original exception is kept as ``__cause__`` and as :attr:`original`.
    """

    def __init__(self, message: str, *, operator: str, seq: int | None,
                 original: BaseException | None = None):
        super().__init__(message)
        self.operator = operator
        self.seq = seq
        self.original = original

    def __reduce__(self):  # crosses process boundaries (Dask tasks) intact
        return (_rebuild_operator_error,
                (str(self), self.operator, self.seq, portable(self.original)))


def _rebuild_operator_error(message: str, operator: str, seq: int | None,
                            original: BaseException | None) -> OperatorError:
    return OperatorError(message, operator=operator, seq=seq, original=original)


# --- serverless functions and the store --------------------------------------------------

class FunctionError(WorkbenchError):
    """A function raised while running; names the function (and the call of a map).

    The original exception is ``__cause__`` and :attr:`original`.
    """

    def __init__(self, message: str, *, function: str, call: int | None = None,
                 original: BaseException | None = None) -> None:
        super().__init__(message)
        self.function = function
        self.call = call
        self.original = original
        self.__cause__ = original

    def __reduce__(self):  # crosses process boundaries (Dask results) intact
        return (_rebuild_function_error,
                (str(self), self.function, self.call, portable(self.original)))


def _rebuild_function_error(message: str, function: str, call: int | None,
                            original: BaseException | None) -> FunctionError:
    return FunctionError(message, function=function, call=call, original=original)


class RemoteCrash(WorkbenchError):
    """The process running a remote function died (a segfault or abort in native code).

    Names the function, what it calls (module function or library symbol) and the lost
    worker. The call is not tried again elsewhere; the nanny restarts the worker.
    """

    def __init__(self, function: str, target: str, worker: str, calls: int = 1) -> None:
        what = "its call" if calls == 1 else f"a chunk of {calls} calls"
        super().__init__(
            f"remote function '{function}' ({target}) crashed worker {worker}: the process "
            f"died while running {what} (a segfault or abort in native code), so its "
            "result is lost and the call was not retried on another worker.\nThe nanny "
            "restarts the worker; later calls run as usual.\nFix: check the arguments "
            "against the C signature (argtypes, restype; arrays big enough for the sizes "
            "passed), or run it in a local process first.")
        self.function = function
        self.target = target
        self.worker = worker
        self.calls = calls

    def __reduce__(self):  # crosses process boundaries (Dask results) intact
        return (RemoteCrash, (self.function, self.target, self.worker, self.calls))


class StoreError(WorkbenchError):
    """The store cannot do what was asked."""


class StoreKeyError(StoreError, LookupError):
    """A key that is not in the store; the message names the key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key

    def __str__(self) -> str:
        return self.args[0]

    def __reduce__(self):
        return (StoreKeyError, (self.key, self.args[0]))


# --- containers --------------------------------------------------------------------------

class ContainerError(WorkbenchError):
    """The Docker engine, an image or a container could not do what was asked."""


def portable(original: BaseException | None) -> BaseException | None:
    """``original`` if it survives pickling (to cross a process boundary, alone or inside
    another error), else a RuntimeError that keeps its type's name and its text."""
    if original is None:
        return None
    try:
        pickle.loads(pickle.dumps(original))
    except Exception:  # noqa: BLE001 - keep its text when the object cannot travel
        return RuntimeError(f"{type(original).__name__}: {original}")
    return original
