"""Every loader against the real files in ../shared/data: exact counts from its SOURCES.md, schema, audit."""

from __future__ import annotations

import pandas as pd
import pytest

from skintag.data import COLUMNS, DATASETS, LoadedDataset, available_datasets, load_dataset, load_datasets
from skintag.data.audit import LabelAudit
from skintag.data.schema import DTYPES, check_frame, read_csv_rows
from skintag.errors import LabelError


@pytest.fixture(scope="module")
def ham_loaded(shared_data) -> LoadedDataset:
    return load_dataset("ham10000", shared_data)


@pytest.fixture(scope="module")
def ham(ham_loaded) -> pd.DataFrame:
    return ham_loaded.table


@pytest.fixture(scope="module")
def pad_loaded(shared_data) -> LoadedDataset:
    return load_dataset("pad_ufes_20", shared_data)


@pytest.fixture(scope="module")
def pad(pad_loaded) -> pd.DataFrame:
    return pad_loaded.table


@pytest.fixture(scope="module")
def fitz_loaded(shared_data) -> LoadedDataset:
    return load_dataset("fitzpatrick17k", shared_data)


@pytest.fixture(scope="module")
def fitz(fitz_loaded) -> pd.DataFrame:
    return fitz_loaded.table


@pytest.fixture(scope="module")
def bcn_loaded(shared_data) -> LoadedDataset:
    return load_dataset("bcn20000", shared_data)


@pytest.fixture(scope="module")
def bcn(bcn_loaded) -> pd.DataFrame:
    return bcn_loaded.table


@pytest.fixture(scope="module")
def derma_loaded(shared_data) -> LoadedDataset:
    return load_dataset("dermamnist", shared_data)


@pytest.fixture(scope="module")
def derma(derma_loaded) -> pd.DataFrame:
    return derma_loaded.table


def _schema_ok(df: pd.DataFrame, name: str) -> None:
    assert list(df.columns) == COLUMNS
    for col, dtype in DTYPES.items():
        assert str(df[col].dtype) == dtype, col
    check_frame(df)
    assert (df["dataset"] == name).all()
    assert (df["domain"] == DATASETS[name].domain).all()
    assert df["image_id"].is_unique
    # image_path is non-empty exactly when the image exists; malignant agrees with the taxonomy where mapped
    assert ((df["image_path"] != "") == df["has_image"]).all()
    assert set(df["fitzpatrick_group"]) <= {"I-II", "III-IV", "V-VI", "unknown"}
    assert not df.attrs  # the audit travels beside the table, never in attrs


def test_ham10000_counts(ham, ham_loaded, ham_dir):
    _schema_ok(ham, "ham10000")
    assert len(ham) == 10015 + 1512
    main = ham[ham["official_split"].isna()]
    test = ham[ham["official_split"] == "test"]
    assert len(main) == 10015 and len(test) == 1512
    assert main["raw_label"].value_counts().to_dict() == {
        "nv": 6705, "mel": 1113, "bkl": 1099, "bcc": 514, "akiec": 327, "vasc": 142, "df": 115,
    }  # fmt: skip
    assert test["raw_label"].value_counts().to_dict() == {
        "nv": 909, "bkl": 217, "mel": 171, "bcc": 93, "df": 44, "akiec": 43, "vasc": 35,
    }  # fmt: skip
    assert main["lesion_id"].nunique() == 7470
    assert int(main["age"].isna().sum()) == 57
    assert main["condition_id"].value_counts().to_dict() == {4: 6705, 0: 1113, 5: 1099, 1: 514, 3: 327, 7: 142, 6: 115}
    assert int(main["malignant"].sum()) == 1113 + 514 + 327
    assert main["sex"].value_counts().to_dict() == {"male": 5406, "female": 4552}
    assert int(main["sex"].isna().sum()) == 57  # "unknown" in the file
    assert (ham["fitzpatrick_group"] == "unknown").all() and (ham["fitzpatrick_source"] == "none").all()
    # the 60 shipped images, by diagnosis
    with_images = ham[ham["has_image"]]
    assert with_images["raw_label"].value_counts().to_dict() == {
        "nv": 18, "bkl": 15, "mel": 9, "bcc": 9, "df": 4, "vasc": 3, "akiec": 2,
    }  # fmt: skip
    assert all(p.startswith(str((ham_dir / "images").resolve())) for p in with_images["image_path"])
    # missing images: one summary record per metadata file, not one per row
    problems = ham_loaded.audit.problems_frame()
    assert problems["problem"].tolist() == ["missing image file", "missing image file"]
    assert problems["count"].tolist() == [9955, 1512]
    assert problems["value"].iloc[1].startswith("1512 of 1512 image files missing; first: ISIC_0034524")
    assert ham_loaded.audit.errors() == []
    assert ham_loaded.audit.unmapped().empty


