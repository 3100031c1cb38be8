"""Errors the workbench raises.

Every message says what was expected, what arrived, where (operator, cell line, batch
sequence number) and the fix, in that order, so the first line a user reads is useful.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""


class GraphError(WorkbenchError, ValueError):
    """A program is malformed: bad operator options, bad composition, unknown names."""


class RateError(GraphError):
    """SDF rates disagree: the balance equations of a program have no solution."""


class CompileError(WorkbenchError):
    """numba could not compile an operator (typing error, unsupported construct)."""


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


def portable(original: BaseException | None) -> BaseException | None:
    """``original`` if it pickles (to cross a process boundary inside another error), else
    a RuntimeError that keeps its text."""
    try:
        import pickle

        pickle.dumps(original)
    except Exception:  # noqa: BLE001 - keep its text when the object cannot travel
        return RuntimeError(repr(original))
    return original


def _rebuild_operator_error(message: str, operator: str, seq: int | None,
                            original: BaseException | None) -> OperatorError:
    return OperatorError(message, operator=operator, seq=seq, original=original)


class RunError(WorkbenchError):
    """A run cannot do what was asked (for example reconfigure on the local engine)."""
