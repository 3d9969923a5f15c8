"""Model bundles end to end: save/load round trip, refusal of tampered, incomplete, unknown or pickle-bearing bundles,
and a backbone named by Hugging Face id loaded from an offline cache."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from skintag import taxonomy
from skintag.errors import ConfigError, ModelBundleError
from skintag.model import load_bundle, save_bundle
from skintag.model.bundle import sha256_file
from skintag.model.signing import manifest_fingerprint


@pytest.fixture(scope="module")
def bundle(tiny_bundle_dir: Path):
    return load_bundle(tiny_bundle_dir)


def _flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def _resave(bundle, out: Path, backbone=None, backbone_revision=None, **fields) -> Path:
    return save_bundle(
        out,
        backbone=bundle.backbone if backbone is None else backbone,
        preprocessing=bundle.preprocessing,
        binary_head=bundle.binary_head,
        condition_head=bundle.condition_head,
        calibrator=bundle.calibrator,
        manifest_fields={
            k: bundle.manifest[k]
            for k in (
                "name",
                "version",
                "created",
                "operating_points",
                "training_data",
                "metrics",
                "per_group",
                "licence",
            )
        }
        | fields,
        backbone_revision=backbone_revision,
    )


def test_bundle_layout_and_manifest(tiny_bundle_dir: Path, bundle):
    m = bundle.manifest
    assert m["bundle_format_version"] == 2
    listed = set(m["files"])
    on_disk = {p.relative_to(tiny_bundle_dir).as_posix() for p in tiny_bundle_dir.rglob("*") if p.is_file()}
    assert on_disk - listed == {"manifest.json"}
    assert {
        "backbone/config.json",
        "backbone/model.safetensors",
        "heads/binary.ubj",
        "heads/binary.meta.json",
        "heads/condition.ubj",
        "heads/condition.meta.json",
        "calibration.json",
        "model_card.md",
        "eval/split.csv",
    } == listed
    for rel, digest in m["files"].items():
        assert (
            sha256_file(tiny_bundle_dir / rel)
            == digest
            == hashlib.sha256((tiny_bundle_dir / rel).read_bytes()).hexdigest()
        )
    # the fingerprint covers the whole manifest (thresholds, classes, preprocessing) and, through it, every file
    on_disk = json.loads((tiny_bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    expected_fp = hashlib.sha256(json.dumps(on_disk, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert bundle.fingerprint == expected_fp == manifest_fingerprint(on_disk) == manifest_fingerprint(m.raw)
    assert bundle.class_names == list(taxonomy.CONDITIONS)
    assert bundle.category_map == taxonomy.condition_category_map()
    assert bundle.thresholds == {"moderate": 0.30, "high": 0.60}
    assert set(bundle.operating_points) == {"sens95"}
    assert bundle.image_size == 32 and m["embedding_size"] == 32
    assert m["training_data"]["split_file_sha256"] == m["files"]["eval/split.csv"]
    assert m["training_data"]["datasets"] == ["ham10000", "pad_ufes_20"]
    assert bundle.backbone.config._attn_implementation == "eager" and not bundle.backbone.training


def test_predict_matches_its_parts(bundle, real_images):
    pred = bundle.predict(real_images)
    assert len(pred) == len(real_images)
    # the embedding is the pooled MAP output of one backbone pass over the manifest's preprocessing
    with torch.no_grad():
        ref = bundle.backbone(pixel_values=bundle.preprocessing(real_images)).pooler_output.numpy()
    emb = bundle.embed(real_images, batch_size=3)
    np.testing.assert_allclose(emb, ref, rtol=1e-5, atol=1e-6)
    raw = bundle.binary_head.predict_proba(emb)
    np.testing.assert_allclose(pred.p_malignant_raw, raw, rtol=1e-6)
    np.testing.assert_allclose(pred.p_malignant, bundle.calibrator.predict(raw), rtol=1e-6)
    assert pred.condition_probs.shape == (len(real_images), 10)
    np.testing.assert_allclose(pred.condition_probs.sum(axis=1), 1.0, atol=1e-6)
    assert np.all((pred.p_malignant >= 0) & (pred.p_malignant <= 1))
    # forward_pixels returns the same embedding and, on request, one attention map per encoder layer
    emb2, out = bundle.forward_pixels(bundle.preprocess(real_images[:2]), output_attentions=True)
    np.testing.assert_allclose(emb2, emb[:2], rtol=1e-5, atol=1e-6)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (2, 2, 16, 16)


def test_round_trip_gives_identical_predictions(bundle, real_images, tmp_path):
    again = load_bundle(_resave(bundle, tmp_path / "resaved"))
    a, b = bundle.predict(real_images), again.predict(real_images)
    np.testing.assert_array_equal(a.p_malignant, b.p_malignant)
    np.testing.assert_array_equal(a.p_malignant_raw, b.p_malignant_raw)
    np.testing.assert_array_equal(a.condition_probs, b.condition_probs)
    # the parts are re-serialised byte for byte
    for rel in ("backbone/model.safetensors", "heads/binary.ubj", "heads/condition.ubj", "calibration.json"):
        assert again.manifest["files"][rel] == bundle.manifest["files"][rel], rel
    # saving over an existing bundle replaces it
    again2 = load_bundle(_resave(bundle, tmp_path / "resaved", version="0.0.2"))
    assert again2.version == "0.0.2"


@pytest.mark.parametrize("rel", ["heads/binary.ubj", "backbone/model.safetensors", "calibration.json", "model_card.md"])
def test_hash_mismatch_is_refused_naming_the_file(bundle_copy: Path, rel: str):
    _flip_byte(bundle_copy / rel)
    with pytest.raises(ModelBundleError, match=f"file {rel} does not match its SHA-256"):
        load_bundle(bundle_copy)


def test_missing_file_is_refused(bundle_copy: Path):
    (bundle_copy / "heads" / "condition.meta.json").unlink()
    with pytest.raises(ModelBundleError, match="file heads/condition.meta.json listed in the manifest is missing"):
        load_bundle(bundle_copy)
    with pytest.raises(ModelBundleError, match="is missing"):
        load_bundle(bundle_copy, verify=False)
    shutil.rmtree(bundle_copy)
    with pytest.raises(ModelBundleError, match="manifest.json is missing"):
        load_bundle(bundle_copy)


def test_unknown_format_version_is_refused(bundle_copy: Path):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["bundle_format_version"] = 3
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        ModelBundleError, match=r"bundle_format_version 3, which this SkinTag cannot read \(supported: \[1, 2\]\)"
    ):
        load_bundle(bundle_copy)


def test_manifest_path_escape_is_refused(bundle_copy: Path):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["files"]["../outside.json"] = "0" * 64
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelBundleError, match="invalid file path '../outside.json'"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("heads/extra.pkl", b"anything", "suffix .pkl"),
        ("backbone/pytorch_model.bin", b"\x00" * 16, "suffix .bin"),
        ("notes.dat", b"\x80\x04\x95\x05\x00\x00\x00", "pickle protocol 4 header"),
    ],
)
def test_pickle_files_are_refused(bundle_copy: Path, name: str, content: bytes, reason: str):
    (bundle_copy / name).write_bytes(content)
    with pytest.raises(ModelBundleError, match=f"file {name} looks pickle-based.*{reason}"):
        load_bundle(bundle_copy, verify=False)


def test_zip_with_pickled_data_is_refused(bundle_copy: Path):
    with zipfile.ZipFile(bundle_copy / "weights.zip", "w") as zf:  # the layout torch.save writes
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(ModelBundleError, match=r"zip archive holding pickled data \(archive/data.pkl\)"):
        load_bundle(bundle_copy)


def test_save_bundle_refusals(bundle, tmp_path):
    with pytest.raises(ConfigError, match="must include a non-empty 'name'"):
        _resave(bundle, tmp_path / "a", name="")
    with pytest.raises(ConfigError, match=r"may not set \['files'\]"):
        _resave(bundle, tmp_path / "a", files={})
    (tmp_path / "not_a_bundle").mkdir()
    (tmp_path / "not_a_bundle" / "keep.txt").write_text("user data")
    with pytest.raises(ConfigError, match="is not a model bundle; refusing to replace it"):
        _resave(bundle, tmp_path / "not_a_bundle")
    assert (tmp_path / "not_a_bundle" / "keep.txt").read_text() == "user data"
    bad = tmp_path / "m.pt"
    bad.write_bytes(b"\x80\x02")
    with pytest.raises(ConfigError, match="looks pickle-based"):
        save_bundle(
            tmp_path / "b",
            backbone=bundle.backbone,
            preprocessing=bundle.preprocessing,
            binary_head=bundle.binary_head,
            condition_head=bundle.condition_head,
            calibrator=bundle.calibrator,
            manifest_fields={"name": "x", "version": "1"},
            extra_files={"eval/m.pt": bad},
        )
    assert not (tmp_path / "b").exists()
    with pytest.raises(ConfigError, match="thresholds must be"):
        _resave(bundle, tmp_path / "c", thresholds={"moderate": 0.7, "high": 0.6})


def _hub_cache_with(model, cache: Path, repo: str, revision: str) -> None:
    """Lay a model out as the Hugging Face Hub cache does (models--org--name/snapshots/<commit>, refs/main)."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    model.save_pretrained(folder / "snapshots" / revision)
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(revision)


