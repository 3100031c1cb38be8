"""Operators, composition, stage names and SDF validation: no compilation, no cluster."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workbench as wb
from workbench.examples.quickstart import mean4, running_sum, scale
from workbench.model.sdf import granularity


@wb.operator(consumes=2, produces=3)
def up(x):
    return np.repeat(x, 3)[: len(x) // 2 * 3]


def src(n=64, b=16):
    return wb.sources.array(np.arange(float(n)), batch_size=b)


def test_composition_is_frozen_data_and_runs_nothing():
    prog = src() >> scale >> mean4 >> running_sum
    assert isinstance(prog, wb.Pipeline)
    assert prog.stage_names == ("scale", "mean4", "running_sum")
    with pytest.raises(AttributeError):
        prog.source = None  # frozen
    chain = scale >> mean4
    assert chain.source is None and (src() >> chain).stage_names == ("scale", "mean4")


def test_plain_functions_become_operators():
    def plus1(x):
        return x + 1

    prog = src() >> plus1 >> scale
    assert prog.stage_names == ("plus1", "scale")
    assert prog.stage("plus1").op.consumes == 1


def test_repeated_operators_get_unique_stage_names():
    fan = src() >> wb.splitjoin(scale, mean4 >> scale)
    assert fan.stage_names == ("scale", "mean4", "scale#2")
    assert fan.match_stages("scale") == ["scale", "scale#2"]
    assert fan.match_stages("scale#2") == ["scale#2"]
    with pytest.raises(wb.GraphError, match="no stage named 'nope'.*scale, mean4, scale#2"):
        fan.match_stages("nope")


def test_repetition_vector_of_a_chain():
    sol = (src() >> scale >> mean4 >> running_sum).validate()
    assert sol.repetitions == {"source": 4, "scale": 4, "mean4": 1, "running_sum": 1}
    sol = (src() >> up >> mean4).validate()
    # up fires 4 times (8 in, 12 out); mean4 fires 3 times
    assert sol.repetitions == {"source": 8, "up": 4, "mean4": 3}


def test_splitjoin_join_weights_follow_branch_rates():
    sol = (src() >> wb.splitjoin(scale, mean4 >> scale)).validate()
    assert sol.join_weights == {1: (4, 1)}
    assert sol.repetitions["split@1"] == 4 and sol.repetitions["join@1"] == 1
    rr = (src() >> wb.splitjoin(scale, mean4, split="roundrobin")).validate()
    assert rr.join_weights == {1: (4, 1)}
    assert rr.repetitions["source"] == 8


def test_inconsistent_rates_name_the_operators():
    bad = src() >> wb.splitjoin(scale, mean4 >> scale, join_weights=(1, 1))
    with pytest.raises(wb.RateError) as info:
        bad.validate()
    msg = str(info.value)
    assert "branch 1 (scale): 1 record(s)" in msg
    assert "branch 2 (mean4 >> scale): 1/4" in msg
    assert "mean4, scale" in msg and "Fix:" in msg and "(4, 1)" in msg


def test_nested_splitjoin_validates():
    inner = wb.splitjoin(scale, mean4)
    prog = src() >> wb.splitjoin(inner, scale, split="roundrobin")
    sol = prog.validate()
    assert set(sol.join_weights) == {1, 2}


@pytest.mark.parametrize("kwargs, match", [
    (dict(consumes=0), "consumes must be a positive integer"),
    (dict(produces=1.5), "produces must be a positive integer"),
    (dict(state=0.0), "state must be a numpy array"),
    (dict(key="user"), "has no state"),
    (dict(key="user", state=np.zeros(2), consumes=2), "keyed operators must be 1:1"),
])
def test_bad_operator_options(kwargs, match):
    with pytest.raises(wb.GraphError, match=match):
        wb.operator(lambda x: x, **kwargs)


def test_decorating_twice_says_what_to_do():
    with pytest.raises(wb.GraphError, match="(?s)applied twice.*py_func"):
        wb.operator(scale)


def test_splitjoin_arguments_are_checked():
    with pytest.raises(wb.GraphError, match="at least two branches"):
        wb.splitjoin(scale)
    with pytest.raises(wb.GraphError, match="split must be"):
        wb.splitjoin(scale, mean4, split="hash")
    with pytest.raises(wb.GraphError, match="2 positive integers"):
        wb.splitjoin(scale, mean4, join_weights=(1,))


def test_a_source_only_starts_a_pipeline():
    with pytest.raises(wb.GraphError, match="source can only start"):
        scale >> src()


def test_granularity_of_chains():
    assert granularity([scale]) == 1
    assert granularity([mean4]) == 4
    assert granularity([up, mean4]) == 8   # 8 -> up -> 12 -> mean4 -> 3
    assert granularity([mean4, up]) == 8   # 8 -> 2 -> 3


def test_sources_are_replayable():
    s = src(10, 4)
    assert s.num_batches == 3
    np.testing.assert_array_equal(s.batch(2), [8.0, 9.0])
    g = wb.sources.generator(lambda i: np.random.default_rng(i).random(5), batches=3)
    np.testing.assert_array_equal(g.batch(1), g.batch(1))
    assert [i for i, _ in g.batches()] == [0, 1, 2]
    unbounded = wb.sources.generator(lambda i: np.full(2, i))
    assert unbounded.num_batches is None
    assert [i for i, _ in unbounded.batches(limit=4)] == [0, 1, 2, 3]


def test_dataframe_source_makes_records():
    import pandas as pd

    df = pd.DataFrame({"user": [1, 2, 3], "amount": [1.5, 2.5, 3.5]})
    s = wb.sources.dataframe(df, ["user", "amount"], batch_size=2)
    b = s.batch(0)
    assert b.dtype.names == ("user", "amount") and list(b["user"]) == [1, 2]
    np.testing.assert_array_equal(wb.sources.dataframe(df, "amount").batch(0), [1.5, 2.5, 3.5])
    with pytest.raises(wb.GraphError, match="no column 'x'.*user, amount"):
        wb.sources.dataframe(df, "x")


# --- properties over random programs with split-joins ----------------------------------------
# A program's shape: ("op", consumes, produces, peek - consumes) or ("sj", split,
# split_weights, branches), a branch being a list of such elements.

rate = st.integers(1, 4)
op_spec = st.tuples(st.just("op"), rate, rate, st.integers(0, 3))


def sj_spec(inner):
    """A split-join of 2-3 branches of ``inner`` elements; a roundrobin one with drawn
    split weights or the default (1 each)."""
    def make(split, branches, weights):
        w = tuple(weights[:len(branches)]) if split == "roundrobin" and weights else None
        return ("sj", split, w, branches)

    return st.builds(make, st.sampled_from(["duplicate", "roundrobin"]),
                     st.lists(st.lists(inner, min_size=1, max_size=3), min_size=2,
                              max_size=3),
                     st.none() | st.tuples(*[st.integers(1, 3)] * 3))


elements = st.recursive(op_spec, sj_spec, max_leaves=8)
shapes = st.lists(elements, min_size=1, max_size=4).filter(
    lambda s: any(e[0] == "sj" for e in s))


def build(shape, join_weights=None, perturb=None):
    """The program of ``shape``: operators ``o0, o1, ...`` and split-joins numbered 1, 2,
    ... in the order the solver meets them; ``join_weights`` {k: weights} makes them
    explicit, ``perturb`` ``(i, field, value)`` changes one rate of ``o{i}``. Returns the
    program and, per operator, the innermost split-join it is a branch element of."""
    ops, sjs, inside = [0], [0], {}

    def chain(elems, k):
        out = []
        for e in elems:
            if e[0] == "op":
                i = ops[0]
                ops[0] += 1
                rates = {"consumes": e[1], "produces": e[2]}
                if perturb is not None and perturb[0] == i:
                    rates[perturb[1]] = perturb[2]
                name = f"o{i}"
                inside[name] = k
                out.append(wb.operator(lambda x: x, name=name, peek=rates["consumes"] + e[3],
                                       jit=False, **rates))
            else:
                sjs[0] += 1
                me = sjs[0]
                branches = [wb.Pipeline(None, tuple(chain(b, me))) for b in e[3]]
                out.append(wb.splitjoin(*branches, split=e[1], split_weights=e[2],
                                        join_weights=(join_weights or {}).get(me)))
        return out

    prog = src()
    for el in chain(shape, None):
        prog = prog >> el
    return prog, inside


def check_balance(shape, sol):
    """Every edge: producer firings x records it puts on the edge per firing == consumer
    firings x records it takes per firing (the SDF balance equations, edge by edge)."""
    reps, ops, sjs = sol.repetitions, [0], [0]

    def edge(prod, put, cons, take):
        assert reps[prod] * put == reps[cons] * take, (prod, put, cons, take, reps)

    def chain(elems, prod, put):
        for e in elems:
            if e[0] == "op":
                name = f"o{ops[0]}"
                ops[0] += 1
                edge(prod, put, name, e[1])
                prod, put = name, e[2]
            else:
                sjs[0] += 1
                k = sjs[0]
                w = e[2] or (1,) * len(e[3])
                edge(prod, put, f"split@{k}", 1 if e[1] == "duplicate" else sum(w))
                jw = sol.join_weights[k]
                for j, branch in enumerate(e[3]):
                    end, out = chain(branch, f"split@{k}", 1 if e[1] == "duplicate" else w[j])
                    edge(end, out, f"join@{k}", jw[j])
                prod, put = f"join@{k}", sum(jw)
        return prod, put

    chain(shape, "source", 1)
    assert ops[0] + 2 * sjs[0] + 1 == len(reps)       # every actor, nothing else
    assert all(v > 0 for v in reps.values())
    assert math.gcd(*reps.values()) == 1              # the smallest such vector


@settings(max_examples=200, deadline=None)
@given(shape=shapes, data=st.data())
def test_random_split_join_programs_balance_and_a_changed_rate_is_named(shape, data):
    prog, inside = build(shape)
    sol = prog.validate()
    check_balance(shape, sol)
    explicit, _ = build(shape, sol.join_weights)      # the same weights, written out
    assert explicit.validate().repetitions == sol.repetitions
    # one rate of an operator in a split-join changed: its branch delivers in another ratio
    name = data.draw(st.sampled_from(sorted(n for n, k in inside.items() if k is not None)))
    i = int(name[1:])
    field = data.draw(st.sampled_from(["consumes", "produces"]))
    old = _op_rates(shape)[i][["consumes", "produces"].index(field)]
    new = data.draw(st.integers(1, 5).filter(lambda v: v != old))
    bad, _ = build(shape, sol.join_weights, (i, field, new))
    with pytest.raises(wb.RateError) as info:
        bad.validate()
    msg = str(info.value)
    assert f"inconsistent rates in split-join {inside[name]}:" in msg, msg
    disagree = next(ln for ln in msg.splitlines() if ln.startswith("The operators whose"))
    assert name in disagree.removesuffix(".").split(": ")[1].split(", "), msg
    assert "Fix:" in msg


def _op_rates(shape):
    """(consumes, produces) of each operator, in the order build() names them."""
    out = []

    def visit(elems):
        for e in elems:
            if e[0] == "op":
                out.append((e[1], e[2]))
            else:
                for b in e[3]:
                    visit(b)

    visit(shape)
    return out
