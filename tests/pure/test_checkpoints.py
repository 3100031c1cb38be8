"""Checkpoints on the client's side: which are complete, which are kept, where they go;
snapshots written and read back through fsspec (a local folder and fsspec's memory
filesystem)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import GraphError
from workbench.runtime.cut import Cut
from workbench.runtime.stream.checkpoint import (
    Checkpoints,
    location,
    read,
    sink_path,
    state_path,
    write,
)

NAMES = {0: {"a[0]", "b[0]", "b[1]"}}


def notice(name, k, gen=0, size=10, error=""):
    return (100.0 + k, name, gen, k, size, 0.001, 0.0, error)


def written(ck, k, gen=0, names=("a[0]", "b[0]", "b[1]")):
    for n in names:
        u, idx = (0, 0) if n == "a[0]" else (1, int(n[2]))
        write(state_path(ck.loc, k, gen, u, idx), (Cut(states={n: np.full(2, k)}), k, k))
    return [notice(n, k, gen) for n in names]


def test_a_checkpoint_is_complete_when_every_instance_wrote_it(tmp_path):
    ck = Checkpoints(str(tmp_path / "run"), every=10, remove_at_end=False)
    notes = written(ck, 1)
    assert ck.absorb(notes[:2], NAMES) == [] and ck.last is None
    done = ck.absorb(notes[2:], NAMES)
    assert [(c["epoch"], c["batch"], c["bytes"]) for c in done] == [(1, 10, 30)]
    assert ck.absorb([notice("a[0]", 1)], NAMES) == []          # counted once
    got = ck.restore(0, 1, [(0, 0), (1, 0), (1, 1)])
    assert got[(1, 1)][0].states["b[1]"].tolist() == [1, 1]


def test_the_last_two_complete_checkpoints_are_kept_and_sink_logs_stay(tmp_path):
    ck = Checkpoints(str(tmp_path / "run"), every=10, remove_at_end=True)
    write(sink_path(ck.loc, 1, 0, 1, 0), {3: np.arange(3.0)})
    write(sink_path(ck.loc, 2, 0, 1, 0), {12: np.arange(2.0)})
    for k in (1, 2, 3, 4):
        ck.absorb(written(ck, k), NAMES)
    left = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert left == ["sink", "state-000003", "state-000004"]
    assert sorted(ck.sink_logs(0, 1, 0, upto=1)) == [3]
    assert sorted(ck.sink_logs(0, 1, 0, upto=4)) == [3, 12]
    ck.close(finished=True)
    assert not (tmp_path / "run").exists()


def test_failed_writes_are_reported_and_do_not_complete(tmp_path):
    ck = Checkpoints(str(tmp_path / "run"), every=5, remove_at_end=False)
    notes = written(ck, 1)
    notes[1] = notice("b[0]", 1, error="OSError: disk full")
    assert ck.absorb(notes, NAMES) == []
    assert ck.errors == ["b[0], checkpoint 1: OSError: disk full"]


def test_an_fsspec_url_works_like_a_folder():
    ck = Checkpoints("memory://wb-test/run-1", every=4, remove_at_end=True)
    assert [c["epoch"] for c in ck.absorb(written(ck, 2), NAMES)] == [2]
    assert read(state_path(ck.loc, 2, 0, 0, 0))[1] == 2
    ck.close(finished=True)


def test_where_checkpoints_go(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_CHECKPOINTS", str(tmp_path))
    assert location(True, "wb-1") == f"{tmp_path}/wb-1"
    assert location("s3://bucket/ck/", "wb-1") == "s3://bucket/ck/wb-1"
    assert location(None, "wb-1") is None and location(False, "wb-1") is None
    with pytest.raises(GraphError, match="checkpoint must be True, a directory or an fsspec"):
        location(3, "wb-1")
