"""Model card rendering: markdown with YAML front matter, generated from a bundle manifest and its evaluation.

Every number in the card comes from the inputs (manifest, metrics, per-group results); the only fixed prose is the
intended-use statement and the headings. Parsed back by :func:`skintag.cards.load_model_card`.

Accepted shapes
---------------
metrics
    ``{metric: value}`` or ``{evaluation set: {metric: value}}``, where a value is a number or an estimate dict
    ``{"value": v, "ci_low": lo, "ci_high": hi, ...}`` (as :meth:`skintag.metrics.Estimate.to_dict` writes).
per_group
    a list of row dicts (or a pandas DataFrame), or ``{evaluation set: rows}``; each row has a group label
    (``fitzpatrick_group``, ``group`` or ``fitzpatrick``), a size ``n`` (and optionally ``n_pos``), and metrics as above.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

INTENDED_USE = (
    "A screening and triage aid for clinicians: it estimates how likely a skin lesion photograph shows a malignant or "
    "pre-cancerous condition, to help prioritise referral. It is **not a diagnostic device** and must not be used to "
    "diagnose, to rule out cancer, or without a clinician's judgement; it has not been evaluated prospectively."
)
#: A Fitzpatrick group evaluated on fewer images than this is reported as scarce in the known limits.
SMALL_GROUP_N = 30
_GROUP_KEYS = ("fitzpatrick_group", "group", "fitzpatrick")
_DARK_GROUPS = ("V-VI",)
#: Labels of the darkest skin types when rows are per Fitzpatrick type rather than per group.
_DARK_TYPES = ("5", "6", "V", "VI")


def _is_estimate(v: Any) -> bool:
    return isinstance(v, Mapping) and "value" in v


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if v.is_integer() and abs(v) >= 1000:
            return f"{int(v):,}"
        return f"{v:.{digits}f}"
    return str(v)


def fmt_value(v: Any) -> str:
    """A metric for a table: ``0.812 (0.780–0.840)`` for an estimate with a CI, else the number."""
    if _is_estimate(v):
        value, lo, hi = v.get("value"), v.get("ci_low"), v.get("ci_high")
        text = _num(value)
        if lo is not None and hi is not None and not (isinstance(lo, float) and math.isnan(lo)):
            text += f" ({_num(lo)}–{_num(hi)})"
        return text
    if isinstance(v, Mapping):
        return ", ".join(f"{_label(str(k))}: {fmt_value(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_value(x) for x in v)
    return _num(v)


def _label(key: str) -> str:
    special = {
        "auc": "AUC",
        "macro_auc": "macro AUC (one-vs-rest)",
        "ece": "ECE",
        "ece_raw": "ECE before calibration",
        "ece_calibrated": "ECE after calibration",
        "n": "n",
        "n_pos": "n malignant",
        "n_malignant": "n malignant",
        "malignant_auc": "malignant AUC",
        "malignant_auc_raw": "malignant AUC (uncalibrated)",
        "macro_auc_ovr": "macro AUC (one-vs-rest)",
    }
    return special.get(key, key.replace("_", " "))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def esc(s: str) -> str:
        return str(s).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _metric_sets(metrics: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Split metrics into named sets: flat -> {"": metrics}; nested -> {set: metrics}."""
    nested = {k: v for k, v in metrics.items() if isinstance(v, Mapping) and not _is_estimate(v)}
    flat = {k: v for k, v in metrics.items() if k not in nested}
    out: dict[str, Mapping[str, Any]] = {}
    if flat:
        out[""] = flat
    out.update(nested)
    return out


def _rows_of(per_group: Any) -> dict[str, list[dict[str, Any]]]:
    if per_group is None:
        return {}
    if hasattr(per_group, "to_dict") and hasattr(per_group, "columns"):
        per_group = per_group.to_dict("records")
    if isinstance(per_group, Mapping):
        return {str(k): _rows_of(v).get("", []) for k, v in per_group.items()}
    return {"": [dict(r) for r in per_group]}


def _group_of(row: Mapping[str, Any]) -> str:
    for key in _GROUP_KEYS:
        if key in row and row[key] is not None:
            return str(row[key])
    return "?"


def _render_metrics(metrics: Mapping[str, Any]) -> str:
    parts = []
    for name, values in _metric_sets(metrics).items():
        if name:
            parts.append(f"### {name.replace('_', ' ')}")
        parts.append(_table(["metric", "value (95 % CI)"], [[_label(k), fmt_value(v)] for k, v in values.items()]))
    return "\n\n".join(parts)


def _render_per_group(sets: Mapping[str, list[dict[str, Any]]]) -> str:
    parts = []
    for name, rows in sets.items():
        if name:
            parts.append(f"### {name.replace('_', ' ')}")
        if not rows:
            parts.append("No rows.")
            continue
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns and k not in _GROUP_KEYS]
        by_type = not any("fitzpatrick_group" in r or "group" in r for r in rows)
        headers = ["Fitzpatrick type" if by_type else "Fitzpatrick group"] + [_label(c) for c in columns]
        body = [[_group_of(r)] + [fmt_value(r.get(c)) for c in columns] for r in rows]
        parts.append(_table(headers, body))
    return "\n\n".join(parts)