def test_ham10000_layouts_identical(shared_data, ham_dir):
    dataverse = load_dataset("ham10000", shared_data, metadata=ham_dir / "HAM10000_metadata.csv", include_test=False)
    kaggle = load_dataset(
        "ham10000", shared_data, metadata=ham_dir / "kaggle_7col" / "HAM10000_metadata.csv", include_test=False
    )
    assert len(dataverse.table) == 10015
    pd.testing.assert_frame_equal(dataverse.table, kaggle.table, check_exact=True, check_like=False, check_flags=True)
    assert dataverse.audit.to_frame().equals(kaggle.audit.to_frame())


def test_pad_ufes_20_counts(pad, pad_loaded):
    _schema_ok(pad, "pad_ufes_20")
    assert len(pad) == 2298
    assert pad["raw_label"].value_counts().to_dict() == {
        "BCC": 845, "ACK": 730, "NEV": 244, "SEK": 235, "SCC": 192, "MEL": 52,
    }  # fmt: skip
    counts = pad["fitzpatrick"].value_counts(dropna=False)
    assert {int(k): int(v) for k, v in counts.items() if not pd.isna(k)} == {1: 153, 2: 876, 3: 392, 4: 62, 5: 10, 6: 1}
    assert int(pad["fitzpatrick"].isna().sum()) == 804
    assert pad["fitzpatrick_group"].value_counts().to_dict() == {
        "I-II": 1029,
        "unknown": 804,
        "III-IV": 454,
        "V-VI": 11,
    }
    assert set(pad.loc[pad["fitzpatrick"].notna(), "fitzpatrick_source"]) == {"pad_ufes_20:fitspatrick"}
    assert set(pad.loc[pad["fitzpatrick"].isna(), "fitzpatrick_source"]) == {"none"}
    assert pad["patient_id"].nunique() == 1373 and pad["lesion_id"].nunique() == 1641
    assert pad["sex"].value_counts().to_dict() == {"female": 753, "male": 741}
    assert int(pad["sex"].isna().sum()) == 804
    assert pad["site"].value_counts().head(2).to_dict() == {"face": 570, "forearm": 392}
    # the 249 shipped photos all have a skin type; image ids have no extension, paths do
    shipped = pad[pad["has_image"]]
    assert len(shipped) == 249 and shipped["fitzpatrick"].notna().all()
    assert shipped["image_path"].str.endswith(".png").all()
    assert not shipped["image_id"].str.endswith(".png").any()
    problems = pad_loaded.audit.problems_frame()
    assert problems[["problem", "count"]].values.tolist() == [["missing image file", 2049]]


