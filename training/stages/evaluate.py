"""Stage ``evaluate`` — the only stage that reads test rows.

It assembles the bundle from the earlier stages' outputs (``evaluate/bundle``, through ``save_bundle`` and
``load_bundle``, so the numbers come from exactly the code path the app serves), embeds the test images and every
external evaluation set (e.g. the PAD-UFES-20 smartphone photos), and writes:

* ``evaluate/metrics.json`` — per evaluation set: accuracy and macro one-vs-rest AUC over the conditions present
  (MedMNIST's metrics), malignant AUC (calibrated and raw), sensitivity/specificity at every operating point, ECE before
  and after calibration, each with a seeded bootstrap 95 % CI; per-group results (Fitzpatrick group and type, sex,
  dataset, domain); the logistic and majority baselines on the same rows;
* ``evaluate/predictions_<set>.csv`` — one row per image in the docs/CONTRACTS.md §3 layout (plus ``y_score_raw``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skintag.fairness.rules import HIGH, REFER, ROW_THRESHOLD_COLUMNS
from skintag.taxonomy import N_CONDITIONS
from training.common import setup_torch
from training.rundir import RunDir, write_json

STAGE = "evaluate"
FORMAT_VERSION = 1
#: The per-row (MODERATE, HIGH) threshold columns, named where the fairness rules read them.
THRESHOLD_COLUMNS = (ROW_THRESHOLD_COLUMNS[REFER], ROW_THRESHOLD_COLUMNS[HIGH])
PRED_COLUMNS = (
    ["image_id", "dataset", "domain", "y_true", "y_score", "condition_true"]
    + [f"cond_prob_{i}" for i in range(N_CONDITIONS)]
    + ["fitzpatrick", "fitzpatrick_group", "sex", "age", "site", "split", "y_score_raw", "patient_id", "model_domain",
       *THRESHOLD_COLUMNS]
)
#: The column of per-row MODERATE thresholds that a cross-fitted set's default operating point is evaluated at.
ROW_THRESHOLD_COLUMN = THRESHOLD_COLUMNS[0]


def test_set_name(cfg: dict[str, Any]) -> str:
    return "+".join(cfg["data"]["datasets"]) + "_test"


def predictions_frame(rows: pd.DataFrame, p_cal: np.ndarray, p_raw: np.ndarray, cond: np.ndarray, split: str,
                      model_domain: np.ndarray, thresholds: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    """The predictions table for ``rows`` and the model outputs. ``domain`` is the photo's own (from the data);
    ``model_domain`` the bundle domain whose calibrator scored it (a leave-one-domain-out set is scored in another
    domain than its photos'); ``thresholds`` the (MODERATE, HIGH) thresholds each row is judged at: its scoring
    domain's (:func:`domain_thresholds`), or for a cross-fitted set the ones fitted without the row's patient, so
    that an audit of the table applies the rule each row really met."""
    df = pd.DataFrame(
        {
            "image_id": rows["image_id"].astype(str).to_numpy(),
            "dataset": rows["dataset"].astype(str).to_numpy(),
            "domain": rows["domain"].astype(str).to_numpy(),
            "y_true": rows["malignant"].to_numpy(int),
            "y_score": np.asarray(p_cal, float),
            "condition_true": rows["condition_id"].to_numpy(int),
        }
    )
    for i in range(N_CONDITIONS):
        df[f"cond_prob_{i}"] = cond[:, i]
    df["fitzpatrick"] = pd.array(rows["fitzpatrick"], dtype="Int64")
    for col in ("fitzpatrick_group", "sex", "age", "site"):
        df[col] = rows[col].to_numpy()
    df["split"] = split
    df["y_score_raw"] = np.asarray(p_raw, float)
    df["patient_id"] = rows["patient_id"].to_numpy() if "patient_id" in rows else pd.NA
    df["model_domain"] = np.asarray(model_domain, dtype=object)
    for col, t in zip(THRESHOLD_COLUMNS, thresholds, strict=True):
        df[col] = np.asarray(t, float)
    return df[PRED_COLUMNS]


def domain_thresholds(bundle: Any, model_domain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shipped (MODERATE, HIGH) thresholds of the domain that scored each row."""
    tiers = {name: (float(spec.thresholds["moderate"]), float(spec.thresholds["high"]))
             for name, spec in bundle.domains.items()}
    pairs = np.array([tiers[str(d)] for d in model_domain], dtype=float).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def patient_clusters(pred: pd.DataFrame) -> np.ndarray | None:
    """Patient ids of a predictions table for the cluster bootstrap, or None when it has none (rows independent)."""
    if "patient_id" not in pred or pred["patient_id"].isna().all():
        return None
    return pred["patient_id"].astype(object).where(pred["patient_id"].notna(), None).to_numpy()


def _est(metric: Any, *arrays: np.ndarray, n_boot: int, ci: float, seed: int,
         clusters: np.ndarray | None = None) -> dict[str, Any]:
    from skintag.stats import bootstrap

    return bootstrap(metric, *arrays, n_boot=n_boot, ci=ci, random_state=seed, clusters=clusters).to_dict()


def set_metrics(
    pred: pd.DataFrame,
    *,
    operating_points: dict[str, float],
    trained_classes: list[int],
    n_boot: int,
    ci: float,
    seed: int,
    ece_bins: int,
    row_thresholds: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Metrics with bootstrap CIs for one predictions table (see the module docstring). Deterministic given ``seed``.
    ``row_thresholds`` replaces an operating point by one threshold per row (resampled with its row)."""
    from skintag.metrics import accuracy, macro_auc_ovr, sensitivity_specificity
    from skintag.stats import auroc as binary_auc
    from skintag.stats import expected_calibration_error

    y = pred["y_true"].to_numpy(int)
    p = pred["y_score"].to_numpy(float)
    raw = pred["y_score_raw"].to_numpy(float)
    cond_true = pred["condition_true"].to_numpy(int)
    probs = pred[[f"cond_prob_{i}" for i in range(N_CONDITIONS)]].to_numpy(float)
    classes = [c for c in sorted(set(cond_true.tolist())) if c in set(trained_classes)]
    known = np.isin(cond_true, classes)
    clusters = patient_clusters(pred)
    kw = {"n_boot": n_boot, "ci": ci, "seed": seed, "clusters": clusters}
    kw_known = {**kw, "clusters": None if clusters is None else clusters[known]}
    out: dict[str, Any] = {
        "n": len(pred),
        "n_malignant": int(y.sum()),
        "accuracy": _est(accuracy, cond_true, probs, **kw),
        "macro_auc_ovr": _est(lambda t, pr: macro_auc_ovr(t, pr, classes), cond_true[known], probs[known], **kw_known)
        if len(classes) >= 2 else None,
        "malignant_auc": _est(binary_auc, y, p, **kw),
        "malignant_auc_raw": _est(binary_auc, y, raw, **kw),
        "ece_raw": _est(lambda t, s: expected_calibration_error(t, s, ece_bins), y, raw, **kw),
        "ece_calibrated": _est(lambda t, s: expected_calibration_error(t, s, ece_bins), y, p, **kw),
    }
    for name, thr in operating_points.items():
        th = np.asarray((row_thresholds or {}).get(name, np.full(len(y), thr)), float)
        out[f"sensitivity@{name}"] = _est(lambda t, s, r: sensitivity_specificity(t, s, r)[0], y, p, th, **kw)
        out[f"specificity@{name}"] = _est(lambda t, s, r: sensitivity_specificity(t, s, r)[1], y, p, th, **kw)
    out["classes_in_macro_auc"] = classes
    out["ci_method"] = "patient-cluster bootstrap" if clusters is not None else "bootstrap"
    out["rows_outside_trained_classes"] = int((~known).sum())
    return out


def group_metrics(
    pred: pd.DataFrame, *, by: str, threshold: float | np.ndarray, n_boot: int, ci: float, seed: int, ece_bins: int
) -> list[dict[str, Any]]:
    """Per-group rows: n, positives, malignant AUC, sensitivity and specificity at ``threshold`` (one number, or one
    per row of ``pred``), ECE, with CIs."""
    from skintag.metrics import sensitivity_specificity
    from skintag.stats import auroc as binary_auc
    from skintag.stats import expected_calibration_error

    rows = []
    keys = pred[by].astype("string").fillna("unknown")
    thr_all = np.broadcast_to(np.asarray(threshold, float), (len(pred),))
    for g in sorted(keys.unique(), key=str):
        mask = (keys == g).to_numpy()
        part = pred[mask]
        y, p, th = part["y_true"].to_numpy(int), part["y_score"].to_numpy(float), thr_all[mask]
        kw = {"n_boot": n_boot, "ci": ci, "seed": seed, "clusters": patient_clusters(part)}
        rows.append(
            {
                by: str(g),
                "n": len(part),
                "n_pos": int(y.sum()),
                "malignant_auc": _est(binary_auc, y, p, **kw),
                "sensitivity": _est(lambda t, s, r: sensitivity_specificity(t, s, r)[0], y, p, th, **kw),
                "specificity": _est(lambda t, s, r: sensitivity_specificity(t, s, r)[1], y, p, th, **kw),
                "ece_calibrated": expected_calibration_error(y, p, ece_bins),
            }
        )
    return rows


def evaluate_predictions(pred: pd.DataFrame, cfg: dict[str, Any], *, operating_points: dict[str, float],
                         default_op: str, trained_classes: list[int], per_row_default: bool = False) -> dict[str, Any]:
    """Overall and per-group metrics of one evaluation set (used by the stage and by the reproduction test).
    ``per_row_default``: the default operating point is each row's own :data:`ROW_THRESHOLD_COLUMN` (a cross-fitted
    set: the threshold fitted without the row's patient), not the shipped threshold fitted on all of them."""
    ev = cfg["evaluate"]
    kw = {"n_boot": int(ev["n_boot"]), "ci": float(ev["ci"]), "seed": int(cfg["seed"]), "ece_bins": int(ev["ece_bins"])}
    default_thr: float | np.ndarray = operating_points[default_op]
    rows = None
    if per_row_default:
        default_thr = pred[ROW_THRESHOLD_COLUMN].to_numpy(float)
        rows = {default_op: default_thr}
    overall = set_metrics(pred, operating_points=operating_points, trained_classes=trained_classes,
                          row_thresholds=rows, **kw)
    groups = {}
    for by in ("fitzpatrick_group", "fitzpatrick", "sex", "dataset", "domain"):
        if pred[by].nunique(dropna=False) > 1:  # a single group would repeat the overall numbers
            groups[by] = group_metrics(pred, by=by, threshold=default_thr, **kw)
    return {"overall": overall, "per_group": groups}


def _baselines(run: RunDir, emb: np.ndarray, rows: pd.DataFrame, cfg: dict[str, Any]) -> dict[str, Any]:
    """Point estimates of the baselines on the same rows (results table; nothing is selected on test). The baselines
    were fitted on this run's own backbone: with an ensemble they read its lead tower's columns (the first ones)."""
    from skintag.metrics import accuracy, macro_auc_ovr
    from skintag.stats import auroc as binary_auc
    from training.stages.heads import load_baselines

    y = rows["malignant"].to_numpy(int)
    cond = rows["condition_id"].to_numpy(int)
    out = {}
    for name, heads in load_baselines(run, stage=STAGE).items():
        width = getattr(heads["binary"], "n_features_", emb.shape[1])
        pb, pc = heads["binary"].predict_proba(emb[:, :width]), heads["condition"].predict_proba(emb[:, :width])
        out[name] = {"malignant_auc": binary_auc(y, pb), "accuracy": accuracy(cond, pc), "macro_auc_ovr": macro_auc_ovr(cond, pc)}
    return out


def assemble_bundle(cfg: dict[str, Any], run: RunDir, out_dir: Path, *, extra_files: dict[str, Path] | None = None,
                    metrics: dict[str, Any] | None = None, per_group: Any = None) -> Path:
    """save_bundle from the run's outputs (fine-tuned or starting backbone, shipped heads, calibrator, operating
    points, training-data ids)."""
    from skintag.model.bundle import save_bundle
    from training.common import make_preprocessing
    from training.rundir import read_json
    from training.stages.calibrate import final_backbone, load_calibration, load_domains
    from training.stages.heads import load_shipped_heads, read_choice

    backbone = final_backbone(cfg, run, stage=STAGE)
    preprocessing = make_preprocessing(cfg, backbone)
    heads = load_shipped_heads(run, stage=STAGE)
    calibrator, ops = load_calibration(run, stage=STAGE)
    domains, detector, table = load_domains(run, stage=STAGE)
    choice = read_choice(run, stage=STAGE)
    primary = domains[cfg["domains"]["primary"]][0]["thresholds"]
    prep = run.read_done("prepare")
    ft = read_json(run.root / "finetune" / "history.json") if cfg["finetune"]["enabled"] else None
    ex = cfg["export"]
    fields: dict[str, Any] = {
        "name": cfg["name"],
        "version": cfg["version"],
        "description": f"SigLIP vision encoder ({'trained from scratch' if cfg['backbone']['source'] == 'scratch' else cfg['backbone']['source']}) "
        f"with {choice['family']} heads"
        + (f" (an ensemble of {1 + len(choice['members'])} such backbones trained on the same split, one head each, "
           "probabilities averaged)" if choice.get("members") else "")
        + f", trained by `python -m training all` on {', '.join(cfg['data']['datasets'])}"
        + "".join(f"; {name} domain: {', '.join(ds)} (calibrated by patient-grouped cross-fitting)"
                  for name, ds in cfg["domains"]["others"].items()) + ".",
        "licence": ex["license"],
        "thresholds": {"moderate": primary["moderate"], "high": primary["high"]},
        "operating_points": {k: v["threshold"] for k, v in ops.items()},
        "default_operating_point": cfg["calibrate"]["default_operating_point"],
        "training_data": {
            "datasets": list(cfg["data"]["datasets"]),
            "split_source": prep["split_source"],
            "split_file": "eval/splits.csv",
            "split_file_sha256": prep["split_sha256"],
            **{f"n_{split}": c["n"] for split, c in prep["counts"].items()},
            **{f"n_{split}_malignant": c["malignant"] for split, c in prep["counts"].items()},
            "fitzpatrick_labelled": False if all(d in ("dermamnist", "ham10000", "bcn20000") for d in cfg["data"]["datasets"]) else None,
        },
        "training": {
            "backbone_source": cfg["backbone"]["source"],
            "finetune": {k: cfg["finetune"][k] for k in ("unfreeze_layers", "epochs", "effective_batch_size", "lr_backbone", "lr_head", "augment", "early_stopping_metric")},
            "best_epoch": ft["best_epoch"] if ft else None,
            "calibration": cfg["calibrate"]["method"],
        },
        "choices": {
            "rule": f"highest validation {choice['metric']} (ties: validation macro AUC) over the candidates in "
                    "eval/results_val.csv; the test split is not read",
            "head_family": choice["family"],
            "test_time_augmentation": choice["tta"],
            "backbones": ["this run", *(Path(m).name for m in choice.get("members") or [])],
            "validation": choice["val"],
            "training_length": {"best_epoch": ft["best_epoch"] if ft else None,
                                "epochs_run": ft["epochs_run"] if ft else None,
                                "early_stopping_metric": cfg["finetune"]["early_stopping_metric"],
                                "best_val": ft["best_val"] if ft else None,
                                "compared_runs": compared_runs(cfg, run),
                                "min_detector_recognition": cfg["export"]["min_detector_recognition"]},
        },
    }
    if ex.get("known_limits"):
        fields["known_limits"] = list(ex["known_limits"])
    if metrics is not None:
        fields["metrics"] = metrics
    if per_group is not None:
        fields["per_group"] = per_group
    files = {"eval/splits.csv": run.splits_path, **(extra_files or {})}
    return save_bundle(out_dir, backbone=backbone, preprocessing=preprocessing, binary_head=heads["binary"],
                       condition_head=heads["condition"], calibrator=calibrator, manifest_fields=fields,
                       extra_files=files, domains=domains, detector=detector,
                       detector_info={"threshold_quantile": table["detector"]["threshold_quantile"],
                                      "validation": table["detector"]["validation"]},
                       tta="dihedral8" if choice["tta"] == "dihedral8" else None,
                       default_domain=cfg["domains"]["primary"])


def run_summary(root: Path, *, this_run: bool = False) -> dict[str, Any]:
    """A finished run's training length, backbone size, its chosen heads' validation numbers, the share of each
    domain's validation images its domain detector recognises (for comparing runs), and, for a compared run whose test
    split was read, its test accuracy and macro AUC (``test``: None when never read; not looked up for ``this_run``,
    whose test numbers are the card's own)."""
    from training.rundir import RunDir, read_json

    hist, choice = read_json(root / "finetune" / "history.json"), read_json(root / "heads" / "choice.json")
    cfg = read_json(root / "config.json")
    size = (cfg.get("backbone") or {}).get("config") or {}
    detector = read_json(root / "calibrate" / "DONE.json")["detector"]
    test = None
    metrics_path = root / "evaluate" / "metrics.json"
    if not this_run and any(e.get("split") == "test" for e in RunDir(root).access_log()) and metrics_path.is_file():
        overall = read_json(metrics_path)["sets"][test_set_name(cfg)]["overall"]
        test = {"accuracy": overall["accuracy"]["value"], "macro_auc": overall["macro_auc_ovr"]["value"]}
    return {"epochs": len(hist["history"]), "epochs_planned": cfg["finetune"]["epochs"],
            "best_epoch": hist["best_epoch"], "best_val": hist["best_val"],
            "backbone": {k: size.get(k) for k in BACKBONE_SIZE}
                        | {"parameters": hist.get("trainable_backbone_parameters")},
            "heads": heads_text(choice), "members": [Path(m).name for m in choice.get("members") or []],
            **choice["val"],
            "detector_recognised": dict(detector["recognised_in_domain"]), "test": test}


def heads_text(choice: dict[str, Any]) -> str:
    """The heads a run chose, in words: family + test-time augmentation, and the ensemble's size if any."""
    members = choice.get("members") or []
    return f"{choice['family']} + {choice['tta']}" + (f", mean of {1 + len(members)} backbones" if members else "")


#: The backbone config keys that set its size (a compared run may differ in them).
BACKBONE_SIZE = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads")
#: What a compared run may differ in from this config: its training length, its backbone's size, where it lives and
#: what it exports (a section: None = all of it, else the dotted keys inside it).
COMPARED_RUN_FREE = {"run_dir": None, "version": None, "name": None, "export": None,
                     "finetune": ("epochs", "patience"), "backbone": tuple(f"config.{k}" for k in BACKBONE_SIZE),
                     "heads": ("ensemble_runs", "ensemble")}
#: Files a compared run must have: it was run through ``calibrate`` (validation and the other domains' out-of-fold
#: photos only; ``evaluate`` is not needed).
COMPARED_RUN_FILES = ("config.json", "prepare/DONE.json", "finetune/history.json", "heads/choice.json",
                      "calibrate/DONE.json")


def _comparable(cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(cfg, sort_keys=True, default=str))
    for key, free in COMPARED_RUN_FREE.items():
        if free is None:
            out.pop(key, None)
            continue
        for dotted in free:
            *parents, leaf = dotted.split(".")
            node = out.get(key)
            for p in parents:
                node = node.get(p) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(leaf, None)
    return out


def compared_run_dirs(cfg: dict[str, Any]) -> list[Path]:
    """The run directories of ``export.compared_runs``, checked before any stage runs: each finished through
    ``calibrate`` with this config except the training length and backbone size (:data:`COMPARED_RUN_FREE`).

    Raises
    ------
    ConfigError
        Naming the run and what is missing or different, and how to build it.
    """
    return sibling_run_dirs(cfg, cfg["export"].get("compared_runs") or [], "export.compared_runs", COMPARED_RUN_FILES,
                            "prepare, embed, finetune, heads and calibrate")


def sibling_run_dirs(cfg: dict[str, Any], paths: list[str], key: str, files: tuple[str, ...],
                     stages: str) -> list[Path]:
    """The run directories listed under config ``key`` (relative to the repository), each holding ``files`` (written
    by its ``stages``) and run with this config except the training length and backbone size
    (:data:`COMPARED_RUN_FREE`); see :func:`compared_run_dirs`."""
    from skintag.errors import ConfigError
    from training.config import resolve_path

    roots = [resolve_path(p) for p in paths]
    for root in roots:
        missing = [f for f in files if not (root / f).is_file()]
        if missing:
            raise ConfigError(
                f"{key}: {root} has no {missing[0]}. Build that run first with the stages {stages} of its config "
                "(for the demo: the configs/demo_*.yaml with that run_dir), or remove it from the list.")
        theirs, ours = _comparable(json.loads((root / "config.json").read_text())), _comparable(cfg)
        differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        if differ:
            raise ConfigError(f"{key}: {root} differs from this config in {differ}, not only in the "
                              "training length or backbone size; only such runs compare")
    return roots


def check_same_split(run: RunDir, roots: list[Path], key: str) -> None:
    """Refuse (ConfigError naming ``key`` and the run) any of ``roots`` prepared on another split than ``run``."""
    from skintag.errors import ConfigError
    from training.rundir import read_json

    split = read_json(run.root / "prepare" / "DONE.json")["split_sha256"]
    for root in roots:
        if read_json(root / "prepare" / "DONE.json")["split_sha256"] != split:
            raise ConfigError(f"{key}: {root} used another split; only runs on the same split compare or join")


def compared_runs(cfg: dict[str, Any], run: RunDir) -> list[dict[str, Any]]:
    """:func:`run_summary` of this run and of each of :func:`compared_run_dirs` (the same data, split and config but
    the training length and backbone size). A run is ``eligible`` when its domain detector recognises at least
    ``export.min_detector_recognition`` of every domain's validation images; of the eligible runs, the one with the
    highest validation accuracy of its chosen heads (ties: macro AUC) is marked chosen. Empty when there is nothing
    to compare (a single run is not held to the floor).

    Raises
    ------
    ConfigError
        As :func:`compared_run_dirs`; when a compared run used another split; when this run is not eligible; or when
        an eligible run beats this run by that rule (the bundle must then be built from it: the training length and
        backbone size are chosen on validation, not by which run happens to be exported).
    """
    from skintag.errors import ConfigError

    others = compared_run_dirs(cfg)
    if not others:
        return []
    check_same_split(run, others, "export.compared_runs")
    rows = [{"run": "this bundle", **run_summary(run.root, this_run=True)}]
    rows += [{"run": root.name, **run_summary(root)} for root in others]
    floor = float(cfg["export"].get("min_detector_recognition", 0.0))
    for r in rows:
        r["eligible"] = min(r["detector_recognised"].values()) >= floor
    if not rows[0]["eligible"]:
        raise ConfigError(f"export.compared_runs: this run's domain detector recognises only "
                          f"{min(rows[0]['detector_recognised'].values()):.3f} of a domain's validation images, below "
                          f"export.min_detector_recognition {floor}; it cannot be shipped")
    best = max((i for i, r in enumerate(rows) if r["eligible"]),
               key=lambda i: (rows[i]["val_accuracy"], rows[i]["val_macro_auc"]))
    if best != 0:
        raise ConfigError(f"export.compared_runs: {rows[best]['run']} has the better validation accuracy "
                          f"({rows[best]['val_accuracy']:.4f} vs {rows[0]['val_accuracy']:.4f}); build the bundle from it")
    for i, r in enumerate(rows):
        r["chosen"] = i == best
    return rows


def bundle_predict(bundle: Any, emb: np.ndarray, domain: str) -> tuple[Any, np.ndarray]:
    """The bundle's prediction of embeddings in ``domain``, or with each row's detected domain (``"auto"``), and the
    domain that scored each row."""
    from skintag.model.bundle import Prediction

    if domain != "auto":
        return bundle.predict_embeddings(emb, domain), np.full(len(emb), domain, dtype=object)
    names = np.array([d.domain for d in bundle.detect_domains(emb)], dtype=object)
    p, raw, cond = np.zeros(len(emb)), np.zeros(len(emb)), np.zeros((len(emb), N_CONDITIONS))
    for name in sorted(set(names.tolist())):
        m = names == name
        pr = bundle.predict_embeddings(emb[m], name)
        p[m], raw[m], cond[m] = pr.p_malignant, pr.p_malignant_raw, pr.condition_probs
    return Prediction(p_malignant=p, p_malignant_raw=raw, condition_probs=cond), names


def bundle_embed_paths(bundle: Any, paths: list[str], batch_size: int) -> np.ndarray:
    """The bundle's own embeddings of image files (test-time augmentation as the bundle declares)."""
    from skintag.embeddings import load_image

    out = [bundle.embed([load_image(p) for p in paths[i : i + batch_size]], batch_size=batch_size)
           for i in range(0, len(paths), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, bundle.embedding_size), np.float32)


def run_stage(cfg: dict[str, Any], run: RunDir) -> dict[str, Any]:
    from skintag.model.bundle import load_bundle
    from training.rundir import read_json

    setup_torch(cfg)
    out = run.stage_dir(STAGE)
    staging = assemble_bundle(cfg, run, out / "bundle")
    bundle = load_bundle(staging)
    ops = bundle.operating_points
    default_op = cfg["calibrate"]["default_operating_point"]
    trained = [int(c) for c in bundle.condition_head.classes_]
    primary = cfg["domains"]["primary"]
    batch = int(cfg["embed"]["batch_size"])
    # name -> (rows, split, domain used to score them)
    sets: dict[str, tuple[pd.DataFrame, str, str]] = {test_set_name(cfg): (run.rows("test", stage=STAGE), "test", primary)}
    for name in cfg["evaluate"]["external"]:
        sets[name] = (external_rows(run, name, stage=STAGE), "external", "auto")
    domains_table = read_json(run.root / "calibrate" / "domains.json")
    crossfit: dict[str, Any] = {}
    for name, datasets in cfg["domains"]["others"].items():
        rows = run.domain_rows(name, stage=STAGE)
        set_name = "+".join(datasets)  # e.g. pad_ufes_20: the clinical domain's out-of-fold predictions
        sets[set_name] = (rows, "crossfit", name)
        entry = domains_table["entries"][name]
        crossfit[set_name] = {"domain": name, "method": entry["calibration"]["method"], "folds": entry["calibration"]["folds"],
                              "random_state": int(cfg["seed"]), "targets": entry["targets"],
                              "critical_conditions": entry["critical_conditions"]}
        if cfg["evaluate"]["lodo"]:
            sets["lodo_" + name] = (rows, "lodo", primary)
    metrics: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model": {"name": bundle.name, "version": bundle.version},
        "operating_points": ops,
        "default_operating_point": default_op,
        "bootstrap": {"n_boot": int(cfg["evaluate"]["n_boot"]), "ci": float(cfg["evaluate"]["ci"]), "seed": int(cfg["seed"])},
        "ece_bins": int(cfg["evaluate"]["ece_bins"]),
        "trained_classes": trained,
        "set_domains": {name: dom for name, (_, _, dom) in sets.items()},
        "crossfit": crossfit,
        "sets": {},
        "baselines": {},
    }
    embedded: dict[tuple[str, ...], np.ndarray] = {}  # a domain's photos are both its cross-fitted and its LODO set
    for name, (rows, split, domain) in sets.items():
        paths = tuple(rows["image_path"].astype(str))
        if paths not in embedded:
            embedded[paths] = bundle_embed_paths(bundle, list(paths), batch)
        emb = embedded[paths]
        pr, scored_in = bundle_predict(bundle, emb, domain)
        p_cal, p_raw = pr.p_malignant, pr.p_malignant_raw
        thresholds = domain_thresholds(bundle, scored_in)
        if split == "crossfit":  # the domain's out-of-fold scores and thresholds (fitted without these patients)
            oof = pd.read_csv(run.root / "calibrate" / f"crossfit_{domain}.csv", dtype={"image_id": "string"})
            if oof["image_id"].astype(str).tolist() != rows["image_id"].astype(str).tolist():
                raise RuntimeError(f"calibrate/crossfit_{domain}.csv does not match the prepared {domain} rows")
            p_cal, p_raw = oof["y_score"].to_numpy(float), oof["y_score_raw"].to_numpy(float)
            thresholds = (oof["moderate_threshold"].to_numpy(float), oof["high_threshold"].to_numpy(float))
            metrics.setdefault("per_row_thresholds", {})[name] = ROW_THRESHOLD_COLUMN
        pred = predictions_frame(rows, p_cal, p_raw, pr.condition_probs, split, scored_in, thresholds)
        pred.to_csv(out / f"predictions_{name}.csv", index=False)
        set_ops = ops if domain in ("auto", primary) else {
            "screening": float(domains_table["entries"][domain]["thresholds"]["screening"])}
        metrics["sets"][name] = evaluate_predictions(
            pred, cfg, operating_points=set_ops, default_op=default_op if set_ops is ops else "screening",
            trained_classes=trained, per_row_default=split == "crossfit")
        metrics.setdefault("set_operating_points", {})[name] = set_ops
        metrics["baselines"][name] = _baselines(run, emb, rows, cfg)
        o = metrics["sets"][name]["overall"]
        print(f"[evaluate] {name} ({domain}): n={o['n']} ACC {o['accuracy']['value']:.4f} "
              f"macro-AUC {o['macro_auc_ovr']['value'] if o['macro_auc_ovr'] else float('nan'):.4f} "
              f"malignant AUC {o['malignant_auc']['value']:.4f} ECE {o['ece_raw']['value']:.4f} -> {o['ece_calibrated']['value']:.4f}")
    write_json(out / "metrics.json", metrics)
    run.done(STAGE, {"sets": {k: len(v[0]) for k, v in sets.items()}})
    return {"sets": list(sets)}


def external_rows(run: RunDir, name: str, *, stage: str) -> pd.DataFrame:
    """Rows of an external evaluation set prepared by ``prepare``; like test rows, only ``evaluate`` may read them."""
    from training.rundir import TEST_READER, TestSplitAccessError

    if stage != TEST_READER:
        raise TestSplitAccessError(f"Stage '{stage}' asked for external evaluation rows ({name}); only '{TEST_READER}' may")
    path = run.require(run.root / "prepare" / f"external_{name}.csv", stage=stage, producer="prepare")
    df = pd.read_csv(path, dtype={"image_id": "string", "patient_id": "string", "lesion_id": "string", "sex": "string",
                                  "site": "string", "fitzpatrick_group": "string"})
    df["fitzpatrick"] = pd.array(df["fitzpatrick"], dtype="Int64")
    with (run.root / "access_log.jsonl").open("a", encoding="utf-8") as fh:
        import json

        fh.write(json.dumps({"stage": stage, "split": f"external:{name}", "n": len(df)}) + "\n")
    return df
