"""Model card: every number comes from the inputs; front matter parses; limits are derived from the data."""

from __future__ import annotations

import yaml

from skintag import taxonomy
from skintag.model.card import render_model_card

MANIFEST = {
    "name": "demo",
    "version": "1.2.3",
    "created": "2026-01-02T03:04:05Z",
    "backbone": {
        "source": "local",
        "path": "backbone/",
        "n_parameters": 3141592,
        "config": {"num_hidden_layers": 6, "hidden_size": 192, "patch_size": 4},
    },
    "preprocessing": {"image_size": 28, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "resample": "bicubic"},
    "image_size": 28,
    "embedding_size": 192,
    "class_names": list(taxonomy.CONDITIONS),
    "category_map": {str(k): v for k, v in taxonomy.condition_category_map().items()},
    "thresholds": {"moderate": 0.3, "high": 0.6},
    "operating_points": {"sens95": 0.1234},
    "heads": {
        "binary": {"type": "xgboost", "file": "heads/binary.ubj", "classes": [0, 1]},
        "condition": {"type": "xgboost", "file": "heads/condition.ubj", "classes": [0, 1, 3, 4, 5, 6, 7]},
    },
    "calibration": {"file": "calibration.json", "method": "isotonic", "n_fit": 1003},
    "training_data": {
        "datasets": ["dermamnist"],
        "split_file_sha256": "ab" * 32,
        "n_train": 7007,
        "fitzpatrick_labelled": False,
    },
    "licence": "CC BY-NC 4.0",
}
METRICS = {
    "dermamnist_test": {
        "accuracy": {"value": 0.77123, "ci_low": 0.75111, "ci_high": 0.78999, "n_boot_valid": 1000},
        "macro_auc": {"value": 0.93456, "ci_low": 0.92001, "ci_high": 0.94555},
        "ece_raw": 0.0812,
        "ece_calibrated": 0.0234,
        "n": 2005,
    },
}
PER_GROUP = {
    "pad_ufes_20_external": [
        {
            "fitzpatrick_group": "I-II",
            "n": 1029,
            "n_pos": 700,
            "auc": {"value": 0.6611, "ci_low": 0.62, "ci_high": 0.70},
        },
        {"fitzpatrick_group": "III-IV", "n": 454, "n_pos": 300, "auc": 0.6422},
        {"fitzpatrick_group": "V-VI", "n": 11, "n_pos": 5, "auc": None},
    ]
}


def _split(card: str) -> tuple[dict, str]:
    assert card.startswith("---\n")
    _, front, body = card.split("---\n", 2)
    return yaml.safe_load(front), body


def test_card_front_matter_and_sections():
    card = render_model_card(MANIFEST, METRICS, PER_GROUP)
    front, body = _split(card)
    assert front["name"] == "demo" and front["version"] == "1.2.3"
    assert front["training_datasets"] == ["dermamnist"] and front["split_file_sha256"] == "ab" * 32
    assert front["intended_use"] == "screening aid; not for diagnosis"
    assert front["operating_points"] == {"sens95": 0.1234}
    for heading in (
        "## Intended use",
        "## Training data",
        "## Metrics",
        "## Results by Fitzpatrick skin type",
        "## Calibration",
        "## Condition categories",
        "## Known limits",
    ):
        assert heading in body
    assert "**not a diagnostic device**" in body


def test_card_numbers_come_from_inputs():
    body = _split(render_model_card(MANIFEST, METRICS, PER_GROUP))[1]
    assert "| accuracy | 0.771 (0.751–0.790) |" in body
    assert "| macro AUC (one-vs-rest) | 0.935 (0.920–0.946) |" in body
    assert "| I-II | 1,029 | 700 | 0.661 (0.620–0.700) |" in body
    assert "| V-VI | 11 | 5 | n/a |" in body
    assert "- ECE before calibration (dermamnist test): 0.081" in body
    assert "- ECE after calibration (dermamnist test): 0.023" in body
    assert "fitted on 1,003 validation images" in body
    assert "3,141,592 parameters" in body and "split file sha256: " + "ab" * 32 in body
    # change an input, the card changes with it
    other = {
        "dermamnist_test": {**METRICS["dermamnist_test"], "accuracy": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}}
    }
    assert "| accuracy | 0.500 (0.400–0.600) |" in render_model_card(MANIFEST, other, PER_GROUP)


