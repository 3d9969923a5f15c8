"""Stage ``embed``: embeddings of the training and validation rows from the frozen starting backbone (stage 1 of the
two-stage training), through the content-addressed cache so that a repeat run does no model work. Test rows are
never embedded here (only ``evaluate`` reads them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from training.common import initial_backbone, make_preprocessing, setup_torch
from training.rundir import RunDir

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

STAGE = "embed"


def embed_rows(cfg: dict[str, Any], run: RunDir, backbone: Any, preprocessing: Any, rows: pd.DataFrame, *,
               desc: str = "embed") -> np.ndarray:
    """Embeddings (N, D) float32 of the images of ``rows`` via :func:`skintag.embeddings.extract_embeddings` with the
    run's cache, under an Accelerate accelerator."""
    from accelerate import Accelerator

    from skintag.embeddings import EmbeddingCache, extract_embeddings

    paths = rows["image_path"].astype(str).tolist()
    print(f"[{desc}] {len(paths)} images")
    if not paths:
        return np.zeros((0, int(backbone.config.hidden_size)), dtype=np.float32)
    return extract_embeddings(
        backbone,
        preprocessing,
        paths,
        cache=EmbeddingCache(run.cache_dir),
        batch_size=int(cfg["embed"]["batch_size"]),
        accelerator=Accelerator(),
        progress=True,
    ).astype(np.float32)


def embed_rows_tta(cfg: dict[str, Any], backbone: Any, preprocessing: Any, rows: pd.DataFrame) -> np.ndarray:
    """Dihedral test-time-augmented embeddings (N, D) float32 of ``rows``: the mean over the 8 flips/rotations, as a
    bundle with ``test_time_augmentation: dihedral8`` computes them (:func:`skintag.model.backbone.pooled_embedding`).
    Not cached (the cache holds single-view embeddings)."""
    return tta_embeddings(backbone, preprocessing, rows["image_path"].astype(str).tolist(),
                          batch_size=int(cfg["embed"]["batch_size"]))


def tta_embeddings(backbone: Any, preprocessing: Any, paths: list[str], *, batch_size: int = 256) -> np.ndarray:
    """Mean embedding over the 8 dihedral views of each image file, in batches."""
    from skintag.embeddings import load_image
    from skintag.model.backbone import pooled_embedding

    backbone.eval()
    chunks = [pooled_embedding(backbone, preprocessing([load_image(p) for p in paths[i : i + batch_size]]), tta=True)[0]
              for i in range(0, len(paths), batch_size)]
    dim = int(backbone.config.hidden_size)
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, dim), np.float32)


def run_stage(cfg: dict[str, Any], run: RunDir) -> dict[str, Any]:
    from skintag.model.backbone import backbone_hash

    setup_torch(cfg)
    out = run.stage_dir(STAGE)
    backbone = initial_backbone(cfg)
    preprocessing = make_preprocessing(cfg, backbone)
    info: dict[str, Any] = {"backbone_hash": backbone_hash(backbone), "preprocessing": preprocessing.to_dict()}
    for split in ("train", "val"):
        rows = run.rows(split, stage=STAGE)
        emb = embed_rows(cfg, run, backbone, preprocessing, rows, desc=f"embed {split}")
        np.save(out / f"embeddings_{split}.npy", emb)
        if cfg["embed"]["tta"] != "none" and not cfg["finetune"]["enabled"]:  # else finetune writes them
            np.save(out / f"embeddings_{split}_tta.npy", embed_rows_tta(cfg, backbone, preprocessing, rows))
        info[f"n_{split}"] = len(rows)
    info["dim"] = int(emb.shape[1])
    run.done(STAGE, info)
    return info
