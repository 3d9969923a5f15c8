"""Triage rules on hand-made probability vectors (docs/SPEC.md §5), then the image-level API on real photos and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binomtest

from skintag.errors import ConfigError
from skintag.stats import wilson_interval
from skintag.triage import (
    ABCDE_GUIDE,
    DISCLAIMER,
    RETAKE_ADVICE,
    QualityGate,
    ReliabilityBin,
    tier_for,
    triage_from_probabilities,
)

# docs/SPEC.md §1, written out by hand so the test does not depend on the code under test.
CATEGORY_MAP = {0: "malignant", 1: "malignant", 2: "malignant", 3: "malignant", 4: "benign", 5: "benign",
                6: "inflammatory", 7: "inflammatory", 8: "inflammatory", 9: "benign"}
NAMES = ["Melanoma", "Basal Cell Carcinoma", "Squamous Cell Carcinoma", "Actinic Keratosis", "Melanocytic Nevus",
         "Seborrheic Keratosis", "Dermatofibroma", "Vascular Lesion", "Non-Neoplastic", "Other/Unknown"]
T = {"moderate": 0.30, "high": 0.60}


def vec(**probs: float) -> np.ndarray:
    """Condition vector from {name_index: p} written as c<id>=p."""
    v = np.zeros(10)
    for k, p in probs.items():
        v[int(k[1:])] = p
    assert abs(v.sum() - 1) < 1e-12
    return v


def run(p: float, probs: np.ndarray, **kw):
    return triage_from_probabilities(p, probs, thresholds=T, category_map=CATEGORY_MAP, class_names=NAMES, **kw)


NEVUS = vec(c4=1.0)


@pytest.mark.parametrize(
    ("p", "tier"),
    [(0.0, "LOW"), (0.29, "LOW"), (np.nextafter(0.30, 0), "LOW"), (0.30, "MODERATE"), (0.45, "MODERATE"),
     (np.nextafter(0.60, 0), "MODERATE"), (0.60, "HIGH"), (0.61, "HIGH"), (1.0, "HIGH")],
)
def test_tier_boundaries(p, tier):
    assert tier_for(p, T) == tier
    r = run(p, NEVUS)
    assert (r.score_tier, r.tier, r.promoted) == (tier, tier, False)
    assert r.p_malignant == pytest.approx(p)


def test_thresholds_come_from_the_caller():
    assert tier_for(0.25, {"moderate": 0.2, "high": 0.5}) == "MODERATE"
    assert tier_for(0.5, {"moderate": 0.2, "high": 0.5}) == "HIGH"
    with pytest.raises(ConfigError, match="moderate < high"):
        tier_for(0.5, {"moderate": 0.7, "high": 0.5})
    with pytest.raises(ConfigError, match="invalid"):
        tier_for(0.5, {"moderate": 0.3})


def test_category_breakdown_splits_the_non_malignant_mass_by_condition_sums():
    # inflammatory sum 0.1 + 0.1 = 0.2, benign sum 0.3 -> 0.8 * 0.4 = 0.32 and 0.8 * 0.6 = 0.48
    r = run(0.2, vec(c0=0.5, c4=0.3, c6=0.1, c7=0.1))
    assert r.categories == pytest.approx({"malignant": 0.2, "inflammatory": 0.32, "benign": 0.48})
    assert sum(r.categories.values()) == pytest.approx(1.0)
    assert r.dominant_category == "benign"
    assert r.tier == "LOW" and not r.promoted


def test_category_map_is_data():
    probs = vec(c6=0.6, c4=0.4)  # dermatofibroma vs nevus
    default = run(0.1, probs)
    assert default.dominant_category == "inflammatory" and default.tier == "MODERATE"
    custom = triage_from_probabilities(0.1, probs, thresholds=T, category_map={**CATEGORY_MAP, 6: "benign"},
                                       class_names=NAMES)
    assert custom.categories == pytest.approx({"malignant": 0.1, "inflammatory": 0.0, "benign": 0.9})
    assert custom.tier == "LOW" and not custom.promoted
    with pytest.raises(ConfigError, match="unknown categories"):
        triage_from_probabilities(0.1, probs, thresholds=T, category_map={**CATEGORY_MAP, 6: "reactive"})


def test_inflammatory_auto_promotion_low_to_moderate():
    r = run(0.1, vec(c8=0.6, c4=0.4))  # inflammatory 0.9*0.6 = 0.54 > benign 0.36
    assert r.categories["inflammatory"] == pytest.approx(0.54)
    assert (r.score_tier, r.tier, r.promoted, r.dominant_category) == ("LOW", "MODERATE", True, "inflammatory")
    assert "2-4 weeks" in r.advice.headline
    assert any("raised to MODERATE" in d for d in r.advice.details)
    assert any("inflammatory" in d for d in r.advice.details)
    assert not r.discordant  # top condition Non-Neoplastic is not malignant


def test_no_promotion_outside_low():
    r = run(0.35, vec(c8=1.0))
    assert (r.score_tier, r.tier, r.promoted, r.dominant_category) == ("MODERATE", "MODERATE", False, "inflammatory")
    r = run(0.7, vec(c8=1.0))
    assert (r.tier, r.promoted, r.dominant_category) == ("HIGH", False, "malignant")


@pytest.mark.parametrize(
    ("p", "probs", "expected", "masses"),
    [
        (0.5, vec(c6=1.0), "malignant", (0.5, 0.5, 0.0)),            # malignant = inflammatory
        (0.4, vec(c6=0.5, c4=0.5), "malignant", (0.4, 0.3, 0.3)),    # inflammatory = benign, malignant larger
        (0.2, vec(c6=0.5, c4=0.5), "inflammatory", (0.2, 0.4, 0.4)),  # inflammatory = benign -> inflammatory
        (0.5, vec(c4=1.0), "malignant", (0.5, 0.0, 0.5)),            # malignant = benign
        (1 / 3, vec(c6=0.5, c4=0.5), "malignant", (1 / 3, 1 / 3, 1 / 3)),  # three-way (float rounding) tie
    ],
)
def test_category_ties_resolve_malignant_then_inflammatory_then_benign(p, probs, expected, masses):
    r = run(p, probs)
    assert r.dominant_category == expected
    assert [r.categories[c] for c in ("malignant", "inflammatory", "benign")] == pytest.approx(list(masses))


def test_tie_between_inflammatory_and_benign_promotes():
    r = run(0.2, vec(c6=0.5, c4=0.5))
    assert (r.tier, r.promoted) == ("MODERATE", True)


def test_condition_mass_only_on_malignant_classes_splits_evenly():
    r = run(0.1, vec(c0=1.0))
    assert r.categories == pytest.approx({"malignant": 0.1, "inflammatory": 0.45, "benign": 0.45})
    assert (r.dominant_category, r.tier, r.promoted) == ("inflammatory", "MODERATE", True)
    assert r.discordant and "Melanoma" in r.discordance_reason and "LOW" in r.discordance_reason


def test_discordance_top_malignant_while_low():
    r = run(0.2, vec(c0=0.5, c4=0.3, c6=0.1, c7=0.1))
    assert r.top_conditions[0].name == "Melanoma"
    assert r.tier == "LOW" and r.discordant
    assert "Melanoma" in r.discordance_reason and "50%" in r.discordance_reason
    assert any("disagree" in d for d in r.advice.details)


def test_discordance_top_benign_or_inflammatory_while_high():
    r = run(0.8, vec(c4=0.7, c0=0.3))
    assert r.tier == "HIGH" and r.discordant and "Melanocytic Nevus" in r.discordance_reason
    r = run(0.8, vec(c7=0.6, c0=0.4))
    assert r.discordant and "inflammatory" in r.discordance_reason


def test_no_discordance_when_models_agree():
    assert not run(0.8, vec(c0=0.7, c4=0.3)).discordant
    assert not run(0.1, vec(c4=0.7, c0=0.3)).discordant
    r = run(0.45, vec(c0=0.9, c4=0.1))  # MODERATE is never discordant
    assert not r.discordant and r.discordance_reason is None


def test_top3_conditions_in_order_with_probabilities():
    r = run(0.5, vec(c0=0.1, c1=0.25, c4=0.4, c8=0.25))
    got = [(c.condition_id, c.name, c.probability, c.category) for c in r.top_conditions]
    assert got == [(4, "Melanocytic Nevus", 0.4, "benign"), (1, "Basal Cell Carcinoma", 0.25, "malignant"),
                   (8, "Non-Neoplastic", 0.25, "inflammatory")]


def test_advice_per_tier():
    low = run(0.1, NEVUS)
    assert "screening threshold" in low.advice.headline and any("ABCDE" in d for d in low.advice.details)
    assert any("monthly" in d for d in low.advice.details)
    mod = run(0.4, NEVUS)
    assert "2-4 weeks" in mod.advice.headline and any("benign growth" in d for d in mod.advice.details)
    high = run(0.9, vec(c0=1.0))
    assert "1-2 weeks" in high.advice.headline and "do not delay" in high.advice.headline
    assert [a[1] for a in low.abcde] == ["Asymmetry", "Border", "Colour", "Diameter", "Evolving"]
    assert "6 mm" in ABCDE_GUIDE[3][2]
    for r in (low, mod, high):
        assert r.disclaimer == DISCLAIMER and "not a diagnosis" in r.disclaimer


def test_quality_reject_gives_no_score_and_says_retake():
    gate = QualityGate("reject", ("The photo is blurred (measured 1.2; needed ≥ 3).",))
    r = run(0.9, vec(c0=1.0), quality=gate)
    assert r.status == "retake"
    assert r.p_malignant is None and r.tier is None and r.categories is None and r.top_conditions == ()
    assert r.confidence == "none" and r.advice.headline == RETAKE_ADVICE
    assert "blurred" in r.uncertainty and r.advice.details == gate.reasons
    assert r.disclaimer == DISCLAIMER
    json.dumps(r.to_dict())


def test_quality_warn_lowers_stated_confidence_with_reasons():
    ok = run(0.45, NEVUS)
    gate = QualityGate("warn", ("The photo is too dark (measured 50.0; recommended 60–225).",))
    warned = run(0.45, NEVUS, quality=gate)
    assert ok.confidence == "normal" and warned.confidence == "reduced"
    assert warned.p_malignant == ok.p_malignant and warned.tier == ok.tier
    assert "too dark" in warned.uncertainty and "too dark" not in ok.uncertainty
    with pytest.raises(ConfigError, match="verdict"):
        QualityGate("maybe")


def test_uncertainty_interval_from_reliability_bins_matches_scipy_wilson():
    bins = [ReliabilityBin(0.0, 0.2, 100, 3), ReliabilityBin(0.2, 0.3, 50, 10), ReliabilityBin(0.3, 1.0001, 40, 30)]
    r = run(0.25, NEVUS, reliability=bins)
    ci = binomtest(10, 50).proportion_ci(method="wilson")
    assert r.p_interval == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert "Of 50 calibration images" in r.uncertainty and "10 (20%)" in r.uncertainty
    assert r.interval_label == r.uncertainty
    assert np.isnan(wilson_interval(0, 0)).all()  # no held-out images: no interval (skintag.stats)
    none = run(0.25, NEVUS)
    assert none.p_interval is None and "no interval" in none.uncertainty


def test_reliability_table_counts_per_bin():
    from skintag.model.domains import reliability_table

    bins = reliability_table([0, 1, 1, 0, 1], [0.05, 0.15, 0.95, 0.99, 1.0], 10)
    assert [(b.n, b.positives) for b in bins if b.n] == [(1, 0), (1, 1), (3, 2)]
    assert bins[-1].hi == 1.0 and bins[-1].n == 3  # the last bin is closed: a score of exactly 1.0 lands in it


def test_invalid_probability_inputs_are_config_errors():
    with pytest.raises(ConfigError, match="sum to 1"):
        run(0.2, np.full(10, 0.2))
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        run(1.2, NEVUS)
    with pytest.raises(ConfigError, match="non-negative"):
        run(0.2, np.array([1.5, -0.5] + [0.0] * 8))


def test_format_probability_never_shows_certainty():
    from skintag.triage import format_probability

    got = [format_probability(p) for p in (0.0, 0.009, 0.01, 0.36, 0.99, 0.991, 1.0, None)]
    assert got == ["<1%", "<1%", "1%", "36%", "99%", ">99%", ">99%", "—"]


def test_to_dict_is_json_safe_and_complete():
    r = run(0.2, vec(c0=0.5, c4=0.3, c6=0.1, c7=0.1), p_malignant_raw=0.31,
            model={"name": "unit", "version": "1", "fingerprint": "abc"})
    d = json.loads(json.dumps(r.to_dict()))
    assert d["tier"] == "LOW" and d["discordant"] is True and d["p_malignant_raw"] == 0.31
    assert d["thresholds"] == {"screening": 0.30, **T} and d["model"] == {"name": "unit", "version": "1", "fingerprint": "abc"}
    assert [c["name"] for c in d["top_conditions"]] == ["Melanoma", "Melanocytic Nevus", "Dermatofibroma"]
    assert set(d) >= {"categories", "advice", "abcde", "disclaimer", "quality", "uncertainty", "confidence"}


# ----------------------------------------------------------------------------------------------------------------------
# Image-level API on a real tiny bundle (skintag.model.testing.build_tiny_bundle) and real photos
# ----------------------------------------------------------------------------------------------------------------------

import io  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from PIL import Image, ImageEnhance  # noqa: E402

from skintag.errors import BadImageError  # noqa: E402
from skintag.triage import TIERS, TriageSettings, triage, triage_many  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import imagecases  # noqa: E402


@pytest.fixture(scope="module")
def bundle(shared_data):
    from skintag.model import load_bundle
    from tests.explain.tinybundle import tiny_bundle_dir

    return load_bundle(tiny_bundle_dir(shared_data))


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def test_triage_every_real_pad_and_ham_image(bundle, ham_dir, pad_dir):
    paths = sorted((pad_dir / "images").glob("*.png")) + sorted((ham_dir / "images").glob("*.jpg"))
    assert len(paths) == 249 + 60
    results = triage_many(bundle, paths, settings=TriageSettings(batch_size=64))
    assert len(results) == len(paths)
    for path, r in zip(paths, results, strict=True):
        assert not isinstance(r, BadImageError), f"{path.name}: {r}"
        assert r.status == "ok" and r.tier in TIERS, path.name
        assert 0.0 <= r.p_malignant <= 1.0
        assert sum(r.categories.values()) == pytest.approx(1.0)
        assert r.model["name"] == bundle.name and r.thresholds == dict(bundle.domains[r.domain].thresholds)
        json.dumps(r.to_dict())
    # the score is the bundle's calibrated prediction on the decoded photo, nothing else
    sample = [0, 100, 248, 249, 308]
    pred = bundle.predict([results[i].image for i in sample])
    np.testing.assert_allclose([results[i].p_malignant for i in sample], pred.p_malignant, rtol=1e-6)
    np.testing.assert_allclose([results[i].p_malignant_raw for i in sample], pred.p_malignant_raw, rtol=1e-6)
    assert [results[i].top_conditions[0].condition_id for i in sample] == list(pred.condition_probs.argmax(1))


@pytest.mark.parametrize(("name", "factory", "expected"), imagecases.CASES, ids=imagecases.CASE_NAMES)
def test_every_bad_and_odd_upload(bundle, name, factory, expected):
    kind, detail = expected
    data = factory()
    if kind == "error":
        with pytest.raises(BadImageError) as info:
            triage(bundle, data)
        assert info.value.reason == detail
        assert str(info.value)  # a message for the user
    else:
        r = triage(bundle, data)
        if imagecases.GATE[name] == "reject":  # decodes, but the quality gate refuses it (the smooth 16-bit ramp)
            assert (r.status, r.quality.verdict, r.p_malignant) == ("retake", "reject", None)
            return
        # the tiny bundle's 32-px input relaxes the minimum-side limit: every one of these photos passes
        assert (r.status, r.quality.verdict, r.confidence) == ("ok", "pass", "normal")
        assert r.image.mode == "RGB"
        if detail is not None:
            assert r.image.size == tuple(detail)


def test_quality_gate_on_real_photos(bundle, ham_dir):
    photo = Image.open(sorted((ham_dir / "images").glob("*.jpg"))[0]).convert("RGB")
    dim = triage(bundle, _jpeg(ImageEnhance.Brightness(photo).enhance(0.3)))
    assert dim.status == "ok" and dim.quality.verdict == "warn" and dim.confidence == "reduced"
    assert any("dark" in r for r in dim.quality.reasons) and "dark" in dim.uncertainty
    dark = triage(bundle, _jpeg(ImageEnhance.Brightness(photo).enhance(0.1)))
    assert dark.status == "retake" and dark.p_malignant is None and dark.tier is None
    assert dark.advice.headline == RETAKE_ADVICE and any("dark" in r for r in dark.quality.reasons)
    brightness = next(c for c in dark.quality.checks if c["name"] == "brightness")
    assert brightness["verdict"] == "reject" and brightness["value"] < 35


def test_crop_and_attention_from_the_same_pass(bundle, ham_dir):
    from skintag.explain.attention import compute_attention

    path = sorted((ham_dir / "images").glob("*.jpg"))[1]
    r = triage(bundle, path, settings=TriageSettings(crop=(0.25, 0.25, 0.75, 0.75), attention=True))
    assert r.image.size == (300, 225)
    grid = bundle.image_size // 8
    assert r.attention.map_head.shape == r.attention.rollout.shape == (grid, grid)
    again = compute_attention(bundle, [r.image])[0]
    np.testing.assert_allclose(r.attention.rollout, again.rollout, atol=1e-6)
    np.testing.assert_allclose(r.attention.map_head, again.map_head, atol=1e-6)
    assert r.p_malignant == pytest.approx(float(bundle.predict([r.image]).p_malignant[0]))
    with pytest.raises(ConfigError, match="Crop box"):
        triage(bundle, path, settings=TriageSettings(crop=(0.5, 0.2, 0.4, 0.9)))


def test_pil_input_and_settings_limits(bundle, ham_dir):
    path = sorted((ham_dir / "images").glob("*.jpg"))[2]
    from_path = triage(bundle, path)
    from_pil = triage(bundle, Image.open(path))
    assert from_pil.p_malignant == pytest.approx(from_path.p_malignant)
    from skintag.settings import Settings

    small = TriageSettings.from_settings(Settings(max_upload_mb=0.01))
    assert small.max_bytes == 10485
    with pytest.raises(BadImageError) as info:
        triage(bundle, path, settings=small)
    assert info.value.reason == "too_large"


def test_triage_path_never_reads_test_predictions(bundle, ham_dir, monkeypatch):
    """The product's decision path reads no evaluation file: every file the triage call opens is recorded."""
    import builtins
    import io as _io
    import os

    opened: list[str] = []
    real_open, real_io_open, real_os_open = builtins.open, _io.open, os.open

    def spy(real):
        def inner(file, *args, **kwargs):
            opened.append(str(file))
            return real(file, *args, **kwargs)
        return inner

    monkeypatch.setattr(builtins, "open", spy(real_open))
    monkeypatch.setattr(_io, "open", spy(real_io_open))
    monkeypatch.setattr(os, "open", spy(real_os_open))
    path = sorted((ham_dir / "images").glob("*.jpg"))[3]
    r = triage(bundle, path.read_bytes(), settings=TriageSettings(attention=True))
    triage_many(bundle, [path.read_bytes()], domain="dermoscopic")
    monkeypatch.undo()
    assert r.status == "ok"
    assert not [f for f in opened if "eval" in Path(f).parts or "predictions_" in f], opened
    source = (Path(__file__).resolve().parents[1] / "skintag" / "triage.py").read_text(encoding="utf-8")
    assert "predictions_" not in source and "eval/" not in source


