"""End to end: every stage of ``python -m training`` on a small slice of real DermaMNIST and PAD-UFES-20 images with a
tiny SigLIP, then the guarantees of the pipeline (grouped splits, test rows read only by ``evaluate``, the embedding
cache, resumable stages, a bundle that loads and reproduces its own predictions)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from skintag.errors import ConfigError, DataFileError, ModelBundleError
from training.config import STAGES, config_from_dict, load_config
from training.rundir import MissingStageOutputError, RunDir, TestSplitAccessError

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny_test.yaml"


def tiny_config(tmp: Path, shared_data: Path, **overrides: object) -> dict:
    raw = yaml.safe_load(TINY.read_text())
    raw["run_dir"] = str(tmp / "run")
    raw["data"]["root"] = str(shared_data)
    raw["export"]["out_dir"] = str(tmp / "bundle")
    raw.update(overrides)
    return config_from_dict(raw)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, dermamnist_dir: Path, pad_dir: Path) -> dict:
    import torch

    from training.__main__ import run_stages

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("pipeline")
    cfg = tiny_config(tmp, shared_data)
    results = run_stages(cfg, list(STAGES))
    return {"cfg": cfg, "run": RunDir(cfg["run_dir"]), "bundle_dir": Path(cfg["export"]["out_dir"]), "results": results}


def test_every_stage_ran_and_the_bundle_round_trips(pipeline: dict) -> None:
    from skintag.embeddings import load_image
    from skintag.model import load_bundle

    run: RunDir = pipeline["run"]
    assert all(run.is_done(stage) for stage in STAGES)
    bundle = load_bundle(pipeline["bundle_dir"])
    assert bundle.name == "tiny-test" and bundle.image_size == 28
    files = set(bundle.manifest["files"])
    assert {"eval/metrics.json", "eval/predictions_dermamnist_test.csv", "eval/predictions_pad_ufes_20.csv",
            "eval/splits.csv", "model_card.md"} <= files
    pred = pd.read_csv(pipeline["bundle_dir"] / "eval" / "predictions_dermamnist_test.csv")
    test_rows = run.rows("test", stage="evaluate")
    assert pred["image_id"].tolist() == test_rows["image_id"].tolist() and len(pred) == 40
    again = bundle.predict([load_image(p) for p in test_rows["image_path"]])
    np.testing.assert_allclose(again.p_malignant, pred["y_score"], atol=1e-6)
    np.testing.assert_allclose(again.p_malignant_raw, pred["y_score_raw"], atol=1e-6)
    np.testing.assert_allclose(again.condition_probs, pred[[f"cond_prob_{i}" for i in range(10)]], atol=1e-6)
    # the operating point in the manifest is the one chosen on validation
    ops = json.loads((run.root / "calibrate" / "operating_points.json").read_text())
    assert bundle.operating_points["sensitivity_95"] == pytest.approx(ops["sensitivity_95"]["threshold"])


def test_tampered_bundle_is_refused(pipeline: dict, tmp_path: Path) -> None:
    from skintag.model import load_bundle

    copy = tmp_path / "bundle"
    shutil.copytree(pipeline["bundle_dir"], copy)
    path = copy / "eval" / "predictions_pad_ufes_20.csv"
    path.write_text(path.read_text().replace("pad_ufes_20", "pad_ufes_2O", 1))
    with pytest.raises(ModelBundleError, match="predictions_pad_ufes_20"):
        load_bundle(copy)


def test_predictions_table_follows_the_contract(pipeline: dict) -> None:
    pad = pd.read_csv(pipeline["bundle_dir"] / "eval" / "predictions_pad_ufes_20.csv")
    expected = (["image_id", "dataset", "domain", "y_true", "y_score", "condition_true"]
                + [f"cond_prob_{i}" for i in range(10)]
                + ["fitzpatrick", "fitzpatrick_group", "sex", "age", "site", "split"])
    assert list(pad.columns[: len(expected)]) == expected
    assert len(pad) == 12 and set(pad["split"]) == {"external"} and set(pad["domain"]) == {"smartphone"}
    assert pad["fitzpatrick"].between(1, 6).all()  # every shared PAD image has a skin type
    np.testing.assert_allclose(pad[[f"cond_prob_{i}" for i in range(10)]].sum(axis=1), 1.0, atol=1e-6)


def test_metrics_are_recomputed_from_the_predictions(pipeline: dict) -> None:
    from training.stages.evaluate import evaluate_predictions

    metrics = json.loads((pipeline["bundle_dir"] / "eval" / "metrics.json").read_text())
    for name in ("dermamnist_test", "pad_ufes_20"):
        pred = pd.read_csv(pipeline["bundle_dir"] / "eval" / f"predictions_{name}.csv")
        res = evaluate_predictions(pred, pipeline["cfg"], operating_points=metrics["operating_points"],
                                   default_op=metrics["default_operating_point"],
                                   trained_classes=metrics["trained_classes"])
        ours, theirs = res["overall"], metrics["sets"][name]["overall"]
        for key in ("accuracy", "malignant_auc", "ece_raw", "ece_calibrated", "sensitivity@sensitivity_95"):
            for field in ("value", "ci_low", "ci_high"):
                assert ours[key][field] == pytest.approx(theirs[key][field], abs=1e-9), (name, key, field)
            assert ours[key]["ci_low"] <= ours[key]["value"] <= ours[key]["ci_high"]
    test = metrics["sets"]["dermamnist_test"]["overall"]
    pred = pd.read_csv(pipeline["bundle_dir"] / "eval" / "predictions_dermamnist_test.csv")
    probs = pred[[f"cond_prob_{i}" for i in range(10)]].to_numpy()
    assert test["accuracy"]["value"] == pytest.approx(np.mean(probs.argmax(1) == pred["condition_true"]))
    assert test["n"] == 40 and test["n_malignant"] == int(pred["y_true"].sum())


def test_no_patient_or_lesion_in_two_splits(pipeline: dict) -> None:
    from training.stages.prepare import check_grouping

    table = pd.read_csv(pipeline["run"].table_path)
    assert table.groupby("lesion_id")["split"].nunique().max() == 1
    assert check_grouping(table) == {"patient_id_in_several_splits": 0, "lesion_id_in_several_splits": 0}
    leak = table.head(2).copy()
    leak["lesion_id"] = "same-lesion"
    leak["split"] = ["train", "test"]
    with pytest.raises(DataFileError, match="lesion_id"):
        check_grouping(leak)


def test_grouped_split_on_real_patients(tmp_path: Path, shared_data: Path, pad_dir: Path) -> None:
    """PAD-UFES-20 has several photos per patient and lesion: the pipeline's own split keeps each patient in one part."""
    from training.__main__ import run_stages

    cfg = tiny_config(tmp_path, shared_data)
    cfg["data"].update(datasets=["pad_ufes_20"], limit_per_split=None,
                       split={"use_official": False, "val_frac": 0.2, "test_frac": 0.2})
    cfg["evaluate"]["external"] = []
    run_stages(cfg, ["prepare"])
    table = pd.read_csv(RunDir(cfg["run_dir"]).table_path)
    assert len(table) == 249 and set(table["split"]) == {"train", "val", "test"}
    assert table["patient_id"].duplicated().any()  # the grouping is actually exercised
    assert table.groupby("patient_id")["split"].nunique().max() == 1
    assert table.groupby("lesion_id")["split"].nunique().max() == 1


