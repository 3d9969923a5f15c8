"""Recompute a bundle's reported evaluation from the bundle itself and the shared images.

``python -m training.reproduce --bundle models/demo`` reloads the bundle (hash-verified), finds every image listed in
its ``eval/predictions_<set>.csv`` in the data folder, takes the labels and metadata from the dataset loaders (not
from the shipped table), predicts again, recomputes every metric with the recorded bootstrap settings, and compares
both with what the bundle reports. Exit status 0 when everything agrees.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skintag.settings import default_data_dir
from training.stages.evaluate import (
    THRESHOLD_COLUMNS,
    bundle_embed_paths,
    bundle_predict,
    domain_thresholds,
    evaluate_predictions,
    predictions_frame,
)

COND_COLS = [f"cond_prob_{i}" for i in range(10)]
#: Columns compared number by number (the thresholds only where the shipped table has them).
SCORE_COLUMNS = ("y_score", "y_score_raw", *THRESHOLD_COLUMNS)


def _flatten(d: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out.update(_flatten(v, f"{prefix}{i}."))
    elif isinstance(d, (int, float)) and not isinstance(d, bool) or d is None:
        out[prefix[:-1]] = float("nan") if d is None else float(d)
    return out


def reproduce_set(bundle: Any, metrics: dict[str, Any], name: str, shipped: pd.DataFrame, data_root: Path, *,
                  limit: int | None = None, batch_size: int = 256) -> dict[str, Any]:
    """Predict again for the images of one shipped predictions table; recompute its metrics unless ``limit`` is set
    (then only the first ``limit`` rows' predictions are compared)."""
    from skintag.data import load_dataset

    parts = []
    for dataset, ids in shipped.groupby("dataset", sort=False)["image_id"]:
        table = load_dataset(str(dataset), data_root).table.set_index("image_id")
        missing = set(ids.astype(str)) - set(table.index.astype(str))
        if missing:
            raise KeyError(f"{len(missing)} images of {name} are not in the {dataset} data under {data_root}")
        parts.append(table.loc[ids.astype(str)].reset_index())
    rows = pd.concat(parts, ignore_index=True)
    if limit is not None:
        rows, shipped = rows.head(limit), shipped.head(limit)
    domain = (metrics.get("set_domains") or {}).get(name, bundle.default_domain)
    emb = bundle_embed_paths(bundle, [str(p) for p in rows["image_path"]], batch_size)
    pred, scored_in = bundle_predict(bundle, emb, domain)
    split = str(shipped["split"].iloc[0])
    p_cal = pred.p_malignant
    thresholds = domain_thresholds(bundle, scored_in)
    if split == "crossfit":  # re-run the domain's cross-fitting on the re-predicted raw scores
        if limit is None:
            p_cal, thresholds = crossfit_scores(pred.p_malignant_raw, rows, (metrics.get("crossfit") or {})[name])
        else:
            p_cal = shipped["y_score"].to_numpy(float)
            if set(THRESHOLD_COLUMNS) <= set(shipped.columns):
                thresholds = tuple(shipped[c].to_numpy(float) for c in THRESHOLD_COLUMNS)  # type: ignore[assignment]
    again = predictions_frame(rows, p_cal, pred.p_malignant_raw, pred.condition_probs, split, scored_in, thresholds)
    out: dict[str, Any] = {
        "n": len(again),
        "labels_equal": bool((again["y_true"].to_numpy() == shipped["y_true"].to_numpy()).all()
                             and (again["condition_true"].to_numpy() == shipped["condition_true"].to_numpy()).all()
                             and ("model_domain" not in shipped
                                  or (again["model_domain"].to_numpy() == shipped["model_domain"].to_numpy()).all())),
        "max_score_diff": float(max(np.max(np.abs(again[c].to_numpy(float) - shipped[c].to_numpy(float)))
                                    for c in SCORE_COLUMNS if c in shipped)),
        "max_cond_prob_diff": float(np.max(np.abs(again[COND_COLS].to_numpy() - shipped[COND_COLS].to_numpy()))),
    }
    if limit is None:
        cfg = {"seed": metrics["bootstrap"]["seed"],
               "evaluate": {"n_boot": metrics["bootstrap"]["n_boot"], "ci": metrics["bootstrap"]["ci"],
                            "ece_bins": metrics["ece_bins"]}}
        ops = (metrics.get("set_operating_points") or {}).get(name, metrics["operating_points"])
        res = evaluate_predictions(again, cfg, operating_points=ops,
                                   default_op=metrics["default_operating_point"] if ops == metrics["operating_points"]
                                   else next(iter(ops)),
                                   trained_classes=metrics["trained_classes"],
                                   per_row_default=name in (metrics.get("per_row_thresholds") or {}))
        reported = _flatten(json.loads(json.dumps(metrics["sets"][name])))
        recomputed = _flatten(json.loads(json.dumps(res)))
        diffs = {k: abs(reported[k] - recomputed.get(k, np.inf)) for k in reported
                 if not (np.isnan(reported[k]) and np.isnan(recomputed.get(k, np.nan)))}
        out["metrics_compared"] = len(diffs)
        out["max_metric_diff"] = float(max(diffs.values())) if diffs else 0.0
        out["worst_metric"] = max(diffs, key=diffs.get) if diffs else None
        out["recomputed"] = res
    return out


def crossfit_scores(raw: np.ndarray, rows: pd.DataFrame,
                    spec: dict[str, Any]) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Out-of-fold calibrated scores and (MODERATE, HIGH) thresholds of a cross-fitted domain, recomputed with the
    recorded settings."""
    from skintag.model.domains import cross_fit_domain
    from training.stages.calibrate import _groups

    fit = cross_fit_domain(raw, rows["malignant"].to_numpy(int), groups=_groups(rows), method=spec["method"],
                           targets=spec["targets"], n_folds=int(spec["folds"]), random_state=int(spec["random_state"]),
                           n_boot=0, critical=rows["condition_id"].isin(spec["critical_conditions"]).to_numpy())
    return fit.p_oof, (fit.moderate_oof, fit.high_oof)


def reproduce(bundle_dir: str | Path, data_root: str | Path | None = None, *, sets: list[str] | None = None,
              limits: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Reproduce the evaluation sets of a bundle (all by default). See the module docstring."""
    from skintag.model import load_bundle

    bundle = load_bundle(bundle_dir)
    root = Path(data_root) if data_root else default_data_dir()
    metrics = json.loads((bundle.path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    results = {}
    for name in sets or list(metrics["sets"]):
        shipped = pd.read_csv(bundle.path / "eval" / f"predictions_{name}.csv", dtype={"image_id": str})
        results[name] = reproduce_set(bundle, metrics, name, shipped, root, limit=(limits or {}).get(name))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", default="models/demo")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    ok = True
    for name, r in reproduce(args.bundle, args.data_root).items():
        good = r["labels_equal"] and r["max_score_diff"] < args.tolerance and r["max_metric_diff"] < args.tolerance
        ok &= good
        o = r["recomputed"]["overall"]
        print(f"{name}: n={r['n']} labels equal={r['labels_equal']} max |Δscore|={r['max_score_diff']:.2e} "
              f"{r['metrics_compared']} numbers, max |Δ|={r['max_metric_diff']:.2e} -> {'OK' if good else 'MISMATCH'}; "
              f"ACC {o['accuracy']['value']:.4f} malignant AUC {o['malignant_auc']['value']:.4f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
