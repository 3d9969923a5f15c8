"""Model bundles: a directory holding everything needed to serve a model, verified before anything in it is loaded.

Layout (``bundle_format_version`` 2; version 1 bundles still load, as one legacy ``dermoscopic`` domain)::

    manifest.json          what the bundle is (see below) and the SHA-256 of every other file
    backbone/              save_pretrained output: config.json + model.safetensors (absent when the manifest names a
                           Hugging Face model id instead); for an ensemble of towers, ensemble.json and one such
                           folder per member (backbone/0/, backbone/1/, ...; :mod:`skintag.model.ensemble`)
    heads/binary.ubj       XGBoost's own format (+ binary.meta.json sidecar), or binary.json for a logistic head, or
                           binary.json + binary.member<i>.{ubj,json} for an ensemble's heads (one per member, averaged)
    heads/condition.ubj    likewise, 10 conditions
    calibration.json       isotonic thresholds or Platt slope/intercept (the default domain's calibrator)
    calibration/<domain>.json   each domain's own calibrator (version 2)
    domains/detector.safetensors  the Mahalanobis domain detector: per-domain mean and precision matrix (version 2)
    model_card.md          rendered from the manifest and the evaluation by :func:`skintag.model.card.render_model_card`
    eval/...               optional extra files (metrics, prediction tables)

The manifest holds: bundle_format_version, name, version, created, backbone (source "local" with path "backbone/", or
source "huggingface" with hf_id and revision), preprocessing (image size, mean, std, resample), image_size,
embedding_size, class_names, category_map, thresholds (tier cut-offs on calibrated probability), operating_points,
training_data (dataset ids, split file hash, ...), metrics (summary), per_group, licence, software versions, heads,
calibration and files (relative path -> SHA-256). Version 2 adds ``domains`` (per image domain: datasets, images,
patients, prevalence, calibration, targets, thresholds, achieved sensitivity/specificity with CIs, reliability table,
optional per-domain head; see :mod:`skintag.model.domains`), ``default_domain``, ``domain_detector`` and
``test_time_augmentation`` (``"dihedral8"``: the embedding is the mean over the 8 flips/rotations of the input).

:func:`load_bundle` refuses a bundle whose format version it does not know, whose files are missing or differ from their
recorded hash (naming the file), or that contains any pickle-based file; nothing in a bundle is unpickled.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skintag.errors import ConfigError, ModelBundleError
from skintag.model.backbone import Preprocessing
from skintag.model.calibration import Calibrator
from skintag.model.domains import DETECTOR_FILE, DomainDecision, DomainDetector, DomainSpec, parse_domains
from skintag.model.heads import N_CONDITIONS, AnyHead, head_type, load_head
from skintag.model.manifest import (
    DEFAULT_THRESHOLDS,
    MANIFEST_NAME,
    BackboneEntry,
    Manifest,
    parse_manifest,
    read_manifest,
)
from skintag.model.signing import SIGNATURE_NAME, SignatureStatus, manifest_fingerprint, verify_signature

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image
    from transformers import SiglipVisionModel

BUNDLE_FORMAT_VERSION = 2
SUPPORTED_FORMAT_VERSIONS = frozenset({1, 2})
#: Test-time augmentation a bundle may declare: the mean embedding over the 8 dihedral views of the input.
TTA_DIHEDRAL = "dihedral8"

BACKBONE_DIR = "backbone"
CALIBRATION_FILE = "calibration.json"
MODEL_CARD_FILE = "model_card.md"

#: File suffixes of formats that unpickle (execute code) on load; a bundle holding any of them is refused.
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".pk", ".pt", ".pth", ".bin", ".joblib", ".ckpt", ".dill", ".sav"})

#: Manifest keys computed by save_bundle; manifest_fields may not set them.
_COMPUTED_KEYS = frozenset(
    {
        "bundle_format_version",
        "backbone",
        "preprocessing",
        "image_size",
        "embedding_size",
        "heads",
        "calibration",
        "files",
        "domains",
        "domain_detector",
        "test_time_augmentation",
    }
)


# -- hashing and safety checks -----------------------------------------------------------------------------------------


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()




def pickle_reason(path: str | Path) -> str | None:
    """Why a file looks pickle-based (suffix, pickle protocol header, or a zip holding a ``.pkl``), else None."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return f"its suffix {path.suffix} is a pickle-based format"
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return None
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"it starts with a pickle protocol {head[1]} header"
    if head[:2] == b"PK" and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                inner = [n for n in zf.namelist() if n.endswith((".pkl", ".pickle"))]
        except zipfile.BadZipFile:
            inner = []
        if inner:
            return f"it is a zip archive holding pickled data ({inner[0]}), e.g. a torch.save checkpoint"
    return None


