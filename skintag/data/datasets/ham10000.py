"""HAM10000 (dermoscopic, Vienna and Queensland) and, if present, the ISIC 2018 Task 3 test labels.

Files under ``<data root>/ham10000/``: ``HAM10000_metadata.csv`` (Dataverse layout; or ``kaggle_7col/`` for the Kaggle
one), ``ISIC2018_Task3_Test_GroundTruth.csv`` (optional; its rows get ``official_split="test"``) and the images as
``images/<image_id>.jpg`` (or ``HAM10000_images_part_1/``, ``HAM10000_images_part_2/``, ``ISIC2018_Task3_Test_Images/``).
"""

from __future__ import annotations

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
    parse_age,
    parse_sex,
    read_rows,
    resolve_images,
    site_column,
)
from skintag.data.audit import LabelAudit
from skintag.data.schema import build_frame, empty_text, list_images, require_file

INFO = DatasetInfo(
    name="ham10000",
    display_name="HAM10000",
    folder="ham10000",
    domain="dermoscopic",
    licence="CC BY-NC 4.0",
    expected_files=(
        "HAM10000_metadata.csv (Dataverse layout; the Kaggle layout in kaggle_7col/ also works)",
        "images/<image_id>.jpg or HAM10000_images_part_1/ and HAM10000_images_part_2/",
        "ISIC2018_Task3_Test_GroundTruth.csv (optional: the ISIC 2018 test labels)",
    ),
    source="Harvard Dataverse, doi:10.7910/DVN/DBW86T",
    citation="Tschandl P., Rosendahl C., Kittler H. The HAM10000 dataset. Sci. Data 5, 180161 (2018).",
    skin_type_field="none",
)
_METADATA = ("HAM10000_metadata.csv", "kaggle_7col/HAM10000_metadata.csv")


def is_present(data_dir: str | Path) -> bool:
    """Whether the metadata file (either layout) is under ``data_dir``; reads no file."""
    return any((Path(data_dir) / INFO.folder / name).is_file() for name in _METADATA)


HAM_COLUMNS = ("lesion_id", "image_id", "dx", "age", "sex", "localization")


def _ham_frame(
    path: Path, split: str | None, lookup: dict[str, Path], folders: list[Path], audit: LabelAudit
) -> pd.DataFrame:
    ds = INFO.name
    raw, lines = read_rows(path, ds, HAM_COLUMNS, "image_id", audit)
    dx, cond = map_column(
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
    paths, present = resolve_images(ids, lookup, dataset=ds, file=str(path), folders=folders, audit=audit)
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": ds,
        "domain": INFO.domain,
        "condition_id": cond,
        "malignant": [tx.is_malignant(c) for c in cond],
        "raw_label": dx,
        **fitz_none(),
        "patient_id": np.nan,
        "lesion_id": empty_text(raw["lesion_id"]),
        "age": parse_age(raw["age"].tolist(), dataset=ds, file=str(path), column="age", lines=lines, audit=audit),
        "sex": parse_sex(raw["sex"].tolist(), dataset=ds, file=str(path), column="sex", lines=lines, audit=audit),
        "site": site_column(raw["localization"]),
        "image_id": ids,
        "has_image": present,
        "official_split": split if split is not None else np.nan,
        "fitzpatrick_centaur": pd.NA,
    }
    return build_frame(data, len(raw))


def load(
    data_dir: str | Path,
    *,
    strict: bool = False,
    metadata: str | Path | None = None,
    include_test: bool = True,
    require_images: bool = False,
) -> LoadedDataset:
    """HAM10000 (Dataverse or Kaggle layout) plus, if present, the ISIC 2018 Task 3 test labels (``official_split="test"``).

    Parameters
    ----------
    data_dir : the data root (the folder holding ``ham10000/``).
    metadata : an explicit metadata CSV (either layout); default: the Dataverse file, else ``kaggle_7col/``.
    include_test : append ``ISIC2018_Task3_Test_GroundTruth.csv`` when it exists.
    """
    folder = Path(data_dir) / INFO.folder
    if metadata is None:
        candidates = [folder / name for name in _METADATA]
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
    return finish(df, audit, strict=strict, require_images=require_images)
