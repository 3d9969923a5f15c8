"""One loader per dataset, each returning the unified table of :mod:`skintag.data.schema`, and the dataset registry.

Layout: ``root`` is the data root holding one folder per dataset (as ``../shared/data``)::

    root/ham10000/HAM10000_metadata.csv     (Dataverse layout; or root/ham10000/kaggle_7col/HAM10000_metadata.csv)
    root/ham10000/ISIC2018_Task3_Test_GroundTruth.csv   (optional; its rows get official_split "test")
    root/ham10000/images/<image_id>.jpg     (or HAM10000_images_part_1/, HAM10000_images_part_2/, ISIC2018_Task3_Test_Images/)
    root/ddi/ddi_metadata.csv + root/ddi/images/<DDI_file> (or beside the CSV)
    root/fitzpatrick17k/fitzpatrick17k.csv + root/fitzpatrick17k/images/<md5hash>.jpg (not shipped: URLs only)
    root/pad_ufes_20/metadata.csv + root/pad_ufes_20/images/<img_id>
    root/isic2019/ISIC_2019_Training_GroundTruth.csv + ISIC_2019_Training_Metadata.csv (+ images/ or ISIC_2019_Training_Input/)
        or root/bcn20000/<any>.csv: an ISIC-Archive export with isic_id, diagnosis_1..3 (+ images/)
    root/dermamnist/labels.csv + root/dermamnist/images/<image_id>.jpg, or root/dermamnist/dermamnist.npz

Policies
--------
* Images are referenced by path and never opened here; which ones exist is learnt from one directory listing per image
  folder. Rows whose image is absent keep ``image_path=""`` and ``has_image=False``, and each file's missing images are
  reported once as a *summary* problem (count and the first few ids), not one line per row. Missing images are warnings:
  ``strict=True`` raises on them only with ``require_images=True``.
* Labels no map knows go to Other (9) with ``mapped_by="unmapped→Other"`` in the audit *and* an ``unknown label``
  problem per distinct label; ``strict=True`` raises :class:`~skintag.errors.LabelError` on the first one.
* Rows that cannot be read (wrong field count, empty identifier) are reported with their line number and left out (they
  have no image id to key them by); every other problem keeps the row.
* DermaMNIST from ``dermamnist.npz``: the 28×28 arrays are written once as PNG files to a cache folder
  (``<SKINTAG_APP_DATA_DIR or .skintag>/cache/dermamnist_png/<first 16 hex of the npz's sha256>/<image_id>.png``) so that
  ``image_path`` is a real file for every consumer; later loads only list that folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skintag import taxonomy as tx
from skintag.data.audit import BAD_VALUE, MISSING_IMAGE, UNKNOWN_LABEL, LabelAudit, Problem
from skintag.data.schema import (
    COLUMNS,
    build_frame,
    drop_blank_required,
    empty_text,
    list_images,
    parse_fitzpatrick_column,
    read_csv_rows,
    require_file,
)
from skintag.errors import ConfigError, DataFileError

# ---------------------------------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is and where to get it (the explorer's empty state shows this)."""

    name: str
    display_name: str
    folder: str
    domain: str
    licence: str
    expected_files: tuple[str, ...]
    source: str
    citation: str
    skin_type_field: str
    notes: str = ""


