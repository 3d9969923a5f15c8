"""Triage engine: turns a model bundle's calibrated P(malignant) and condition probabilities into a TriageResult.

This module owns every triage rule of docs/SPEC.md §5 — urgency tier from the bundle's thresholds, the three-category breakdown,
inflammatory auto-promotion, top-3 conditions, the discordance flag, quality gating, tier- and category-aware advice,
the ABCDE guide and the disclaimer. The rules live in the pure :func:`triage_from_probabilities` (no torch, no images)
so they can be pinned by unit tests on hand-made vectors; :func:`triage` and :func:`triage_many` add the image intake
(decode, quality checks, optional crop) and the model call around it.

Every score is read in an image domain (dermoscopic, clinical photo): declared by the clinician or detected from the
embedding (:meth:`skintag.model.ModelBundle.detect_domains`). The domain's own calibrator, validated thresholds and
reliability table apply. The MODERATE threshold is the domain's screening point (its target sensitivity on validation
patients), so a score at or above it is never LOW. A photo outside every validated domain is never LOW, has confidence
"none" and no interval.

Uncertainty is stated honestly: the interval attached to a score comes from the same domain's out-of-fold calibration
images (:func:`skintag.model.domains.interval_for`: the Wilson 95 % interval of the malignant rate in the score's
reliability bin, pooled with neighbouring bins until it contains the displayed score), and image-quality warnings lower
the stated confidence. The distance to a threshold is never used as confidence. No test-split prediction is read here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from skintag.errors import BadImageError, ConfigError, ModelBundleError
from skintag.model.domains import ReliabilityBin, interval_for

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pathlib import Path

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
#: What the clinician may declare on the page / API: a bundle domain, or "auto" / "not sure" (detect it).
DOMAIN_CHOICES: tuple[str, ...] = ("auto", "dermoscopic", "clinical")
OUT_OF_DOMAIN_NOTE = (
    "This image is outside the domains the model was validated on, so its score is shown for information only: it is "
    "never tiered LOW and no interval is stated."
)
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
    score field is None and ``advice`` says to retake it). ``domain`` is the image domain whose calibration and
    thresholds were used, ``domain_source`` whether it was declared or detected, ``in_domain`` False when the image lies
    outside every validated domain (never LOW, confidence "none", no interval), ``domain_distance`` /
    ``domain_threshold`` the detector's Mahalanobis distance and cut-off; ``interval_label`` says in plain words what
    ``p_interval`` is (or why there is none). ``image`` (the decoded RGB image that was scored) and
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
    domain: str | None = None
    domain_source: Literal["declared", "detected"] = "detected"
    in_domain: bool = True
    domain_distance: float | None = None
    domain_threshold: float | None = None
    interval_label: str = ""
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
            "domain": self.domain,
            "domain_source": self.domain_source,
            "in_domain": self.in_domain,
            "domain_distance": self.domain_distance,
            "domain_threshold": self.domain_threshold,
            "interval_label": self.interval_label,
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
    """Check ``{"moderate": m, "high": h}`` (optionally ``"screening": s``) with 0 < m < h <= 1 and 0 < s <= 1, and
    return ``{"screening", "moderate", "high"}`` as plain floats (screening defaults to moderate)."""
    try:
        m, h = float(thresholds["moderate"]), float(thresholds["high"])
        sc = float(thresholds.get("screening", m))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"Tier thresholds {dict(thresholds)!r} are invalid; expected {{'moderate': float, 'high': float}}"
        ) from exc
    if not (0.0 < m < h <= 1.0) or not 0.0 < sc <= 1.0:
        raise ConfigError(f"Tier thresholds must satisfy 0 < moderate < high <= 1 and 0 < screening <= 1; got "
                          f"screening={sc}, moderate={m}, high={h}")
    return {"screening": sc, "moderate": m, "high": h}


def tier_for(p: float, thresholds: Mapping[str, float]) -> str:
    """LOW if p is below both the screening point and moderate, HIGH if p >= high, else MODERATE (a score exactly at a
    threshold goes up; a score at or above the screening point is never LOW)."""
    t = validate_thresholds(thresholds)
    if p < min(t["moderate"], t["screening"]):
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
    p: float, reliability: Sequence[ReliabilityBin] | None, domain: str | None = None
) -> tuple[tuple[float, float] | None, str]:
    """Interval (always containing ``p``) and its plain-words label from a domain's out-of-fold reliability table
    (:func:`skintag.model.domains.interval_for`); None and the reason when there is no table."""
    if not reliability:
        return None, (
            "This bundle records no out-of-fold calibration images for this domain, so no interval is stated."
        )
    return interval_for(p, reliability, domain=domain)


def advice_for(tier: str, dominant: str, *, promoted: bool, discordant: bool) -> Advice:
    """Tier- and category-aware advice (docs/SPEC.md §5)."""
    details: list[str] = []
    if tier == "HIGH":
        headline = "Urgent dermatology referral: to be seen within 1-2 weeks — do not delay."
        details.append("Document the lesion now: a clinical and, where available, a dermoscopic photo with a scale beside it.")
    elif tier == "MODERATE":
        headline = "Dermatology review within 2-4 weeks; document the lesion now with a scaled photo."
        if dominant == "inflammatory":
            details.append(
                "The pattern looks inflammatory or reactive (e.g. dermatitis, a vascular lesion or a dermatofibroma) "
                "rather than malignant; assess it and treat as clinically indicated."
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
        headline = "Below the screening threshold: routine monitoring; re-image if it changes."
        details.append("Re-image at follow-up (e.g. monthly while it is under watch) in the same light, distance and "
                       "magnification, and compare with the ABCDE criteria.")
        details.append("A LOW result does not rule out malignancy: refer on clinical suspicion, whatever the score.")
    if discordant:
        details.append(
            "The condition model and the risk score disagree: review this case clinically rather than rely on the "
            "tier."
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
        interval_label="No interval: the image was not scored.",
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
    domain: str | None = None,
    domain_source: Literal["declared", "detected"] = "detected",
    in_domain: bool = True,
    domain_distance: float | None = None,
    domain_threshold: float | None = None,
) -> TriageResult:
    """Apply every triage rule of docs/SPEC.md §5 to one calibrated score and one condition distribution.

    Parameters
    ----------
    p_malignant : calibrated P(malignant) in [0, 1].
    condition_probs : the condition model's probabilities over the 10 conditions (summing to 1).
    thresholds : {"screening": s, "moderate": m, "high": h} of the domain; LOW if p < min(s, m), HIGH if p >= h,
        else MODERATE.
    category_map : condition id -> "malignant" | "inflammatory" | "benign" (the bundle's map).
    class_names : condition names by id (default ``skintag.taxonomy.CONDITIONS`` when available, else "condition i").
    quality : the image-quality gate; "reject" gives a result without a score, "warn" lowers the stated confidence.
    p_malignant_raw : the head's uncalibrated output, carried for transparency.
    reliability : the domain's out-of-fold reliability bins used to state an interval for the score (None: none).
    model : name / version / fingerprint of the bundle, copied into the result.
    domain, domain_source, domain_distance, domain_threshold : the image domain used and how it was decided.
    in_domain : False when the image is outside every validated domain: the tier is then never LOW, confidence is
        "none" and no interval is given.

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
    promoted = score_tier == "LOW" and (dominant == "inflammatory" or not in_domain)
    tier = "MODERATE" if promoted else score_tier
    top3 = top_conditions(probs, class_names, category_map)
    reason = discordance(score_tier, top3[0])
    if in_domain:
        interval, label = reliability_statement(p, reliability, domain)
        statement = label
    else:
        interval, label = None, "No interval: " + OUT_OF_DOMAIN_NOTE
        statement = OUT_OF_DOMAIN_NOTE
    if not in_domain:
        confidence: Literal["normal", "reduced", "none"] = "none"
    elif quality.verdict == "warn":
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
        advice=_with_domain_note(advice_for(tier, dominant, promoted=promoted and in_domain,
                                            discordant=reason is not None), in_domain),
        abcde=ABCDE_GUIDE,
        disclaimer=DISCLAIMER,
        model=_model_info(model),
        thresholds=t,
        domain=domain,
        domain_source=domain_source,
        in_domain=bool(in_domain),
        domain_distance=_finite_or_none(domain_distance),
        domain_threshold=_finite_or_none(domain_threshold),
        interval_label=label,
    )


