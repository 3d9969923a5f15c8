"""Model card rendering: markdown with YAML front matter, generated from a bundle manifest, its evaluation metrics and
its evaluation predictions.

Every number in the card comes from the inputs; the only fixed prose is the intended-use statement and the headings.
The results by skin type are computed by the fairness engine's shared audit, :func:`skintag.fairness.rules.audit_table`,
at the rule triage applies (refer = MODERATE or above, per domain) with the Fairness Audit page's settings
(:data:`CARD_AUDIT`; patients resampled when the predictions carry ``patient_id``), so the card, ``python -m
skintag.fairness`` and the page show the same rates, intervals, evidence flags and verdicts for the same predictions. Parsed back by
:func:`skintag.cards.load_model_card`.

Accepted shapes
---------------
metrics
    ``{metric: value}`` or ``{evaluation set: {metric: value}}``, where a value is a number or an estimate dict
    ``{"value": v, "ci_low": lo, "ci_high": hi, ...}`` (as :meth:`skintag.stats.Estimate.to_dict` writes).
predictions
    ``{evaluation set: predictions table}`` with the columns ``y_true``, ``y_score`` and ``fitzpatrick`` (as the
    training pipeline writes ``eval/predictions_<set>.csv``; :func:`read_eval_predictions` reads them from a bundle).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from skintag import fitzpatrick
from skintag.fairness.data import read_predictions
from skintag.fairness.export import display_table, gap_table, markdown_table
from skintag.fairness.report import RATE_NAMES, FairnessReport
from skintag.fairness.rules import audit_table, default_rule
from skintag.stats import ECE_BINS

INTENDED_USE = (
    "A screening and triage aid for clinicians: it estimates how likely a skin lesion photograph shows a malignant or "
    "pre-cancerous condition, to help prioritise referral. It is **not a diagnostic device** and must not be used to "
    "diagnose, to rule out cancer, or without a clinician's judgement; it has not been evaluated prospectively."
)
#: A Fitzpatrick group evaluated on fewer images than this is reported as scarce in the known limits.
SMALL_GROUP_N = 30
#: The darkest skin types, whose scarcity in an evaluation is always stated.
_DARK_TYPES = fitzpatrick.SIX_LABELS[4:]
#: Settings of the per-skin-type audit: those the Fairness Audit page starts with (``random_state=0``, the engine's
#: defaults otherwise), so the page shows the card's numbers at the default operating point.
CARD_AUDIT: dict[str, Any] = {"random_state": 0}
#: The card's skin-type tables: heading suffix → grouping.
CARD_GROUPINGS = {"by type": "six", "by group": "three"}
#: Columns of the engine's display table shown on the card, with their card headers.
_CARD_COLUMNS = {"n": "n", "malignant": "malignant", "benign": "benign", "TPR": RATE_NAMES["tpr"],
                 "TNR": RATE_NAMES["tnr"], "AUROC": RATE_NAMES["auroc"], "ECE": "ECE", "flags": "flags"}


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






def _render_metrics(metrics: Mapping[str, Any]) -> str:
    parts = []
    for name, values in _metric_sets(metrics).items():
        if name:
            parts.append(f"### {name.replace('_', ' ')}")
        parts.append(_table(["metric", "value (95 % CI)"], [[_label(k), fmt_value(v)] for k, v in values.items()]))
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


def read_eval_predictions(bundle_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The evaluation predictions of a bundle, ``eval/predictions_<set>.csv`` → ``{set: table}`` (sorted by set)."""
    files = sorted((Path(bundle_dir) / "eval").glob("predictions_*.csv"))
    return {f.stem.removeprefix("predictions_"): read_predictions(f) for f in files}


def skin_type_reports(
    manifest: Mapping[str, Any], predictions: Mapping[str, pd.DataFrame] | None
) -> dict[str, FairnessReport]:
    """Fairness reports by skin type, ``"<set> (by type)"`` / ``"<set> (by group)"`` → report, for every evaluation
    set whose ``fitzpatrick`` column has a known value, by :func:`skintag.fairness.rules.audit_table` (the rule triage
    applies; the page's defaults) with :data:`CARD_AUDIT`."""
    out: dict[str, FairnessReport] = {}
    for name, df in (predictions or {}).items():
        if "fitzpatrick" not in df.columns:
            continue
        _, coarse, _ = fitzpatrick.parse_array(df["fitzpatrick"].to_numpy(dtype=object), accept="any")
        if not (coarse >= 0).any():
            continue
        for suffix, grouping in CARD_GROUPINGS.items():
            out[f"{name} ({suffix})"] = audit_table(df, manifest, grouping=grouping, **CARD_AUDIT)
    return out


