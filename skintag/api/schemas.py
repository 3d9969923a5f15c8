"""Request and response models of the HTTP API (pydantic), named after the product's own types.

The response models describe what :meth:`skintag.triage.TriageResult.to_dict`, the fairness JSON export
(:func:`skintag.fairness.export.report_to_dict`) and the bundle manifest hold; they allow extra members, so a field the
library adds later reaches clients unchanged. The API sends the library's dicts as they are: these models document them
(OpenAPI) and the tests validate every response against them. The form models (``TriageForm``, ``ExplainForm``,
``FairnessForm``) validate the multipart fields and describe them in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The image types a request may declare: :data:`skintag.triage.DOMAIN_CHOICES` (a test checks they agree), in the
#: order the OpenAPI schema lists them.
Domain = Literal["dermoscopic", "clinical", "auto"]
ACCEPTED_DOMAINS: tuple[str, ...] = get_args(Domain)
#: SHAP budget bounds of the triage page's number input (the upper one is also capped by Settings.api_max_shap_evals).
MIN_SHAP_EVALS = 20


class _Open(BaseModel):
    """A response object that keeps members it does not declare (fields the library may add)."""

    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------------------------------------------------- triage


class ModelInfo(_Open):
    """The served model: ``TriageResult.model`` and the identity every response carries."""

    name: str | None
    version: str | None
    fingerprint: str | None = Field(description="SHA-256 over the bundle's file hashes: changes with any file")


class ConditionScore(_Open):
    condition_id: int
    name: str
    probability: float
    category: str


class QualityGate(_Open):
    verdict: Literal["pass", "warn", "reject"]
    reasons: list[str]
    checks: list[dict[str, Any]]


class Advice(_Open):
    headline: str
    details: list[str]


class AbcdeItem(_Open):
    letter: str
    name: str
    description: str


class TriageResult(_Open):
    """:meth:`skintag.triage.TriageResult.to_dict`, unchanged (``status`` "retake": every score field is null)."""

    status: Literal["ok", "retake"]
    p_malignant: float | None
    p_malignant_raw: float | None
    p_interval: list[float] | None
    uncertainty: str
    confidence: str
    score_tier: str | None
    tier: str | None
    promoted: bool
    categories: dict[str, float] | None
    dominant_category: str | None
    top_conditions: list[ConditionScore]
    discordant: bool
    discordance_reason: str | None
    quality: QualityGate
    advice: Advice
    abcde: list[AbcdeItem]
    disclaimer: str
    model: dict[str, Any]
    thresholds: dict[str, Any]
    domain: str | None = Field(None, description="the image domain the score was read in (declared or detected)")
    domain_source: str | None = Field(None, description="'declared' or 'detected'")
    in_domain: bool | None = Field(None, description="false: outside every validated domain (score for information)")
    domain_distance: float | None = None
    domain_threshold: float | None = None
    interval_label: str | None = None


class AttentionMaps(_Open):
    """MAP-head attention and attention rollout on the patch grid (rows × columns, each value in [0, 1])."""

    map_head: list[list[float]]
    rollout: list[list[float]]


class TriageResponse(BaseModel):
    result: TriageResult
    model: ModelInfo
    attention: AttentionMaps | None = Field(None, description="present when the request set attention=true")


def _parse_crop(value: Any) -> tuple[float, float, float, float] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        parts = [p for p in value.replace(";", ",").split(",")]
    else:
        parts = list(value)
    try:
        box = tuple(float(p) for p in parts)
    except (TypeError, ValueError) as exc:
        raise ValueError("crop must be four numbers 'left,top,right,bottom' (fractions of the image)") from exc
    if len(box) != 4:
        raise ValueError(f"crop must be four numbers 'left,top,right,bottom', got {len(box)}")
    left, top, right, bottom = box
    if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
        raise ValueError("crop must satisfy 0 <= left < right <= 1 and 0 <= top < bottom <= 1")
    return box  # type: ignore[return-value]


class _ImageForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: bytes = Field(description="the photo (JPEG, PNG, WebP, HEIC, ...), as a file part")
    crop: str | None = Field(
        None, description="crop box as fractions of the decoded image, 'left,top,right,bottom', e.g. '0.1,0.1,0.9,0.9'",
        examples=["0.1,0.1,0.9,0.9"],
    )

    @field_validator("crop")
    @classmethod
    def _crop(cls, v: str | None) -> str | None:
        _parse_crop(v)
        return v

    def crop_box(self) -> tuple[float, float, float, float] | None:
        return _parse_crop(self.crop)


class TriageForm(_ImageForm):
    """``POST /v1/triage`` multipart fields."""

    domain: Domain | None = Field(
        None, description="image domain: 'dermoscopic', 'clinical' or 'auto' (the detector decides); "
        "omitted = the library's default")
    attention: bool = Field(False, description="also return the attention maps, from the same forward pass")


# --------------------------------------------------------------------------------------------------------- explain


class ExplainForm(_ImageForm):
    """``POST /v1/explain`` multipart fields."""

    method: Literal["attention", "rollout", "shap"] = Field(
        description="'attention' (MAP-head attention), 'rollout' (attention rollout) or 'shap' (Partition SHAP)")
    budget: int | None = Field(
        None, ge=MIN_SHAP_EVALS,
        description="SHAP only: model evaluations (default SKINTAG_SHAP_MAX_EVALS; at most SKINTAG_API_MAX_SHAP_EVALS)")


class ShapInfo(_Open):
    base_value: float
    prediction: float
    max_evals: int
    n_evals: int = Field(description="model evaluations made now (0 when served from the cache)")
    cached: bool = Field(description="served from the same on-disk cache as the triage page")
    masker: str
    output: str


class Explanation(BaseModel):
    """One explanation map of one image."""

    method: Literal["attention", "rollout", "shap"]
    map: list[list[float]] = Field(description="the map overlaid, rows × columns, values in [0, 1]")
    grid: list[int] = Field(description="[rows, columns] of map")
    values: list[list[float]] | None = Field(None, description="SHAP only: signed SHAP values of P(malignant)")
    overlay_png: str = Field(description="base64 PNG of the map blended onto the scored image")
    image_size: list[int] = Field(description="[width, height] of the scored (decoded, cropped) image and overlay")
    shap: ShapInfo | None = None
    model: ModelInfo


# -------------------------------------------------------------------------------------------------------- fairness


class FairnessOptions(BaseModel):
    """Options of the fairness report (the Fairness Audit page's controls)."""

    model_config = ConfigDict(extra="forbid")

    y_true: str = Field("y_true", description="label column (0/1, 1 = malignant)")
    y_score: str = Field("y_score", description="score column (P(malignant))")
    group_column: str = Field("fitzpatrick", description="group column")
    grouping: Literal["auto", "six", "three", "binary", "none"] = Field(
        "auto", description="skin-type grouping of the group column; 'auto' = 'six' for a column named fitz*, "
        "else the column's values as they are ('none')")
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="malignant when score >= threshold; default: the served bundle's default "
        "operating point, else 0.5")
    tolerance: float = Field(0.05, ge=0.0, le=1.0)
    min_positives: int = Field(5, ge=1, le=100_000)
    min_negatives: int = Field(5, ge=1, le=100_000)
    include_flagged: bool = False
    reference: str = Field("between_groups", description="'between_groups', 'overall' or a group name")
    n_boot: int = Field(1000, ge=0, le=10_000)
    ci: float = Field(0.95, gt=0.0, lt=1.0)
    random_state: int | None = 0