def test_fitzpatrick17k_counts_and_unmapped(fitz, fitz_loaded, fitz17k_dir):
    _schema_ok(fitz, "fitzpatrick17k")
    assert len(fitz) == 16577
    scale = fitz["fitzpatrick"].value_counts()
    assert {int(k): int(v) for k, v in scale.items()} == {1: 2947, 2: 4808, 3: 3308, 4: 2781, 5: 1533, 6: 635}
    assert int(fitz["fitzpatrick"].isna().sum()) == 565
    centaur = fitz["fitzpatrick_centaur"].value_counts()
    assert {int(k): int(v) for k, v in centaur.items()} == {1: 5561, 2: 3180, 3: 2934, 4: 1974, 5: 1293, 6: 562}
    assert int(fitz["fitzpatrick_centaur"].isna().sum()) == 1073
    # three_partition_label: malignant 2263, benign 2234 + non-neoplastic 12080 -> not malignant
    assert fitz["malignant"].value_counts().to_dict() == {0: 2234 + 12080, 1: 2263}
    assert fitz["raw_label"].nunique() == 114
    audit = fitz_loaded.audit
    table = audit.to_frame()
    assert len(table) == 114 and int(table["count"].sum()) == 16577
    assert table["mapped_by"].value_counts().to_dict() == {"keyword": 56, "partition": 47, "unmapped→Other": 11}
    unmapped = audit.unmapped("fitzpatrick17k")
    assert dict(zip(unmapped["raw_label"], unmapped["count"], strict=True)) == {
        "porokeratosis actinic": 183,
        "mycosis fungoides": 182,
        "kaposi sarcoma": 156,
        "syringoma": 127,
        "milia": 112,
        "fordyce spots": 100,
        "pilar cyst": 93,
        "mucous cyst": 79,
        "porokeratosis of mibelli": 78,
        "disseminated actinic porokeratosis": 60,
        "pilomatricoma": 53,
    }
    # unmapped labels land in Other but keep the dataset's own malignant flag (Kaposi sarcoma is malignant)
    kaposi = fitz[fitz["raw_label"] == "kaposi sarcoma"]
    assert set(kaposi["condition_id"]) == {9} and set(kaposi["malignant"]) == {1}
    assert fitz.loc[fitz["raw_label"] == "psoriasis", "condition_id"].unique().tolist() == [8]
    # every unmapped label is an "unknown label" problem; no images are shipped: one summary record
    problems = audit.problems_frame()
    assert sorted(problems.loc[problems["problem"] == "unknown label", "value"]) == sorted(unmapped["raw_label"])
    missing = problems[problems["problem"] == "missing image file"]
    assert missing["count"].tolist() == [16577]
    assert "(no image folder exists)" in missing["value"].iloc[0]
    assert not fitz["has_image"].any() and (fitz["image_path"] == "").all()


def test_fitzpatrick17k_strict_fails_on_unmapped(fitz17k_dir):
    path = fitz17k_dir / "fitzpatrick17k.csv"
    with pytest.raises(LabelError) as info:
        load_dataset("fitzpatrick17k", fitz17k_dir.parent, strict=True)
    assert str(info.value) == (
        f"fitzpatrick17k: unknown label in {path} row 7 column 'label': value 'kaposi sarcoma' (156 rows); expected "
        "a label matched by the keyword map or a non-neoplastic three_partition_label (and 10 more problem(s))"
    )


def test_bcn20000_from_isic2019(bcn, bcn_loaded, isic2019_dir):
    _schema_ok(bcn, "bcn20000")
    assert len(bcn) == 12413
    assert bcn["raw_label"].value_counts().to_dict() == {
        "NV": 4206, "MEL": 2857, "BCC": 2809, "BKL": 1138, "AK": 737, "SCC": 431, "DF": 124, "VASC": 111,
    }  # fmt: skip
    assert bcn["condition_id"].value_counts().to_dict() == {
        4: 4206,
        0: 2857,
        1: 2809,
        5: 1138,
        3: 737,
        2: 431,
        6: 124,
        7: 111,
    }
    assert int(bcn["malignant"].sum()) == 2857 + 2809 + 737 + 431
    assert bcn["lesion_id"].str.startswith("BCN_").all() and bcn["lesion_id"].nunique() == 3576
    assert bcn["sex"].value_counts().to_dict() == {"male": 6499, "female": 5840}
    assert int(bcn["age"].isna().sum()) == 74
    assert bcn_loaded.audit.errors() == []


