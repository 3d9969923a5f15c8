"""skintag.taxonomy: conditions, category maps (code default and YAML config), native-label maps, keyword rules."""

from __future__ import annotations

import pytest

from skintag import taxonomy as tx
from skintag.errors import ConfigError


def test_conditions_exactly_as_spec():
    assert tx.CONDITIONS == (
        "Melanoma",
        "Basal Cell Carcinoma",
        "Squamous Cell Carcinoma",
        "Actinic Keratosis",
        "Melanocytic Nevus",
        "Seborrheic Keratosis",
        "Dermatofibroma",
        "Vascular Lesion",
        "Non-Neoplastic",
        "Other/Unknown",
    )
    assert tx.CONDITION_IDS["Vascular Lesion"] == 7
    assert tx.MALIGNANT_IDS == {0, 1, 2, 3}
    assert [tx.is_malignant(i) for i in range(10)] == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert tx.condition_name(9) == "Other/Unknown"
    with pytest.raises(ConfigError, match="Unknown condition id 10; expected an integer 0-9"):
        tx.condition_name(10)


def test_category_map_default_and_names():
    expected = {
        0: "malignant",
        1: "malignant",
        2: "malignant",
        3: "malignant",
        4: "benign",
        5: "benign",
        6: "inflammatory",
        7: "inflammatory",
        8: "inflammatory",
        9: "benign",
    }
    assert tx.condition_category_map() == expected
    assert tx.CATEGORY_NAMES == {
        "malignant": "Malignant / Pre-cancerous",
        "inflammatory": "Inflammatory / Reactive",
        "benign": "Benign",
    }
    # the shipped YAML config holds the same default as data
    assert tx.condition_category_map(tx.DEFAULT_CONFIG_PATH) == expected


def test_category_map_from_config_dict_and_file(tmp_path):
    custom = {**{i: c for i, c in tx.DEFAULT_CATEGORY_MAP.items()}, 6: "benign", "Vascular Lesion": "benign"}
    del custom[7]
    result = tx.condition_category_map({"categories": custom})
    assert result[6] == "benign" and result[7] == "benign" and result[8] == "inflammatory"
    path = tmp_path / "cats.yaml"
    path.write_text("\n".join(f"{i}: {c}" for i, c in result.items()), encoding="utf-8")
    assert tx.condition_category_map(path) == result


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {i: "benign" for i in range(10)},
            r"malignant conditions \[0, 1, 2, 3\] must stay in the 'malignant' category",
        ),
        ({**tx.DEFAULT_CATEGORY_MAP, 4: "harmless"}, r"category 'harmless' for condition 4 is not one of"),
        ({i: tx.DEFAULT_CATEGORY_MAP[i] for i in range(9)}, r"conditions \[9\] have no category"),
        ({**tx.DEFAULT_CATEGORY_MAP, "Wart": "benign"}, r"condition key 'Wart' is not a condition id 0-9"),
        ({**tx.DEFAULT_CATEGORY_MAP, 12: "benign"}, r"condition id 12 is outside 0-9"),
        (["malignant"], r"expected a mapping of condition → category, got list"),
    ],
)
def test_category_map_rejects_bad_config(config, message):
    with pytest.raises(ConfigError, match=message):
        tx.condition_category_map(config)


