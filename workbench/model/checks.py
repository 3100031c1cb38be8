"""What the model refuses, and how it says so: each message names the operator, what was
expected, what arrived and the fix (pure)."""

from __future__ import annotations

from typing import Any

from ..errors import GraphError


def describe(obj: Any) -> str:
    return f"{type(obj).__name__} {obj!r}"[:80]


def check_state(name: str, state: Any) -> None:
    import numpy as np  # numpy is data, not a runtime: allowed in the pure layer

    arrays = state if isinstance(state, tuple) else (state,)
    for a in arrays:
        if not isinstance(a, np.ndarray):
            raise GraphError(
                f"operator '{name}': state must be a numpy array or a tuple of numpy arrays; "
                f"got {describe(a)}.\nFix: state=np.zeros(1) (and use state[0] in the body).")


def check_operator(op: Any) -> None:
    """Refuse an operator whose options do not make sense together."""
    for label in ("consumes", "produces"):
        v = getattr(op, label)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise GraphError(
                f"operator '{op.name}': {label} must be a positive integer (records per "
                f"firing); got {describe(v)}.\nFix: @wb.operator({label}=4).")
    if op.peek is not None:
        if not isinstance(op.peek, int) or isinstance(op.peek, bool):
            raise GraphError(f"operator '{op.name}': peek must be a positive integer "
                             f"(records a firing reads); got {describe(op.peek)}.")
        if op.peek < op.consumes:
            raise GraphError(
                f"operator '{op.name}': peek={op.peek} is less than consumes="
                f"{op.consumes}: a firing reads peek records and removes consumes of "
                f"them, so it must read at least those it removes.\nFix: "
                f"@wb.operator(consumes={op.consumes}, peek={op.consumes}) or more "
                f"(an FIR filter of k taps: consumes=1, peek=k).")
        if op.key is not None and op.peek > op.consumes:
            raise GraphError(
                f"operator '{op.name}': a keyed operator cannot peek (its records are "
                f"regrouped by key, so a window over the stream has no meaning); got "
                f"key={op.key!r}, peek={op.peek}.\nFix: drop key or peek.")
    if op.state is not None:
        check_state(op.name, op.state)
    if op.key is not None:
        if op.state is None:
            raise GraphError(
                f"operator '{op.name}': key={op.key!r} routes records to keyed state, "
                "but the operator has no state.\nFix: add state=np.zeros(...) or drop key.")
        if (op.consumes, op.produces) != (1, 1):
            raise GraphError(
                f"operator '{op.name}': keyed operators must be 1:1 (consumes=1, "
                f"produces=1); got consumes={op.consumes}, produces={op.produces}.\n"
                "Fix: emit one record per input record (e.g. the running aggregate).")
        if not (isinstance(op.key, str) or callable(op.key)):
            raise GraphError(
                f"operator '{op.name}': key must be a field name or a function of the "
                f"batch returning integer keys; got {describe(op.key)}.")
        if not isinstance(op.key_groups, int) or op.key_groups < 1:
            raise GraphError(f"operator '{op.name}': key_groups must be a positive "
                             f"integer; got {describe(op.key_groups)}.")


def check_splitjoin(sj: Any) -> None:
    """Refuse a split-join with too few branches, unknown split/join kinds or weights that
    do not fit its branches."""
    if len(sj.branches) < 2:
        raise GraphError(f"splitjoin needs at least two branches; got {len(sj.branches)}.")
    if sj.split not in ("duplicate", "roundrobin"):
        raise GraphError(f"splitjoin: split must be 'duplicate' or 'roundrobin'; got "
                         f"{sj.split!r}.")
    if sj.join != "roundrobin":
        raise GraphError(f"splitjoin: join must be 'roundrobin'; got {sj.join!r}.")
    for label in ("split_weights", "join_weights"):
        w = getattr(sj, label)
        if w is not None and (len(w) != len(sj.branches) or
                              any(not isinstance(v, int) or v < 1 for v in w)):
            raise GraphError(f"splitjoin: {label} must be {len(sj.branches)} positive "
                             f"integers, one per branch; got {w!r}.")
    if sj.split_weights is not None and sj.split != "roundrobin":
        raise GraphError("splitjoin: split_weights only apply to split='roundrobin'.")
    for b in sj.branches:
        if b.source is not None:
            raise GraphError("splitjoin: a branch cannot have its own source.")