def test_isic2019_training_totals(isic2019_dir):
    """The full ISIC 2019 training ground truth read by the same CSV reader (SOURCES.md class totals)."""
    audit = LabelAudit()
    gt = read_csv_rows(
        isic2019_dir / "ISIC_2019_Training_GroundTruth.csv", dataset="isic2019", required=["image"], audit=audit
    )
    assert len(gt) == 25331
    totals = {c: int(gt[c].astype(float).sum()) for c in ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")}
    assert totals == {
        "MEL": 4522,
        "NV": 12875,
        "BCC": 3323,
        "AK": 867,
        "BKL": 2624,
        "DF": 239,
        "VASC": 253,
        "SCC": 628,
        "UNK": 0,
    }
    meta = read_csv_rows(
        isic2019_dir / "ISIC_2019_Training_Metadata.csv", dataset="isic2019", required=["image"], audit=audit
    )
    assert int(meta["image"].str.endswith("_downsampled").sum()) == 2074
    test_meta = read_csv_rows(
        isic2019_dir / "ISIC_2019_Test_Metadata.csv", dataset="isic2019", required=["image"], audit=audit
    )
    assert len(test_meta) == 8238
    assert audit.problems == []


def test_dermamnist_folder_split_sizes(derma, derma_loaded):
    _schema_ok(derma, "dermamnist")
    assert len(derma) == 10015 and derma["has_image"].all()
    table = pd.crosstab(derma["raw_label"], derma["official_split"])
    assert {dx: tuple(int(table.loc[dx, s]) for s in ("train", "val", "test")) for dx in table.index} == {
        "akiec": (228, 33, 66),
        "bcc": (359, 52, 103),
        "bkl": (769, 110, 220),
        "df": (80, 12, 23),
        "mel": (779, 111, 223),
        "nv": (4693, 671, 1341),
        "vasc": (99, 14, 29),
    }
    assert derma["official_split"].value_counts().to_dict() == {"train": 7007, "test": 2005, "val": 1003}
    assert derma_loaded.audit.problems == []


def test_load_datasets_concatenates_and_merges_audit(shared_data):
    loaded = load_datasets(["pad_ufes_20", "dermamnist"], shared_data)
    both, audit = loaded.table, loaded.audit
    assert isinstance(audit, LabelAudit)
    assert list(both.columns) == COLUMNS and len(both) == 2298 + 10015
    assert set(audit.to_frame()["dataset"]) == {"pad_ufes_20", "dermamnist"}
    assert len(audit.problems) == 1  # PAD's missing-image summary
    check_frame(both)


def test_registry_and_availability(shared_data, tmp_path):
    assert set(DATASETS) == {"ham10000", "ddi", "fitzpatrick17k", "pad_ufes_20", "bcn20000", "dermamnist"}
    for info in DATASETS.values():
        assert info.expected_files and info.source and info.licence and info.citation
    assert available_datasets(shared_data) == {
        "ham10000": True, "ddi": False, "fitzpatrick17k": True, "pad_ufes_20": True, "bcn20000": True, "dermamnist": True,
    }  # fmt: skip
    assert not any(available_datasets(tmp_path).values())


def test_each_dataset_is_one_module_with_info_is_present_and_load(shared_data, tmp_path):
    import importlib

    from skintag.data import derived_datasets, distinct_images

    for name, info in DATASETS.items():
        module = importlib.import_module(f"skintag.data.datasets.{name}")
        assert module.INFO is info and info.name == name
        assert module.is_present(shared_data) == available_datasets(shared_data)[name]
        assert not module.is_present(tmp_path)
    # DermaMNIST re-publishes HAM10000's images: the only derived dataset
    assert {n: i.derived_from for n, i in DATASETS.items() if i.derived_from} == {"dermamnist": "ham10000"}
    assert derived_datasets(["dermamnist", "ham10000", "pad_ufes_20"]) == {"dermamnist": "ham10000"}
    assert derived_datasets(["dermamnist", "pad_ufes_20"]) == {}
    loaded = load_datasets(["ham10000", "dermamnist"], shared_data)
    assert len(loaded.table) == 11527 + 10015
    assert len(distinct_images(loaded.table)) == 11527  # DermaMNIST's 10,015 are HAM10000's main images again


def test_unknown_dataset_name(shared_data):
    from skintag.errors import ConfigError

    with pytest.raises(ConfigError, match=r"Unknown dataset 'isic'; expected one of \['ham10000', 'ddi'"):
        load_dataset("isic", shared_data)