def _relative_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _check_no_pickles(root: Path) -> None:
    for rel in _relative_files(root):
        reason = pickle_reason(root / rel)
        if reason:
            raise ModelBundleError(
                f"Refusing model bundle {root}: file {rel} looks pickle-based ({reason}). Pickles execute code when "
                "loaded; bundles hold only safetensors, XGBoost UBJ/JSON and JSON files."
            )


def _safe_relpath(root: Path, rel: str) -> Path:
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise ModelBundleError(
            f"Manifest of {root} lists an invalid file path {rel!r}; expected a relative path inside"
        )
    path = root / rel
    if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
        raise ModelBundleError(f"File {rel} of bundle {root} is a link or points outside the bundle; not accepted")
    return path


#: Files of a bundle folder that its hash table does not list: the manifest itself and its detached signature.
UNHASHED_FILES = frozenset({MANIFEST_NAME, SIGNATURE_NAME})


def check_listing(root: Path, files: Mapping[str, str]) -> None:
    """Refuse a bundle folder holding a file its manifest does not list (added after export, or its hash entry
    deleted to switch off the check) or missing a listed file."""
    present = set(_relative_files(root)) - UNHASHED_FILES
    unlisted = sorted(present - set(files))
    if unlisted:
        raise ModelBundleError(
            f"Model bundle {root} holds {len(unlisted)} file(s) its manifest does not list ({', '.join(unlisted[:5])}"
            f"{' …' if len(unlisted) > 5 else ''}): a file was added or its hash entry removed. Re-export the bundle."
        )
    missing = sorted(set(files) - present)
    if missing:
        raise ModelBundleError(
            f"Model bundle {root} is incomplete: file {missing[0]} listed in the manifest is missing"
        )


