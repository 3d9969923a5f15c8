"""Write a training run's report (markdown) from its run directory and exported bundle: the rebuild command and its
measured time, the model, the fine-tuning history, validation results of every head, test metrics with CIs beside the
MedMNIST v2 references, and the external PAD-UFES-20 results by skin type. Every number is read from the run's files.

``python -m training.report --config configs/demo.yaml --out docs/demo_training.md``
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from skintag.model.card import (
    COMPARED_RUNS_HEADER,
    chosen_on_validation_note,
    compared_run_cells,
    compared_runs_rule,
    model_type,
)
from training.config import load_config, resolve_path
from training.rundir import RunDir
from training.stages.evaluate import test_set_name

#: Published DermaMNIST test results (Yang et al., MedMNIST v2, Sci. Data 10:41, 2023): (ACC, AUC).
MEDMNIST_V2_DERMAMNIST: dict[str, tuple[float, float]] = {
    "ResNet-18 (28)": (0.735, 0.917),
    "ResNet-18 (224)": (0.754, 0.920),
    "ResNet-50 (28)": (0.735, 0.913),
    "ResNet-50 (224)": (0.731, 0.912),
    "auto-sklearn": (0.719, 0.902),
    "AutoKeras": (0.749, 0.915),
    "Google AutoML Vision": (0.768, 0.914),
}


def _ci(e: dict[str, Any] | None, digits: int = 3) -> str:
    if not e or e.get("value") is None:
        return "n/a"
    if e.get("ci_low") is None:
        return f"{e['value']:.{digits}f}"
    return f"{e['value']:.{digits}f} ({e['ci_low']:.{digits}f}–{e['ci_high']:.{digits}f})"


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _rel(path: str) -> str:
    from skintag.settings import REPO_ROOT

    p = Path(path)
    return str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else str(p)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def medmnist_table(metrics: dict[str, Any], test_name: str, model_name: str) -> str:
    """The MedMNIST v2 reference rows beside this bundle's test ACC and AUC with 95 % CIs (from ``metrics.json``)."""
    test = metrics["sets"][test_name]["overall"]
    rows = [[name, f"{a:.3f}", f"{u:.3f}"] for name, (a, u) in MEDMNIST_V2_DERMAMNIST.items()]
    rows.append([f"**SkinTag {model_name}** (95 % CI)", f"**{_ci(test['accuracy'])}**", f"**{_ci(test['macro_auc_ovr'])}**"])
    return _md_table(["model", "ACC", "AUC"], rows)


README_BEGIN, README_END = "<!-- demo-model:begin -->", "<!-- demo-model:end -->"


def _total_seconds(cfg: dict[str, Any]) -> tuple[float, float]:
    """(whole rebuild, fine-tuning epochs) in seconds, from the run directory's timings and fine-tuning history."""
    run = Path(cfg["run_dir"])
    timings = json.loads((run / "timings.json").read_text()) if (run / "timings.json").is_file() else {}
    hist_path = run / "finetune" / "history.json"
    history = json.loads(hist_path.read_text()) if hist_path.is_file() else None
    train_s = sum(h["seconds"] for h in history["history"]) if history else 0.0
    total = sum(max(float(timings.get(s) or 0.0), train_s if s == "finetune" else 0.0)
                for s in ("prepare", "embed", "finetune", "heads", "calibrate", "evaluate", "export"))
    return total, train_s


def member_finetune_seconds(run: Path) -> dict[str, float]:
    """{run name: seconds of fine-tuning epochs} of each other backbone in the run's chosen ensemble (empty: none)."""
    choice = run / "heads" / "choice.json"
    members = (json.loads(choice.read_text()).get("members") or []) if choice.is_file() else []
    return {Path(m).name: sum(e["seconds"] for e in
                              json.loads((resolve_path(m) / "finetune" / "history.json").read_text())["history"])
            for m in members}


