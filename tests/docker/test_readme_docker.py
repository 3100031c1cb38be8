"""The README's snippets that need a Docker engine, run as written (see
tests/cluster/test_readme.py for the others)."""

from __future__ import annotations

import pytest

from tests.cluster.test_readme import needs_docker, run_script, snippets

DOCKER = [c for c in snippets("python") if needs_docker(c)]


def test_there_is_a_docker_snippet():
    assert DOCKER


@pytest.mark.parametrize("code", DOCKER, ids=[f"python-docker-{i}" for i in range(len(DOCKER))])
def test_docker_snippets_run_as_written(code, tmp_path, image):
    out = run_script(code, tmp_path, "snippet.py", timeout=1200)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "Traceback" not in out.stderr, out.stderr[-4000:]
    assert out.stdout.count("[dask] finished") == 3
