"""The app frame: every page opens without an exception, and the sidebar always shows the disclaimer and status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]


def test_frame_renders_disclaimer_and_missing_model_status(tmp_path, monkeypatch):
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(tmp_path / "no_bundle"))
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    sidebar_text = " ".join(w.value for w in at.sidebar.warning)
    assert "not a diagnosis" in sidebar_text
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "Model not loaded" in errors and "manifest.json is missing" in errors


def test_frame_shows_model_badge_from_manifest(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"name": "unit-bundle", "version": "9.9"}')
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(bundle))
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert any("unit-bundle" in s.value and "9.9" in s.value for s in at.sidebar.success)


@pytest.mark.parametrize("module", ["skintag", "skintag.settings", "skintag.errors", "skintag.model.manifest"])
def test_core_imports_without_streamlit_or_torch(module):
    code = f"import sys, {module}; print('streamlit' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["False", "False"]


def test_overview_and_model_card_pages_describe_the_demo_bundle(monkeypatch):
    import json

    bundle = REPO / "models" / "demo"
    manifest = json.loads((bundle / "manifest.json").read_text())
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(bundle))
    home = AppTest.from_file(str(REPO / "pages" / "home.py"), default_timeout=60).run()
    assert not home.exception
    text = " ".join(m.value for m in home.markdown)
    data = manifest["training_data"]
    assert f"{data['n_train']} train / {data['n_val']} val / {data['n_test']} test" in text
    card = AppTest.from_file(str(REPO / "pages" / "model_card.py"), default_timeout=60).run()
    assert not card.exception
    body = " ".join(m.value for m in card.markdown)
    acc = manifest["metrics"]["dermamnist_test"]["accuracy"]["value"]
    assert f"{acc:.3f}" in body
    assert not card.title  # one heading only: the card's own


def test_model_card_page_without_a_bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(tmp_path))
    at = AppTest.from_file(str(REPO / "pages" / "model_card.py"), default_timeout=60).run()
    assert not at.exception
    assert "No model card" in at.error[0].value
