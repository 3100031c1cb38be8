"""Test tiers by folder: pure, compile, cluster, magics, notebooks, docker, browser.

Every test session compiles into its own empty artifact store, so compile tests see real
cold compiles and real cache hits.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

TIERS = ("pure", "compile", "cluster", "magics", "notebooks", "docker", "browser")

_STORE = tempfile.mkdtemp(prefix="wb-test-artifacts-")
os.environ["WORKBENCH_ARTIFACTS"] = _STORE
os.environ.pop("WORKBENCH_DISABLE_JIT", None)

# Hypothesis draws new examples on every run, in CI too (its built-in "ci" profile, loaded
# when CI is set, derandomizes: the same examples every run), and prints a failing example
# with the blob that reproduces it (@reproduce_failure); no example database is kept.
settings.register_profile(
    "workbench", parent=settings.get_profile("ci") if os.environ.get("CI") else None,
    derandomize=False, database=None, print_blob=True)
settings.load_profile("workbench")


HERE = Path(__file__).resolve().parent
# a tier may be skipped where its machinery is missing, with one line saying why, unless
# its flag says it is required (CI sets both): then missing machinery fails the tier
REQUIRE = {"docker": "WB_REQUIRE_DOCKER", "browser": "WB_REQUIRE_BROWSER"}


def tier_of(path: str | Path) -> str | None:
    """The tier of a test file: its first folder under tests/; the package's doctests are
    pure. Taken relative to tests/, so a checkout under a folder named like a tier tags
    nothing by accident."""
    p = Path(str(path)).resolve()
    if p.is_relative_to(HERE):
        first = p.relative_to(HERE).parts[0]
        return first if first in TIERS else None
    if p.is_relative_to(HERE.parent / "workbench"):
        return "pure"
    return None


_TIER_OF: dict[str, str] = {}      # nodeid -> tier, from the collected item's own path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item.path)
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))
            _TIER_OF[item.nodeid] = tier
    # the browser tier last: its report test opens the experiment runs the notebooks tier
    # made (a browser run on its own makes them itself)
    items.sort(key=lambda it: _TIER_OF.get(it.nodeid) == "browser")


def skip_or_fail(tier: str, why: str) -> None:
    """Skip a test of ``tier`` for ``why``, or fail it when the tier is required."""
    flag = REQUIRE[tier]
    if os.environ.get(flag) == "1":
        pytest.fail(f"{flag}=1 but {why}", pytrace=False)
    pytest.skip(why)


_DOCKER: list[str | None] = []


def docker_unavailable() -> str | None:
    """Why no Docker engine can be used here (one line), or None (checked once)."""
    if not _DOCKER:
        try:
            from workbench.containers.engine import unavailable

            _DOCKER.append(unavailable())
        except Exception as exc:  # noqa: BLE001 - any reason is a reason to skip
            _DOCKER.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
    return _DOCKER[0]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The docker tier skips with a one-line reason where no engine answers; with
    ``WB_REQUIRE_DOCKER=1`` (set by CI) a missing engine fails it instead."""
    if item.get_closest_marker("docker") is not None:
        why = docker_unavailable()
        if why:
            skip_or_fail("docker", why)


@pytest.fixture(scope="session")
def artifact_root() -> Path:
    return Path(_STORE)


def ipython_shell():
    """The process's real IPython test shell (started once, shared by every tier)."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.testing import globalipapp

    shell = globalipapp.get_ipython()        # None once it has been started
    return shell if shell is not None else InteractiveShell.instance()


def workbench_kernel() -> str:
    """The "Python 3 (workbench)" kernelspec's name, installed into this venv if missing."""
    import sys

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from workbench.notebook import kernelspec

    try:
        KernelSpecManager().get_kernel_spec(kernelspec.NAME)
    except NoSuchKernel:
        kernelspec.install(prefix=sys.prefix)
    return kernelspec.NAME


@contextlib.contextmanager
def kernel_client(name: str = "workbench", spec_manager=None):
    """A started kernel ``name`` and a ready client of it (shut down on exit)."""
    from jupyter_client.manager import KernelManager

    options = {} if spec_manager is None else {"kernel_spec_manager": spec_manager}
    km = KernelManager(kernel_name=name, **options)
    km.start_kernel()   # inherits WORKBENCH_ARTIFACTS from this module
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        yield client
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


