"""Operators, composition, stage names and SDF validation: no compilation, no cluster."""

from __future__ import annotations

import numpy as np
import pytest

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
