"""Model bundle manifest: the typed model contract (:class:`Manifest`) and reading it from ``manifest.json``.

Nothing here needs torch, so the app frame can show the model badge cheaply. :func:`read_manifest` returns the JSON
object as it is (lenient: a badge needs only the name and version); :func:`load_manifest` / :func:`parse_manifest`
check it and return the frozen :class:`Manifest` that :class:`skintag.model.ModelBundle` carries.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from skintag.errors import ModelBundleError

MANIFEST_NAME = "manifest.json"
#: Tier cut-offs on calibrated P(malignant) used when a manifest states none.
DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType({"moderate": 0.30, "high": 0.60})


def read_json_object(path: Path, label: str, missing: str) -> dict[str, Any]:
    """The JSON object held by ``path``.

    Raises
    ------
    ModelBundleError
        ``missing`` if there is no such file; ``<label> is not valid JSON: ...`` if it does not parse;
        ``<label> must hold a JSON object, found <type>`` if it holds another JSON value.
    """
    if not path.is_file():
        raise ModelBundleError(missing)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelBundleError(f"{label} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelBundleError(f"{label} must hold a JSON object, found {type(data).__name__}")
    return data


def read_manifest(bundle_dir: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a bundle directory without verifying hashes or loading any model.

    Raises
    ------
    ModelBundleError
        If the directory or its manifest is missing or not valid JSON.
    """
    path = Path(bundle_dir) / MANIFEST_NAME
    return read_json_object(
        path, str(path), missing=f"No model bundle at {Path(bundle_dir)}: {MANIFEST_NAME} is missing"
    )


# -- the typed manifest ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackboneEntry:
    """``manifest["backbone"]``: where the weights come from and the architecture's config."""

    source: str | None
    path: str | None = None
    hf_id: str | None = None
    revision: str | None = None
    architecture: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HeadEntry:
    """One entry of ``manifest["heads"]``: the head's file type (``xgboost`` / ``logistic``) and relative file."""

    type: str
    file: str


@dataclass(frozen=True, eq=False)
class Manifest(Mapping[str, Any]):
    """A model bundle's ``manifest.json`` as typed, read-only fields (the model contract, as timm's pretrained config).

    Built by :func:`parse_manifest` / :func:`load_manifest`, which check every required key and type and name what is
    wrong. It is also a read-only mapping over the JSON object (``manifest["files"]``, ``manifest.get("metrics")``),
    so code written against the raw dict keeps working; :attr:`raw` is that object. The JSON on disk is not changed.
    """

    raw: Mapping[str, Any] = field(repr=False)
    format_version: int
    name: str
    version: str
    backbone: BackboneEntry
    preprocessing: Mapping[str, Any]
    image_size: int
    embedding_size: int
    class_names: tuple[str, ...]
    category_map: Mapping[int, str]
    heads: Mapping[str, HeadEntry]
    calibration_file: str
    files: Mapping[str, str]
    thresholds: Mapping[str, float]
    operating_points: Mapping[str, float]
    training_data: Mapping[str, Any]
    description: str = ""
    created: str | None = None
    default_operating_point: str | None = None

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def to_dict(self) -> dict[str, Any]:
        """A deep, mutable copy of the JSON object (what ``manifest.json`` holds)."""
        return copy.deepcopy(dict(self.raw))


