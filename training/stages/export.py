"""Stage ``export``: write the final model bundle to ``export.out_dir`` (e.g. ``models/demo``) with the evaluation
files (``eval/metrics.json``, ``eval/predictions_<set>.csv``, the split, the fine-tuning history and the validation
results table) and a model card whose numbers come from ``metrics.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.rundir import RunDir, read_json
from training.stages.evaluate import assemble_bundle, test_set_name

STAGE = "export"
# Headline metrics copied into the manifest (and so into the model card), per evaluation set.
HEADLINE = ("accuracy", "macro_auc_ovr", "malignant_auc", "malignant_auc_raw", "ece_raw", "ece_calibrated")


def manifest_metrics(metrics: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, per_group) for the manifest: headline estimates per set, and per-Fitzpatrick rows per set."""
    summary: dict[str, Any] = {}
    per_group: dict[str, Any] = {}
    op = metrics["default_operating_point"]
    for name, res in metrics["sets"].items():
        o = res["overall"]
        keys = [*HEADLINE, f"sensitivity@{op}", f"specificity@{op}"]
        summary[name] = {"n": o["n"], "n_malignant": o["n_malignant"], **{k: o[k] for k in keys if o.get(k) is not None}}
        if name in (metrics.get("per_row_thresholds") or {}):  # a cross-fitted set: say what the rates are at
            for k in (f"sensitivity@{op}", f"specificity@{op}"):
                if k in summary[name]:
                    summary[name][f"{k} (each photo at its out-of-fold threshold)"] = summary[name].pop(k)
        for by in ("fitzpatrick", "fitzpatrick_group"):
            rows = res["per_group"].get(by)
            if rows and any(r[by] != "unknown" for r in rows):
                per_group[f"{name} (by {'type' if by == 'fitzpatrick' else 'group'})"] = rows
    return summary, per_group


def run_stage(cfg: dict[str, Any], run: RunDir) -> dict[str, Any]:
    ev = run.root / "evaluate"
    metrics_path = run.require(ev / "metrics.json", stage=STAGE, producer="evaluate")
    metrics = read_json(metrics_path)
    extra: dict[str, Path] = {"eval/metrics.json": metrics_path}
    for name in metrics["sets"]:
        extra[f"eval/predictions_{name}.csv"] = run.require(ev / f"predictions_{name}.csv", stage=STAGE, producer="evaluate")
    if (run.root / "finetune" / "history.json").is_file():
        extra["eval/finetune_history.json"] = run.root / "finetune" / "history.json"
    extra["eval/results_val.csv"] = run.require(run.root / "heads" / "results_val.csv", stage=STAGE, producer="heads")
    summary, per_group = manifest_metrics(metrics)
    out = assemble_bundle(cfg, run, Path(cfg["export"]["out_dir"]), extra_files=extra, metrics=summary,
                          per_group=per_group or None)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"[export] bundle written to {out} ({size / 1e6:.2f} MB); test set {test_set_name(cfg)}")
    run.done(STAGE, {"out_dir": str(out), "bytes": size})
    return {"out_dir": str(out), "bytes": size}
