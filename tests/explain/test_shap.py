"""SHAP over the whole pipeline of a real tiny bundle on real photos: shape, additivity, budget, progress, cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from skintag.errors import ConfigError
from skintag.explain.shap_image import explain_shap, pipeline_fn


@pytest.fixture(scope="module")
def photo(ham_dir) -> Image.Image:
    return Image.open(sorted((ham_dir / "images").glob("*.jpg"))[3]).convert("RGB")


def test_shap_values_add_up_to_the_prediction(trained_bundle, photo):
    calls = []
    res = explain_shap(trained_bundle, photo, max_evals=120, masker="blur(8,8)",
                       progress=lambda done, total: calls.append((done, total)))
    size = trained_bundle.image_size
    assert res.values.shape == (size, size) and np.isfinite(res.values).all()
    assert not res.cached and 0 < res.n_evals <= 120 + 50  # the budget bounds the work (plus one last batch)
    # the explained output is the pipeline's own output on this image
    x = Image.fromarray(np.asarray(photo.resize((size, size), Image.Resampling.BICUBIC)))
    emb, _ = trained_bundle.forward_pixels(trained_bundle.preprocess([x]))
    assert res.prediction == pytest.approx(float(trained_bundle.predict_embeddings(emb).p_malignant[0]))
    # Owen values are efficient: they sum to f(image) - f(fully masked)
    assert res.values.sum() + res.base_value == pytest.approx(res.prediction, abs=1e-6)
    assert np.abs(res.values).max() > 1e-4 and len(np.unique(res.values)) > 8  # a real, structured map
    heat = res.heatmap()
    assert heat.shape == (size, size) and heat.min() >= 0.0 and heat.max() <= 1.0
    assert res.abs_heatmap().max() == pytest.approx(1.0)
    done = [d for d, _ in calls]
    assert calls and done == sorted(done) and all(t == 120 for _, t in calls) and done[-1] <= 120


def test_calibrated_output_is_the_default_and_matches_predict(tiny_bundle, photo):
    f = pipeline_fn(tiny_bundle)
    size = tiny_bundle.image_size
    x = np.asarray(photo.resize((size, size), Image.Resampling.BICUBIC))[None]
    assert f(x)[0, 0] == pytest.approx(float(tiny_bundle.predict([Image.fromarray(x[0])]).p_malignant[0]))
    with pytest.raises(ConfigError, match="output"):
        pipeline_fn(tiny_bundle, output="logit")


def test_cache_makes_a_repeat_instant_and_is_keyed(tiny_bundle, photo, tmp_path):
    kw = {"max_evals": 60, "masker": "blur(8,8)", "cache_dir": tmp_path}
    first = explain_shap(tiny_bundle, photo, **kw)
    files = sorted(p.suffix for p in (tmp_path / "shap").iterdir())
    assert files == [".json", ".npz"]
    meta = json.loads(next((tmp_path / "shap").glob("*.json")).read_text())
    assert meta["max_evals"] == 60 and meta["masker"] == "blur(8,8)" and meta["output"] == "calibrated"
    with np.load(next((tmp_path / "shap").glob("*.npz")), allow_pickle=False) as data:
        assert list(data.keys()) == ["values"]
    progress = []
    second = explain_shap(tiny_bundle, photo, progress=lambda d, t: progress.append((d, t)), **kw)
    assert second.cached and second.n_evals == 0 and progress == [(60, 60)]
    np.testing.assert_array_equal(second.values, first.values)
    assert second.base_value == first.base_value and second.prediction == first.prediction
    other = explain_shap(tiny_bundle, photo, **{**kw, "max_evals": 61})
    assert not other.cached
    flipped = explain_shap(tiny_bundle, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT), **kw)
    assert not flipped.cached
    assert len(list((tmp_path / "shap").glob("*.npz"))) == 3


def test_inpaint_masker_and_bad_options(tiny_bundle, photo):
    res = explain_shap(tiny_bundle, photo, max_evals=40, masker="inpaint_telea", output="raw")
    assert res.values.sum() + res.base_value == pytest.approx(res.prediction, abs=1e-6)
    with pytest.raises(ConfigError, match="masker"):
        explain_shap(tiny_bundle, photo, max_evals=40, masker="zeros")
    with pytest.raises(ConfigError, match="max_evals"):
        explain_shap(tiny_bundle, photo, max_evals=2)
