"""The Dataset Explorer in a real browser on the real data: charts render, counts match the loaded table, image
thumbnails load, no exception; screenshots are saved for docs/screenshots/dataset_explorer.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import open_via_navigation, save_screenshot, streamlit_server, wait_for_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def explorer_url(shared_data, tmp_path_factory, _browser) -> Iterator[str]:
    """A server whose data root is the tests' (the page takes it from SKINTAG_DATA_DIR only)."""
    with streamlit_server({"SKINTAG_DATA_DIR": str(shared_data)},
                          log_dir=tmp_path_factory.mktemp("streamlit_explorer")) as url:
        yield url


def _open_explorer(page, app_url: str, data_root: Path) -> None:
    open_via_navigation(page, app_url, "Dataset Explorer")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("SkinTag is an AI screening aid, not a diagnosis.").wait_for()
    wait_for_app(page)
    page.locator(".js-plotly-plot").first.wait_for(state="visible")
    assert page.locator('[data-testid="stTextInput"]').count() == 0  # no box to type a server path into
    assert page.get_by_text(f"Data root: {data_root}").first.is_visible()


def test_explorer_renders_real_data(explorer_url, browser_page, shared_data):
    from skintag.data import available_datasets, distinct_images, load_datasets

    present = [name for name, ok in available_datasets(shared_data).items() if ok]
    table = load_datasets(present, shared_data).table
    expected = distinct_images(table)  # the Images metric counts DermaMNIST (HAM10000's images again) once
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1320})
    _open_explorer(page, explorer_url, shared_data)

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
    assert page.get_by_text(f"{int(table['has_image'].sum()):,} images match").is_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    save_screenshot(page, "dataset_explorer_images", full_page=False)
