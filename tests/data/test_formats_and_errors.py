"""Loaders on the published formats the shared data lacks (DDI, ISIC-Archive export, MedMNIST npz, ISIC 2019
``_downsampled`` names) and every bad input: missing metadata file, missing image file, unreadable row, unknown label,
bad Fitzpatrick value — each with the exact error or report."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skintag.data import load_dataset
from skintag.data.audit import LabelAudit
from skintag.errors import ConfigError, DataFileError, LabelError

FIXTURES = Path(__file__).parent / "fixtures"


def _load(*args: object, **kwargs: object) -> tuple[pd.DataFrame, LabelAudit]:
    loaded = load_dataset(*args, **kwargs)
    return loaded.table, loaded.audit


def _png(path: Path, colour: tuple[int, int, int] = (200, 120, 90)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


# ---------------------------------------------------------------------------------------------------------------------
# DDI fixture (DDI's exact published format)


def test_ddi_fixture(tmp_path):
    shutil.copytree(FIXTURES / "ddi", tmp_path / "ddi")
    for name in ("000001.png", "000002.png", "000019.png"):
        _png(tmp_path / "ddi" / "images" / name)
    df, audit = _load("ddi", tmp_path)
    assert len(df) == 21
    assert df["image_id"].tolist()[:2] == ["000001", "000002"]
    assert df["fitzpatrick"].isna().all()  # never an invented exact type
    assert df["fitzpatrick_group"].value_counts().to_dict() == {"V-VI": 7, "I-II": 7, "III-IV": 7}
    assert set(df["fitzpatrick_source"]) == {"ddi:skin_tone"}
    assert df["malignant"].tolist() == [1] * 6 + [0] * 12 + [0, 1, 0]
    assert df["condition_id"].tolist() == [0, 0, 1, 1, 2, 2, 3, 4, 4, 5, 6, 7, 7, 8, 8, 8, 5, 9, 9, 9, 9]
    assert df["has_image"].sum() == 3
    assert df.loc[df["has_image"], "image_path"].tolist() == [
        str((tmp_path / "ddi" / "images" / n).resolve()) for n in ("000001.png", "000002.png", "000019.png")
    ]
    table = audit.to_frame().set_index("raw_label")
    assert table.loc["basal-cell-carcinoma-superficial", "mapped_by"] == "keyword"
    assert table.loc["epidermal-cyst", ["condition_id", "count", "mapped_by"]].tolist() == [9, 2, "unmapped→Other"]
    problems = audit.problems_frame()
    assert problems[["row", "column", "value", "problem", "count"]].values.tolist() == [
        [20, "disease", "epidermal-cyst", "unknown label", 2],
        [21, "disease", "mycosis-fungoides", "unknown label", 1],
        [
            pd.NA,
            "image",
            "18 of 21 image files missing; first: 000003.png, 000004.png, 000005.png, 000006.png, 000007.png",
            "missing image file",
            18,
        ],
    ]
    with pytest.raises(LabelError) as info:
        load_dataset("ddi", tmp_path, strict=True)
    assert str(info.value) == (
        f"ddi: unknown label in {tmp_path / 'ddi' / 'ddi_metadata.csv'} row 20 column 'disease': value "
        "'epidermal-cyst' (2 rows); expected a disease name matched by the keyword map (and 1 more problem(s))"
    )


def test_ddi_bad_skin_tone_and_malignant(tmp_path):
    (tmp_path / "ddi").mkdir()
    text = (FIXTURES / "ddi" / "ddi_metadata.csv").read_text(encoding="utf-8").splitlines()
    text[1] = "0,1,000001.png,35,TRUE,melanoma-in-situ"
    text[2] = "1,2,000002.png,12,maybe,melanoma-acral-lentiginous"
    path = tmp_path / "ddi" / "ddi_metadata.csv"
    path.write_text("\r\n".join(text[:4]), encoding="utf-8")  # CRLF, no final newline
    df, audit = _load("ddi", tmp_path)
    assert df["fitzpatrick_group"].tolist() == ["unknown", "I-II", "III-IV"]
    assert df["fitzpatrick_source"].tolist() == ["none", "ddi:skin_tone", "ddi:skin_tone"]
    assert df["malignant"].tolist() == [1, 1, 1]  # the unreadable flag falls back to the condition (melanoma)
    problems = audit.problems_frame()
    assert problems[["row", "column", "value", "expected", "problem"]].values.tolist()[:2] == [
        [3, "malignant", "maybe", "TRUE or FALSE", "bad value"],
        [2, "skin_tone", "35", "12, 34 or 56 (FST I-II, III-IV, V-VI)", "bad Fitzpatrick value"],
    ]


# ---------------------------------------------------------------------------------------------------------------------
# BCN20000: ISIC-Archive export, and ISIC 2019 "_downsampled" names


def test_bcn20000_archive_export(tmp_path):
    shutil.copytree(FIXTURES / "bcn20000", tmp_path / "bcn20000")
    _png(tmp_path / "bcn20000" / "images" / "ISIC_9000001.jpg")
    df, audit = _load("bcn20000", tmp_path)  # no isic2019/ folder: the archive export is detected
    assert len(df) == 17
    assert df["condition_id"].tolist() == [0, 0, 0, 0, 4, 4, 1, 2, 3, 5, 5, 6, 7, 4, 0, 9, 9]
    assert df["malignant"].tolist() == [1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0]
    assert df["raw_label"].iloc[0] == "Melanoma, NOS"
    assert df["patient_id"].iloc[0] == "IP_9000001" and df["lesion_id"].iloc[0] == "IL_9000001"
    assert df["has_image"].tolist() == [True] + [False] * 16
    table = audit.to_frame().set_index("raw_label")
    assert table.loc["Melanoma, NOS", ["condition_id", "count", "mapped_by"]].tolist() == [0, 2, "exact"]
    assert table.loc["Malignant melanocytic proliferations (Melanoma)", "mapped_by"] == "keyword"
    unmapped = audit.unmapped()
    assert unmapped["raw_label"].tolist() == ["Benign", "Trichoblastic carcinoma"]
    with pytest.raises(DataFileError) as info:
        load_dataset("bcn20000", tmp_path, source="isic2019")
    assert str(info.value) == (
        f"bcn20000: metadata file {tmp_path / 'isic2019' / 'ISIC_2019_Training_GroundTruth.csv'} not found; expected "
        "ISIC_2019_Training_GroundTruth.csv with columns image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK"
    )


def _isic2019_excerpt(isic2019_dir: Path, out: Path, images: list[str], renames: dict[str, tuple[str, str]]) -> None:
    """Copy the header and the given rows of the real ISIC 2019 training files (CRLF as published);
    ``renames`` replaces (image, lesion_id) of some rows to build edge cases."""
    out.mkdir(parents=True)
    for name in ("ISIC_2019_Training_GroundTruth.csv", "ISIC_2019_Training_Metadata.csv"):
        lines = (isic2019_dir / name).read_bytes().decode("utf-8").split("\r\n")
        keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",", 1)[0] in images]
        rows = []
        for ln in keep:
            first, rest = ln.split(",", 1)
            if first in renames:
                new_image, new_lesion = renames[first]
                parts = ln.split(",")
                parts[0] = new_image
                if "Metadata" in name:
                    parts[3] = new_lesion
                ln = ",".join(parts)
            rows.append(ln)
        (out / name).write_bytes("\r\n".join(rows).encode("utf-8") + b"\r\n")


def test_bcn20000_downsampled_names_and_images(tmp_path, isic2019_dir):
    meta = pd.read_csv(isic2019_dir / "ISIC_2019_Training_Metadata.csv")
    bcn_rows = meta[meta["lesion_id"].fillna("").str.startswith("BCN_")].head(3)["image"].tolist()
    down = meta[meta["image"].str.endswith("_downsampled")].head(1)["image"].tolist()
    # a real "_downsampled" row re-labelled as a BCN lesion (synthetic edge case)
    _isic2019_excerpt(isic2019_dir, tmp_path / "isic2019", bcn_rows + down, {down[0]: (down[0], "BCN_9999999")})
    canonical = down[0].removesuffix("_downsampled")
    _png(tmp_path / "isic2019" / "ISIC_2019_Training_Input" / f"{canonical}.jpg")
    _png(tmp_path / "isic2019" / "ISIC_2019_Training_Input" / f"{bcn_rows[0]}.jpg")
    df, audit = _load("bcn20000", tmp_path)
    assert len(df) == 4
    row = df[df["lesion_id"] == "BCN_9999999"].iloc[0]
    assert row["image_id"] == canonical and row["has_image"]
    assert df["has_image"].sum() == 2
    problems = audit.problems_frame()
    assert problems[["problem", "count"]].values.tolist() == [["missing image file", 2]]


def test_bcn20000_bad_onehot_row(tmp_path, isic2019_dir):
    meta = pd.read_csv(isic2019_dir / "ISIC_2019_Training_Metadata.csv")
    images = meta[meta["lesion_id"].fillna("").str.startswith("BCN_")].head(2)["image"].tolist()
    _isic2019_excerpt(isic2019_dir, tmp_path / "isic2019", images, {})
    gt = tmp_path / "isic2019" / "ISIC_2019_Training_GroundTruth.csv"
    lines = gt.read_bytes().decode().split("\r\n")
    lines[2] = images[1] + ",1.0,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0"
    gt.write_bytes("\r\n".join(lines).encode())
    df, audit = _load("bcn20000", tmp_path)
    assert df["condition_id"].tolist()[1] == 9
    assert audit.unmapped()["count"].tolist() == [1]
    with pytest.raises(LabelError) as info:
        load_dataset("bcn20000", tmp_path, strict=True)
    assert str(info.value) == (
        f"bcn20000: unknown label in {gt} row 3 column 'MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK': value "
        "'1.0,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0'; expected exactly one column equal to 1.0"
    )


# ---------------------------------------------------------------------------------------------------------------------
# DermaMNIST npz in MedMNIST's format, written from real DermaMNIST images


def test_dermamnist_npz(tmp_path, dermamnist_dir):
    labels = pd.read_csv(dermamnist_dir / "labels.csv")
    classes = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    arrays: dict[str, np.ndarray] = {}
    picked: dict[str, pd.DataFrame] = {}
    for split, n in (("train", 5), ("val", 3), ("test", 4)):
        rows = labels[labels["image_id"].str.startswith(f"DermaMNIST_{split}_")].head(n)
        picked[split] = rows
        arrays[f"{split}_images"] = np.stack(
            [np.asarray(Image.open(dermamnist_dir / "images" / f"{i}.jpg").convert("RGB")) for i in rows["image_id"]]
        ).astype(np.uint8)
        arrays[f"{split}_labels"] = np.array([[classes.index(d)] for d in rows["dx"]], dtype=np.uint8)
    (tmp_path / "data" / "dermamnist").mkdir(parents=True)
    np.savez_compressed(tmp_path / "data" / "dermamnist" / "dermamnist.npz", **arrays)
    cache = tmp_path / "cache"
    df, audit = _load("dermamnist", tmp_path / "data", cache_dir=cache)
    assert arrays["train_images"].shape == (5, 28, 28, 3)
    assert len(df) == 12 and df["has_image"].all()
    expected = pd.concat(picked.values(), ignore_index=True)
    assert df["image_id"].tolist() == expected["image_id"].tolist()  # same ids as the image-folder layout
    assert df["raw_label"].tolist() == expected["dx"].tolist()
    assert df["official_split"].tolist() == ["train"] * 5 + ["val"] * 3 + ["test"] * 4
    # the PNGs are lossless copies of the arrays
    first = np.asarray(Image.open(df["image_path"].iloc[0]))
    assert np.array_equal(first, arrays["train_images"][0])
    assert Path(df["image_path"].iloc[0]).parent.parent == cache / "dermamnist_png"
    # a second load writes nothing new
    mtimes = {p: os.stat(p).st_mtime_ns for p in df["image_path"]}
    again, _ = _load("dermamnist", tmp_path / "data", cache_dir=cache)
    assert {p: os.stat(p).st_mtime_ns for p in again["image_path"]} == mtimes
    pd.testing.assert_frame_equal(df, again)


def test_dermamnist_npz_bad_label_and_missing_arrays(tmp_path):
    folder = tmp_path / "dermamnist"
    folder.mkdir()
    images = np.zeros((2, 28, 28, 3), dtype=np.uint8)
    np.savez(
        folder / "dermamnist.npz",
        train_images=images,
        train_labels=np.array([[4], [9]], dtype=np.uint8),
        val_images=images[:0],
        val_labels=np.zeros((0, 1), dtype=np.uint8),
        test_images=images[:1],
        test_labels=np.array([[5]], dtype=np.uint8),
    )
    df, audit = _load("dermamnist", tmp_path, cache_dir=tmp_path / "cache")
    assert df["condition_id"].tolist() == [0, 9, 4]
    with pytest.raises(
        LabelError, match=r"dermamnist: unknown label in .*dermamnist.npz row 1 column '<split>_labels'"
    ):
        load_dataset("dermamnist", tmp_path, strict=True, cache_dir=tmp_path / "cache")
    np.savez(folder / "dermamnist.npz", train_images=images, train_labels=np.zeros((2, 1), dtype=np.uint8))
    with pytest.raises(
        DataFileError, match=r"lacks arrays \['val_images', 'val_labels', 'test_images', 'test_labels'\]"
    ):
        load_dataset("dermamnist", tmp_path, cache_dir=tmp_path / "cache")


# ---------------------------------------------------------------------------------------------------------------------
# Bad inputs on a copy of real PAD-UFES-20 rows


@pytest.fixture()
def pad_copy(tmp_path, pad_dir):
    """The header and first 5 rows of the real PAD-UFES-20 metadata, plus the real images of those rows."""
    lines = (pad_dir / "metadata.csv").read_text(encoding="utf-8").splitlines()
    keep = [lines[0]] + [ln for ln in lines[1:] if (pad_dir / "images" / ln.split(",")[24]).is_file()][:5]
    folder = tmp_path / "pad_ufes_20"
    (folder / "images").mkdir(parents=True)
    for ln in keep[1:]:
        name = ln.split(",")[24]
        shutil.copy(pad_dir / "images" / name, folder / "images" / name)
    return tmp_path, keep


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _set(line: str, index: int, value: str) -> str:
    parts = line.split(",")
    parts[index] = value
    return ",".join(parts)


def test_pad_copy_loads_clean(pad_copy):
    root, keep = pad_copy
    _write(root / "pad_ufes_20" / "metadata.csv", keep)
    df, audit = _load("pad_ufes_20", root, strict=True, require_images=True)
    assert len(df) == 5 and df["has_image"].all() and audit.problems == []


def test_missing_metadata_file(tmp_path):
    expectations = {
        "ham10000": "HAM10000_metadata.csv with columns lesion_id,image_id,dx,age,sex,localization",
        "pad_ufes_20": "metadata.csv with columns patient_id,lesion_id,age,gender,fitspatrick,region,diagnostic,img_id",
        "fitzpatrick17k": "fitzpatrick17k.csv with columns md5hash,fitzpatrick_scale,fitzpatrick_centaur,label,"
        "three_partition_label",
        "ddi": "ddi_metadata.csv with columns DDI_ID,DDI_file,skin_tone,malignant,disease",
        "dermamnist": "MedMNIST's dermamnist.npz (or labels.csv with images/)",
    }
    files = {
        "ham10000": tmp_path / "ham10000" / "HAM10000_metadata.csv",
        "pad_ufes_20": tmp_path / "pad_ufes_20" / "metadata.csv",
        "fitzpatrick17k": tmp_path / "fitzpatrick17k" / "fitzpatrick17k.csv",
        "ddi": tmp_path / "ddi" / "ddi_metadata.csv",
        "dermamnist": tmp_path / "dermamnist" / "dermamnist.npz",
    }
    for name, expected in expectations.items():
        with pytest.raises(DataFileError) as info:
            load_dataset(name, tmp_path)
        assert str(info.value) == f"{name}: metadata file {files[name]} not found; expected {expected}"
    with pytest.raises(DataFileError, match=r"bcn20000: no metadata found"):
        load_dataset("bcn20000", tmp_path)
    with pytest.raises(ConfigError, match=r"Unknown dataset 'isic'; expected one of"):
        load_dataset("isic", tmp_path)


def test_missing_column(pad_copy):
    root, keep = pad_copy
    header = keep[0].replace("fitspatrick", "fitzpatrick")
    path = root / "pad_ufes_20" / "metadata.csv"
    _write(path, [header] + keep[1:])
    with pytest.raises(
        DataFileError, match=rf"pad_ufes_20: {path} lacks column\(s\) \['fitspatrick'\]; expected columns"
    ):
        load_dataset("pad_ufes_20", root)


def test_missing_image_file(pad_copy):
    root, keep = pad_copy
    _write(root / "pad_ufes_20" / "metadata.csv", keep)
    gone = keep[2].split(",")[24]
    (root / "pad_ufes_20" / "images" / gone).unlink()
    df, audit = _load("pad_ufes_20", root, strict=True)  # missing images alone do not fail strict mode
    assert df["has_image"].tolist() == [True, False, True, True, True]
    assert df["image_path"].iloc[1] == ""
    problem = audit.problems[0]
    images = root / "pad_ufes_20" / "images"
    assert (problem.problem, problem.row, problem.count) == ("missing image file", None, 1)
    assert problem.value == f"1 of 5 image files missing; first: {gone}"
    assert problem.expected == f"<img_id> in one of ['{images}']"
    with pytest.raises(DataFileError) as info:
        load_dataset("pad_ufes_20", root, require_images=True)
    assert str(info.value) == (
        f"pad_ufes_20: missing image file in {root / 'pad_ufes_20' / 'metadata.csv'} column 'image': value "
        f"'1 of 5 image files missing; first: {gone}'; expected <img_id> in one of ['{images}']"
    )


def test_unreadable_row(pad_copy):
    root, keep = pad_copy
    path = root / "pad_ufes_20" / "metadata.csv"
    _write(path, keep[:3] + ["PAT_1,2,False"] + keep[3:] + [_set(keep[1], 24, "")])
    df, audit = _load("pad_ufes_20", root)
    assert len(df) == 5  # both bad rows reported, the rest kept
    problems = audit.problems_frame()
    assert problems[["row", "column", "value", "problem"]].values.tolist() == [
        [4, "", "PAT_1,2,False", "unreadable row"],
        [8, "img_id", "", "unreadable row"],
    ]
    with pytest.raises(DataFileError) as info:
        load_dataset("pad_ufes_20", root, strict=True)
    assert str(info.value) == (
        f"pad_ufes_20: unreadable row in {path} row 4: value 'PAT_1,2,False'; expected 27 comma-separated fields "
        "as in the header (and 1 more problem(s))"
    )


def test_unknown_label(pad_copy):
    root, keep = pad_copy
    path = root / "pad_ufes_20" / "metadata.csv"
    _write(path, [keep[0], _set(keep[1], 17, "XYZ")] + keep[2:])
    df, audit = _load("pad_ufes_20", root)
    assert df["condition_id"].iloc[0] == 9 and df["malignant"].iloc[0] == 0
    unmapped = audit.unmapped()
    assert unmapped[["raw_label", "condition_id", "count", "mapped_by"]].values.tolist() == [
        ["XYZ", 9, 1, "unmapped→Other"]
    ]
    with pytest.raises(LabelError) as info:
        load_dataset("pad_ufes_20", root, strict=True)
    assert str(info.value) == (
        f"pad_ufes_20: unknown label in {path} row 2 column 'diagnostic': value 'XYZ'; expected one of "
        "['ACK', 'BCC', 'MEL', 'NEV', 'SCC', 'SEK']"
    )


def test_bad_fitzpatrick_value(pad_copy):
    root, keep = pad_copy
    path = root / "pad_ufes_20" / "metadata.csv"
    _write(path, keep[:2] + [_set(keep[2], 13, "7")] + [_set(keep[3], 13, "IV")] + keep[4:])
    df, audit = _load("pad_ufes_20", root)
    assert pd.isna(df["fitzpatrick"].iloc[1]) and df["fitzpatrick_group"].iloc[1] == "unknown"
    assert df["fitzpatrick"].iloc[2] == 4 and df["fitzpatrick_group"].iloc[2] == "III-IV"
    with pytest.raises(LabelError) as info:
        load_dataset("pad_ufes_20", root, strict=True)
    assert str(info.value) == (
        f"pad_ufes_20: bad Fitzpatrick value in {path} row 3 column 'fitspatrick': value '7'; "
        "expected 1-6, I-VI, or -1/empty/UNK for unknown"
    )


def test_ham10000_images_split_over_two_folders(tmp_path, ham_dir):
    """The Dataverse download splits the images over HAM10000_images_part_1/_2; one listing per folder finds them."""
    lines = (ham_dir / "HAM10000_metadata.csv").read_bytes().split(b"\r\n")
    shipped = sorted(p.stem for p in (ham_dir / "images").glob("*.jpg"))[:4]
    rows = [ln for ln in lines[1:] if ln.split(b",")[1].decode() in shipped]
    folder = tmp_path / "ham10000"
    (folder / "HAM10000_images_part_1").mkdir(parents=True)
    (folder / "HAM10000_images_part_2").mkdir()
    (folder / "HAM10000_metadata.csv").write_bytes(b"\r\n".join([lines[0], *rows]))
    for i, image_id in enumerate(shipped[:3]):
        part = "HAM10000_images_part_1" if i < 2 else "HAM10000_images_part_2"
        shutil.copy(ham_dir / "images" / f"{image_id}.jpg", folder / part / f"{image_id}.jpg")
    df, audit = _load("ham10000", tmp_path)
    assert len(df) == 4 and df["has_image"].sum() == 3
    by_id = dict(zip(df["image_id"], df["image_path"], strict=True))
    assert by_id[shipped[2]] == str((folder / "HAM10000_images_part_2" / f"{shipped[2]}.jpg").resolve())
    assert by_id[shipped[3]] == ""
    problem = audit.problems[0]
    assert (problem.problem, problem.count, problem.value) == (
        "missing image file",
        1,
        f"1 of 4 image files missing; first: {shipped[3]}",
    )


def test_bad_age_and_sex_values(pad_copy):
    root, keep = pad_copy
    path = root / "pad_ufes_20" / "metadata.csv"
    _write(path, [keep[0], _set(keep[1], 6, "abc"), _set(keep[2], 6, "150"), _set(keep[3], 8, "X")] + keep[4:])
    df, audit = _load("pad_ufes_20", root)
    assert df["age"].isna().tolist()[:3] == [True, True, False]
    assert pd.isna(df["sex"].iloc[2])
    problems = audit.problems_frame()
    assert problems[["row", "column", "value", "expected", "problem"]].values.tolist() == [
        [2, "age", "abc", "an age in years (0-120) or empty", "bad value"],
        [3, "age", "150", "an age in years (0-120) or empty", "bad value"],
        [4, "gender", "X", "male, female or empty", "bad value"],
    ]
    with pytest.raises(DataFileError, match=r"pad_ufes_20: bad value in .* row 2 column 'age': value 'abc'"):
        load_dataset("pad_ufes_20", root, strict=True)
