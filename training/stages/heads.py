"""Stage ``heads``: XGBoost binary (malignant) and 10-class condition heads on the embeddings, early-stopped on
validation, with the fairness sample weights; logistic-regression and majority baselines; a validation results table.

Embeddings come from the fine-tuned backbone (``finetune/embeddings_*.npy``) when fine-tuning ran, else from the frozen
backbone (``embed/``). When both exist, XGBoost heads on the frozen embeddings are trained too, as the stage-1 row of
the results table. Nothing here reads test rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from training.rundir import RunDir, write_json

STAGE = "heads"
SHIPPED = {"binary": "xgb_binary.ubj", "condition": "xgb_condition.ubj"}


def embedding_source(cfg: dict[str, Any], run: RunDir) -> str:
    """"finetune" when the config fine-tunes (its embeddings are then required), else "embed"."""
    return "finetune" if cfg["finetune"]["enabled"] else "embed"


def load_embeddings(run: RunDir, source: str, split: str, *, stage: str) -> np.ndarray:
    path = run.require(run.root / source / f"embeddings_{split}.npy", stage=stage, producer=source)
    return np.load(path)


def _weights(cfg: dict[str, Any], rows: pd.DataFrame) -> np.ndarray | None:
    mode = cfg["heads"]["sample_weights"]
    if mode in (None, "none", False):
        return None
    return rows["sample_weight"].to_numpy(dtype=float)


class MajorityBaseline:
    """Predicts the training prior: P(malignant) = training rate; condition = training class frequencies."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def fit(self, X: np.ndarray, y: np.ndarray, *, sample_weight: np.ndarray | None = None, **_: Any) -> MajorityBaseline:
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        if self.kind == "binary":
            self.prior_ = np.array([float(np.sum(w * (y == 1)) / np.sum(w))])
        else:
            counts = np.bincount(np.asarray(y, int), weights=w, minlength=10)
            self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        n = len(X)
        if self.kind == "binary":
            return np.full(n, self.prior_[0])
        return np.tile(self.prior_, (n, 1))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "prior": self.prior_.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MajorityBaseline:
        obj = cls(d["kind"])
        obj.prior_ = np.asarray(d["prior"], dtype=float)
        return obj


def val_row(name: str, emb_source: str, p_mal: np.ndarray, cond: np.ndarray, rows: pd.DataFrame) -> dict[str, Any]:
    from skintag.metrics import accuracy, macro_auc_ovr
    from skintag.stats import auroc as binary_auc

    y_mal = rows["malignant"].to_numpy(int)
    y_cond = rows["condition_id"].to_numpy(int)
    return {
        "model": name,
        "embeddings": emb_source,
        "val_malignant_auc": binary_auc(y_mal, p_mal),
        "val_accuracy": accuracy(y_cond, cond),
        "val_macro_auc": macro_auc_ovr(y_cond, cond),
        "n_val": len(rows),
    }


def run_stage(cfg: dict[str, Any], run: RunDir) -> dict[str, Any]:
    from skintag.model.heads import LogisticHead, XGBHead

    out = run.stage_dir(STAGE)
    train_rows = run.rows("train", stage=STAGE)
    val_rows = run.rows("val", stage=STAGE)
    w_tr, w_va = _weights(cfg, train_rows), _weights(cfg, val_rows)
    y_tr = {"binary": train_rows["malignant"].to_numpy(int), "condition": train_rows["condition_id"].to_numpy(int)}
    y_va = {"binary": val_rows["malignant"].to_numpy(int), "condition": val_rows["condition_id"].to_numpy(int)}
    source = embedding_source(cfg, run)
    X_tr = load_embeddings(run, source, "train", stage=STAGE)
    X_va = load_embeddings(run, source, "val", stage=STAGE)
    if len(X_tr) != len(train_rows) or len(X_va) != len(val_rows):
        raise RuntimeError(
            f"{source} embeddings ({len(X_tr)} train, {len(X_va)} val) do not match the prepared table "
            f"({len(train_rows)}, {len(val_rows)}); rerun `{source}` after `prepare`"
        )
    es = int(cfg["heads"]["early_stopping_rounds"])
    results: list[dict[str, Any]] = []
    info: dict[str, Any] = {"embeddings": source}

    def fit_xgb(tag: str, Xt: np.ndarray, Xv: np.ndarray, emb: str, save: bool) -> None:
        heads = {}
        for kind in ("binary", "condition"):
            head = XGBHead(kind, dict(cfg["heads"][f"xgb_{kind}"]))
            head.fit(Xt, y_tr[kind], sample_weight=w_tr, X_val=Xv, y_val=y_va[kind], w_val=w_va, early_stopping_rounds=es)
            heads[kind] = head
            if save:
                head.save(out / SHIPPED[kind])
                info[f"xgb_{kind}_best_iteration"] = head.best_iteration_
        results.append(val_row(tag, emb, heads["binary"].predict_proba(Xv), heads["condition"].predict_proba(Xv), val_rows))

    fit_xgb("xgboost", X_tr, X_va, source, save=True)
    for kind in ("binary", "condition"):
        LogisticHead(kind).fit(X_tr, y_tr[kind], sample_weight=w_tr, X_val=X_va, y_val=y_va[kind], w_val=w_va).save(
            out / f"logistic_{kind}.json"
        )
    logit = {k: LogisticHead.load(out / f"logistic_{k}.json") for k in ("binary", "condition")}
    results.append(val_row("logistic", source, logit["binary"].predict_proba(X_va), logit["condition"].predict_proba(X_va), val_rows))
    majority = {k: MajorityBaseline(k).fit(X_tr, y_tr[k], sample_weight=w_tr) for k in ("binary", "condition")}
    write_json(out / "majority.json", {k: m.to_dict() for k, m in majority.items()})
    results.append(val_row("majority", "-", majority["binary"].predict_proba(X_va), majority["condition"].predict_proba(X_va), val_rows))
    if source == "finetune" and run.is_done("embed"):
        fit_xgb("xgboost (frozen backbone)", load_embeddings(run, "embed", "train", stage=STAGE),
                load_embeddings(run, "embed", "val", stage=STAGE), "embed", save=False)

    table = pd.DataFrame(results)
    table.to_csv(out / "results_val.csv", index=False)
    print("[heads] validation results:\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    info["results_val"] = results
    run.done(STAGE, info)
    return info


def load_shipped_heads(run: RunDir, *, stage: str) -> dict[str, Any]:
    """The XGBoost heads that go into the bundle."""
    from skintag.model.heads import XGBHead

    return {
        kind: XGBHead.load(run.require(run.root / STAGE / name, stage=stage, producer=STAGE))
        for kind, name in SHIPPED.items()
    }


def load_baselines(run: RunDir, *, stage: str) -> dict[str, dict[str, Any]]:
    """Logistic and majority baselines, for the evaluation's results table."""
    from skintag.model.heads import LogisticHead
    from training.rundir import read_json

    d = run.root / STAGE
    maj = read_json(run.require(d / "majority.json", stage=stage, producer=STAGE))
    return {
        "logistic": {k: LogisticHead.load(run.require(d / f"logistic_{k}.json", stage=stage, producer=STAGE))
                     for k in ("binary", "condition")},
        "majority": {k: MajorityBaseline.from_dict(v) for k, v in maj.items()},
    }