def test_category_map_missing_or_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"Category config .*nope.yaml not found"):
        tx.condition_category_map(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        tx.condition_category_map(bad)


def test_native_exact_maps():
    assert {k: tx.map_ham_dx(k).condition_id for k in tx.HAM_DX} == {
        "mel": 0, "bcc": 1, "akiec": 3, "nv": 4, "bkl": 5, "df": 6, "vasc": 7,
    }  # fmt: skip
    assert {k: tx.map_pad_diagnostic(k).condition_id for k in tx.PAD_DIAGNOSTIC} == {
        "MEL": 0, "BCC": 1, "SCC": 2, "ACK": 3, "NEV": 4, "SEK": 5,
    }  # fmt: skip
    assert {k: tx.map_isic2019_column(k).condition_id for k in ("MEL", "BCC", "SCC", "AK", "NV", "BKL", "DF", "VASC")} == {
        "MEL": 0, "BCC": 1, "SCC": 2, "AK": 3, "NV": 4, "BKL": 5, "DF": 6, "VASC": 7,
    }  # fmt: skip
    assert tx.DERMAMNIST_CLASSES == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    assert tx.map_ham_dx("mel").mapped_by == "exact"
    unknown = tx.map_ham_dx("melanoma")
    assert (unknown.condition_id, unknown.mapped_by, unknown.mapped) == (9, "unmapped→Other", False)
    assert not tx.map_pad_diagnostic("mel").mapped  # PAD codes are upper case as published


@pytest.mark.parametrize(
    ("raw", "cid", "how"),
    [
        ("Melanoma, NOS", 0, "exact"),
        ("MELANOMA, nos", 0, "exact"),
        ("Melanoma in situ", 0, "exact"),
        ("Melanoma Invasive, Superficial spreading melanoma", 0, "exact"),
        ("Basal cell carcinoma", 1, "exact"),
        ("Squamous cell carcinoma, NOS", 2, "exact"),
        ("Solar or actinic keratosis", 3, "exact"),
        ("Nevus", 4, "exact"),
        ("Nevus, Spitz", 4, "exact"),
        ("Seborrheic keratosis", 5, "exact"),
        ("Pigmented benign keratosis", 5, "exact"),
        ("Solar lentigo", 5, "exact"),
        ("Dermatofibroma", 6, "exact"),
        ("Hemangioma", 7, "exact"),
        ("Malignant melanocytic proliferations (Melanoma)", 0, "keyword"),
        ("Trichoblastic carcinoma", 9, "unmapped→Other"),
    ],
)
def test_isic_archive_leading_term(raw, cid, how):
    match = tx.map_isic_archive(raw)
    assert (match.condition_id, match.mapped_by) == (cid, how)


@pytest.mark.parametrize(
    ("disease", "cid"),
    [
        ("melanoma-in-situ", 0),
        ("melanoma-acral-lentiginous", 0),
        ("basal-cell-carcinoma-superficial", 1),
        ("squamous-cell-carcinoma-keratoacanthoma", 2),
        ("actinic-keratosis", 3),
        ("melanocytic-nevi", 4),
        ("dysplastic-nevus", 4),
        ("blue-nevus", 4),
        ("seborrheic-keratosis-irritated", 5),
        ("lichenoid-keratosis", 5),
        ("dermatofibroma", 6),
        ("pyogenic-granuloma", 7),
        ("arteriovenous-hemangioma", 7),
        ("verruca-vulgaris", 8),
        ("eczema-spongiotic-dermatitis", 8),
        ("onychomycosis", 8),
        ("condyloma-accuminatum", 8),
        ("abrasions-ulcerations-and-physical-injuries", 8),
        ("scar", 8),
        ("hematoma", 8),
        ("atypical-spindle-cell-nevus-of-reed", 4),
        ("solar-lentigo", 5),
        ("nevus-lipomatosus-superficialis", 9),
    ],
)
def test_ddi_hyphenated_keywords(disease, cid):
    match = tx.map_ddi_disease(disease)
    assert (match.condition_id, match.mapped_by) == (cid, "keyword")


def test_keyword_unmapped_is_visible():
    match = tx.map_ddi_disease("epidermal-cyst")
    assert (match.condition_id, match.mapped_by) == (9, "unmapped→Other")


@pytest.mark.parametrize(
    ("label", "partition", "cid", "how"),
    [
        ("lentigo maligna", "malignant", 0, "keyword"),  # before any "lentigo" rule
        ("superficial spreading melanoma ssm", "malignant", 0, "keyword"),
        ("solid cystic basal cell carcinoma", "malignant", 1, "keyword"),
        ("seborrheic keratosis", "benign", 5, "keyword"),
        ("seborrheic dermatitis", "non-neoplastic", 8, "keyword"),  # not a keratosis
        ("congenital nevus", "benign", 4, "keyword"),
        ("epidermal nevus", "benign", 9, "keyword"),  # not melanocytic
        ("granuloma pyogenic", "benign", 7, "keyword"),
        ("granuloma annulare", "non-neoplastic", 8, "keyword"),
        ("porokeratosis actinic", "benign", 9, "unmapped→Other"),  # not "actinic keratosis"
        ("behcets disease", "non-neoplastic", 8, "partition"),
        ("kaposi sarcoma", "malignant", 9, "unmapped→Other"),
        ("acquired autoimmune bullous diseaseherpes gestationis", "non-neoplastic", 8, "keyword"),
    ],
)
def test_fitzpatrick17k_labels(label, partition, cid, how):
    match = tx.map_fitzpatrick17k(label, partition)
    assert (match.condition_id, match.mapped_by) == (cid, how)


def test_normalise_text():
    assert tx.normalise_text("  Basal-Cell__Carcinoma  nodular ") == "basal cell carcinoma nodular"
    assert tx.archive_leading_term("Squamous cell carcinoma,  NOS") == "squamous cell carcinoma"


def test_label_categories_never_call_an_unmapped_label_benign():
    # Melanoma; nevus; dermatofibroma; Other flagged malignant by its dataset (Kaposi sarcoma); Other not malignant;
    # a nevus a dataset calls malignant (the dataset's flag wins)
    cids, flags = [0, 4, 6, 9, 9, 4], [1, 0, 0, 1, 0, 1]
    assert tx.label_categories(cids, flags) == [
        "malignant", "benign", "inflammatory", "malignant", tx.OTHER_CATEGORY, "malignant",
    ]  # fmt: skip
    # a custom map moves mapped conditions, never an unmapped one into "benign"
    custom = {**tx.DEFAULT_CATEGORY_MAP, 6: "benign"}
    assert tx.label_categories(cids, flags, custom)[2:5] == ["benign", "malignant", tx.OTHER_CATEGORY]
    assert tx.LABEL_CATEGORIES == ("malignant", "inflammatory", "benign", "other")
    assert tx.LABEL_CATEGORY_NAMES["other"] == "Other / Unknown (not assessed)"
    assert "benign" not in tx.label_categories([9] * 3, [0, 1, 0])
    with pytest.raises(ValueError):
        tx.label_categories([0, 1], [1])
