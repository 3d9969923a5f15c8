"""The app frame in a real browser: the sidebar's intended use and disclaimer are visible; a screenshot is saved."""

from __future__ import annotations

import pytest

from tests.browser import open_page, save_screenshot

pytestmark = pytest.mark.browser


def test_sidebar_disclaimer_visible(app_url, browser_page):
    page = browser_page
    open_page(page, app_url)
    sidebar = page.locator('[data-testid="stSidebar"]')
    disclaimer = sidebar.get_by_text("SkinTag is an AI screening aid, not a diagnosis.")
    disclaimer.wait_for(state="visible")
    assert disclaimer.is_visible()
    assert sidebar.get_by_text("Intended use").is_visible()
    assert page.title() == "SkinTag" or "SkinTag" in page.title()
    # no Python exception rendered anywhere in the app
    assert page.locator('[data-testid="stException"]').count() == 0
    path = save_screenshot(page, "app_frame")
    assert path.stat().st_size > 10_000


def test_server_that_cannot_start_fails_with_its_log(tmp_path):
    from tests.browser import streamlit_server

    with pytest.raises(pytest.fail.Exception, match=r"(?s)exited with code.*server log.*missing_app\.py"):
        with streamlit_server({}, log_dir=tmp_path, app=tmp_path / "missing_app.py"):
            pass