def readme_block(cfg: dict[str, Any], config_path: str) -> str:
    """The README's demo-model section: rebuild command, its measured time, and the test metrics table."""
    bundle = Path(cfg["export"]["out_dir"])
    metrics = json.loads((bundle / "eval" / "metrics.json").read_text())
    test_name = test_set_name(cfg)
    total, train_s = _total_seconds(cfg)
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    others = member_finetune_seconds(Path(cfg["run_dir"]))
    return "\n".join([
        README_BEGIN,
        "```bash",
        f".venv/bin/python -m training all --config {config_path}",
        "```",
        "",
        f"Measured run time on this 2-core CPU machine (shared with other jobs, torch threads = {cfg['threads']}): "
        f"**{_minutes(total)}** ({_minutes(train_s)} of it fine-tuning)"
        + (f", after the ensemble's other {len(others)} backbones were fine-tuned by their own configs "
           f"({_minutes(sum(others.values()))} of fine-tuning epochs in all)" if others else "")
        + f". Bundle size {size / 1e6:.2f} MB.",
        "",
        f"DermaMNIST official test split ({test_name}, read only by `evaluate`; the model card's known limits give its "
        "history), beside MedMNIST v2:",
        "",
        medmnist_table(metrics, test_name, cfg["name"]),
        *domain_readme_lines(json.loads((bundle / "manifest.json").read_text())),
        README_END,
    ])


def domain_readme_lines(manifest: dict[str, Any]) -> list[str]:
    """One table of the bundle's image domains: out-of-fold sensitivity at MODERATE (melanoma too), specificity, ECE."""
    domains = manifest.get("domains") or {}
    if not domains:
        return []
    rows = [[name, ", ".join(e["datasets"]), str(e["images"]), str(e.get("patients") or "—"),
             _ci3(e["achieved"]["moderate"]["sensitivity"]),
             "n/a" if e.get("critical_sensitivity_oof") is None else f"{e['critical_sensitivity_oof']:.3f} (n = {e['n_critical']})",
             _ci3(e["achieved"]["moderate"]["specificity"]), f"{e['ece_oof']:.3f}"] for name, e in domains.items()]
    return ["", "Per image domain, out of fold (calibrator and thresholds refitted without the held-out patients; "
            "patient-cluster bootstrap 95 % CIs where patients are known):", "",
            _md_table(["domain", "data", "images", "patients", "sensitivity at MODERATE or above", "melanoma",
                       "specificity", "ECE"], rows)]


