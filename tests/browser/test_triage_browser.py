"""The Clinician Triage page in a real browser: upload a real photo, wait for the result card and the attention maps,
no exception; the screenshot is saved for docs/screenshots/triage.png.

The page needs a model bundle, so this module runs its own server with ``SKINTAG_MODEL_DIR`` at the demo bundle when it
exists, else at a tiny bundle built for the test (skintag.model.testing.build_tiny_bundle)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import REPO_ROOT, TIMEOUT_S, open_via_navigation, save_screenshot, streamlit_server, wait_for_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def triage_url(shared_data, tmp_path_factory, _browser) -> Iterator[str]:
    demo = REPO_ROOT / "models" / "demo"
    if (demo / "manifest.json").is_file():
        model_dir = demo
    else:
        from tests.explain.tinybundle import tiny_bundle_dir

        model_dir = tiny_bundle_dir(shared_data)
    env = {"SKINTAG_MODEL_DIR": str(model_dir), "SKINTAG_DATA_DIR": str(shared_data),
           "SKINTAG_APP_DATA_DIR": str(tmp_path_factory.mktemp("appdata"))}
    with streamlit_server(env, log_dir=tmp_path_factory.mktemp("streamlit_triage")) as url:
        yield url


def test_triage_upload_shows_result(triage_url, browser_page, ham_dir):
    photo: Path = ham_dir / "images" / "ISIC_0024308.jpg"
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1400})
    open_via_navigation(page, triage_url, "Clinician Triage")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Calibrated probability of malignancy")
    metric.wait_for(state="visible", timeout=TIMEOUT_S * 1000)
    wait_for_app(page)
    value = metric.locator('[data-testid="stMetricValue"]').inner_text()
    assert value in ("<1%", ">99%") or (value.endswith("%") and 1 <= int(value.rstrip("%")) <= 99), value
    tier = page.locator('[data-testid="triage-tier"]')
    assert tier.inner_text().split()[0] in {"LOW", "MODERATE", "HIGH"}
    page.get_by_text("Attention rollout").wait_for()
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('[data-testid=\"stImage\"] img')];"
        " return imgs.length >= 4 && imgs.every(i => i.complete && i.naturalWidth > 0); }"
    )
    assert page.get_by_text("What the model saw:").first.is_visible()
    assert page.locator('[data-testid="colour-legend"]').count() == 2
    page.locator('[data-testid="category-bars"]').wait_for(state="visible")
    assert page.get_by_text("not a diagnosis").first.is_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = save_screenshot(page, "triage", full_page=False)
    assert shot.stat().st_size > 50_000


def test_result_card_leads_on_a_narrow_screen(triage_url, browser_page, ham_dir):
    """At a phone's 390 px the columns stack: the tier and the score come before the photo and the maps."""
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1400})
    open_via_navigation(page, triage_url, "Clinician Triage")  # the sidebar's navigation is hidden at 390 px
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        str(ham_dir / "images" / "ISIC_0024308.jpg"))
    tier = page.locator('[data-testid="triage-tier"]')
    tier.wait_for(state="visible", timeout=TIMEOUT_S * 1000)
    page.get_by_text("Attention rollout").wait_for()
    wait_for_app(page)
    page.set_viewport_size({"width": 390, "height": 1600})
    page.wait_for_timeout(500)  # let the columns reflow
    tier.scroll_into_view_if_needed()
    photo = page.locator('[data-testid="stImage"]').first
    tier_box, photo_box = tier.bounding_box(), photo.bounding_box()
    assert tier_box is not None and photo_box is not None
    assert tier_box["y"] + tier_box["height"] <= photo_box["y"], (tier_box, photo_box)
    assert page.locator('[data-testid="stException"]').count() == 0
    save_screenshot(page, "triage_narrow", full_page=False)
