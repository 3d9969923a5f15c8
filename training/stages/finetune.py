"""Stage ``finetune``: train the SigLIP backbone (last N encoder layers, or all of it from scratch) with a small MLP
condition head on the training split, early-stopped on validation, then re-embed train and validation with the best
backbone.

Under Hugging Face Accelerate (one script for CPU, one GPU or many): AdamW with separate backbone/head learning rates
and weight decay (none on biases and norms), linear warm-up then cosine decay per optimiser step, gradient
accumulation up to the effective batch, gradient clipping, class-weighted cross-entropy times the fairness sample
weights, augmentation, early stopping on a validation metric (AUC by default). Checkpoints are safetensors: the best
backbone (``save_pretrained``) and head, and a ``last/`` checkpoint (model, optimiser state, schedule, history) written
every epoch, from which an interrupted run resumes at the next epoch with the same result (each epoch reseeds its
shuffling, augmentation and dropout from ``random_state`` and the epoch number).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from training.common import (
    MALIGNANT_LIST,
    class_weights,
    initial_backbone,
    make_preprocessing,
    open_rgb,
    present_classes,
    setup_torch,
)
from training.config import config_hash
from training.rundir import RunDir, read_json, write_json

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch

STAGE = "finetune"
# Keep decoded training images in memory when they take less than this (DermaMNIST: 16 MB).
_MEMORY_CACHE_BYTES = 2 * 1024**3


def _epoch_seed(random_state: int, epoch: int) -> int:
    return int(random_state) * 1000 + int(epoch)


class _Images:
    """Decoded images of some table rows, resized to the model input, as uint8 H×W×3 arrays (kept in memory when
    they fit)."""

    def __init__(self, paths: list[str], size: int) -> None:
        self.paths = paths
        self.size = size
        self.keep = len(paths) * size * size * 3 < _MEMORY_CACHE_BYTES
        self._mem: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> np.ndarray:
        if i in self._mem:
            return self._mem[i]
        from PIL import Image

        im = open_rgb(self.paths[i])
        if im.size != (self.size, self.size):
            im = im.resize((self.size, self.size), Image.Resampling.BICUBIC)
        arr = np.asarray(im, dtype=np.uint8)
        if self.keep:
            self._mem[i] = arr
        return arr


def _torch_parts() -> Any:
    """Torch classes built lazily (so that importing the pipeline does not import torch)."""
    import torch
    from torch import nn
    from torch.utils.data import Dataset, Sampler

    class RowsDataset(Dataset):
        def __init__(self, images: _Images, labels: np.ndarray, weights: np.ndarray, preprocessing: Any) -> None:
            self.images, self.labels, self.weights = images, labels, weights
            self.preprocessing = preprocessing
            self.transform = None

        def __len__(self) -> int:
            return len(self.images)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int, float]:
            from PIL import Image

            arr = self.images.get(i)
            if self.transform is not None:
                arr = self.transform(arr)
            x = torch.from_numpy(self.preprocessing.array(Image.fromarray(arr)))
            return x, int(self.labels[i]), float(self.weights[i])

    class EpochPermutation(Sampler):
        """A new seeded permutation every epoch (``set_epoch``), so a resumed run shuffles as an unbroken one."""

        def __init__(self, n: int, random_state: int) -> None:
            self.n, self.random_state, self.epoch = n, random_state, 0

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch

        def __iter__(self):  # noqa: ANN204
            return iter(np.random.default_rng(_epoch_seed(self.random_state, self.epoch)).permutation(self.n).tolist())

        def __len__(self) -> int:
            return self.n

    class Classifier(nn.Module):
        """Backbone → pooled (MAP) embedding → MLP → condition logits."""

        def __init__(self, backbone: nn.Module, n_classes: int, hidden: int, dropout: float) -> None:
            super().__init__()
            self.backbone = backbone
            dim = int(backbone.config.hidden_size)
            self.head = nn.Sequential(
                nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes)
            )

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            pooled = self.backbone(pixel_values=pixel_values).pooler_output
            return self.head(pooled)

    return RowsDataset, EpochPermutation, Classifier


def set_trainable(backbone: Any, unfreeze_layers: int | str) -> int:
    """Freeze the backbone except its last ``unfreeze_layers`` encoder layers, the post-layernorm and the MAP head
    (``"all"``: everything trainable). Returns the number of trainable backbone parameters."""
    layers = backbone.encoder.layers
    if unfreeze_layers == "all":
        for p in backbone.parameters():
            p.requires_grad_(True)
    else:
        n = int(unfreeze_layers)
        for p in backbone.parameters():
            p.requires_grad_(False)
        train_modules = list(layers[len(layers) - n :]) if n > 0 else []
        train_modules += [backbone.post_layernorm, backbone.head]
        for module in train_modules:
            for p in module.parameters():
                p.requires_grad_(True)
    return sum(p.numel() for p in backbone.parameters() if p.requires_grad)


def _param_groups(model: Any, ft: dict[str, Any]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, bool], list[Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "head" if name.startswith("head.") else "backbone"
        decay = p.ndim >= 2
        groups.setdefault((part, decay), []).append(p)
    out = []
    for (part, decay), params in sorted(groups.items()):
        out.append(
            {
                "params": params,
                "lr": float(ft["lr_head"] if part == "head" else ft["lr_backbone"]),
                "weight_decay": float(ft["weight_decay"]) if decay else 0.0,
            }
        )
    return out


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, st in state["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{idx}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}/{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        idx, name = key.split("/", 1)
        state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _val_metrics(y: np.ndarray, probs: np.ndarray, present: list[int]) -> dict[str, float]:
    from skintag.metrics import accuracy, macro_auc_ovr
    from skintag.stats import auroc as binary_auc

    malignant = np.isin(y, MALIGNANT_LIST).astype(int)
    p_mal = probs[:, MALIGNANT_LIST].sum(axis=1)
    return {
        "accuracy": accuracy(y, probs),
        "macro_auc": macro_auc_ovr(y, probs, classes=[c for c in present if c in set(np.unique(y).tolist())]),
        "malignant_auc": binary_auc(malignant, p_mal),
    }


def _rows_arrays(rows: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    return (
        rows["image_path"].astype(str).tolist(),
        rows["condition_id"].to_numpy(dtype=int),
        rows["sample_weight"].to_numpy(dtype=float),
    )


def train(cfg: dict[str, Any], run: RunDir) -> dict[str, Any]:
    """The training loop; writes ``finetune/best`` (backbone + head) and ``finetune/history.json``. Resumes from
    ``finetune/last`` when it matches this config."""
    import torch
    import torch.nn.functional as F
    from accelerate import Accelerator
    from safetensors.torch import load_file, save_file
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    from training.augment_small import make_transform

    setup_torch(cfg)
    ft = cfg["finetune"]
    random_state = int(cfg["seed"])
    out = run.stage_dir(STAGE)
    fingerprint = config_hash({k: cfg[k] for k in ("seed", "data", "backbone", "finetune")})
    train_rows = run.rows("train", stage=STAGE)
    val_rows = run.rows("val", stage=STAGE)
    tr_paths, tr_y, tr_w = _rows_arrays(train_rows)
    va_paths, va_y, va_w = _rows_arrays(val_rows)
    present = present_classes(tr_y)
    cls_w = class_weights(tr_y, float(ft["class_weight_power"]))

    backbone = initial_backbone(cfg)
    preprocessing = make_preprocessing(cfg, backbone)
    n_trainable = set_trainable(backbone, ft["unfreeze_layers"])
    RowsDataset, EpochPermutation, Classifier = _torch_parts()
    torch.manual_seed(random_state)
    model = Classifier(backbone, n_classes=len(present), hidden=int(ft["head_hidden"]), dropout=float(ft["head_dropout"]))

    accum = int(ft["effective_batch_size"]) // int(ft["batch_size"])
    accelerator = Accelerator(gradient_accumulation_steps=accum)
    size = preprocessing.image_size
    train_ds = RowsDataset(_Images(tr_paths, size), np.searchsorted(present, tr_y), tr_w, preprocessing)
    val_ds = RowsDataset(_Images(va_paths, size), np.searchsorted(present, np.where(np.isin(va_y, present), va_y, present[0])), va_w, preprocessing)
    sampler = EpochPermutation(len(train_ds), random_state)
    train_loader = DataLoader(train_ds, batch_size=int(ft["batch_size"]), sampler=sampler, drop_last=False)
    val_loader = DataLoader(val_ds, batch_size=max(64, int(ft["batch_size"])), shuffle=False)
    optimizer = torch.optim.AdamW(_param_groups(model, ft))
    epochs = int(ft["epochs"])
    steps_per_epoch = math.ceil(len(train_loader) / accum)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, int(float(ft["warmup_epochs"]) * steps_per_epoch), max(1, epochs * steps_per_epoch)
    )
    model, optimizer, train_loader, val_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, val_loader, scheduler
    )
    class_w_t = torch.tensor(cls_w[present], dtype=torch.float32, device=accelerator.device)

    last_dir, best_dir = out / "last", out / "best"
    history: list[dict[str, Any]] = []
    best_score, best_epoch, start_epoch, bad_epochs = -math.inf, -1, 0, 0
    state_path = last_dir / "state.json"
    if state_path.is_file():
        state = read_json(state_path)
        if state.get("fingerprint") == fingerprint:
            accelerator.unwrap_model(model).load_state_dict(load_file(str(last_dir / "model.safetensors")))
            optimizer.load_state_dict(_unflatten_optimizer(load_file(str(last_dir / "optimizer.safetensors")), state["optimizer"]))
            scheduler.scheduler.load_state_dict(state["scheduler"])
            history, best_score, best_epoch = state["history"], state["best_score"], state["best_epoch"]
            start_epoch, bad_epochs = state["epoch"] + 1, state["bad_epochs"]
            accelerator.print(f"[finetune] resuming at epoch {start_epoch + 1} (best so far epoch {best_epoch + 1})")
        else:
            accelerator.print("[finetune] ignoring finetune/last: it was written with a different config")

    metric_name = ft["early_stopping_metric"]
    accelerator.print(
        f"[finetune] {len(train_ds)} train / {len(val_ds)} val images, classes {present}, "
        f"{n_trainable / 1e6:.2f} M trainable backbone parameters, {epochs} epochs x {steps_per_epoch} steps "
        f"(batch {ft['batch_size']} x {accum} accumulation) on {accelerator.device}"
    )
    stopped_early = False
    for epoch in range(start_epoch, epochs):
        if bad_epochs >= int(ft["patience"]):
            stopped_early = True
            break
        t0 = time.time()
        eseed = _epoch_seed(random_state, epoch)
        torch.manual_seed(eseed)
        # Accelerate's prepared loader re-sets the sampler's epoch from its own counter on every pass, so the
        # epoch goes through the loader (a resumed run would otherwise reshuffle as epoch 0).
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        else:
            sampler.set_epoch(epoch)
        train_ds.transform = make_transform(ft["augment"], random_state=eseed)
        model.train()
        total, total_w = 0.0, 0.0
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not accelerator.is_local_main_process,
                   mininterval=10, leave=False)
        for x, y, w in bar:
            with accelerator.accumulate(model):
                logits = model(x)
                per_row = F.cross_entropy(logits, y, reduction="none", label_smoothing=float(ft["label_smoothing"]))
                weight = class_w_t[y] * w.float()
                loss = (per_row * weight).sum() / weight.sum().clamp_min(1e-12)
                accelerator.backward(loss)
                if accelerator.sync_gradients and ft["grad_clip"]:
                    accelerator.clip_grad_norm_(model.parameters(), float(ft["grad_clip"]))
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            total += float(loss.detach()) * len(y)
            total_w += len(y)
        train_ds.transform = None

        model.eval()
        probs_list = []
        with torch.no_grad():
            for x, _y, _w in val_loader:
                p = accelerator.gather_for_metrics(torch.softmax(model(x), dim=-1))
                probs_list.append(p.cpu().numpy())
        val_probs_present = np.concatenate(probs_list)
        val_probs = np.zeros((len(va_y), 10))
        val_probs[:, present] = val_probs_present
        metrics = _val_metrics(va_y, val_probs, present)
        score = metrics[metric_name]
        improved = score > best_score
        if improved:
            best_score, best_epoch, bad_epochs = score, epoch, 0
            if accelerator.is_main_process:
                unwrapped = accelerator.unwrap_model(model)
                unwrapped.backbone.save_pretrained(best_dir / "backbone", safe_serialization=True)
                save_file({k: v.contiguous() for k, v in unwrapped.head.state_dict().items()}, str(best_dir / "head.safetensors"))
        else:
            bad_epochs += 1
        record = {
            "epoch": epoch + 1,
            "train_loss": total / max(total_w, 1),
            "lr_backbone": scheduler.get_last_lr()[0],
            **{f"val_{k}": v for k, v in metrics.items()},
            "seconds": round(time.time() - t0, 1),
            "best": bool(improved),
        }
        history.append(record)
        accelerator.print(
            f"[finetune] epoch {epoch + 1}/{epochs} loss {record['train_loss']:.4f} val acc {metrics['accuracy']:.4f} "
            f"macro-AUC {metrics['macro_auc']:.4f} malignant-AUC {metrics['malignant_auc']:.4f} "
            f"({record['seconds']} s){' *' if improved else ''}",
        )
        if accelerator.is_main_process:
            last_dir.mkdir(parents=True, exist_ok=True)
            unwrapped = accelerator.unwrap_model(model)
            save_file({k: v.contiguous() for k, v in unwrapped.state_dict().items()}, str(last_dir / "model.safetensors"))
            opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
            save_file(opt_tensors, str(last_dir / "optimizer.safetensors"))
            write_json(
                state_path,
                {
                    "fingerprint": fingerprint,
                    "epoch": epoch,
                    "best_score": best_score,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                    "history": history,
                    "scheduler": scheduler.scheduler.state_dict(),
                    "optimizer": opt_meta,
                },
            )
    summary = {
        "fingerprint": fingerprint,
        "best_epoch": best_epoch + 1,
        "best_val": {metric_name: best_score},
        "epochs_run": len(history),
        "stopped_early": stopped_early or (len(history) < epochs),
        "classes": present,
        "class_weights": cls_w.tolist(),
        "trainable_backbone_parameters": n_trainable,
        "history": history,
    }
    write_json(out / "history.json", summary)
    return summary


def run_stage(cfg: dict[str, Any], run: RunDir) -> dict[str, Any]:
    """Train (or resume), then re-embed train and validation with the best backbone."""
    from training.stages.embed import embed_rows, embed_rows_tta

    out = run.stage_dir(STAGE)
    if not cfg["finetune"]["enabled"]:
        print("[finetune] disabled in the config (finetune.enabled: false); heads use the frozen embeddings")
        run.done(STAGE, {"enabled": False})
        return {"enabled": False}
    history_path = out / "history.json"
    fingerprint = config_hash({k: cfg[k] for k in ("seed", "data", "backbone", "finetune")})
    if history_path.is_file() and read_json(history_path).get("fingerprint") == fingerprint and (out / "best").is_dir():
        summary = read_json(history_path)
        print(f"[finetune] training already finished (best epoch {summary['best_epoch']}); re-embedding only")
    else:
        summary = train(cfg, run)
    from skintag.model.backbone import load_backbone

    setup_torch(cfg)
    backbone = load_backbone(out / "best" / "backbone")
    preprocessing = make_preprocessing(cfg, backbone)
    for split in ("train", "val"):
        rows = run.rows(split, stage=STAGE)
        emb = embed_rows(cfg, run, backbone, preprocessing, rows, desc=f"re-embed {split}")
        np.save(out / f"embeddings_{split}.npy", emb)
        if cfg["embed"]["tta"] != "none":
            np.save(out / f"embeddings_{split}_tta.npy", embed_rows_tta(cfg, backbone, preprocessing, rows))
    run.done(STAGE, {"enabled": True, "best_epoch": summary["best_epoch"], "best_val": summary["best_val"]})
    return summary


def best_backbone_dir(run: RunDir) -> Path:
    return run.root / STAGE / "best" / "backbone"
