"""SHAP explanations of the whole triage pipeline (image → backbone → heads → calibrated P(malignant)).

Uses shap's Partition explainer with an Image masker (blur or inpainting of hierarchical image regions). The image is
resized to the model's input size first (the preprocessing would do that anyway), so masking happens in the space the
backbone sees. Each masked batch goes through one batched forward pass. The budget ``max_evals`` bounds the number of
evaluated images — cost is about one forward pass per evaluation — and a progress callback reports evaluations done.

Results are cached under ``<cache_dir>/shap/`` as an ``.npz`` (arrays only, loaded with ``allow_pickle=False``) plus a
JSON sidecar, keyed by sha256(image pixels) × bundle fingerprint × max_evals × masker × output × domain, so a repeat is
instant.

Flat calibration: an isotonic calibrator is piecewise constant. When the image's raw head score lies on one of its
plateaus, every masked copy SHAP evaluates gets the same calibrated probability and every SHAP value is exactly 0 — a
blank map that says nothing. :func:`calibration_is_flat` detects this, and the caller then explains the raw head score
(``output="raw"``) and says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from skintag.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from skintag.model.bundle import ModelBundle

ProgressFn = Callable[[int, int], None]
Output = Literal["calibrated", "raw"]
DEFAULT_MASKER = "blur(16,16)"


@dataclass(frozen=True, eq=False)
class ShapResult:
    """SHAP values of P(malignant) per pixel of the model-size image (summed over colour channels).

    Attributes
    ----------
    values : (S, S) float32 signed contributions; values.sum() + base_value ≈ prediction.
    base_value : model output with the whole image masked.
    prediction : model output on the unmasked image.
    max_evals, masker, output : the settings used.
    n_evals : model evaluations actually made (0 when served from the cache).
    cached : whether this came from the cache.
    cache_note : why the result could not be cached (an unwritable cache folder), else None.
    """

    values: np.ndarray
    base_value: float
    prediction: float
    max_evals: int
    masker: str
    output: str
    n_evals: int
    cached: bool
    cache_note: str | None = None

    def heatmap(self) -> np.ndarray:
        """Evidence towards malignancy as an (S, S) map in [0, 1]: positive values divided by the largest |value|."""
        scale = float(np.max(np.abs(self.values)))
        if scale <= 0:
            return np.zeros(self.values.shape, dtype=np.float32)
        return np.clip(self.values / scale, 0.0, 1.0).astype(np.float32)

    def abs_heatmap(self) -> np.ndarray:
        """|SHAP| scaled to [0, 1] (importance regardless of direction)."""
        scale = float(np.max(np.abs(self.values)))
        if scale <= 0:
            return np.zeros(self.values.shape, dtype=np.float32)
        return (np.abs(self.values) / scale).astype(np.float32)


def image_hash(image: Image.Image) -> str:
    """sha256 over the RGB pixels and size (independent of the file encoding)."""
    rgb = image.convert("RGB")
    h = hashlib.sha256(f"{rgb.size[0]}x{rgb.size[1]}".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def cache_key(
    image: Image.Image, fingerprint: str, max_evals: int, masker: str, output: str, domain: str | None = None
) -> str:
    parts: list[Any] = [image_hash(image), fingerprint, int(max_evals), masker, output]
    if domain is not None and output == "calibrated":
        parts.append(domain)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def calibrate(bundle: ModelBundle, raw: np.ndarray, domain: str | None = None) -> np.ndarray:
    """Calibrated P(malignant) of raw head scores: the domain's calibrator (``bundle.calibrate(raw, domain)``) when a
    domain is given and the bundle has per-domain calibration, else the bundle's single calibrator."""
    arr = np.asarray(raw, dtype=np.float64)
    if domain is not None and hasattr(bundle, "calibrate"):
        return np.asarray(bundle.calibrate(arr, domain), dtype=np.float64)
    return np.asarray(bundle.calibrator.predict(arr), dtype=np.float64)


#: Half-width of the raw-score window :func:`calibration_is_flat` probes, and the number of points probed.
FLAT_HALF_WIDTH = 0.05
FLAT_POINTS = 21