def update_readme(readme: Path, block: str) -> None:
    """Replace the text between the demo-model markers of ``readme`` with ``block``."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < 0:
        raise SystemExit(f"{readme} has no {README_BEGIN} … {README_END} markers")
    readme.write_text(text[:start] + block + text[end + len(README_END):], encoding="utf-8")


def choices_section(manifest: dict[str, Any], run: Path) -> list[str]:
    """What was chosen on validation (head family, test-time augmentation, training length) and the numbers behind it."""
    ch = manifest.get("choices")
    if not ch:
        return []
    out = ["## Choices made on validation only", "",
           f"Rule: {ch['rule']}. Chosen: **{ch['head_family']} heads**, test-time augmentation **{ch['test_time_augmentation']}** "
           "(dihedral8 = the embedding is the mean over the 8 flips/rotations of the 28-px input)"
           + (f", **an ensemble of {len(ch['backbones'])} backbones** ({', '.join(ch['backbones'])}: one head per "
              "backbone, probabilities averaged; `backbones` in the table)" if len(ch.get("backbones") or []) > 1
              else "") + ".", ""]
    res_val = run / "heads" / "results_val.csv"
    if res_val.is_file():
        t = pd.read_csv(res_val)
        cols = [c for c in ("model", "tta", "backbones", "val_accuracy", "val_macro_auc", "val_malignant_auc", "chosen")
                if c in t]
        out += [_md_table(cols, [[f"{v:.4f}" if isinstance(v, float) else v for v in r] for r in t[cols].itertuples(index=False)]), ""]
    tl = ch.get("training_length") or {}
    if tl.get("best_epoch"):
        last = (" Validation was still improving at the last epoch, so a longer run may do better."
                if tl["best_epoch"] == tl["epochs_run"] and not tl.get("compared_runs") else "")
        out += [f"Training length: the backbone kept is epoch {tl['best_epoch']} of {tl['epochs_run']} (early stopping on "
                f"validation {tl['early_stopping_metric']}, best {json.dumps(tl.get('best_val'))}).{last}", ""]
    if runs := tl.get("compared_runs"):
        out += ["Training lengths and backbone sizes compared as whole runs on the same split ("
                + compared_runs_rule(tl) + "):", "",
                _md_table(COMPARED_RUNS_HEADER, [compared_run_cells(r) for r in runs]), ""]
    return out


def domain_sections(manifest: dict[str, Any], metrics: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    """Per image domain: calibration data, validated thresholds and their out-of-fold sensitivity / specificity; the
    detector; then every non-test evaluation set (cross-fitted domains, leave-one-domain-out, external)."""
    out: list[str] = []
    domains = manifest.get("domains") or {}
    if domains:
        rows = []
        for name, e in domains.items():
            a = e["achieved"]
            rows.append([name, ", ".join(e["datasets"]), e["images"], e.get("patients") or "—", f"{e['prevalence']:.3f}",
                         f"{e['calibration']['method']} ({e['calibration']['folds']} folds)",
                         f"{e['thresholds']['moderate']:.4f}", f"{e['thresholds']['high']:.4f}",
                         _ci3(a["moderate"]["sensitivity"]), _ci3(a["moderate"]["specificity"]),
                         "n/a" if e.get("critical_sensitivity_oof") is None else
                         f"{e['critical_sensitivity_oof']:.3f} of {e.get('n_critical')}",
                         _ci3(a["high"]["specificity"]), f"{e['ece_oof']:.4f}"])
        out += ["## Image domains (out of fold, by patient where patients are known)", "",
                "MODERATE = screening point (target sensitivity "
                f"{next(iter(domains.values()))['targets']['moderate_sensitivity']}, melanoma included on its own); HIGH = "
                f"target specificity {next(iter(domains.values()))['targets']['high_specificity']}. Calibrator and thresholds "
                "were refitted in each fold without the held-out patients; the CIs are patient-cluster bootstrap (Wilson "
                "where a dataset has no patient ids).", "",
                _md_table(["domain", "data", "images", "patients", "prevalence", "calibration", "MODERATE", "HIGH",
                           "sensitivity ≥ MODERATE (95 % CI)", "specificity (95 % CI)", "melanoma sensitivity",
                           "specificity < HIGH", "ECE"], rows), ""]
        if note := chosen_on_validation_note(manifest):
            out += [note.replace("under Metrics", "in the test section above"), ""]
        det = manifest.get("domain_detector") or {}
        if det:
            out += [f"Domain detector: Mahalanobis distance (Ledoit-Wolf), thresholds {json.dumps(det['thresholds'])} "
                    f"(quantile {det['threshold_quantile']} of validation distances); validation {json.dumps(det['validation'])}.", ""]
    test_name = test_set_name(cfg)
    for name, res in metrics["sets"].items():
        if name == test_name:
            continue
        o = res["overall"]
        domain = (metrics.get("set_domains") or {}).get(name, "?")
        ops = (metrics.get("set_operating_points") or {}).get(name, metrics["operating_points"])
        op = metrics["default_operating_point"] if ops == metrics["operating_points"] else next(iter(ops))
        kind = ("out-of-fold scores of the domain's cross-fitted calibration" if name in (metrics.get("crossfit") or {}) else
                "leave-one-domain-out: scored with the other domain's calibration and thresholds" if name.startswith("lodo_")
                else "external set, domain detected per image")
        # a cross-fitted set is judged at each photo's out-of-fold threshold, not the shipped one chosen on all of them
        per_row = name in (metrics.get("per_row_thresholds") or {})
        at = "each photo at its fold's threshold, fitted without its patient" if per_row else f"p ≥ {ops[op]:.4f}"
        out += [f"## {name} (n = {o['n']}, {o['n_malignant']} malignant; {kind}; domain {domain}; CIs: {o.get('ci_method', 'bootstrap')})", "",
                _md_table(["metric", "value (95 % CI)"], [
                    ["malignant AUC", _ci(o["malignant_auc"])],
                    [f"sensitivity at {op} ({at})", _ci(o[f"sensitivity@{op}"])],
                    [f"specificity at {op}", _ci(o[f"specificity@{op}"])],
                    ["condition accuracy", _ci(o["accuracy"])],
                    ["ECE raw head score / calibrated", f"{_ci(o['ece_raw'], 4)} / {_ci(o['ece_calibrated'], 4)}"],
                ]), ""]
        for by, label in (("fitzpatrick", "Fitzpatrick type"), ("fitzpatrick_group", "Fitzpatrick group")):
            rows_g = res["per_group"].get(by)
            if rows_g:
                out += [f"By {label} (threshold {op}{'; each photo at its out-of-fold threshold' if per_row else ''}):", "",
                        _md_table([label, "n", "malignant", "AUC", "sensitivity", "specificity"],
                                  [[r[by], r["n"], r["n_pos"], _ci(r["malignant_auc"]), _ci(r["sensitivity"]),
                                    _ci(r["specificity"])] for r in rows_g]), ""]
    return out


def _ci3(v: list[float]) -> str:
    return f"{v[0]:.3f} ({v[1]:.3f}–{v[2]:.3f})"


def build_report(cfg: dict[str, Any], config_path: str = "<config>") -> str:
    run = Path(cfg["run_dir"])
    bundle = Path(cfg["export"]["out_dir"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    metrics = json.loads((bundle / "eval" / "metrics.json").read_text())
    timings = json.loads((run / "timings.json").read_text()) if (run / "timings.json").is_file() else {}
    history = json.loads((run / "finetune" / "history.json").read_text()) if (run / "finetune" / "history.json").is_file() else None
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    out: list[str] = [f"# Training report: `{cfg['name']}` {cfg['version']}", ""]
    out.append("Generated by `python -m training.report` from the run directory and the exported bundle; "
               "every number below is read from those files.")
    out += ["", "## Rebuild", "", "```", f"python -m training all --config {config_path}", "```", ""]
    train_s = sum(h["seconds"] for h in history["history"]) if history else 0.0
    rows = []
    for stage in ("prepare", "embed", "finetune", "heads", "calibrate", "evaluate", "export"):
        sec = timings.get(stage)
        if stage == "finetune" and history:
            sec = max(float(sec or 0.0), train_s)
        rows.append([stage, _minutes(sec) if sec is not None else "n/a"])
    total = sum(max(float(timings.get(s) or 0.0), train_s if s == "finetune" else 0.0)
                for s in ("prepare", "embed", "finetune", "heads", "calibrate", "evaluate", "export"))
    out.append(f"Measured on this machine ({platform.machine()}, 2 CPU cores shared with other jobs, "
               f"torch threads = {cfg['threads']}): **{_minutes(total)}** in all; the fine-tuning epochs took "
               f"{_minutes(train_s)}.")
    out += ["", _md_table(["stage", "wall time"], rows), "",
            "Stage times are those of the last run of each stage (`timings.json`); a rerun of `all` skips finished "
            "fine-tuning (its outputs match the config), so the fine-tuning row is the sum of the training run's epoch "
            "times (each epoch's training pass and validation), without its checkpoint writes and re-embedding.", ""]
    members = member_finetune_seconds(run)
    if members:
        out += ["The ensemble's other backbones were fine-tuned by their own configs (fine-tuning epochs: "
                + ", ".join(f"{name} {_minutes(sec)}" for name, sec in members.items())
                + "); their times are not in the total above.", ""]

    bb = manifest["backbone"]
    out += ["## Model", "",
            f"- Backbone: `{bb.get('architecture') or 'SiglipVisionModel'}` trained from scratch, "
            f"{bb.get('n_parameters', 0) / 1e6:.2f} M parameters, config {json.dumps(bb.get('config'))}; embedding size "
            f"{manifest['embedding_size']} (MAP-pooled{', the towers side by side' if members else ''}).",
            f"- Heads: {model_type(manifest).split(' + ')[1]}: binary (malignant) and condition, on the fine-tuned "
            f"embeddings (test-time augmentation: {manifest.get('test_time_augmentation') or 'none'}); calibration per image "
            f"domain (below); dermoscopic operating points "
            + ", ".join(f"{k} = {v:.4f}" for k, v in metrics["operating_points"].items()) + " (calibrated P(malignant)).",
            f"- Bundle size: {size / 1e6:.2f} MB ({size:,} bytes).", ""]
    if history:
        out += ["## Fine-tuning (validation after every epoch)", "",
                f"Best epoch {history['best_epoch']} of {history['epochs_run']} by validation "
                f"{cfg['finetune']['early_stopping_metric']}; the head trains on class-weighted cross-entropy "
                f"(weights ∝ frequency^-{cfg['finetune']['class_weight_power']}), so its validation accuracy is lower than the "
                "unweighted XGBoost condition head's.", ""]
        out.append(_md_table(["epoch", "train loss", "val ACC", "val macro AUC", "val malignant AUC", "seconds"],
                             [[h["epoch"], f"{h['train_loss']:.4f}", f"{h['val_accuracy']:.4f}", f"{h['val_macro_auc']:.4f}",
                               f"{h['val_malignant_auc']:.4f}", h["seconds"]] for h in history["history"]]))
        out.append("")
    out += choices_section(manifest, run)

    test_name = test_set_name(cfg)
    test = metrics["sets"][test_name]["overall"]
    op = metrics["default_operating_point"]
    out += [f"## Test: {test_name} (official split, n = {test['n']}, {test['n_malignant']} malignant)", ""]
    reads = sum(1 for e in RunDir(run).access_log() if e.get("split") == "test")
    out += [f"Only the `evaluate` stage reads these rows; this run directory's access log records {reads} read"
            f"{'s' if reads != 1 else ''} of them (the model card's known limits give the history across versions).", ""]
    out += ["Multi-class (7 DermaMNIST classes; accuracy and macro one-vs-rest AUC as in MedMNIST v2):", "",
            medmnist_table(metrics, test_name, cfg["name"]), ""]
    out += ["Binary malignant (melanoma, BCC, actinic keratosis vs the rest) and calibration:", "",
            _md_table(["metric", "value (95 % bootstrap CI)"], [
                ["malignant AUC (calibrated score)", _ci(test["malignant_auc"])],
                ["malignant AUC (raw head score)", _ci(test["malignant_auc_raw"])],
                [f"sensitivity at {op} (p ≥ {metrics['operating_points'][op]:.4f})", _ci(test[f"sensitivity@{op}"])],
                [f"specificity at {op}", _ci(test[f"specificity@{op}"])],
                ["ECE before calibration", _ci(test["ece_raw"], 4)],
                ["ECE after calibration", _ci(test["ece_calibrated"], 4)],
            ]), ""]
    base = metrics.get("baselines", {}).get(test_name, {})
    if base:
        out += ["Baselines on the same test rows (point estimates):", "",
                _md_table(["model", "ACC", "macro AUC", "malignant AUC"],
                          [[k, f"{v['accuracy']:.4f}", f"{v['macro_auc_ovr']:.4f}", f"{v['malignant_auc']:.4f}"] for k, v in base.items()]), ""]
    out += domain_sections(manifest, metrics, cfg)
    out += ["Reproduce every number above from the committed bundle and the shared images: "
            f"`python -m training.reproduce --bundle {_rel(cfg['export']['out_dir'])}`.", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.report")
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", default=None, help="write here instead of stdout")
    parser.add_argument("--readme", default=None, help="update the demo-model block of this README instead")
    args = parser.parse_args(argv)
    if args.readme:
        update_readme(Path(args.readme), readme_block(load_config(args.config), args.config))
        return 0
    text = build_report(load_config(args.config), args.config)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