class FairnessForm(FairnessOptions):
    """``POST /v1/fairness`` multipart fields: the predictions CSV and the options."""

    predictions: bytes = Field(description="predictions CSV (docs/CONTRACTS.md §3 or any table with the mapped columns)")


class FairnessRequest(FairnessOptions):
    """``POST /v1/fairness`` JSON body: the prediction rows and the options."""

    rows: list[dict[str, Any]] = Field(min_length=1, description="one object per prediction row")


class FairnessReport(_Open):
    """:meth:`skintag.fairness.FairnessReport.to_json`, parsed (NaN → null): the settings of the report (threshold,
    grouping, reference, interval mass, bootstrap sizes, small-group minimums, ...), the headline, the TPR and FPR gaps
    with their intervals and verdicts, the overall rates and the per-group table."""

    grouping_title: str
    threshold: float | None = Field(description="the threshold audited; null when the rows were judged at several: "
                                    "per image domain, or each row's recorded (e.g. out-of-fold) threshold; "
                                    "threshold_source says which in words")
    n_rows: int
    equalized_odds_difference: float | None
    gaps: dict[str, dict[str, Any]]
    overall: dict[str, Any]
    by_group: dict[str, dict[str, Any]]
    warnings: list[str]


class FairnessResponse(BaseModel):
    report: FairnessReport
    notes: list[str] = Field(description="notes on the data (rows without a score, no malignant case, ...)")
    threshold_source: str


# ----------------------------------------------------------------------------------------------------------- model


class ModelSummary(ModelInfo):
    """``GET /v1/model``: the manifest summary of the served bundle."""

    description: str
    created: str | None
    licence: str | None
    image_size: int
    embedding_size: int
    backbone: dict[str, Any]
    class_names: list[str]
    category_map: dict[str, str]
    thresholds: dict[str, Any]
    operating_points: dict[str, float]
    default_operating_point: str | None
    domains: Any = Field(description="the manifest's domains table (null for a bundle without one)")
    accepted_domains: list[str] = Field(description="values of the triage 'domain' field")
    training_data: dict[str, Any]
    known_limits: list[str]
    limits: dict[str, Any] = Field(description="upload, pixel and SHAP limits of this server")


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    model: ModelInfo


class ErrorBody(BaseModel):
    """Every refusal: the machine-readable reason, a sentence saying what to do, and the request id of the log line."""

    reason: str
    detail: str
    request_id: str | None
