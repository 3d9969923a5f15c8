"""Test factory: a complete, real model bundle built in a few seconds.

:func:`build_tiny_bundle` runs the same code paths as the production bundle — a ``SiglipVisionModel`` (tiny config,
random weights, eager attention), real XGBoost heads with early stopping on a validation split, isotonic calibration,
an operating point chosen on validation, :func:`skintag.model.bundle.save_bundle` — on a few dozen real images from
``../shared/data`` (HAM10000 dermoscopy and PAD-UFES-20 smartphone photos with Fitzpatrick types). Without the data
folder it falls back to random images, so other packages' tests can still build a bundle.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from skintag import fitzpatrick

#: The tiny backbone (as transformers' own SigLIP tests use); image_size is set by the caller.
TINY_BACKBONE: dict[str, Any] = {
    "patch_size": 8,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
}
TINY_HEAD_PARAMS: dict[str, Any] = {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.3, "n_jobs": 1}


def tiny_samples(data_dir: str | Path | None = None, *, n_pad: int = 24) -> list[dict[str, Any]]:
    """Real labelled images: every HAM10000 image in ``data_dir/ham10000/images`` and the ``n_pad`` smallest
    PAD-UFES-20 photos. Each item: dataset, image_id, path, condition_id, malignant, fitzpatrick (int or None).
    Returns [] when the folders are absent."""
    import pandas as pd

    from skintag import taxonomy
    from skintag.settings import default_data_dir

    root = Path(data_dir) if data_dir is not None else default_data_dir()
    items: list[dict[str, Any]] = []
    ham_meta = root / "ham10000" / "HAM10000_metadata.csv"
    if ham_meta.is_file() and (root / "ham10000" / "images").is_dir():
        meta = pd.read_csv(ham_meta, usecols=["image_id", "dx"]).drop_duplicates("image_id").set_index("image_id")
        for path in sorted((root / "ham10000" / "images").glob("*.jpg")):
            if path.stem in meta.index:
                cid = taxonomy.HAM_DX[str(meta.loc[path.stem, "dx"])]
                items.append(
                    {
                        "dataset": "ham10000",
                        "image_id": path.stem,
                        "path": path,
                        "condition_id": cid,
                        "fitzpatrick": None,
                    }
                )
    pad_meta = root / "pad_ufes_20" / "metadata.csv"
    if n_pad and pad_meta.is_file() and (root / "pad_ufes_20" / "images").is_dir():
        meta = pd.read_csv(pad_meta, usecols=["img_id", "diagnostic", "fitspatrick"]).set_index("img_id")
        paths = [p for p in (root / "pad_ufes_20" / "images").glob("*.png") if p.name in meta.index]
        for path in sorted(paths, key=lambda p: (p.stat().st_size, p.name))[:n_pad]:
            fitz = meta.loc[path.name, "fitspatrick"]
            items.append(
                {
                    "dataset": "pad_ufes_20",
                    "image_id": path.stem,
                    "path": path,
                    "condition_id": taxonomy.PAD_DIAGNOSTIC[str(meta.loc[path.name, "diagnostic"])],
                    "fitzpatrick": None if pd.isna(fitz) else int(fitz),
                }
            )
    for item in items:
        item["malignant"] = int(item["condition_id"] in taxonomy.MALIGNANT_IDS)
    return items


def build_tiny_bundle(
    out_dir: str | Path,
    *,
    image_size: int = 32,
    random_state: int = 0,
    data_dir: str | Path | None = None,
    n_pad: int = 24,
    members: int = 1,
) -> Path:
    """Build and save a complete tiny model bundle; returns its directory.

    Parameters
    ----------
    out_dir : where to write the bundle (replaced if it already holds one).
    image_size : model input side (a multiple of the patch size 8).
    random_state : seeds the backbone weights, the train/validation split and XGBoost.
    data_dir : data root holding ``ham10000/`` and ``pad_ufes_20/``; default ``skintag.settings.default_data_dir()``.
    n_pad : how many PAD-UFES-20 photos to add to the HAM10000 images.
    members : 1 for one tower; more for an :class:`~skintag.model.ensemble.EnsembleBackbone` of that many towers
        (member ``i`` seeded ``random_state + i``, the second one 3 layers deep) with an
        :class:`~skintag.model.heads.EnsembleHead` per kind.
    """
    import torch

    from skintag.model.backbone import Preprocessing, new_backbone
    from skintag.model.bundle import save_bundle
    from skintag.model.calibration import Calibrator, threshold_for_sensitivity
    from skintag.model.heads import XGBHead

    rng = np.random.default_rng(random_state)
    items = tiny_samples(data_dir, n_pad=n_pad)
    real = len(items) >= 20
    if real:
        images = []
        for item in items:
            with Image.open(item["path"]) as im:
                images.append(im.convert("RGB"))
    else:  # no shared data: random images and labels (both classes guaranteed)
        n = 48
        images = [Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for _ in range(n)]
        conds = np.tile(np.array([0, 1, 4, 5, 6, 3]), n // 6)
        items = [
            {
                "dataset": "random",
                "image_id": f"random_{i:03d}",
                "condition_id": int(c),
                "malignant": int(c <= 3),
                "fitzpatrick": None,
            }
            for i, c in enumerate(conds)
        ]

    preprocessing = Preprocessing(image_size=image_size)
    towers = [new_backbone({**TINY_BACKBONE, "image_size": image_size, "num_hidden_layers": 3 if i == 1 else 2},
                           random_state=random_state + i) for i in range(members)]
    if members > 1:
        from skintag.model.ensemble import EnsembleBackbone

        backbone = EnsembleBackbone(towers)
    else:
        backbone = towers[0]
    with torch.no_grad():
        emb = backbone(pixel_values=preprocessing(images)).pooler_output.numpy().astype(np.float32)

    y = np.array([it["malignant"] for it in items])
    cond = np.array([it["condition_id"] for it in items])
    # stratified 2:1 train/validation split on the binary label
    is_val = np.zeros(len(items), bool)
    for label in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == label))
        is_val[idx[: max(2, len(idx) // 3)]] = True
    tr, va = ~is_val, is_val

    params = {**TINY_HEAD_PARAMS, "random_state": random_state}

    def head(kind: str) -> Any:
        if members == 1:
            return XGBHead(kind, params)
        from skintag.model.heads import EnsembleHead

        return EnsembleHead([XGBHead(kind, params) for _ in range(members)], backbone.widths)

    binary = head("binary").fit(emb[tr], y[tr], X_val=emb[va], y_val=y[va], early_stopping_rounds=10)
    condition = head("condition").fit(emb[tr], cond[tr], X_val=emb[va], y_val=cond[va], early_stopping_rounds=10)
    raw_val = binary.predict_proba(emb[va])
    calibrator = Calibrator("isotonic").fit(raw_val, y[va])
    p_val = calibrator.predict(raw_val)
    sens95 = threshold_for_sensitivity(y[va], p_val, 0.95)

    from skintag.stats import auroc

    metrics = {
        "validation": {
            "auc_raw": auroc(y[va], raw_val),
            "auc": auroc(y[va], p_val),
            "sensitivity_at_sens95": float(np.mean(p_val[y[va] == 1] >= sens95)),
            "n": int(va.sum()),
            "n_pos": int(y[va].sum()),
        }
    }
    per_group = []
    groups = np.array([fitzpatrick.group_of(it["fitzpatrick"]) for it in items])
    for g in fitzpatrick.GROUPS:
        m = va & (groups == g)
        per_group.append({"fitzpatrick_group": g, "n": int(m.sum()), "n_pos": int(y[m].sum())})

    with tempfile.TemporaryDirectory() as tmp:
        split_csv = Path(tmp) / "split.csv"
        with open(split_csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["dataset", "image_id", "split"])
            for it, v in zip(items, is_val, strict=True):
                writer.writerow([it["dataset"], it["image_id"], "val" if v else "train"])
        from skintag.model.bundle import sha256_file

        return save_bundle(
            out_dir,
            backbone=backbone,
            preprocessing=preprocessing,
            binary_head=binary,
            condition_head=condition,
            calibrator=calibrator,
            manifest_fields={
                "name": "tiny-test",
                "version": "0.0.1",
                "description": "Tiny test bundle: random-weight SigLIP backbone, heads trained on a few real images.",
                "licence": "Test artefact only. Images: HAM10000 CC BY-NC 4.0, PAD-UFES-20 CC BY 4.0.",
                "operating_points": {"sens95": sens95},
                "training_data": {
                    "datasets": sorted({it["dataset"] for it in items}),
                    "real_images": real,
                    "n_train": int(tr.sum()),
                    "n_val": int(va.sum()),
                    "split_file": "eval/split.csv",
                    "split_file_sha256": sha256_file(split_csv),
                },
                "metrics": metrics,
                "per_group": per_group,
                "known_limits": ["Random backbone weights: for tests only, never for patients."],
            },
            extra_files={"eval/split.csv": split_csv},
        )


def build_tiny_domain_bundle(out_dir: str | Path, *, image_size: int = 32, random_state: int = 0,
                             data_dir: str | Path | None = None, n_folds: int = 3) -> Path:
    """A bundle of format version 2 with two domains: HAM10000 dermoscopy (``dermoscopic``) and PAD-UFES-20 photos
    (``clinical``), each calibrated by :func:`skintag.model.domains.cross_fit_domain` (the clinical one by patient), and
    a Mahalanobis domain detector fitted on both. Built from :func:`build_tiny_bundle`'s backbone and heads; needs the
    shared data folder (HAM10000 and 24 PAD-UFES-20 photos)."""
    import pandas as pd

    from skintag.model.bundle import load_bundle, save_bundle
    from skintag.model.domains import DomainDetector, cross_fit_domain, domain_entry

    with tempfile.TemporaryDirectory() as tmp:
        base = load_bundle(build_tiny_bundle(Path(tmp) / "v1", image_size=image_size, random_state=random_state,
                                             data_dir=data_dir))
        items = tiny_samples(data_dir)
        if not items:
            raise RuntimeError("build_tiny_domain_bundle needs the shared data folder")
        meta = None
        root = Path(items[-1]["path"]).parents[1]
        if (root / "metadata.csv").is_file():
            meta = pd.read_csv(root / "metadata.csv", usecols=["img_id", "patient_id"]).set_index("img_id")
        images = []
        for item in items:
            with Image.open(item["path"]) as im:
                images.append(im.convert("RGB"))
        emb = base.embed(images)
        raw = base.binary_head.predict_proba(emb)
        y = np.array([it["malignant"] for it in items])
        names = np.array(["dermoscopic" if it["dataset"] == "ham10000" else "clinical" for it in items])
        patients = np.array([meta.loc[Path(it["path"]).name, "patient_id"] if meta is not None and
                             it["dataset"] != "ham10000" else None for it in items], dtype=object)
        domains, targets = {}, {"moderate_sensitivity": 0.95, "high_specificity": 0.90}
        for name in ("dermoscopic", "clinical"):
            m = names == name
            groups = patients[m] if name == "clinical" else None
            fit = cross_fit_domain(raw[m], y[m], groups=groups, method="platt", targets=targets, n_folds=n_folds,
                                   random_state=random_state, n_boot=200)
            entry = domain_entry(name, fit, datasets=["ham10000" if name == "dermoscopic" else "pad_ufes_20"],
                                 images=int(m.sum()), patients=None if groups is None else len(set(groups)),
                                 prevalence=float(y[m].mean()), targets=targets, n_folds=n_folds)
            domains[name] = (entry, fit.calibrator)
        detector = DomainDetector.fit({n: emb[names == n] for n in ("dermoscopic", "clinical")})
        detector.set_thresholds({n: emb[names == n] for n in ("dermoscopic", "clinical")}, 1.0)
        detector.thresholds = {k: v * 1.5 for k, v in detector.thresholds.items()}  # margin over the farthest image
        fields = base.manifest.to_dict()
        keep = ("name", "version", "description", "licence", "operating_points", "training_data", "known_limits")
        fields = {k: fields[k] for k in keep if k in fields}
        fields["thresholds"] = {k: domains["dermoscopic"][0]["thresholds"][k] for k in ("moderate", "high")}
        return save_bundle(out_dir, backbone=base.backbone, preprocessing=base.preprocessing,
                           binary_head=base.binary_head, condition_head=base.condition_head,
                           calibrator=domains["dermoscopic"][1], manifest_fields=fields, domains=domains,
                           detector=detector, detector_info={"threshold_quantile": 1.0, "note": "tiny test bundle"},
                           default_domain="dermoscopic")
