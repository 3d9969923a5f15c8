"""Stage ``prepare``: datasets → unified table → grouped train/val/test split → fairness sample weights.

Writes ``prepare/table.csv`` (the unified table plus ``split`` and ``sample_weight``), ``prepare/splits.csv`` (the split,
keyed by dataset and image id, written once and reused), ``prepare/external_<name>.csv`` for each external evaluation
set, ``prepare/domain_<name>.csv`` for each extra image domain (``domains.others``: calibrated by patient-grouped
cross-fitting, never split into train/test), the label audit, and ``prepare/DONE.json`` with the split's SHA-256 and counts. It refuses a split in which a
patient or a lesion appears in two parts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from skintag.errors import DataFileError
from training.rundir import RunDir

STAGE = "prepare"


def check_grouping(table: pd.DataFrame) -> dict[str, int]:
    """Count patients and lesions whose images fall in more than one split (must be 0); raise if any do."""
    counts: dict[str, int] = {}
    for col in ("patient_id", "lesion_id"):
        known = table[table[col].notna()]
        key = known["dataset"].astype(str) + "|" + known[col].astype(str)
        n_splits = known.groupby(key)["split"].nunique()
        counts[f"{col}_in_several_splits"] = int((n_splits > 1).sum())
        if counts[f"{col}_in_several_splits"]:
            bad = n_splits[n_splits > 1].index[:5].tolist()
            raise DataFileError(f"Split leaks: {counts[f'{col}_in_several_splits']} {col} values appear in two splits, e.g. {bad}")
    return counts


def _limit(table: pd.DataFrame, limit: dict[str, int] | int | None, seed: int) -> pd.DataFrame:
    """A seeded random subset of each split (for quick runs and tests); whole groups are never needed because the
    split is already grouped."""
    if not limit:
        return table
    parts = []
    for split, part in table.groupby("split", sort=True):
        k = limit if isinstance(limit, int) else int(limit.get(split, len(part)))
        parts.append(part.sample(n=min(k, len(part)), random_state=seed) if k < len(part) else part)
    return pd.concat(parts).sort_index()


def _with_weights(table: pd.DataFrame) -> pd.Series:
    from skintag.data.weights import fairness_weights

    weights = pd.Series(np.nan, index=table.index, dtype=float)
    for _split, part in table.groupby("split"):
        weights.loc[part.index] = np.asarray(fairness_weights(part), dtype=float)
    return weights


def near_duplicate_column(cfg: dict[str, Any], run: RunDir, table: pd.DataFrame, threshold: float) -> pd.Series:
    """``near_duplicate_group`` for rows of datasets without patient and lesion ids (e.g. DDI, Fitzpatrick17k): groups
    of :func:`skintag.data.splits.near_duplicate_groups` on the starting backbone's embeddings (through the run's
    embedding cache), keyed per dataset; NA elsewhere."""
    from skintag.data.splits import near_duplicate_groups
    from training.common import initial_backbone, make_preprocessing
    from training.stages.embed import embed_rows

    out = pd.Series(pd.NA, index=table.index, dtype="string")
    ids = table[["patient_id", "lesion_id"]].notna().any(axis=1) if {"patient_id", "lesion_id"} <= set(table) else \
        pd.Series(False, index=table.index)
    todo = [d for d, part in table.groupby("dataset") if not ids[part.index].any()]
    if not todo:
        return out
    backbone = initial_backbone(cfg)
    pre = make_preprocessing(cfg, backbone)
    for dataset in todo:
        part = table[table["dataset"] == dataset]
        emb = embed_rows(cfg, run, backbone, pre, part, desc=f"near-duplicates {dataset}")
        groups = near_duplicate_groups(emb, threshold)
        out.loc[part.index] = [f"nd{g}" for g in groups]
        print(f"[prepare] {dataset}: {len(part)} images in {len(set(groups.tolist()))} near-duplicate groups "
              f"(cosine > {threshold})")
    return out


def run_stage(cfg: dict[str, Any], run: RunDir) -> dict[str, Any]:
    from skintag.data import load_dataset, load_datasets
    from skintag.data.splits import make_splits, save_splits
    from skintag.data.splits import split_hash as split_file_hash

    data = cfg["data"]
    out = run.stage_dir(STAGE)
    seed = int(cfg["seed"])
    loaded = load_datasets(list(data["datasets"]), data["root"])
    table, audit = loaded.table, loaded.audit
    n_loaded = len(table)
    if data["require_images"]:
        table = table[table["has_image"].astype(bool)]
        if table.empty:
            raise DataFileError(
                f"No images found for datasets {data['datasets']} under {data['root']} (data.require_images is true)"
            )
    # A canonical row order, whatever order the loaders return: stages index rows by position.
    table = table.sort_values(["dataset", "image_id"], kind="stable").reset_index(drop=True)
    split_cfg = data["split"]
    if split_cfg.get("near_duplicate_threshold") is not None:
        table["near_duplicate_group"] = near_duplicate_column(cfg, run, table, float(split_cfg["near_duplicate_threshold"]))
    table["split"] = make_splits(
        table,
        val_frac=float(split_cfg["val_frac"]),
        test_frac=float(split_cfg["test_frac"]),
        random_state=seed,
        use_official=bool(split_cfg["use_official"]),
    ).astype(str)
    table = _limit(table, data.get("limit_per_split"), seed).reset_index(drop=True)
    grouping = check_grouping(table)
    table["sample_weight"] = _with_weights(table)
    table.to_csv(run.table_path, index=False)
    save_splits(table, run.splits_path)
    split_hash = split_file_hash(run.splits_path)
    audit.to_frame().to_csv(out / "label_audit.csv", index=False)

    domain_rows: dict[str, int] = {}
    for name, datasets in cfg["domains"]["others"].items():
        parts = []
        for ds in datasets:
            rows = load_dataset(ds, data["root"]).table
            parts.append(rows[rows["has_image"].astype(bool)])
        dom = pd.concat(parts).sort_values(["dataset", "image_id"], kind="stable").reset_index(drop=True)
        dom["split"] = "crossfit"
        if split_cfg.get("near_duplicate_threshold") is not None:
            dom["near_duplicate_group"] = near_duplicate_column(cfg, run, dom, float(split_cfg["near_duplicate_threshold"]))
        dom.to_csv(out / f"domain_{name}.csv", index=False)
        domain_rows[name] = len(dom)

    externals: dict[str, int] = {}
    in_domains = {d for ds in cfg["domains"]["others"].values() for d in ds}
    for name in cfg["evaluate"]["external"]:
        if name in data["datasets"] or name in in_domains:
            raise DataFileError(f"evaluate.external lists {name!r}, which is also training data (data.datasets or "
                                "domains.others)")
        ext = load_dataset(name, data["root"]).table
        ext = ext[ext["has_image"].astype(bool)].sort_values("image_id", kind="stable").reset_index(drop=True)
        limit = cfg["evaluate"].get("external_limit")
        if limit and limit < len(ext):
            ext = ext.sample(n=int(limit), random_state=seed).sort_index().reset_index(drop=True)
        ext["split"] = "external"
        ext.to_csv(out / f"external_{name}.csv", index=False)
        externals[name] = len(ext)

    counts = {
        split: {
            "n": int(len(part)),
            "malignant": int(part["malignant"].sum()),
            "by_dataset": {str(k): int(v) for k, v in part["dataset"].value_counts().sort_index().items()},
            "by_condition": {str(k): int(v) for k, v in part["condition_id"].value_counts().sort_index().items()},
        }
        for split, part in table.groupby("split")
    }
    info = {
        "datasets": list(data["datasets"]),
        "rows_loaded": n_loaded,
        "rows_used": int(len(table)),
        "split_sha256": split_hash,
        "split_source": "official" if split_cfg["use_official"] else "grouped",
        "counts": counts,
        "grouping_check": grouping,
        "external": externals,
        "domain_rows": domain_rows,
    }
    run.done(STAGE, info)
    print(f"[prepare] {len(table)} rows: " + ", ".join(f"{s} {c['n']}" for s, c in counts.items())
          + f"; split sha256 {split_hash[:12]}; external {externals}")
    return info
