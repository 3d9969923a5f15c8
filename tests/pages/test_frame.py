"""The app frame: every page opens without an exception, and the sidebar always shows the disclaimer and status."""

from __future__ import annotations

import contextlib
import os
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
    errors = " ".join(e.value for e in at.sidebar.error).replace("\\", "")  # paths are shown Markdown-escaped
    assert "Model not loaded" in errors and "manifest.json is missing" in errors


def test_frame_shows_model_badge_from_manifest(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"name": "unit-bundle", "version": "9.9"}')
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(bundle))
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    shown = [s.value.replace("\\", "") for s in at.sidebar.success]  # manifest text is Markdown-escaped (safe_md)
    assert any("unit-bundle" in v and "9.9" in v for v in shown)


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
    home = AppTest.from_file(str(REPO / "app_pages" / "home.py"), default_timeout=60).run()
    assert not home.exception
    text = " ".join(m.value for m in home.markdown)
    data = manifest["training_data"]
    assert f"{data['n_train']} train / {data['n_val']} val / {data['n_test']} test" in text
    card = AppTest.from_file(str(REPO / "app_pages" / "model_card.py"), default_timeout=60).run()
    assert not card.exception
    body = " ".join(m.value for m in card.markdown)
    acc = manifest["metrics"]["dermamnist_test"]["accuracy"]["value"]
    assert f"{acc:.3f}" in body
    assert not card.title  # one heading only: the card's own


def test_model_card_page_without_a_bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(tmp_path))
    at = AppTest.from_file(str(REPO / "app_pages" / "model_card.py"), default_timeout=60).run()
    assert not at.exception
    assert "No model card" in at.error[0].value


@pytest.mark.parametrize("page", ["home.py", "model_card.py"])
def test_light_pages_run_without_torch(page):
    """Overview and Model Card render (on the demo bundle) without importing torch or transformers."""
    code = (
        "import sys\nfrom streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(REPO / 'app_pages' / page)!r}, default_timeout=60).run()\n"
        "assert not at.exception, at.exception\n"
        "print(len(at.markdown) > 0, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKINTAG_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["True", "False", "False"]


def test_bundle_loads_once_in_the_background_and_retries_a_failure(tmp_path):
    """start_bundle_load returns the same running load on every call; get_bundle waits for it; a bundle that fails
    verification raises ModelBundleError and is tried again (a new load) on the next call."""
    import shutil

    from skintag.errors import ModelBundleError
    from skintag.settings import Settings
    from skintag.ui import common

    demo = Settings(model_dir=REPO / "models" / "demo")
    first = common.start_bundle_load(demo)
    assert common.start_bundle_load(demo) is first
    bundle = common.get_bundle(demo)
    assert bundle is first.result() and bundle.name == "demo"

    broken = tmp_path / "broken"
    shutil.copytree(REPO / "models" / "demo", broken)
    (broken / "calibration.json").write_text("{}")  # no longer matches its hash in the manifest
    bad = Settings(model_dir=broken)
    failed = common.start_bundle_load(bad)
    with pytest.raises(ModelBundleError):
        common.get_bundle(bad)
    assert common.start_bundle_load(bad) is not failed
    with pytest.raises(ModelBundleError, match="manifest.json is missing"):
        common.start_bundle_load(Settings(model_dir=tmp_path / "none"))


@pytest.mark.parametrize("collector_on", [True, False])
def test_bundle_loader_pauses_the_collector_and_freezes_only_when_served(collector_on):
    """The load runs with the cyclic collector paused and leaves it as it found it; only the served app's load
    (``freeze=True``) moves what it built to the collector's permanent generation."""
    import gc

    from skintag.ui import common

    gc.unfreeze()
    (gc.enable if collector_on else gc.disable)()
    try:
        states = []
        original = common._collector_paused

        @contextlib.contextmanager
        def spy(*, freeze):
            with original(freeze=freeze):
                states.append(gc.isenabled())
                yield

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(common, "_collector_paused", spy)
            bundle = common._load_and_warm(str(REPO / "models" / "demo"))
            assert states == [False] and gc.isenabled() is collector_on and gc.get_freeze_count() == 0
            common._load_and_warm(str(REPO / "models" / "demo"), freeze=True)
            assert states == [False, False] and gc.isenabled() is collector_on and gc.get_freeze_count() > 0
        assert bundle.name == "demo"
    finally:
        gc.unfreeze()
        gc.enable()


def test_streamlit_run_serves_the_app_that_preloads_the_bundle(tmp_path, monkeypatch):
    """`streamlit run streamlit_app.py` finds the st.App in it; imported (not run as a page) the file builds that app
    and no frame; the app's lifespan starts loading the bundle of SKINTAG_MODEL_DIR and tolerates a missing one."""
    import asyncio
    import concurrent.futures
    import importlib.util

    import streamlit as st
    from streamlit.web.server.app_discovery import discover_asgi_app

    from skintag.ui import common

    found = discover_asgi_app(REPO / "streamlit_app.py")
    assert found.is_asgi_app and found.import_string == "streamlit_app:app"
    from streamlit import config

    monkeypatch.setattr(config, "_main_script_path", config._main_script_path)  # st.App pins it for the process
    spec = importlib.util.spec_from_file_location("streamlit_app_imported", REPO / "streamlit_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.app, st.App)

    async def _serve(app) -> None:
        async with common.preload_bundle(app):
            pass

    def serve_once(app) -> None:  # in its own thread: a session-wide Playwright fixture may hold this thread's loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _serve(app)).result()

    calls = []
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(tmp_path / "bundle"))
    monkeypatch.setattr(common, "start_bundle_load",
                        lambda settings, served=False: calls.append((settings.model_dir, served)))
    serve_once(module.app)
    assert calls == [(tmp_path / "bundle", True)]
    monkeypatch.undo()
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(tmp_path / "missing"))
    serve_once(module.app)  # no bundle: no error at start-up (the sidebar reports it)
