"""What each endpoint computes, with no HTTP in it: the same library calls as the dashboard's pages.

* triage — :func:`skintag.triage.triage` with :meth:`TriageSettings.from_settings` (the page's call), returned as
  :meth:`TriageResult.to_dict` unchanged;
* explanations — the attention maps carried by that result, and :func:`skintag.explain.shap_image.explain_shap` with
  ``cache_dir=Settings.app_data_dir``: the page's call, so the page and the API read and fill one SHAP cache;
* fairness — :func:`skintag.fairness.fairness_report` and its JSON export (:meth:`FairnessReport.to_json`);
* the model — :func:`skintag.model.load_bundle`, loaded once per process and warmed with one forward pass.

Every function here is synchronous and CPU-bound: :mod:`skintag.api.app` runs them in worker threads. Nothing here
keeps state between calls except :class:`ShapGate` (one lock per process, see there).
"""

from __future__ import annotations

import base64
import io
import json
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from skintag.api.errors import ApiError
from skintag.api.schemas import ACCEPTED_DOMAINS, ExplainForm, FairnessOptions, TriageForm
from skintag.triage import TriageResult, TriageSettings, bundle_model_info, triage

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from PIL import Image

    from skintag.model.bundle import ModelBundle
    from skintag.settings import Settings


def model_info(bundle: ModelBundle) -> dict[str, Any]:
    """Name, version and fingerprint: the library's own :func:`skintag.triage.bundle_model_info`."""
    return bundle_model_info(bundle)


def triage_image(bundle: ModelBundle, data: bytes, settings: Settings, *, crop: Any = None, attention: bool = False,
                 domain: str | None = None) -> TriageResult:
    """The page's triage call on uploaded bytes (limits from ``settings``); ``domain`` None means "auto".

    The upload is decoded in the worker thread, bounded by the decoder's structural limits (bytes, declared pixels,
    JPEG scans × pixels: a file that would cost more is refused from its header as ``bomb`` / ``too_complex``). The
    page's extra backstop, a child process per upload stopped after ``decode_timeout_s``, is not used here: measured
    with ``bench/api.py`` it added 108 ms to every request (+71 % at B/16), against the API's 10 % overhead budget.

    Raises
    ------
    BadImageError
        As :func:`skintag.triage.triage`.
    """
    options = TriageSettings.from_settings(settings, crop=crop, attention=attention)
    return triage(bundle, data, settings=options, domain=domain or "auto")


def _grid(a: np.ndarray) -> list[list[float]]:
    return np.asarray(a, dtype=np.float32).tolist()


def run_triage(bundle: ModelBundle, data: bytes, form: TriageForm, settings: Settings) -> dict[str, Any]:
    """``POST /v1/triage``: ``{"result": TriageResult.to_dict(), "model": {...}, "attention": maps or None}``."""
    result = triage_image(bundle, data, settings, crop=form.crop_box(), attention=form.attention, domain=form.domain)
    maps = None
    if form.attention and result.attention is not None:
        maps = {"map_head": _grid(result.attention.map_head), "rollout": _grid(result.attention.rollout)}
    return {"result": result.to_dict(), "model": model_info(bundle), "attention": maps}


def png_base64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


class ShapGate:
    """One SHAP explanation at a time per process. SHAP already uses every core through batched forward passes, so two
    at once only slow each other; and two requests for the same image would otherwise write the same cache file at
    once. Requests for an image already cached wait for the running one and are then served from the cache."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


def run_explain(bundle: ModelBundle, data: bytes, form: ExplainForm, settings: Settings, gate: ShapGate) -> dict[str, Any]:
    """``POST /v1/explain``: one map of one image, as the triage page computes and overlays it.

    Raises
    ------
    ApiError
        ``retake`` when the photo fails the quality gate (the page shows no explanation then either);
        ``invalid_field`` for a SHAP budget above ``settings.api_max_shap_evals``.
    """
    from skintag.explain.attention import overlay

    budget = int(form.budget if form.budget is not None else settings.shap_max_evals)
    if form.method == "shap" and budget > settings.api_max_shap_evals:
        raise ApiError.of("invalid_field", f"SHAP budget {budget} is above this server's limit of "
                                           f"{settings.api_max_shap_evals} evaluations (SKINTAG_API_MAX_SHAP_EVALS).")
    result = triage_image(bundle, data, settings, crop=form.crop_box(), attention=form.method != "shap")
    if result.status != "ok" or result.image is None:
        raise ApiError.of("retake", "The photo did not pass the quality checks, so there is no score to explain: "
                          + " ".join(result.quality.reasons))
    out: dict[str, Any] = {"method": form.method, "values": None, "shap": None, "model": model_info(bundle)}
    if form.method == "shap":
        from skintag.explain.shap_image import explain_shap

        with gate.lock:  # the page's call: same arguments, same cache folder, same cache key
            shap = explain_shap(bundle, result.image, max_evals=budget, cache_dir=settings.app_data_dir)
        heat = shap.heatmap()
        picture = overlay(result.image, heat, colormap="jet")
        out["values"] = _grid(shap.values)
        out["shap"] = {"base_value": shap.base_value, "prediction": shap.prediction, "max_evals": shap.max_evals,
                       "n_evals": shap.n_evals, "cached": shap.cached, "masker": shap.masker, "output": shap.output}
    else:
        assert result.attention is not None  # attention=True above
        heat = result.attention.map_head if form.method == "attention" else result.attention.rollout
        picture = overlay(result.image, heat)
    out.update(map=_grid(heat), grid=list(np.shape(heat)), overlay_png=png_base64(picture),
               image_size=list(result.image.size))
    return out


def served_manifest(settings: Settings) -> Any:
    """The served bundle's manifest, read from disk (the fairness report needs no model), or None if unreadable."""
    from skintag.errors import ModelBundleError
    from skintag.model.manifest import read_manifest

    try:
        return read_manifest(settings.model_dir)
    except ModelBundleError:
        return None