def test_card_limits_and_categories_are_derived():
    body = _split(render_model_card(MANIFEST, METRICS, PER_GROUP))[1]
    assert "Input resolution is 28×28 px" in body
    assert (
        "never predicts 3 of 10 conditions absent from its training data: Squamous Cell Carcinoma, "
        "Non-Neoplastic, Other/Unknown" in body
    )
    assert "Only 11 images of Fitzpatrick V-VI skin in pad ufes 20 external" in body
    assert "carry no Fitzpatrick skin-type labels" in body
    assert "| 6 | Dermatofibroma | inflammatory |" in body and "| 7 | Vascular Lesion | inflammatory |" in body
    assert (
        "inflammatory / reactive group (configurable in `configs/categories.yaml`): Dermatofibroma, Vascular Lesion"
        in body
    )
    # a category map that puts dermatofibroma with benign is reported as such
    manifest = {**MANIFEST, "category_map": {**MANIFEST["category_map"], "6": "benign"}}
    assert "| 6 | Dermatofibroma | benign |" in render_model_card(manifest)
    # no per-group evaluation at all is itself a stated limit; a group without dark skin says so
    assert "performance by skin type is unknown" in render_model_card(MANIFEST, METRICS)
    no_dark = [{"fitzpatrick_group": "I-II", "n": 40}]
    assert "No images of Fitzpatrick V-VI skin" in render_model_card(MANIFEST, METRICS, no_dark)


def test_card_from_manifest_defaults():
    card = render_model_card({**MANIFEST, "metrics": METRICS, "per_group": PER_GROUP})
    assert card == render_model_card(MANIFEST, METRICS, PER_GROUP)


def test_card_per_type_rows_as_written_by_evaluate():
    by_type = [
        {"fitzpatrick": "1", "n": 120, "n_pos": 80, "malignant_auc": {"value": 0.7, "ci_low": 0.6, "ci_high": 0.8}},
        {"fitzpatrick": "5", "n": 9, "n_pos": 4, "malignant_auc": None},
        {"fitzpatrick": "6", "n": 1, "n_pos": 1, "malignant_auc": None},
        {"fitzpatrick": "unknown", "n": 800, "n_pos": 500, "malignant_auc": 0.66},
    ]
    body = _split(render_model_card(MANIFEST, METRICS, {"pad (by type)": by_type}))[1]
    assert "| Fitzpatrick type | n | n malignant | malignant AUC |" in body
    assert "| 5 | 9 | 4 | n/a |" in body
    assert "Only 10 images of Fitzpatrick V-VI skin in pad (by type)" in body  # types 5 + 6 = 9 + 1
    # with per-group rows for the same evaluation, the limits come from those (stated once)
    both = {"pad (by type)": by_type, "pad (by group)": [{"fitzpatrick_group": "V-VI", "n": 10}]}
    body = _split(render_model_card(MANIFEST, METRICS, both))[1]
    assert body.count("Only 10 images of Fitzpatrick V-VI") == 1


def test_card_training_procedure_and_default_operating_point():
    manifest = {
        **MANIFEST,
        "description": "A small model.",
        "default_operating_point": "sens95",
        "training": {"best_epoch": 17, "finetune": {"epochs": 30, "lr_backbone": 0.001}},
    }
    body = _split(render_model_card(manifest, METRICS, PER_GROUP))[1]
    assert "\nA small model.\n" in body
    assert "## Training procedure" in body and "- best epoch: 17" in body
    assert "- finetune: epochs: 30, lr backbone: 0.001" in body
    assert (
        "Operating point `sens95`: threshold 0.123 on calibrated P(malignant), chosen on validation — the default."
        in body
    )


def test_card_singular_group_size():
    body = _split(render_model_card(MANIFEST, METRICS, [{"fitzpatrick_group": "V-VI", "n": 1}]))[1]
    assert "Only 1 image of Fitzpatrick V-VI skin (< 30)" in body
