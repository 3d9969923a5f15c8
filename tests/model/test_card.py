"""Model card: every number comes from the inputs; front matter parses; limits are derived from the data; the results
by skin type are the fairness engine's (the Fairness Audit page's) numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from skintag import taxonomy
from skintag.model.card import read_eval_predictions, render_model_card

DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"

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
    "operating_points": {"sens95": 0.1234, "half": 0.5},
    "default_operating_point": "half",
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


def _predictions(sizes: dict[object, tuple[int, int]]) -> pd.DataFrame:
    """A predictions table with ``(malignant, benign)`` rows per Fitzpatrick value; malignant rows score 0.9 and
    benign rows alternate 0.05 / 0.6, so the rates at 0.5 are known by hand."""
    rows = []
    for fst, (pos, neg) in sizes.items():
        rows += [{"y_true": 1, "y_score": 0.9, "fitzpatrick": fst}] * pos
        rows += [{"y_true": 0, "y_score": 0.05 if i % 2 == 0 else 0.6, "fitzpatrick": fst} for i in range(neg)]
    return pd.DataFrame(rows)


PREDICTIONS = {"pad_ufes_20": _predictions({1: (20, 40), 2: (30, 10), 5: (3, 2), 6: (1, 0), None: (5, 5)})}


def _split(card: str) -> tuple[dict, str]:
    assert card.startswith("---\n")
    _, front, body = card.split("---\n", 2)
    return yaml.safe_load(front), body


def test_card_front_matter_and_sections():
    card = render_model_card(MANIFEST, METRICS, predictions=PREDICTIONS)
    front, body = _split(card)
    assert front["name"] == "demo" and front["version"] == "1.2.3"
    assert front["training_datasets"] == ["dermamnist"] and front["split_file_sha256"] == "ab" * 32
    assert front["intended_use"] == "screening aid; not for diagnosis"
    assert front["operating_points"] == {"sens95": 0.1234, "half": 0.5}
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
    body = _split(render_model_card(MANIFEST, METRICS, predictions=PREDICTIONS))[1]
    assert "| accuracy | 0.771 (0.751–0.790) |" in body
    assert "| macro AUC (one-vs-rest) | 0.935 (0.920–0.946) |" in body
    assert "- ECE before calibration (dermamnist test): 0.081" in body
    assert "- ECE after calibration (dermamnist test): 0.023" in body
    assert "fitted on 1,003 validation images" in body
    assert "3,141,592 parameters" in body and "split file sha256: " + "ab" * 32 in body
    # change an input, the card changes with it
    other = {
        "dermamnist_test": {**METRICS["dermamnist_test"], "accuracy": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}}
    }
    assert "| accuracy | 0.500 (0.400–0.600) |" in render_model_card(MANIFEST, other, predictions=PREDICTIONS)


def test_card_limits_and_categories_are_derived():
    body = _split(render_model_card(MANIFEST, METRICS, predictions=PREDICTIONS))[1]
    assert "Input resolution is 28×28 px" in body
    assert (
        "never predicts 3 of 10 conditions absent from its training data: Squamous Cell Carcinoma, "
        "Non-Neoplastic, Other/Unknown" in body
    )
    assert "Only 6 images of Fitzpatrick V-VI skin in pad ufes 20 (< 30)" in body  # types V (5) + VI (1)
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
    no_dark = {"pad": _predictions({1: (20, 20), 4: (20, 20)})}
    assert "No images of Fitzpatrick V-VI skin in pad:" in render_model_card(MANIFEST, METRICS, predictions=no_dark)


def test_card_from_manifest_defaults():
    card = render_model_card({**MANIFEST, "metrics": METRICS}, predictions=PREDICTIONS)
    assert card == render_model_card(MANIFEST, METRICS, predictions=PREDICTIONS)


def test_card_skin_type_tables_by_hand():
    body = _split(render_model_card(MANIFEST, METRICS, predictions=PREDICTIONS))[1]
    assert ("At the rule triage applies in demo 1.2.3: refer (tier MODERATE or above) when calibrated P(malignant) ≥ "
            "0.3000, one threshold for every photo" in body)
    assert "### pad ufes 20 (by type)" in body and "### pad ufes 20 (by group)" in body
    header = "| Fitzpatrick type | n | malignant | benign | Sensitivity (TPR) | Specificity (TNR) | AUROC | ECE | flags |"
    assert header in body
    # type I: 20 malignant all flagged (TPR 1, Wilson 0.839–1), 40 benign, half of them above 0.5 (TNR 0.5)
    row_i = next(line for line in body.splitlines() if line.startswith("| I | 60 |"))
    assert "| 1.000 (0.839–1.000) | 0.500 (0.352–0.648) | 1.000 (1.000–1.000) |" in row_i
    assert row_i.endswith("|  |")  # no flag
    # one malignant image: sensitivity flagged ⚠, AUROC undefined (one class), never a zero-width interval
    assert "| VI | 1 | 1 | 0 | 1.000 (0.207–1.000) ⚠ | undefined | undefined |" in body
    # 3 malignant / 2 benign: AUROC 1.000 flagged and without an interval (not "1.000 (1.000–1.000)")
    row_v = next(line for line in body.splitlines() if line.startswith("| V | 5 | 3 | 2 |"))
    assert "| 1.000 ⚠ |" in row_v and "insufficient evidence: TPR, FPR, PPV, NPV, AUROC, ECE |" in row_v
    assert "| unknown | 10 | 5 | 5 |" in body
    # types I and II together are the group I-II
    assert "| I-II | 100 | 50 | 50 | 1.000 (0.929–1.000) | 0.500 (0.366–0.634) |" in body
    # a predictions table without any known skin type gives no table
    blank = {"derm": _predictions({None: (5, 5)})}
    assert "No per-Fitzpatrick evaluation recorded." in render_model_card(MANIFEST, METRICS, predictions=blank)



def test_card_training_procedure_and_default_operating_point():
    manifest = {
        **MANIFEST,
        "description": "A small model.",
        "default_operating_point": "sens95",
        "training": {"best_epoch": 17, "finetune": {"epochs": 30, "lr_backbone": 0.001}},
    }
    body = _split(render_model_card(manifest, METRICS, predictions=PREDICTIONS))[1]
    assert "\nA small model.\n" in body
    assert "## Training procedure" in body and "- best epoch: 17" in body
    assert "- finetune: epochs: 30, lr backbone: 0.001" in body
    assert (
        "Operating point `sens95`: threshold 0.123 on calibrated P(malignant), chosen on validation — the default."
        in body
    )


def test_card_lists_the_runs_compared_on_validation():
    runs = [{"run": "this bundle", "epochs": 57, "epochs_planned": 80, "best_epoch": 41, "heads": "logistic + dihedral8",
             "backbone": {"num_hidden_layers": 12, "hidden_size": 128, "parameters": 2_593_280},
             "detector_recognised": {"dermoscopic": 0.9392, "clinical": 0.9036}, "test": None, "eligible": True,
             "val_accuracy": 0.79123, "val_macro_auc": 0.93, "chosen": True},
            {"run": "demo_w192", "epochs": 40, "best_epoch": 39, "heads": "xgboost + single", "eligible": False,
             "backbone": {"num_hidden_layers": 6, "hidden_size": 192, "parameters": 3_133_056},
             "detector_recognised": {"dermoscopic": 0.6361, "clinical": 0.9679},
             "test": {"accuracy": 0.75810, "macro_auc": 0.91960}, "val_accuracy": 0.7836, "val_macro_auc": 0.9246,
             "chosen": False},
            {"run": "demo_e40", "epochs": 40, "best_epoch": 40, "heads": "logistic + dihedral8",
             "val_accuracy": 0.78266, "val_macro_auc": 0.9363, "chosen": False}]
    manifest = {**MANIFEST, "choices": {"head_family": "logistic", "test_time_augmentation": "dihedral8", "rule": "r",
                                        "validation": {"val_accuracy": 0.79123},
                                        "training_length": {"best_epoch": 77, "epochs_run": 80,
                                                            "early_stopping_metric": "macro_auc",
                                                            "min_detector_recognition": 0.9,
                                                            "compared_runs": runs}}}
    body = _split(render_model_card(manifest, METRICS, predictions=PREDICTIONS))[1]
    assert ("| this bundle | 12 × 128, 2.59 M | 57 of 80 | 41 | logistic + dihedral8 | 0.7912 | 0.9300 | "
            "dermoscopic 0.939, clinical 0.904 | read: the metrics below | yes |") in body
    assert ("| demo_w192 | 6 × 192, 3.13 M | 40 | 39 | xgboost + single | 0.7836 | 0.9246 | dermoscopic 0.636, "
            "clinical 0.968 | read: ACC 0.7581, macro AUC 0.9196 | not eligible |") in body
    # a run recorded before sizes, detector and test reads were: dashes
    assert "| demo_e40 | — | 40 | 40 | logistic + dihedral8 | 0.7827 | 0.9363 | — | — |  |" in body
    assert "eligible: the domain detector recognises at least 0.90 of every domain's validation images" in body


def test_card_singular_group_size():
    one = {"pad": _predictions({6: (0, 1), 2: (40, 40)})}
    body = _split(render_model_card(MANIFEST, METRICS, predictions=one))[1]
    assert "Only 1 image of Fitzpatrick V-VI skin in pad (< 30)" in body


def _card_table(card: str, heading: str) -> pd.DataFrame:
    """The Markdown table under ``### heading`` of a card, as strings."""
    section = card.split(f"### {heading}\n\n", 1)[1].split("\n### ", 1)[0]
    block = next(b for b in section.split("\n\n") if b.startswith("|"))  # after a line naming the set's own rule
    rows = [[c.strip() for c in line[1:-1].split("|")] for line in block.splitlines()]
    return pd.DataFrame(rows[2:], columns=rows[0]).set_index(rows[0][0])


