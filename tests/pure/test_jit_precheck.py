"""Which function bodies run compiled and which as plain Python, decided before the first
call from the source (no cluster; ``wb.function(...).jit_reason`` reads the decision)."""

from __future__ import annotations

import fractions
import json
import linecache
import re

import numpy as np
import pytest

import workbench as wb
from workbench.compile.functions import function_module
from workbench.compile.segment import is_numba_error


def with_import(x):
    import math

    return math.sqrt(x)


def with_generator(n):
    def squares():
        for i in range(n):
            yield i * i
    return sum(squares())


def with_generator_expression(n):
    return sum(i * i for i in range(n))


def with_try(x):
    try:
        return 1 / x
    except ZeroDivisionError:
        return -1.0


def with_try_as(x):
    try:
        return 1 / x
    except Exception as exc:
        return str(exc)


def with_fstring(x):
    return f"value {x}"


def with_dict_comprehension(n):
    d = {i: i * i for i in range(n)}
    return sum(d.values())


def with_set_comprehension(n):
    return len({i % 3 for i in range(n)})


def with_json(x):
    return json.dumps({"x": x})


def with_fractions(a, b):
    return float(fractions.Fraction(a, b) + fractions.Fraction(1, 3))


def helper_with_import(x):
    import math

    return math.floor(x)


def calls_helper(x):
    return helper_with_import(x) + 1


def loop(x):
    s = 0.0
    for i in range(x.size):
        s += x[i] * x[i]
    return s


def uses_numpy(x):
    return np.sqrt(x).sum()


@pytest.mark.parametrize("func,construct", [
    (with_import, "an import statement"),
    (with_generator, "yield"),
    (with_generator_expression, "a generator expression"),
    (with_try, "except ZeroDivisionError"),
    (with_try_as, "as exc"),
    (with_fstring, "an f-string"),
    (with_dict_comprehension, "a dict comprehension"),
    (with_set_comprehension, "a set comprehension"),
    (with_json, "json.dumps"),
    (with_fractions, "fractions.Fraction"),
    (calls_helper, "an import statement"),
])
def test_bodies_numba_cannot_compile_are_plain_python_before_the_first_call(func, construct):
    module, reason = function_module(func, func.__name__)
    assert module is None
    assert reason.startswith("numba could not type it") and construct in reason
    fn = wb.function(func, placement="compute")
    assert fn.jit is False and fn.jit_reason == reason       # known before any call
    m = re.search(r" at (\S+) line (\d+): `(.*)`;", reason)      # points at the line
    assert m and linecache.getline(m[1], int(m[2])).strip() == m[3]
    if func is calls_helper:
        assert "in helper_with_import" in reason


@pytest.mark.parametrize("func", [loop, uses_numpy])
def test_bodies_numba_can_compile_still_compile(func):
    module, reason = function_module(func, func.__name__)
    assert module is not None and reason is None
    fn = wb.function(func, placement="compute")
    assert fn.jit is None and fn.jit_reason is None           # decided by its first call


def test_numba_errors_outside_numba_error_count_as_numba_errors():
    from numba.core.errors import UnsupportedBytecodeError

    assert is_numba_error(UnsupportedBytecodeError("Use of unsupported opcode (IMPORT_NAME)"))
    assert not is_numba_error(ValueError("the user's own error"))
