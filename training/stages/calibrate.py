"""Stage ``calibrate``: per image domain, the calibrator, the validated tier thresholds and their out-of-fold
description; the domain detector.

* The primary domain (``domains.primary``, the training datasets' domain, e.g. dermoscopic DermaMNIST) is calibrated
  on the validation split; each extra domain (``domains.others``, e.g. the PAD-UFES-20 clinical photos) on all of its
  images. Both by :func:`skintag.model.domains.cross_fit_domain`: patient-grouped K-fold cross-fitting (by image where
  a dataset has no patient ids) of the calibrator and of the MODERATE (target sensitivity, melanoma included) and HIGH
  (target specificity) thresholds, so the reported sensitivity / specificity (with CIs), ECE and reliability table are
  out of fold; the shipped calibrator and thresholds are then fitted on every row of the domain.
* The detector (:class:`skintag.model.domains.DomainDetector`): Mahalanobis distance with a Ledoit-Wolf covariance,
  fitted on the primary domain's training embeddings and each extra domain's images; thresholds are the
  ``domains.detector_quantile`` of validation distances (the extra domains' out-of-fold distances). Its validation
  numbers (how often each domain's held-out images are recognised, each judged against a threshold set without its
  fold, and uniform-noise images refused) are recorded.

Writes ``calibrate/calibration.json`` (the primary domain's calibrator), ``calibrate/calibration_<domain>.json``,
``calibrate/domains.json``, ``calibrate/detector.safetensors``, ``calibrate/operating_points.json``,
``calibrate/val_scores.csv`` and ``calibrate/crossfit_<domain>.csv`` (out-of-fold scores of each extra domain).
Nothing here reads test rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from training.config import resolve_path
from training.rundir import RunDir, read_json, write_json
from training.stages.heads import embedding_source, load_shipped_heads, load_variant, member_widths, read_choice

STAGE = "calibrate"
NOISE_IMAGES = 64


def _groups(rows: pd.DataFrame) -> np.ndarray | None:
    """Cross-fitting groups: rows linked by patient, lesion or near-duplicate id (:func:`skintag.data.splits.group_ids`),
    as strings; None when the rows carry none of them (each image is then its own group)."""
    from skintag.data.splits import group_ids

    cols = [c for c in ("patient_id", "lesion_id", "near_duplicate_group") if c in rows and rows[c].notna().any()]
    if not cols:
        return None
    return np.array([f"g{g}" for g in group_ids(rows)], dtype=object)


def final_backbone(cfg: dict[str, Any], run: RunDir, *, stage: str) -> Any:
    """The backbone the bundle ships: the fine-tuned one (or the starting one); when the heads stage chose an ensemble,
    an :class:`~skintag.model.ensemble.EnsembleBackbone` of this run's and each member run's fine-tuned backbone."""
    from skintag.model.backbone import load_backbone
    from skintag.model.ensemble import EnsembleBackbone
    from training.common import initial_backbone
    from training.stages.finetune import best_backbone_dir

    if not cfg["finetune"]["enabled"]:
        return initial_backbone(cfg)
    own = load_backbone(run.require(best_backbone_dir(run), stage=stage, producer="finetune"))
    members = read_choice(run, stage=stage).get("members") or []
    if not members:
        return own
    others = [RunDir(resolve_path(m)) for m in members]
    return EnsembleBackbone([own, *(load_backbone(r.require(best_backbone_dir(r), stage=stage, producer="finetune"))
                                    for r in others)]).eval()


def domain_embeddings(cfg: dict[str, Any], run: RunDir, backbone: Any, rows: pd.DataFrame,
                      variant: str) -> np.ndarray:
    """Embeddings of an extra domain's images with the final backbone (:func:`final_backbone`), in the chosen
    variant."""
    from training.common import make_preprocessing
    from training.stages.embed import embed_rows, tta_embeddings

    pre = make_preprocessing(cfg, backbone)
    if variant == "dihedral8":
        return tta_embeddings(backbone, pre, rows["image_path"].astype(str).tolist(),
                              batch_size=int(cfg["embed"]["batch_size"]))
    return embed_rows(cfg, run, backbone, pre, rows, desc="embed domain")


def noise_embeddings(cfg: dict[str, Any], backbone: Any, variant: str, n: int, random_state: int) -> np.ndarray:
    """Embeddings of ``n`` seeded uniform-noise RGB images (224 px) by the final backbone — the detector must refuse
    them."""
    from PIL import Image

    from skintag.model.backbone import pooled_embedding
    from training.common import make_preprocessing

    pre = make_preprocessing(cfg, backbone)
    rng = np.random.default_rng(random_state)
    imgs = [Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)) for _ in range(n)]
    return pooled_embedding(backbone.eval(), pre(imgs), tta=variant == "dihedral8")[0]


def recognition_rate(detector: Any, name: str, emb: np.ndarray, own_dist: np.ndarray, folds: np.ndarray,
                     quantile: float) -> float:
    """Out of fold, the share of a domain's held-out images that the detector assigns to that domain and accepts: each
    image's distance to its own domain is ``own_dist`` (out of fold where the domain's mean and covariance were fitted
    on these images) and is judged against the threshold set on the other folds' distances; the other domains keep
    their shipped thresholds."""
    rel = {k: v / detector.thresholds[k] for k, v in detector.distances(emb).items() if k != name}
    thr = np.zeros(len(own_dist))
    for f in np.unique(folds):
        thr[folds == f] = np.quantile(own_dist[folds != f], quantile)
    rel[name] = own_dist / thr
    best = np.array([min(rel, key=lambda k, i=i: rel[k][i]) for i in range(len(own_dist))])
    return float(np.mean((best == name) & (rel[name] <= 1.0)))


def fit_detector(primary: str, X_tr: np.ndarray, X_va: np.ndarray, data: dict[str, Any], fits: dict[str, Any],
                 others: list[str], q: float, features: int | None, noise: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """The domain detector on the primary domain's training embeddings and each other domain's photos (the first
    ``features`` columns when given), thresholds at the ``q`` quantile of validation (other domains: out-of-fold)
    distances, and its validation numbers: each domain's out-of-fold recognition, the primary-vs-other AUROC, and the
    share of uniform-noise images it refuses."""
    from skintag.model.domains import DomainDetector
    from skintag.stats import auroc as binary_auc

    detector = DomainDetector.fit({primary: X_tr, **{n: data[n][1] for n in others}}, features=features)
    detector.set_thresholds({primary: X_va}, q)
    oof_dist: dict[str, np.ndarray] = {}
    for name in others:
        emb, fold = data[name][1], fits[name].folds
        d = np.zeros(len(emb))
        for f in np.unique(fold):
            part = DomainDetector.fit({name: emb[fold != f]}, features=features)
            d[fold == f] = part.distances(emb[fold == f])[name]
        oof_dist[name] = d
        detector.thresholds[name] = float(np.quantile(d, q))
    val_dist = detector.distances(X_va)
    validation: dict[str, Any] = {"quantile": q}
    own = {primary: (X_va, val_dist[primary]), **{n: (data[n][1], oof_dist[n]) for n in others}}
    for name in others:
        y_sep = np.r_[np.zeros(len(X_va)), np.ones(len(data[name][1]))]
        validation[f"auroc_{primary}_vs_{name}"] = binary_auc(
            y_sep, np.r_[val_dist[primary], detector.distances(data[name][1])[primary]])
    validation["recognised_in_domain"] = {name: recognition_rate(detector, name, emb, dist, fits[name].folds, q)
                                          for name, (emb, dist) in own.items()}
    validation["noise_out_of_domain"] = float(np.mean([not d.in_domain for d in detector.decide(noise)]))
    validation["n_noise"] = len(noise)
    return detector, validation


def run_stage(cfg: dict[str, Any], run: RunDir) -> dict[str, Any]:
    from skintag.model.calibration import Calibrator, threshold_for_sensitivity
    from skintag.model.domains import cross_fit_domain, domain_entry
    from training.common import setup_torch

    setup_torch(cfg)
    out = run.stage_dir(STAGE)
    dom = cfg["domains"]
    seed, folds, n_boot = int(cfg["seed"]), int(dom["folds"]), int(cfg["evaluate"]["n_boot"])
    targets = {k: float(v) for k, v in dom["targets"].items()}
    critical_ids = [int(c) for c in dom["critical_conditions"]]
    choice = read_choice(run, stage=STAGE)
    variant = choice["tta"]
    heads = load_shipped_heads(run, stage=STAGE)
    source = embedding_source(cfg, run)

    primary = dom["primary"]
    val_rows = run.rows("val", stage=STAGE)
    members = choice.get("members") or []
    X_va = load_variant(run, source, "val", variant, stage=STAGE, members=members)
    X_tr = load_variant(run, source, "train", variant, stage=STAGE, members=members)
    backbone = final_backbone(cfg, run, stage=STAGE)  # loaded once: the other domains' photos and the noise images
    data = {primary: (val_rows, X_va, cfg["calibrate"]["method"], list(cfg["data"]["datasets"]))}
    for name, datasets in dom["others"].items():
        rows = run.domain_rows(name, stage=STAGE)
        emb = domain_embeddings(cfg, run, backbone, rows, variant)
        np.save(out / f"embeddings_domain_{name}.npy", emb)
        data[name] = (rows, emb, dom["methods"].get(name, cfg["calibrate"]["method"]), list(datasets))

    entries: dict[str, Any] = {}
    fits: dict[str, Any] = {}
    for name, (rows, emb, method, datasets) in data.items():
        y = rows["malignant"].to_numpy(int)
        groups = _groups(rows)
        raw = heads["binary"].predict_proba(emb)
        fit = cross_fit_domain(raw, y, groups=groups, method=method, targets=targets, n_folds=folds,
                               random_state=seed, n_boot=n_boot,
                               critical=rows["condition_id"].isin(critical_ids).to_numpy())
        fits[name] = fit
        n_patients = int(rows["patient_id"].nunique()) if "patient_id" in rows and rows["patient_id"].notna().any() \
            else None
        entries[name] = domain_entry(name, fit, datasets=datasets, images=len(rows), patients=n_patients,
                                     prevalence=float(y.mean()), targets=targets, n_folds=folds)
        entries[name]["critical_conditions"] = critical_ids
        entries[name]["crossfit_groups"] = None if groups is None else int(len(set(groups.tolist())))
        crit = rows["condition_id"].isin(critical_ids).to_numpy()
        entries[name]["critical_sensitivity_oof"] = float(np.mean(fit.p_oof[crit] >= fit.moderate_oof[crit])) \
            if crit.any() else None
        entries[name]["n_critical"] = int(crit.sum())
        write_json(out / f"calibration_{name}.json", fit.calibrator.to_dict())
        if name != primary:
            pd.DataFrame({"image_id": rows["image_id"], "y_true": y, "y_score_raw": raw, "y_score": fit.p_oof,
                          "fold": fit.folds, "moderate_threshold": fit.moderate_oof,
                          "high_threshold": fit.high_oof}).to_csv(out / f"crossfit_{name}.csv", index=False)
        a = fit.achieved["moderate"]
        print(f"[calibrate] {name}: {len(rows)} images, {method}, out-of-fold ECE {fit.ece_oof:.3f}, sensitivity at "
              f"MODERATE {a['sensitivity'][0]:.3f} [{a['sensitivity'][1]:.3f}, {a['sensitivity'][2]:.3f}], "
              f"specificity {a['specificity'][0]:.3f}; thresholds {fit.thresholds}")

    # detector: on the whole embedding, or (an ensemble) on its lead tower's columns only, chosen on validation
    q = float(dom["detector_quantile"])
    noise = noise_embeddings(cfg, backbone, variant, NOISE_IMAGES, seed)
    options = {"whole embedding": None}
    if members:
        options["lead tower"] = member_widths(run, source, variant, members)[0]
    fitted = {label: fit_detector(primary, X_tr, X_va, data, fits, list(dom["others"]), q, features, noise)
              for label, features in options.items()}
    reads = max(fitted, key=lambda k: (min(fitted[k][1]["recognised_in_domain"].values()), k == "whole embedding"))
    detector, validation = fitted[reads]
    validation["reads"] = reads
    if len(fitted) > 1:
        validation["alternatives"] = {k: v[1]["recognised_in_domain"] for k, v in fitted.items()}
    detector.save(out / "detector.safetensors")
    print(f"[calibrate] detector on the {reads}: thresholds {detector.thresholds}; validation {validation}")

    # the primary domain's calibrator also fills the bundle's top-level calibration and operating points
    p_fit, y_va = fits[primary], val_rows["malignant"].to_numpy(int)
    cal_va = p_fit.calibrator.predict(heads["binary"].predict_proba(X_va))
    ops: dict[str, dict[str, float]] = {"screening": {"target_sensitivity": targets["moderate_sensitivity"],
                                                      "threshold": p_fit.thresholds["screening"]}}
    for name, target in cfg["calibrate"]["operating_points"].items():
        ops[name] = {"target_sensitivity": float(target),
                     "threshold": float(threshold_for_sensitivity(y_va, cal_va, float(target)))}
    write_json(out / "calibration.json", p_fit.calibrator.to_dict())
    write_json(out / "operating_points.json", ops)
    write_json(out / "domains.json", {"primary": primary, "tta": variant, "entries": entries,
                                      "detector": {"thresholds": detector.thresholds, "threshold_quantile": q,
                                                   "validation": validation}})
    pd.DataFrame({"image_id": val_rows["image_id"], "y_true": y_va, "y_score_raw": p_fit.raw_oof,
                  "y_score_oof": p_fit.p_oof}).to_csv(out / "val_scores.csv", index=False)
    info = {"domains": {k: {"thresholds": v["thresholds"], "ece_oof": v["ece_oof"],
                            "achieved": v["achieved"]} for k, v in entries.items()},
            "detector": validation, "default_operating_point": cfg["calibrate"]["default_operating_point"],
            "method": Calibrator(cfg["calibrate"]["method"]).method}
    run.done(STAGE, info)
    return info


def load_calibration(run: RunDir, *, stage: str) -> tuple[Any, dict[str, dict[str, float]]]:
    from skintag.model.calibration import Calibrator

    d = run.root / STAGE
    cal = Calibrator.from_dict(read_json(run.require(d / "calibration.json", stage=stage, producer=STAGE)))
    ops = read_json(run.require(d / "operating_points.json", stage=stage, producer=STAGE))
    return cal, ops


def load_domains(run: RunDir, *, stage: str) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """({name: (manifest entry, calibrator)}, detector, domains.json) as the calibrate stage wrote them."""
    from skintag.model.calibration import Calibrator
    from skintag.model.domains import DomainDetector

    d = run.root / STAGE
    table = read_json(run.require(d / "domains.json", stage=stage, producer=STAGE))
    domains = {name: (entry, Calibrator.from_dict(read_json(d / f"calibration_{name}.json")))
               for name, entry in table["entries"].items()}
    detector = DomainDetector.load(d / "detector.safetensors", table["detector"]["thresholds"])
    return domains, detector, table