def verify_files(root: str | Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """Check every file listed in the manifest exists and matches its SHA-256; returns the file table.

    Raises
    ------
    ModelBundleError
        Naming the first missing or altered file.
    """
    root = Path(root)
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ModelBundleError(
            f"Manifest of {root} has no 'files' table of SHA-256 hashes; the bundle cannot be verified"
        )
    check_listing(root, files)
    for rel, expected in sorted(files.items()):
        path = _safe_relpath(root, rel)
        if not path.is_file():
            raise ModelBundleError(f"Model bundle {root} is incomplete: file {rel} listed in the manifest is missing")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelBundleError(
                f"Model bundle {root}: file {rel} does not match its SHA-256 in the manifest "
                f"(expected {str(expected)[:12]}..., found {actual[:12]}...). The file was altered or corrupted; "
                "re-export or re-download the bundle."
            )
    return dict(files)


def verify_bundle(
    path: str | Path, *, trusted: Mapping[str, Any] | None = None, require: bool = False
) -> SignatureStatus:
    """Everything :func:`load_bundle` checks before loading weights — format version, no pickles, no unlisted or
    missing file, every SHA-256, the signature — without loading a model; returns the signature status."""
    root = Path(path)
    raw = read_manifest(root)
    check_format_version(raw, root)
    _check_no_pickles(root)
    verify_files(root, raw)
    return verify_signature(root, raw, trusted, require=require)


def check_format_version(manifest: Mapping[str, Any], where: str | Path) -> int:
    """The manifest's bundle format version, or ModelBundleError if this SkinTag cannot read it."""
    version = manifest.get("bundle_format_version")
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise ModelBundleError(
            f"Model bundle {where} has bundle_format_version {version!r}, which this SkinTag cannot read "
            f"(supported: {sorted(SUPPORTED_FORMAT_VERSIONS)}). Re-export the bundle with this version of SkinTag "
            "(python -m training export) or upgrade SkinTag."
        )
    return int(version)


# -- the bundle object -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Prediction:
    """Model outputs for N images.

    Attributes
    ----------
    p_malignant : (N,) calibrated P(malignant): the number the tiers and operating points apply to.
    p_malignant_raw : (N,) the binary head's uncalibrated output.
    condition_probs : (N, 10) condition probabilities (ids as in :mod:`skintag.taxonomy`), rows summing to 1.
    """

    p_malignant: np.ndarray
    p_malignant_raw: np.ndarray
    condition_probs: np.ndarray

    def __len__(self) -> int:
        return int(self.p_malignant.shape[0])


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class ModelBundle:
    """A loaded, verified model bundle. Build it with :func:`load_bundle`.

    Attributes
    ----------
    path, manifest (the typed :class:`~skintag.model.manifest.Manifest`, also a read-only mapping over the JSON), name,
    version, fingerprint, class_names, category_map, thresholds, operating_points, image_size, preprocessing, backbone
    (SiglipVisionModel, eval mode, eager attention), binary_head, condition_head, calibrator, device.
    """

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        *,
        backbone: SiglipVisionModel,
        preprocessing: Preprocessing,
        binary_head: AnyHead,
        condition_head: AnyHead,
        calibrator: Calibrator,
        device: str = "cpu",
        domains: Mapping[str, DomainSpec] | None = None,
        detector: DomainDetector | None = None,
        extra_heads: Mapping[str, AnyHead] | None = None,
        signature: SignatureStatus | None = None,
    ) -> None:
        self.path = Path(path)
        #: what :func:`skintag.model.signing.verify_signature` found when the bundle was loaded
        self.signature = signature or SignatureStatus("unsigned", None, "Signature not checked.")
        self.manifest = manifest
        self.backbone = backbone
        self.preprocessing = preprocessing
        self.binary_head = binary_head
        self.condition_head = condition_head
        self.calibrator = calibrator
        self.device = device
        self.detector = detector
        self.extra_heads = dict(extra_heads or {})
        self._domains = dict(domains) if domains else parse_domains(manifest, {}, calibrator, str(path))
        self._backbone_key: str | None = None

    # -- manifest views ------------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def fingerprint(self) -> str:
        """SHA-256 over the manifest's file hash table; changes whenever any file of the bundle changes."""
        return manifest_fingerprint(self.manifest.raw)

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest.class_names)

    @property
    def category_map(self) -> dict[int, str]:
        return dict(self.manifest.category_map)

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self.manifest.thresholds)

    @property
    def operating_points(self) -> dict[str, float]:
        return dict(self.manifest.operating_points)

    @property
    def image_size(self) -> int:
        return int(self.preprocessing.image_size)

    @property
    def domains(self) -> dict[str, DomainSpec]:
        """The bundle's image domains (one legacy ``dermoscopic`` domain for a version-1 bundle)."""
        return dict(self._domains)

    @property
    def default_domain(self) -> str:
        """The domain used when none is given: the manifest's ``default_domain``, else the first one."""
        name = self.manifest.get("default_domain")
        return str(name) if name in self._domains else next(iter(self._domains))

    @property
    def tta(self) -> str | None:
        """The test-time augmentation the bundle declares (``"dihedral8"``) or None."""
        return self.manifest.get("test_time_augmentation") or None

    def domain(self, name: str | None = None) -> DomainSpec:
        """One domain's spec (``None``: the default domain); ConfigError naming the known ones otherwise."""
        name = name or self.default_domain
        if name not in self._domains:
            raise ConfigError(f"This bundle has no image domain {name!r}; it knows {sorted(self._domains)}")
        return self._domains[name]

    def calibrate(self, raw: np.ndarray, domain: str | None = None) -> np.ndarray:
        """Calibrated P(malignant) of raw binary-head scores with the given domain's calibrator."""
        raw = np.asarray(raw, dtype=np.float64)
        return self.domain(domain).calibrator.predict(raw) if len(raw) else raw.copy()

    def detect_domains(self, emb: np.ndarray, declared: str | None = None) -> list[DomainDecision]:
        """One :class:`DomainDecision` per embedding row. Without a detector (version-1 bundles) every row is taken
        to be in the declared (else default) domain, with no distance."""
        emb = np.atleast_2d(np.asarray(emb, dtype=np.float64))
        if self.detector is None:
            name = declared or self.default_domain
            known = name in self._domains
            return [DomainDecision(name, float("nan"), float("nan"), known, {}) for _ in range(len(emb))]
        if declared is not None and declared not in self.detector.domains:
            near = self.detector.decide(emb)
            return [DomainDecision(declared, float("nan"), float("nan"), False, d.distances) for d in near]
        return self.detector.decide(emb, declared)

    def detect_domain(self, embedding: np.ndarray) -> DomainDecision:
        """The detector's decision for one embedding (D,)."""
        return self.detect_domains(np.asarray(embedding).reshape(1, -1))[0]

    def binary_head_for(self, domain: str | None = None) -> AnyHead:
        """The binary head a domain uses: its own ``head`` when it names one, else the shared binary head."""
        spec = self._domains.get(domain or self.default_domain)
        if spec is not None and spec.head:
            return self.extra_heads[spec.head]
        return self.binary_head

    @property
    def embedding_size(self) -> int:
        return self.manifest.embedding_size

    @property
    def backbone_key(self) -> str:
        """Hash of the backbone weights and config (the backbone part of embedding cache keys)."""
        if self._backbone_key is None:
            from skintag.model.backbone import backbone_hash

            self._backbone_key = backbone_hash(self.backbone)
        return self._backbone_key

    def __repr__(self) -> str:
        return f"ModelBundle(name={self.name!r}, version={self.version!r}, path={str(self.path)!r})"

    # -- inference -----------------------------------------------------------------------------------------------------
    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """PIL images -> float32 tensor (N, 3, H, W), resized and normalised as the manifest says."""
        return self.preprocessing(images)

    def forward_pixels(self, pixel_values: torch.Tensor, output_attentions: bool = False) -> tuple[np.ndarray, Any]:
        """One backbone pass: (embeddings (N, D) float32 = pooled MAP output, the transformers outputs).

        The outputs carry ``attentions`` (one (N, heads, P, P) tensor per encoder layer) when ``output_attentions``;
        explanations reuse this pass. Runs under ``torch.no_grad``. With dihedral test-time augmentation the 8 views
        go through in one batch, the embedding is their mean, and the outputs are those of the unaltered view.
        """
        from skintag.model.backbone import pooled_embedding

        return pooled_embedding(self.backbone, pixel_values.to(self.device), tta=self.tta == TTA_DIHEDRAL,
                                output_attentions=output_attentions)

    def embed(self, images: Sequence[Image.Image], *, batch_size: int = 32) -> np.ndarray:
        """Embeddings (N, D) float32 of PIL images, in batches."""
        images = list(images)
        chunks = [
            self.forward_pixels(self.preprocess(images[i : i + batch_size]))[0]
            for i in range(0, len(images), batch_size)
        ]
        if not chunks:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def predict_embeddings(self, emb: np.ndarray, domain: str | None = None) -> Prediction:
        """Heads and calibration on precomputed embeddings (N, D), with ``domain``'s head and calibrator (default:
        the bundle's default domain)."""
        emb = np.asarray(emb, dtype=np.float32)
        if emb.ndim == 1:
            emb = emb[None, :]
        if emb.ndim != 2 or emb.shape[1] != self.embedding_size:
            raise ConfigError(f"Expected embeddings of shape (N, {self.embedding_size}), got {emb.shape}")
        raw = np.asarray(self.binary_head_for(domain).predict_proba(emb), dtype=np.float64)
        cal = self.calibrate(raw, domain)
        cond = np.asarray(self.condition_head.predict_proba(emb), dtype=np.float64)
        return Prediction(p_malignant=cal, p_malignant_raw=raw, condition_probs=cond)

    def predict(self, images: Sequence[Image.Image], *, batch_size: int = 32, domain: str | None = None) -> Prediction:
        """Calibrated P(malignant), raw P(malignant) and the 10 condition probabilities for PIL images."""
        return self.predict_embeddings(self.embed(images, batch_size=batch_size), domain)


