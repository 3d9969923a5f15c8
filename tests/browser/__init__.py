"""Real-browser tests: the Streamlit app driven by Playwright in Debian's headless Chromium.

Fixtures live in ``conftest.py`` (``app_url``, ``browser_page``); the helpers below are shared by the page tests.
Screenshots go to ``tests/_artifacts/`` (git-ignored); a page's helper copies the final one to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "tests" / "_artifacts"
CHROMIUM = Path(os.environ.get("SKINTAG_CHROMIUM", "/usr/bin/chromium"))
#: The flags the browser is launched with (fixed by the project's test contract).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Seconds a browser step may wait for the app (model loading on 2 shared CPU cores can be slow).
TIMEOUT_S = float(os.environ.get("SKINTAG_BROWSER_TIMEOUT", "90"))
#: Seconds the Streamlit server may take to answer its health check.
STARTUP_TIMEOUT_S = float(os.environ.get("SKINTAG_APP_STARTUP_TIMEOUT", "90"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(url: str) -> bool:
    """Whether the Streamlit server at ``url`` answers its health check with ``ok``."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:  # a local URL only
            return resp.status == 200 and resp.read().strip() == b"ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


@contextmanager
def streamlit_server(extra_env: Mapping[str, str], *, log_dir: Path, app: Path | None = None) -> Iterator[str]:
    """Run ``streamlit run <app>`` headless on a free local port and yield its URL; stop it on exit.

    The server gets this process's environment (so every ``SKINTAG_*`` variable passes through) updated with
    ``extra_env``. If it exits or is not healthy within ``STARTUP_TIMEOUT_S`` the calling test fails with the
    server's log.
    """
    import pytest

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **extra_env, "PYTHONUNBUFFERED": "1"}
    log_path = Path(log_dir) / f"streamlit-{port}.log"
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app or REPO_ROOT / "streamlit_app.py"),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "minimal",
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                why = (
                    f"exited with code {proc.returncode}" if proc.poll() is not None
                    else f"was not healthy after {STARTUP_TIMEOUT_S:.0f} s"
                )
                pytest.fail(
                    f"Streamlit server {why} ({' '.join(cmd)}).\n--- server log ---\n"
                    f"{log_path.read_text(errors='replace')[-6000:]}",
                    pytrace=False,
                )
            time.sleep(0.25)
        yield url
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a server process started by a test or a bench: terminate, then kill if it has not exited after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def wait_for_app(page: Page, *, timeout_s: float = TIMEOUT_S) -> None:
    """Wait until the Streamlit app has rendered and finished its current script run."""
    timeout = timeout_s * 1000
    page.wait_for_selector('[data-testid="stApp"]', state="attached", timeout=timeout)
    page.wait_for_selector('[data-testid="stSidebar"]', state="visible", timeout=timeout)
    # While a script runs, Streamlit shows a "Running..." status widget; wait until it is gone.
    page.wait_for_function(
        """() => {
            const s = document.querySelector('[data-testid="stStatusWidget"]');
            return !s || !/Running/i.test(s.innerText || "");
        }""",
        timeout=timeout,
    )


def open_page(page: Page, app_url: str, path: str = "", *, timeout_s: float = TIMEOUT_S) -> None:
    """Navigate to ``app_url/path`` (a page's url path, e.g. ``"triage"``) and wait for the run to finish."""
    page.goto(f"{app_url.rstrip('/')}/{path.lstrip('/')}", wait_until="domcontentloaded", timeout=timeout_s * 1000)
    wait_for_app(page, timeout_s=timeout_s)


def open_via_navigation(page: Page, app_url: str, title: str, *, timeout_s: float = TIMEOUT_S) -> None:
    """Open the app's root, wait for the frame (streamlit_app.py's ``st.navigation``, not Streamlit's provisional
    ``pages/`` listing (the pages live in ``app_pages/``, which Streamlit does not auto-discover)), click the page ``title`` in the sidebar and wait for its heading and its run to finish."""
    open_page(page, app_url, timeout_s=timeout_s)
    page.locator('[data-testid="stSidebar"]').get_by_text("Intended use", exact=True).wait_for()
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=title).wait_for()
    wait_for_app(page, timeout_s=timeout_s)


def save_screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Write ``tests/_artifacts/<name>.png`` and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
