"""A page URL opened first on a freshly started server is served through the app frame: ``/triage``, with no visit to
``/`` before, shows the sidebar's intended use, disclaimer and model status and the frame's navigation (not Streamlit's
automatic ``pages/`` list) and, without any interaction, the bundle's integrity status once it is verified; no Deploy
button; the browser contacts no host but the app's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from tests.browser import REPO_ROOT, open_page, streamlit_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fresh_url(tmp_path_factory, _browser) -> Iterator[str]:
    """A server of its own, started for this module and never visited before the test."""
    env = {"SKINTAG_MODEL_DIR": str(REPO_ROOT / "models" / "demo"),
           "SKINTAG_APP_DATA_DIR": str(tmp_path_factory.mktemp("appdata"))}
    with streamlit_server(env, log_dir=tmp_path_factory.mktemp("streamlit_deep_link")) as url:
        yield url


def test_triage_opened_first_shows_the_frame(fresh_url, browser_page):
    page = browser_page
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).hostname or ""))
    open_page(page, fresh_url, "triage")

    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Intended use", exact=True).wait_for(state="visible")
    sidebar.get_by_text("SkinTag is an AI screening aid, not a diagnosis.").wait_for(state="visible")
    manifest = json.loads((REPO_ROOT / "models" / "demo" / "manifest.json").read_text())
    status = sidebar.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="Model:")
    status.wait_for(state="visible")
    assert status.inner_text().split("\n")[-1].strip() == f"Model: {manifest['name']} v{manifest['version']}"
    # the integrity status replaces "checking…" by itself once the background load has verified the bundle
    sidebar.get_by_text("Fingerprint").wait_for(state="visible", timeout=60_000)
    assert sidebar.get_by_text("Integrity: checking").count() == 0

    nav = page.locator('[data-testid="stSidebarNav"]')
    assert [t.split("\n")[-1].strip() for t in nav.locator("a").all_inner_texts()] == [
        "Overview", "Clinician Triage", "Worklist", "Fairness Audit", "Monitoring", "Dataset Explorer",
        "Model Card"]
    page.get_by_role("heading", name="Clinician Triage").wait_for()
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
    assert hosts == {"127.0.0.1"}, f"the page contacted other hosts: {sorted(hosts - {'127.0.0.1'})}"