def calibration_is_flat(
    bundle: ModelBundle, raw: float, *, domain: str | None = None, half_width: float = FLAT_HALF_WIDTH
) -> bool:
    """True when the calibrated probability is the same for every raw head score within ``raw ± half_width`` (clipped
    to [0, 1]; :data:`FLAT_POINTS` evenly spaced points): the image sits on a calibration plateau, where SHAP of the
    calibrated output is 0 everywhere and only the raw score can be explained."""
    if not 0 < half_width <= 1:
        raise ConfigError(f"half_width must be in (0, 1]; got {half_width}")
    r = float(raw)
    grid = np.linspace(max(0.0, r - half_width), min(1.0, r + half_width), FLAT_POINTS)
    values = calibrate(bundle, grid, domain)
    return bool(np.ptp(values) <= 1e-12)


def _model_size_image(bundle: ModelBundle, image: Image.Image) -> np.ndarray:
    size = int(bundle.image_size)
    return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def pipeline_fn(
    bundle: ModelBundle, *, output: Output = "calibrated", backbone: Any = None, domain: str | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """Batched function (n, S, S, 3) image array → (n, 1) P(malignant), through the bundle's full pipeline.

    ``backbone`` swaps in another backbone of the same architecture (used by the randomisation sanity check); its
    pooled MAP output replaces the bundle's embedding. ``domain`` picks that domain's calibrator for the calibrated
    output (see :func:`calibrate`); None uses the bundle's default calibration.
    """
    if output not in ("calibrated", "raw"):
        raise ConfigError(f"Unknown SHAP output {output!r}; expected 'calibrated' or 'raw'")

    def f(x: np.ndarray) -> np.ndarray:
        import torch

        arr = np.clip(np.asarray(x, dtype=np.float32), 0, 255).round().astype(np.uint8)
        pils = [Image.fromarray(a) for a in arr]
        pv = bundle.preprocess(pils)
        if backbone is None:
            emb, _ = bundle.forward_pixels(pv)
        else:
            with torch.no_grad():
                emb = backbone(pixel_values=pv.to(next(backbone.parameters()).dtype)).pooler_output.float().numpy()
        pred = bundle.predict_embeddings(np.asarray(emb, dtype=np.float32))
        if output == "raw":
            p = pred.p_malignant_raw
        elif domain is not None:
            p = calibrate(bundle, pred.p_malignant_raw, domain)
        else:
            p = pred.p_malignant
        return np.asarray(p, dtype=np.float64).reshape(-1, 1)

    return f


def explain_shap(
    bundle: ModelBundle,
    image: Image.Image,
    *,
    max_evals: int = 300,
    masker: str = DEFAULT_MASKER,
    batch_size: int = 50,
    output: Output = "calibrated",
    progress: ProgressFn | None = None,
    cache_dir: str | Path | None = None,
    backbone: Any = None,
    domain: str | None = None,
) -> ShapResult:
    """SHAP values of P(malignant) for one image with shap's Partition explainer.

    Parameters
    ----------
    bundle : a loaded model bundle.
    image : RGB PIL image (already decoded and cropped).
    max_evals : evaluation budget (≈ forward passes); at least 3.
    masker : shap Image-masker spec: "blur(kx,ky)", "inpaint_telea" or "inpaint_ns".
    batch_size : masked images per forward pass.
    output : "calibrated" (the displayed probability) or "raw" (head output before calibration).
    progress : called as progress(evals_done, max_evals) after each batch.
    cache_dir : folder for the cache (e.g. ``Settings.app_data_dir``); None disables caching.
    backbone : optional replacement backbone (sanity check); disables caching.
    domain : the image domain whose calibrator the calibrated output uses (the result's ``domain``); None = default.
        Where that calibration is flat around the image (:func:`calibration_is_flat`), pass ``output="raw"``.
    """
    import shap

    if int(max_evals) < 3:
        raise ConfigError(f"max_evals must be at least 3; got {max_evals}")
    if not (masker.startswith("blur(") or masker in ("inpaint_telea", "inpaint_ns")):
        raise ConfigError(f"Unknown masker {masker!r}; expected 'blur(kx,ky)', 'inpaint_telea' or 'inpaint_ns'")
    fingerprint = str(getattr(bundle, "fingerprint", ""))
    use_cache = cache_dir is not None and backbone is None and bool(fingerprint)
    if use_cache:
        folder = Path(cache_dir) / "shap"
        key = cache_key(image, fingerprint, max_evals, masker, output, domain)
        hit = _load_cached(folder, key, int(getattr(bundle, "image_size", 0)) or None)
        if hit is not None:
            if progress is not None:
                progress(int(max_evals), int(max_evals))
            return hit

    x = _model_size_image(bundle, image)
    model = pipeline_fn(bundle, output=output, backbone=backbone, domain=domain)
    calls = {"n": 0}

    def counted(batch: np.ndarray) -> np.ndarray:
        out = model(batch)
        calls["n"] += len(batch)
        if progress is not None:
            progress(min(calls["n"], int(max_evals)), int(max_evals))
        return out

    explainer = shap.Explainer(counted, shap.maskers.Image(masker, x.shape), algorithm="partition",
                               output_names=["P(malignant)"])
    expl = explainer(x[None].astype(np.float64), max_evals=int(max_evals), batch_size=int(batch_size), silent=True)
    vals = np.asarray(expl.values, dtype=np.float64)[0]  # (S, S, 3, 1)
    values = vals.reshape(vals.shape[0], vals.shape[1], -1).sum(axis=-1).astype(np.float32)
    base = float(np.asarray(expl.base_values).reshape(-1)[0])
    prediction = float(model(x[None])[0, 0])
    result = ShapResult(values, base, prediction, int(max_evals), masker, output, calls["n"], False)
    if use_cache:
        note = _save_cached(folder, key, result)
        if note:
            result = dataclasses.replace(result, cache_note=note)
    return result


def _load_cached(folder: Path, key: str, side: int | None = None) -> ShapResult | None:
    """The cached result, or None. An entry that cannot be read, or holds anything but a finite (side, side) map and
    finite numbers (a damaged or edited file), is deleted (best effort) and None returned, so it is recomputed and never
    shown."""
    npz, meta_path = folder / f"{key}.npz", folder / f"{key}.json"
    if not (npz.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(npz, allow_pickle=False) as data:
            values = np.asarray(data["values"], dtype=np.float32)
        result = ShapResult(values, float(meta["base_value"]), float(meta["prediction"]), int(meta["max_evals"]),
                            str(meta["masker"]), str(meta["output"]), 0, True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError, zipfile.BadZipFile):
        result = None
    valid = result is not None and values.ndim == 2 and values.shape[0] == values.shape[1] > 0 \
        and (side is None or values.shape[0] == side) and bool(np.isfinite(values).all()) \
        and math.isfinite(result.base_value) and math.isfinite(result.prediction)
    if not valid:
        for path in (npz, meta_path):
            with contextlib.suppress(OSError):
                path.unlink()
        return None
    return result


def _save_cached(folder: Path, key: str, result: ShapResult) -> str | None:
    """Write the result to the cache; a folder that cannot be written disables caching: the reason is returned
    (None when written). Each file is written under a temporary name unique to this writer in the same folder, then
    renamed into place (``os.replace``, atomic), so writers of the same key in several threads or processes never
    share a half-written file: a reader sees a whole file of one writer or the other (the last rename wins)."""
    meta = {"base_value": result.base_value, "prediction": result.prediction, "max_evals": result.max_evals,
            "masker": result.masker, "output": result.output, "n_evals": result.n_evals}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(folder, f"{key}.npz", lambda fh: np.savez_compressed(fh, values=result.values))
        _write_atomic(folder, f"{key}.json", lambda fh: fh.write(json.dumps(meta).encode("utf-8")))
    except OSError as exc:
        return (f"The SHAP cache is disabled: the folder {folder} cannot be written ({exc.strerror or exc}). "
                "Explanations are still computed, but not kept; set SKINTAG_APP_DATA_DIR to a writable folder.")
    return None


def _write_atomic(folder: Path, name: str, write: Callable[[Any], Any]) -> None:
    """``write(file)`` into a new temporary file of ``folder``, then rename it to ``name``; removed on failure."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, folder / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
