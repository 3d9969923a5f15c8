"""Shared fixtures of the explanation tests.

``tiny_bundle``: a real tiny model bundle (skintag.model.testing.build_tiny_bundle; random backbone, real heads).

``trained``: explanations are only worth checking on weights that learned something, and the tiny bundle's backbone is
random. So this trains a tiny SigLIP (32 px, patch 4 → an 8×8 grid, 3 layers) with a linear probe to tell malignant
from benign on 96 real HAM10000 / PAD-UFES-20 photos (tests assert it did learn), and ``trained_bundle`` wraps it in
the bundle interface the explainers use (preprocess, forward_pixels, predict_embeddings), P(malignant) =
sigmoid(probe(pooled MAP output)).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

SIZE = 32
MALIGNANT = {"mel", "bcc", "akiec", "MEL", "BCC", "SCC", "ACK"}


@pytest.fixture(scope="session")
def tiny_bundle(shared_data):
    from skintag.model import load_bundle
    from tests.explain.tinybundle import tiny_bundle_dir

    return load_bundle(tiny_bundle_dir(shared_data))


def load_small(path) -> Image.Image:
    im = Image.open(path)
    im.draft("RGB", (4 * SIZE, 4 * SIZE))  # JPEG: decode at reduced scale
    return im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)


def to_pixels(images) -> Any:
    import torch

    arr = np.stack([np.asarray(im.convert("RGB").resize((SIZE, SIZE)), dtype=np.float32) / 127.5 - 1 for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


@dataclass
class Trained:
    model: Any
    probe: Any
    eval_images: list
    eval_pixels: Any
    first_loss: float
    last_loss: float
    train_accuracy: float
    prevalence: float


@pytest.fixture(scope="session")
def trained(ham_dir, pad_dir) -> Trained:
    import torch
    from transformers import SiglipVisionConfig, SiglipVisionModel

    ham = {r["image_id"]: r["dx"] for r in csv.DictReader((ham_dir / "HAM10000_metadata.csv").open())}
    pad = {r["img_id"]: r["diagnostic"] for r in csv.DictReader((pad_dir / "metadata.csv").open())}
    items = [(p, ham[p.stem]) for p in sorted((ham_dir / "images").glob("*.jpg"))[:48]]
    items += [(p, pad[p.name]) for p in sorted((pad_dir / "images").glob("*.png"))[:48]]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    images = [load_small(p) for p, _ in items]
    x = to_pixels(images)
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
    probe.eval()
    with torch.no_grad():
        acc = float(((probe(model(pixel_values=x).pooler_output).squeeze(1) > 0).float() == y).float().mean())
    torch.set_num_threads(threads)
    return Trained(model, probe, images[::6], x[::6], float(np.mean(losses[:5])), float(np.mean(losses[-5:])), acc,
                   float(y.mean()))


class TrainedBundle:
    """The bundle interface (as skintag.model.ModelBundle) around the trained tiny backbone and its probe."""

    image_size = SIZE
    fingerprint = "trained-tiny-test"

    def __init__(self, t: Trained) -> None:
        self.backbone, self.probe = t.model, t.probe

    def preprocess(self, images):
        return to_pixels(images)

    def forward_pixels(self, pixel_values, output_attentions: bool = False):
        import torch

        with torch.no_grad():
            out = self.backbone(pixel_values=pixel_values, output_attentions=output_attentions)
        return out.pooler_output.numpy().astype(np.float32), out

    def predict_embeddings(self, emb):
        import torch

        with torch.no_grad():
            p = torch.sigmoid(self.probe(torch.from_numpy(np.asarray(emb, dtype=np.float32)))).squeeze(1).numpy()
        p = p.astype(np.float64)
        return SimpleNamespace(p_malignant=p, p_malignant_raw=p, condition_probs=np.full((len(p), 10), 0.1))


@pytest.fixture(scope="session")
def trained_bundle(trained) -> TrainedBundle:
    return TrainedBundle(trained)