DATASETS: dict[str, DatasetInfo] = {
    "ham10000": DatasetInfo(
        "ham10000",
        "HAM10000",
        "ham10000",
        "dermoscopic",
        "CC BY-NC 4.0",
        (
            "HAM10000_metadata.csv (Dataverse layout; the Kaggle layout in kaggle_7col/ also works)",
            "images/<image_id>.jpg or HAM10000_images_part_1/ and HAM10000_images_part_2/",
            "ISIC2018_Task3_Test_GroundTruth.csv (optional: the ISIC 2018 test labels)",
        ),
        "Harvard Dataverse, doi:10.7910/DVN/DBW86T",
        "Tschandl P., Rosendahl C., Kittler H. The HAM10000 dataset. Sci. Data 5, 180161 (2018).",
        "none",
    ),
    "ddi": DatasetInfo(
        "ddi",
        "DDI (Diverse Dermatology Images)",
        "ddi",
        "clinical",
        "Stanford research use agreement (no redistribution)",
        ("ddi_metadata.csv", "images/<DDI_file> (e.g. 000001.png), or the images beside the CSV"),
        "Stanford AIMI, https://ddi-dataset.github.io (request access and accept the agreement)",
        "Daneshjou R. et al. Disparities in dermatology AI performance on a diverse, curated clinical image set. "
        "Sci. Adv. 8(31):eabq6147 (2022).",
        "skin_tone (12 / 34 / 56 = FST I-II / III-IV / V-VI; coarse groups only)",
    ),
    "fitzpatrick17k": DatasetInfo(
        "fitzpatrick17k",
        "Fitzpatrick17k",
        "fitzpatrick17k",
        "clinical",
        "CC BY-NC-SA 3.0",
        ("fitzpatrick17k.csv", "images/<md5hash>.jpg (downloaded from the URLs in the CSV; not shipped)"),
        "https://github.com/mattgroh/fitzpatrick17k",
        "Groh M. et al. Evaluating deep neural networks trained on clinical images in dermatology with the "
        "Fitzpatrick 17k dataset. CVPR Workshops 2021.",
        "fitzpatrick_scale (1-6, -1 unknown); fitzpatrick_centaur is a second annotator",
    ),
    "pad_ufes_20": DatasetInfo(
        "pad_ufes_20",
        "PAD-UFES-20",
        "pad_ufes_20",
        "smartphone",
        "CC BY 4.0",
        ("metadata.csv (26 columns incl. fitspatrick)", "images/<img_id> (PNG)"),
        "Mendeley Data, doi:10.17632/zr7vgbcyr2.1",
        "Pacheco A.G.C. et al. PAD-UFES-20. Data in Brief 32:106221 (2020).",
        "fitspatrick (sic; 1-6, often empty)",
    ),
    "bcn20000": DatasetInfo(
        "bcn20000",
        "BCN20000",
        "isic2019",
        "dermoscopic",
        "CC BY-NC 4.0",
        (
            "ISIC_2019_Training_GroundTruth.csv and ISIC_2019_Training_Metadata.csv (rows whose lesion_id starts BCN_)",
            "images/<image>.jpg or ISIC_2019_Training_Input/<image>.jpg",
            "or, in a bcn20000/ folder: an ISIC-Archive export CSV with isic_id, diagnosis_1, diagnosis_2, diagnosis_3",
        ),
        "ISIC 2019 challenge, https://challenge.isic-archive.com/data/ ; or the ISIC Archive BCN20000 collection",
        "BCN_20000 Dataset (c) Department of Dermatology, Hospital Clinic de Barcelona (ISIC 2019).",
        "none",
    ),
    "dermamnist": DatasetInfo(
        "dermamnist",
        "DermaMNIST (MedMNIST v2)",
        "dermamnist",
        "dermoscopic",
        "CC BY-NC 4.0",
        ("dermamnist.npz (MedMNIST format)", "or labels.csv (image_id,dx,lesion_id) with images/<image_id>.jpg"),
        "https://medmnist.com (Zenodo record of MedMNIST v2)",
        "Yang J. et al. MedMNIST v2. Sci. Data 10, 41 (2023).",
        "none",
        "28×28 downsampled HAM10000 images: do not combine with HAM10000 in one training or evaluation set.",
    ),
}
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)

_EXAMPLES = 5


# ---------------------------------------------------------------------------------------------------------------------
# Shared helpers


def _resolve_images(
    names: Sequence[str],
    lookup: dict[str, Path],
    *,
    dataset: str,
    file: str,
    folders: Sequence[Path],
    audit: LabelAudit,
    alternates: Callable[[str], Iterable[str]] | None = None,
    pattern: str = "<image_id>.jpg",
) -> tuple[list[str], list[bool]]:
    """Paths and presence of each referenced image; missing ones become one summary problem for ``file``."""
    paths: list[str] = []
    present: list[bool] = []
    missing: list[str] = []
    for name in names:
        hit = lookup.get(name)
        if hit is None and alternates is not None:
            for alt in alternates(name):
                hit = lookup.get(alt)
                if hit is not None:
                    break
        if hit is None:
            paths.append("")
            present.append(False)
            missing.append(name)
        else:
            paths.append(str(hit))
            present.append(True)
    if missing:
        existing = [str(f) for f in folders if f.is_dir()]
        where = existing if existing else [str(f) for f in folders]
        note = "" if existing else " (no image folder exists)"
        audit.add_problem(
            Problem(
                dataset,
                file,
                None,
                "image",
                f"{len(missing)} of {len(names)} image files missing{note}; first: {', '.join(missing[:_EXAMPLES])}",
                f"{pattern} in one of {where}",
                MISSING_IMAGE,
                count=len(missing),
            )
        )
    return paths, present


def _map_labels(
    raw: Sequence[str],
    mapper: Callable[[str], tx.LabelMatch],
    *,
    dataset: str,
    file: str,
    column: str,
    lines: Sequence[int] | None,
    audit: LabelAudit,
    expected: str,
) -> list[int]:
    """Map each raw label (distinct values once), count them in the audit, report each distinct unknown label once."""
    series = pd.Series(list(raw), dtype="str")
    matches = {value: mapper(value) for value in series.unique()}
    counts = series.value_counts(sort=False)
    for value, n in counts.items():
        m = matches[value]
        audit.add_label(dataset, value, m.condition_id, m.mapped_by, int(n))
        if not m.mapped:
            first = int(np.flatnonzero(series.to_numpy() == value)[0])
            audit.add_problem(
                Problem(
                    dataset,
                    file,
                    lines[first] if lines is not None else first,
                    column,
                    value,
                    expected,
                    UNKNOWN_LABEL,
                    count=int(n),
                )
            )
    return [matches[v].condition_id for v in series]


def _read_rows(
    path: Path, dataset: str, required: Iterable[str], key: str, audit: LabelAudit
) -> tuple[pd.DataFrame, list[int]]:
    """Read ``path`` (:func:`read_csv_rows`), drop the rows whose ``key`` is blank, and return them with their lines."""
    raw = read_csv_rows(path, dataset=dataset, required=required, audit=audit)
    raw = drop_blank_required(raw, [key], dataset=dataset, file=str(path), audit=audit)
    return raw, raw["_line"].tolist()


