"""Stage ``calibrate``: fit the calibrator (isotonic or Platt) on the validation scores of the shipped binary head and
choose the operating points (thresholds on calibrated P(malignant) reaching each target sensitivity) on validation.
Writes ``calibrate/calibration.json``, ``calibrate/operating_points.json`` and the validation scores."""

from __future__ import annotations

from typing import Any

import pandas as pd

from training.rundir import RunDir, read_json, write_json
from training.stages.heads import embedding_source, load_embeddings, load_shipped_heads

STAGE = "calibrate"


def run_stage(cfg: dict[str, Any], run: RunDir) -> dict[str, Any]:
    from skintag.metrics import sensitivity_specificity
    from skintag.model.calibration import Calibrator, threshold_for_sensitivity
    from skintag.stats import auroc as binary_auc
    from skintag.stats import expected_calibration_error

    out = run.stage_dir(STAGE)
    val_rows = run.rows("val", stage=STAGE)
    heads = load_shipped_heads(run, stage=STAGE)
    X_va = load_embeddings(run, embedding_source(cfg, run), "val", stage=STAGE)
    y = val_rows["malignant"].to_numpy(int)
    w = val_rows["sample_weight"].to_numpy(float) if cfg["heads"]["sample_weights"] not in (None, "none", False) else None
    raw = heads["binary"].predict_proba(X_va)
    calibrator = Calibrator(cfg["calibrate"]["method"]).fit(raw, y, sample_weight=w)
    cal = calibrator.predict(raw)
    ops: dict[str, dict[str, float]] = {}
    for name, target in cfg["calibrate"]["operating_points"].items():
        threshold = float(threshold_for_sensitivity(y, cal, float(target), sample_weight=w))
        sens, spec = sensitivity_specificity(y, cal, threshold)
        ops[name] = {"target_sensitivity": float(target), "threshold": threshold, "val_sensitivity": sens,
                     "val_specificity": spec}
    bins = int(cfg["evaluate"]["ece_bins"])
    info = {
        "method": calibrator.method,
        "n_val": len(y),
        "val_ece_raw": expected_calibration_error(y, raw, bins),
        "val_ece_calibrated": expected_calibration_error(y, cal, bins),
        "val_auc_raw": binary_auc(y, raw),
        "val_auc_calibrated": binary_auc(y, cal),
        "operating_points": ops,
        "default_operating_point": cfg["calibrate"]["default_operating_point"],
    }
    write_json(out / "calibration.json", calibrator.to_dict())
    write_json(out / "operating_points.json", ops)
    pd.DataFrame({"image_id": val_rows["image_id"], "y_true": y, "y_score_raw": raw, "y_score": cal}).to_csv(
        out / "val_scores.csv", index=False
    )
    print(f"[calibrate] {calibrator.method}: validation ECE {info['val_ece_raw']:.4f} -> {info['val_ece_calibrated']:.4f}; "
          + ", ".join(f"{k}: p >= {v['threshold']:.4f} (val sens {v['val_sensitivity']:.3f}, spec {v['val_specificity']:.3f})"
                      for k, v in ops.items()))
    run.done(STAGE, info)
    return info


def load_calibration(run: RunDir, *, stage: str) -> tuple[Any, dict[str, dict[str, float]]]:
    from skintag.model.calibration import Calibrator

    d = run.root / STAGE
    cal = Calibrator.from_dict(read_json(run.require(d / "calibration.json", stage=stage, producer=STAGE)))
    ops = read_json(run.require(d / "operating_points.json", stage=stage, producer=STAGE))
    return cal, ops