def test_case_report_html_is_self_contained_and_complete():
    import base64
    import re

    from skintag.documents.case_report import case_json, render_report_html

    r = run(0.2, vec(c0=0.5, c4=0.3, c6=0.1, c7=0.1),
            model={"name": "demo <b>x</b>", "version": "1.2", "fingerprint": "f" * 64})
    photo = Image.new("RGB", (900, 600), (180, 120, 100))
    html = render_report_html(r, image=photo, overlays={"Attention rollout": Image.new("RGB", (90, 60), (0, 0, 255))})
    assert "<script" not in html and "http://" not in html and "https://" not in html
    uris = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(uris) == 2
    first = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    assert first.size == (640, 427)  # downscaled to a 640-px longer side, aspect kept
    assert "demo &lt;b&gt;x&lt;/b&gt;" in html and "demo <b>x</b>" not in html  # escaped
    for text in ("LOW", "20%", "version 1.2", "moderate 0.30, high 0.60", "Discordant case", "Melanoma",
                 "Attention rollout", "not a diagnosis", "Asymmetry", "Inflammatory / Reactive"):
        assert text in html, text
    rejected = run(0.5, NEVUS, quality=QualityGate("reject", ("too dark",)))
    html_r = render_report_html(rejected)
    assert RETAKE_ADVICE in html_r and "Calibrated probability" not in html_r and "not a diagnosis" in html_r
    payload = json.loads(case_json(r, extra={"crop": None}))
    assert payload["extra"] == {"crop": None} and payload["tier"] == "LOW" and "generated_at" in payload
    assert {k: v for k, v in payload.items() if k not in ("extra", "generated_at", "case")} == json.loads(
        json.dumps(r.to_dict()))


