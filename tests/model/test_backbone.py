"""Backbone construction/loading (tiny real SigLIP, eager attention), hashing, and preprocessing vs transformers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import SiglipImageProcessorPil

from skintag.errors import ConfigError, ModelBundleError
from skintag.model.backbone import Preprocessing, backbone_hash, load_backbone, new_backbone

TINY = {
    "image_size": 32,
    "patch_size": 8,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
}


def test_new_backbone_is_eager_and_seeded():
    a, b = new_backbone(TINY, random_state=1), new_backbone(TINY, random_state=1)
    assert a.config._attn_implementation == "eager"
    assert not a.training
    assert backbone_hash(a) == backbone_hash(b)
    assert backbone_hash(a) != backbone_hash(new_backbone(TINY, random_state=2))
    out = a(pixel_values=torch.zeros(1, 3, 32, 32), output_attentions=True)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (1, 2, 16, 16)
    assert out.pooler_output.shape == (1, 32)
    with pytest.raises(ConfigError, match="Invalid SigLIP vision config"):
        new_backbone({"no_such_option_shape": (1, 2), "hidden_size": "x"})


def test_load_backbone_local_round_trip(tmp_path):
    model = new_backbone(TINY, random_state=0)
    model.save_pretrained(tmp_path / "bb")
    assert sorted(p.name for p in (tmp_path / "bb").iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_backbone(tmp_path / "bb")
    assert loaded.config._attn_implementation == "eager"
    assert backbone_hash(loaded) == backbone_hash(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixel_values=x).pooler_output, model(pixel_values=x).pooler_output)
    (tmp_path / "bb" / "model.safetensors").unlink()
    with pytest.raises(ModelBundleError, match="no .safetensors weights"):
        load_backbone(tmp_path / "bb")


def test_missing_hub_id_offline_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelBundleError) as info:
        load_backbone("skintag-test/does-not-exist", revision="main")
    msg = str(info.value)
    assert "'skintag-test/does-not-exist'" in msg and "offline" in msg
    assert "hf download skintag-test/does-not-exist --revision main" in msg and "unset HF_HUB_OFFLINE" in msg


def test_preprocessing_matches_transformers_siglip_processor(ham_dir):
    path = sorted((ham_dir / "images").glob("*.jpg"))[0]
    image = Image.open(path)
    ref = SiglipImageProcessorPil(size={"height": 48, "width": 48})(images=[image], return_tensors="np")["pixel_values"]
    got = Preprocessing(image_size=48)([image])
    assert got.dtype == torch.float32 and got.shape == (1, 3, 48, 48)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-6)


def test_preprocessing_key_and_dict(tmp_path):
    p = Preprocessing(image_size=28, mean=(0.1, 0.2, 0.3), std=(1, 1, 1), resample="bilinear")
    d = p.to_dict()
    assert d == {"image_size": 28, "mean": [0.1, 0.2, 0.3], "std": [1.0, 1.0, 1.0], "resample": "bilinear"}
    assert Preprocessing.from_manifest({"preprocessing": d}) == p
    assert Preprocessing.from_manifest(d).key() == p.key()
    assert p.key() != Preprocessing(image_size=28, mean=(0.1, 0.2, 0.3), std=(1, 1, 1)).key()
    # RGBA and grayscale inputs become 3-channel RGB
    rgba = Image.new("RGBA", (10, 20), (255, 0, 0, 128))
    x = Preprocessing(image_size=4, mean=(0, 0, 0), std=(1, 1, 1))([rgba, Image.new("L", (5, 5), 51)])
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(x[1].numpy(), 0.2, atol=1e-6)
    with pytest.raises(ConfigError, match="Unknown resample filter 'cubic'"):
        Preprocessing(resample="cubic")
