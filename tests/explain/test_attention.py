"""Attention maps on a real (tiny) SiglipVisionModel: MAP-head weights cross-checked by hand, rollout on hand-made
matrices, maps of real photos on the patch grid in [0, 1], and the overlay."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import SiglipVisionConfig, SiglipVisionModel

from skintag.errors import ConfigError
from skintag.explain.attention import (
    attention_maps,
    attention_rollout,
    colorize,
    map_attention,
    normalize01,
    overlay,
    upsample,
)

SIZE, PATCH = 64, 8


@pytest.fixture(scope="module")
def model() -> SiglipVisionModel:
    cfg = SiglipVisionConfig(image_size=SIZE, patch_size=PATCH, hidden_size=32, intermediate_size=64,
                             num_hidden_layers=3, num_attention_heads=4, attn_implementation="eager")
    torch.manual_seed(0)
    return SiglipVisionModel(cfg).eval()


@pytest.fixture(scope="module")
def photos(ham_dir, pad_dir) -> list[Image.Image]:
    paths = sorted((ham_dir / "images").glob("*.jpg"))[:2] + sorted((pad_dir / "images").glob("*.png"))[:2]
    return [Image.open(p).convert("RGB") for p in paths]


def pixels(images: list[Image.Image]) -> torch.Tensor:
    arr = np.stack([np.asarray(im.resize((SIZE, SIZE)), dtype=np.float32) / 127.5 - 1.0 for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def test_map_attention_matches_a_hand_computed_softmax(model, photos):
    with torch.no_grad():
        out = model(pixel_values=pixels(photos), output_attentions=True)
    h = out.last_hidden_state
    got = map_attention(model, h)
    mha = model.head.attention
    d, heads = mha.embed_dim, mha.num_heads
    w_q, w_k, _ = mha.in_proj_weight.detach().split(d)
    b_q, b_k, _ = mha.in_proj_bias.detach().split(d)
    q = (model.head.probe.detach() @ w_q.T + b_q).reshape(1, heads, d // heads)
    k = (h @ w_k.T + b_k).reshape(h.shape[0], h.shape[1], heads, d // heads)
    scores = torch.einsum("hd,bnhd->bhn", q[0], k) / (d // heads) ** 0.5
    expected = scores.softmax(-1).mean(1).numpy()
    assert got.shape == (len(photos), (SIZE // PATCH) ** 2)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
    # the pooled output the heads see is built from exactly these weights: rebuild it from them
    v = h @ mha.in_proj_weight.detach()[2 * d :].T + mha.in_proj_bias.detach()[2 * d :]
    per_head = scores.softmax(-1)  # (B, heads, N)
    ctx = torch.einsum("bhn,bnhd->bhd", per_head, v.reshape(h.shape[0], h.shape[1], heads, d // heads))
    attn_out = mha.out_proj(ctx.reshape(h.shape[0], 1, d))
    pooled = attn_out + model.head.mlp(model.head.layernorm(attn_out))
    np.testing.assert_allclose(pooled[:, 0].detach().numpy(), out.pooler_output.numpy(), atol=1e-5)


def test_rollout_on_hand_made_matrices():
    a1 = np.array([[[[0.8, 0.2], [0.4, 0.6]]]])  # (B=1, heads=1, 2, 2)
    a2 = np.array([[[[1.0, 0.0], [0.0, 1.0]]]])
    # layer 1 -> 0.5*A + 0.5*I = [[0.9, 0.1], [0.2, 0.8]]; layer 2 -> I; rows read with weights (0.25, 0.75)
    got = attention_rollout([a1, a2], query_weights=np.array([[0.25, 0.75]]))
    np.testing.assert_allclose(got, [[0.375, 0.625]])
    np.testing.assert_allclose(attention_rollout([a1]), [[0.55, 0.45]])  # uniform query rows
    # two heads are averaged before mixing with the identity: mean of these heads is a1's matrix
    two = np.array([[[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.4], [0.8, 0.2]]]])
    np.testing.assert_allclose(attention_rollout([two]), [[0.55, 0.45]])
    with pytest.raises(ConfigError, match="No attentions"):
        attention_rollout([])


def test_maps_of_real_photos_are_patch_grids_in_unit_range(model, photos):
    with torch.no_grad():
        out = model(pixel_values=pixels(photos), output_attentions=True)
    maps = attention_maps(model, out)
    grid = (SIZE // PATCH, SIZE // PATCH)
    assert len(maps) == len(photos)
    for m in maps:
        for arr in (m.map_head, m.rollout):
            assert arr.shape == grid and arr.dtype == np.float32
            assert arr.min() == 0.0 and arr.max() == pytest.approx(1.0)
    # rollout read through the MAP head differs from the uniform reading
    uniform = attention_maps(model, out, query="mean")
    assert not np.allclose(maps[0].rollout, uniform[0].rollout)
    # maps depend on the image
    assert not np.allclose(maps[0].map_head, maps[2].map_head)
    with pytest.raises(ConfigError, match="query"):
        attention_maps(model, out, query="cls")


def test_no_attentions_is_a_clear_error(model, photos):
    with torch.no_grad():
        out = model(pixel_values=pixels(photos[:1]))
    with pytest.raises(ConfigError, match="eager"):
        attention_maps(model, out)


def test_normalize_upsample_and_overlay(photos):
    np.testing.assert_allclose(normalize01(np.array([2.0, 4.0, 6.0])), [0.0, 0.5, 1.0])
    assert not normalize01(np.full((3, 3), 7.0)).any()
    heat = np.zeros((8, 8), dtype=np.float32)
    heat[2:4, 5:7] = 1.0
    up = upsample(heat, (600, 450))
    assert up.shape == (450, 600) and 0.0 <= up.min() and up.max() <= 1.0
    assert up[3 * 450 // 8, 6 * 600 // 8] > 0.9 and up[400, 50] == 0.0  # the hot cell stays where it was
    img = photos[0]
    ov = overlay(img, heat, alpha=0.5)
    assert ov.size == img.size and ov.mode == "RGB"
    assert np.array_equal(np.asarray(overlay(img, heat, alpha=0.0)), np.asarray(img))
    jet_hot = colorize(np.array([[1.0]]), "jet")[0, 0]
    assert tuple(jet_hot) == (128, 0, 0)  # OpenCV's jet ends in dark red
    with pytest.raises(ConfigError, match="colormap"):
        colorize(heat, "rainbow-unicorn")
    with pytest.raises(ConfigError, match="alpha"):
        overlay(img, heat, alpha=1.5)