def test_category_bars_show_the_result_values():
    import re

    from skintag.plots.triage import category_bars_html

    r = run(0.2, vec(c0=0.5, c4=0.3, c6=0.1, c7=0.1))
    html_bars = category_bars_html(r)
    rows = re.findall(r"data-category='(\w+)' data-value='([0-9.]+)'", html_bars)
    assert [c for c, _ in rows] == ["malignant", "inflammatory", "benign"]
    assert [float(v) for _, v in rows] == pytest.approx([0.2, 0.32, 0.48])
    assert "Benign ◀ dominant" in html_bars and html_bars.count("◀") == 1
    assert [f"{p}%" for p in (20, 32, 48)] == re.findall(r">(\d+%)</td></tr>", html_bars)
    assert "width:48.0%" in html_bars and "<script" not in html_bars
    from skintag.documents.case_report import render_report_html

    assert html_bars in render_report_html(r)  # the case report embeds the same bars


# ----------------------------------------------------------------------------------------------------------------------
# Domains: the screening point, out-of-domain results, intervals (issue 8)
# ----------------------------------------------------------------------------------------------------------------------

TS = {"screening": 0.15, "moderate": 0.30, "high": 0.60}


@pytest.mark.parametrize(
    ("p", "tier"),
    [(0.0, "LOW"), (np.nextafter(0.15, 0), "LOW"), (0.15, "MODERATE"), (0.2, "MODERATE"),
     (np.nextafter(0.60, 0), "MODERATE"), (0.60, "HIGH"), (1.0, "HIGH")],
)
def test_a_score_at_or_above_the_screening_point_is_never_low(p, tier):
    assert tier_for(p, TS) == tier
    r = triage_from_probabilities(p, NEVUS, thresholds=TS, category_map=CATEGORY_MAP, class_names=NAMES)
    assert r.tier == tier and r.thresholds == TS
    assert (r.tier == "LOW") == (p < TS["screening"])


