"""The Fairness Audit page in a real browser on the simulated predictions fixture: the table and the charts render,
the threshold slider moves by keyboard and the page follows, no exception; the screenshot goes to
docs/screenshots/fairness_audit.png (copied by hand after looking at it)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import REPO_ROOT, open_via_navigation, save_screenshot, streamlit_server, wait_for_app

pytestmark = pytest.mark.browser
DEMO = REPO_ROOT / "models" / "demo"


@pytest.fixture(scope="module")
def fairness_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An app server on the page's real default: the demo bundle's external PAD-UFES-20 predictions."""
    from tests.browser.conftest import _require_chromium

    _require_chromium()
    with streamlit_server({"SKINTAG_MODEL_DIR": str(DEMO)}, log_dir=tmp_path_factory.mktemp("fair")) as url:
        yield url


def test_fairness_page_renders_and_follows_the_slider(fairness_url: str, browser_page) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1500})
    open_via_navigation(page, fairness_url, "Fairness Audit")
    heading = page.get_by_role("heading", name=re.compile(r"Fitzpatrick type \(I-VI\) at threshold"))
    heading.wait_for()
    start = float(re.search(r"at threshold ([0-9.]+)", heading.inner_text()).group(1))
    manifest = json.loads((DEMO / "manifest.json").read_text())
    assert start == round(manifest["operating_points"][manifest["default_operating_point"]], 4)
    assert page.get_by_text("predictions_pad_ufes_20.csv").first.is_visible()
    page.locator(".js-plotly-plot").first.wait_for(state="visible")
    assert page.locator('[data-testid="stDataFrame"]').count() >= 2
    assert page.get_by_text("Equalized-odds difference").first.is_visible()

    box = page.locator('[data-testid="stSlider"]').filter(has_text="Threshold (malignant when score")
    slider = box.get_by_role("slider")
    slider.focus()
    for _ in range(5):
        slider.press("ArrowRight")
    wait_for_app(page)
    now = float(slider.get_attribute("aria-valuetext"))
    assert now > start
    moved = page.get_by_role("heading", name=re.compile(rf"at threshold {now:.4f}"))
    moved.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.wait_for_timeout(2500)  # st.dataframe paints its canvas a moment after the run ends
    shot = save_screenshot(page, "fairness_audit", full_page=False)
    assert shot.stat().st_size > 50_000
    assert Path(shot).is_file()