@pytest.mark.parametrize(("heading", "grouping"), [("pad ufes 20 (by type)", "six"), ("pad ufes 20 (by group)", "three")])
def test_demo_card_shows_the_engines_numbers(heading, grouping):
    """The card rendered from the shipped bundle has, per skin type, exactly the engine's cells: fairness_report on the
    shipped predictions at the rule triage applies (refer = MODERATE or above) with the page's settings — same values,
    intervals, ⚠ flags and verdicts."""
    from skintag.fairness.export import flags_text, interval_cell
    from skintag.fairness.rules import audit_table

    manifest = json.loads((DEMO / "manifest.json").read_text())
    card = render_model_card(manifest, manifest.get("metrics") or None, predictions=read_eval_predictions(DEMO))
    pred = pd.read_csv(DEMO / "eval" / "predictions_pad_ufes_20.csv")
    rep = audit_table(pred, manifest, grouping=grouping, random_state=0)  # the rule per domain, patients resampled
    # the cross-fitted photos: each at the threshold fitted without its patient (the shipped one was chosen on them)
    assert "MODERATE or above" in rep.rule and "recorded beside each photo" in rep.rule
    assert pred["threshold_moderate"].nunique() == 5 and f"At {rep.rule}." in card
    table = _card_table(card, heading)
    bg = rep.by_group
    assert list(table.index) == list(bg.index)
    for g, row in bg.iterrows():
        assert table.at[g, "n"] == str(int(row["n"])) and table.at[g, "malignant"] == str(int(row["positives"]))
        for col, m, flag in (("Sensitivity (TPR)", "tpr", "tpr_insufficient"), ("Specificity (TNR)", "tnr",
                             "fpr_insufficient"), ("AUROC", "auroc", "auroc_insufficient")):
            assert table.at[g, col] == interval_cell(row[m], row[f"{m}_lo"], row[f"{m}_hi"], row[flag]), (g, m)
        assert table.at[g, "flags"] == flags_text(row)
    if grouping == "six":  # the examples (3 benign type I, one type VI image): flagged, never certainty
        for g in ("I", "VI"):
            cell = table.at[g, "Specificity (TNR)"]
            lo, hi = (float(x) for x in cell.split("(")[1].split(")")[0].split("–"))
            assert cell.endswith("⚠") and hi - lo > 0.3, (g, cell)
        assert table.at["VI", "ECE"].endswith("⚠")
    assert f"| TPR | {rep.gaps.at['tpr', 'difference']:.3f} " in card and rep.verdicts["tpr"] in card


