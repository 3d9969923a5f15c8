"""Stage ``heads``: binary (malignant) and 10-class condition heads on the embeddings, with the fairness sample weights,
for each candidate head family (XGBoost early-stopped on validation; logistic regression with C chosen on validation)
and each embedding variant (one view; the mean over the 8 dihedral views = test-time augmentation); the family and
variant with the best validation ``heads.select_metric`` are shipped (``heads/choice.json``); logistic and majority
baselines; a validation results table with every candidate.

Embeddings come from the fine-tuned backbone (``finetune/embeddings_*.npy``) when fine-tuning ran, else from the frozen
backbone (``embed/``). When both exist, XGBoost heads on the frozen embeddings are trained too, as the stage-1 row of
the results table. Nothing here reads test rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.config import resolve_path
from training.rundir import RunDir, write_json

STAGE = "heads"


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


def _variants(cfg: dict[str, Any]) -> list[str]:
    """Embedding variants to compare on validation: "single" (one view) and/or "dihedral8" (test-time augmentation)."""
    tta = cfg["embed"]["tta"]
    return {"none": ["single"], "dihedral8": ["dihedral8"], "auto": ["single", "dihedral8"]}[tta]


def _families(cfg: dict[str, Any]) -> list[str]:
    fam = cfg["heads"]["family"]
    return ["xgboost", "logistic"] if fam == "auto" else [fam]


def load_variant(run: RunDir, source: str, split: str, variant: str, *, stage: str,
                 members: Sequence[str | Path] = ()) -> np.ndarray:
    """A split's embeddings in one variant; with ``members`` (ensemble run directories), this run's and each member
    run's side by side, in that order (the embedding of the ensemble backbone)."""
    parts = [np.load(_embedding_file(r, source, split, variant, stage=stage))
             for r in (run, *(RunDir(resolve_path(m)) for m in members))]
    if len({len(p) for p in parts}) > 1:
        raise RuntimeError(f"ensemble members' {split} embeddings differ in length ({[len(p) for p in parts]}); "
                           "they must come from the same split")
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def ensemble_members(cfg: dict[str, Any], run: RunDir) -> list[str]:
    """``heads.ensemble_runs``, checked: each a run of this config but the training length and backbone size
    (:func:`training.stages.evaluate.sibling_run_dirs`), fine-tuned on this run's split. Empty: no ensemble."""
    from skintag.errors import ConfigError
    from training.stages.evaluate import check_same_split

    members = [str(p) for p in cfg["heads"].get("ensemble_runs") or []]
    if not members:
        return []
    if not cfg["finetune"]["enabled"]:
        raise ConfigError("heads.ensemble_runs: an ensemble joins fine-tuned backbones; this config does not fine-tune")
    check_same_split(run, ensemble_run_dirs(cfg), "heads.ensemble_runs")
    return members


#: Files an ensemble member run must have: its split and its fine-tuned backbone with its embeddings.
ENSEMBLE_RUN_FILES = ("config.json", "prepare/DONE.json", "finetune/DONE.json", "finetune/history.json")


def ensemble_run_dirs(cfg: dict[str, Any]) -> list[Path]:
    """The directories of ``heads.ensemble_runs``, checked as compared runs are
    (:func:`training.stages.evaluate.sibling_run_dirs`) but needing only their stages up to ``finetune``."""
    from training.stages.evaluate import sibling_run_dirs

    return sibling_run_dirs(cfg, list(cfg["heads"].get("ensemble_runs") or []), "heads.ensemble_runs",
                            ENSEMBLE_RUN_FILES, "prepare, embed and finetune")