def test_every_score_on_a_grid_respects_the_screening_point():
    for s in (0.05, 0.1485, 0.3):
        t = {"screening": s, "moderate": max(s, 0.2), "high": 0.6}
        for p in np.linspace(0, 1, 401):
            r = triage_from_probabilities(float(p), NEVUS, thresholds=t, category_map=CATEGORY_MAP)
            assert (r.tier != "LOW") or p < s


@pytest.mark.parametrize("p", [0.0, 0.05, 0.2, 0.7])
def test_out_of_domain_is_never_low_has_no_confidence_and_no_interval(p):
    bins = [ReliabilityBin(0.0, 0.5, 100, 10), ReliabilityBin(0.5, 1.0, 100, 80)]
    r = triage_from_probabilities(p, NEVUS, thresholds=T, category_map=CATEGORY_MAP, reliability=bins,
                                  domain="clinical", domain_source="detected", in_domain=False,
                                  domain_distance=40.0, domain_threshold=12.0)
    assert r.tier != "LOW" and r.confidence == "none" and r.p_interval is None
    assert "outside the domains" in r.uncertainty and r.interval_label.startswith("No interval")
    assert r.advice.details[0] == r.uncertainty  # the advice leads with it
    d = json.loads(json.dumps(r.to_dict()))
    assert (d["domain"], d["domain_source"], d["in_domain"], d["domain_distance"], d["domain_threshold"]) == (
        "clinical", "detected", False, 40.0, 12.0)
    inside = triage_from_probabilities(p, NEVUS, thresholds=T, category_map=CATEGORY_MAP, reliability=bins,
                                       domain="clinical", in_domain=True)
    assert inside.p_interval[0] <= p <= inside.p_interval[1] and inside.confidence == "normal"


