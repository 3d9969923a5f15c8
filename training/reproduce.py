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
from training.stages.evaluate import evaluate_predictions, predictions_frame

COND_COLS = [f"cond_prob_{i}" for i in range(10)]


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
    from skintag.embeddings import load_image

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
    pred = bundle.predict([load_image(p) for p in rows["image_path"]], batch_size=batch_size)
    split = str(shipped["split"].iloc[0])
    again = predictions_frame(rows, pred.p_malignant, pred.p_malignant_raw, pred.condition_probs, split)
    out: dict[str, Any] = {
        "n": len(again),
        "labels_equal": bool((again["y_true"].to_numpy() == shipped["y_true"].to_numpy()).all()
                             and (again["condition_true"].to_numpy() == shipped["condition_true"].to_numpy()).all()),
        "max_score_diff": float(np.max(np.abs(again["y_score"].to_numpy() - shipped["y_score"].to_numpy()))),
        "max_cond_prob_diff": float(np.max(np.abs(again[COND_COLS].to_numpy() - shipped[COND_COLS].to_numpy()))),
    }
    if limit is None:
        cfg = {"seed": metrics["bootstrap"]["seed"],
               "evaluate": {"n_boot": metrics["bootstrap"]["n_boot"], "ci": metrics["bootstrap"]["ci"],
                            "ece_bins": metrics["ece_bins"]}}
        res = evaluate_predictions(again, cfg, operating_points=metrics["operating_points"],
                                   default_op=metrics["default_operating_point"],
                                   trained_classes=metrics["trained_classes"])
        reported = _flatten(json.loads(json.dumps(metrics["sets"][name])))
        recomputed = _flatten(json.loads(json.dumps(res)))
        diffs = {k: abs(reported[k] - recomputed.get(k, np.inf)) for k in reported
                 if not (np.isnan(reported[k]) and np.isnan(recomputed.get(k, np.nan)))}
        out["metrics_compared"] = len(diffs)
        out["max_metric_diff"] = float(max(diffs.values())) if diffs else 0.0
        out["worst_metric"] = max(diffs, key=diffs.get) if diffs else None
        out["recomputed"] = res
    return out


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