def _calibration_lines(manifest: Mapping[str, Any], metrics: Mapping[str, Any] | None) -> list[str]:
    cal = manifest.get("calibration") or {}
    lines = []
    if cal:
        lines.append(
            f"- Method: {cal.get('method', 'n/a')}, fitted on {_num(cal.get('n_fit'))} validation images; "
            "tiers and operating points apply to the calibrated probability."
        )
    for set_name, values in _metric_sets(metrics or {}).items():
        for key, value in values.items():
            if "ece" in key.lower() or "brier" in key.lower():
                where = f" ({set_name.replace('_', ' ')})" if set_name else ""
                lines.append(f"- {_label(key)}{where}: {fmt_value(value)}")
    if summary := manifest.get("calibration_summary"):
        lines.append(f"- {fmt_value(summary)}")
    return lines or ["- No calibration information recorded."]


def _known_limits(manifest: Mapping[str, Any], group_sets: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    limits: list[str] = []
    size = manifest.get("image_size")
    if size is not None:
        note = " — fine structure (pigment network, vessels) is lost at this resolution" if int(size) <= 64 else ""
        limits.append(f"Input resolution is {size}×{size} px{note}.")
    names = list(manifest.get("class_names") or [])
    trained = (manifest.get("heads") or {}).get("condition", {}).get("classes")
    if names and trained is not None:
        absent = [names[i] for i in range(len(names)) if i not in set(trained)]
        if absent:
            limits.append(
                f"The condition head never predicts {len(absent)} of {len(names)} conditions absent from its training "
                f"data: {', '.join(absent)}."
            )
    if not group_sets:
        limits.append("No per-Fitzpatrick evaluation is recorded for this model; performance by skin type is unknown.")
    # per-group sets take precedence over per-type sets of the same evaluation (no duplicated statements)
    grouped = {k: v for k, v in group_sets.items() if any("fitzpatrick_group" in r or "group" in r for r in v)}
    for set_name, rows in (grouped or group_sets).items():
        where = f" in {set_name.replace('_', ' ')}" if set_name else ""
        by_group = {_group_of(r): r for r in rows}
        dark_labels = _DARK_GROUPS if set_name in grouped else _DARK_TYPES
        n_dark = sum(int(by_group[g].get("n") or 0) for g in dark_labels if g in by_group)
        dark_name = "V-VI"
        if n_dark == 0:
            limits.append(f"No images of Fitzpatrick {dark_name} skin{where}: performance on dark skin is untested.")
        elif n_dark < SMALL_GROUP_N:
            limits.append(
                f"Only {n_dark} image{'s' if n_dark != 1 else ''} of Fitzpatrick {dark_name} skin{where} "
                f"(< {SMALL_GROUP_N}); its results are too "
                "uncertain to rely on."
            )
        for g, r in by_group.items():
            n = r.get("n")
            if g not in dark_labels and g != "unknown" and isinstance(n, (int, float)) and 0 < n < SMALL_GROUP_N:
                plural = "s" if int(n) != 1 else ""
                limits.append(f"Fitzpatrick {g}{where} has only {int(n)} image{plural} (< {SMALL_GROUP_N}).")
    td = manifest.get("training_data") or {}
    if isinstance(td, Mapping) and td.get("fitzpatrick_labelled") is False:
        limits.append(
            "The training images carry no Fitzpatrick skin-type labels, so training could not balance skin types."
        )
    limits += [str(x) for x in manifest.get("known_limits") or []]
    return limits


def _category_section(manifest: Mapping[str, Any]) -> str:
    names = list(manifest.get("class_names") or [])
    cmap = {int(k): str(v) for k, v in (manifest.get("category_map") or {}).items()}
    if not cmap:
        return "No category map recorded."
    rows = [[str(i), names[i] if i < len(names) else str(i), cmap[i]] for i in sorted(cmap)]
    text = _table(["id", "condition", "category"], rows)
    infl = [names[i] for i in sorted(cmap) if cmap[i] == "inflammatory" and i < len(names)]
    if infl:
        text += (
            "\n\nConditions shown in the inflammatory / reactive group (configurable in `configs/categories.yaml`): "
            + ", ".join(infl)
            + ". They are kept out of the green 'benign' group on purpose, so they are never presented as low risk."
        )
    return text


def render_model_card(
    manifest: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    per_group: Any = None,
) -> str:
    """Markdown model card with YAML front matter, generated from a bundle manifest and its evaluation.

    Parameters
    ----------
    manifest : the bundle manifest (``files`` may be absent: the card is written before the hash table).
    metrics : summary metrics (see the module docstring); default ``manifest["metrics"]``.
    per_group : per-Fitzpatrick results with group sizes; default ``manifest.get("per_group")``.

    Returns
    -------
    str
        The card text.
    """
    metrics = dict(metrics if metrics is not None else manifest.get("metrics") or {})
    group_sets = _rows_of(per_group if per_group is not None else manifest.get("per_group"))
    td = manifest.get("training_data") or {}
    backbone = manifest.get("backbone") or {}
    prep = manifest.get("preprocessing") or {}
    front = {
        "name": manifest.get("name"),
        "version": manifest.get("version"),
        "created": manifest.get("created"),
        "model_type": "SigLIP vision encoder + XGBoost heads",
        "backbone": backbone.get("hf_id") or backbone.get("path"),
        "backbone_revision": backbone.get("revision"),
        "image_size": manifest.get("image_size"),
        "embedding_size": manifest.get("embedding_size"),
        "licence": manifest.get("licence"),
        "training_datasets": list(td.get("datasets", [])) if isinstance(td, Mapping) else [],
        "split_file_sha256": td.get("split_file_sha256") if isinstance(td, Mapping) else None,
        "intended_use": "screening aid; not for diagnosis",
        "calibration": (manifest.get("calibration") or {}).get("method"),
        "thresholds": manifest.get("thresholds"),
        "operating_points": manifest.get("operating_points"),
    }
    front = {k: v for k, v in front.items() if v not in (None, [], {})}
    out = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip(), "---", ""]
    out.append(f"# Model card: {manifest.get('name', 'unnamed')} {manifest.get('version', '')}".rstrip())
    if manifest.get("description"):
        out += ["", str(manifest["description"])]
    out += ["", "## Intended use", "", INTENDED_USE]
    if manifest.get("intended_use"):
        out += ["", str(manifest["intended_use"])]

    out += ["", "## Model", ""]
    if backbone.get("source") == "huggingface":
        rev = backbone.get("revision") or "default branch"
        out.append(
            f"- Backbone: `{backbone.get('hf_id')}` from the Hugging Face Hub (revision {rev}), SigLIP vision tower."
        )
    elif backbone:
        cfg = backbone.get("config") or {}
        out.append(
            f"- Backbone: SigLIP vision tower stored in the bundle, {_num(backbone.get('n_parameters'))} parameters, "
            f"{_num(cfg.get('num_hidden_layers'))} layers, width {_num(cfg.get('hidden_size'))}, patch "
            f"{_num(cfg.get('patch_size'))} px."
        )
    if prep:
        out.append(
            f"- Input: {prep.get('image_size')}×{prep.get('image_size')} px, {prep.get('resample')} resize, "
            f"normalised with mean {prep.get('mean')} and std {prep.get('std')}."
        )
    if manifest.get("embedding_size") is not None:
        out.append(f"- Embedding: the attention-pooled (MAP) output, {manifest['embedding_size']} dimensions.")
    for kind, entry in (manifest.get("heads") or {}).items():
        out.append(f"- {kind.capitalize()} head: {entry.get('type')} (`{entry.get('file')}`).")
    th = manifest.get("thresholds") or {}
    if th:
        out.append(
            f"- Risk tiers on calibrated P(malignant): moderate from {_num(th.get('moderate'), 2)}, "
            f"high from {_num(th.get('high'), 2)}."
        )
    default_op = manifest.get("default_operating_point")
    for name, t in (manifest.get("operating_points") or {}).items():
        mark = " — the default" if name == default_op else ""
        out.append(
            f"- Operating point `{name}`: threshold {_num(t)} on calibrated P(malignant), chosen on validation{mark}."
        )

    out += ["", "## Training data", ""]
    if isinstance(td, Mapping) and td:
        for key, value in td.items():
            out.append(f"- {_label(key)}: {fmt_value(value)}")
    else:
        out.append("- Not recorded.")

    training = manifest.get("training")
    if isinstance(training, Mapping) and training:
        out += ["", "## Training procedure", ""]
        out += [f"- {_label(k)}: {fmt_value(v)}" for k, v in training.items() if v not in (None, {}, [])]

    out += ["", "## Metrics", ""]
    out.append(_render_metrics(metrics) if metrics else "No evaluation recorded.")
    out += ["", "## Results by Fitzpatrick skin type", ""]
    out.append(_render_per_group(group_sets) if group_sets else "No per-Fitzpatrick evaluation recorded.")
    out += ["", "## Calibration", ""] + _calibration_lines(manifest, metrics)
    out += ["", "## Condition categories", "", _category_section(manifest)]
    out += ["", "## Known limits", ""] + [f"- {x}" for x in _known_limits(manifest, group_sets)]
    if manifest.get("licence"):
        out += ["", "## Licence", "", str(manifest["licence"])]
    return "\n".join(out).rstrip() + "\n"