def test_every_shown_interval_contains_the_shown_probability():
    rng = np.random.default_rng(5)
    for _ in range(100):
        n = rng.integers(0, 60, 10)
        bins = [ReliabilityBin(i / 10, (i + 1) / 10, int(n[i]), int(rng.integers(0, n[i] + 1))) for i in range(10)]
        for p in rng.random(10):
            r = triage_from_probabilities(float(p), NEVUS, thresholds=T, category_map=CATEGORY_MAP, reliability=bins)
            if r.p_interval is not None:
                assert r.p_interval[0] <= r.p_malignant <= r.p_interval[1]


@pytest.fixture(scope="module")
def v2_bundle(tmp_path_factory, shared_data):
    from skintag.model import load_bundle
    from skintag.model.testing import build_tiny_domain_bundle

    return load_bundle(build_tiny_domain_bundle(tmp_path_factory.mktemp("v2") / "b", data_dir=shared_data))


def test_domain_bundle_triage_uses_the_domains_calibration(v2_bundle, ham_dir, pad_dir):
    ham = sorted((ham_dir / "images").glob("*.jpg"))[:6]
    res = triage_many(v2_bundle, ham, domain="auto")
    for path, r in zip(ham, res, strict=True):
        assert r.domain_source == "detected" and r.domain in ("dermoscopic", "clinical"), path.name
        spec = v2_bundle.domains[r.domain]
        assert r.thresholds == dict(spec.thresholds) and r.domain_threshold == v2_bundle.detector.thresholds[r.domain]
        assert r.in_domain == (r.domain_distance <= r.domain_threshold)
        emb = v2_bundle.embed([r.image])
        assert r.p_malignant == pytest.approx(float(v2_bundle.predict_embeddings(emb, r.domain).p_malignant[0]))
        if r.in_domain and r.p_interval is not None:
            assert r.p_interval[0] <= r.p_malignant <= r.p_interval[1]
    declared = triage(v2_bundle, ham[0], domain="clinical")
    assert declared.domain == "clinical" and declared.domain_source == "declared"
    pad = sorted((pad_dir / "images").glob("*.png"))[0]
    assert triage(v2_bundle, pad, domain="not sure").domain_source == "detected"