def test_backbone_by_hub_id_from_offline_cache(bundle, real_images, tmp_path, monkeypatch):
    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = tmp_path / "hub"
    _hub_cache_with(bundle.backbone, cache, "skintag-test/tiny-siglip", commit)
    out = _resave(bundle, tmp_path / "hf", backbone="skintag-test/tiny-siglip", backbone_revision=commit)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backbone"] == {"source": "huggingface", "hf_id": "skintag-test/tiny-siglip", "revision": commit}
    assert not (out / "backbone").exists()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    hub = load_bundle(out)
    np.testing.assert_array_equal(hub.predict(real_images).p_malignant, bundle.predict(real_images).p_malignant)
    assert "skintag-test/tiny-siglip" in (out / "model_card.md").read_text()

    # a missing id offline: a clear error that says how to fix it
    out2 = _resave(bundle, tmp_path / "hf2", backbone="skintag-test/not-cached", backbone_revision="main")
    with pytest.raises(ModelBundleError) as info:
        load_bundle(out2)
    msg = str(info.value)
    assert "'skintag-test/not-cached' at revision 'main'" in msg and "offline" in msg
    assert "To fix: download it once while online (`hf download skintag-test/not-cached --revision main`)" in msg
    assert "unset HF_HUB_OFFLINE" in msg


def test_tiny_bundle_without_shared_data_uses_random_images(tmp_path):
    from skintag.model.testing import build_tiny_bundle

    b = load_bundle(build_tiny_bundle(tmp_path / "rnd", data_dir=tmp_path / "no-data", image_size=16))
    assert b.manifest["training_data"]["real_images"] is False
    assert b.manifest["training_data"]["datasets"] == ["random"]
    assert b.image_size == 16
    from PIL import Image

    pred = b.predict([Image.new("RGB", (20, 30), (200, 120, 90))])
    assert pred.condition_probs.shape == (1, 10) and 0 <= pred.p_malignant[0] <= 1
