"""Triage engine: turns a model bundle's calibrated P(malignant) and condition probabilities into a TriageResult.

This module owns every triage rule of docs/SPEC.md §5 — urgency tier from the bundle's thresholds, the three-category breakdown,
inflammatory auto-promotion, top-3 conditions, the discordance flag, quality gating, tier- and category-aware advice,
the ABCDE guide and the disclaimer. The rules live in the pure :func:`triage_from_probabilities` (no torch, no images)
so they can be pinned by unit tests on hand-made vectors; :func:`triage` and :func:`triage_many` add the image intake
(decode, quality checks, optional crop) and the model call around it.

Uncertainty is stated honestly: the interval attached to a score is the Wilson 95 % interval of the observed malignant
fraction among held-out images whose calibrated score fell in the same reliability bin (when the bundle ships such a
reliability table), and image-quality warnings lower the stated confidence. The distance to a threshold is never used
as confidence.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from skintag.errors import BadImageError, ConfigError, ModelBundleError
from skintag.stats import wilson_interval

if TYPE_CHECKING:  # pragma: no cover - typing only
    from PIL import Image

    from skintag.explain.attention import AttentionMaps
    from skintag.images import IntakeLimits
    from skintag.model.bundle import ModelBundle

Tier = Literal["LOW", "MODERATE", "HIGH"]
Category = Literal["malignant", "inflammatory", "benign"]

TIERS: tuple[str, ...] = ("LOW", "MODERATE", "HIGH")
CATEGORIES: tuple[str, ...] = ("malignant", "inflammatory", "benign")  # also the tie-break order
CATEGORY_DISPLAY: dict[str, str] = {
    "malignant": "Malignant / Pre-cancerous",
    "inflammatory": "Inflammatory / Reactive",
    "benign": "Benign",
}
TIER_COLOURS: dict[str, str] = {"LOW": "#2e7d32", "MODERATE": "#ef6c00", "HIGH": "#c62828"}
DEFAULT_THRESHOLDS: dict[str, float] = {"moderate": 0.30, "high": 0.60}
#: Two category masses closer than this are a tie (resolved malignant > inflammatory > benign).
TIE_TOLERANCE = 1e-9

DISCLAIMER = (
    "SkinTag is an AI screening aid, not a diagnosis. False negatives and false positives happen. "
    "See a qualified clinician regardless of this result, and seek care at once for a lesion that changes fast, "
    "bleeds or hurts."
)

ABCDE_GUIDE: tuple[tuple[str, str, str], ...] = (
    ("A", "Asymmetry", "one half of the lesion does not match the other"),
    ("B", "Border", "edges are ragged, notched, blurred or irregular"),
    ("C", "Colour", "several colours or uneven shades (brown, black, red, white, blue)"),
    ("D", "Diameter", "larger than 6 mm (about a pencil eraser), though melanomas can be smaller"),
    ("E", "Evolving", "any change in size, shape, colour, elevation, or new bleeding, itching or crusting"),
)

RETAKE_ADVICE = "Retake the photo: the image did not pass the quality checks, so no risk score is given."


# ----------------------------------------------------------------------------------------------------------------------
# Small value types
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityGate:
    """Image-quality verdict as the triage engine uses it (independent of how :mod:`skintag.images` reports it).

    Attributes
    ----------
    verdict : "pass", "warn" or "reject".
    reasons : one human-readable sentence per failed or warned check (measured value and limit).
    checks : JSON-safe per-check details (name, value, limit, verdict) for the report.
    """

    verdict: Literal["pass", "warn", "reject"] = "pass"
    reasons: tuple[str, ...] = ()
    checks: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.verdict not in ("pass", "warn", "reject"):
            raise ConfigError(f"Unknown quality verdict {self.verdict!r}; expected 'pass', 'warn' or 'reject'")


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability table: held-out images whose calibrated score was in [lo, hi)."""

    lo: float
    hi: float
    n: int
    positives: int


@dataclass(frozen=True)
class ConditionScore:
    condition_id: int
    name: str
    probability: float
    category: str


@dataclass(frozen=True)
class Advice:
    headline: str
    details: tuple[str, ...]