def test_noise_and_a_missing_domain_come_back_out_of_domain(v2_bundle, bundle):
    rng = np.random.default_rng(0)
    for seed in range(4):
        noise = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (256, 256, 3), dtype=np.uint8))
        r = triage(v2_bundle, noise)
        assert r.status == "retake" or (not r.in_domain and r.tier != "LOW" and r.confidence == "none"), seed
    photo = Image.fromarray(rng.integers(90, 160, (64, 64, 3), dtype=np.uint8))
    legacy = triage(bundle, photo, domain="clinical")  # the format-1 tiny bundle has no clinical domain
    assert legacy.status == "retake" or (not legacy.in_domain and legacy.tier != "LOW" and legacy.p_interval is None)


def test_a_gate_check_flagged_out_of_domain_makes_the_result_out_of_domain(v2_bundle, ham_dir, monkeypatch):
    from skintag import images as img_mod

    real = img_mod.intake

    def flagged(*args, **kwargs):
        got = real(*args, **kwargs)
        check = {"name": "noise", "value": 1.0, "limit": 0.5, "verdict": "warn", "message": "looks like noise",
                 "out_of_domain": True}
        return replace(got, quality={"verdict": "warn", "checks": [check]})

    from dataclasses import replace

    monkeypatch.setattr(img_mod, "intake", flagged)
    r = triage(v2_bundle, sorted((ham_dir / "images").glob("*.jpg"))[0])
    assert not r.in_domain and r.confidence == "none" and r.tier != "LOW" and r.p_interval is None
