"""PAD-UFES-20: smartphone photos of skin lesions from Brazil, with the patient's skin type.

Files under ``<data root>/pad_ufes_20/``: ``metadata.csv`` (26 columns; skin type in the misspelt ``fitspatrick``) and
the images as ``images/<img_id>`` (PNG; also ``images/imgs_part_<n>/`` or ``imgs_part_<n>/``).
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
    parse_age,
    parse_sex,
    parse_skin_type,
    read_metadata,
    resolve_images,
    site_column,
    stem,
)
from skintag.data.schema import build_frame, empty_text, list_images

INFO = DatasetInfo(
    name="pad_ufes_20",
    display_name="PAD-UFES-20",
    folder="pad_ufes_20",
    domain="smartphone",
    licence="CC BY 4.0",
    expected_files=("metadata.csv (26 columns incl. fitspatrick)", "images/<img_id> (PNG)"),
    source="Mendeley Data, doi:10.17632/zr7vgbcyr2.1",
    citation="Pacheco A.G.C. et al. PAD-UFES-20. Data in Brief 32:106221 (2020).",
    skin_type_field="fitspatrick (sic; 1-6, often empty)",
)


def is_present(data_dir: str | Path) -> bool:
    """Whether ``metadata.csv`` is under ``data_dir``; reads no file."""
    return (Path(data_dir) / INFO.folder / "metadata.csv").is_file()


PAD_COLUMNS = ("patient_id", "lesion_id", "age", "gender", "fitspatrick", "region", "diagnostic", "img_id")


def load(data_dir: str | Path, *, strict: bool = False, require_images: bool = False) -> LoadedDataset:
    """PAD-UFES-20 smartphone photos (``metadata.csv``; skin type from the misspelt ``fitspatrick`` column)."""
    ds = INFO.name
    path, raw, lines, audit = read_metadata(data_dir, ds, "metadata.csv", PAD_COLUMNS, "img_id")
    folder = path.parent
    diag, cond = map_column(
        raw,
        "diagnostic",
        tx.map_pad_diagnostic,
        dataset=ds,
        path=path,
        lines=lines,
        audit=audit,
        expected=f"one of {sorted(tx.PAD_DIAGNOSTIC)}",
    )
    exact, groups = parse_skin_type(
        raw["fitspatrick"].tolist(), dataset=ds, file=str(path), column="fitspatrick", lines=lines, audit=audit
    )
    skin = fitz_columns(exact, groups, "pad_ufes_20:fitspatrick")
    folders = [folder / "images"] + [folder / "images" / f"imgs_part_{i}" for i in (1, 2, 3)]
    folders += [folder / f"imgs_part_{i}" for i in (1, 2, 3)]
    lookup = list_images(folders, (".png", ".jpg", ".jpeg"))
    names = raw["img_id"].str.strip().tolist()
    paths, present = resolve_images(
        names, lookup, dataset=ds, file=str(path), folders=folders, audit=audit, pattern="<img_id>"
    )
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": ds,
        "domain": INFO.domain,
        "condition_id": cond,
        "malignant": [tx.is_malignant(c) for c in cond],
        "raw_label": diag,
        **skin,
        "patient_id": empty_text(raw["patient_id"]),
        "lesion_id": empty_text(raw["lesion_id"]),
        "age": parse_age(raw["age"].tolist(), dataset=ds, file=str(path), column="age", lines=lines, audit=audit),
        "sex": parse_sex(raw["gender"].tolist(), dataset=ds, file=str(path), column="gender", lines=lines, audit=audit),
        "site": site_column(raw["region"]),
        "image_id": [stem(n) for n in names],
        "has_image": present,
        "official_split": np.nan,
        "fitzpatrick_centaur": pd.NA,
    }
    return finish(build_frame(data, len(raw)), audit, strict=strict, require_images=require_images)
