"""JupyterLab as a user meets it: ``make lab`` started by the test on loopback, driven in Debian's
headless Chromium (chromedriver): one notebook's Run All on the smoke profile (reading the smoke
pass's caches) shows figures and tables and no error, and saving it leaves git clean."""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import REPO, git_status

pytestmark = pytest.mark.slow  # JupyterLab and a browser

NOTEBOOK = "seed_connectivity.ipynb"
CHROMEDRIVER = shutil.which("chromedriver")

# Run All, then what the notebook's cells hold, read from JupyterLab's own model of it.
RUN_ALL = """
const done = arguments[arguments.length - 1];
(async () => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  await app.commands.execute('notebook:run-all-cells');
  await app.commands.execute('docmanager:save');
  const cells = [];
  const model = panel.content.model.cells;
  for (let i = 0; i < model.length; i++) {
    const cell = model.get(i);
    cells.push({type: cell.type, outputs: cell.type === 'code' ? cell.outputs.toJSON() : []});
  }
  done(JSON.stringify({cells, error: null}));
})().catch(e => done(JSON.stringify({cells: [], error: String(e)})));
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def lab(smoke_pass, smoke_cache, tmp_path):
    """``make lab`` on a free loopback port with a token, its caches those of the smoke pass: (base
    URL, token, the notebook's bytes); the server is stopped and those bytes restored afterwards."""
    port, token = free_port(), secrets.token_hex(16)
    args = (f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 "
            f"--IdentityProvider.token={token} --LabApp.expose_app_in_browser=True")
    env = {**os.environ, "LANDSCAPE_CACHE": str(smoke_cache), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    original = (REPO / "notebooks" / NOTEBOOK).read_bytes()
    server = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=REPO, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"))
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            assert server.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
            return False

    try:
        wait_until(up, 120, "JupyterLab to answer")
        yield base, token, original
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        (REPO / "notebooks" / NOTEBOOK).write_bytes(original)


@pytest.mark.skipif(CHROMEDRIVER is None, reason="chromium-driver is not installed (make setup installs it)")
def test_run_all_in_jupyterlab_shows_figures_and_no_error_and_leaves_git_clean(lab, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    base, token, original = lab
    before = git_status()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_script_timeout(900)
        driver.get(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
        wait_until(lambda: driver.execute_script(
            "const app = window.jupyterapp; const w = app && app.shell.currentWidget;"
            f"return !!(w && w.context && w.context.path === '{NOTEBOOK}');"), 120, "the notebook to open")
        found = json.loads(driver.execute_async_script(RUN_ALL))
    finally:
        driver.quit()
    assert found["error"] is None, found["error"]
    outputs = [o for cell in found["cells"] for o in cell["outputs"]]
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert not errors, [(o["ename"], o["evalue"][:300]) for o in errors]
    html = [str(o.get("data", {}).get("text/html", "")) for o in outputs]
    assert sum("<figure" in h for h in html) >= 3 and sum('class="report-table' in h for h in html) >= 5
    assert any("Hessian" in h or "λmax" in h for h in html)
    assert git_status() == before, "running and saving a notebook in JupyterLab must leave git as it was"
    assert (REPO / "notebooks" / NOTEBOOK).read_bytes() == original, "saved back byte for byte as it was"
