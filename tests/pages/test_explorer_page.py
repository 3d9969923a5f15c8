"""The Dataset Explorer page driven by AppTest on the real data: counts, heatmap base rates, annotator agreement,
image grid filters and pagination, data cards, empty state and load errors. Expected values are computed here from the
raw CSV files (not through skintag.data) wherever that is practical."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from skintag.ui.common import safe_md

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "app_pages" / "dataset_explorer.py")
PRESENT = ["ham10000", "fitzpatrick17k", "pad_ufes_20", "bcn20000", "dermamnist"]
MALIGNANT_PAD = {"BCC", "SCC", "MEL", "ACK"}


def _metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert len(values) == 1, f"metric {label!r}: {values}"
    return values[0]


def _chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


@pytest.fixture(scope="module")
def raw_pad(shared_data: Path) -> pd.DataFrame:
    meta = pd.read_csv(shared_data / "pad_ufes_20" / "metadata.csv")
    on_disk = {p.name for p in (shared_data / "pad_ufes_20" / "images").glob("*.png")}
    return meta.assign(on_disk=meta["img_id"].isin(on_disk))


@pytest.fixture(scope="module")
def raw_fitz(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "fitzpatrick17k" / "fitzpatrick17k.csv")


@pytest.fixture
def app(shared_data: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("SKINTAG_DATA_DIR", str(shared_data))
    return AppTest.from_file(PAGE, default_timeout=120)


def test_all_present_datasets_by_default(app):
    at = app.run()
    assert not at.exception
    assert at.multiselect(key="datasets").value == PRESENT
    # HAM10000 10,015 + ISIC 2018 test 1,512; Fitzpatrick17k 16,577; PAD 2,298; BCN 12,413. DermaMNIST's 10,015 are
    # HAM10000's images again (downsampled): with HAM10000 selected they are not added to the totals
    assert _metric(at, "Images") == f"{11_527 + 16_577 + 2_298 + 12_413:,}"
    assert _metric(at, "Image files present") == f"{60 + 249:,}"
    notes = [i.value for i in at.info if "derived from" in i.value]
    assert notes == [
        "DermaMNIST (MedMNIST v2) is derived from HAM10000 (the same images, re-published). With both selected, totals "
        "and charts count each image once, as HAM10000's; DermaMNIST (MedMNIST v2) keeps its own row in the table."
    ]
    summary = at.dataframe[0].value.set_index("dataset")
    assert summary.loc["dermamnist", "images"] == 10_015
    assert summary.loc["dermamnist", "in the total"] == "no: derived from ham10000"
    assert summary.loc["ham10000", "in the total"] == "yes"
    assert summary.loc["all selected", "images"] == 11_527 + 16_577 + 2_298 + 12_413
    assert summary.loc["all selected", "malignant"] == sum(summary.loc[d, "malignant"] for d in PRESENT[:-1])
    titles = {s["layout"].get("title", {}).get("text", "") for s in _chart_specs(at)}
    assert "Images by dataset and imaging domain" in titles
    assert len(at.get("image")) == 12  # first page of the grid
    assert not at.error


def test_selection_heatmap_agreement_and_grid(app, raw_pad, raw_fitz):
    at = app.run()
    at.multiselect(key="datasets").set_value(["fitzpatrick17k", "pad_ufes_20"]).run()
    assert not at.exception
    assert _metric(at, "Images") == f"{16_577 + 2_298:,}"
    assert _metric(at, "Image files present") == "249"
    fitz_known = int((raw_fitz["fitzpatrick_scale"] > 0).sum()) + int(raw_pad["fitspatrick"].notna().sum())
    assert _metric(at, "Exact skin type known") == f"{fitz_known:,}"

    # base rate of malignancy in the V-VI row, from the raw files
    pad_v = raw_pad[raw_pad["fitspatrick"].isin([5, 6])]
    fitz_v = raw_fitz[raw_fitz["fitzpatrick_scale"].isin([5, 6])]
    m = int(pad_v["diagnostic"].isin(MALIGNANT_PAD).sum()) + int((fitz_v["three_partition_label"] == "malignant").sum())
    n = len(pad_v) + len(fitz_v)
    heat = next(s for s in _chart_specs(at) if s["data"][0]["type"] == "heatmap" and len(s["data"]) == 2)
    rates = dict(zip(heat["data"][1]["y"], [t[0] for t in heat["data"][1]["text"]], strict=True))
    assert rates["V-VI"] == f"{100 * m / n:.1f} %<br>{m:,} / {n:,}"
    assert list(heat["data"][0]["y"]) == ["I-II", "III-IV", "V-VI", "unknown"]

    # exact types: rows I..VI then the rest
    at.radio(key="fitz_by").set_value("exact").run()
    heat = next(s for s in _chart_specs(at) if s["data"][0]["type"] == "heatmap" and len(s["data"]) == 2)
    assert list(heat["data"][0]["y"]) == ["I", "II", "III", "IV", "V", "VI", "unknown or group only"]

    # Fitzpatrick17k annotators, by hand from the raw CSV (linear weighted kappa written out)
    both = raw_fitz[(raw_fitz["fitzpatrick_scale"] > 0) & (raw_fitz["fitzpatrick_centaur"] > 0)]
    a, b = both["fitzpatrick_scale"].to_numpy(), both["fitzpatrick_centaur"].to_numpy()
    obs = np.zeros((6, 6))
    np.add.at(obs, (a - 1, b - 1), 1)
    obs /= obs.sum()
    exp = np.outer(obs.sum(1), obs.sum(0))
    w = np.abs(np.subtract.outer(np.arange(6), np.arange(6))) / 5
    kappa = 1 - (w * obs).sum() / (w * exp).sum()
    assert _metric(at, "Rows with both types") == f"{len(both):,}"
    assert _metric(at, "Exact agreement") == f"{100 * np.mean(a == b):.1f} %"
    assert _metric(at, "Within ±1 type") == f"{100 * np.mean(np.abs(a - b) <= 1):.1f} %"
    assert _metric(at, "Cohen's κ (linear)") == f"{kappa:.3f}"

    # image grid: only PAD has files here; filter by skin type and condition, then page
    shown = raw_pad[raw_pad["on_disk"]]
    assert any(c.value.startswith(f"{len(shown):,} images match") for c in at.caption)
    at.multiselect(key="img_skin").set_value(["II"]).run()
    shown = shown[shown["fitspatrick"] == 2]
    assert any(c.value.startswith(f"{len(shown):,} images match") for c in at.caption)
    at.multiselect(key="img_conditions").set_value([1]).run()  # Basal Cell Carcinoma
    shown = shown[shown["diagnostic"] == "BCC"].sort_values("img_id")
    assert len(shown) > 12, "need a second page for this test"
    assert any(c.value.startswith(f"{len(shown):,} images match") for c in at.caption)
    at.number_input(key="img_page").set_value(2).run()
    assert not at.exception
    captions = [c.value for c in at.caption if "(pad_ufes_20)" in c.value]
    expected_ids = [Path(x).stem for x in shown["img_id"].iloc[12:24]]
    assert [c.split(" ")[0] for c in captions] == expected_ids
    assert all("Basal Cell Carcinoma [BCC]" in c and "FST II" in c for c in captions)
    assert len(at.get("image")) == len(expected_ids)


def test_derived_dataset_alone_is_counted(app):
    """Without its source selected, DermaMNIST's images are the only copy: they count, and the page still says what
    they are derived from."""
    at = app.run()
    at.multiselect(key="datasets").set_value(["dermamnist", "pad_ufes_20"]).run()
    assert not at.exception
    assert _metric(at, "Images") == f"{10_015 + 2_298:,}"
    assert [i.value for i in at.info if "derived from" in i.value] == [
        "DermaMNIST (MedMNIST v2) is derived from HAM10000 (the same images, re-published)."
    ]


def test_unmapped_malignant_labels_are_not_counted_benign(app, raw_fitz):
    """Kaposi sarcoma and mycosis fungoides go to condition Other/Unknown but stay malignant (their dataset says so);
    the other Other/Unknown rows (unmapped labels, hamartomas sent there by the keyword rules) have a category of their
    own. Expected counts from the raw CSV."""
    from skintag.taxonomy import OTHER_ID, keyword_condition

    unmapped = {
        "porokeratosis actinic", "mycosis fungoides", "kaposi sarcoma", "syringoma", "milia", "fordyce spots",
        "pilar cyst", "mucous cyst", "porokeratosis of mibelli", "disseminated actinic porokeratosis", "pilomatricoma",
    }  # fmt: skip
    at = app.run()
    at.multiselect(key="datasets").set_value(["fitzpatrick17k"]).run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "of which Other/Unknown" in d.value.columns)
    malignant = raw_fitz["three_partition_label"] == "malignant"
    hamartoma = raw_fitz["label"].map(lambda x: keyword_condition(x).mapped and keyword_condition(x).condition_id == OTHER_ID)
    other = raw_fitz["label"].isin(unmapped) | hamartoma
    assert table.index.tolist() == [
        "Malignant / Pre-cancerous", "Inflammatory / Reactive", "Benign", "Other / Unknown (not assessed)",
    ]  # fmt: skip
    assert table.loc["Malignant / Pre-cancerous", "images"] == int(malignant.sum()) == 2263
    assert table.loc["Malignant / Pre-cancerous", "of which Other/Unknown"] == int((malignant & other).sum()) == 156 + 182
    assert table.loc["Other / Unknown (not assessed)", "images"] == int((other & ~malignant).sum())
    assert table.loc["Benign", "of which Other/Unknown"] == 0
    assert int(table["images"].sum()) == len(raw_fitz)
    # the heatmap's base rate of malignancy counts them malignant too
    heat = next(s for s in _chart_specs(at) if s["data"][0]["type"] == "heatmap" and len(s["data"]) == 2)
    totals = [t[0].split("<br>")[1] for t in heat["data"][1]["text"]]
    assert sum(int(t.split(" / ")[0].replace(",", "")) for t in totals) == 2263


def test_data_card_switch(app):
    at = app.run()
    assert at.selectbox(key="card").value == "ham10000"  # the first selected dataset
    at.multiselect(key="datasets").set_value(["pad_ufes_20"]).run()
    at.selectbox(key="card").set_value("pad_ufes_20").run()
    body = " ".join(m.value for m in at.markdown)
    assert "| rows (images) | 2,298 |" in body and "stats:begin" not in body
    at.selectbox(key="card").set_value("ddi").run()
    assert not at.exception
    table = at.table[0].value
    assert table.loc["licence", "value"] == "Stanford research use agreement (not redistributable)"
    assert "Data not available" in " ".join(m.value for m in at.markdown)


def test_empty_state_lists_where_to_get_each_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("SKINTAG_DATA_DIR", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("No dataset found" in w.value for w in at.warning)
    table = at.dataframe[0].value
    assert len(table) == 6
    assert dict(zip(table["dataset"], table["folder"], strict=True))["BCN20000"] == "isic2019/"
    assert "Mendeley" in " ".join(table["where to get it"])
    assert not at.multiselect  # nothing to choose
    assert not at.text_input  # the data root comes from SKINTAG_DATA_DIR only: no box to type a server path into
    assert any(f"Data root: {safe_md(tmp_path)} " in c.value for c in at.caption)  # a server path, as text


def test_bad_metadata_shows_error_not_traceback(tmp_path, monkeypatch):
    (tmp_path / "pad_ufes_20").mkdir()
    (tmp_path / "pad_ufes_20" / "metadata.csv").write_text("patient_id,lesion_id\nPAT_1,1\n")
    monkeypatch.setenv("SKINTAG_DATA_DIR", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    errors = " ".join(re.sub(r"\\(.)", r"\1", e.value) for e in at.error)  # as shown (safe_md escapes)
    assert "Could not load the selected datasets" in errors and "metadata.csv" in errors


# -- the page's builders on a hand-made table -------------------------------------------------------------------------


def _toy() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_path": ["/x/a.png", "/x/b.png", "", "/x/d.png", "/x/e.png"],
            "dataset": ["pad_ufes_20", "pad_ufes_20", "pad_ufes_20", "ddi", "ham10000"],
            "domain": ["smartphone"] * 3 + ["clinical", "dermoscopic"],
            "condition_id": [1, 4, 1, 0, 4],
            "malignant": [1, 0, 1, 1, 0],
            "raw_label": ["BCC", "NEV", "BCC", "melanoma", "nv"],
            "fitzpatrick": pd.array([2, 5, None, None, None], dtype="Int64"),
            "fitzpatrick_group": ["I-II", "V-VI", "unknown", "V-VI", "unknown"],
            "fitzpatrick_source": ["pad_ufes_20:fitspatrick"] * 2 + ["none", "ddi:skin_tone", "none"],
            "patient_id": ["p1", "p1", "p2", np.nan, np.nan],
            "lesion_id": ["1", "2", "3", np.nan, "L"],
            "age": [50.0, 61.0, np.nan, np.nan, 30.0],
            "sex": ["female", "male", np.nan, np.nan, "male"],
            "site": ["ARM", "arm", np.nan, np.nan, "back"],
            "image_id": ["a", "b", "c", "d", "e"],
            "has_image": [True, True, False, True, True],
            "official_split": [np.nan] * 5,
            "fitzpatrick_centaur": pd.array([None] * 5, dtype="Int64"),
        }
    )


def test_builders_on_hand_made_table():
    from skintag.plots import explorer as pe

    df = _toy()
    assert pe.skin_type_label(df).tolist() == ["II", "V", "unknown", "V-VI (group only)", "unknown"]
    assert pe.skin_type_options(pe.skin_type_label(df)) == ["II", "V", "V-VI (group only)", "unknown"]

    summary = pe.dataset_summary(df).set_index("dataset")
    assert summary.index.tolist() == ["ham10000", "ddi", "pad_ufes_20", "all selected"]  # registry order, then total
    assert summary.loc["pad_ufes_20", "patients"] == 2 and pd.isna(summary.loc["ddi", "patients"])
    assert summary.loc["pad_ufes_20", "% malignant"] == 66.7
    assert summary.loc["all selected", "image files"] == 4
    assert set(summary["in the total"]) == {"yes"}
    assert pe.derivation_notes(["ham10000", "ddi"]) == []

    table = pe.skin_type_by_diagnosis(df, by="group")
    assert table.counts.index.tolist() == ["I-II", "V-VI", "unknown"]
    assert table.counts.loc["V-VI"].to_dict() == {"Melanoma": 1, "Basal Cell Carcinoma": 0, "Melanocytic Nevus": 1}
    assert table.malignant_rate.round(3).to_dict() == {"I-II": 1.0, "V-VI": 0.5, "unknown": 0.5}
    exact = pe.skin_type_by_diagnosis(df, by="exact")
    assert exact.total.to_dict() == {"II": 1, "V": 1, "unknown or group only": 3}

    sites = pe.site_table(df)
    assert sites.index.tolist() == ["arm", "back"]  # lower-cased and merged; missing sites left out
    assert sites.loc["arm", "pad_ufes_20"] == 2
    assert pe.provenance_table(df).loc["none", "pad_ufes_20"] == 1
    assert pe.annotator_agreement(df) is None  # no Fitzpatrick17k rows

    shown = pe.filter_images(df)
    assert shown["image_id"].tolist() == ["e", "d", "a", "b"]  # has_image only, registry order
    assert pe.filter_images(df, skin_types=["V-VI (group only)"])["image_id"].tolist() == ["d"]
    assert pe.filter_images(df, datasets=["pad_ufes_20"], conditions=[4])["image_id"].tolist() == ["b"]
    assert pe.n_pages(0, 12) == 1 and pe.n_pages(25, 12) == 3
    assert pe.page_slice(shown, 2, per_page=3)["image_id"].tolist() == ["b"]
    assert pe.page_slice(shown, 99, per_page=3)["image_id"].tolist() == ["b"]  # clamped
    caption = pe.image_caption(df.iloc[3])
    assert caption == "d (ddi) · Melanoma [melanoma] · malignant · FST V-VI · age ? · sex ?"


def test_derived_rows_left_out_of_totals_on_hand_made_table():
    from skintag.data import distinct_images
    from skintag.plots import explorer as pe

    df = _toy()
    derma = df[df["dataset"] == "ham10000"].assign(dataset="dermamnist", image_id="DermaMNIST_train_00000")
    both = pd.concat([df, derma, derma.assign(image_id="DermaMNIST_train_00001", malignant=1)], ignore_index=True)
    assert len(distinct_images(both)) == 5 and distinct_images(df) is df
    summary = pe.dataset_summary(both).set_index("dataset")
    assert summary.index.tolist() == ["ham10000", "ddi", "pad_ufes_20", "dermamnist", "all selected"]
    assert summary.loc["dermamnist", ["images", "malignant"]].tolist() == [2, 1]
    assert summary.loc["all selected", ["images", "malignant", "image files"]].tolist() == [5, 3, 4]
    without_source = pe.dataset_summary(both[both["dataset"] != "ham10000"]).set_index("dataset")
    assert without_source.loc["all selected", "images"] == 6 and set(without_source["in the total"]) == {"yes"}
    # category counts of the hand-made table: Other/Unknown (9) is never benign; malignant rows stay malignant
    cats = pe.category_counts(df.assign(condition_id=[1, 9, 9, 0, 4], malignant=[1, 0, 1, 1, 0]))
    assert cats["images"].to_dict() == {
        "Malignant / Pre-cancerous": 3, "Benign": 1, "Other / Unknown (not assessed)": 1,
    }  # fmt: skip
    assert cats["of which Other/Unknown"].tolist() == [1, 0, 1]
    assert cats["share %"].tolist() == [60.0, 20.0, 20.0]


def test_page_runs_without_torch(tmp_path, shared_data):
    """The explorer page (with its data loaded and charts built) never imports torch."""
    import os
    import subprocess
    import sys

    (tmp_path / "pad_ufes_20").symlink_to(shared_data / "pad_ufes_20")
    code = (
        "import sys\nfrom streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({PAGE!r}, default_timeout=60).run()\n"
        "assert not at.exception, at.exception\n"
        "print(len(at.get('plotly_chart')), 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "SKINTAG_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    n_charts, torch_loaded = out.stdout.split()
    assert int(n_charts) >= 5 and torch_loaded == "False"


def test_ddi_fixture_group_only_skin_types(tmp_path, monkeypatch):
    """DDI (published-format fixture, 21 rows) gives skin-type groups only: the heatmap, filter and captions say so."""
    import shutil

    from PIL import Image

    shutil.copytree(REPO / "tests" / "data" / "fixtures" / "ddi", tmp_path / "ddi")
    (tmp_path / "ddi" / "images").mkdir()
    with_images = [1, 2, 3, 4, 8, 11, 13, 16, 19]  # DDI_IDs; skin_tone 56 for 1, 4, 8, 11, 13, 16, 19
    for i in with_images:
        Image.new("RGB", (64, 48), (150 + i, 100, 90)).save(tmp_path / "ddi" / "images" / f"{i:06d}.png")
    monkeypatch.setenv("SKINTAG_DATA_DIR", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert at.multiselect(key="datasets").value == ["ddi"]
    assert _metric(at, "Images") == "21" and _metric(at, "Image files present") == "9"
    assert _metric(at, "Exact skin type known") == "0"
    heat = next(s for s in _chart_specs(at) if s["data"][0]["type"] == "heatmap" and len(s["data"]) == 2)
    rates = dict(zip(heat["data"][1]["y"], [t[0] for t in heat["data"][1]["text"]], strict=True))
    # malignant=TRUE: skin_tone 12 rows 2, 5, 20; 34 rows 3, 6; 56 rows 1, 4 (7 rows per tone)
    assert rates == {"I-II": "42.9 %<br>3 / 7", "III-IV": "28.6 %<br>2 / 7", "V-VI": "28.6 %<br>2 / 7"}
    assert any("Annotator agreement needs Fitzpatrick17k" in i.value for i in at.info)

    skin = at.multiselect(key="img_skin")
    assert skin.options == ["I-II (group only)", "III-IV (group only)", "V-VI (group only)"]
    skin.set_value(["V-VI (group only)"]).run()
    assert any(c.value.startswith("7 images match (9 with files)") for c in at.caption)
    grid = [c.value for c in at.caption if "(ddi)" in c.value]
    assert [c.split(" ")[0] for c in grid] == ["000001", "000004", "000008", "000011", "000013", "000016", "000019"]
    assert all("FST V-VI" in c for c in grid)
    assert len(at.get("image")) == 7


def test_thumbnail(tmp_path, ham_dir):
    import io

    from PIL import Image

    from skintag.ui.explorer import thumbnail

    jpg = sorted((ham_dir / "images").glob("*.jpg"))[0]
    with Image.open(io.BytesIO(thumbnail(str(jpg), 160))) as img:
        assert img.format == "JPEG" and img.mode == "RGB" and img.size == (160, 120)  # 600×450 scaled, aspect kept
    bad = tmp_path / "not_an_image.jpg"
    bad.write_text("hello")
    assert thumbnail(str(bad)) is None
    assert thumbnail(str(tmp_path / "missing.png")) is None
