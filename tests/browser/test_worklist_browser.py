"""The Worklist page in a real browser: 10 real PAD-UFES-20 photos uploaded at once are triaged with a progress bar
and listed HIGH first (the open case is the first row and its card says HIGH); then the Monitoring page shows the
recorded outcome. Runs its own server on the demo bundle with an empty app data folder (so an empty case log)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import REPO_ROOT, TIMEOUT_S, open_via_navigation, save_screenshot, streamlit_server, wait_for_app

pytestmark = pytest.mark.browser
DEMO = REPO_ROOT / "models" / "demo"


@pytest.fixture(scope="module")
def server(shared_data, tmp_path_factory, _browser) -> Iterator[tuple[str, Path]]:
    appdata = tmp_path_factory.mktemp("appdata")
    env = {"SKINTAG_MODEL_DIR": str(DEMO), "SKINTAG_DATA_DIR": str(shared_data), "SKINTAG_APP_DATA_DIR": str(appdata)}
    with streamlit_server(env, log_dir=tmp_path_factory.mktemp("streamlit_worklist")) as url:
        yield url, appdata


def _photos(pad_dir: Path) -> list[Path]:
    """10 real photos, 3 of them HIGH under the demo bundle (computed here, not assumed)."""
    from skintag.model import load_bundle
    from skintag.triage import triage_many

    pool = sorted((pad_dir / "images").glob("*.png"))[:40]
    tiers = [r.tier for r in triage_many(load_bundle(DEMO), pool)]
    high = [p for p, t in zip(pool, tiers, strict=True) if t == "HIGH"][:3]
    rest = [p for p, t in zip(pool, tiers, strict=True) if t in ("LOW", "MODERATE")][:7]
    assert len(high) == 3 and len(rest) == 7
    return rest + high  # the HIGH ones uploaded last


def test_worklist_triages_ten_photos_high_first(server, browser_page, pad_dir):
    from skintag.caselog import CaseLog

    url, appdata = server
    photos = _photos(pad_dir)
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1400})
    open_via_navigation(page, url, "Worklist")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(p) for p in photos])
    page.get_by_text("Triaged 10 images.").wait_for(timeout=TIMEOUT_S * 1000 * 2)
    page.get_by_text("Save decision").wait_for()
    wait_for_app(page)
    assert page.locator('[data-testid="stProgress"]').count() == 1
    assert page.get_by_text("10 cases: 3 HIGH,").count() == 1
    assert page.locator('[data-testid="triage-tier"]').inner_text().split()[0] == "HIGH"
    assert page.locator('[data-testid="stException"]').count() == 0
    save_screenshot(page, "worklist", full_page=False)
    with CaseLog(appdata / "caselog.sqlite3") as log:
        cases = log.cases()
        assert len(cases) == 10 and (cases["tier"] == "HIGH").sum() == 3
        log.set_outcome(cases.loc[cases["tier"] == "HIGH", "case_id"].iloc[0], "Melanoma", author="pathology")

    open_via_navigation(page, url, "Monitoring")
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Confirmed outcomes")
    metric.wait_for()
    assert metric.locator('[data-testid="stMetricValue"]').inner_text() == "1"
    page.get_by_text("Outcomes still missing per group").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