def _read_metadata(
    root: str | Path, dataset: str, filename: str, columns: Sequence[str], key: str
) -> tuple[Path, pd.DataFrame, list[int], LabelAudit]:
    """The metadata file ``root/<dataset>/<filename>`` (required), read as in :func:`_read_rows` with a new audit:
    ``(path, rows, lines, audit)``."""
    path = require_file(Path(root) / dataset / filename, dataset, f"{filename} with columns " + ",".join(columns))
    audit = LabelAudit()
    raw, lines = _read_rows(path, dataset, columns, key, audit)
    return path, raw, lines, audit


def _map_column(
    raw: pd.DataFrame,
    column: str,
    mapper: Callable[[str], tx.LabelMatch],
    *,
    dataset: str,
    path: Path,
    lines: Sequence[int],
    audit: LabelAudit,
    expected: str,
) -> tuple[list[str], list[int]]:
    """The stripped values of ``column`` and their condition ids (:func:`_map_labels`)."""
    values = raw[column].str.strip().tolist()
    cond = _map_labels(
        values, mapper, dataset=dataset, file=str(path), column=column, lines=lines, audit=audit, expected=expected
    )
    return values, cond


def _parse_age(
    values: Sequence[str], *, dataset: str, file: str, column: str, lines: Sequence[int], audit: LabelAudit
) -> np.ndarray:
    """Ages as float years; empty/"unknown" → NaN; anything else unreadable or outside 0-120 → NaN and a problem."""
    text = pd.Series(list(values), dtype="str").str.strip()
    num = pd.to_numeric(text.where(text != ""), errors="coerce")
    out = np.array(num.to_numpy(dtype=float), copy=True)
    bad = (num.isna() & (text != "") & (text.str.lower() != "unknown")).to_numpy() | (out < 0) | (out > 120)
    for i in np.flatnonzero(bad):
        audit.add_problem(
            Problem(dataset, file, int(lines[i]), column, text.iloc[i], "an age in years (0-120) or empty", BAD_VALUE)
        )
    out[bad] = np.nan
    return out


_SEX = {"male": "male", "m": "male", "female": "female", "f": "female"}
_SEX_UNKNOWN = {"", "unknown", "unk", "nan", "na"}


def _parse_sex(
    values: Sequence[str], *, dataset: str, file: str, column: str, lines: Sequence[int], audit: LabelAudit
) -> list[object]:
    out: list[object] = []
    for i, v in enumerate(values):
        key = str(v).strip().lower()
        if key in _SEX:
            out.append(_SEX[key])
        else:
            if key not in _SEX_UNKNOWN:
                audit.add_problem(
                    Problem(dataset, file, int(lines[i]), column, str(v), "male, female or empty", BAD_VALUE)
                )
            out.append(np.nan)
    return out


def _site(values: Iterable[str]) -> list[object]:
    out: list[object] = []
    for v in empty_text(values):
        if isinstance(v, str):
            s = " ".join(v.replace("_", " ").lower().split())
            out.append(np.nan if s in ("unknown", "unk") else s)
        else:
            out.append(np.nan)
    return out


def _stem(name: str) -> str:
    return os.path.splitext(name)[0]


def _finish(df: pd.DataFrame, audit: LabelAudit, *, strict: bool, require_images: bool) -> pd.DataFrame:
    df.attrs["audit"] = audit
    if strict:
        audit.raise_for_errors(include_missing_images=require_images)
    elif require_images:
        missing = [p for p in audit.problems if p.problem == MISSING_IMAGE]
        if missing:
            raise DataFileError(missing[0].message())
    return df


def _fitz_none() -> dict[str, object]:
    return {"fitzpatrick": pd.NA, "fitzpatrick_group": "unknown", "fitzpatrick_source": "none"}


def _fitz_columns(exact: list[int | None], groups: list[str], source: str) -> dict[str, object]:
    return {
        "fitzpatrick": [pd.NA if e is None else e for e in exact],
        "fitzpatrick_group": groups,
        "fitzpatrick_source": [source if g != "unknown" else "none" for g in groups],
    }


# ---------------------------------------------------------------------------------------------------------------------
# HAM10000

HAM_COLUMNS = ("lesion_id", "image_id", "dx", "age", "sex", "localization")


def _ham_frame(
    path: Path, split: str | None, lookup: dict[str, Path], folders: list[Path], audit: LabelAudit
) -> pd.DataFrame:
    ds = "ham10000"
    raw, lines = _read_rows(path, ds, HAM_COLUMNS, "image_id", audit)
    dx, cond = _map_column(
        raw,
        "dx",
        tx.map_ham_dx,
        dataset=ds,
        path=path,
        lines=lines,
        audit=audit,
        expected=f"one of {sorted(tx.HAM_DX)}",
    )
    ids = raw["image_id"].str.strip().tolist()
    paths, present = _resolve_images(ids, lookup, dataset=ds, file=str(path), folders=folders, audit=audit)
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": ds,
        "domain": "dermoscopic",
        "condition_id": cond,
        "malignant": [tx.is_malignant(c) for c in cond],
        "raw_label": dx,
        **_fitz_none(),
        "patient_id": np.nan,
        "lesion_id": empty_text(raw["lesion_id"]),
        "age": _parse_age(raw["age"].tolist(), dataset=ds, file=str(path), column="age", lines=lines, audit=audit),
        "sex": _parse_sex(raw["sex"].tolist(), dataset=ds, file=str(path), column="sex", lines=lines, audit=audit),
        "site": _site(raw["localization"]),
        "image_id": ids,
        "has_image": present,
        "official_split": split if split is not None else np.nan,
        "fitzpatrick_centaur": pd.NA,
    }
    return build_frame(data, len(raw))


