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


def _column_of(at: AppTest, caption: str):
    """The innermost column holding the image with this caption."""
    return [c for c in at.columns if caption in [i.proto.imgs[0].caption for i in c.get("image")]][-1]


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
    assert not at.get("plotly_chart")  # the card loads no chart library: the category bars are static HTML
    bars = next(m.value for m in at.markdown if "category-bars" in m.value)
    assert f"data-value='{expected.categories['malignant']:.6f}'" in bars
    captions = _captions(at)
    assert "The photo as scored" in captions
    assert [t.value for t in at.text] == ["File: lesion.jpg"]  # the file name as plain text, never in a caption
    assert "MAP-head attention" in captions and "Attention rollout" in captions
    # the image the model saw, at its input size (the tiny bundle's 32 px), enlarged ×7 with nearest pixels
    assert "What the model saw: 32×32 px (shown ×7, nearest pixels)" in captions
    # each attention map has its colour legend with the words for both ends
    legends = [m.value for m in at.markdown if "colour-legend" in m.value]
    assert len(legends) == 2 and all("least attention" in v and "most attention" in v for v in legends)
    assert all("data-colormap='inferno'" in v for v in legends)
    # the result card leads: it is in the first column, so it stays on top when the columns stack on a phone
    first, second = at.columns[0], at.columns[1]
    assert len(first.metric) == 1 and not first.get("image")
    assert "The photo as scored" in [img.proto.imgs[0].caption for img in second.get("image")]
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
        elif imagecases.GATE[name] == "reject":  # decodes, but the quality gate asks for a retake
            errors = [e.value for e in at.error]
            assert len(errors) == 1 and errors[0].startswith("**Retake the photo"), (name, errors)
            assert not at.metric, name
        else:
            assert not at.error, (name, [e.value for e in at.error])
            assert len(at.metric) == 1 and at.metric[0].value.endswith("%"), name  # e.g. "36%", "<1%"


#: words of the message of the check that refuses each gate case
GATE_WORDS = {"noise": "noise", "blur12": "blurred", "flat_colour": "blurred", "tiny": "small",
              "text_screenshot": "skin colour", "no_skin_colour": "skin colour"}


def test_gate_cases_are_refused_with_retake(app):
    """Noise, a radius-12 blur of a real photo, a flat colour, a tiny image, a screenshot and a photo without skin
    colours: each is told to retake, with the failing check's words, and no score is shown."""
    at = app.run()
    for name, factory, _failing in imagecases.GATE_CASES:
        at = _upload(at, f"{name}.png", factory())
        assert not at.exception, name
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith("**Retake the photo"), (name, errors)
        assert GATE_WORDS[name] in errors[0], (name, errors[0])
        assert "sharp enough" not in errors[0]
        assert not at.metric and not [m for m in at.markdown if "triage-tier" in m.value], name


def test_shap_on_request_with_progress_and_cache(app, ham_dir):
    data = (ham_dir / "images" / "ISIC_0024310.jpg").read_bytes()
    at = _upload(app.run(), "lesion.jpg", data)
    assert not any("SHAP" in c for c in _captions(at))  # not computed until asked
    at.number_input(key="shap_evals").set_value(40)
    at.button(key="shap_btn").click()
    at = at.run()
    assert not at.exception and not at.error
    shap_caps = [c for c in _captions(at) if c.startswith("SHAP")]
    assert shap_caps in (["SHAP, 40 evaluations"], ["SHAP, 40 evaluations — raw head score"])
    shap_legend = [m.value for m in at.markdown if "colour-legend" in m.value and "data-colormap='jet'" in m.value]
    assert len(shap_legend) == 1 and "strongest evidence for malignancy" in shap_legend[0]
    # a new session (same image, same bundle, same budget) is served from the on-disk cache
    again = _upload(AppTest.from_file(PAGE, default_timeout=90).run(), "lesion.jpg", data)
    again.number_input(key="shap_evals").set_value(40)
    again.button(key="shap_btn").click()
    again = again.run()
    assert [c.replace(" — raw head score", "") for c in _captions(again) if c.startswith("SHAP")] == [
        "SHAP, 40 evaluations (cached)"]


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
    # the whole photo is shown with the crop's rectangle on it
    assert "The photo, crop outlined (only the box is scored)" in _captions(at)
    assert [t.value for t in at.text] == ["File: " + options[-1].split(": ")[1]]
    at.button(key="sanity_btn").click()
    at = at.run()
    assert not at.exception
    lines = [m.value for m in [*at.success, *at.error] if "Spearman" in m.value]
    assert len(lines) == 2
    # each check sits in the column of the map it checks
    for caption, kind in (("MAP-head attention", "map_head"), ("Attention rollout", "rollout")):
        col = _column_of(at, caption)
        assert [m.value for m in [*col.success, *col.error] if "Spearman" in m.value][0].split(". ", 1)[1].startswith(
            kind)


def test_failed_sanity_check_is_shown_under_its_map(app, ham_dir, monkeypatch):
    from skintag.explain import sanity

    def fake(bundle, images, *, kind="rollout", **kw):
        rho = 0.93 if kind == "rollout" else 0.05
        return sanity.SanityResult(kind, (rho,), rho, 0.5, rho < 0.5)

    monkeypatch.setattr(sanity, "attention_sanity", fake)
    at = _upload(app.run(), "lesion.jpg", (ham_dir / "images" / "ISIC_0024308.jpg").read_bytes())
    at.button(key="sanity_btn").click()
    at = at.run()
    assert not at.exception
    rollout_col, map_col = _column_of(at, "Attention rollout"), _column_of(at, "MAP-head attention")
    assert len(rollout_col.error) == 1 and "Sanity check failed" in rollout_col.error[0].value
    assert "0.93" in rollout_col.error[0].value and not rollout_col.success
    assert len(map_col.success) == 1 and not map_col.error