def _with_domain_note(advice: Advice, in_domain: bool) -> Advice:
    """Out of domain: the advice leads with why the tier is not LOW and the score is not to be relied on."""
    if in_domain:
        return advice
    return Advice(advice.headline, (OUT_OF_DOMAIN_NOTE, *advice.details))


def _finite_or_none(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


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

def load_and_warm(
    path: str | Path, *, trusted_keys: Sequence[str | Path] = (), require_signature: bool = False
) -> ModelBundle:
    """Load the bundle at ``path`` (hash-verified; signature-checked against ``trusted_keys``, PEM files, and refused
    unsigned when ``require_signature``), then push one blank image through it with attention and grade it with the
    input gate, so the first real triage does not pay for the backbone's, heads' and image checks' first-call set-up
    (OpenCV's import among them). The dashboard's and the HTTP API's one way to load the model they serve.

    Raises
    ------
    ModelBundleError
        As :func:`skintag.model.load_bundle`.
    """
    from PIL import Image

    from skintag.images import quality_report
    from skintag.model import load_bundle
    from skintag.model.signing import load_trusted_keys

    bundle = load_bundle(path, trusted_keys=load_trusted_keys(trusted_keys) or None,
                         require_signature=require_signature)
    blank = Image.new("RGB", (bundle.image_size, bundle.image_size), (180, 120, 100))
    embedding, _ = bundle.forward_pixels(bundle.preprocess([blank]), output_attentions=True)
    bundle.predict_embeddings(embedding)
    quality_report(blank)
    return bundle


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


def resolve_domain_choice(domain: str | None) -> str | None:
    """The declared domain of a triage call: None for "auto" / "not sure" / None (detect it), else the name."""
    if domain is None:
        return None
    key = str(domain).strip().lower().replace("_", " ")
    if key in ("auto", "not sure", "unsure", "detect", ""):
        return None
    return {"clinical photo": "clinical", "dermoscopy": "dermoscopic"}.get(key, key)


def gate_out_of_domain(gate: QualityGate) -> bool:
    """True when a quality check flags the photo as outside what the model knows (a check dict carrying
    ``"out_of_domain": True``, e.g. noise or a non-skin image that the input gate lets through with a warning)."""
    return any(bool(c.get("out_of_domain")) for c in gate.checks)


def _domain_decisions(bundle: ModelBundle, emb: np.ndarray, declared: str | None) -> list[Any]:
    detect = getattr(bundle, "detect_domains", None)
    if detect is not None:
        return list(detect(emb, declared))
    from skintag.model.domains import DomainDecision

    return [DomainDecision(declared, float("nan"), float("nan"), True, {}) for _ in range(len(emb))]


def _domain_view(bundle: ModelBundle, name: str | None) -> tuple[dict[str, float], tuple[ReliabilityBin, ...]]:
    """Thresholds and reliability table of a bundle domain (legacy objects without domains: the bundle's own)."""
    domains = getattr(bundle, "domains", None) or {}
    spec = domains.get(name) if name else None
    if spec is None and domains:
        spec = domains.get(getattr(bundle, "default_domain", None)) or next(iter(domains.values()))
    if spec is None:
        return validate_thresholds(getattr(bundle, "thresholds", None) or DEFAULT_THRESHOLDS), ()
    return validate_thresholds(spec.thresholds), tuple(spec.reliability)


def triage_many(
    bundle: ModelBundle, images: Sequence[Any], *, domain: str | None = "auto", settings: TriageSettings | None = None
) -> list[TriageResult | BadImageError]:
    """Triage several images with batched forward passes.

    ``domain``: "auto" (or "not sure") detects each image's domain from its embedding; "dermoscopic" / "clinical"
    declares it (the detector still runs: a declared domain the image is far from, or one the bundle lacks, gives
    ``in_domain`` False). Each element of the returned list is a TriageResult, or the BadImageError raised when that
    input could not be decoded (so one bad file does not stop a batch). Nothing here reads evaluation files.
    """
    from skintag import images as img_mod

    settings = settings or TriageSettings()
    _check_bundle(bundle)
    declared = resolve_domain_choice(domain)
    source: Literal["declared", "detected"] = "declared" if declared else "detected"
    default_thresholds, _ = _domain_view(bundle, declared)
    info = bundle_model_info(bundle)
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
            out[i] = rejected_result(gate, thresholds=default_thresholds, model=info, image=pil)
        else:
            pending.append((i, pil, gate))
    bs = max(1, int(settings.batch_size))
    for start in range(0, len(pending), bs):
        chunk = pending[start : start + bs]
        pils = [c[1] for c in chunk]
        maps: list[Any] = [None] * len(chunk)
        pixel_values = bundle.preprocess(pils)
        emb, outputs = bundle.forward_pixels(pixel_values, output_attentions=settings.attention)
        if settings.attention:
            from skintag.explain.attention import attention_maps

            maps = attention_maps(bundle.backbone, outputs)
        decisions = _domain_decisions(bundle, emb, declared)
        known = getattr(bundle, "domains", None) or {}
        preds: dict[str | None, Any] = {}
        for name in {d.domain for d in decisions}:
            use = name if name in known else None
            preds[name] = bundle.predict_embeddings(emb, use) if known else bundle.predict_embeddings(emb)
        for j, (i, pil, gate) in enumerate(chunk):
            dec = decisions[j]
            pred = preds[dec.domain]
            thresholds, reliability = _domain_view(bundle, dec.domain)
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
                domain=dec.domain,
                domain_source=source,
                in_domain=bool(dec.in_domain) and not gate_out_of_domain(gate),
                domain_distance=dec.distance,
                domain_threshold=dec.threshold,
            )
            out[i] = replace(res, image=pil, attention=maps[j])
    return out  # type: ignore[return-value]


def triage(
    bundle: ModelBundle, image: Any, *, domain: str | None = "auto", settings: TriageSettings | None = None
) -> TriageResult:
    """Triage one image: decode → quality gate → preprocess → forward → heads → calibration → TriageResult.

    Parameters
    ----------
    bundle : a loaded :class:`skintag.model.ModelBundle`.
    image : encoded bytes, a path, or a PIL image.
    domain : "auto" / "not sure" (detect), "dermoscopic" or "clinical" (declared); see :func:`triage_many`.
    settings : crop, intake limits, and whether to compute attention maps from the same forward pass.

    Raises
    ------
    BadImageError
        When the input is not an acceptable image (empty, not an image, truncated, too large, a bomb, ...).
        A decodable photo that fails the quality checks is not an error: the result has status "retake".
    """
    res = triage_many(bundle, [image], domain=domain, settings=settings)[0]
    if isinstance(res, BadImageError):
        raise res
    return res