def load_ham10000(
    root: str | Path,
    *,
    strict: bool = False,
    metadata: str | Path | None = None,
    include_test: bool = True,
    require_images: bool = False,
) -> pd.DataFrame:
    """HAM10000 (Dataverse or Kaggle layout) plus, if present, the ISIC 2018 Task 3 test labels (``official_split="test"``).

    Parameters
    ----------
    root : the data root (the folder holding ``ham10000/``).
    metadata : an explicit metadata CSV (either layout); default: the Dataverse file, else ``kaggle_7col/``.
    include_test : append ``ISIC2018_Task3_Test_GroundTruth.csv`` when it exists.
    """
    folder = Path(root) / "ham10000"
    if metadata is None:
        candidates = [folder / "HAM10000_metadata.csv", folder / "kaggle_7col" / "HAM10000_metadata.csv"]
        metadata = next((c for c in candidates if c.is_file()), candidates[0])
    meta = require_file(Path(metadata), "ham10000", "HAM10000_metadata.csv with columns " + ",".join(HAM_COLUMNS))
    folders = [
        folder / "images",
        folder / "HAM10000_images_part_1",
        folder / "HAM10000_images_part_2",
        folder / "ISIC2018_Task3_Test_Images",
    ]
    lookup = list_images(folders, (".jpg", ".jpeg", ".png"))
    audit = LabelAudit()
    frames = [_ham_frame(meta, None, lookup, folders, audit)]
    test = folder / "ISIC2018_Task3_Test_GroundTruth.csv"
    if include_test and test.is_file():
        frames.append(_ham_frame(test, "test", lookup, folders, audit))
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return _finish(df, audit, strict=strict, require_images=require_images)


# ---------------------------------------------------------------------------------------------------------------------
# PAD-UFES-20

PAD_COLUMNS = ("patient_id", "lesion_id", "age", "gender", "fitspatrick", "region", "diagnostic", "img_id")


def load_pad_ufes_20(root: str | Path, *, strict: bool = False, require_images: bool = False) -> pd.DataFrame:
    """PAD-UFES-20 smartphone photos (``metadata.csv``; skin type from the misspelt ``fitspatrick`` column)."""
    ds = "pad_ufes_20"
    path, raw, lines, audit = _read_metadata(root, ds, "metadata.csv", PAD_COLUMNS, "img_id")
    folder = path.parent
    diag, cond = _map_column(
        raw,
        "diagnostic",
        tx.map_pad_diagnostic,
        dataset=ds,
        path=path,
        lines=lines,
        audit=audit,
        expected=f"one of {sorted(tx.PAD_DIAGNOSTIC)}",
    )
    exact, groups = parse_fitzpatrick_column(
        raw["fitspatrick"].tolist(), dataset=ds, file=str(path), column="fitspatrick", lines=lines, audit=audit
    )
    folders = [folder / "images"] + [folder / "images" / f"imgs_part_{i}" for i in (1, 2, 3)]
    folders += [folder / f"imgs_part_{i}" for i in (1, 2, 3)]
    lookup = list_images(folders, (".png", ".jpg", ".jpeg"))
    names = raw["img_id"].str.strip().tolist()
    paths, present = _resolve_images(
        names, lookup, dataset=ds, file=str(path), folders=folders, audit=audit, pattern="<img_id>"
    )
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": ds,
        "domain": "smartphone",
        "condition_id": cond,
        "malignant": [tx.is_malignant(c) for c in cond],
        "raw_label": diag,
        **_fitz_columns(exact, groups, "pad_ufes_20:fitspatrick"),
        "patient_id": empty_text(raw["patient_id"]),
        "lesion_id": empty_text(raw["lesion_id"]),
        "age": _parse_age(raw["age"].tolist(), dataset=ds, file=str(path), column="age", lines=lines, audit=audit),
        "sex": _parse_sex(
            raw["gender"].tolist(), dataset=ds, file=str(path), column="gender", lines=lines, audit=audit
        ),
        "site": _site(raw["region"]),
        "image_id": [_stem(n) for n in names],
        "has_image": present,
        "official_split": np.nan,
        "fitzpatrick_centaur": pd.NA,
    }
    return _finish(build_frame(data, len(raw)), audit, strict=strict, require_images=require_images)


