"""What the page shows beside the result: the model's own input picture, legends, the flat-calibration switch of SHAP,
and the crop's tier-change warning."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tests import imagecases as ic


def test_model_input_image_is_the_preprocessed_picture(tiny_bundle):
    from skintag.explain.attention import model_input_image

    seen = model_input_image(tiny_bundle, ic.ham_photo())
    size = tiny_bundle.image_size
    assert seen.size == (size, size) and seen.mode == "RGB"
    # the bundle resizes with PIL bicubic and normalises with mean = std = 0.5: un-normalised, the same pixels (±1)
    by_hand = np.asarray(ic.ham_photo().resize((size, size), Image.Resampling.BICUBIC), dtype=int)
    assert np.abs(np.asarray(seen, dtype=int) - by_hand).max() <= 1


def test_enlarge_nearest_keeps_pixels_as_blocks():
    from skintag.plots.triage import enlarge_nearest

    small = Image.fromarray(np.arange(28 * 28 * 3, dtype=np.uint8).reshape(28, 28, 3))
    big = enlarge_nearest(small)
    assert big.size == (224, 224)  # ×8, the smallest whole factor reaching 224 px
    arr, src = np.asarray(big), np.asarray(small)
    np.testing.assert_array_equal(arr[::8, ::8], src)
    np.testing.assert_array_equal(arr[7::8, 7::8], src)
    assert enlarge_nearest(small.resize((300, 300))).size == (300, 300)
    assert enlarge_nearest(Image.new("RGB", (32, 32))).size == (224, 224)  # ×7


def test_colour_legend_matches_the_overlay_colormap():
    from skintag.explain.attention import colorize
    from skintag.plots.triage import colour_legend_html

    html = colour_legend_html("inferno", "low <a>", "high", title="Attention")
    lo, hi = colorize(np.array([[0.0, 1.0]]), "inferno")[0]
    assert f"rgb({lo[0]},{lo[1]},{lo[2]}) 0%" in html and f"rgb({hi[0]},{hi[1]},{hi[2]}) 100%" in html
    assert "low &lt;a&gt;" in html and ">high<" in html and "Attention" in html


class _Stub:
    """A bundle with only a calibrator (what calibration_is_flat needs)."""

    def __init__(self, calibrator):
        self.calibrator = calibrator


def test_calibration_is_flat_on_an_isotonic_plateau():
    from skintag.explain.shap_image import calibration_is_flat
    from skintag.model.calibration import Calibrator

    # isotonic fit on raw scores 0.0 … 0.9 with outcomes 0,0,0,0,1,0,1,1,1,1: the pooled steps give a plateau of
    # 0.5 over raw scores 0.4-0.5 and constant 0 below 0.3, 1 above 0.6
    cal = Calibrator("isotonic").fit(np.arange(10) / 10, [0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    bundle = _Stub(cal)
    assert calibration_is_flat(bundle, 0.1)  # 0.05-0.15 all map to 0
    assert calibration_is_flat(bundle, 0.45)  # 0.40-0.50 all map to 0.5
    assert not calibration_is_flat(bundle, 0.3)  # 0.25-0.35 crosses a step (0 → 0.5)
    platt = Calibrator("platt").fit(np.arange(10) / 10, [0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    assert not calibration_is_flat(_Stub(platt), 0.45)  # a logistic map is never flat


def test_calibration_is_flat_uses_the_domain_calibrator():
    from skintag.explain.shap_image import calibration_is_flat

    calls = []

    def calibrate(raw, domain):
        calls.append(domain)
        return np.full(len(raw), 0.2) if domain == "clinical" else np.asarray(raw)

    bundle = SimpleNamespace(calibrate=calibrate, calibrator=None)
    assert calibration_is_flat(bundle, 0.5, domain="clinical")
    assert not calibration_is_flat(bundle, 0.5, domain="dermoscopic")
    assert calls == ["clinical", "dermoscopic"]


def test_crop_tier_warning():
    from skintag.triage import triage_from_probabilities
    from skintag.ui.triage import crop_tier_warning

    cmap = {i: ("malignant" if i < 4 else "benign") for i in range(10)}
    probs = [0.0] * 4 + [1.0] + [0.0] * 5

    def run(p):
        return triage_from_probabilities(p, probs, thresholds={"moderate": 0.3, "high": 0.6}, category_map=cmap)

    moderate, low, other_moderate = run(0.45), run(0.1), run(0.5)
    text = crop_tier_warning(moderate, low)
    assert text is not None and "**MODERATE** (45%)" in text and "**LOW** (10%)" in text
    assert crop_tier_warning(moderate, other_moderate) is None


@pytest.mark.parametrize("domain", [None, "dermoscopic"])
def test_shap_cache_key_separates_domains_only_for_the_calibrated_output(domain):
    from skintag.explain.shap_image import cache_key

    im = Image.new("RGB", (8, 8), (120, 80, 60))
    assert cache_key(im, "f", 40, "blur(16,16)", "raw", domain) == cache_key(im, "f", 40, "blur(16,16)", "raw")
    same = cache_key(im, "f", 40, "blur(16,16)", "calibrated", domain) == cache_key(im, "f", 40, "blur(16,16)",
                                                                                  "calibrated")
    assert same is (domain is None)