def run_fairness(df: pd.DataFrame, options: FairnessOptions, manifest: Any) -> dict[str, Any]:
    """``POST /v1/fairness``: the report of a predictions table, as :meth:`FairnessReport.to_json` exports it.

    With a ``threshold`` in the request that threshold is audited for every row. Without one, the served bundle's own
    decision rule is audited exactly as the Fairness Audit page, ``python -m skintag.fairness`` and the model card do
    (:func:`skintag.fairness.rules.audit_table`: triage's referral rule per domain, or per row where the table records
    each row's threshold, patients resampled when the table has a ``patient_id`` column); 0.5 when the server has no
    readable bundle. ``threshold_source`` says the rule audited, in words."""
    from skintag.fairness import validate_predictions
    from skintag.fairness.report import fairness_report
    from skintag.fairness.rules import audit_table, default_rule

    checked = validate_predictions(df, options.y_true, options.y_score, [options.group_column])
    grouping: str | None = options.grouping
    if grouping == "auto":
        grouping = "six" if options.group_column.lower().startswith("fitz") else None
    elif grouping == "none":
        grouping = None
    common = {"grouping": grouping, "min_positives": options.min_positives, "min_negatives": options.min_negatives,
              "n_boot": options.n_boot, "ci": options.ci, "tolerance": options.tolerance,
              "include_flagged": options.include_flagged, "reference": options.reference,
              "random_state": options.random_state}
    if options.threshold is not None:
        report = fairness_report(checked.y_true, checked.y_score, df[options.group_column],
                                 threshold=float(options.threshold), **common)
        source = "request"
    else:
        table = df.assign(y_true=checked.y_true, y_score=checked.y_score)
        rule = default_rule(dict(manifest)) if manifest is not None else None
        report = audit_table(table, dict(manifest) if manifest is not None else None,
                             group_column=options.group_column, **common)
        source = report.rule if rule is not None else "default 0.5 (the server has no readable model bundle)"
    return {"report": json.loads(report.to_json()), "notes": list(checked.notes), "threshold_source": source}


def model_summary(bundle: ModelBundle, settings: Settings) -> dict[str, Any]:
    """``GET /v1/model``: the manifest summary, domains, thresholds, fingerprint and this server's limits."""
    m = bundle.manifest
    backbone = m.get("backbone") or {}
    return {
        **model_info(bundle),
        "description": str(m.get("description") or ""),
        "created": m.get("created"),
        "licence": m.get("licence"),
        "image_size": int(bundle.image_size),
        "embedding_size": int(bundle.embedding_size),
        "backbone": {k: backbone.get(k) for k in ("architecture", "source", "hf_id", "revision", "n_parameters")
                     if backbone.get(k) is not None},
        "class_names": list(bundle.class_names),
        "category_map": {str(k): str(v) for k, v in bundle.category_map.items()},
        "thresholds": dict(bundle.thresholds),
        "operating_points": {str(k): float(v) for k, v in (bundle.operating_points or {}).items()},
        "default_operating_point": m.get("default_operating_point"),
        "domains": m.get("domains"),
        "accepted_domains": list(ACCEPTED_DOMAINS),
        "training_data": dict(m.get("training_data") or {}),
        "known_limits": [str(x) for x in (m.get("known_limits") or [])],
        "limits": {"max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels,
                   "shap_default_evals": settings.shap_max_evals, "shap_max_evals": settings.api_max_shap_evals},
    }
