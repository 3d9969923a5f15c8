"""Fitzpatrick17k: clinical photos from two dermatology atlases, with two annotators' skin types.

Files under ``<data root>/fitzpatrick17k/``: ``fitzpatrick17k.csv`` and the images as ``images/<md5hash>.jpg`` (not
shipped by the authors: downloaded from the URLs in the CSV).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skintag import taxonomy as tx
from skintag.data._common import (
    DatasetInfo,
    LoadedDataset,
    finish,
    fitz_columns,
    parse_skin_type,
    read_metadata,
    resolve_images,
)
from skintag.data.audit import UNKNOWN_LABEL, Problem
from skintag.data.schema import build_frame, list_images

INFO = DatasetInfo(
    name="fitzpatrick17k",
    display_name="Fitzpatrick17k",
    folder="fitzpatrick17k",
    domain="clinical",
    licence="CC BY-NC-SA 3.0",
    expected_files=("fitzpatrick17k.csv", "images/<md5hash>.jpg (downloaded from the URLs in the CSV; not shipped)"),
    source="https://github.com/mattgroh/fitzpatrick17k",
    citation="Groh M. et al. Evaluating deep neural networks trained on clinical images in dermatology with the "
    "Fitzpatrick 17k dataset. CVPR Workshops 2021.",
    skin_type_field="fitzpatrick_scale (1-6, -1 unknown); fitzpatrick_centaur is a second annotator",
)


def is_present(data_dir: str | Path) -> bool:
    """Whether ``fitzpatrick17k.csv`` is under ``data_dir``; reads no file."""
    return (Path(data_dir) / INFO.folder / "fitzpatrick17k.csv").is_file()


FITZ17K_COLUMNS = ("md5hash", "fitzpatrick_scale", "fitzpatrick_centaur", "label", "three_partition_label")


def load(data_dir: str | Path, *, strict: bool = False, require_images: bool = False) -> LoadedDataset:
    """Fitzpatrick17k clinical images: condition from ``label`` by keywords (then the dataset's non-neoplastic
    partition), malignant from ``three_partition_label``, skin type from ``fitzpatrick_scale`` (-1 unknown), and the
    second annotator in ``fitzpatrick_centaur``."""
    ds = INFO.name
    path, raw, lines, audit = read_metadata(data_dir, ds, "fitzpatrick17k.csv", FITZ17K_COLUMNS, "md5hash")
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
    exact, groups = parse_skin_type(
        raw["fitzpatrick_scale"].tolist(),
        dataset=ds,
        file=str(path),
        column="fitzpatrick_scale",
        lines=lines,
        audit=audit,
    )
    skin = fitz_columns(exact, groups, "fitzpatrick17k:fitzpatrick_scale")
    centaur, _ = parse_skin_type(
        raw["fitzpatrick_centaur"].tolist(),
        dataset=ds,
        file=str(path),
        column="fitzpatrick_centaur",
        lines=lines,
        audit=audit,
    )
    ids = raw["md5hash"].str.strip().tolist()
    folders = [folder / "images"]
    paths, present = resolve_images(
        ids, list_images(folders), dataset=ds, file=str(path), folders=folders, audit=audit, pattern="<md5hash>.jpg"
    )
    data: dict[str, object] = {
        "image_path": paths,
        "dataset": ds,
        "domain": INFO.domain,
        "condition_id": cond,
        "malignant": malignant,
        "raw_label": labels,
        **skin,
        "patient_id": np.nan,
        "lesion_id": np.nan,
        "age": np.nan,
        "sex": np.nan,
        "site": np.nan,
        "image_id": ids,
        "has_image": present,
        "official_split": np.nan,
        "fitzpatrick_centaur": centaur,
    }
    return finish(build_frame(data, len(raw)), audit, strict=strict, require_images=require_images)