def test_only_evaluate_reads_test_rows(pipeline: dict) -> None:
    from training.stages.evaluate import external_rows

    run: RunDir = pipeline["run"]
    log = run.access_log()
    readers = {(e["stage"], e["split"]) for e in log}
    held_out = {(s, sp) for s, sp in readers if sp == "test" or sp.startswith("external")}
    assert held_out == {("evaluate", "test"), ("evaluate", "external:pad_ufes_20")}
    assert {s for s, sp in readers if sp == "train"} >= {"embed", "finetune", "heads"}
    for stage in ("prepare", "embed", "finetune", "heads", "calibrate", "export"):
        with pytest.raises(TestSplitAccessError, match="only 'evaluate'"):
            run.rows("test", stage=stage)
        with pytest.raises(TestSplitAccessError):
            external_rows(run, "pad_ufes_20", stage=stage)


def test_second_embed_run_makes_no_model_calls(pipeline: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from transformers import SiglipVisionModel

    from training.stages import embed

    run: RunDir = pipeline["run"]
    before = {s: np.load(run.root / "embed" / f"embeddings_{s}.npy") for s in ("train", "val")}
    calls = []
    original = SiglipVisionModel.forward

    def counting(self, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SiglipVisionModel, "forward", counting)
    embed.run_stage(pipeline["cfg"], run)
    assert calls == []
    for s, arr in before.items():
        np.testing.assert_array_equal(np.load(run.root / "embed" / f"embeddings_{s}.npy"), arr)
    # control: the same stage on a run directory with an empty cache does call the model
    fresh = RunDir(tmp_path / "fresh")
    shutil.copytree(run.root / "prepare", fresh.root / "prepare")
    embed.run_stage(pipeline["cfg"], fresh)
    assert len(calls) >= 2
    np.testing.assert_allclose(np.load(fresh.root / "embed" / "embeddings_val.npy"), before["val"], atol=1e-5)


def test_finished_finetune_is_not_retrained(pipeline: dict, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    from training.stages import finetune

    def fail(*_a, **_k):  # noqa: ANN202
        raise AssertionError("finetune retrained although its outputs match the config")

    monkeypatch.setattr(finetune, "train", fail)
    finetune.run_stage(pipeline["cfg"], pipeline["run"])
    assert "training already finished" in capsys.readouterr().out


def test_a_stage_without_its_inputs_names_the_stage_to_run(tmp_path: Path, shared_data: Path) -> None:
    from training.__main__ import main

    cfg = tiny_config(tmp_path, shared_data)
    for stage, producer in (("embed", "prepare"), ("heads", "prepare"), ("export", "evaluate")):
        run = RunDir(tmp_path / f"empty_{stage}")
        cfg["run_dir"] = str(run.root)
        module = __import__(f"training.stages.{stage}", fromlist=["run_stage"])
        with pytest.raises(MissingStageOutputError, match=f"stage '{producer}' writes"):
            module.run_stage(cfg, run)
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("finetune:\n", "finetune:\n  epoks: 3\n"))
    with pytest.raises(ConfigError, match="epoks"):
        load_config(bad)
    assert main(["heads", "--config", str(TINY), "--run-dir", str(tmp_path / "nothing")]) == 2


def test_interrupted_finetune_resumes_to_the_same_weights(pipeline: dict, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop a 2-epoch run after epoch 1, resume it: the weights equal those of an uninterrupted run."""
    import copy

    from safetensors.torch import load_file

    import training.augment_small as aug
    from training.stages import finetune

    cfg = copy.deepcopy(pipeline["cfg"])
    cfg["finetune"]["epochs"] = 2
    runs = {}
    for name in ("straight", "resumed"):
        runs[name] = RunDir(tmp_path / name)
        shutil.copytree(pipeline["run"].root / "prepare", runs[name].root / "prepare")
    finetune.train(cfg, runs["straight"])

    original, calls = aug.make_transform, []

    def interrupt_in_epoch_2(kind, random_state=None):  # noqa: ANN001, ANN202
        calls.append(random_state)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption")
        return original(kind, random_state)

    monkeypatch.setattr(aug, "make_transform", interrupt_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        finetune.train(cfg, runs["resumed"])
    monkeypatch.setattr(aug, "make_transform", original)
    summary = finetune.train(cfg, runs["resumed"])
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    a = load_file(str(runs["straight"].root / "finetune" / "last" / "model.safetensors"))
    b = load_file(str(runs["resumed"].root / "finetune" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] - b[key]).abs().max().item() < 1e-6, key


def test_two_domain_pipeline_cross_fits_by_patient_and_reproduces(tmp_path: Path, shared_data: Path,
                                                                   dermamnist_dir: Path, pad_dir: Path) -> None:
    """A clinical domain (PAD-UFES-20) next to DermaMNIST: calibrated by patient-grouped cross-fitting, detector on,
    leave-one-domain-out set, head family and test-time augmentation chosen on validation; the out-of-fold scores are
    recomputed exactly from the bundle (training.reproduce)."""
    import torch

    from skintag.model import load_bundle
    from training.__main__ import run_stages
    from training.reproduce import reproduce

    torch.set_num_threads(1)
    cfg = tiny_config(tmp_path, shared_data)
    cfg["evaluate"].update(external=[], lodo=True)
    cfg["embed"]["tta"] = "auto"
    cfg["heads"]["family"] = "auto"
    cfg["finetune"]["enabled"] = False
    cfg["domains"].update(others={"clinical": ["pad_ufes_20"]}, methods={"clinical": "platt"}, folds=3)
    run_stages(cfg, list(STAGES))
    run = RunDir(cfg["run_dir"])
    bundle = load_bundle(cfg["export"]["out_dir"])
    m = bundle.manifest
    assert m["bundle_format_version"] == 2 and set(bundle.domains) == {"dermoscopic", "clinical"}
    clin = m["domains"]["clinical"]
    assert clin["images"] == 249 and clin["patients"] == 174 and clin["calibration"]["folds"] == 3
    assert bundle.detector is not None and set(bundle.detector.thresholds) == {"dermoscopic", "clinical"}
    # every candidate (2 families x 2 embedding variants) was scored on validation; the best one was shipped
    res = pd.read_csv(run.root / "heads" / "results_val.csv")
    cands = res[res["candidate"]]
    assert len(cands) == 4 and cands["chosen"].sum() == 1
    best = cands.sort_values(["val_accuracy", "val_macro_auc"], ascending=False, kind="stable").iloc[0]
    assert (m["choices"]["head_family"], m["choices"]["test_time_augmentation"]) == (best["model"], best["tta"])
    # patients never span two cross-fitting folds
    oof = pd.read_csv(run.root / "calibrate" / "crossfit_clinical.csv", dtype={"image_id": str})
    rows = run.domain_rows("clinical", stage="check")
    assert oof.merge(rows[["image_id", "patient_id"]], on="image_id").groupby("patient_id")["fold"].nunique().max() == 1
    metrics = json.loads((Path(cfg["export"]["out_dir"]) / "eval" / "metrics.json").read_text())
    assert set(metrics["sets"]) == {"dermamnist_test", "pad_ufes_20", "lodo_clinical"}
    assert set(metrics["crossfit"]) == {"pad_ufes_20"}  # the clinical domain's out-of-fold predictions
    assert metrics["sets"]["pad_ufes_20"]["overall"]["ci_method"] == "patient-cluster bootstrap"
    assert metrics["set_domains"]["lodo_clinical"] == "dermoscopic"
    readers = {(e["stage"], e["split"]) for e in run.access_log()}
    assert {s for s, sp in readers if sp == "test"} == {"evaluate"}
    for name, r in reproduce(Path(cfg["export"]["out_dir"]), shared_data).items():
        assert r["labels_equal"] and r["max_score_diff"] < 1e-5, name
        assert r["max_metric_diff"] < 1e-6, (name, r["worst_metric"])


def test_an_ensemble_of_two_runs_is_trained_exported_and_reproduced(pipeline: dict, tmp_path: Path,
                                                                    shared_data: Path) -> None:
    """``heads.ensemble_runs``: a second run (3 layers instead of 2) joins the module's run as an ensemble; its heads
    (one per backbone, averaged) are fitted on both runs' embeddings side by side; calibrate, evaluate and export use
    the ensemble backbone; the bundle serves the same numbers (training.reproduce) and the report says what it is."""
    import torch

    from skintag.model import load_bundle
    from skintag.model.ensemble import EnsembleBackbone
    from skintag.model.heads import EnsembleHead
    from training.__main__ import run_stages
    from training.report import build_report
    from training.reproduce import reproduce

    torch.set_num_threads(1)
    first = pipeline["run"].root
    cfg = tiny_config(tmp_path, shared_data)
    cfg["backbone"]["config"]["num_hidden_layers"] = 3
    cfg["heads"].update(ensemble_runs=[str(first)], ensemble="always")
    run_stages(cfg, list(STAGES))
    run = RunDir(cfg["run_dir"])
    res = pd.read_csv(run.root / "heads" / "results_val.csv")
    assert set(res.loc[res["candidate"], "backbones"]) == {2}
    bundle = load_bundle(cfg["export"]["out_dir"])
    assert isinstance(bundle.backbone, EnsembleBackbone) and bundle.backbone.widths == [32, 32]
    assert isinstance(bundle.binary_head, EnsembleHead) and bundle.embedding_size == 64
    assert [m["num_hidden_layers"] for m in bundle.manifest["backbone"]["config"]["members"]] == [3, 2]
    assert bundle.manifest["choices"]["backbones"] == ["this run", first.name]
    # the bundle embeds as the heads were fitted: this run's and the member's stored embeddings side by side
    from training.stages.evaluate import bundle_embed_paths
    from training.stages.heads import load_variant

    choice = json.loads((run.root / "heads" / "choice.json").read_text())
    stored = load_variant(run, "finetune", "val", choice["tta"], stage="check", members=choice["members"])
    assert stored.shape[1] == 64
    paths = run.rows("val", stage="check")["image_path"].astype(str).tolist()[:8]
    np.testing.assert_allclose(bundle_embed_paths(bundle, paths, 8), stored[:8], atol=1e-5)
    # the detector was fitted on the whole embedding and on the lead tower; the card's choice is recorded with both
    det = bundle.manifest["domain_detector"]["validation"]
    assert set(det["alternatives"]) == {"whole embedding", "lead tower"} and det["reads"] in det["alternatives"]
    assert bundle.detector.features == (32 if det["reads"] == "lead tower" else None)
    for name, r in reproduce(Path(cfg["export"]["out_dir"]), shared_data).items():
        assert r["labels_equal"] and r["max_score_diff"] < 1e-5, name
        assert r["max_metric_diff"] < 1e-6, (name, r["worst_metric"])
    report = build_report(cfg)
    assert "an ensemble of 2 backbones" in report and f"{first.name} " in report
    bad = tiny_config(tmp_path / "bad", shared_data)
    bad["heads"].update(ensemble_runs=[str(tmp_path / "never_built")])
    with pytest.raises(ConfigError, match="heads.ensemble_runs: .* has no config.json"):
        run_stages(bad, ["prepare", "heads"])