def test_card_cli_and_page_show_the_same_numbers(tmp_path, monkeypatch, capsys):
    """One engine: for the same predictions and bundle, the model card, ``python -m skintag.fairness`` and the Fairness
    Audit page show the same cells (value, interval, ⚠) per skin type — with patients resampled in all three."""
    from streamlit.testing.v1 import AppTest

    from skintag.fairness.__main__ import main as cli
    from skintag.fairness.simulate import simulate_predictions

    bundle = tmp_path / "bundle"
    (bundle / "eval").mkdir(parents=True)
    manifest = {**MANIFEST, "files": {"x": "00" * 32}}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    pred = simulate_predictions(600, random_state=11)
    pred["patient_id"] = [f"P{i // 2}" for i in range(len(pred))]
    path = bundle / "eval" / "predictions_sim.csv"
    pred.to_csv(path, index=False)
    card = _card_table(render_model_card(manifest, METRICS, predictions=read_eval_predictions(bundle)), "sim (by type)")
    cli([str(path)])
    md = capsys.readouterr().out
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(bundle))
    monkeypatch.setenv("SKINTAG_PREDICTIONS", str(path))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app_pages" / "fairness_audit.py"),
                           default_timeout=120).run()
    assert not at.exception, at.exception
    page = next(d.value for d in at.dataframe if "TPR" in d.value.columns and "TP" in d.value.columns)
    assert "patients" in page.columns and "patients resampled within groups (300 patients" in md
    for g in card.index:
        for col, page_col in (("Sensitivity (TPR)", "TPR"), ("Specificity (TNR)", "TNR"), ("AUROC", "AUROC")):
            assert card.at[g, col] == page.at[g, page_col], (g, col)
            assert f"| {g} |" in md and card.at[g, col] in md
        assert card.at[g, "flags"] == page.at[g, "flags"]


