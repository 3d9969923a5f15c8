"""DDI (Diverse Dermatology Images, Stanford): clinical photos chosen to cover dark skin, with coarse skin-type groups.

Files under ``<data root>/ddi/``: ``ddi_metadata.csv`` (an unnamed index column, ``DDI_ID,DDI_file,skin_tone,malignant,
disease``) and the images as ``images/<DDI_file>`` or beside the CSV. ``skin_tone`` 12 / 34 / 56 is a group only
(FST I-II / III-IV / V-VI): no exact type is invented.
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
    fitz_columns,
    map_column,
    parse_skin_type,
    read_metadata,
    resolve_images,
    stem,
)
from skintag.data.audit import BAD_VALUE, Problem
from skintag.data.schema import build_frame, list_images

INFO = DatasetInfo(
    name="ddi",
    display_name="DDI (Diverse Dermatology Images)",
    folder="ddi",
    domain="clinical",
    licence="Stanford research use agreement (no redistribution)",
    expected_files=("ddi_metadata.csv", "images/<DDI_file> (e.g. 000001.png), or the images beside the CSV"),
    source="Stanford AIMI, https://ddi-dataset.github.io (request access and accept the agreement)",
    citation="Daneshjou R. et al. Disparities in dermatology AI performance on a diverse, curated clinical image set. "
    "Sci. Adv. 8(31):eabq6147 (2022).",
    skin_type_field="skin_tone (12 / 34 / 56 = FST I-II / III-IV / V-VI; coarse groups only)",
)


def is_present(data_dir: str | Path) -> bool:
    """Whether ``ddi_metadata.csv`` is under ``data_dir``; reads no file."""
    return (Path(data_dir) / INFO.folder / "ddi_metadata.csv").is_file()


DDI_COLUMNS = ("DDI_ID", "DDI_file", "skin_tone", "malignant", "disease")
_BOOL = {"true": 1, "false": 0, "1": 1, "0": 0}


def load(data_dir: str | Path, *, strict: bool = False, require_images: bool = False) -> LoadedDataset:
    """DDI clinical images: binary label from ``malignant`` (TRUE/FALSE), condition from the hyphenated ``disease`` by
    keywords, skin type as DDI's coarse group only (12 / 34 / 56)."""
    ds = INFO.name
    path, raw, lines, audit = read_metadata(data_dir, ds, "ddi_metadata.csv", DDI_COLUMNS, "DDI_file")
    folder = path.parent
    disease, cond = map_column(
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
    exact, groups = parse_skin_type(
        raw["skin_tone"].tolist(),
        dataset=ds,
        file=str(path),
        column="skin_tone",
        lines=lines,
        audit=audit,
        accept="codes",
    )
    skin = fitz_columns(exact, groups, "ddi:skin_tone")
    files = raw["DDI_file"].str.strip().tolist()
    folders = [folder / "images", folder]
    paths, present = resolve_images(
        files, list_images(folders), dataset=ds, file=str(path), folders=folders, audit=audit, pattern="<DDI_file>"
    )
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": ds,
        "domain": INFO.domain,
        "condition_id": cond,
        "malignant": malignant,
        "raw_label": disease,
        **skin,
        "patient_id": np.nan,
        "lesion_id": np.nan,
        "age": np.nan,
        "sex": np.nan,
        "site": np.nan,
        "image_id": [stem(f) for f in files],
        "has_image": present,
        "official_split": np.nan,
        "fitzpatrick_centaur": pd.NA,
    }
    return finish(build_frame(data, len(raw)), audit, strict=strict, require_images=require_images)
