"""The SkinTag label taxonomy and every dataset's native-label map.

This module owns:

* the 10 conditions (ids 0-9, names exactly as docs/SPEC.md §1), the binary map (malignant ids 0-3) and the default
  condition → 3-category map, with the category display names;
* loading the condition → category map from configuration (``configs/categories.yaml`` or a dict), so the grouping is
  data, not code;
* the native-label maps of each dataset: HAM10000 ``dx``, PAD-UFES-20 ``diagnostic``, the ISIC 2019 one-hot columns,
  ISIC-Archive diagnosis strings (matched case-insensitively on their leading term), the DermaMNIST class order, and the
  ordered keyword rules used for DDI's hyphenated disease names and Fitzpatrick17k's 114 labels.

Mapping functions return a :class:`LabelMatch` saying *how* a label was mapped (``"exact"``, ``"keyword"`` or
``"unmapped→Other"``); the data loaders put that into the label audit so that no label ever reaches "Other" unseen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skintag.errors import ConfigError
from skintag.settings import read_yaml, shipped

# ---------------------------------------------------------------------------------------------------------------------
# Conditions and categories (docs/SPEC.md §1)

#: The 10 condition names; the position is the condition id.
CONDITIONS: tuple[str, ...] = (
    "Melanoma",
    "Basal Cell Carcinoma",
    "Squamous Cell Carcinoma",
    "Actinic Keratosis",
    "Melanocytic Nevus",
    "Seborrheic Keratosis",
    "Dermatofibroma",
    "Vascular Lesion",
    "Non-Neoplastic",
    "Other/Unknown",
)
N_CONDITIONS = len(CONDITIONS)
#: Condition name → id.
CONDITION_IDS: dict[str, int] = {name: i for i, name in enumerate(CONDITIONS)}
#: Longer descriptions for tables and cards.
CONDITION_DESCRIPTIONS: dict[int, str] = {
    3: "Actinic Keratosis (pre-cancerous, counted malignant)",
    8: "Non-Neoplastic (inflammatory and other non-tumour conditions)",
}
#: Conditions counted malignant in the binary task (actinic keratosis is pre-cancerous and counted malignant).
MALIGNANT_IDS: frozenset[int] = frozenset({0, 1, 2, 3})
OTHER_ID = 9
NON_NEOPLASTIC_ID = 8

#: The three categories, in display (and tie-break) order.
CATEGORIES: tuple[str, ...] = ("malignant", "inflammatory", "benign")
CATEGORY_NAMES: dict[str, str] = {
    "malignant": "Malignant / Pre-cancerous",
    "inflammatory": "Inflammatory / Reactive",
    "benign": "Benign",
}
#: docs/SPEC.md §1 default: dermatofibroma (6) and vascular lesions (7) sit with the inflammatory group so they are not shown as a
#: green "low risk"; ``configs/categories.yaml`` holds the same map as data.
DEFAULT_CATEGORY_MAP: dict[int, str] = {
    0: "malignant",
    1: "malignant",
    2: "malignant",
    3: "malignant",
    4: "benign",
    5: "benign",
    6: "inflammatory",
    7: "inflammatory",
    8: "inflammatory",
    9: "benign",
}
DEFAULT_CONFIG_PATH = shipped("configs/categories.yaml")

#: The category of a *labelled* image (a dataset row) of condition Other/Unknown: a label outside the named conditions
#: (unmapped, such as Fitzpatrick17k's Kaposi sarcoma, or a hamartoma sent to Other on purpose) is not known to be
#: benign. The category map above is for the model's predicted conditions; :func:`label_categories` never puts a row
#: of condition Other/Unknown in "benign".
OTHER_CATEGORY = "other"
#: Categories of labelled images, in display order.
LABEL_CATEGORIES: tuple[str, ...] = (*CATEGORIES, OTHER_CATEGORY)
LABEL_CATEGORY_NAMES: dict[str, str] = {**CATEGORY_NAMES, OTHER_CATEGORY: "Other / Unknown (not assessed)"}


def condition_name(condition_id: int) -> str:
    """Name of a condition id; raises :class:`ConfigError` for an id outside 0-9."""
    if not 0 <= int(condition_id) < N_CONDITIONS:
        raise ConfigError(f"Unknown condition id {condition_id!r}; expected an integer 0-{N_CONDITIONS - 1}")
    return CONDITIONS[int(condition_id)]


def is_malignant(condition_id: int) -> int:
    """1 if the condition counts as malignant in the binary task (ids 0-3), else 0."""
    condition_name(condition_id)
    return int(int(condition_id) in MALIGNANT_IDS)


def label_categories(
    condition_ids: Sequence[int], malignant: Sequence[int], category_map: Mapping[int, str] | None = None
) -> list[str]:
    """The category of each labelled image (dataset row), for counts of what a dataset holds.

    The dataset's own ``malignant`` flag comes first: a row it calls malignant is "malignant" whatever its condition
    (Fitzpatrick17k's Kaposi sarcoma is condition Other/Unknown but malignant). Otherwise a row of condition Other/Unknown
    is :data:`OTHER_CATEGORY`, never "benign"; every other row takes its condition's category from ``category_map``
    (default :data:`DEFAULT_CATEGORY_MAP`).
    """
    cmap = category_map if category_map is not None else DEFAULT_CATEGORY_MAP
    out: list[str] = []
    for cid, flag in zip(condition_ids, malignant, strict=True):
        if int(flag) == 1:
            out.append("malignant")
        elif int(cid) == OTHER_ID:
            out.append(OTHER_CATEGORY)
        else:
            out.append(cmap[int(cid)])
    return out


def _condition_key(key: Any, where: str) -> int:
    """Accept a condition id (int or digit string) or an exact condition name as a config key."""
    if isinstance(key, bool):
        raise ConfigError(f"{where}: condition key {key!r} is not a condition id or name")
    if isinstance(key, int):
        cid = key
    elif isinstance(key, str) and key.strip().isdigit():
        cid = int(key.strip())
    elif isinstance(key, str) and key in CONDITION_IDS:
        cid = CONDITION_IDS[key]
    else:
        raise ConfigError(f"{where}: condition key {key!r} is not a condition id 0-9 or one of {list(CONDITIONS)}")
    if not 0 <= cid < N_CONDITIONS:
        raise ConfigError(f"{where}: condition id {cid} is outside 0-{N_CONDITIONS - 1}")
    return cid


def condition_category_map(config: str | Path | Mapping[Any, Any] | None = None) -> dict[int, str]:
    """The condition id → category map (``"malignant"``, ``"inflammatory"`` or ``"benign"``).

    Parameters
    ----------
    config
        ``None`` for the docs/SPEC.md §1 default; a mapping (either ``{condition: category}`` or ``{"categories": {...}}``) whose
        keys are condition ids or exact condition names; or the path of a YAML file holding such a mapping
        (``configs/categories.yaml`` is the shipped default).

    Returns
    -------
    dict[int, str]
        All 10 condition ids mapped to a category.

    Raises
    ------
    ConfigError
        If the file is missing or not YAML, a key is not a condition, a value is not a category, a condition is missing,
        or a malignant condition (ids 0-3) is put outside the malignant category (that would contradict the binary task).
    """
    if config is None:
        return dict(DEFAULT_CATEGORY_MAP)
    where = "category map"
    if isinstance(config, (str, Path)):
        path = Path(config)
        where = str(path)
        data = read_yaml(
            path,
            f"Category config {path}",
            missing=f"Category config {path} not found; expected a YAML file like {DEFAULT_CONFIG_PATH.name}",
        )
    else:
        data = config
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of condition → category, got {type(data).__name__}")
    if "categories" in data:
        data = data["categories"]
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: 'categories' must be a mapping of condition → category")
    out: dict[int, str] = {}
    for key, value in data.items():
        cid = _condition_key(key, where)
        if value not in CATEGORIES:
            raise ConfigError(f"{where}: category {value!r} for condition {cid} is not one of {list(CATEGORIES)}")
        if cid in out:
            raise ConfigError(f"{where}: condition {cid} ({CONDITIONS[cid]}) is listed twice")
        out[cid] = value
    missing = [i for i in range(N_CONDITIONS) if i not in out]
    if missing:
        raise ConfigError(f"{where}: conditions {missing} have no category; expected all ids 0-{N_CONDITIONS - 1}")
    wrong = [i for i in sorted(MALIGNANT_IDS) if out[i] != "malignant"]
    if wrong:
        raise ConfigError(f"{where}: malignant conditions {wrong} must stay in the 'malignant' category")
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------------------------------------------------
# Label matches

MAPPED_EXACT = "exact"
MAPPED_KEYWORD = "keyword"
MAPPED_PARTITION = "partition"
UNMAPPED = "unmapped→Other"


@dataclass(frozen=True)
class LabelMatch:
    """The result of mapping one raw label: the condition id and how it was found."""

    condition_id: int
    mapped_by: str

    @property
    def mapped(self) -> bool:
        return self.mapped_by != UNMAPPED


# ---------------------------------------------------------------------------------------------------------------------
# Native label maps (docs/SPEC.md §2)

#: HAM10000 ``dx`` (also ISIC 2018 Task 3 and DermaMNIST). akiec also holds Bowen's disease / in-situ SCC; bkl also holds
#: solar lentigo and lichen-planus-like keratosis.
HAM_DX: dict[str, int] = {"mel": 0, "bcc": 1, "akiec": 3, "nv": 4, "bkl": 5, "df": 6, "vasc": 7}
#: PAD-UFES-20 ``diagnostic``.
PAD_DIAGNOSTIC: dict[str, int] = {"MEL": 0, "BCC": 1, "SCC": 2, "ACK": 3, "NEV": 4, "SEK": 5}
#: ISIC 2019 one-hot ground-truth columns. ``UNK`` ("none of the others") is Other by definition.
ISIC2019_COLUMNS: dict[str, int] = {
    "MEL": 0,
    "NV": 4,
    "BCC": 1,
    "AK": 3,
    "BKL": 5,
    "DF": 6,
    "VASC": 7,
    "SCC": 2,
    "UNK": 9,
}
#: MedMNIST DermaMNIST label index → HAM ``dx`` code (index order 0..6).
DERMAMNIST_CLASSES: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
#: ISIC-Archive diagnosis leading terms (lower case, text before the first comma; e.g. "Melanoma, NOS" → "melanoma").
ISIC_ARCHIVE_TERMS: dict[str, int] = {
    "melanoma": 0,
    "melanoma in situ": 0,
    "melanoma invasive": 0,
    "melanoma metastasis": 0,
    "lentigo maligna": 0,
    "lentigo maligna melanoma": 0,
    "basal cell carcinoma": 1,
    "squamous cell carcinoma": 2,
    "squamous cell carcinoma in situ": 2,
    "squamous cell carcinoma invasive": 2,
    "solar or actinic keratosis": 3,
    "actinic keratosis": 3,
    "nevus": 4,
    "benign melanocytic proliferations": 4,
    "seborrheic keratosis": 5,
    "pigmented benign keratosis": 5,
    "solar lentigo": 5,
    "lichen planus like keratosis": 5,
    "lichen planus-like keratosis": 5,
    "dermatofibroma": 6,
    "hemangioma": 7,
    "angioma": 7,
    "angiokeratoma": 7,
    "pyogenic granuloma": 7,
    "vascular lesion": 7,
}

#: Ordered keyword rules for free-text disease names (DDI, Fitzpatrick17k, archive fall-back). Text is lower-cased and
#: hyphens/underscores become spaces before matching; the first rule that matches wins, so specific rules come first
#: (melanoma before nevus, "lentigo maligna" before "lentigo", "seborrheic keratosis" before "dermatitis", benign
#: keratoses before the "lichen" inflammatory keyword). Non-melanocytic "nevi" (sebaceous, epidermal, Becker, comedonicus,
#: lipomatosus) are hamartomas, not melanocytic nevi: they are mapped to Other on purpose.
KEYWORD_RULES: tuple[tuple[int, str], ...] = (
    (0, r"melanoma|lentigo maligna"),
    (1, r"basal cell|\bbcc\b"),
    (2, r"squamous cell|keratoacanthoma|\bbowen"),
    (3, r"actinic keratos|solar keratos"),
    (9, r"nevus sebaceous|naevus sebaceous|epidermal nevus|becker nevus|n[a]?evus comedonicus|nevus lipomatosus"),
    (4, r"\bn[a]?ev(us|i)\b"),
    (5, r"seborrh?eic keratos|lichenoid keratos|lichen planus like keratos|benign keratos|solar lentigo"),
    (6, r"dermatofibroma"),
    (7, r"angioma|angiokeratoma|pyogenic granuloma|granuloma pyogenic|vascular|port wine|telangiecta|venous lake"),
    (
        8,
        r"dermatitis|eczema|psoria|lichen|verruca|\bwarts?\b|infection|fungal|onychomycosis|tinea|rosacea|\bacne\b"
        r"|folliculitis|impetigo|lupus|vitiligo|urticaria|alopecia|scabies|herpes|cellulitis|keloid"
        r"|granuloma annulare|pityriasis|prurigo|morphea|scleroderma|pemphig|bullous|molluscum|abscess"
        r"|condyloma|coccidioidomycosis|graft vs host|dermatomyositis|physical injur|ulceration|\bscars?\b"
        r"|foreign body granuloma|hyperpigmentation|hematoma",
    ),
)
_KEYWORD_PATTERNS: tuple[tuple[int, re.Pattern[str]], ...] = tuple((cid, re.compile(p)) for cid, p in KEYWORD_RULES)


def normalise_text(raw: str) -> str:
    """Lower-case, hyphens/underscores to spaces, whitespace collapsed ("basal-cell-carcinoma" → "basal cell carcinoma")."""
    return " ".join(re.sub(r"[-_]+", " ", str(raw)).lower().split())


def keyword_condition(raw: str) -> LabelMatch:
    """Map free text (DDI disease, Fitzpatrick17k label, ...) by the ordered :data:`KEYWORD_RULES`.

    Returns ``LabelMatch(9, "unmapped→Other")`` when no rule matches; the caller must record that in its audit.
    """
    text = normalise_text(raw)
    for cid, pattern in _KEYWORD_PATTERNS:
        if text and pattern.search(text):
            return LabelMatch(cid, MAPPED_KEYWORD)
    return LabelMatch(OTHER_ID, UNMAPPED)


def _exact(table: Mapping[str, int], raw: str) -> LabelMatch:
    cid = table.get(raw)
    return LabelMatch(cid, MAPPED_EXACT) if cid is not None else LabelMatch(OTHER_ID, UNMAPPED)


def map_ham_dx(raw: str) -> LabelMatch:
    """HAM10000 / ISIC 2018 / DermaMNIST ``dx`` code (exact, case-sensitive as published: lower case)."""
    return _exact(HAM_DX, str(raw).strip())


def map_pad_diagnostic(raw: str) -> LabelMatch:
    """PAD-UFES-20 ``diagnostic`` code (exact, upper case as published)."""
    return _exact(PAD_DIAGNOSTIC, str(raw).strip())


def map_isic2019_column(column: str) -> LabelMatch:
    """ISIC 2019 one-hot ground-truth column name."""
    return _exact(ISIC2019_COLUMNS, str(column).strip())


def archive_leading_term(raw: str) -> str:
    """The leading term of an ISIC-Archive diagnosis: text before the first comma, lower case, single-spaced."""
    return " ".join(str(raw).split(",", 1)[0].lower().split())


def map_isic_archive(raw: str) -> LabelMatch:
    """An ISIC-Archive diagnosis string such as ``"Melanoma, NOS"`` or ``"Solar or actinic keratosis"``.

    The leading term is looked up case-insensitively in :data:`ISIC_ARCHIVE_TERMS` (``"exact"``); otherwise the keyword
    rules are tried on the whole string (``"keyword"``); otherwise the label is unmapped.
    """
    term = archive_leading_term(raw)
    if term in ISIC_ARCHIVE_TERMS:
        return LabelMatch(ISIC_ARCHIVE_TERMS[term], MAPPED_EXACT)
    return keyword_condition(raw)


def map_ddi_disease(raw: str) -> LabelMatch:
    """A DDI hyphenated disease name (``"melanoma-in-situ"``, ``"verruca-vulgaris"``) by keywords."""
    return keyword_condition(raw)


def map_fitzpatrick17k(label: str, three_partition: str | None = None) -> LabelMatch:
    """A Fitzpatrick17k ``label`` by keywords; an unmatched label whose ``three_partition_label`` is
    ``non-neoplastic`` goes to Non-Neoplastic (8) with ``mapped_by="partition"`` (the dataset's own annotation);
    any other unmatched label is returned unmapped (Other) for the audit."""
    match = keyword_condition(label)
    if match.mapped:
        return match
    if three_partition is not None and normalise_text(three_partition) == "non neoplastic":
        return LabelMatch(NON_NEOPLASTIC_ID, MAPPED_PARTITION)
    return match


#: Fitzpatrick17k ``three_partition_label`` → malignant flag.
FITZ17K_PARTITION_MALIGNANT: dict[str, int] = {"malignant": 1, "benign": 0, "non-neoplastic": 0}
