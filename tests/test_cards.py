"""Data and model cards: every committed card parses, has the required front matter and sections, and its statistics
block is exactly what ``render_stats`` produces from the real data now (generated, never typed)."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skintag import cards
from skintag.data.audit import MISSING_IMAGE, UNKNOWN_LABEL, LabelAudit, Problem
from skintag.errors import DataFileError
from skintag.taxonomy import UNMAPPED

REPO = Path(__file__).resolve().parents[1]
DATASET_IDS = {"ham10000", "ddi", "fitzpatrick17k", "pad_ufes_20", "bcn20000", "dermamnist"}


# -- the committed cards --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def committed_cards() -> dict[str, cards.Card]:
    out = {}
    for path in cards.list_data_cards(REPO / "data_cards"):
        card = cards.parse_card(path)
        out[card.id] = card
    return out


def test_one_card_per_dataset(committed_cards):
    assert set(committed_cards) == DATASET_IDS
    for name, card in committed_cards.items():
        assert card.path.name == f"{name}.md"


@pytest.mark.parametrize("name", sorted(DATASET_IDS))
def test_card_shape(committed_cards, name):
    card = committed_cards[name]
    assert cards.validate_data_card(card) == []
    assert list(card.sections)[: len(cards.DATA_CARD_SECTIONS)] == list(cards.DATA_CARD_SECTIONS)
    fm = card.front_matter
    assert fm["source"].startswith("https://")
    assert fm["domain"] in {"dermoscopic", "clinical", "smartphone"}
    for section in cards.DATA_CARD_SECTIONS[:-1]:
        assert len(card.sections[section].split()) >= 20, f"{name}: section {section!r} is too thin"
    assert "Intended" in card.sections["Uses"] and "Out of scope" in card.sections["Uses"]


def test_card_licences(committed_cards):
    licences = {k: c.front_matter["licence"] for k, c in committed_cards.items()}
    assert licences["ham10000"] == licences["bcn20000"] == licences["dermamnist"] == "CC BY-NC 4.0"
    assert licences["pad_ufes_20"] == "CC BY 4.0"
    assert licences["fitzpatrick17k"] == "CC BY-NC-SA 3.0"
    assert "not redistributable" in licences["ddi"]


@pytest.fixture(scope="module")
def expected_stats(shared_data, committed_cards) -> dict[str, str | None]:
    return {name: cards.expected_stats(card, shared_data) for name, card in committed_cards.items()}


@pytest.mark.parametrize("name", sorted(DATASET_IDS))
def test_committed_stats_are_generated_from_the_real_data(committed_cards, expected_stats, name):
    assert expected_stats[name] is not None, f"no data for {name} and the card holds real statistics"
    assert committed_cards[name].stats == expected_stats[name], (
        f"data_cards/{name}.md is stale or hand-edited; run `python -m skintag.cards build`"
    )


def test_real_numbers_in_cards(committed_cards):
    """Spot-check generated numbers against SOURCES.md."""
    pad = committed_cards["pad_ufes_20"].stats
    assert "| rows (images) | 2,298 |" in pad
    assert "| BCC | 1 Basal Cell Carcinoma | exact | 845 |" in pad
    assert "| II | 876 |" in pad  # fitspatrick 2
    ham = committed_cards["ham10000"].stats
    assert "| rows (images) | 11,527 |" in ham  # 10,015 training rows + 1,512 ISIC 2018 test rows
    assert "| test | 1,512 | 13.1 % |" in ham
    assert "| image files present | 60 |" in ham
    fitz = committed_cards["fitzpatrick17k"].stats
    assert "| rows (images) | 16,577 |" in fitz and "| VI | 635 |" in fitz and "| unknown | 565 |" in fitz
    assert "| rows (images) | 12,413 |" in committed_cards["bcn20000"].stats
    derma = committed_cards["dermamnist"].stats
    assert "| train | 7,007 |" in derma and "| val | 1,003 |" in derma and "| test | 2,005 |" in derma
    ddi = committed_cards["ddi"].stats
    assert "Data not available" in ddi and "research use agreement" in ddi


# -- parser -----------------------------------------------------------------------------------------------------------


def test_parse_card_text_sections_and_front_matter():
    text = (
        "---\nid: demo\nlabel_set: [a, b]\n---\n\n# Title here\n\nintro\n\n## Uses\n\nuse it\n\n"
        "## Structure\n\n```\n## not a heading\n```\n\n## Statistics\n\n"
        f"{cards.STATS_BEGIN}\n\n| a |\n\n{cards.STATS_END}\n"
    )
    card = cards.parse_card_text(text)
    assert card.front_matter == {"id": "demo", "label_set": ["a", "b"]}
    assert card.title == "Title here"
    assert list(card.sections) == ["Uses", "Structure", "Statistics"]
    assert card.sections["Uses"] == "use it"
    assert "## not a heading" in card.sections["Structure"]
    assert card.stats == "| a |"
    assert card.body.startswith("# Title here")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\nid: x\n\n## Uses\n", "never closed"),
        ("---\nid: [x\n---\nbody\n", "not valid YAML"),
        ("---\n- a\n- b\n---\nbody\n", "must be a YAML mapping"),
    ],
)
def test_parse_card_text_rejects_bad_front_matter(text, message):
    with pytest.raises(DataFileError, match=message):
        cards.parse_card_text(text, source="bad.md")


def test_card_without_front_matter_and_missing_file(tmp_path):
    card = cards.parse_card_text("# T\n\n## A\n\nx\n")
    assert card.front_matter == {} and card.sections == {"A": "x"} and card.stats is None
    assert cards.validate_data_card(card)[0] == "front matter lacks 'id'"
    with pytest.raises(DataFileError, match="cannot read card"):
        cards.parse_card(tmp_path / "nope.md")


def test_replace_stats_requires_markers():
    text = f"a\n{cards.STATS_BEGIN}\nold\n{cards.STATS_END}\nb"
    assert cards.replace_stats(text, "new") == f"a\n{cards.STATS_BEGIN}\n\nnew\n\n{cards.STATS_END}\nb"
    with pytest.raises(DataFileError, match="no statistics block"):
        cards.replace_stats("no markers", "x")


def test_load_model_card_shares_the_parser(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model_card.md").write_text("---\nname: demo\nversion: '1.0'\n---\n# Model card\n\n## Intended use\n\nTriage aid.\n")
    card = cards.load_model_card(bundle)
    assert card.front_matter == {"name": "demo", "version": "1.0"}
    assert card.sections["Intended use"] == "Triage aid."
    with pytest.raises(DataFileError, match="no model card"):
        cards.load_model_card(tmp_path)


def test_load_model_card_reads_generated_model_cards(tmp_path):
    from skintag.model.card import render_model_card

    (tmp_path / "model_card.md").write_text(
        render_model_card({"name": "demo", "version": "1.2", "thresholds": {"moderate": 0.3, "high": 0.6}})
    )
    card = cards.load_model_card(tmp_path)
    assert card.front_matter["name"] == "demo" and card.front_matter["thresholds"] == {"moderate": 0.3, "high": 0.6}
    assert card.title == "Model card: demo 1.2"
    assert "Intended use" in card.sections and "Calibration" in card.sections


# -- render_stats on a hand-made table ------------------------------------------------------------------------------


def _tiny_table() -> tuple[pd.DataFrame, LabelAudit]:
    df = pd.DataFrame(
        {
            "image_path": ["/a.jpg", "", "/c.jpg"],
            "dataset": ["toy"] * 3,
            "domain": ["dermoscopic", "dermoscopic", "clinical"],
            "condition_id": [0, 4, 4],
            "malignant": [1, 0, 0],
            "raw_label": ["mel", "nv", "nevus"],
            "fitzpatrick": pd.array([2, None, 5], dtype="Int64"),
            "fitzpatrick_group": ["I-II", "unknown", "V-VI"],
            "fitzpatrick_source": ["toy:fst", "none", "toy:fst"],
            "patient_id": ["p1", "p1", "p2"],
            "lesion_id": ["l1", "l2", "l3"],
            "age": [35.0, np.nan, 80.0],
            "sex": ["female", np.nan, "male"],
            "site": ["back", np.nan, "Back"],
            "image_id": ["a", "b", "c"],
            "has_image": [True, False, True],
            "official_split": ["train", np.nan, "test"],
            "fitzpatrick_centaur": pd.array([None, None, None], dtype="Int64"),
        }
    )
    audit = LabelAudit()
    audit.add_label("toy", "mel", 0, "exact")
    audit.add_label("toy", "nv", 4, "exact")
    audit.add_label("toy", "nevus", 4, UNMAPPED)
    audit.add_problem(Problem("toy", "meta.csv", 3, "dx", "nevus", "one of mel, nv", UNKNOWN_LABEL))
    audit.add_problem(Problem("toy", "meta.csv", None, "image_id", "1 of 3", "image files under images/", MISSING_IMAGE))
    return df, audit


def test_render_stats_hand_computed():
    stats = cards.render_stats(*_tiny_table())
    for line in [
        "| rows (images) | 3 |",
        "| image files present | 2 |",
        "| patients | 2 |",
        "| lesions | 3 |",
        "| malignant (incl. actinic keratosis) | 1 (33.3 %) |",
        "| train | 1 | 33.3 % |",
        "| none | 1 | 33.3 % |",
        "| 0 | Melanoma | 1 | 33.3 % | 1 |",
        "| 4 | Melanocytic Nevus | 2 | 66.7 % | 0 |",
        "| II | 1 | 33.3 % |",
        "| V | 1 | 33.3 % |",
        "| V-VI | 1 | 33.3 % |",
        "| toy:fst | 2 | 66.7 % |",
        "| 20-39 | 1 | 33.3 % |",
        "| 80+ | 1 | 33.3 % |",
        "| female | 1 | 33.3 % |",
        "| exact | 2 | 2 |",
        f"| {UNMAPPED} | 1 | 1 |",
        "| nevus | 1 |",
        f"| nevus | 4 Melanocytic Nevus | {UNMAPPED} | 1 |",
        "| mel | 0 Melanoma | exact | 1 |",
        "| error | unknown label | meta.csv | dx | 1 |",
        "- toy: missing image file in meta.csv column 'image_id': value '1 of 3'; expected image files under images/",
    ]:
        assert line in stats, line
    # absent categories are not invented; order is fixed (I..VI then unknown)
    assert "| I |" not in stats
    skin = stats.split("Fitzpatrick type (exact):")[1]
    assert skin.index("| II |") < skin.index("| V |") < skin.index("| unknown |")
    assert cards.render_stats(*_tiny_table()) == stats  # deterministic
    no_audit = cards.render_stats(_tiny_table()[0])
    assert "No label audit is attached to this table." in no_audit
    assert "| mel | 0 Melanoma | ? | 1 |" in no_audit  # how a label was mapped is unknown without the audit


def test_age_band_edges():
    bands = cards.age_band(pd.Series([0, 19.9, 20, 59, 60, 79.5, 80, 101, math.nan, -1]))
    assert bands.tolist() == ["0-19", "0-19", "20-39", "40-59", "60-79", "60-79", "80+", "80+", "unknown", "unknown"]


def test_md_table_escapes_pipes():
    assert cards.md_table(["a", "n"], [("x|y", 3)], "lr") == "| a | n |\n| --- | ---: |\n| x\\|y | 3 |"


# -- command line -----------------------------------------------------------------------------------------------------


def test_cli_builds_into_a_copy(tmp_path, shared_data):
    cards_dir = tmp_path / "cards"
    cards_dir.mkdir()
    for name in ("pad_ufes_20", "ddi", "ham10000"):
        shutil.copy(REPO / "data_cards" / f"{name}.md", cards_dir)
    committed_pad = (cards_dir / "pad_ufes_20.md").read_text()
    # blank the PAD statistics; only PAD's folder is in the data root
    blank = cards.replace_stats(committed_pad, "")
    (cards_dir / "pad_ufes_20.md").write_text(blank)
    root = tmp_path / "root"
    root.mkdir()
    (root / "pad_ufes_20").symlink_to(shared_data / "pad_ufes_20")

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "skintag.cards", "build", "--data-root", str(root), "--cards-dir", str(cards_dir)]
        return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=REPO, timeout=120)

    stale = run("--check")
    assert stale.returncode == 1 and "pad_ufes_20.md: stale" in stale.stdout
    assert (cards_dir / "pad_ufes_20.md").read_text() == blank  # --check writes nothing

    built = run()
    assert built.returncode == 0, built.stderr
    lines = dict(line.split(": ", 1) for line in built.stdout.strip().splitlines())
    assert lines["pad_ufes_20.md"] == "updated"
    assert lines["ddi.md"] == "unchanged"  # still "data not available"
    assert lines["ham10000.md"].startswith("skipped (no data")  # a wrong root never erases real statistics
    assert (cards_dir / "pad_ufes_20.md").read_text() == committed_pad
    assert (cards_dir / "ham10000.md").read_text() == (REPO / "data_cards" / "ham10000.md").read_text()


# -- import hygiene ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["skintag.cards", "skintag.plots.explorer", "skintag.data"])
def test_light_modules_do_not_import_torch_or_streamlit(module):
    code = f"import sys, {module}; print('torch' in sys.modules, 'streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["False", "False"]


def test_ddi_card_gets_real_statistics_once_data_is_present(tmp_path):
    """DDI's card says "not available" until DDI files (here the published-format fixture) are under the root."""
    cards_dir = tmp_path / "cards"
    cards_dir.mkdir()
    shutil.copy(REPO / "data_cards" / "ddi.md", cards_dir)
    root = tmp_path / "root"
    shutil.copytree(REPO / "tests" / "data" / "fixtures" / "ddi", root / "ddi")

    assert cards.build_cards(cards_dir, root) == [(cards_dir / "ddi.md", "updated")]
    stats = cards.parse_card(cards_dir / "ddi.md").stats
    assert "Data not available" not in stats
    for line in [
        "| rows (images) | 21 |",
        "| image files present | 0 |",
        "| I-II | 7 | 33.3 % |",
        "| V-VI | 7 | 33.3 % |",
        "| unknown | 21 | 100.0 % |",  # DDI gives groups only, never an exact type
        "| ddi:skin_tone | 21 | 100.0 % |",
        "| clinical | 21 | 100.0 % |",
        "| melanoma-in-situ | 0 Melanoma | keyword | 1 |",
    ]:
        assert line in stats, line
    # with the data gone again, the real statistics are kept rather than replaced by "not available"
    shutil.rmtree(root / "ddi")
    status = dict(cards.build_cards(cards_dir, root))[cards_dir / "ddi.md"]
    assert status.startswith("skipped (no data")
    assert cards.parse_card(cards_dir / "ddi.md").stats == stats