def card_group_table(report: FairnessReport) -> pd.DataFrame:
    """The card's table of one report: the page's display cells (value and interval, ⚠ from fewer than the minimum
    cases) for n, malignant, benign, sensitivity, specificity, AUROC, ECE and the flags."""
    table = display_table(report)[list(_CARD_COLUMNS)].rename(columns=_CARD_COLUMNS)
    title = "Fitzpatrick type" if report.grouping == "six" else "Fitzpatrick group"
    return table.rename_axis(title)


def _render_skin_types(manifest: Mapping[str, Any], reports: Mapping[str, FairnessReport]) -> str:
    first = next(iter(reports.values()))
    rule = default_rule(manifest)
    where = f"{rule.words}" if rule else "the threshold 0.5 (the bundle records no rule)"
    unit = ("patients resampled within groups" if first.clustered else
            "images treated as independent (the predictions carry no patient id)")
    parts = [
        f"At {where}. Rates with {first.ci:.0%} Wilson intervals, AUROC with a bootstrap interval "
        f"({first.auroc_n_boot:,} resamples, random_state {first.random_state}), ECE over {ECE_BINS} bins; {unit} — "
        "computed by the fairness engine, as the Fairness Audit page shows them. A group with fewer than "
        f"{first.min_positives} malignant or {first.min_negatives} benign cases has the affected numbers flagged ⚠ "
        "as insufficient evidence (an AUROC so flagged gets no interval). Gap verdicts: "
        f"{first.method}."
    ]
    for name, report in reports.items():
        parts.append(f"### {name.replace('_', ' ')}")
        if rule and report.rule and report.rule != rule.words:  # e.g. a cross-fitted set's out-of-fold thresholds
            parts.append(f"At {report.rule}.")
        parts += [markdown_table(card_group_table(report)),
                  markdown_table(gap_table(report)[["difference", "tolerance", "verdict", "cases per group to decide"]])]
    return "\n\n".join(parts)


def _skin_type_limits(reports: Mapping[str, FairnessReport]) -> list[str]:
    """Scarce skin types per evaluation set, from the six-type reports."""
    limits: list[str] = []
    for name, report in reports.items():
        if report.grouping != "six":
            continue
        where = f" in {name.removesuffix(' (by type)').replace('_', ' ')}"
        n = report.by_group["n"]
        n_dark = int(sum(n.get(t, 0) for t in _DARK_TYPES))
        if n_dark == 0:
            limits.append(f"No images of Fitzpatrick V-VI skin{where}: performance on dark skin is untested.")
        elif n_dark < SMALL_GROUP_N:
            limits.append(
                f"Only {n_dark} image{'s' if n_dark != 1 else ''} of Fitzpatrick V-VI skin{where} "
                f"(< {SMALL_GROUP_N}); its results are too uncertain to rely on."
            )
        for g, size in n.items():
            if g not in _DARK_TYPES and g != fitzpatrick.UNKNOWN and 0 < size < SMALL_GROUP_N:
                limits.append(f"Fitzpatrick {g}{where} has only {int(size)} image{'s' if size != 1 else ''} "
                              f"(< {SMALL_GROUP_N}).")
    return limits


def _known_limits(manifest: Mapping[str, Any], reports: Mapping[str, FairnessReport]) -> list[str]:
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
    if not reports:
        limits.append("No per-Fitzpatrick evaluation is recorded for this model; performance by skin type is unknown.")
    limits += _skin_type_limits(reports)
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


def _triple(v: Any) -> str:
    try:
        est, lo, hi = (float(x) for x in v)
    except (TypeError, ValueError):
        return "n/a"
    return f"{est:.3f} ({lo:.3f}–{hi:.3f})"


