"""The browser tier: a real JupyterLab server (loopback, random token, temporary root) and
Debian's Chromium driven by Playwright (``executable_path``: never a downloaded browser).

Skipped, with one line saying why, where Chromium or Playwright is missing, and failed
instead under ``WB_REQUIRE_BROWSER=1``; ``.ci/run`` installs both (``apt_install chromium
chromium-driver``; Playwright comes with the ``[test]`` extra) and sets the flag.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("WB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
NO_NEWS = {"fetchNews": "false", "checkForUpdates": False}


def browser_unavailable() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"browser tier: no Chromium at {CHROMIUM} (apt install chromium chromium-driver)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "browser tier: the playwright package is missing (pip install -e '.[test]')"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    from tests.conftest import skip_or_fail

    why = browser_unavailable()
    if why:
        skip_or_fail("browser", why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on 127.0.0.1 with a token, serving a copy of ``notebooks/``
    whose notebooks ``params`` names are given those parameters (papermill's
    ``prepare_only``: the injected-parameters cell a user would see)."""

    def __init__(self, root: Path, params: dict[str, dict]) -> None:
        import papermill as pm
        import psutil

        shutil.copytree(ROOT / "notebooks", root / "notebooks",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for name, values in params.items():
            path = root / "notebooks" / name
            pm.execute_notebook(str(path), str(path), parameters=values, prepare_only=True,
                                progress_bar=False)
        settings = root / ".jupyter" / "lab" / "user-settings"
        news = settings / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True)
        (news / "notification.jupyterlab-settings").write_text(json.dumps(NO_NEWS))
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.log_path = ARTIFACTS / "jupyterlab.log"
        ARTIFACTS.mkdir(exist_ok=True)
        env = {**os.environ,
               "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
               "JUPYTER_RUNTIME_DIR": str(root / ".jupyter" / "runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(settings),
               "JUPYTERLAB_WORKSPACES_DIR": str(root / ".jupyter" / "lab" / "workspaces")}
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0",
               f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={root}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._ps = psutil.Process(self.proc.pid)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=5)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"JupyterLab did not start; see {self.log_path}") from None
                time.sleep(0.3)

    def url(self, path: str) -> str:
        return f"{self.base}/lab/tree/{path}?token={self.token}"

    def close(self) -> None:
        """Stop the server (it shuts its kernels down); end what is left of its processes."""
        import psutil

        try:
            children = self._ps.children(recursive=True)
        except psutil.Error:
            children = []
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        _, alive = psutil.wait_procs(children, timeout=20)
        for p in alive:             # our kernel's cluster, if the shutdown left any of it
            try:
                p.kill()
            except psutil.Error:
                pass
        self._log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from workbench.notebook import kernelspec

    try:
        KernelSpecManager().get_kernel_spec("workbench")
    except NoSuchKernel:
        kernelspec.install(prefix=sys.prefix)
    live = float(os.environ.get("WB_LIVE_SECONDS", "300"))
    server = Lab(tmp_path_factory.mktemp("lab"),
                 {"00_quickstart.ipynb": {"size": "small", "live_seconds": live}})
    yield server
    server.close()


@pytest.fixture(scope="module")
def page(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 1150})
        console: list[str] = []
        pg.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        try:
            yield pg
        finally:
            (ARTIFACTS / "browser-console.log").write_text("\n".join(console))
            browser.close()