def test_domain_selector_is_passed_to_triage(app, ham_dir, monkeypatch):
    import skintag.triage as engine

    real, seen = engine.triage, []

    def spy(bundle, image, *, settings=None, domain="auto"):
        seen.append(domain)
        return real(bundle, image, settings=settings, domain=domain)

    import skintag.ui.triage as page_ui

    real_decode, decodes = page_ui.decode_image_bounded, []

    def decode_spy(data, **kwargs):
        decodes.append(len(data))
        return real_decode(data, **kwargs)

    monkeypatch.setattr(engine, "triage", spy)
    monkeypatch.setattr(page_ui, "decode_image_bounded", decode_spy)
    at = app.run()
    assert at.radio(key="domain").options == ["Not sure (detect it)", "Dermoscopic", "Clinical photo"]
    assert at.radio(key="domain").value == "Not sure (detect it)"
    data = (ham_dir / "images" / "ISIC_0024308.jpg").read_bytes()
    at = _upload(at, "lesion.jpg", data)
    for choice in ("Dermoscopic", "Clinical photo", "Not sure (detect it)"):
        at.radio(key="domain").set_value(choice)
        at = at.run()
        assert not at.exception
    # back on "Not sure", the session's result for these bytes is reused: no new triage, and one decode in all
    assert seen == ["auto", "dermoscopic", "clinical"]
    assert decodes == [len(data)]


def test_declared_domain_the_bundle_lacks_shows_the_out_of_domain_banner(app, ham_dir):
    """The tiny bundle knows one domain (dermoscopic). Declared "Clinical photo", the score is outside the validated
    domain: a visible error banner, never LOW, confidence "none", and no interval shown as applying."""
    at = _upload(app.run(), "lesion.jpg", (ham_dir / "images" / "ISIC_0024308.jpg").read_bytes())
    assert not [e for e in at.error if "Outside the validated domain" in e.value]
    at.radio(key="domain").set_value("Clinical photo")
    at = at.run()
    assert not at.exception
    banners = [e.value for e in at.error if "Outside the validated domain" in e.value]
    assert len(banners) == 1 and "no interval applies" in banners[0]
    assert banners[0] in [e.value for e in at.columns[0].error]  # in the result card's column
    tier_html = next(m.value for m in at.markdown if "triage-tier" in m.value)
    assert "LOW" not in tier_html
    assert any("Confidence: **none**" in c.value for c in at.caption)
    assert not any(c.value.startswith("Of ") and "were malignant" in c.value for c in at.caption)


def test_case_details_go_into_the_report_escaped_and_without_the_file_name(app, ham_dir, monkeypatch):
    import skintag.ui.triage as ui_mod

    made: dict[str, str] = {}
    real_json, real_html = ui_mod.case_json, ui_mod.render_report_html

    def spy_json(*a, **kw):
        made["json"] = real_json(*a, **kw)
        return made["json"]

    def spy_html(*a, **kw):
        made["html"] = real_html(*a, **kw)
        return made["html"]

    monkeypatch.setattr(ui_mod, "case_json", spy_json)
    monkeypatch.setattr(ui_mod, "render_report_html", spy_html)
    at = _upload(app.run(), "Jane_Doe_2024-05-01.jpg", (ham_dir / "images" / "ISIC_0024308.jpg").read_bytes())
    at.text_input(key="case_id").input("C-17")
    at.text_input(key="lesion_id").input("L2")
    at.text_input(key="case_body_site").input("left forearm")
    at.selectbox(key="case_skin_type").set_value("IV")
    at.text_area(key="case_note").input("<script>alert(1)</script> grew 2 mm")
    at = at.run()
    assert not at.exception and not at.error
    import json

    case = json.loads(made["json"])["case"]
    assert case == {"case_id": "C-17", "lesion_id": "L2", "body_site": "left forearm", "skin_type": "IV",
                    "note": "<script>alert(1)</script> grew 2 mm"}
    assert "&lt;script&gt;alert(1)&lt;/script&gt; grew 2 mm" in made["html"] and "<script>" not in made["html"]
    assert "C-17" in made["html"] and "Fitzpatrick skin type" in made["html"]
    for text in made.values():
        assert "Jane_Doe" not in text


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "line.png"), ("JPEG", "line.jpg")])
def test_an_image_one_pixel_high_asks_for_a_retake(app, fmt, name):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (400, 1), (200, 150, 120)).save(buf, fmt)
    at = _upload(app.run(), name, buf.getvalue())
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("**Retake the photo") and "small" in errors[0], errors
    assert not at.metric and not [m for m in at.markdown if "triage-tier" in m.value]


def test_demo_interval_is_said_once(monkeypatch, tmp_path, ham_dir):
    """The two-domain demo states its interval in words under the probability; the confidence line does not repeat
    it (it only adds what is not already said)."""
    from skintag.model import load_bundle
    from skintag.settings import shipped
    from skintag.triage import triage

    demo = shipped("models/demo")
    data = (ham_dir / "images" / "ISIC_0024308.jpg").read_bytes()
    expected = triage(load_bundle(demo), data)
    assert expected.interval_label and expected.uncertainty.startswith(expected.interval_label)
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(demo))
    monkeypatch.setenv("SKINTAG_APP_DATA_DIR", str(tmp_path / "appdata"))
    at = _upload(AppTest.from_file(PAGE, default_timeout=120).run(), "x.jpg", data)
    assert not at.exception
    shown = [str(c.value).replace("\\", "") for c in at.caption]
    assert sum(c.count(expected.interval_label) for c in shown) == 1
    assert any(c.startswith(f"Confidence: **{expected.confidence}**") for c in shown)