# ---------------------------------------------------------------------------------------------------------------------
# DermaMNIST

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
        "dataset": "dermamnist",
        "domain": "dermoscopic",
        "condition_id": cond,
        "malignant": [tx.is_malignant(c) for c in cond],
        "raw_label": dx,
        **_fitz_none(),
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
    ds = "dermamnist"
    path = folder / "labels.csv"
    raw, lines = _read_rows(path, ds, ("image_id", "dx"), "image_id", audit)
    ids = raw["image_id"].str.strip().tolist()
    dx, cond = _map_column(
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
    paths, present = _resolve_images(ids, lookup, dataset=ds, file=str(path), folders=folders, audit=audit)
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

    ds = "dermamnist"
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
    _map_labels(
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


def load_dermamnist(
    root: str | Path,
    *,
    strict: bool = False,
    source: str = "auto",
    cache_dir: str | Path | None = None,
    require_images: bool = False,
) -> pd.DataFrame:
    """DermaMNIST with MedMNIST's official split in ``official_split``.

    Parameters
    ----------
    source : ``"folder"`` (``labels.csv`` + ``images/``), ``"npz"`` (``dermamnist.npz``) or ``"auto"`` (the folder if its
        ``labels.csv`` exists, else the npz).
    cache_dir : where the npz source writes its PNGs (default :func:`default_cache_dir`).
    """
    ds = "dermamnist"
    folder = Path(root) / ds
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
    return _finish(df, audit, strict=strict, require_images=require_images)


# ---------------------------------------------------------------------------------------------------------------------
# Fitzpatrick17k

FITZ17K_COLUMNS = ("md5hash", "fitzpatrick_scale", "fitzpatrick_centaur", "label", "three_partition_label")


def load_fitzpatrick17k(root: str | Path, *, strict: bool = False, require_images: bool = False) -> pd.DataFrame:
    """Fitzpatrick17k clinical images: condition from ``label`` by keywords (then the dataset's non-neoplastic
    partition), malignant from ``three_partition_label``, skin type from ``fitzpatrick_scale`` (-1 unknown), and the
    second annotator in ``fitzpatrick_centaur``."""
    ds = "fitzpatrick17k"
    path, raw, lines, audit = _read_metadata(root, ds, "fitzpatrick17k.csv", FITZ17K_COLUMNS, "md5hash")
    folder = path.parent
    labels = raw["label"].str.strip().tolist()
    partitions = raw["three_partition_label"].str.strip().str.lower().tolist()
    pairs = list(zip(labels, partitions, strict=True))
    matches = {p: tx.map_fitzpatrick17k(*p) for p in set(pairs)}
    # audit counts per raw label (a label always has one partition in the real file; keep the pair's mapping)
    first_line: dict[str, int] = {}
    counts: dict[tuple[str, str], int] = {}
    for i, p in enumerate(pairs):
        counts[p] = counts.get(p, 0) + 1
        first_line.setdefault(p[0], lines[i])
    for (label, _), n in counts.items():
        m = matches[(label, _)]
        audit.add_label(ds, label, m.condition_id, m.mapped_by, n)
    for (label, part), n in counts.items():
        if not matches[(label, part)].mapped:
            audit.add_problem(
                Problem(
                    ds,
                    str(path),
                    first_line[label],
                    "label",
                    label,
                    "a label matched by the keyword map or a non-neoplastic three_partition_label",
                    UNKNOWN_LABEL,
                    count=n,
                )
            )
    cond = [matches[p].condition_id for p in pairs]
    malignant: list[int] = []
    for i, part in enumerate(partitions):
        flag = tx.FITZ17K_PARTITION_MALIGNANT.get(part)
        if flag is None:
            audit.add_problem(
                Problem(
                    ds,
                    str(path),
                    lines[i],
                    "three_partition_label",
                    part,
                    f"one of {sorted(tx.FITZ17K_PARTITION_MALIGNANT)}",
                    UNKNOWN_LABEL,
                )
            )
            flag = tx.is_malignant(cond[i])
        malignant.append(flag)
    exact, groups = parse_fitzpatrick_column(
        raw["fitzpatrick_scale"].tolist(),
        dataset=ds,
        file=str(path),
        column="fitzpatrick_scale",
        lines=lines,
        audit=audit,
    )
    centaur, _ = parse_fitzpatrick_column(
        raw["fitzpatrick_centaur"].tolist(),
        dataset=ds,
        file=str(path),
        column="fitzpatrick_centaur",
        lines=lines,
        audit=audit,
    )
    ids = raw["md5hash"].str.strip().tolist()
    folders = [folder / "images"]
    paths, present = _resolve_images(
        ids, list_images(folders), dataset=ds, file=str(path), folders=folders, audit=audit, pattern="<md5hash>.jpg"
    )
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": ds,
        "domain": "clinical",
        "condition_id": cond,
        "malignant": malignant,
        "raw_label": labels,
        **_fitz_columns(exact, groups, "fitzpatrick17k:fitzpatrick_scale"),
        "patient_id": np.nan,
        "lesion_id": np.nan,
        "age": np.nan,
        "sex": np.nan,
        "site": np.nan,
        "image_id": ids,
        "has_image": present,
        "official_split": np.nan,
        "fitzpatrick_centaur": [pd.NA if c is None else c for c in centaur],
    }
    return _finish(build_frame(data, len(raw)), audit, strict=strict, require_images=require_images)


# ---------------------------------------------------------------------------------------------------------------------
# DDI

DDI_COLUMNS = ("DDI_ID", "DDI_file", "skin_tone", "malignant", "disease")
_BOOL = {"true": 1, "false": 0, "1": 1, "0": 0}


def load_ddi(root: str | Path, *, strict: bool = False, require_images: bool = False) -> pd.DataFrame:
    """DDI clinical images: binary label from ``malignant`` (TRUE/FALSE), condition from the hyphenated ``disease`` by
    keywords, skin type as DDI's coarse group only (12 / 34 / 56)."""
    ds = "ddi"
    path, raw, lines, audit = _read_metadata(root, ds, "ddi_metadata.csv", DDI_COLUMNS, "DDI_file")
    folder = path.parent
    disease, cond = _map_column(
        raw,
        "disease",
        tx.map_ddi_disease,
        dataset=ds,
        path=path,
        lines=lines,
        audit=audit,
        expected="a disease name matched by the keyword map",
    )
    malignant: list[int] = []
    for i, v in enumerate(raw["malignant"].tolist()):
        flag = _BOOL.get(str(v).strip().lower())
        if flag is None:
            audit.add_problem(Problem(ds, str(path), lines[i], "malignant", str(v), "TRUE or FALSE", BAD_VALUE))
            flag = tx.is_malignant(cond[i])
        malignant.append(flag)
    exact, groups = parse_fitzpatrick_column(
        raw["skin_tone"].tolist(),
        dataset=ds,
        file=str(path),
        column="skin_tone",
        lines=lines,
        audit=audit,
        coarse_codes=True,
    )
    files = raw["DDI_file"].str.strip().tolist()
    folders = [folder / "images", folder]
    paths, present = _resolve_images(
        files, list_images(folders), dataset=ds, file=str(path), folders=folders, audit=audit, pattern="<DDI_file>"
    )
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": ds,
        "domain": "clinical",
        "condition_id": cond,
        "malignant": malignant,
        "raw_label": disease,
        **_fitz_columns(exact, groups, "ddi:skin_tone"),
        "patient_id": np.nan,
        "lesion_id": np.nan,
        "age": np.nan,
        "sex": np.nan,
        "site": np.nan,
        "image_id": [_stem(f) for f in files],
        "has_image": present,
        "official_split": np.nan,
        "fitzpatrick_centaur": pd.NA,
    }
    return _finish(build_frame(data, len(raw)), audit, strict=strict, require_images=require_images)


