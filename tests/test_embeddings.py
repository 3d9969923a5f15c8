"""Embedding extraction: content-addressed cache (no model calls on a repeat run), resume after interruption,
equality with a plain forward pass, and the Accelerate path on one CPU process."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from skintag.embeddings import EmbeddingCache, extract_embeddings, image_key, load_image
from skintag.errors import BadImageError
from skintag.model.backbone import Preprocessing, backbone_hash, new_backbone

TINY = {
    "image_size": 32,
    "patch_size": 8,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
}


class ForwardCounter:
    """Counts backbone forward calls and the images they saw; can raise at a given call to simulate a crash."""

    def __init__(self, model: torch.nn.Module, fail_at: int | None = None) -> None:
        self.calls = 0
        self.images = 0
        self.fail_at = fail_at
        self.handle = model.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise RuntimeError("simulated crash")
        self.images += kwargs["pixel_values"].shape[0]

    def remove(self) -> None:
        self.handle.remove()


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return new_backbone(TINY, random_state=0)


@pytest.fixture(scope="module")
def prep() -> Preprocessing:
    return Preprocessing(image_size=32)


@pytest.fixture(scope="module")
def paths(ham_dir: Path, pad_dir: Path) -> list[Path]:
    return sorted((ham_dir / "images").glob("*.jpg"))[:20] + sorted((pad_dir / "images").glob("*.png"))[:4]


@pytest.fixture(scope="module")
def reference(model, prep, paths) -> np.ndarray:
    """Embeddings by a plain forward pass, no cache involved."""
    with torch.no_grad():
        return model(pixel_values=prep([load_image(p) for p in paths])).pooler_output.numpy()


def test_uncached_equals_plain_forward(model, prep, paths, reference):
    emb = extract_embeddings(model, prep, paths, batch_size=5, progress=False)
    assert emb.dtype == np.float32 and emb.shape == (24, 32)
    np.testing.assert_allclose(emb, reference, rtol=1e-5, atol=1e-6)
    # bytes work as well as paths and give the same vectors
    emb_b = extract_embeddings(model, prep, [p.read_bytes() for p in paths[:3]], batch_size=2, progress=False)
    np.testing.assert_allclose(emb_b, reference[:3], rtol=1e-5, atol=1e-6)


def test_second_run_makes_zero_model_calls(model, prep, paths, reference, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    counter = ForwardCounter(model)
    try:
        first = extract_embeddings(model, prep, paths, cache=cache, batch_size=8, progress=False)
        assert (counter.calls, counter.images) == (3, 24)
        # a fresh cache object (as in a new process) over the same folder
        second = extract_embeddings(
            model, prep, paths, cache=EmbeddingCache(tmp_path / "cache"), batch_size=8, progress=False
        )
        assert (counter.calls, counter.images) == (3, 24)
    finally:
        counter.remove()
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, reference, rtol=1e-5, atol=1e-6)
    ns = cache.namespace(backbone_hash(model), prep.key())
    assert len(list(ns.glob("shard-*.npz"))) == 3 and (ns / "meta.json").is_file()
    assert cache.count(backbone_hash(model), prep.key()) == 24


def test_cache_keys_on_backbone_and_preprocessing(model, prep, paths, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    extract_embeddings(model, prep, paths[:4], cache=cache, progress=False)
    other_model = new_backbone(TINY, random_state=1)
    counter = ForwardCounter(other_model)
    try:
        extract_embeddings(other_model, prep, paths[:4], cache=cache, progress=False)
        assert counter.images == 4  # other weights: recomputed
    finally:
        counter.remove()
    counter = ForwardCounter(model)
    try:
        extract_embeddings(
            model, Preprocessing(image_size=32, resample="bilinear"), paths[:4], cache=cache, progress=False
        )
        assert counter.images == 4  # other preprocessing: recomputed
        # duplicates and re-ordering: served from the cache, in the requested order
        again = extract_embeddings(model, prep, [paths[3], paths[0], paths[3]], cache=cache, progress=False)
        assert counter.images == 4
    finally:
        counter.remove()
    first = extract_embeddings(model, prep, paths[:4], cache=cache, progress=False)
    np.testing.assert_array_equal(again, first[[3, 0, 3]])


def test_fine_tuning_changes_the_backbone_key(model):
    tuned = new_backbone(TINY, random_state=0)
    assert backbone_hash(tuned) == backbone_hash(model)
    with torch.no_grad():
        tuned.head.mlp.fc2.bias.add_(0.1)  # in place: the memoised hash must notice
    h_edit = backbone_hash(tuned)
    assert h_edit != backbone_hash(model)
    tuned.train()
    opt = torch.optim.SGD(tuned.parameters(), lr=0.1)
    tuned(pixel_values=torch.randn(2, 3, 32, 32)).pooler_output.sum().backward()
    opt.step()  # an optimizer step changes the weights in place
    h_step = backbone_hash(tuned)
    assert h_step != h_edit
    # loading those weights into another model gives the same hash as the tuned one
    other = new_backbone(TINY, random_state=9)
    other.load_state_dict({k: v.clone() for k, v in tuned.state_dict().items()})
    assert backbone_hash(other) == h_step


def test_resume_after_interruption_recomputes_only_missing(model, prep, paths, reference, tmp_path):
    cache_dir = tmp_path / "cache"
    crash = ForwardCounter(model, fail_at=3)
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            extract_embeddings(model, prep, paths, cache=EmbeddingCache(cache_dir), batch_size=5, progress=False)
    finally:
        crash.remove()
    ns = EmbeddingCache(cache_dir).namespace(backbone_hash(model), prep.key())
    assert len(list(ns.glob("shard-*.npz"))) == 2  # two whole batches reached disk
    assert not list(ns.glob(".*.tmp"))  # no partial files
    counter = ForwardCounter(model)
    try:
        emb = extract_embeddings(model, prep, paths, cache=EmbeddingCache(cache_dir), batch_size=5, progress=False)
        assert counter.images == 24 - 2 * 5
        assert counter.calls == 3  # 14 images in batches of 5
    finally:
        counter.remove()
    np.testing.assert_allclose(emb, reference, rtol=1e-5, atol=1e-6)


def test_accelerate_single_process(model, prep, paths, reference, tmp_path):
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    emb = extract_embeddings(
        model, prep, paths[:7], cache=EmbeddingCache(tmp_path / "c"), batch_size=3, accelerator=acc, progress=False
    )
    np.testing.assert_allclose(emb, reference[:7], rtol=1e-5, atol=1e-6)


def test_bad_image_is_named(model, prep, paths, tmp_path):
    bad = tmp_path / "not_an_image.jpg"
    bad.write_bytes(b"hello, not a jpeg")
    with pytest.raises(BadImageError, match="not_an_image.jpg"):
        extract_embeddings(model, prep, [paths[0], bad], progress=False)


def test_missing_image_file_is_a_data_file_error(tmp_path):
    from skintag.errors import DataFileError

    with pytest.raises(DataFileError, match="gone.jpg"):
        load_image(tmp_path / "gone.jpg")


def test_image_key_is_content_hash(paths, tmp_path):
    copy = tmp_path / "renamed.bin"
    shutil.copyfile(paths[0], copy)
    assert image_key(copy) == image_key(paths[0]) == image_key(paths[0].read_bytes())
    assert image_key(paths[0]) != image_key(paths[1])
    a = Image.new("RGB", (4, 4), (1, 2, 3))
    assert image_key(a) == image_key(a.copy()) != image_key(Image.new("RGB", (4, 4), (1, 2, 4)))


def test_duplicates_are_embedded_once(model, prep, paths, reference, tmp_path):
    many = paths[:20] + paths[:20]  # 40 inputs: parallel hashing path, 20 distinct contents
    counter = ForwardCounter(model)
    try:
        emb = extract_embeddings(model, prep, many, batch_size=8, progress=False, num_workers=2)
    finally:
        counter.remove()
    assert counter.images == 20
    np.testing.assert_allclose(emb, np.concatenate([reference[:20], reference[:20]]), rtol=1e-5, atol=1e-6)