def _need(raw: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``raw[key]`` checked to be of ``kind``; ModelBundleError naming the key, the type found and the file."""
    if key not in raw:
        raise ModelBundleError(f"Manifest of model bundle {where} lacks the required key '{key}'")
    value = raw[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ModelBundleError(
            f"Manifest of model bundle {where}: '{key}' must be {names}, found {type(value).__name__} {value!r:.60}"
        )
    return value


def _numbers(raw: Mapping[str, Any], key: str, where: str, default: Mapping[str, float]) -> Mapping[str, float]:
    table = raw.get(key, default)
    try:
        return MappingProxyType({str(k): float(v) for k, v in dict(table).items()})
    except (TypeError, ValueError) as exc:
        raise ModelBundleError(f"Manifest of model bundle {where}: '{key}' must map names to numbers ({exc})") from exc


def _heads(raw: Mapping[str, Any], where: str) -> Mapping[str, HeadEntry]:
    heads = _need(raw, "heads", dict, where)
    out = {}
    for kind in ("binary", "condition"):
        entry = heads.get(kind)
        if not isinstance(entry, dict) or "file" not in entry or "type" not in entry:
            raise ModelBundleError(f"Manifest of {where} lacks heads.{kind} with 'type' and 'file'")
        out[kind] = HeadEntry(type=str(entry["type"]), file=str(entry["file"]))
    for kind, entry in heads.items():  # per-domain heads (bundle format 2), e.g. "binary_clinical"
        if kind in out:
            continue
        if not isinstance(entry, dict) or "file" not in entry or "type" not in entry:
            raise ModelBundleError(f"Manifest of {where}: heads.{kind} needs 'type' and 'file'")
        out[kind] = HeadEntry(type=str(entry["type"]), file=str(entry["file"]))
    return MappingProxyType(out)


def _backbone(raw: Mapping[str, Any], where: str) -> BackboneEntry:
    entry = _need(raw, "backbone", dict, where)
    get = entry.get
    return BackboneEntry(source=get("source"), path=get("path"), hf_id=get("hf_id"), revision=get("revision"),
                         architecture=get("architecture"), config=MappingProxyType(dict(get("config") or {})))


def parse_manifest(raw: Mapping[str, Any], where: str | Path = "<manifest>") -> Manifest:
    """Check a manifest's JSON object and return it as a :class:`Manifest` (the object is copied, never modified).

    Raises
    ------
    ModelBundleError
        Naming the bundle and the first missing key, or the key whose value has the wrong type.
    """
    where = str(where)
    frozen = MappingProxyType(copy.deepcopy(dict(raw)))
    files = _need(frozen, "files", dict, where)
    calibration = _need(frozen, "calibration", dict, where)
    if "file" not in calibration:
        raise ModelBundleError(f"Manifest of model bundle {where}: 'calibration' lacks its 'file'")
    preprocessing = _need(frozen, "preprocessing", dict, where)
    category_map = _need(frozen, "category_map", dict, where)
    try:
        categories = {int(k): str(v) for k, v in category_map.items()}
    except ValueError as exc:
        raise ModelBundleError(f"Manifest of model bundle {where}: category_map keys must be condition ids") from exc
    default_op = frozen.get("default_operating_point")
    return Manifest(
        raw=frozen,
        format_version=int(_need(frozen, "bundle_format_version", int, where)),
        name=str(frozen.get("name", "")),
        version=str(frozen.get("version", "")),
        backbone=_backbone(frozen, where),
        preprocessing=MappingProxyType(dict(preprocessing)),
        image_size=int(frozen.get("image_size", preprocessing.get("image_size", 0)) or 0),
        embedding_size=int(_need(frozen, "embedding_size", int, where)),
        class_names=tuple(str(c) for c in _need(frozen, "class_names", list, where)),
        category_map=MappingProxyType(categories),
        heads=_heads(frozen, where),
        calibration_file=str(calibration["file"]),
        files=MappingProxyType({str(k): str(v) for k, v in files.items()}),
        thresholds=_numbers(frozen, "thresholds", where, DEFAULT_THRESHOLDS),
        operating_points=_numbers(frozen, "operating_points", where, {}),
        training_data=MappingProxyType(dict(frozen.get("training_data") or {})),
        description=str(frozen.get("description") or ""),
        created=frozen.get("created"),
        default_operating_point=str(default_op) if default_op is not None else None,
    )


def load_manifest(bundle_dir: str | Path) -> Manifest:
    """:func:`read_manifest` then :func:`parse_manifest`: the typed manifest of a bundle directory (no hashes checked,
    no model loaded)."""
    return parse_manifest(read_manifest(bundle_dir), Path(bundle_dir))
