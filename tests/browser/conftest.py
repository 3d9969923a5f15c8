"""Browser-test fixtures: one headless Streamlit server per session and a fresh Chromium page per test.

* ``app_url`` starts ``streamlit run streamlit_app.py`` on a free local port (headless, no usage statistics, no file
  watcher), with the test process's environment — so every ``SKINTAG_*`` variable reaches the app — plus whatever
  the overridable ``app_env`` fixture adds; waits for ``/_stcore/health``; fails with the server's log if it does not
  come up; stops the server at the end of the session.
* ``browser_page`` is a Playwright (sync API) page in Debian's Chromium at ``/usr/bin/chromium``, launched with the
  project's fixed flags. Without that binary the browser tests are skipped locally and fail under ``CI``.
  Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_S, streamlit_server


def _require_chromium() -> Path:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    msg = f"Chromium not found at {CHROMIUM} (install Debian's chromium package; set SKINTAG_CHROMIUM to use another)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def app_env() -> dict[str, str]:
    """Extra environment for the session's app server. A module that needs another environment (e.g. its own
    ``SKINTAG_MODEL_DIR``) should start its own server with ``tests.browser.streamlit_server`` in a module fixture."""
    return {}


@pytest.fixture(scope="session")
def app_url(app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Streamlit server running ``streamlit_app.py`` for this test session."""
    _require_chromium()  # no point starting a server the browser cannot reach
    with streamlit_server(app_env, log_dir=tmp_path_factory.mktemp("streamlit")) as url:
        yield url


@pytest.fixture(scope="session")
def _browser() -> Iterator[object]:
    chromium = _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(_browser) -> Iterator[object]:
    """A fresh Playwright page (own context, 1400×1000 viewport) in headless Chromium."""
    context = _browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    context.set_default_timeout(TIMEOUT_S * 1000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