def test_shipped_demo_card_is_the_rendered_card():
    manifest = json.loads((DEMO / "manifest.json").read_text())
    rendered = render_model_card(manifest, manifest.get("metrics") or None, predictions=read_eval_predictions(DEMO))
    assert (DEMO / "model_card.md").read_text(encoding="utf-8") == rendered


@pytest.mark.parametrize("set_name", ["pad_ufes_20", "lodo_clinical"])
def test_demo_card_sensitivity_by_type_adds_up_to_the_sets_own_evaluation(set_name):
    """Checked against evaluate's metrics.json, not against the engine the card calls: the card's true positives per
    skin type add up to the set's sensitivity at its own threshold. A leave-one-domain-out set is scored by the other
    domain's calibrator, so its threshold is that domain's (the card once applied the photos' own domain's, and showed
    sensitivities of 0.14-0.27 for an overall 0.745)."""
    manifest = json.loads((DEMO / "manifest.json").read_text())
    metrics = json.loads((DEMO / "eval" / "metrics.json").read_text())
    card = render_model_card(manifest, manifest.get("metrics") or None, predictions=read_eval_predictions(DEMO))
    table = _card_table(card, f"{set_name.replace('_', ' ')} (by type)")
    positives = table["malignant"].astype(int)
    assert positives.sum() == metrics["sets"][set_name]["overall"]["n_malignant"]  # every malignant row has a type
    tpr = table["Sensitivity (TPR)"].str.split(" ").str[0]
    counted = positives > 0
    true_pos = (tpr[counted].astype(float) * positives[counted]).round().astype(int)
    expected = metrics["sets"][set_name]["overall"]["sensitivity@screening"]["value"]
    assert true_pos.sum() / positives.sum() == pytest.approx(expected, abs=1e-12)