# ---------------------------------------------------------------------------------------------------------------------
# BCN20000

ISIC2019_GT = "ISIC_2019_Training_GroundTruth.csv"
ISIC2019_META = "ISIC_2019_Training_Metadata.csv"
ISIC2019_META_COLUMNS = ("image", "age_approx", "anatom_site_general", "lesion_id", "sex")
ARCHIVE_COLUMNS = ("isic_id", "diagnosis_1")
_DOWNSAMPLED = "_downsampled"


def _canonical_isic(name: str) -> str:
    return name[: -len(_DOWNSAMPLED)] if name.endswith(_DOWNSAMPLED) else name


def _isic_alternates(name: str) -> Iterable[str]:
    canonical = _canonical_isic(name)
    return (canonical, canonical + _DOWNSAMPLED)


def _load_bcn_isic2019(folder: Path, audit: LabelAudit) -> pd.DataFrame:
    ds = "bcn20000"
    gt_path = require_file(
        folder / ISIC2019_GT, ds, f"{ISIC2019_GT} with columns image,{','.join(tx.ISIC2019_COLUMNS)}"
    )
    meta_path = require_file(
        folder / ISIC2019_META, ds, f"{ISIC2019_META} with columns {','.join(ISIC2019_META_COLUMNS)}"
    )
    label_cols = [c for c in tx.ISIC2019_COLUMNS if c != "UNK"]
    gt = read_csv_rows(gt_path, dataset=ds, required=("image", *label_cols), audit=audit)
    meta, _ = _read_rows(meta_path, ds, ISIC2019_META_COLUMNS, "image", audit)
    meta = meta[meta["lesion_id"].str.strip().str.startswith("BCN_")].reset_index(drop=True)
    onehot_cols = [c for c in tx.ISIC2019_COLUMNS if c in gt.columns]
    gt_index = {name.strip(): i for i, name in enumerate(gt["image"])}
    values = gt[onehot_cols].apply(lambda s: pd.to_numeric(s.str.strip(), errors="coerce")).to_numpy(dtype=float)
    raw_labels: list[str] = []
    for i, image in enumerate(meta["image"].str.strip()):
        j = gt_index.get(image)
        if j is None:
            audit.add_problem(
                Problem(
                    ds,
                    str(meta_path),
                    int(meta["_line"].iloc[i]),
                    "image",
                    image,
                    f"a row in {gt_path.name}",
                    UNKNOWN_LABEL,
                )
            )
            raw_labels.append("")
            continue
        row = values[j]
        positive = np.flatnonzero(row >= 0.5)
        if np.isnan(row).any() or len(positive) != 1:
            audit.add_problem(
                Problem(
                    ds,
                    str(gt_path),
                    int(gt["_line"].iloc[j]),
                    ",".join(onehot_cols),
                    ",".join(gt[onehot_cols].iloc[j].tolist()),
                    "exactly one column equal to 1.0",
                    UNKNOWN_LABEL,
                )
            )
            raw_labels.append("")
            continue
        raw_labels.append(onehot_cols[positive[0]])
    # unknown-label problems for invalid rows are already recorded above; only count them here
    cond: list[int] = []
    for lab in raw_labels:
        m = tx.map_isic2019_column(lab) if lab else tx.LabelMatch(tx.OTHER_ID, tx.UNMAPPED)
        cond.append(m.condition_id)
    for (lab, c), n in pd.Series(list(zip(raw_labels, cond, strict=True))).value_counts(sort=False).items():
        how = tx.MAPPED_EXACT if lab else tx.UNMAPPED
        audit.add_label(ds, lab, c, how, int(n))
    lines = meta["_line"].tolist()
    images = meta["image"].str.strip().tolist()
    folders = [folder / "images", folder / "ISIC_2019_Training_Input"]
    paths, present = _resolve_images(
        images,
        list_images(folders),
        dataset=ds,
        file=str(meta_path),
        folders=folders,
        audit=audit,
        alternates=_isic_alternates,
        pattern="<image>.jpg",
    )
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": ds,
        "domain": "dermoscopic",
        "condition_id": cond,
        "malignant": [tx.is_malignant(c) for c in cond],
        "raw_label": raw_labels,
        **_fitz_none(),
        "patient_id": np.nan,
        "lesion_id": empty_text(meta["lesion_id"]),
        "age": _parse_age(
            meta["age_approx"].tolist(), dataset=ds, file=str(meta_path), column="age_approx", lines=lines, audit=audit
        ),
        "sex": _parse_sex(
            meta["sex"].tolist(), dataset=ds, file=str(meta_path), column="sex", lines=lines, audit=audit
        ),
        "site": _site(meta["anatom_site_general"]),
        "image_id": [_canonical_isic(n) for n in images],
        "has_image": present,
        "official_split": np.nan,
        "fitzpatrick_centaur": pd.NA,
    }
    return build_frame(data, len(meta))


