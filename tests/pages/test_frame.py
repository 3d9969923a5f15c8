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
