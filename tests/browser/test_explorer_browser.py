"""The Dataset Explorer in a real browser on the real data: charts render, counts match the loaded table, image
thumbnails load, no exception; screenshots are saved for docs/screenshots/dataset_explorer.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import open_via_navigation, save_screenshot, wait_for_app

pytestmark = pytest.mark.browser


def _open_explorer(page, app_url: str, data_root: Path) -> None:
    open_via_navigation(page, app_url, "Dataset Explorer")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("SkinTag is an AI screening aid, not a diagnosis.").wait_for()
    box = page.get_by_label("Data root", exact=True).and_(page.locator("input"))
    if box.input_value() != str(data_root):  # the server's default root may differ from the tests' data root
        box.fill(str(data_root))
        box.press("Enter")
    box.evaluate("e => e.blur()")
    wait_for_app(page)
    page.locator(".js-plotly-plot").first.wait_for(state="visible")


def test_explorer_renders_real_data(app_url, browser_page, shared_data):
    from skintag.data import available_datasets, load_datasets

    present = [name for name, ok in available_datasets(shared_data).items() if ok]
    expected = load_datasets(present, shared_data)
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1320})
    _open_explorer(page, app_url, shared_data)

    images_metric = page.locator('[data-testid="stMetric"]').filter(has_text="Images").first
    assert images_metric.locator('[data-testid="stMetricValue"]').inner_text() == f"{len(expected):,}"
    heatmap = page.locator(".js-plotly-plot").first
    assert "Base rate of malignancy" in heatmap.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = save_screenshot(page, "dataset_explorer", full_page=False)
    assert shot.stat().st_size > 50_000

    page.get_by_role("tab", name="Images").click()
    wait_for_app(page)
    thumbs = page.locator('[data-testid="stImage"] img')
    thumbs.nth(11).wait_for(state="visible")
    assert thumbs.count() == 12
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.get_by_text(f"{int(expected['has_image'].sum()):,} images match").is_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    save_screenshot(page, "dataset_explorer_images", full_page=False)