def find_archive_export(folders: Iterable[Path]) -> Path | None:
    """The first ``*.csv`` (sorted by name) in the given folders whose header has ``isic_id`` and ``diagnosis_1``."""
    import csv

    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.csv")):
            try:
                with open(path, encoding="utf-8-sig", newline="") as fh:
                    header = next(csv.reader(fh), [])
            except (OSError, UnicodeDecodeError):
                continue
            if all(c in [h.strip() for h in header] for c in ARCHIVE_COLUMNS):
                return path
    return None


def _load_bcn_archive(path: Path, audit: LabelAudit) -> pd.DataFrame:
    ds = "bcn20000"
    raw, lines = _read_rows(path, ds, ARCHIVE_COLUMNS, "isic_id", audit)
    n = len(raw)

    def col(name: str) -> list[str]:
        return raw[name].str.strip().tolist() if name in raw else [""] * n

    d1, d2, d3, legacy = col("diagnosis_1"), col("diagnosis_2"), col("diagnosis_3"), col("diagnosis")
    raw_labels: list[str] = []
    cond: list[int] = []
    how: list[str] = []
    malignant: list[int] = []
    for i in range(n):
        chosen: tx.LabelMatch | None = None
        label = ""
        for text in (d3[i], d2[i], legacy[i]):
            if text:
                m = tx.map_isic_archive(text)
                if m.mapped:
                    chosen, label = m, text
                    break
        if chosen is None:
            label = next((t for t in (d3[i], d2[i], legacy[i], d1[i]) if t), "")
            chosen = tx.LabelMatch(tx.OTHER_ID, tx.UNMAPPED)
            flag = int(d1[i].lower() == "malignant")
        else:
            flag = tx.is_malignant(chosen.condition_id)
        raw_labels.append(label)
        cond.append(chosen.condition_id)
        how.append(chosen.mapped_by)
        malignant.append(flag)
    seen: set[str] = set()
    for (lab, c, h), k in pd.Series(list(zip(raw_labels, cond, how, strict=True))).value_counts(sort=False).items():
        audit.add_label(ds, lab, c, h, int(k))
        if h == tx.UNMAPPED and lab not in seen:
            seen.add(lab)
            first = raw_labels.index(lab)
            audit.add_problem(
                Problem(
                    ds,
                    str(path),
                    lines[first],
                    "diagnosis_1/2/3",
                    lab,
                    "an ISIC-Archive diagnosis whose leading term or keywords the map knows",
                    UNKNOWN_LABEL,
                    count=int(k),
                )
            )
    ids = col("isic_id")
    folders = [path.parent / "images", path.parent]
    paths, present = _resolve_images(
        ids, list_images(folders), dataset=ds, file=str(path), folders=folders, audit=audit, pattern="<isic_id>.jpg"
    )
    site_col = "anatom_site_general" if "anatom_site_general" in raw else "anatom_site_general_challenge"
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": ds,
        "domain": "dermoscopic",
        "condition_id": cond,
        "malignant": malignant,
        "raw_label": raw_labels,
        **_fitz_none(),
        "patient_id": empty_text(col("patient_id")),
        "lesion_id": empty_text(col("lesion_id")),
        "age": _parse_age(col("age_approx"), dataset=ds, file=str(path), column="age_approx", lines=lines, audit=audit),
        "sex": _parse_sex(col("sex"), dataset=ds, file=str(path), column="sex", lines=lines, audit=audit),
        "site": _site(col(site_col)),
        "image_id": ids,
        "has_image": present,
        "official_split": np.nan,
        "fitzpatrick_centaur": pd.NA,
    }
    return build_frame(data, n)


