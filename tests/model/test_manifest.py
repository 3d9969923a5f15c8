"""The typed manifest: the demo bundle's manifest.json read into a frozen Manifest, unchanged on disk, and the errors
that say which key of which bundle is wrong."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from skintag.errors import ArgumentError, ConfigError, FileContentError, ModelBundleError
from skintag.model.manifest import HeadEntry, Manifest, load_manifest, parse_manifest, read_manifest

DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"


@pytest.fixture(scope="module")
def raw() -> dict:
    return json.loads((DEMO / "manifest.json").read_text())


def test_demo_manifest_typed_fields(raw):
    m = load_manifest(DEMO)
    assert isinstance(m, Manifest) and isinstance(m, Mapping)
    assert (m.name, m.version, m.format_version) == ("demo", raw["version"], 2)
    assert m.version == yaml.safe_load((DEMO.parent.parent / "configs" / "demo.yaml").read_text())["version"]
    assert m.image_size == 28 and m.embedding_size == sum(t["hidden_size"] for t in raw["backbone"]["config"]["members"]) and m.preprocessing["resample"] == "bicubic"
    assert len(m.class_names) == 10 and m.class_names[0] == "Melanoma"
    assert m.category_map[0] == "malignant" and m.category_map[4] == "benign" and m.category_map[8] == "inflammatory"
    derm = raw["domains"]["dermoscopic"]["thresholds"]  # the top-level thresholds are the default domain's
    assert dict(m.thresholds) == {"moderate": derm["moderate"], "high": derm["high"]}
    assert m.operating_points["screening"] == derm["screening"] and m.default_operating_point == "screening"
    assert m.heads["binary"] == HeadEntry(type="ensemble", file="heads/binary.json")
    assert m.backbone.source == "local" and m.backbone.path == "backbone/" and m.backbone.config["patch_size"] == 4
    assert m.calibration_file == raw["calibration"]["file"] and dict(m.files) == raw["files"]
    assert m.training_data == raw["training_data"]


def test_manifest_is_a_read_only_view_of_the_unchanged_json(raw):
    m = load_manifest(DEMO)
    assert dict(m) == raw == read_manifest(DEMO) and m.to_dict() == raw
    assert m["backbone"]["source"] == "local" and m.get("nope", 7) == 7 and len(m) == len(raw)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.raw["name"] = "other"  # type: ignore[index]
    copy = m.to_dict()
    copy["files"].clear()
    assert dict(m.files) == raw["files"]  # the copy is deep


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("files"), "lacks the required key 'files'"),
        (lambda d: d.pop("embedding_size"), "lacks the required key 'embedding_size'"),
        (lambda d: d.update(embedding_size="128"), "'embedding_size' must be int, found str"),
        (lambda d: d.update(class_names="Melanoma"), "'class_names' must be list, found str"),
        (lambda d: d["heads"].pop("condition"), "lacks heads.condition with 'type' and 'file'"),
        (lambda d: d.update(thresholds={"high": "very"}), "'thresholds' must map names to numbers"),
        (lambda d: d.update(category_map={"x": "benign"}), "category_map keys must be condition ids"),
    ],
)
def test_bad_manifest_names_the_bundle_and_the_key(raw, change, message):
    bad = json.loads(json.dumps(raw))
    change(bad)
    with pytest.raises(ModelBundleError, match=message) as info:
        parse_manifest(bad, "some/bundle")
    assert "some/bundle" in str(info.value)


def test_error_types_say_whether_the_file_or_the_argument_is_wrong():
    assert issubclass(ConfigError, ArgumentError) and issubclass(ArgumentError, ValueError)
    assert issubclass(ModelBundleError, FileContentError) and not issubclass(ModelBundleError, ArgumentError)
    assert not issubclass(ArgumentError, FileContentError)
