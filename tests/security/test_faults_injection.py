"""Corrupt or unwritable SHAP caches are discarded or disabled (never shown, never a traceback), and user-supplied text
(a group named like a formula, a column named like HTML, a file named like a Markdown link) is inert in every export
and on the Fairness Audit page."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skintag.explain.shap_image import ShapResult, _load_cached, _save_cached
from skintag.fairness import fairness_report
from skintag.fairness.provenance import provenance

REPO = Path(__file__).resolve().parents[2]
#: a Markdown link or image: "](" or "![" not preceded by a backslash, or raw HTML
LIVE = re.compile(r"(?<!\\)\]\(|(?<!\\)!\[|(?<!\\)<img", re.I)
GROUP, COLUMN, FILE = '=HYPERLINK("http://x")', "<img src=http://x>", "[a](http://x).csv"


def _shap(values: np.ndarray, base: float = 0.1) -> ShapResult:
    return ShapResult(values, base, 0.4, 100, "blur(8,8)", "calibrated", 100, False)


@pytest.mark.parametrize("bad", ["shape", "nan", "meta", "zip"])
def test_corrupt_shap_cache_entry_is_discarded(tmp_path, bad):
    good = np.full((16, 16), 0.01, dtype=np.float32)
    assert _save_cached(tmp_path, "k", _shap(good)) is None
    assert _load_cached(tmp_path, "k", 16).values.shape == (16, 16)
    if bad == "shape":
        _save_cached(tmp_path, "k", _shap(np.zeros((8, 8), dtype=np.float32)))
    elif bad == "nan":
        _save_cached(tmp_path, "k", _shap(np.full((16, 16), np.nan, dtype=np.float32)))
    elif bad == "meta":
        (tmp_path / "k.json").write_text(json.dumps({"base_value": 0.1}), encoding="utf-8")
    else:
        (tmp_path / "k.npz").write_bytes(b"PK\x03\x04 not a zip")
    assert _load_cached(tmp_path, "k", 16) is None
    assert not (tmp_path / "k.npz").exists() and not (tmp_path / "k.json").exists()  # recomputed next time


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_unwritable_shap_cache_is_disabled_with_a_message(tmp_path):
    tmp_path.chmod(0o500)
    try:
        note = _save_cached(tmp_path / "shap", "k", _shap(np.zeros((16, 16), dtype=np.float32)))
    finally:
        tmp_path.chmod(0o700)
    assert note is not None and "SHAP cache is disabled" in note and "SKINTAG_APP_DATA_DIR" in note


def test_unwritable_shap_cache_as_root_too(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the folder should be: mkdir fails even for root
    note = _save_cached(blocker / "shap", "k", _shap(np.zeros((16, 16), dtype=np.float32)))
    assert note is not None and "cannot be written" in note


def _hostile_report():
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"y_true": rng.integers(0, 2, n), "y_score": rng.random(n),
                       COLUMN: np.where(rng.random(n) < 0.5, GROUP, "B")})
    rep = fairness_report(df["y_true"], df["y_score"], df[COLUMN], threshold=0.5, grouping=None, n_boot=50,
                          random_state=0)
    return rep.with_context(provenance=provenance(predictions_name=FILE, predictions_sha256="0" * 64, manifest=None))


def test_fairness_exports_are_inert():
    from skintag.documents.fairness_report import render_fairness_html

    rep = _hostile_report()
    csv = rep.to_csv()
    assert "'" + GROUP.replace('"', '""') in csv or "'" + GROUP in csv
    assert not any(cell.startswith("=") for line in csv.splitlines() for cell in line.split(","))
    md = rep.to_markdown()
    assert not LIVE.search(md)
    html = render_fairness_html(rep)
    assert "<img src=http://x>" not in html and "&lt;img src=http://x&gt;" in html or "<img src=http" not in html


def test_case_report_html_escapes_the_clinician_text():
    from skintag.documents.case_report import CaseDetails, render_report_html
    from skintag.triage import QualityGate, rejected_result

    result = rejected_result(QualityGate("reject", ("small",), ()), model={"name": "m"})
    html = render_report_html(result, overlays={}, details=CaseDetails(case_id="c1", note=f"{COLUMN} {FILE}"))
    assert "<img src=http://x>" not in html and "&lt;img src=http://x&gt;" in html


def test_fairness_page_renders_names_as_text(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    rng = np.random.default_rng(1)
    n = 300
    path = tmp_path / FILE.replace("/", "_")  # "[a](http:__x).csv": a name cannot hold "/"
    pd.DataFrame({"y_true": rng.integers(0, 2, n), "y_score": rng.random(n),
                  COLUMN: np.where(rng.random(n) < 0.5, GROUP, "B")}).to_csv(path, index=False)
    monkeypatch.setenv("SKINTAG_PREDICTIONS", str(path))
    at = AppTest.from_file(str(REPO / "app_pages" / "fairness_audit.py"), default_timeout=120).run()
    assert not at.exception
    texts = [m.value for kind in ("markdown", "caption", "error", "warning", "info", "subheader", "success")
             for m in getattr(at, kind)]
    assert texts
    for t in texts:
        assert not LIVE.search(t), t
