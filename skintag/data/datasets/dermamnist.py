"""DermaMNIST (MedMNIST v2): HAM10000's 10,015 training images downsampled to 28×28, with MedMNIST's official split.

It re-publishes HAM10000's images (``INFO.derived_from``): never count both as distinct images, and never combine them
in one training or evaluation set. Files under ``<data root>/dermamnist/``: ``labels.csv`` (``image_id,dx,lesion_id``)
with ``images/<image_id>.jpg``, or MedMNIST's ``dermamnist.npz``. From the npz, the 28×28 arrays are written once as PNG
files to a cache folder (``<SKINTAG_APP_DATA_DIR or .skintag>/cache/dermamnist_png/<first 16 hex of the npz's
sha256>/<image_id>.png``) so that ``image_path`` is a real file for every consumer; later loads only list that folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from skintag import taxonomy as tx
from skintag.data._common import (
    DatasetInfo,
    LoadedDataset,
    finish,
    fitz_none,
    map_column,
    map_labels,
    read_rows,
    resolve_images,
)
from skintag.data.audit import BAD_VALUE, LabelAudit, Problem
from skintag.data.schema import build_frame, empty_text, list_images, require_file
from skintag.errors import ConfigError, DataFileError

INFO = DatasetInfo(
    name="dermamnist",
    display_name="DermaMNIST (MedMNIST v2)",
    folder="dermamnist",
    domain="dermoscopic",
    licence="CC BY-NC 4.0",
    expected_files=(
        "dermamnist.npz (MedMNIST format)",
        "or labels.csv (image_id,dx,lesion_id) with images/<image_id>.jpg",
    ),
    source="https://medmnist.com (Zenodo record of MedMNIST v2)",
    citation="Yang J. et al. MedMNIST v2. Sci. Data 10, 41 (2023).",
    skin_type_field="none",
    derived_from="ham10000",
    notes="28×28 downsampled HAM10000 images: do not combine with HAM10000 in one training or evaluation set.",
)


def is_present(data_dir: str | Path) -> bool:
    """Whether ``labels.csv`` or ``dermamnist.npz`` is under ``data_dir``; reads no file."""
    folder = Path(data_dir) / INFO.folder
    return (folder / "labels.csv").is_file() or (folder / "dermamnist.npz").is_file()


_DERMAMNIST_ID = re.compile(r"^DermaMNIST_(train|val|test)_\d+$")


def _dermamnist_split(image_id: str) -> str | None:
    m = _DERMAMNIST_ID.match(image_id)
    return m.group(1) if m else None


def _dermamnist_frame(
    ids: list[str],
    dx: list[str],
    lesions: list[object],
    splits: list[object],
    paths: list[str],
    present: list[bool],
    cond: list[int],
) -> pd.DataFrame:
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": INFO.name,
        "domain": INFO.domain,
        "condition_id": cond,
        "malignant": [tx.is_malignant(c) for c in cond],
        "raw_label": dx,
        **fitz_none(),
        "patient_id": np.nan,
        "lesion_id": lesions,
        "age": np.nan,
        "sex": np.nan,
        "site": np.nan,
        "image_id": ids,
        "has_image": present,
        "official_split": splits,
        "fitzpatrick_centaur": pd.NA,
    }
    return build_frame(data, len(ids))


def _load_dermamnist_folder(folder: Path, audit: LabelAudit) -> pd.DataFrame:
    ds = INFO.name
    path = folder / "labels.csv"
    raw, lines = read_rows(path, ds, ("image_id", "dx"), "image_id", audit)
    ids = raw["image_id"].str.strip().tolist()
    dx, cond = map_column(
        raw,
        "dx",
        tx.map_ham_dx,
        dataset=ds,
        path=path,
        lines=lines,
        audit=audit,
        expected=f"one of {list(tx.DERMAMNIST_CLASSES)}",
    )
    splits: list[object] = []
    for i, image_id in enumerate(ids):
        split = _dermamnist_split(image_id)
        if split is None:
            audit.add_problem(
                Problem(
                    ds, str(path), lines[i], "image_id", image_id, "DermaMNIST_<train|val|test>_<number>", BAD_VALUE
                )
            )
        splits.append(split if split is not None else np.nan)
    folders = [folder / "images"]
    lookup = list_images(folders, (".jpg", ".jpeg", ".png"))
    paths, present = resolve_images(ids, lookup, dataset=ds, file=str(path), folders=folders, audit=audit)
    lesions = empty_text(raw["lesion_id"]) if "lesion_id" in raw else [np.nan] * len(ids)
    return _dermamnist_frame(ids, dx, lesions, splits, paths, present, cond)


def default_cache_dir() -> Path:
    """Where derived files (DermaMNIST PNGs) are written: ``<app data dir>/cache`` (``SKINTAG_APP_DATA_DIR``)."""
    from skintag.settings import Settings

    return Settings.from_env().app_data_dir / "cache"


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_dermamnist_npz(npz_path: Path, audit: LabelAudit, cache_dir: Path | None) -> pd.DataFrame:
    from PIL import Image

    ds = INFO.name
    cache = (cache_dir or default_cache_dir()) / "dermamnist_png" / _file_sha256(npz_path)[:16]
    try:
        npz = np.load(npz_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataFileError(
            f"{ds}: {npz_path} is not a readable .npz file ({exc}); expected MedMNIST's format"
        ) from exc
    with npz:
        expected_keys = [f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels")]
        missing = [k for k in expected_keys if k not in npz.files]
        if missing:
            raise DataFileError(f"{ds}: {npz_path} lacks arrays {missing}; expected {expected_keys}, found {npz.files}")
        cache.mkdir(parents=True, exist_ok=True)
        existing = set(os.listdir(cache))
        ids: list[str] = []
        dx: list[str] = []
        splits: list[object] = []
        cond: list[int] = []
        paths: list[str] = []
        for split in ("train", "val", "test"):
            images = npz[f"{split}_images"]
            labels = np.asarray(npz[f"{split}_labels"])
            if images.ndim not in (3, 4) or images.dtype != np.uint8 or labels.shape[0] != images.shape[0]:
                raise DataFileError(
                    f"{ds}: {npz_path} arrays {split}_images {images.shape} {images.dtype} / {split}_labels "
                    f"{labels.shape} do not match; expected N×H×W×3 uint8 images and N×1 integer labels"
                )
            labels = labels if labels.ndim == 1 else labels[:, 0]
            for i in range(images.shape[0]):
                image_id = f"DermaMNIST_{split}_{i:05d}"
                index = int(labels[i])
                if 0 <= index < len(tx.DERMAMNIST_CLASSES):
                    code = tx.DERMAMNIST_CLASSES[index]
                    match = tx.map_ham_dx(code)
                else:
                    code = str(index)
                    match = tx.LabelMatch(tx.OTHER_ID, tx.UNMAPPED)
                ids.append(image_id)
                dx.append(code)
                splits.append(split)
                cond.append(match.condition_id)
                name = f"{image_id}.png"
                if name not in existing:
                    tmp = cache / f".{name}.tmp"
                    Image.fromarray(images[i]).save(tmp, format="PNG")
                    os.replace(tmp, cache / name)
                paths.append(str((cache / name).resolve()))
    # audit: counts and unknown indices (row = array index within its split file key)
    map_labels(
        dx,
        tx.map_ham_dx,
        dataset=ds,
        file=str(npz_path),
        column="<split>_labels",
        lines=[int(s.rsplit("_", 1)[1]) for s in ids],
        audit=audit,
        expected="a label index 0-6",
    )
    return _dermamnist_frame(ids, dx, [np.nan] * len(ids), splits, paths, [True] * len(ids), cond)


def load(
    data_dir: str | Path,
    *,
    strict: bool = False,
    source: str = "auto",
    cache_dir: str | Path | None = None,
    require_images: bool = False,
) -> LoadedDataset:
    """DermaMNIST with MedMNIST's official split in ``official_split``.

    Parameters
    ----------
    source : ``"folder"`` (``labels.csv`` + ``images/``), ``"npz"`` (``dermamnist.npz``) or ``"auto"`` (the folder if its
        ``labels.csv`` exists, else the npz).
    cache_dir : where the npz source writes its PNGs (default :func:`default_cache_dir`).
    """
    ds = INFO.name
    folder = Path(data_dir) / INFO.folder
    npz_path = folder / "dermamnist.npz"
    if source not in ("auto", "folder", "npz"):
        raise ConfigError(f"dermamnist source {source!r} is not one of 'auto', 'folder', 'npz'")
    if source == "auto":
        source = "folder" if (folder / "labels.csv").is_file() else "npz"
    audit = LabelAudit()
    if source == "folder":
        require_file(folder / "labels.csv", ds, "labels.csv with columns image_id,dx,lesion_id (or dermamnist.npz)")
        df = _load_dermamnist_folder(folder, audit)
    else:
        require_file(npz_path, ds, "MedMNIST's dermamnist.npz (or labels.csv with images/)")
        df = _load_dermamnist_npz(npz_path, audit, Path(cache_dir) if cache_dir is not None else None)
    return finish(df, audit, strict=strict, require_images=require_images)
