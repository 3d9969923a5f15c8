"""Ensembles of backbones (skintag.model.ensemble) and their averaged heads (skintag.model.heads.EnsembleHead): one
tiny bundle of two real towers (2 and 3 layers, different seeds) with XGBoost heads per member, trained on real photos,
carried through save / load, triage with attention, SHAP and the randomisation checks."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from skintag.errors import ConfigError, ModelBundleError


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory, shared_data):
    from skintag.model.testing import build_tiny_bundle

    torch.set_num_threads(1)
    return build_tiny_bundle(tmp_path_factory.mktemp("ens") / "bundle", data_dir=shared_data, members=2)


@pytest.fixture(scope="module")
def ensemble(ensemble_dir):
    from skintag.model.bundle import load_bundle

    return load_bundle(ensemble_dir)


@pytest.fixture(scope="module")
def photos(ham_dir):
    paths = sorted((ham_dir / "images").glob("*.jpg"))[:6]
    out = []
    for p in paths:
        with Image.open(p) as im:
            out.append(im.convert("RGB"))
    return out


def test_manifest_and_layout(ensemble_dir, ensemble):
    from skintag.model.ensemble import EnsembleBackbone

    manifest = json.loads((ensemble_dir / "manifest.json").read_text())
    assert manifest["backbone"]["architecture"] == "EnsembleBackbone"
    members = manifest["backbone"]["config"]["members"]
    assert [m["num_hidden_layers"] for m in members] == [2, 3]
    assert manifest["embedding_size"] == sum(m["hidden_size"] for m in members) == 64
    assert manifest["backbone"]["n_parameters"] == sum(m["n_parameters"] for m in members)
    assert manifest["heads"]["binary"]["type"] == "ensemble"
    for f in ("backbone/ensemble.json", "backbone/0/model.safetensors", "backbone/1/model.safetensors",
              "heads/binary.json", "heads/binary.member0.ubj", "heads/binary.member1.ubj"):
        assert f in manifest["files"], f
    assert isinstance(ensemble.backbone, EnsembleBackbone)
    assert ensemble.backbone.widths == [32, 32]


def test_embedding_is_the_members_side_by_side(ensemble, photos):
    from skintag.model.backbone import pooled_embedding

    pv = ensemble.preprocess(photos)
    emb, out = ensemble.forward_pixels(pv)
    parts = [pooled_embedding(m, pv)[0] for m in ensemble.backbone.members]
    np.testing.assert_array_equal(emb, np.concatenate(parts, axis=1))
    assert len(out.members) == 2
    # dihedral test-time augmentation is applied per member, then concatenated
    tta, _ = pooled_embedding(ensemble.backbone, pv, tta=True)
    np.testing.assert_allclose(tta, np.concatenate([pooled_embedding(m, pv, tta=True)[0]
                                                    for m in ensemble.backbone.members], axis=1), atol=1e-6)
    assert not np.allclose(tta, emb)


def test_head_is_the_mean_of_member_heads(ensemble, photos):
    emb = ensemble.embed(photos)
    for head in (ensemble.binary_head, ensemble.condition_head):
        per = [h.predict_proba(emb[:, i * 32:(i + 1) * 32]) for i, h in enumerate(head.heads)]
        np.testing.assert_allclose(head.predict_proba(emb), np.mean(per, axis=0), rtol=0, atol=1e-12)
        assert not np.allclose(per[0], per[1])  # two different members, two different opinions
    cond = ensemble.condition_head.predict_proba(emb)
    np.testing.assert_allclose(cond.sum(axis=1), 1.0, atol=1e-9)


def test_triage_with_attention_and_hash(ensemble, photos):
    from skintag.explain.attention import attention_maps, attention_scope
    from skintag.model.backbone import backbone_hash
    from skintag.triage import TriageSettings, triage

    res = triage(ensemble, photos[0], domain="dermoscopic", settings=TriageSettings(attention=True))
    assert 0.0 <= res.p_malignant <= 1.0
    assert res.attention is not None
    _, out = ensemble.forward_pixels(ensemble.preprocess(photos[:2]), output_attentions=True)
    maps = attention_maps(ensemble.backbone, out)
    lead, other = (attention_maps(m, o) for m, o in zip(ensemble.backbone.members, out.members, strict=True))
    for m, a, b in zip(maps, lead, other, strict=True):  # the lead tower's maps, not the other tower's
        np.testing.assert_array_equal(m.rollout, a.rollout)
        np.testing.assert_array_equal(m.map_head, a.map_head)
        assert not np.array_equal(m.rollout, b.rollout)
    np.testing.assert_array_equal(res.attention.rollout, attention_maps(
        ensemble.backbone, ensemble.forward_pixels(ensemble.preprocess([res.image]), output_attentions=True)[1]
    )[0].rollout)
    assert attention_scope(ensemble.backbone).startswith("This model is an ensemble of 2 backbones")
    assert "1/2 of the averaged score" in attention_scope(ensemble.backbone)
    assert attention_scope(ensemble.backbone.members[0]) is None
    h = backbone_hash(ensemble.backbone)
    assert h == backbone_hash(ensemble.backbone)
    assert h not in {backbone_hash(m) for m in ensemble.backbone.members}


def test_shap_and_sanity_on_an_ensemble(ensemble, photos):
    from skintag.explain.sanity import attention_sanity, randomized_backbone
    from skintag.explain.shap_image import explain_shap

    rnd = randomized_backbone(ensemble.backbone, random_state=0)
    assert type(rnd) is type(ensemble.backbone) and rnd.widths == ensemble.backbone.widths
    for a, b in zip(rnd.members, ensemble.backbone.members, strict=True):
        assert not torch.equal(next(iter(a.state_dict().values())), next(iter(b.state_dict().values())))
    res = attention_sanity(ensemble, photos[:3], kind="rollout")
    assert len(res.correlations) == 3 and max(abs(c) for c in res.correlations) < 1.0  # a different map was compared
    shap = explain_shap(ensemble, photos[0], max_evals=40, output="raw")
    assert shap.values.shape[:2] == (ensemble.image_size, ensemble.image_size)


def test_save_load_round_trip_is_exact(ensemble, photos, tmp_path):
    from skintag.model.bundle import load_bundle, save_bundle

    out = save_bundle(tmp_path / "again", backbone=ensemble.backbone, preprocessing=ensemble.preprocessing,
                      binary_head=ensemble.binary_head, condition_head=ensemble.condition_head,
                      calibrator=ensemble.calibrator,
                      manifest_fields={"name": "again", "version": "0.0.2", "thresholds": ensemble.thresholds})
    again = load_bundle(out)
    a, b = ensemble.predict(photos), again.predict(photos)
    np.testing.assert_array_equal(a.p_malignant, b.p_malignant)
    np.testing.assert_array_equal(a.condition_probs, b.condition_probs)


def test_mismatched_heads_and_bad_member_lists_are_refused(ensemble, ensemble_dir, tmp_path):
    from skintag.model.backbone import load_backbone, new_backbone
    from skintag.model.bundle import save_bundle
    from skintag.model.ensemble import EnsembleBackbone, load_ensemble
    from skintag.model.heads import EnsembleHead

    one = ensemble.backbone.members[0]
    with pytest.raises(ConfigError, match="member widths"):  # an ensemble head on one tower
        save_bundle(tmp_path / "x", backbone=one, preprocessing=ensemble.preprocessing,
                    binary_head=EnsembleHead(ensemble.binary_head.heads, [16, 16]),
                    condition_head=EnsembleHead(ensemble.condition_head.heads, [16, 16]), calibrator=ensemble.calibrator,
                    manifest_fields={"name": "x", "version": "0", "thresholds": ensemble.thresholds})
    with pytest.raises(ConfigError, match="at least two"):
        EnsembleBackbone([one])
    other = new_backbone({"image_size": 32, "patch_size": 4, "hidden_size": 32, "intermediate_size": 64,
                          "num_hidden_layers": 1, "num_attention_heads": 2})
    with pytest.raises(ConfigError, match="patch grid"):
        EnsembleBackbone([one, other])
    folder = tmp_path / "ens"
    shutil.copytree(ensemble_dir / "backbone", folder)
    (folder / "ensemble.json").write_text(json.dumps({"format": "skintag-ensemble-backbone",
                                                      "members": ["0", "../1"]}))
    with pytest.raises(ModelBundleError, match="plain folder name"):
        load_ensemble(folder, load_backbone)
    with pytest.raises(ModelBundleError, match="not a SkinTag ensemble"):
        (folder / "ensemble.json").write_text(json.dumps({"format": "x", "members": ["0", "1"]}))
        load_backbone(folder)
