"""Model-parameter randomisation check (Adebayo et al. 2018) on real photos.

"Trained" must mean weights that learned something: the module fixture trains a tiny SigLIP (32 px, patch 4 → an 8×8 grid, 3 layers)
with a linear probe to tell malignant from benign on 96 real HAM10000 / PAD-UFES-20 photos and asserts it did learn (loss
and training accuracy). Its maps are then compared with those of freshly initialised backbones of the same architecture
under three seeds. A positive control (same trained model, slightly noised input) must stay far above the bound, so a
pass means "changes with the weights", not "the comparison is noise".
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import SiglipVisionConfig, SiglipVisionModel

from skintag.errors import ConfigError
from skintag.explain.attention import attention_maps
from skintag.explain.sanity import (
    DEFAULT_BOUND,
    backbone_attention_sanity,
    compare_maps,
    randomized_backbone,
    spearman,
)

SIZE = 32
MALIGNANT = {"mel", "bcc", "akiec", "MEL", "BCC", "SCC", "ACK"}


def _load(path) -> np.ndarray:
    im = Image.open(path)
    im.draft("RGB", (4 * SIZE, 4 * SIZE))  # JPEG: decode at reduced scale
    return np.asarray(im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR), dtype=np.float32) / 127.5 - 1


def _pixels(paths) -> torch.Tensor:
    return torch.from_numpy(np.stack([_load(p) for p in paths])).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def trained(ham_dir, pad_dir):
    ham = {r["image_id"]: r["dx"] for r in csv.DictReader((ham_dir / "HAM10000_metadata.csv").open())}
    pad = {r["img_id"]: r["diagnostic"] for r in csv.DictReader((pad_dir / "metadata.csv").open())}
    items = [(p, ham[p.stem]) for p in sorted((ham_dir / "images").glob("*.jpg"))[:48]]
    items += [(p, pad[p.name]) for p in sorted((pad_dir / "images").glob("*.png"))[:48]]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    x = _pixels([p for p, _ in items])
    y = torch.tensor([float(dx in MALIGNANT) for _, dx in items])
    torch.manual_seed(0)
    cfg = SiglipVisionConfig(image_size=SIZE, patch_size=4, hidden_size=32, intermediate_size=64,
                             num_hidden_layers=3, num_attention_heads=4, attn_implementation="eager")
    model, probe = SiglipVisionModel(cfg), torch.nn.Linear(32, 1)
    opt = torch.optim.Adam([*model.parameters(), *probe.parameters()], lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(80):
        idx = torch.randperm(len(x), generator=gen)[:24]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            probe(model(pixel_values=x[idx]).pooler_output).squeeze(1), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        acc = float(((probe(model(pixel_values=x).pooler_output).squeeze(1) > 0).float() == y).float().mean())
    torch.set_num_threads(threads)
    return model, x[::6], float(np.mean(losses[:5])), float(np.mean(losses[-5:])), acc, float(y.mean())


def test_the_model_under_test_actually_learned(trained):
    _, _, first, last, acc, prevalence = trained
    assert last < 0.6 * first
    assert acc > max(prevalence, 1 - prevalence) + 0.15  # well above the majority-class rate


@pytest.mark.parametrize("kind", ["rollout", "map_head"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_attention_maps_change_when_weights_are_randomised(trained, kind, seed):
    model, x = trained[0], trained[1]
    res = backbone_attention_sanity(model, x, kind=kind, seed=seed)
    assert len(res.correlations) == len(x) == 16
    assert res.bound == DEFAULT_BOUND == 0.5
    assert res.passed, res.summary()
    assert res.statistic == pytest.approx(np.mean(np.abs(res.correlations)))


def test_positive_control_same_model_noisy_input_stays_far_above_the_bound(trained):
    model, x = trained[0], trained[1]
    noisy = x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = attention_maps(model, model(pixel_values=x, output_attentions=True))
        b = attention_maps(model, model(pixel_values=noisy, output_attentions=True))
    for kind in ("rollout", "map_head"):
        res = compare_maps([getattr(m, kind) for m in a], [getattr(m, kind) for m in b], method=kind)
        assert not res.passed and res.statistic > 0.85, res.summary()


def test_randomized_backbone_is_same_architecture_new_weights(trained):
    model = trained[0]
    rnd = randomized_backbone(model, seed=5)
    assert type(rnd) is type(model) and rnd.config.to_dict() == model.config.to_dict()
    a, b = dict(model.named_parameters()), dict(rnd.named_parameters())
    assert a.keys() == b.keys()
    assert all(a[k].shape == b[k].shape for k in a)
    assert not torch.equal(a["head.probe"], b["head.probe"])
    again = randomized_backbone(model, seed=5)
    assert torch.equal(again.head.probe, rnd.head.probe)  # seeded


def test_spearman_and_compare_maps_match_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.random((8, 8)), rng.random((8, 8))
    assert spearman(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel()).statistic)
    assert spearman(a, np.ones((8, 8))) == 0.0
    res = compare_maps([a, a], [b, a], method="x", bound=0.5)
    assert res.correlations[1] == pytest.approx(1.0)
    assert res.statistic == pytest.approx((abs(spearman(a, b)) + 1) / 2) and not res.passed
    # an input-only "explanation" (identical with any weights) is exactly what the check must fail
    assert not compare_maps([a], [a.copy()], method="input-only").passed
    with pytest.raises(ConfigError, match="shape"):
        spearman(a, b[:4])
    with pytest.raises(ConfigError, match="same non-zero"):
        compare_maps([a], [], method="x")
