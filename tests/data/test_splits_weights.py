"""Grouped, stratified, seeded splits (no patient or lesion crosses splits on real PAD-UFES-20 and HAM10000), split
persistence and hashing, and the fairness sample weights on a hand-computed table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skintag.data import load_dataset, load_datasets
from skintag.data.splits import apply_splits, group_ids, load_splits, make_splits, save_splits, split_hash
from skintag.data.weights import fairness_weights
from skintag.errors import ConfigError, DataFileError


@pytest.fixture(scope="module")
def pad_ham(shared_data):
    return load_datasets(["pad_ufes_20", "ham10000"], shared_data).table


def _crossing(df: pd.DataFrame, split: pd.Series, column: str) -> int:
    known = df[column].notna()
    per_id = split[known].groupby([df.loc[known, "dataset"], df.loc[known, column]]).nunique()
    return int((per_id > 1).sum())


@pytest.mark.parametrize("use_official", [False, True])
def test_no_patient_or_lesion_crosses_splits(pad_ham, use_official):
    split = make_splits(pad_ham, val_frac=0.15, test_frac=0.15, random_state=7, use_official=use_official)
    assert split.index.equals(pad_ham.index) and set(split) == {"train", "val", "test"}
    assert _crossing(pad_ham, split, "patient_id") == 0
    assert _crossing(pad_ham, split, "lesion_id") == 0
    # the property is not vacuous: many patients/lesions have several images
    assert (pad_ham.groupby(["dataset", "lesion_id"]).size() > 1).sum() > 1000
    assert (pad_ham.groupby(["dataset", "patient_id"]).size() > 1).sum() > 300
    # an image-level split of the same data would leak (shows what the test guards against)
    rng = np.random.default_rng(0)
    naive = pd.Series(rng.choice(["train", "val", "test"], len(pad_ham), p=[0.7, 0.15, 0.15]), index=pad_ham.index)
    assert _crossing(pad_ham, naive, "lesion_id") > 100


def test_fractions_and_stratification(pad_ham):
    split = make_splits(pad_ham, val_frac=0.15, test_frac=0.15, random_state=1)
    frac = split.value_counts(normalize=True)
    assert abs(frac["test"] - 0.15) < 0.02 and abs(frac["val"] - 0.15) < 0.02
    rates = pad_ham.groupby([pad_ham["domain"], split])["malignant"].mean().unstack()
    # the malignant rate of each domain is about the same in every split
    assert (rates.max(axis=1) - rates.min(axis=1)).max() < 0.06


def test_seeded_and_reproducible(pad_ham):
    a = make_splits(pad_ham, random_state=3)
    b = make_splits(pad_ham, random_state=3)
    c = make_splits(pad_ham, random_state=4)
    pd.testing.assert_series_equal(a, b)
    assert (a != c).mean() > 0.2


def test_official_split_kept(pad_ham, shared_data):
    split = make_splits(pad_ham, random_state=0, use_official=True)
    official = pad_ham["official_split"].notna()
    assert int(official.sum()) == 1512
    assert (split[official] == "test").all()
    derma = load_dataset("dermamnist", shared_data).table
    kept = make_splits(derma, random_state=0, use_official=True)
    assert (kept == derma["official_split"]).all()


def test_group_ids_connect_patients_and_lesions():
    df = pd.DataFrame(
        {
            "dataset": ["a", "a", "a", "a", "b", "a"],
            "patient_id": ["P1", "P1", None, None, "P1", None],
            "lesion_id": ["L1", "L2", "L2", None, None, "L9"],
        }
    )
    g = group_ids(df)
    assert g[0] == g[1] == g[2]  # same patient, and a lesion shared with a row of unknown patient
    assert len({g[0], g[3], g[4], g[5]}) == 4  # image-only row, other dataset, other lesion are separate


def test_save_load_hash_roundtrip(pad_ham, tmp_path):
    split = make_splits(pad_ham, random_state=0)
    path = save_splits(split, tmp_path / "splits.csv", df=pad_ham)
    table = load_splits(path)
    assert list(table.columns) == ["dataset", "image_id", "split"] and len(table) == len(pad_ham)
    pd.testing.assert_series_equal(apply_splits(pad_ham, table), split)
    first = split_hash(path)
    assert len(first) == 64
    # same split → same bytes → same hash, whatever the row order of the input
    shuffled = pad_ham.sample(frac=1.0, random_state=0)
    save_splits(split.loc[shuffled.index], tmp_path / "again.csv", df=shuffled)
    assert split_hash(tmp_path / "again.csv") == first
    assert split_hash(save_splits(make_splits(pad_ham, random_state=1), tmp_path / "other.csv", df=pad_ham)) != first
    assert path.read_bytes().startswith(b"dataset,image_id,split\nham10000,ISIC_0024306,")


def test_split_file_errors(pad_ham, tmp_path):
    with pytest.raises(DataFileError, match=r"split file .*missing.csv not found; expected a CSV with columns"):
        load_splits(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("dataset,image_id,split\nham10000,ISIC_1,train\nham10000,ISIC_2,holdout\n", encoding="utf-8")
    with pytest.raises(
        DataFileError, match=r"bad.csv row 3: split 'holdout'; expected one of \['train', 'val', 'test'\]"
    ):
        load_splits(bad)
    bad.write_text("image_id,split\nISIC_1,train\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"has columns \['image_id', 'split'\]; expected"):
        load_splits(bad)
    pad = pad_ham[pad_ham["dataset"] == "pad_ufes_20"]
    partial = load_splits(save_splits(make_splits(pad, random_state=0), tmp_path / "pad.csv", df=pad))
    with pytest.raises(
        DataFileError, match=r"^11527 rows are not in the split table \(first: \[\['ham10000', 'ISIC_0027419'\]"
    ):
        apply_splits(pad_ham, partial)
    with pytest.raises(ConfigError, match="needs df="):
        save_splits(make_splits(pad_ham, random_state=0), tmp_path / "x.csv")
    with pytest.raises(ConfigError, match="must be in"):
        make_splits(pad_ham, val_frac=0.6, test_frac=0.5)


def test_fairness_weights_hand_computed():
    df = pd.DataFrame(
        {
            "domain": ["clinical"] * 6 + ["dermoscopic"] * 2,
            "fitzpatrick_group": ["I-II", "I-II", "I-II", "V-VI", "unknown", "unknown", "unknown", "unknown"],
            "malignant": [0, 0, 1, 0, 0, 1, 0, 1],
        }
    )
    # N=8, D=2: w_domain clinical = 8/(2*6) = 2/3, dermoscopic = 8/(2*2) = 2.
    # clinical w_fitz: (I-II,0) twice -> 1/2, (I-II,1) -> 1, (V-VI,0) -> 1; unknown -> median(1/2,1/2,1,1) = 3/4;
    # mean 3/4, so normalised [2/3, 2/3, 4/3, 4/3, 1, 1]; dermoscopic has no known skin type -> 1.
    expected = np.array([4 / 9, 4 / 9, 8 / 9, 8 / 9, 2 / 3, 2 / 3, 2.0, 2.0])
    w = fairness_weights(df)
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-12)
    assert w[:6].sum() == pytest.approx(4.0) and w[6:].sum() == pytest.approx(4.0)  # equal share per domain
    assert w.mean() == pytest.approx(1.0)


def test_fairness_weights_real_pad(pad_ham):
    w = fairness_weights(pad_ham)
    assert w.shape == (len(pad_ham),) and (w > 0).all() and w.mean() == pytest.approx(1.0)
    for domain in ("smartphone", "dermoscopic"):
        assert w[(pad_ham["domain"] == domain).to_numpy()].sum() == pytest.approx(len(pad_ham) / 2)
    # within PAD, a rarer (group, label) pair weighs more than a common one
    pad = (pad_ham["dataset"] == "pad_ufes_20").to_numpy()
    rare = pad & (pad_ham["fitzpatrick_group"] == "V-VI").to_numpy()
    common = pad & (pad_ham["fitzpatrick_group"] == "I-II").to_numpy() & (pad_ham["malignant"] == 1).to_numpy()
    assert w[rare].min() > w[common].max()
    with pytest.raises(ConfigError, match="needs column 'domain'"):
        fairness_weights(pad_ham.drop(columns="domain"))


def test_near_duplicate_groups_link_similar_embeddings_transitively():
    from skintag.data.splits import near_duplicate_groups

    e = np.array([
        [1.0, 0.0, 0.0],
        [0.99, 0.141, 0.0],  # cos with row 0 = 0.99 / |(0.99, 0.141)| = 0.990
        [0.96, 0.28, 0.0],   # cos with row 1 ≈ 0.990, with row 0 = 0.96: linked through row 1
        [0.0, 0.0, 5.0],     # alone (scale does not matter)
        [0.0, 0.0, 0.0],     # zero vector: links to nothing
        [0.0, 0.01, 2.0],    # cos with row 3 ≈ 0.99999
    ])
    g = near_duplicate_groups(e, 0.98)
    assert g.tolist() == [0, 0, 0, 1, 2, 1]
    assert near_duplicate_groups(e, 0.999).tolist() == [0, 1, 2, 3, 4, 3]  # 0.99 links no longer hold
    assert near_duplicate_groups(e, 0.98, block=2).tolist() == g.tolist()  # block size does not change the result


def test_near_duplicates_stay_in_one_split():
    rng = np.random.default_rng(0)
    n = 400
    base = rng.normal(size=(n // 2, 16))
    emb = np.r_[base, base + rng.normal(scale=1e-3, size=base.shape)]  # every image has a near-duplicate
    df = pd.DataFrame({"dataset": "ddi", "image_id": [f"i{i}" for i in range(n)], "malignant": rng.integers(0, 2, n),
                       "domain": "clinical"})
    from skintag.data.splits import near_duplicate_groups

    df["near_duplicate_group"] = [f"nd{g}" for g in near_duplicate_groups(emb, 0.99)]
    assert df["near_duplicate_group"].nunique() == n // 2
    split = make_splits(df, random_state=0)
    for a in range(n // 2):
        assert split.iloc[a] == split.iloc[a + n // 2]
    assert set(split) == {"train", "val", "test"}