# -- loading -----------------------------------------------------------------------------------------------------------


def _require(manifest: Mapping[str, Any], key: str, where: Path) -> Any:
    if key not in manifest:
        raise ModelBundleError(f"Manifest of model bundle {where} lacks the required key '{key}'")
    return manifest[key]


def load_bundle(
    path: str | Path,
    *,
    device: str = "cpu",
    verify: bool = True,
    trusted_keys: Mapping[str, Any] | None = None,
    require_signature: bool = False,
) -> ModelBundle:
    """Load and verify a model bundle directory.

    Parameters
    ----------
    path : the bundle directory (holding ``manifest.json``).
    device : "cpu", "cuda", "cuda:1", ... or "auto" (CUDA when available).
    verify : check every file against its SHA-256 first (the default; only skip it for a bundle you just verified).
    trusted_keys : public keys by key id (:func:`skintag.model.signing.load_trusted_keys`); when given, the bundle must
        carry a signature by one of them that matches its manifest.
    require_signature : refuse an unsigned bundle even without trusted keys.

    Raises
    ------
    ModelBundleError
        Missing bundle or manifest, unsupported format version, a missing or altered file (named), a pickle-based file,
        inconsistent sizes, or a Hugging Face backbone that cannot be loaded (the message says how to fix it).
    """
    root = Path(path)
    raw = read_manifest(root)
    check_format_version(raw, root)
    _check_no_pickles(root)
    files = _require(raw, "files", root)
    if not isinstance(files, dict):
        raise ModelBundleError(f"Manifest of {root}: 'files' must map relative paths to SHA-256 hex digests")
    for rel in files:
        _safe_relpath(root, rel)
    if verify:
        verify_files(root, raw)
    else:
        check_listing(root, files)
    signature = verify_signature(root, raw, trusted_keys, require=require_signature)
    manifest = parse_manifest(raw, root)
    if len(manifest.class_names) != N_CONDITIONS:
        raise ModelBundleError(
            f"Manifest of {root} lists {len(manifest.class_names)} class names; expected {N_CONDITIONS}"
        )

    try:
        preprocessing = Preprocessing.from_manifest(dict(manifest.preprocessing))
    except ConfigError as exc:
        raise ModelBundleError(f"Manifest of {root}: {exc}") from exc
    calibrator = _read_calibrator(_safe_relpath(root, manifest.calibration_file))
    heads = {}
    for kind, entry in manifest.heads.items():
        head = load_head(_safe_relpath(root, entry.file), entry.type)
        if head.kind != kind.split("_", 1)[0]:
            raise ModelBundleError(f"Bundle {root}: heads.{kind} file {entry.file} holds a {head.kind} head")
        if head.n_features_ != manifest.embedding_size:
            raise ModelBundleError(
                f"Bundle {root}: {kind} head expects {head.n_features_} features but embedding_size is "
                f"{manifest.embedding_size}"
            )
        heads[kind] = head

    backbone = _load_bundle_backbone(root, manifest.backbone)
    hidden = int(backbone.config.hidden_size)
    if hidden != manifest.embedding_size:
        raise ModelBundleError(
            f"Bundle {root}: backbone width {hidden} differs from embedding_size {manifest.embedding_size}"
        )
    try:
        check_head_slices(backbone, heads)
    except ConfigError as exc:
        raise ModelBundleError(f"Bundle {root}: {exc}") from exc
    calibrators = {}
    for name, entry in (manifest.get("domains") or {}).items():
        rel = (entry.get("calibration") or {}).get("file") if isinstance(entry, dict) else None
        if not rel:
            raise ModelBundleError(f"Manifest of {root}: domains.{name} lacks calibration.file")
        calibrators[name] = _read_calibrator(_safe_relpath(root, rel))
    domains = parse_domains(manifest, calibrators, calibrator, str(root))
    for name, spec in domains.items():
        if spec.head and spec.head not in heads:
            raise ModelBundleError(f"Manifest of {root}: domain {name} names head {spec.head!r}, which heads lacks")
    detector = None
    det = manifest.get("domain_detector")
    if det:
        detector = DomainDetector.load(_safe_relpath(root, det.get("file", DETECTOR_FILE)), det.get("thresholds") or {})
    dev = _resolve_device(device)
    backbone = backbone.to(dev).eval()
    return ModelBundle(
        root,
        manifest,
        backbone=backbone,
        preprocessing=preprocessing,
        binary_head=heads["binary"],
        condition_head=heads["condition"],
        calibrator=calibrator,
        device=dev,
        domains=domains,
        detector=detector,
        extra_heads={k: v for k, v in heads.items() if k not in ("binary", "condition")},
        signature=signature,
    )