def choose(results: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The candidate row with the best validation ``metric`` (ties: higher macro AUC, then the earlier row)."""
    cands = [r for r in results if r.get("candidate")]
    return max(cands, key=lambda r: (round(r[metric], 12), round(r["val_macro_auc"], 12), -cands.index(r)))


def run_stage(cfg: dict[str, Any], run: RunDir) -> dict[str, Any]:
    from skintag.model.heads import EnsembleHead, LogisticHead, XGBHead

    out = run.stage_dir(STAGE)
    train_rows = run.rows("train", stage=STAGE)
    val_rows = run.rows("val", stage=STAGE)
    w_tr, w_va = _weights(cfg, train_rows), _weights(cfg, val_rows)
    y_tr = {"binary": train_rows["malignant"].to_numpy(int), "condition": train_rows["condition_id"].to_numpy(int)}
    y_va = {"binary": val_rows["malignant"].to_numpy(int), "condition": val_rows["condition_id"].to_numpy(int)}
    source = embedding_source(cfg, run)
    es = int(cfg["heads"]["early_stopping_rounds"])
    results: list[dict[str, Any]] = []
    info: dict[str, Any] = {"embeddings": source}
    fitted: dict[tuple[str, str, int], dict[str, Any]] = {}  # (family, variant, number of member runs) -> heads

    def one_head(family: str, kind: str) -> Any:
        if family == "xgboost":
            return XGBHead(kind, dict(cfg["heads"][f"xgb_{kind}"]))
        return LogisticHead(kind)

    def fit_family(family: str, Xt: np.ndarray, Xv: np.ndarray, widths: list[int] | None = None) -> dict[str, Any]:
        heads = {}
        for kind in ("binary", "condition"):
            head = one_head(family, kind) if widths is None else \
                EnsembleHead([one_head(family, kind) for _ in widths], widths)
            heads[kind] = head.fit(Xt, y_tr[kind], sample_weight=w_tr, X_val=Xv, y_val=y_va[kind], w_val=w_va,
                                   early_stopping_rounds=es if family == "xgboost" else None)
        return heads

    members = ensemble_members(cfg, run)
    for variant in _variants(cfg):
        for team in _teams(cfg, members):
            X_tr = load_variant(run, source, "train", variant, stage=STAGE, members=team)
            X_va = load_variant(run, source, "val", variant, stage=STAGE, members=team)
            if len(X_tr) != len(train_rows) or len(X_va) != len(val_rows):
                raise RuntimeError(
                    f"{source} embeddings ({len(X_tr)} train, {len(X_va)} val) do not match the prepared table "
                    f"({len(train_rows)}, {len(val_rows)}); rerun `{source}` after `prepare`"
                )
            widths = member_widths(run, source, variant, team) if team else None
            for family in _families(cfg):
                heads = fitted[(family, variant, len(team))] = fit_family(family, X_tr, X_va, widths)
                row = val_row(family, source, heads["binary"].predict_proba(X_va),
                              heads["condition"].predict_proba(X_va), val_rows)
                results.append({**row, "tta": variant, "backbones": 1 + len(team), "candidate": True})
    chosen = choose(results, cfg["heads"]["select_metric"])
    family, variant, n_backbones = chosen["model"], chosen["tta"], chosen["backbones"]
    team = members if n_backbones > 1 else []
    heads = fitted[(family, variant, len(team))]
    for kind, head in heads.items():
        head.save(out / shipped_name(kind, family, ensemble=bool(team)))
        if family == "xgboost" and not team:
            info[f"xgb_{kind}_best_iteration"] = head.best_iteration_
    choice = {"family": family, "tta": variant, "members": team, "metric": cfg["heads"]["select_metric"],
              "val": {k: chosen[k] for k in ("val_accuracy", "val_macro_auc", "val_malignant_auc")}}
    write_json(out / "choice.json", choice)
    X_tr = load_variant(run, source, "train", variant, stage=STAGE)
    X_va = load_variant(run, source, "val", variant, stage=STAGE)
    for kind in ("binary", "condition"):  # the baseline: logistic on this run's own backbone
        logit = fitted.get(("logistic", variant, 0), {}).get(kind) or LogisticHead(kind).fit(
            X_tr, y_tr[kind], sample_weight=w_tr, X_val=X_va, y_val=y_va[kind], w_val=w_va)
        logit.save(out / f"logistic_{kind}.json")
    majority = {k: MajorityBaseline(k).fit(X_tr, y_tr[k], sample_weight=w_tr) for k in ("binary", "condition")}
    write_json(out / "majority.json", {k: m.to_dict() for k, m in majority.items()})
    results.append({**val_row("majority", "-", majority["binary"].predict_proba(X_va),
                              majority["condition"].predict_proba(X_va), val_rows), "tta": "-", "backbones": 1,
                    "candidate": False})
    if source == "finetune" and run.is_done("embed"):
        Xt0, Xv0 = (load_embeddings(run, "embed", s, stage=STAGE) for s in ("train", "val"))
        h0 = fit_family("xgboost", Xt0, Xv0)
        results.append({**val_row("xgboost (frozen backbone)", "embed", h0["binary"].predict_proba(Xv0),
                                  h0["condition"].predict_proba(Xv0), val_rows), "tta": "single", "backbones": 1,
                        "candidate": False})

    table = pd.DataFrame(results)
    table["chosen"] = [(r["model"], r["tta"], r.get("backbones")) == (family, variant, n_backbones) and r["candidate"]
                       for r in results]
    table.to_csv(out / "results_val.csv", index=False)
    print("[heads] validation results:\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"[heads] chosen on validation {choice['metric']}: {family} heads, test-time augmentation {variant}, "
          f"{n_backbones} backbone(s)")
    info["results_val"] = results
    info["choice"] = choice
    run.done(STAGE, info)
    return info


def shipped_name(kind: str, family: str, *, ensemble: bool = False) -> str:
    """The file of a shipped head: ``xgb_<kind>.ubj`` or ``shipped_<kind>.json`` for one backbone; an ensemble's heads
    are ``ensemble_<kind>.json`` (with one member file each beside it)."""
    if ensemble:
        return f"ensemble_{kind}.json"
    return f"{'xgb' if family == 'xgboost' else 'shipped'}_{kind}.{'ubj' if family == 'xgboost' else 'json'}"


def _teams(cfg: dict[str, Any], members: list[str]) -> list[list[str]]:
    """The backbone sets to compare: this one alone and/or with the ensemble members (``heads.ensemble``)."""
    if not members:
        return [[]]
    return [members] if cfg["heads"]["ensemble"] == "always" else [[], members]


def member_widths(run: RunDir, source: str, variant: str, members: Sequence[str]) -> list[int]:
    """Embedding width of this run's backbone and of each member's, read from their validation embeddings' headers."""
    return [int(np.load(_embedding_file(r, source, "val", variant, stage=STAGE), mmap_mode="r").shape[1])
            for r in (run, *(RunDir(resolve_path(m)) for m in members))]


def _embedding_file(run: RunDir, source: str, split: str, variant: str, *, stage: str) -> Path:
    suffix = "_tta" if variant == "dihedral8" else ""
    return run.require(run.root / source / f"embeddings_{split}{suffix}.npy", stage=stage, producer=source)


def read_choice(run: RunDir, *, stage: str) -> dict[str, Any]:
    """The head family, test-time augmentation and ensemble members (``members``, empty for one backbone) chosen on
    validation by ``heads``."""
    from training.rundir import read_json

    return read_json(run.require(run.root / STAGE / "choice.json", stage=stage, producer=STAGE))


def load_shipped_heads(run: RunDir, *, stage: str) -> dict[str, Any]:
    """The heads that go into the bundle (of the chosen family; an ensemble's when the choice has members)."""
    from skintag.model.heads import load_head

    choice = read_choice(run, stage=stage)
    family, ensemble = choice["family"], bool(choice.get("members"))
    return {
        kind: load_head(run.require(run.root / STAGE / shipped_name(kind, family, ensemble=ensemble), stage=stage,
                                    producer=STAGE), "ensemble" if ensemble else family)
        for kind in ("binary", "condition")
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

