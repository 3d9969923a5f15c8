"""BCN20000 (dermoscopic, Hospital Clínic de Barcelona), from the ISIC 2019 training files or an ISIC-Archive export.

Files: ``<data root>/isic2019/ISIC_2019_Training_GroundTruth.csv`` and ``ISIC_2019_Training_Metadata.csv`` (the rows whose
``lesion_id`` starts with ``BCN_``; images in ``images/`` or ``ISIC_2019_Training_Input/``), or, in
``<data root>/bcn20000/``, an ISIC-Archive export CSV with ``isic_id, diagnosis_1..3`` (and ``images/``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from skintag import taxonomy as tx
from skintag.data._common import (
    DatasetInfo,
    LoadedDataset,
    finish,
    fitz_none,
    parse_age,
    parse_sex,
    read_rows,
    resolve_images,
    site_column,
)
from skintag.data.audit import UNKNOWN_LABEL, LabelAudit, Problem
from skintag.data.schema import build_frame, empty_text, list_images, read_csv_rows, require_file
from skintag.errors import ConfigError, DataFileError

INFO = DatasetInfo(
    name="bcn20000",
    display_name="BCN20000",
    folder="isic2019",
    domain="dermoscopic",
    licence="CC BY-NC 4.0",
    expected_files=(
        "ISIC_2019_Training_GroundTruth.csv and ISIC_2019_Training_Metadata.csv (rows whose lesion_id starts BCN_)",
        "images/<image>.jpg or ISIC_2019_Training_Input/<image>.jpg",
        "or, in a bcn20000/ folder: an ISIC-Archive export CSV with isic_id, diagnosis_1, diagnosis_2, diagnosis_3",
    ),
    source="ISIC 2019 challenge, https://challenge.isic-archive.com/data/ ; or the ISIC Archive BCN20000 collection",
    citation="BCN_20000 Dataset (c) Department of Dermatology, Hospital Clinic de Barcelona (ISIC 2019).",
    skin_type_field="none",
)
ISIC2019_GT = "ISIC_2019_Training_GroundTruth.csv"
ISIC2019_META = "ISIC_2019_Training_Metadata.csv"


def is_present(data_dir: str | Path) -> bool:
    """Whether the ISIC 2019 ground truth (or an ISIC-Archive export in ``bcn20000/``) is under ``data_dir``."""
    root = Path(data_dir)
    return (root / INFO.folder / ISIC2019_GT).is_file() or find_archive_export([root / "bcn20000"]) is not None


ISIC2019_META_COLUMNS = ("image", "age_approx", "anatom_site_general", "lesion_id", "sex")
ARCHIVE_COLUMNS = ("isic_id", "diagnosis_1")
_DOWNSAMPLED = "_downsampled"


def _canonical_isic(name: str) -> str:
    return name[: -len(_DOWNSAMPLED)] if name.endswith(_DOWNSAMPLED) else name


def _isic_alternates(name: str) -> Iterable[str]:
    canonical = _canonical_isic(name)
    return (canonical, canonical + _DOWNSAMPLED)


def _load_bcn_isic2019(folder: Path, audit: LabelAudit) -> pd.DataFrame:
    ds = INFO.name
    gt_path = require_file(
        folder / ISIC2019_GT, ds, f"{ISIC2019_GT} with columns image,{','.join(tx.ISIC2019_COLUMNS)}"
    )
    meta_path = require_file(
        folder / ISIC2019_META, ds, f"{ISIC2019_META} with columns {','.join(ISIC2019_META_COLUMNS)}"
    )
    label_cols = [c for c in tx.ISIC2019_COLUMNS if c != "UNK"]
    gt = read_csv_rows(gt_path, dataset=ds, required=("image", *label_cols), audit=audit)
    meta, _ = read_rows(meta_path, ds, ISIC2019_META_COLUMNS, "image", audit)
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
    paths, present = resolve_images(
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
        "domain": INFO.domain,
        "condition_id": cond,
        "malignant": [tx.is_malignant(c) for c in cond],
        "raw_label": raw_labels,
        **fitz_none(),
        "patient_id": np.nan,
        "lesion_id": empty_text(meta["lesion_id"]),
        "age": parse_age(
            meta["age_approx"].tolist(), dataset=ds, file=str(meta_path), column="age_approx", lines=lines, audit=audit
        ),
        "sex": parse_sex(meta["sex"].tolist(), dataset=ds, file=str(meta_path), column="sex", lines=lines, audit=audit),
        "site": site_column(meta["anatom_site_general"]),
        "image_id": [_canonical_isic(n) for n in images],
        "has_image": present,
        "official_split": np.nan,
        "fitzpatrick_centaur": pd.NA,
    }
    return build_frame(data, len(meta))


def find_archive_export(folders: Iterable[Path]) -> Path | None:
    """The first ``*.csv`` (sorted by name) in the given folders whose header has ``isic_id`` and ``diagnosis_1``."""
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
    ds = INFO.name
    raw, lines = read_rows(path, ds, ARCHIVE_COLUMNS, "isic_id", audit)
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
    paths, present = resolve_images(
        ids, list_images(folders), dataset=ds, file=str(path), folders=folders, audit=audit, pattern="<isic_id>.jpg"
    )
    site_col = "anatom_site_general" if "anatom_site_general" in raw else "anatom_site_general_challenge"
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": ds,
        "domain": INFO.domain,
        "condition_id": cond,
        "malignant": malignant,
        "raw_label": raw_labels,
        **fitz_none(),
        "patient_id": empty_text(col("patient_id")),
        "lesion_id": empty_text(col("lesion_id")),
        "age": parse_age(col("age_approx"), dataset=ds, file=str(path), column="age_approx", lines=lines, audit=audit),
        "sex": parse_sex(col("sex"), dataset=ds, file=str(path), column="sex", lines=lines, audit=audit),
        "site": site_column(col(site_col)),
        "image_id": ids,
        "has_image": present,
        "official_split": np.nan,
        "fitzpatrick_centaur": pd.NA,
    }
    return build_frame(data, n)


def load(
    data_dir: str | Path, *, strict: bool = False, source: str = "auto", require_images: bool = False
) -> LoadedDataset:
    """BCN20000 from the ISIC 2019 training files (rows whose ``lesion_id`` starts with ``BCN_``) or from an
    ISIC-Archive export (``isic_id``, ``diagnosis_1/2/3``; every row of the export is taken).

    Parameters
    ----------
    source : ``"isic2019"``, ``"archive"`` or ``"auto"`` (ISIC 2019 files when ``root/isic2019`` holds them, else an
        archive export found in ``root/bcn20000`` or ``root/isic2019``).
    """
    ds = INFO.name
    root = Path(data_dir)
    isic = root / INFO.folder
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
    return finish(df, audit, strict=strict, require_images=require_images)
