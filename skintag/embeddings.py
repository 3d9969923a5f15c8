"""Batched embedding extraction with a content-addressed, resumable on-disk cache.

An embedding is identified by three things: the SHA-256 of the image file's bytes, a hash of the backbone (its config
and weights, :func:`skintag.model.backbone.backbone_hash`, or a caller-supplied key such as a bundle fingerprint), and
:meth:`Preprocessing.key`. The cache keeps one folder per (backbone, preprocessing) pair holding

* ``meta.json`` — what the folder is for (backbone key, preprocessing settings, embedding size);
* ``shard-<id>.npz`` — one file per extracted batch, arrays ``keys`` (image SHA-256 hex strings) and ``embeddings``
  (float32), written to a temporary name and renamed into place, so an interrupted run leaves only whole shards.

The shards are their own index (no separate index file can fall out of step with them); they are read with
``allow_pickle=False``. A repeat run finds every key and does no model work; a run interrupted part-way recomputes only
the images whose batch never reached disk.

Extraction decodes images in worker threads one batch ahead of the model, shows a tqdm bar, and can run under
``accelerate`` (each process embeds its share of the missing images and the results are gathered).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from skintag.errors import BadImageError, ConfigError, DataFileError

if TYPE_CHECKING:  # pragma: no cover
    from accelerate import Accelerator
    from transformers import SiglipVisionModel

    from skintag.model.backbone import Preprocessing

ImageSource = str | os.PathLike | bytes | Image.Image

CACHE_FORMAT_VERSION = 1


# -- keys --------------------------------------------------------------------------------------------------------------


def image_key(src: ImageSource) -> str:
    """SHA-256 (hex) of an image file's bytes; for an in-memory PIL image, of its mode, size and pixels."""
    if isinstance(src, Image.Image):
        from skintag.images import pil_key

        return pil_key(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return hashlib.sha256(src).hexdigest()
    h = hashlib.sha256()
    try:
        with open(src, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    except OSError as exc:
        raise DataFileError(f"Cannot read image file {src}: {exc.strerror or exc}") from exc
    return h.hexdigest()


def load_image(src: ImageSource) -> Image.Image:
    """Decode an image (path, bytes or PIL image) to RGB exactly as the app decodes an upload.

    This is :func:`skintag.images.load_rgb` (EXIF orientation, transparency onto white, 16-bit and CMYK handling,
    longer side at most 2048 px), so the pixels embedded for training are the pixels served.

    Raises
    ------
    DataFileError
        If a path does not exist or cannot be read.
    BadImageError
        If the bytes are not an acceptable image (the message names the file).
    """
    from skintag.images import load_rgb

    try:
        return load_rgb(src).image
    except BadImageError as exc:
        if exc.reason == "not_found":
            raise DataFileError(str(exc)) from exc
        raise


# -- the cache ---------------------------------------------------------------------------------------------------------


class EmbeddingCache:
    """On-disk embedding store keyed by (backbone key, preprocessing key, image SHA-256). See the module docstring.

    Parameters
    ----------
    cache_dir : folder for all namespaces (created on first write).
    """

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir)
        # namespace folder -> (shards already indexed, key -> (shard name, row))
        self._index: dict[Path, tuple[set[str], dict[str, tuple[str, int]]]] = {}
        self._arrays: dict[Path, np.ndarray] = {}

    def namespace(self, backbone_key: str, preprocessing_key: str) -> Path:
        """The folder of one (backbone, preprocessing) pair."""
        for name, value in (("backbone_key", backbone_key), ("preprocessing_key", preprocessing_key)):
            if not value or not all(c.isalnum() or c in "-_" for c in value):
                raise ConfigError(f"EmbeddingCache: {name} must be a non-empty alphanumeric key, got {value!r}")
        return self.cache_dir / f"{backbone_key[:24]}_{preprocessing_key[:16]}"

    def _refresh(self, ns: Path) -> dict[str, tuple[str, int]]:
        seen, index = self._index.setdefault(ns, (set(), {}))
        if ns.is_dir():
            for shard in sorted(ns.glob("shard-*.npz")):
                if shard.name in seen:
                    continue
                try:
                    with np.load(shard, allow_pickle=False) as z:
                        keys = z["keys"]
                except (OSError, ValueError, KeyError) as exc:
                    raise DataFileError(
                        f"Embedding cache shard {shard} is unreadable ({exc}); delete it and run again"
                    ) from exc
                for row, key in enumerate(keys.tolist()):
                    index[key] = (shard.name, row)
                seen.add(shard.name)
        return index

    def _shard_embeddings(self, path: Path) -> np.ndarray:
        arr = self._arrays.get(path)
        if arr is None:
            with np.load(path, allow_pickle=False) as z:
                arr = z["embeddings"]
            self._arrays[path] = arr
        return arr

    def get(self, backbone_key: str, preprocessing_key: str, image_keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached embeddings among ``image_keys`` (missing keys are simply absent from the result)."""
        ns = self.namespace(backbone_key, preprocessing_key)
        index = self._refresh(ns)
        found: dict[str, np.ndarray] = {}
        for key in image_keys:
            hit = index.get(key)
            if hit is not None and key not in found:
                found[key] = self._shard_embeddings(ns / hit[0])[hit[1]]
        return found

    def put(
        self,
        backbone_key: str,
        preprocessing_key: str,
        image_keys: Sequence[str],
        embeddings: np.ndarray,
        *,
        meta: dict[str, Any] | None = None,
    ) -> Path:
        """Write one shard atomically (temporary file + rename) and return its path."""
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        keys = np.asarray(list(image_keys), dtype="<U64")
        if emb.ndim != 2 or len(keys) != len(emb):
            raise ConfigError(f"EmbeddingCache.put: {len(keys)} keys for embeddings of shape {emb.shape}")
        ns = self.namespace(backbone_key, preprocessing_key)
        ns.mkdir(parents=True, exist_ok=True)
        meta_path = ns / "meta.json"
        if not meta_path.exists():
            info = {
                "format_version": CACHE_FORMAT_VERSION,
                "backbone_key": backbone_key,
                "preprocessing_key": preprocessing_key,
                "embedding_size": int(emb.shape[1]),
                **(meta or {}),
            }
            tmp = meta_path.with_name(f".meta-{uuid.uuid4().hex}.tmp")
            tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, meta_path)
        name = f"shard-{uuid.uuid4().hex}.npz"
        tmp = ns / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, keys=keys, embeddings=emb)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, ns / name)
        self._arrays[ns / name] = emb
        seen, index = self._index.setdefault(ns, (set(), {}))
        for row, key in enumerate(keys.tolist()):
            index[key] = (name, row)
        seen.add(name)
        return ns / name

    def count(self, backbone_key: str, preprocessing_key: str) -> int:
        """Number of distinct images cached for this (backbone, preprocessing) pair."""
        return len(self._refresh(self.namespace(backbone_key, preprocessing_key)))


# -- extraction --------------------------------------------------------------------------------------------------------


def _decode_batch(sources: Sequence[ImageSource], preprocessing: Preprocessing) -> np.ndarray:
    return np.stack([preprocessing.array(load_image(s)) for s in sources])


def _forward(backbone: SiglipVisionModel, pixels: np.ndarray, device: Any) -> np.ndarray:
    import torch

    with torch.inference_mode():
        out = backbone(pixel_values=torch.from_numpy(pixels).to(device))
    return out.pooler_output.detach().to("cpu", dtype=torch.float32).numpy()


def _embed_missing(
    backbone: SiglipVisionModel,
    preprocessing: Preprocessing,
    todo: list[tuple[str, ImageSource]],
    *,
    device: Any,
    batch_size: int,
    cache: EmbeddingCache | None,
    backbone_key: str,
    progress: bool,
    num_workers: int,
) -> dict[str, np.ndarray]:
    from tqdm.auto import tqdm

    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    results: dict[str, np.ndarray] = {}
    if not batches:
        return results
    meta = {"preprocessing": preprocessing.to_dict()}
    bar = tqdm(total=len(todo), unit="img", desc="embedding", disable=not progress)
    with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:

        def submit(batch: list[tuple[str, ImageSource]]):
            # split the batch over the workers so decoding itself runs in parallel
            step = max(1, -(-len(batch) // max(1, num_workers)))
            return [
                pool.submit(_decode_batch, [s for _, s in batch[j : j + step]], preprocessing)
                for j in range(0, len(batch), step)
            ]

        pending = submit(batches[0])
        try:
            for i, batch in enumerate(batches):
                pixels = np.concatenate([f.result() for f in pending])
                pending = submit(batches[i + 1]) if i + 1 < len(batches) else []
                emb = _forward(backbone, pixels, device)
                keys = [k for k, _ in batch]
                if cache is not None:
                    cache.put(backbone_key, preprocessing.key(), keys, emb, meta=meta)
                results.update(zip(keys, emb, strict=True))
                bar.update(len(batch))
        finally:
            for f in pending:
                f.cancel()
            bar.close()
    return results


def extract_embeddings(
    backbone: SiglipVisionModel,
    preprocessing: Preprocessing,
    images: Sequence[ImageSource],
    *,
    cache: EmbeddingCache | None = None,
    batch_size: int = 64,
    accelerator: Accelerator | None = None,
    progress: bool = True,
    backbone_key: str | None = None,
    num_workers: int = 2,
) -> np.ndarray:
    """Embeddings (N, D) float32 of images (file paths, bytes or PIL images), in input order.

    Parameters
    ----------
    backbone : a SiglipVisionModel; the embedding is its pooled (MAP) output. Used in eval mode (restored after).
    preprocessing : the model's :class:`~skintag.model.backbone.Preprocessing`.
    images : file paths, raw file bytes, or PIL images. Identical contents are embedded once.
    cache : where to look up and store embeddings; ``None`` computes everything and stores nothing.
    batch_size : images per forward pass (and per cache shard).
    accelerator : an ``accelerate.Accelerator``; the missing images are split over its processes and gathered, and the
        model runs on ``accelerator.device``. Without it the model runs where its weights are.
    progress : show a tqdm bar (main process only).
    backbone_key : cache key of the backbone; default :func:`~skintag.model.backbone.backbone_hash` of its weights.
    num_workers : decoding threads (decoding of the next batch overlaps the current forward pass).

    Raises
    ------
    DataFileError, BadImageError
        An image file is missing or cannot be decoded (named in the message).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    images = list(images)
    if len(images) > 32 and num_workers > 1:  # hashlib releases the GIL: hash files in parallel
        with ThreadPoolExecutor(max_workers=num_workers) as pool:
            keys = list(pool.map(image_key, images, chunksize=16))
    else:
        keys = [image_key(src) for src in images]
    if cache is not None and backbone_key is None:
        from skintag.model.backbone import backbone_hash

        backbone_key = backbone_hash(backbone)
    bkey = backbone_key or "uncached"
    multi = accelerator is not None and accelerator.num_processes > 1
    if multi:  # every process must see the same cache state, or they would split different work lists
        accelerator.wait_for_everyone()
    found = cache.get(bkey, preprocessing.key(), keys) if cache is not None else {}
    if multi:
        accelerator.wait_for_everyone()
    todo: dict[str, ImageSource] = {}
    for key, src in zip(keys, images, strict=True):
        if key not in found and key not in todo:
            todo[key] = src
    items = list(todo.items())

    if items:
        was_training = backbone.training
        backbone.eval()
        try:
            if accelerator is None:
                device = next(backbone.parameters()).device
                found.update(
                    _embed_missing(
                        backbone,
                        preprocessing,
                        items,
                        device=device,
                        batch_size=batch_size,
                        cache=cache,
                        backbone_key=bkey,
                        progress=progress,
                        num_workers=num_workers,
                    )
                )
            else:
                found.update(
                    _embed_distributed(
                        backbone,
                        preprocessing,
                        items,
                        accelerator=accelerator,
                        batch_size=batch_size,
                        cache=cache,
                        backbone_key=bkey,
                        progress=progress,
                        num_workers=num_workers,
                    )
                )
        finally:
            backbone.train(was_training)

    if not keys:
        size = int(getattr(backbone.config, "hidden_size", 0))
        return np.zeros((0, size), dtype=np.float32)
    lost = [src for k, src in zip(keys, images, strict=True) if k not in found]
    if lost:  # cannot happen unless processes disagreed about the work list
        raise DataFileError(f"{len(lost)} images were not embedded (first: {lost[0]!s:.200}); run again to resume")
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


def _embed_distributed(
    backbone: SiglipVisionModel,
    preprocessing: Preprocessing,
    items: list[tuple[str, ImageSource]],
    *,
    accelerator: Accelerator,
    batch_size: int,
    cache: EmbeddingCache | None,
    backbone_key: str,
    progress: bool,
    num_workers: int,
) -> dict[str, np.ndarray]:
    from accelerate.utils import gather_object

    backbone.to(accelerator.device)
    with accelerator.split_between_processes(items) as part:
        mine = _embed_missing(
            backbone,
            preprocessing,
            list(part),
            device=accelerator.device,
            batch_size=batch_size,
            cache=cache,
            backbone_key=backbone_key,
            progress=progress and accelerator.is_main_process,
            num_workers=num_workers,
        )
    gathered = gather_object([(k, v) for k, v in mine.items()])
    return {k: np.asarray(v, dtype=np.float32) for k, v in gathered}
