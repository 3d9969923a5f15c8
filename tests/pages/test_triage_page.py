"""Clinician Triage page under streamlit's AppTest, with a real tiny model bundle and real photos."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "app_pages" / "triage.py")
sys.path.insert(0, str(REPO / "tests"))
import imagecases  # noqa: E402

#: file names a user would upload each case under (the uploader accepts any name; the decoder decides)
UPLOAD_NAMES = {
    "zero_bytes": "empty.jpg", "text_renamed_jpg": "notes.jpg", "pdf_document": "scan.pdf",
    "truncated_jpeg": "cut.jpg", "jpeg_header_only": "header.jpg", "decompression_bomb": "bomb.png",
    "over_pixel_limit": "huge.png", "too_large_file": "big.jpg", "animated_gif": "clip.gif",
    "animated_png": "clip.png", "animated_webp": "clip.webp", "png_16bit": "deep.png", "cmyk_jpeg": "print.jpg",
    "photo_8000x6000": "camera.jpg", "exif_rotated": "rotated.jpg", "heic": "iphone.heic", "webp": "photo.webp",
    "rgba_png_pad": "pad.png", "rgba_png_transparent": "alpha.png", "palette_png": "palette.png",
    "grayscale_jpeg": "gray.jpg", "tiff": "photo.tiff", "ham_jpeg": "ham.jpg",
}
MIME = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif",
        ".heic": "image/heic", ".tiff": "image/tiff", ".pdf": "application/pdf"}


@pytest.fixture(scope="module")
def bundle_dir(shared_data) -> Path:
    from tests.explain.tinybundle import tiny_bundle_dir

    return tiny_bundle_dir(shared_data)


@pytest.fixture
def app(bundle_dir, tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(bundle_dir))
    monkeypatch.setenv("SKINTAG_APP_DATA_DIR", str(tmp_path / "appdata"))
    return AppTest.from_file(PAGE, default_timeout=90)


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="upload").upload(name, data, MIME.get(Path(name).suffix, "application/octet-stream"))
    return at.run()


def _captions(at: AppTest) -> list[str]:
    return [c for img in at.get("image") for c in img.proto.imgs[0].caption.split("\n") if img.proto.imgs]


def test_without_a_bundle_the_page_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(tmp_path / "missing"))
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception
    assert any("No model bundle" in e.value and "manifest.json is missing" in e.value for e in at.error)
    assert any("not a diagnosis" in w.value for w in at.warning)


def test_upload_shows_result_card_and_attention(app, bundle_dir, ham_dir):
    from skintag.model import load_bundle
    from skintag.triage import format_probability, triage

    data = (ham_dir / "images" / "ISIC_0024308.jpg").read_bytes()
    expected = triage(load_bundle(bundle_dir), data)
    at = app.run()
    assert not at.exception and any("Upload a photo" in i.value for i in at.info)
    at = _upload(at, "lesion.jpg", data)
    assert not at.exception and not at.error
    assert [(m.label, m.value) for m in at.metric] == [
        ("Calibrated probability of malignancy", format_probability(expected.p_malignant))]
    tier_html = next(m.value for m in at.markdown if "triage-tier" in m.value)
    assert expected.tier in tier_html and expected.tier_colour in tier_html
    assert any(expected.advice.headline in m.value for m in at.markdown)
    table = at.table[0].value
    assert list(table["condition"]) == [c.name for c in expected.top_conditions]
    assert len(at.get("plotly_chart")) == 1
    captions = _captions(at)
    assert "lesion.jpg — as scored" in captions
    assert "MAP-head attention" in captions and "Attention rollout" in captions
    assert any("not a diagnosis" in w.value for w in at.warning)  # disclaimer stays visible with a result
    assert [b.proto.label for b in at.get("download_button")] == ["Download case (JSON)", "Download report (HTML)"]


def test_every_upload_case_gives_its_exact_outcome(app):
    at = app.run()
    for name, factory, (kind, detail) in imagecases.CASES:
        at = _upload(at, UPLOAD_NAMES.get(name, f"{name}.jpg"), factory())
        assert not at.exception, name
        if kind == "error":
            errors = [e.value for e in at.error]
            assert len(errors) == 1 and errors[0].startswith(f"This file cannot be used ({detail}):"), (name, errors)
            assert not at.metric, name
        else:
            assert not at.error, (name, [e.value for e in at.error])
            assert len(at.metric) == 1 and at.metric[0].value.endswith("%"), name  # e.g. "36%", "<1%"


def test_shap_on_request_with_progress_and_cache(app, ham_dir):
    data = (ham_dir / "images" / "ISIC_0024310.jpg").read_bytes()
    at = _upload(app.run(), "lesion.jpg", data)
    assert not any("SHAP" in c for c in _captions(at))  # not computed until asked
    at.number_input(key="shap_evals").set_value(40)
    at.button(key="shap_btn").click()
    at = at.run()
    assert not at.exception and not at.error
    shap_caps = [c for c in _captions(at) if c.startswith("SHAP")]
    assert shap_caps == ["SHAP, 40 evaluations"]
    # a new session (same image, same bundle, same budget) is served from the on-disk cache
    again = _upload(AppTest.from_file(PAGE, default_timeout=90).run(), "lesion.jpg", data)
    again.number_input(key="shap_evals").set_value(40)
    again.button(key="shap_btn").click()
    again = again.run()
    assert [c for c in _captions(again) if c.startswith("SHAP")] == ["SHAP, 40 evaluations (cached)"]


def test_example_images_crop_and_sanity_check(app):
    at = app.run()
    at.radio(key="source").set_value("Example")
    at = at.run()
    options = at.selectbox(key="example").options
    assert any(o.startswith("HAM10000") for o in options) and any(o.startswith("PAD-UFES-20") for o in options)
    assert not at.exception and len(at.metric) == 1
    at.selectbox(key="example").set_value(options[-1])
    at.checkbox(key="crop_on").check()
    at = at.run()
    assert not at.exception and len(at.metric) == 1
    assert options[-1].split(": ")[1] + " — as scored" in _captions(at)
    at.button(key="sanity_btn").click()
    at = at.run()
    lines = [m.value for m in at.markdown if "Spearman" in m.value]
    assert len(lines) == 2 and lines[0].startswith("map_head") and lines[1].startswith("rollout")