@dataclass(frozen=True)
class TriageSettings:
    """Options of one triage call.

    Attributes
    ----------
    crop : optional crop box as fractions of the decoded image (left, top, right, bottom), each in [0, 1].
    max_bytes, max_pixels : intake limits handed to :func:`skintag.images.intake` (None = its defaults).
    attention : also compute the attention maps from the same forward pass as the prediction.
    batch_size : images per forward pass in :func:`triage_many`.
    """

    crop: tuple[float, float, float, float] | None = None
    max_bytes: int | None = None
    max_pixels: int | None = None
    attention: bool = False
    batch_size: int = 32

    def intake_limits(self) -> IntakeLimits:
        """The decoder limits of :func:`skintag.images.intake`: ``max_bytes`` / ``max_pixels`` where set."""
        from skintag.images import IntakeLimits

        given = {"max_bytes": self.max_bytes, "max_pixels": self.max_pixels}
        return IntakeLimits(**{k: v for k, v in given.items() if v is not None})

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> TriageSettings:
        """Take the intake limits from :class:`skintag.settings.Settings`."""
        base = cls(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels)
        return replace(base, **overrides)


@dataclass(frozen=True)
class TriageResult:
    """Everything the triage page, the JSON export and the case report show for one image.

    ``status`` is "ok" when a score was given and "retake" when the image-quality gate rejected the photo (then every
    score field is None and ``advice`` says to retake it). ``image`` (the decoded RGB image that was scored) and
    ``attention`` (maps from the same forward pass) are carried for display but left out of :meth:`to_dict`.
    """

    status: Literal["ok", "retake"]
    p_malignant: float | None
    p_malignant_raw: float | None
    p_interval: tuple[float, float] | None
    uncertainty: str
    confidence: Literal["normal", "reduced", "none"]
    score_tier: str | None
    tier: str | None
    promoted: bool
    categories: dict[str, float] | None
    dominant_category: str | None
    top_conditions: tuple[ConditionScore, ...]
    discordant: bool
    discordance_reason: str | None
    quality: QualityGate
    advice: Advice
    abcde: tuple[tuple[str, str, str], ...]
    disclaimer: str
    model: dict[str, Any]
    thresholds: dict[str, float]
    image: Image.Image | None = field(default=None, compare=False, repr=False)
    attention: AttentionMaps | None = field(default=None, compare=False, repr=False)

    @property
    def tier_colour(self) -> str:
        return TIER_COLOURS.get(self.tier or "", "#616161")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (plain floats, strings, lists); images and attention arrays are left out."""
        return {
            "status": self.status,
            "p_malignant": self.p_malignant,
            "p_malignant_raw": self.p_malignant_raw,
            "p_interval": list(self.p_interval) if self.p_interval is not None else None,
            "uncertainty": self.uncertainty,
            "confidence": self.confidence,
            "score_tier": self.score_tier,
            "tier": self.tier,
            "promoted": self.promoted,
            "categories": dict(self.categories) if self.categories is not None else None,
            "dominant_category": self.dominant_category,
            "top_conditions": [
                {"condition_id": c.condition_id, "name": c.name, "probability": c.probability, "category": c.category}
                for c in self.top_conditions
            ],
            "discordant": self.discordant,
            "discordance_reason": self.discordance_reason,
            "quality": {
                "verdict": self.quality.verdict,
                "reasons": list(self.quality.reasons),
                "checks": [dict(c) for c in self.quality.checks],
            },
            "advice": {"headline": self.advice.headline, "details": list(self.advice.details)},
            "abcde": [{"letter": a, "name": n, "description": d} for a, n, d in self.abcde],
            "disclaimer": self.disclaimer,
            "model": dict(self.model),
            "thresholds": dict(self.thresholds),
        }


# ----------------------------------------------------------------------------------------------------------------------
# Pure rules
# ----------------------------------------------------------------------------------------------------------------------


def format_probability(p: float | None) -> str:
    """A probability as a whole percentage for display, never "0%" or "100%": a calibrated score of exactly 0 or 1 is a
    bin of the calibrator, not certainty, so the extremes read "<1%" and ">99%"."""
    if p is None:
        return "—"
    if p < 0.01:
        return "<1%"
    if p > 0.99:
        return ">99%"
    return f"{p:.0%}"


def validate_thresholds(thresholds: Mapping[str, float]) -> dict[str, float]:
    """Check ``{"moderate": m, "high": h}`` with 0 < m < h <= 1 and return it as plain floats."""
    try:
        m, h = float(thresholds["moderate"]), float(thresholds["high"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"Tier thresholds {dict(thresholds)!r} are invalid; expected {{'moderate': float, 'high': float}}"
        ) from exc
    if not (0.0 < m < h <= 1.0):
        raise ConfigError(f"Tier thresholds must satisfy 0 < moderate < high <= 1; got moderate={m}, high={h}")
    return {"moderate": m, "high": h}


def tier_for(p: float, thresholds: Mapping[str, float]) -> str:
    """LOW if p < moderate, MODERATE if p < high, else HIGH (a score exactly at a threshold goes up)."""
    t = validate_thresholds(thresholds)
    if p < t["moderate"]:
        return "LOW"
    if p < t["high"]:
        return "MODERATE"
    return "HIGH"


def category_breakdown(
    p_malignant: float, condition_probs: Sequence[float], category_map: Mapping[int, str]
) -> tuple[dict[str, float], str]:
    """Three-category breakdown per docs/SPEC.md §5 and its dominant category.

    malignant = p; the non-malignant mass 1 − p is split between inflammatory and benign in the ratio of the condition
    model's summed probabilities over the conditions the category map calls inflammatory and benign. If the condition
    model puts no mass on either (all of it on malignant conditions), the split is even — there is no evidence either
    way — and the tie then resolves to inflammatory, the more cautious of the two. Ties (within ``TIE_TOLERANCE``)
    resolve malignant > inflammatory > benign.
    """
    probs = np.asarray(condition_probs, dtype=float)
    inflammatory_ids = [i for i, c in category_map.items() if c == "inflammatory"]
    benign_ids = [i for i, c in category_map.items() if c == "benign"]
    s_inf = float(probs[inflammatory_ids].sum()) if inflammatory_ids else 0.0
    s_ben = float(probs[benign_ids].sum()) if benign_ids else 0.0
    rest = 1.0 - float(p_malignant)
    share_inf = 0.5 if s_inf + s_ben <= 0 else s_inf / (s_inf + s_ben)
    cats = {"malignant": float(p_malignant), "inflammatory": rest * share_inf, "benign": rest * (1.0 - share_inf)}
    top = max(cats.values())
    dominant = next(c for c in CATEGORIES if cats[c] >= top - TIE_TOLERANCE)
    return cats, dominant


def top_conditions(
    condition_probs: Sequence[float], class_names: Sequence[str], category_map: Mapping[int, str], k: int = 3
) -> tuple[ConditionScore, ...]:
    """The k most probable conditions (ties by lower id first, which is the stable order of the taxonomy)."""
    probs = np.asarray(condition_probs, dtype=float)
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))[:k]
    return tuple(
        ConditionScore(i, str(class_names[i]), float(probs[i]), str(category_map.get(i, "benign"))) for i in order
    )


def discordance(score_tier: str, top: ConditionScore) -> str | None:
    """Reason the condition model and the risk score disagree, else None.

    Compares the top condition's category with the tier given by the score alone (before inflammatory promotion): the
    point is that the two models disagree, whatever the displayed tier is.
    """
    if score_tier == "LOW" and top.category == "malignant":
        return (
            f"The most likely condition is {top.name} (malignant / pre-cancerous, {top.probability:.0%}) "
            "but the malignancy score is in the LOW range."
        )
    if score_tier == "HIGH" and top.category != "malignant":
        return (
            f"The malignancy score is HIGH but the most likely condition is {top.name} "
            f"({top.category}, {top.probability:.0%})."
        )
    return None


def reliability_statement(
    p: float, reliability: Sequence[ReliabilityBin] | None
) -> tuple[tuple[float, float] | None, str]:
    """Interval and sentence for a calibrated score from a held-out reliability table (None if there is none)."""
    if not reliability:
        return None, (
            "Calibrated on the bundle's validation split; the bundle ships no held-out reliability table, "
            "so no interval is stated."
        )
    bins = sorted(reliability, key=lambda b: b.lo)
    chosen = next((b for b in bins if b.lo <= p < b.hi), bins[-1] if p >= bins[-1].lo else bins[0])
    if chosen.n == 0:
        return None, f"No held-out images scored in [{chosen.lo:.2f}, {chosen.hi:.2f}); the score is unverified there."
    lo, hi = wilson_interval(chosen.positives, chosen.n)
    return (lo, hi), (
        f"Of {chosen.n} held-out images with a score in [{chosen.lo:.2f}, {chosen.hi:.2f}), "
        f"{chosen.positives} ({chosen.positives / chosen.n:.0%}) were malignant; 95 % Wilson interval "
        f"{lo:.0%}–{hi:.0%}."
    )


def advice_for(tier: str, dominant: str, *, promoted: bool, discordant: bool) -> Advice:
    """Tier- and category-aware advice (docs/SPEC.md §5)."""
    details: list[str] = []
    if tier == "HIGH":
        headline = "Prompt evaluation by a dermatologist within 1-2 weeks — do not delay."
        details.append("Photograph the lesion now with a ruler or coin beside it for scale.")
    elif tier == "MODERATE":
        headline = "Book a dermatologist within 2-4 weeks, and photograph the lesion now."
        if dominant == "inflammatory":
            details.append(
                "The pattern looks inflammatory or reactive (e.g. dermatitis, a vascular lesion or a dermatofibroma) "
                "rather than malignant, but it still needs a clinician's assessment and may need treatment."
            )
            if promoted:
                details.append(
                    "The malignancy score alone was LOW; the result was raised to MODERATE because an inflammatory "
                    "condition should not be shown as low risk."
                )
        elif dominant == "benign":
            details.append(
                "The most likely picture is a benign growth, but the malignancy risk is not low enough to dismiss."
            )
        else:
            details.append("Features suggest a lesion that could be malignant or pre-cancerous.")
    else:
        headline = "Features look benign. Keep monitoring."
        details.append("Check it with the ABCDE guide and photograph it monthly in the same light and distance.")
        details.append("See a dermatologist for anything new or changing.")
    if discordant:
        details.append(
            "The condition model and the risk score disagree: have a clinician review this case rather than rely on "
            "the tier."
        )
    return Advice(headline, tuple(details))


def _model_info(model: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (model or {}).items() if isinstance(v, str | int | float | bool) or v is None}


def rejected_result(
    quality: QualityGate,
    *,
    thresholds: Mapping[str, float] | None = None,
    model: Mapping[str, Any] | None = None,
    image: Image.Image | None = None,
) -> TriageResult:
    """The result for a photo the quality gate rejected: no score, advice to retake it."""
    t = validate_thresholds(thresholds or DEFAULT_THRESHOLDS)
    return TriageResult(
        status="retake",
        p_malignant=None,
        p_malignant_raw=None,
        p_interval=None,
        uncertainty="No score: the image failed the quality checks (" + "; ".join(quality.reasons) + ").",
        confidence="none",
        score_tier=None,
        tier=None,
        promoted=False,
        categories=None,
        dominant_category=None,
        top_conditions=(),
        discordant=False,
        discordance_reason=None,
        quality=quality,
        advice=Advice(RETAKE_ADVICE, tuple(quality.reasons)),
        abcde=ABCDE_GUIDE,
        disclaimer=DISCLAIMER,
        model=_model_info(model),
        thresholds=t,
        image=image,
    )


def triage_from_probabilities(
    p_malignant: float,
    condition_probs: Sequence[float],
    *,
    thresholds: Mapping[str, float],
    category_map: Mapping[int, str],
    class_names: Sequence[str] | None = None,
    quality: QualityGate | None = None,
    p_malignant_raw: float | None = None,
    reliability: Sequence[ReliabilityBin] | None = None,
    model: Mapping[str, Any] | None = None,
) -> TriageResult:
    """Apply every triage rule of docs/SPEC.md §5 to one calibrated score and one condition distribution.

    Parameters
    ----------
    p_malignant : calibrated P(malignant) in [0, 1].
    condition_probs : the condition model's probabilities over the 10 conditions (summing to 1).
    thresholds : {"moderate": m, "high": h}; LOW if p < m, MODERATE if p < h, else HIGH.
    category_map : condition id -> "malignant" | "inflammatory" | "benign" (the bundle's map).
    class_names : condition names by id (default ``skintag.taxonomy.CONDITIONS`` when available, else "condition i").
    quality : the image-quality gate; "reject" gives a result without a score, "warn" lowers the stated confidence.
    p_malignant_raw : the head's uncalibrated output, carried for transparency.
    reliability : held-out reliability bins used to state an interval for the score (None: no interval).
    model : name / version / fingerprint of the bundle, copied into the result.

    Returns
    -------
    TriageResult
    """
    quality = quality or QualityGate()
    t = validate_thresholds(thresholds)
    if quality.verdict == "reject":
        return rejected_result(quality, thresholds=t, model=model)
    p = float(p_malignant)
    if not (0.0 <= p <= 1.0) or math.isnan(p):
        raise ConfigError(f"P(malignant) must be a probability in [0, 1]; got {p_malignant!r}")
    probs = np.asarray(condition_probs, dtype=float)
    if probs.ndim != 1 or probs.size == 0 or np.any(probs < 0) or not np.isfinite(probs).all():
        raise ConfigError(f"condition_probs must be a 1-D vector of non-negative probabilities; got {probs!r}")
    if abs(probs.sum() - 1.0) > 1e-4:
        raise ConfigError(f"condition_probs must sum to 1; they sum to {probs.sum():.6f}")
    bad = [i for i, c in category_map.items() if c not in CATEGORIES]
    if bad:
        raise ConfigError(f"category_map has unknown categories for ids {bad}; expected one of {CATEGORIES}")
    if class_names is None:
        class_names = _default_class_names(probs.size)

    score_tier = tier_for(p, t)
    cats, dominant = category_breakdown(p, probs, category_map)
    promoted = score_tier == "LOW" and dominant == "inflammatory"
    tier = "MODERATE" if promoted else score_tier
    top3 = top_conditions(probs, class_names, category_map)
    reason = discordance(score_tier, top3[0])
    interval, statement = reliability_statement(p, reliability)
    if quality.verdict == "warn":
        confidence = "reduced"
        statement += " Confidence is reduced because of image quality: " + "; ".join(quality.reasons) + "."
    else:
        confidence = "normal"
    return TriageResult(
        status="ok",
        p_malignant=p,
        p_malignant_raw=None if p_malignant_raw is None else float(p_malignant_raw),
        p_interval=interval,
        uncertainty=statement,
        confidence=confidence,
        score_tier=score_tier,
        tier=tier,
        promoted=promoted,
        categories=cats,
        dominant_category=dominant,
        top_conditions=top3,
        discordant=reason is not None,
        discordance_reason=reason,
        quality=quality,
        advice=advice_for(tier, dominant, promoted=promoted, discordant=reason is not None),
        abcde=ABCDE_GUIDE,
        disclaimer=DISCLAIMER,
        model=_model_info(model),
        thresholds=t,
    )


def _default_class_names(n: int) -> list[str]:
    try:
        from skintag.taxonomy import CONDITIONS

        names = [c if isinstance(c, str) else str(c) for c in CONDITIONS]
        if len(names) == n:
            return names
    except ImportError:
        pass
    return [f"condition {i}" for i in range(n)]


# ----------------------------------------------------------------------------------------------------------------------
# Bundle-level helpers: reliability table, model info, quality adapter
# ----------------------------------------------------------------------------------------------------------------------

_RELIABILITY_CACHE: dict[str, tuple[ReliabilityBin, ...] | None] = {}
#: Prediction rows from these splits are not held out (training data, or the validation split the calibrator and
#: thresholds were fitted on) and are left out of the reliability table.
_NOT_HELD_OUT = frozenset({"train", "training", "val", "valid", "validation"})


def reliability_from_scores(
    y_true: Sequence[int], y_score: Sequence[float], *, n_bins: int = 10
) -> tuple[ReliabilityBin, ...]:
    """Equal-width reliability bins of calibrated scores against outcomes."""
    y = np.asarray(y_true, dtype=int)
    s = np.clip(np.asarray(y_score, dtype=float), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.minimum(np.searchsorted(edges, s, side="right") - 1, n_bins - 1)
    out = []
    for b in range(n_bins):
        m = idx == b
        hi = float(edges[b + 1]) if b < n_bins - 1 else 1.0 + 1e-12
        out.append(ReliabilityBin(float(edges[b]), hi, int(m.sum()), int(y[m].sum())))
    return tuple(out)


def bundle_reliability(bundle: ModelBundle) -> tuple[ReliabilityBin, ...] | None:
    """Reliability table of a bundle, from ``manifest["reliability"]`` (list of {lo, hi, n, positives}) if present,
    else from the held-out rows (split not train/val) of ``<bundle>/eval/predictions_*.csv`` (columns y_true, y_score).
    Cached per bundle fingerprint; None when the bundle carries neither."""
    key = str(getattr(bundle, "fingerprint", id(bundle)))
    if key in _RELIABILITY_CACHE:
        return _RELIABILITY_CACHE[key]
    table: tuple[ReliabilityBin, ...] | None = None
    manifest = getattr(bundle, "manifest", {}) or {}
    raw = manifest.get("reliability")
    if isinstance(raw, list) and raw:
        try:
            table = tuple(
                ReliabilityBin(float(r["lo"]), float(r["hi"]), int(r["n"]), int(r["positives"])) for r in raw
            )
        except (KeyError, TypeError, ValueError):
            table = None
    if table is None and getattr(bundle, "path", None) is not None:
        ys: list[int] = []
        ss: list[float] = []
        for csv_path in sorted((Path(bundle.path) / "eval").glob("predictions_*.csv")):
            with csv_path.open(newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    if (row.get("split") or "").strip().lower() in _NOT_HELD_OUT:
                        continue
                    try:
                        ys.append(int(float(row["y_true"])))
                        ss.append(float(row["y_score"]))
                    except (KeyError, ValueError):
                        continue
        if ys:
            table = reliability_from_scores(ys, ss)
    _RELIABILITY_CACHE[key] = table
    return table


def bundle_model_info(bundle: ModelBundle) -> dict[str, Any]:
    return {
        "name": getattr(bundle, "name", None),
        "version": getattr(bundle, "version", None),
        "fingerprint": getattr(bundle, "fingerprint", None),
    }


def quality_gate(report: Any) -> QualityGate:
    """Normalise whatever :func:`skintag.images.quality_report` returns into a :class:`QualityGate`.

    Accepts an object or dict with a ``verdict`` and either ``checks`` (each with name / value / limit / verdict /
    message) or ``reasons``.
    """
    if report is None:
        return QualityGate()
    if isinstance(report, QualityGate):
        return report
    get = report.get if isinstance(report, Mapping) else lambda k, d=None: getattr(report, k, d)
    verdict = str(get("verdict", "pass")).lower()
    raw_checks = get("checks", ()) or ()
    if isinstance(raw_checks, Mapping):
        raw_checks = list(raw_checks.values())
    checks: list[dict[str, Any]] = []
    reasons: list[str] = []
    for c in raw_checks:
        cd = c if isinstance(c, Mapping) else _obj_to_dict(c)
        clean = {k: _json_scalar(v) for k, v in cd.items()}
        checks.append(clean)
        v = str(clean.get("verdict", "pass")).lower()
        if v in ("warn", "reject"):
            msg = clean.get("message") or (
                f"{clean.get('name', 'check')}: measured {clean.get('value')}, limit {clean.get('limit')}"
            )
            reasons.append(str(msg))
    if not reasons:
        reasons = [str(r) for r in (get("reasons", ()) or ())]
    if verdict not in ("pass", "warn", "reject"):
        verdict = "reject" if verdict in ("fail", "failed") else "pass"
    return QualityGate(verdict, tuple(reasons), tuple(checks))  # type: ignore[arg-type]


def _obj_to_dict(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    if hasattr(obj, "__dataclass_fields__"):
        return {k: getattr(obj, k) for k in obj.__dataclass_fields__}
    return dict(vars(obj))


def _json_scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    if isinstance(v, list | tuple):
        return [_json_scalar(x) for x in v]
    return str(v)


# ----------------------------------------------------------------------------------------------------------------------
# Image-level entry points
# ----------------------------------------------------------------------------------------------------------------------


def load_image(image: Any, settings: TriageSettings) -> Image.Image:
    """Decode bytes / a path / a PIL image into an RGB image with :func:`skintag.images.load_rgb`, then crop."""
    from skintag import images as img_mod

    return img_mod.apply_crop(img_mod.load_rgb(image, limits=settings.intake_limits()).image, settings.crop)


def _check_bundle(bundle: ModelBundle) -> None:
    for attr in ("predict", "thresholds", "category_map", "class_names"):
        if not hasattr(bundle, attr):
            raise ModelBundleError(f"Object of type {type(bundle).__name__} is not a model bundle: lacks .{attr}")


def triage_many(
    bundle: ModelBundle, images: Sequence[Any], *, settings: TriageSettings | None = None
) -> list[TriageResult | BadImageError]:
    """Triage several images with batched forward passes.

    Each element of the returned list is a TriageResult, or the BadImageError raised when that input could not be
    decoded (so one bad file does not stop a batch).
    """
    from skintag import images as img_mod

    settings = settings or TriageSettings()
    _check_bundle(bundle)
    thresholds = validate_thresholds(getattr(bundle, "thresholds", None) or DEFAULT_THRESHOLDS)
    info = bundle_model_info(bundle)
    reliability = bundle_reliability(bundle)
    limits = img_mod.QualityLimits.for_model(int(getattr(bundle, "image_size", 224)))
    out: list[TriageResult | BadImageError | None] = [None] * len(images)
    pending: list[tuple[int, Image.Image, QualityGate]] = []
    for i, src in enumerate(images):
        try:
            got = img_mod.intake(src, limits=settings.intake_limits(), quality=limits, crop=settings.crop)
        except BadImageError as exc:
            out[i] = exc
            continue
        pil, gate = got.image, quality_gate(got.quality)
        if gate.verdict == "reject":
            out[i] = rejected_result(gate, thresholds=thresholds, model=info, image=pil)
        else:
            pending.append((i, pil, gate))
    bs = max(1, int(settings.batch_size))
    for start in range(0, len(pending), bs):
        chunk = pending[start : start + bs]
        pils = [c[1] for c in chunk]
        maps: list[Any] = [None] * len(chunk)
        if settings.attention:
            from skintag.explain.attention import attention_maps

            pixel_values = bundle.preprocess(pils)
            emb, outputs = bundle.forward_pixels(pixel_values, output_attentions=True)
            pred = bundle.predict_embeddings(emb)
            maps = attention_maps(bundle.backbone, outputs)
        else:
            pred = bundle.predict(pils)
        for j, (i, pil, gate) in enumerate(chunk):
            res = triage_from_probabilities(
                float(pred.p_malignant[j]),
                np.asarray(pred.condition_probs[j], dtype=float),
                thresholds=thresholds,
                category_map=bundle.category_map,
                class_names=bundle.class_names,
                quality=gate,
                p_malignant_raw=float(pred.p_malignant_raw[j]) if getattr(pred, "p_malignant_raw", None) is not None
                else None,
                reliability=reliability,
                model=info,
            )
            out[i] = replace(res, image=pil, attention=maps[j])
    return out  # type: ignore[return-value]


def triage(bundle: ModelBundle, image: Any, *, settings: TriageSettings | None = None) -> TriageResult:
    """Triage one image: decode → quality gate → preprocess → forward → heads → calibration → TriageResult.

    Parameters
    ----------
    bundle : a loaded :class:`skintag.model.ModelBundle`.
    image : encoded bytes, a path, or a PIL image.
    settings : crop, intake limits, and whether to compute attention maps from the same forward pass.

    Raises
    ------
    BadImageError
        When the input is not an acceptable image (empty, not an image, truncated, too large, a bomb, ...).
        A decodable photo that fails the quality checks is not an error: the result has status "retake".
    """
    res = triage_many(bundle, [image], settings=settings)[0]
    if isinstance(res, BadImageError):
        raise res
    return res
