"""The Fairness Audit page in a real browser on the demo bundle's PAD-UFES-20 predictions: it starts at the rule triage
applies (and says so), the table, verdicts and charts render, the threshold slider moves by keyboard and the page
follows, the number box and the reset button bring it back exactly to the rule, no exception; the screenshot goes to
docs/screenshots/fairness_audit.png."""

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
    # the default audit is the rule triage applies (refer = MODERATE+), each cross-fitted phone photo at the threshold
    # fitted without its patient (recorded beside its score)
    heading = page.get_by_role("heading", name=re.compile(r"Fitzpatrick type \(I-VI\) at the audited rule"))
    heading.wait_for()
    manifest = json.loads((DEMO / "manifest.json").read_text())
    clinical = manifest["domains"]["clinical"]["thresholds"]["moderate"]
    assert page.get_by_text("refer (tier MODERATE or above)").first.is_visible()
    assert page.get_by_text(f"clinical {clinical:.4f}").first.is_visible()
    assert page.get_by_text("the threshold recorded beside each photo's score").first.is_visible()
    assert page.get_by_text("Newcombe").first.is_visible()  # the verdict method is stated
    assert page.get_by_text("predictions_pad_ufes_20.csv").first.is_visible()
    page.locator(".js-plotly-plot").first.wait_for(state="visible")
    assert page.locator('[data-testid="stDataFrame"]').count() >= 2
    assert page.get_by_text("Equalized-odds difference").first.is_visible()

    box = page.locator('[data-testid="stSlider"]').filter(has_text="Threshold (malignant when score")
    slider = box.get_by_role("slider")
    slider.focus()
    for _ in range(5):
        slider.press("ArrowRight")
    # the audit follows the slider: under load the last key press may reach the server after a first rerun, so wait
    # until the heading and the slider agree
    moved = page.get_by_role("heading", name=re.compile(r"at threshold 0\.\d{4}"))
    moved.wait_for()
    page.wait_for_function(
        """(s) => {
            const h = [...document.querySelectorAll('h1,h2,h3')].map(e => e.innerText).find(t => /at threshold/.test(t));
            return h && h.includes('at threshold ' + Number(s.getAttribute('aria-valuetext')).toFixed(4));
        }""", arg=slider.element_handle(), timeout=60_000)
    wait_for_app(page)
    now = float(slider.get_attribute("aria-valuetext"))
    assert page.locator('[data-testid="stException"]').count() == 0
    # the number box follows the slider; the reset button returns exactly to the rule
    box_input = page.locator('[data-testid="stNumberInput"]').filter(has_text="Threshold").locator("input")
    assert float(box_input.input_value()) == pytest.approx(now, abs=5e-5)
    page.get_by_role("button", name="Reset to the bundle rule").click()
    page.get_by_role("heading", name=re.compile(r"at the audited rule")).wait_for()
    wait_for_app(page)
    assert page.get_by_text("All attributes").first.is_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.wait_for_timeout(2500)  # st.dataframe paints its canvas a moment after the run ends
    shot = save_screenshot(page, "fairness_audit", full_page=False)
    assert shot.stat().st_size > 50_000
    assert Path(shot).is_file()