def chosen_on_validation_note(manifest: Mapping[str, Any]) -> str | None:
    """A sentence when the default domain was calibrated on the validation split that also made the model's choices
    (its out-of-fold figures may then be slightly optimistic), else None."""
    name = manifest.get("default_domain")
    if not manifest.get("choices") or name not in (manifest.get("domains") or {}):
        return None
    return (f"The {name} domain was calibrated on the validation split, which also chose the head family, the "
            "test-time augmentation and the training length, so its out-of-fold figures may be slightly optimistic; "
            "the test split's figures are under Metrics.")


def _domains_section(manifest: Mapping[str, Any]) -> list[str]:
    """The card's image-domain section (bundle format 2): per domain its data, calibration, validated thresholds and
    the sensitivity / specificity they achieved out of fold; the domain detector and its validation."""
    domains = manifest.get("domains")
    if not isinstance(domains, Mapping) or not domains:
        return []
    rows = []
    for name, e in domains.items():
        cal = e.get("calibration") or {}
        how = f"{cal.get('method')}" + (f", cross-fitted ({cal.get('folds')} folds)" if cal.get("cross_fitted") else "")
        mod, high = (e.get("achieved") or {}).get("moderate", {}), (e.get("achieved") or {}).get("high", {})
        thr = e.get("thresholds") or {}
        crit = e.get("critical_sensitivity_oof")
        rows.append([name, ", ".join(e.get("datasets") or []), str(e.get("images")), str(e.get("patients") or "—"),
                     f"{float(e.get('prevalence') or 0):.1%}", how,
                     f"{float(thr.get('moderate', float('nan'))):.4f} / {float(thr.get('high', float('nan'))):.4f}",
                     _triple(mod.get("sensitivity")), _triple(mod.get("specificity")),
                     "n/a" if crit is None else f"{crit:.3f} ({e.get('n_critical')})",
                     _triple(high.get("specificity")),
                     f"{float(e.get('ece_oof', float('nan'))):.3f}"])
    out = ["", "## Image domains", "",
           "Each domain has its own calibrator, tier thresholds and reliability table, fitted on that domain's "
           "calibration/validation images only and never on test rows. MODERATE is the screening point (the target "
           "sensitivity, melanoma included on its own); a score at or above it is never LOW. HIGH reaches the target "
           "specificity. Every number here is out of fold: calibrator and thresholds were refitted without the "
           "held-out patients (patient-cluster bootstrap CIs where patients are known, Wilson otherwise).", "",
           _table(["domain", "data", "images", "patients", "malignant", "calibration", "MODERATE / HIGH threshold",
                   "sensitivity ≥ MODERATE", "specificity < MODERATE", "melanoma sensitivity (n)",
                   "specificity < HIGH", "ECE (out of fold)"], rows)]
    if note := chosen_on_validation_note(manifest):
        out += ["", note]
    det = manifest.get("domain_detector")
    if isinstance(det, Mapping) and det:
        val = det.get("validation") or {}
        rec = val.get("recognised_in_domain") or {}
        reads = val.get("reads")
        where = "the backbone embedding" if not reads else \
            f"the {reads}{' of the ensemble embedding' if reads == 'lead tower' else ''}"
        alternatives = val.get("alternatives") or {}
        chosen = "" if not alternatives else (
            " (chosen on validation as the input whose lowest per-domain recognition is highest: "
            + "; ".join(f"{k}: " + ", ".join(f"{d} {float(v):.3f}" for d, v in r.items())
                        for k, r in alternatives.items()) + ")")
        out += ["", f"Domain detector: {det.get('method')} distance on {where}{chosen} (Ledoit-Wolf covariance "
                f"per domain), threshold = the {float(det.get('threshold_quantile', 0)):.0%} quantile of each domain's "
                "validation distances (" + ", ".join(f"{k} {float(v):.2f}" for k, v in (det.get("thresholds") or {}).items())
                + "). Validation (each held-out image judged against a threshold set without its fold): "
                + ", ".join(f"{k} images recognised as in-domain {float(v):.1%}" for k, v in rec.items())
                + (f"; uniform-noise images out of domain {float(val['noise_out_of_domain']):.0%} of "
                   f"{val.get('n_noise')}" if "noise_out_of_domain" in val else "")
                + "".join(f"; {k.replace('_', ' ')} {float(v):.3f}" for k, v in val.items() if k.startswith("auroc"))
                + ". An image outside every domain is never tiered LOW and gets no interval."]
    return out