# --- experiment notebooks: each run once per session, through `workbench experiment run`

RESULTS = Path(tempfile.mkdtemp(prefix="wb-test-results-"))
_RUNS: dict[tuple, Path] = {}


def notebook_requirements(path: Path) -> list[str]:
    """What a notebook needs beyond a cluster (its metadata's ``workbench.requires``)."""
    import nbformat

    return list(nbformat.read(str(path), as_version=4).metadata
                .get("workbench", {}).get("requires", []))


def experiment_run(name: str, fresh: bool = False, **params: str) -> Path:
    """Run ``notebooks/NAME.ipynb`` at ``size=small`` (and ``params``) with the command a
    user types (``workbench experiment run``) into this session's results folder, once
    per session and parameters (``fresh``: once more); return the run's folder. A
    notebook that needs Docker (or MPI) is skipped without it, or failed where CI
    requires it."""
    from workbench.cli import main

    path = HERE.parent / "notebooks" / f"{name}.ipynb"
    needs = notebook_requirements(path)
    if "docker" in needs:
        why = docker_unavailable()
        if why:
            skip_or_fail("docker", f"{name} needs Docker: {why}")
    if "mpi" in needs:
        from workbench.bench.remote import mpi_unavailable

        why = mpi_unavailable()
        if why:               # the [test] extra installs MPI: in CI a missing one is a failure
            (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(
                f"{name} needs MPI: {why}")
    params = {"size": "small", **params}
    key = (name, tuple(sorted(params.items())))
    if key not in _RUNS or fresh:
        run_id = f"test-{len(_RUNS) + 1:02d}"
        argv = ["experiment", "run", str(path), "--results", str(RESULTS), "--run-id", run_id]
        for k, v in params.items():
            argv += ["-p", f"{k}={v}"]
        if main(argv) != 0:
            pytest.fail(f"`workbench {' '.join(argv)}` failed (see the output above)")
        _RUNS[key] = RESULTS / name / run_id
    return _RUNS[key]


def executed(name: str, **params: str):
    """The executed notebook of :func:`experiment_run`, asserting no cell raised."""
    import nbformat

    run_dir = experiment_run(name, **params)
    nb = nbformat.read(str(run_dir / f"{name}.ipynb"), as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    return nb


# --- per-tier counts: printed at the end; CI fails a required tier that ran nothing ------

_COUNTS: dict[str, dict[str, int]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tier = _TIER_OF.get(report.nodeid, "other")
    c = _COUNTS.setdefault(tier, {"passed": 0, "failed": 0, "skipped": 0})
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        c[report.outcome] += 1


def _required() -> list[str]:
    return [t for t in os.environ.get("WB_REQUIRE_TIERS", "").split(",") if t]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    empty = [t for t in _required()
             if _COUNTS.get(t, {}).get("passed", 0) + _COUNTS.get(t, {}).get("failed", 0)
             == 0]
    if empty and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    tr = terminalreporter
    tr.section("tests per tier")
    for tier in (*TIERS, "other"):
        c = _COUNTS.get(tier)
        if c is None and tier == "other":
            continue
        c = c or {"passed": 0, "failed": 0, "skipped": 0}
        ran = c["passed"] + c["failed"]
        tr.write_line(f"{tier:>9}: ran {ran:4d} (passed {c['passed']}, failed {c['failed']}), "
                      f"skipped {c['skipped']}")
    if _RUNS:
        import json

        tr.section("experiment runs (workbench experiment run)")
        for (name, params), run_dir in _RUNS.items():
            env = json.loads((run_dir / "environment.json").read_text())
            tr.write_line(f"{name:>26} {dict(params)}: {env.get('status')} in "
                          f"{env.get('seconds', 0):.0f} s ({run_dir})")
    for t in _required():
        c = _COUNTS.get(t, {})
        if c.get("passed", 0) + c.get("failed", 0) == 0:
            tr.write_line(f"FAILED: tier {t} is required (WB_REQUIRE_TIERS) and ran no test",
                          red=True)