def load_bcn20000(
    root: str | Path, *, strict: bool = False, source: str = "auto", require_images: bool = False
) -> pd.DataFrame:
    """BCN20000 from the ISIC 2019 training files (rows whose ``lesion_id`` starts with ``BCN_``) or from an
    ISIC-Archive export (``isic_id``, ``diagnosis_1/2/3``; every row of the export is taken).

    Parameters
    ----------
    source : ``"isic2019"``, ``"archive"`` or ``"auto"`` (ISIC 2019 files when ``root/isic2019`` holds them, else an
        archive export found in ``root/bcn20000`` or ``root/isic2019``).
    """
    ds = "bcn20000"
    root = Path(root)
    isic = root / "isic2019"
    if source not in ("auto", "isic2019", "archive"):
        raise ConfigError(f"bcn20000 source {source!r} is not one of 'auto', 'isic2019', 'archive'")
    audit = LabelAudit()
    if source == "auto":
        source = "isic2019" if (isic / ISIC2019_GT).is_file() else "archive"
    if source == "isic2019":
        df = _load_bcn_isic2019(isic, audit)
    else:
        path = find_archive_export([root / "bcn20000", isic])
        if path is None:
            raise DataFileError(
                f"{ds}: no metadata found; expected {isic / ISIC2019_GT} with {isic / ISIC2019_META}, or an ISIC-Archive "
                f"export CSV (columns isic_id, diagnosis_1, diagnosis_2, diagnosis_3) in {root / 'bcn20000'}"
            )
        df = _load_bcn_archive(path, audit)
    return _finish(df, audit, strict=strict, require_images=require_images)


# ---------------------------------------------------------------------------------------------------------------------
# Entry points

LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    "ham10000": load_ham10000,
    "ddi": load_ddi,
    "fitzpatrick17k": load_fitzpatrick17k,
    "pad_ufes_20": load_pad_ufes_20,
    "bcn20000": load_bcn20000,
    "dermamnist": load_dermamnist,
}


def load_dataset(name: str, root: str | Path, *, strict: bool = False, **options: object) -> pd.DataFrame:
    """Load one dataset as the unified table (one row per image; see :mod:`skintag.data.schema`).

    Parameters
    ----------
    name : one of :data:`DATASET_NAMES`.
    root : the data root holding one folder per dataset.
    strict : raise :class:`~skintag.errors.LabelError` / :class:`~skintag.errors.DataFileError` on the first problem
        that is an error (unknown label, bad Fitzpatrick value, unreadable row, bad value) instead of reporting it.
    options : loader-specific keywords (e.g. ``require_images=True``, ``source="npz"``, ``metadata=path``).

    Returns
    -------
    pandas.DataFrame
        The unified columns; ``df.attrs["audit"]`` is the :class:`~skintag.data.audit.LabelAudit`.

    Raises
    ------
    ConfigError
        For an unknown dataset name.
    DataFileError
        If the dataset's metadata file is missing or unreadable (the message names the path and the expected file).
    """
    if name not in LOADERS:
        raise ConfigError(f"Unknown dataset {name!r}; expected one of {list(LOADERS)}")
    return LOADERS[name](Path(root), strict=strict, **options)


def load_datasets(names: Iterable[str], root: str | Path, *, strict: bool = False) -> pd.DataFrame:
    """Load several datasets and concatenate them (audits merged into ``df.attrs["audit"]``)."""
    frames = [load_dataset(name, root, strict=strict) for name in names]
    if not frames:
        raise ConfigError("load_datasets needs at least one dataset name")
    audit = LabelAudit.merge(f.attrs["audit"] for f in frames)
    for f in frames:
        f.attrs = {}
    df = pd.concat(frames, ignore_index=True)[COLUMNS]
    df.attrs["audit"] = audit
    return df


def available_datasets(root: str | Path) -> dict[str, bool]:
    """Which datasets have their metadata under ``root`` (for the explorer's empty state); reads no file."""
    root = Path(root)
    return {
        "ham10000": (root / "ham10000" / "HAM10000_metadata.csv").is_file()
        or (root / "ham10000" / "kaggle_7col" / "HAM10000_metadata.csv").is_file(),
        "ddi": (root / "ddi" / "ddi_metadata.csv").is_file(),
        "fitzpatrick17k": (root / "fitzpatrick17k" / "fitzpatrick17k.csv").is_file(),
        "pad_ufes_20": (root / "pad_ufes_20" / "metadata.csv").is_file(),
        "bcn20000": (root / "isic2019" / ISIC2019_GT).is_file() or find_archive_export([root / "bcn20000"]) is not None,
        "dermamnist": (root / "dermamnist" / "labels.csv").is_file()
        or (root / "dermamnist" / "dermamnist.npz").is_file(),
    }