def run_epochs_text(run: Mapping[str, Any]) -> str:
    """A compared run's epochs: run, and planned when it stopped early (``"57 of 80"``)."""
    planned = run.get("epochs_planned")
    return f"{run['epochs']}" if planned in (None, run["epochs"]) else f"{run['epochs']} of {planned}"


def compared_runs_rule(training_length: Mapping[str, Any]) -> str:
    """How the compared runs are chosen between (the card's and the training report's words)."""
    share = training_length.get("min_detector_recognition")
    eligible = ("" if share is None else f"eligible: the domain detector recognises at least {share:.2f} of every "
                "domain's validation images; among them, ")
    return f"{eligible}chosen: the highest validation accuracy of each run's chosen heads, ties macro AUC"


#: Header of the table of compared runs (the card's and the training report's); :func:`compared_run_cells` fills it.
COMPARED_RUNS_HEADER = ["run", "backbone: layers × width, parameters", "epochs run (planned)", "best epoch", "heads",
                        "val accuracy", "val macro AUC", "detector recognises (val, per domain)", "test split",
                        "chosen"]


def compared_run_cells(run: Mapping[str, Any]) -> list[str]:
    """One row of :data:`COMPARED_RUNS_HEADER`. A run summarised before a field was recorded shows "—" there; a run
    whose detector recognises too few validation images is marked "not eligible"; "test split" gives a compared run's
    test numbers if its test split was read (this bundle's own are in the metrics)."""
    size = run.get("backbone") or {}
    backbone = "—"
    if size.get("num_hidden_layers") and size.get("hidden_size"):
        params = f", {size['parameters'] / 1e6:.2f} M" if size.get("parameters") else ""
        backbone = f"{size['num_hidden_layers']} × {size['hidden_size']}{params}"
    if run.get("members"):
        backbone += " with " + ", ".join(run["members"])
    recognised = ", ".join(f"{d} {v:.3f}" for d, v in (run.get("detector_recognised") or {}).items()) or "—"
    test = run.get("test")
    if run["run"] == "this bundle":
        test_text = "read: the metrics below"
    elif "test" not in run:
        test_text = "—"
    else:
        test_text = ("not read" if test is None
                     else f"read: ACC {test['accuracy']:.4f}, macro AUC {test['macro_auc']:.4f}")
    chosen = "yes" if run["chosen"] else ("" if run.get("eligible", True) else "not eligible")
    return [str(run["run"]), backbone, run_epochs_text(run), str(run["best_epoch"]), str(run["heads"]),
            f"{run['val_accuracy']:.4f}", f"{run['val_macro_auc']:.4f}", recognised, test_text, chosen]


def head_family(manifest: Mapping[str, Any]) -> str:
    """The heads' family ("xgboost", "logistic"): the validation choice's, else the binary head's manifest type."""
    ch = manifest.get("choices") or {}
    return str(ch.get("head_family") or ((manifest.get("heads") or {}).get("binary") or {}).get("type") or "unknown")


def model_type(manifest: Mapping[str, Any]) -> str:
    """One line: the backbone (one SigLIP tower or an ensemble of them) and the heads' family."""
    members = ((manifest.get("backbone") or {}).get("config") or {}).get("members")
    tower = f"ensemble of {len(members)} SigLIP vision encoders" if members else "SigLIP vision encoder"
    names = {"xgboost": "XGBoost", "logistic": "logistic regression"}
    family = head_family(manifest)
    return f"{tower} + {names.get(family, family)} heads"