def _read_calibrator(path: Path) -> Calibrator:
    try:
        return Calibrator.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ModelBundleError(f"{path} is not valid JSON: {exc}") from exc


def _load_bundle_backbone(root: Path, entry: BackboneEntry) -> SiglipVisionModel:
    from skintag.model.backbone import load_backbone

    source = entry.source
    if source == "local":
        folder = _safe_relpath(root, str(entry.path or BACKBONE_DIR).rstrip("/"))
        if not folder.is_dir():
            raise ModelBundleError(f"Model bundle {root} is incomplete: backbone folder {folder.name}/ is missing")
        return load_backbone(folder)
    if source == "huggingface":
        if not entry.hf_id:
            raise ModelBundleError(f"Manifest of {root}: backbone source 'huggingface' needs an 'hf_id'")
        return load_backbone(str(entry.hf_id), revision=entry.revision)
    raise ModelBundleError(
        f"Manifest of {root}: unknown backbone source {source!r}; expected 'local' (a backbone/ folder) or 'huggingface'"
    )


# -- saving ------------------------------------------------------------------------------------------------------------


def check_head_slices(backbone: Any, heads: Mapping[str, Any]) -> None:
    """An ensemble head must read the slices an ensemble backbone writes (one member each, same widths), and only
    an ensemble backbone has members to read."""
    from skintag.model.ensemble import is_ensemble
    from skintag.model.heads import EnsembleHead

    widths = backbone.widths if is_ensemble(backbone) else None
    for kind, head in heads.items():
        mine = head.widths if isinstance(head, EnsembleHead) else None
        if mine is not None and mine != widths:
            raise ConfigError(f"the {kind} head reads member widths {mine}; the backbone's are {widths or 'one tower'}")


