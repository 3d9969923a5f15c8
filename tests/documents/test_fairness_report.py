"""The fairness report as one self-contained HTML document."""

from __future__ import annotations

import re

import pytest

from skintag.documents.fairness_report import render_fairness_html
from skintag.fairness import fairness_report
from skintag.fairness.simulate import simulate_predictions


@pytest.fixture(scope="module")
def report():
    sim = simulate_predictions(3000, random_state=3)
    return fairness_report(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, n_boot=200, auroc_n_boot=50,
                           random_state=0)


def test_html_is_self_contained(report, tmp_path):
    html = render_fairness_html(report, tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == html
    assert html.count("<html") == 1
    assert re.search(r"<script[^>]*\bsrc=", html) is None  # no external script: plotly.js inlined, opens offline
    assert len(html) > 3_000_000  # the inlined plotly.js
    assert "plotly.js v" in html or "Plotly" in html
    assert html.count('class="plotly-graph-div"') == 4
    assert f"{report.by_group.at['V', 'tpr']:.3f}" in html
    assert f"random_state {report.random_state}" in html
    assert "Newcombe" in html  # the verdict method is stated


def test_html_with_cdn_is_small_and_adds_the_heatmap_for_intersections():
    sim = simulate_predictions(2000, random_state=4)
    rep = fairness_report(sim.y_true, sim.y_score, sim[["fitzpatrick", "sex"]], threshold=0.5, grouping="three",
                          n_boot=0, auroc_n_boot=0)
    html = render_fairness_html(rep, include_plotlyjs="cdn")
    assert len(html) < 1_000_000 and html.count('class="plotly-graph-div"') == 5
    assert "I-II × female" in html