def _choices_section(manifest: Mapping[str, Any]) -> list[str]:
    ch = manifest.get("choices")
    if not isinstance(ch, Mapping) or not ch:
        return []
    val = ch.get("validation") or {}
    tl = ch.get("training_length") or {}
    backbones = ch.get("backbones") or []
    out = ["", "## Choices made on validation", "",
           f"- Head family: **{ch.get('head_family')}**; test-time augmentation: **{ch.get('test_time_augmentation')}**"
           + (f"; backbones: **an ensemble of {len(backbones)}** ({', '.join(backbones)}; one head each, probabilities "
              "averaged)" if len(backbones) > 1 else "") + f" (rule: {ch.get('rule')}).",
           "- Validation numbers of the choice: " + ", ".join(f"{_label(k)} {float(v):.4f}" for k, v in val.items()) + "."]
    if tl:
        out.append(f"- Training length: best epoch {tl.get('best_epoch')} of {tl.get('epochs_run')} by validation "
                   f"{tl.get('early_stopping_metric')} (early stopping).")
    if runs := tl.get("compared_runs"):
        out += ["- Training lengths and backbone sizes compared (whole runs, the same split; "
                + compared_runs_rule(tl) + "):", "",
                _table(COMPARED_RUNS_HEADER, [compared_run_cells(r) for r in runs])]
    return out


def render_model_card(
    manifest: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    *,
    predictions: Mapping[str, pd.DataFrame] | None = None,
) -> str:
    """Markdown model card with YAML front matter, generated from a bundle manifest and its evaluation.

    Parameters
    ----------
    manifest : the bundle manifest (``files`` may be absent: the card is written before the hash table).
    metrics : summary metrics (see the module docstring); default ``manifest["metrics"]``.
    predictions : evaluation predictions per set (see the module docstring; :func:`read_eval_predictions`); the
        results by skin type are computed from them by :func:`skin_type_reports`. Without them the card says that
        performance by skin type is unknown.

    Returns
    -------
    str
        The card text.
    """
    metrics = dict(metrics if metrics is not None else manifest.get("metrics") or {})
    reports = skin_type_reports(manifest, predictions)
    td = manifest.get("training_data") or {}
    backbone = manifest.get("backbone") or {}
    prep = manifest.get("preprocessing") or {}
    front = {
        "name": manifest.get("name"),
        "version": manifest.get("version"),
        "created": manifest.get("created"),
        "model_type": model_type(manifest),
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
        if cfg.get("members"):
            out.append(f"- Backbone: an ensemble of {len(cfg['members'])} SigLIP vision towers stored in the bundle, "
                       f"{_num(backbone.get('n_parameters'))} parameters in all, patch {_num(cfg.get('patch_size'))} "
                       "px; its embedding is the towers' embeddings side by side:")
            out += [f"  - tower {i}: {_num(m.get('n_parameters'))} parameters, {_num(m.get('num_hidden_layers'))} "
                    f"layers, width {_num(m.get('hidden_size'))}" for i, m in enumerate(cfg["members"])]
        else:
            out.append(
                f"- Backbone: SigLIP vision tower stored in the bundle, {_num(backbone.get('n_parameters'))} "
                f"parameters, {_num(cfg.get('num_hidden_layers'))} layers, width {_num(cfg.get('hidden_size'))}, "
                f"patch {_num(cfg.get('patch_size'))} px."
            )
    if prep:
        out.append(
            f"- Input: {prep.get('image_size')}×{prep.get('image_size')} px, {prep.get('resample')} resize, "
            f"normalised with mean {prep.get('mean')} and std {prep.get('std')}."
        )
    if manifest.get("embedding_size") is not None:
        out.append(f"- Embedding: the attention-pooled (MAP) output, {manifest['embedding_size']} dimensions.")
    for kind, entry in (manifest.get("heads") or {}).items():
        what = entry.get("type")
        if what == "ensemble":
            what = f"mean of one {head_family(manifest)} head per tower"
        out.append(f"- {kind.capitalize()} head: {what} (`{entry.get('file')}`).")
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

    out += _choices_section(manifest)
    out += _domains_section(manifest)
    out += ["", "## Metrics", ""]
    out.append(_render_metrics(metrics) if metrics else "No evaluation recorded.")
    out += ["", "## Results by Fitzpatrick skin type", ""]
    out.append(_render_skin_types(manifest, reports) if reports else "No per-Fitzpatrick evaluation recorded.")
    out += ["", "## Calibration", ""] + _calibration_lines(manifest, metrics)
    out += ["", "## Condition categories", "", _category_section(manifest)]
    out += ["", "## Known limits", ""] + [f"- {x}" for x in _known_limits(manifest, reports)]
    if manifest.get("licence"):
        out += ["", "## Licence", "", str(manifest["licence"])]
    return "\n".join(out).rstrip() + "\n"