_CONFIG_KEYS = ("image_size", "patch_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_channels")


def _backbone_config_entry(backbone: Any) -> dict[str, Any]:
    """The manifest's ``backbone.config``: the architecture's sizes; for an ensemble, the shared input sizes, the
    concatenated width and each member's sizes and parameter count under ``members``."""
    from skintag.model.ensemble import is_ensemble

    if not is_ensemble(backbone):
        return {k: getattr(backbone.config, k) for k in _CONFIG_KEYS}
    cfg = backbone.config
    return {"image_size": cfg.image_size, "patch_size": cfg.patch_size, "hidden_size": cfg.hidden_size,
            "num_channels": cfg.num_channels,
            "members": [{**_backbone_config_entry(m), "n_parameters": int(sum(p.numel() for p in m.parameters()))}
                        for m in backbone.members]}


def _json_ready(value: Any, where: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"manifest field {where!r} is not JSON-serialisable: {exc}") from exc


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return obj.as_posix()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _clean_nans(value: Any) -> Any:
    """Replace float NaN by None (JSON has no NaN)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _clean_nans(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_nans(v) for v in value]
    return value


def _software_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("skintag", "torch", "transformers", "xgboost", "scikit-learn", "numpy", "safetensors"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def save_bundle(
    out_dir: str | Path,
    *,
    backbone: SiglipVisionModel | str,
    preprocessing: Preprocessing,
    binary_head: AnyHead,
    condition_head: AnyHead,
    calibrator: Calibrator,
    manifest_fields: Mapping[str, Any],
    extra_files: Mapping[str, str | Path] | None = None,
    backbone_revision: str | None = None,
    domains: Mapping[str, tuple[Mapping[str, Any], Calibrator]] | None = None,
    detector: DomainDetector | None = None,
    detector_info: Mapping[str, Any] | None = None,
    extra_heads: Mapping[str, AnyHead] | None = None,
    tta: str | None = None,
    default_domain: str | None = None,
) -> Path:
    """Write a complete model bundle to ``out_dir`` (replacing an earlier bundle there) and return its path.

    Parameters
    ----------
    out_dir : target directory; written to a temporary sibling first and swapped in when complete.
    backbone : a SiglipVisionModel (saved to ``backbone/`` with save_pretrained, safetensors) or a Hugging Face model id
        (nothing is saved; the manifest records the id and ``backbone_revision``).
    preprocessing, binary_head, condition_head, calibrator : the fitted parts.
    manifest_fields : ``name`` and ``version`` (required) and any of ``created`` (default: now, UTC), ``description``,
        ``licence``, ``class_names`` (default: :data:`skintag.taxonomy.CONDITIONS`), ``category_map`` (default:
        :func:`skintag.taxonomy.condition_category_map`), ``thresholds`` (default {"moderate": 0.30, "high": 0.60}),
        ``operating_points`` ({name: threshold on calibrated p}), ``training_data`` ({"datasets": [...],
        "split_file_sha256": ..., ...}), ``metrics`` and ``per_group`` (see :func:`skintag.model.card.render_model_card`),
        ``calibration_summary``, ``intended_use``, ``known_limits`` (list of str), and any other JSON-ready key.
    extra_files : bundle-relative path -> source file, copied in and hashed (e.g. "eval/metrics.json").
    backbone_revision : Hub revision when ``backbone`` is a model id (pin a commit for reproducibility).
    domains : {name: (manifest entry, calibrator)} — see :func:`skintag.model.domains.domain_entry`; each calibrator
        is written to the entry's ``calibration.file``. ``calibrator`` (the top-level one) should be the default
        domain's.
    detector, detector_info : the fitted :class:`~skintag.model.domains.DomainDetector` (its thresholds set) and extra
        JSON for ``manifest["domain_detector"]`` (method, quantile, validation numbers).
    extra_heads : per-domain heads by name (e.g. ``binary_clinical``), referenced by a domain entry's ``head``.
    tta : ``"dihedral8"`` to average the embedding over the 8 dihedral views, else None.
    default_domain : the domain used when none is given (default: the first of ``domains``).

    Raises
    ------
    ConfigError
        Missing name/version, a reserved or unsafe extra path, a pickle-based extra file, inconsistent sizes.
    """
    from skintag import taxonomy
    from skintag.model.card import read_eval_predictions, render_model_card

    out = Path(out_dir)
    fields = dict(manifest_fields)
    for key in ("name", "version"):
        if not fields.get(key):
            raise ConfigError(f"save_bundle: manifest_fields must include a non-empty '{key}'")
    clash = sorted(_COMPUTED_KEYS & set(fields))
    if clash:
        raise ConfigError(f"save_bundle: manifest_fields may not set {clash}; these are computed from the parts")
    if "license" in fields and "licence" not in fields:
        fields["licence"] = fields.pop("license")
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST_NAME).is_file():
        raise ConfigError(f"save_bundle: {out} exists, is not empty and is not a model bundle; refusing to replace it")

    class_names = list(fields.pop("class_names", taxonomy.CONDITIONS))
    if len(class_names) != N_CONDITIONS:
        raise ConfigError(f"save_bundle: class_names has {len(class_names)} names; expected {N_CONDITIONS}")
    category_map = taxonomy.condition_category_map(fields.pop("category_map", None))
    thresholds = {str(k): float(v) for k, v in dict(fields.pop("thresholds", DEFAULT_THRESHOLDS)).items()}
    if set(thresholds) != {"moderate", "high"} or not 0 < thresholds["moderate"] < thresholds["high"] < 1:
        raise ConfigError(
            f"save_bundle: thresholds must be {{'moderate': a, 'high': b}} with 0 < a < b < 1, got {thresholds}"
        )

    if isinstance(backbone, str):
        backbone_entry: dict[str, Any] = {"source": "huggingface", "hf_id": backbone, "revision": backbone_revision}
        embedding_size = int(binary_head.n_features_)
    else:
        cfg = backbone.config
        backbone_entry = {
            "source": "local",
            "path": f"{BACKBONE_DIR}/",
            "architecture": type(backbone).__name__,
            "config": _backbone_config_entry(backbone),
            "n_parameters": int(sum(p.numel() for p in backbone.parameters())),
            "attn_implementation": "eager",
        }
        embedding_size = int(cfg.hidden_size)
        if int(cfg.image_size) != preprocessing.image_size:
            raise ConfigError(
                f"save_bundle: backbone image_size {cfg.image_size} differs from preprocessing image_size "
                f"{preprocessing.image_size}"
            )
    all_heads = {"binary": binary_head, "condition": condition_head, **dict(extra_heads or {})}
    for kind, head in all_heads.items():
        if head.kind != kind.split("_", 1)[0]:
            raise ConfigError(f"save_bundle: {kind}_head is a {head.kind} head")
        if head.n_features_ != embedding_size:
            raise ConfigError(
                f"save_bundle: {kind} head takes {head.n_features_} features; embedding size is {embedding_size}"
            )

    if not isinstance(backbone, str):
        check_head_slices(backbone, all_heads)

    extra = {str(k): Path(v) for k, v in (extra_files or {}).items()}
    reserved = {MANIFEST_NAME, CALIBRATION_FILE, MODEL_CARD_FILE}
    for rel, src in extra.items():
        parts = Path(rel).parts
        if (
            not rel
            or Path(rel).is_absolute()
            or ".." in parts
            or rel in reserved
            or parts[0] in (BACKBONE_DIR, "heads")
        ):
            raise ConfigError(f"save_bundle: extra file path {rel!r} is reserved or not a safe relative path")
        if not src.is_file():
            raise ConfigError(f"save_bundle: extra file {src} (for {rel}) does not exist")
        if reason := pickle_reason(src):
            raise ConfigError(f"save_bundle: extra file {src} looks pickle-based ({reason}); not allowed in a bundle")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be shared
        if not isinstance(backbone, str):
            backbone.save_pretrained(tmp / BACKBONE_DIR, safe_serialization=True)
        head_entries = {}
        for kind, head in all_heads.items():
            htype = head_type(head)
            rel = f"heads/{kind}.ubj" if htype == "xgboost" else f"heads/{kind}.json"
            head.save(tmp / rel)
            head_entries[kind] = {"type": htype, "file": rel, "classes": [int(c) for c in head.classes_]}
        (tmp / CALIBRATION_FILE).write_text(json.dumps(calibrator.to_dict(), indent=2) + "\n", encoding="utf-8")
        domain_table: dict[str, Any] = {}
        for name, (entry, cal) in (domains or {}).items():
            rel = str(entry["calibration"]["file"])
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(json.dumps(cal.to_dict(), indent=2) + "\n", encoding="utf-8")
            domain_table[name] = dict(entry)
        if detector is not None:
            detector.save(tmp / DETECTOR_FILE)
        for rel, src in extra.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp / rel)

        manifest: dict[str, Any] = {
            "bundle_format_version": BUNDLE_FORMAT_VERSION,
            "name": str(fields.pop("name")),
            "version": str(fields.pop("version")),
            "created": fields.pop("created", None)
            or _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "backbone": backbone_entry,
            "preprocessing": preprocessing.to_dict(),
            "image_size": preprocessing.image_size,
            "embedding_size": embedding_size,
            "class_names": class_names,
            "category_map": {str(k): v for k, v in sorted(category_map.items())},
            "thresholds": thresholds,
            "operating_points": {str(k): float(v) for k, v in dict(fields.pop("operating_points", {})).items()},
            "heads": head_entries,
            "calibration": {"file": CALIBRATION_FILE, "method": calibrator.method, "n_fit": calibrator.n_fit_},
            "training_data": fields.pop("training_data", {}),
            "metrics": fields.pop("metrics", {}),
            "licence": fields.pop("licence", "unspecified"),
            "software": _software_versions(),
        }
        if domain_table:
            manifest["domains"] = domain_table
            manifest["default_domain"] = default_domain or next(iter(domain_table))
        if detector is not None:
            manifest["domain_detector"] = {"method": "mahalanobis", "file": DETECTOR_FILE,
                                           "thresholds": dict(detector.thresholds), **dict(detector_info or {})}
        if tta:
            if tta != TTA_DIHEDRAL:
                raise ConfigError(f"save_bundle: unknown test-time augmentation {tta!r}; expected {TTA_DIHEDRAL!r}")
            manifest["test_time_augmentation"] = tta
        for key, value in fields.items():
            manifest[key] = value
        manifest = _json_ready(_clean_nans(manifest), "manifest")

        card = render_model_card(manifest, manifest.get("metrics") or None, predictions=read_eval_predictions(tmp))
        (tmp / MODEL_CARD_FILE).write_text(card, encoding="utf-8")
        _check_no_pickles(tmp)
        manifest["files"] = {rel: sha256_file(tmp / rel) for rel in _relative_files(tmp)}
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
