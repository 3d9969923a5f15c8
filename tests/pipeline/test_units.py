"""Pieces of the training pipeline: configs, class weights, layer freezing, augmentation, optimiser checkpoints,
out-of-fold evaluation of a cross-fitted set and of the domain detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skintag.errors import ConfigError
from training.common import class_weights
from training.config import config_from_dict, load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "configs").glob("*.yaml") if p.stem != "categories"))
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert Path(cfg["run_dir"]).is_absolute() and Path(cfg["export"]["out_dir"]).is_absolute()


def test_every_run_the_demo_compares_or_joins_is_built_by_a_shipped_config() -> None:
    """Each of configs/demo.yaml's ``export.compared_runs`` and ``heads.ensemble_runs`` is the ``run_dir`` of one
    config in configs/, which differs from demo.yaml only where a compared run may (so every row of the card's
    comparison and every member of the ensemble can be rebuilt); those configs build no ensemble themselves."""
    from training.stages.evaluate import _comparable

    demo = load_config(REPO / "configs" / "demo.yaml")
    by_run = {load_config(p)["run_dir"]: p.name for p in (REPO / "configs").glob("demo_*.yaml")}
    for key in (("export", "compared_runs"), ("heads", "ensemble_runs")):
        listed = [str(Path(r) if Path(r).is_absolute() else REPO / r) for r in demo[key[0]][key[1]]]
        assert listed and set(listed) <= set(by_run), (key, listed, by_run)
        for run in listed:
            other = load_config(REPO / "configs" / by_run[run])
            assert _comparable(other) == _comparable(demo), by_run[run]
            assert other["heads"]["ensemble_runs"] == [], by_run[run]


def test_config_errors_name_the_key() -> None:
    base = {"name": "x", "run_dir": "runs/x", "data": {"datasets": ["dermamnist"]}, "backbone": {"source": "scratch",
            "config": {"image_size": 28}}}
    config_from_dict(base)
    with pytest.raises(ConfigError, match="finetune.augment"):
        config_from_dict({**base, "finetune": {"augment": "extreme"}})
    with pytest.raises(ConfigError, match="effective_batch_size"):
        config_from_dict({**base, "finetune": {"batch_size": 3, "effective_batch_size": 32}})
    with pytest.raises(ConfigError, match="default_operating_point"):
        config_from_dict({**base, "calibrate": {"operating_points": {"s90": 0.9}, "default_operating_point": "s95"}})
    with pytest.raises(ConfigError, match="backbone.config"):
        config_from_dict({**base, "backbone": {"source": "scratch"}})
    with pytest.raises(ConfigError, match="heads.ensemble_runs must be a list of distinct"):
        config_from_dict({**base, "heads": {"ensemble_runs": ["runs/a", "runs/a"]}})
    with pytest.raises(ConfigError, match="'always' needs heads.ensemble_runs"):
        config_from_dict({**base, "heads": {"ensemble": "always"}})
    with pytest.raises(ConfigError, match="heads.ensemble='sometimes'"):
        config_from_dict({**base, "heads": {"ensemble": "sometimes", "ensemble_runs": ["runs/a"]}})


def test_class_weights_by_hand() -> None:
    y = np.array([4, 4, 4, 0])  # 3 nevi, 1 melanoma
    w = class_weights(y, power=1.0)
    # inverse frequency 4/3 and 4/1, rescaled to a sample mean of 1: (3 * 4/3 + 4) / 4 = 2 -> 2/3 and 2
    assert w[4] == pytest.approx(2 / 3) and w[0] == pytest.approx(2.0)
    assert w[[1, 2, 3, 5, 6, 7, 8, 9]].sum() == 0
    assert np.allclose(class_weights(y, power=0.0)[[0, 4]], 1.0)
    assert (w[y].mean()) == pytest.approx(1.0)


def test_set_trainable_unfreezes_only_the_last_layers() -> None:
    from skintag.model.backbone import new_backbone
    from training.stages.finetune import set_trainable

    bb = new_backbone({"image_size": 28, "patch_size": 4, "hidden_size": 16, "intermediate_size": 32,
                       "num_hidden_layers": 3, "num_attention_heads": 2}, random_state=0)
    n = set_trainable(bb, 1)
    trainable = {name.split(".")[0] + ("." + name.split(".")[2] if name.startswith("encoder") else "")
                 for name, p in bb.named_parameters() if p.requires_grad}
    assert trainable == {"encoder.2", "post_layernorm", "head"}
    assert n == sum(p.numel() for p in bb.parameters() if p.requires_grad)
    assert set_trainable(bb, "all") == sum(p.numel() for p in bb.parameters())


@pytest.mark.parametrize("kind", ["small", "moderate"])
def test_augmentation_is_seeded_and_keeps_shape(kind: str) -> None:
    from training.augment_small import make_transform

    img = np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    a = [make_transform(kind, random_state=1)(img) for _ in range(2)]
    b = make_transform(kind, random_state=3)(img)
    assert a[0].shape == img.shape and a[0].dtype == np.uint8
    np.testing.assert_array_equal(a[0], a[1])
    assert not np.array_equal(a[0], b) and not np.array_equal(a[0], img)
    assert make_transform("none") is None


def test_optimizer_state_round_trips_through_safetensors(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from training.stages.finetune import _flatten_optimizer, _unflatten_optimizer

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    tensors, meta = _flatten_optimizer(opt.state_dict())
    save_file(tensors, str(tmp_path / "opt.safetensors"))
    restored = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=0.5)
    restored.load_state_dict(_unflatten_optimizer(load_file(str(tmp_path / "opt.safetensors")), meta))
    for key in ("exp_avg", "exp_avg_sq", "step"):
        torch.testing.assert_close(restored.state_dict()["state"][0][key], opt.state_dict()["state"][0][key])
    assert restored.param_groups[0]["lr"] == 0.1


def _pred_table(n: int = 400, seed: int = 3) -> object:
    """Simulated predictions of ``n / 2`` patients, each row with one of three fold thresholds."""
    from skintag.fairness.simulate import simulate_predictions

    pred = simulate_predictions(n, random_state=seed)
    pred["patient_id"] = [f"P{i // 2}" for i in range(n)]
    pred["threshold_moderate"] = np.random.default_rng(seed).choice([0.3, 0.45, 0.6], size=n)
    pred["y_score_raw"] = pred["y_score"]
    return pred


def test_a_cross_fitted_set_is_evaluated_at_each_rows_own_threshold() -> None:
    """``per_row_default``: sensitivity / specificity at the default operating point (overall and per group) count
    each row at its ``threshold_moderate``, and the bootstrap resamples the thresholds with their rows; without it the
    shipped number applies. Checked against counts by hand."""
    from training.stages.evaluate import evaluate_predictions

    pred = _pred_table()
    cfg = {"seed": 0, "evaluate": {"n_boot": 200, "ci": 0.95, "ece_bins": 15}}
    kw = {"operating_points": {"screening": 0.45}, "default_op": "screening", "trained_classes": list(range(10))}
    y, p, t = pred["y_true"].to_numpy(), pred["y_score"].to_numpy(), pred["threshold_moderate"].to_numpy()
    per_row = evaluate_predictions(pred, cfg, per_row_default=True, **kw)
    shipped = evaluate_predictions(pred, cfg, **kw)
    o, s = per_row["overall"], shipped["overall"]
    assert o["sensitivity@screening"]["value"] == pytest.approx(np.mean(p[y == 1] >= t[y == 1]))
    assert o["specificity@screening"]["value"] == pytest.approx(np.mean(p[y == 0] < t[y == 0]))
    assert s["sensitivity@screening"]["value"] == pytest.approx(np.mean(p[y == 1] >= 0.45))
    assert o["sensitivity@screening"]["value"] != s["sensitivity@screening"]["value"]
    est = o["sensitivity@screening"]
    assert est["ci_low"] <= est["value"] <= est["ci_high"] and est["ci_high"] - est["ci_low"] > 0.02
    for row in per_row["per_group"]["fitzpatrick"]:
        m = (pred["fitzpatrick"].astype("string").fillna("unknown") == row["fitzpatrick"]).to_numpy() & (y == 1)
        if m.any():
            assert row["sensitivity"]["value"] == pytest.approx(np.mean(p[m] >= t[m])), row["fitzpatrick"]


def test_detector_recognition_is_judged_against_thresholds_set_without_the_fold() -> None:
    """The detector's reported recognition rate: an image is judged against a threshold set on the other folds'
    distances, so at quantile 1.0 the farthest image of each fold is still refused when it lies beyond every other
    fold's images (an in-sample threshold accepts all of them by construction)."""
    from skintag.model.domains import DomainDetector
    from training.stages.calibrate import recognition_rate

    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (300, 4)), rng.normal(8, 1, (300, 4))
    det = DomainDetector.fit({"a": a, "b": b})
    val = rng.normal(0, 1, (100, 4))
    det.set_thresholds({"a": val, "b": b}, 1.0)
    dist = det.distances(val)["a"]
    folds = np.arange(100) % 5
    rate = recognition_rate(det, "a", val, dist, folds, 1.0)
    refused = sum(dist[folds == f].max() > dist[folds != f].max() for f in range(5))
    assert rate == pytest.approx(1 - refused / 100) and refused >= 1
    assert np.mean([d.in_domain and d.domain == "a" for d in det.decide(val)]) == 1.0  # the in-sample figure


def test_training_lengths_and_sizes_are_compared_on_validation_and_the_export_must_be_the_best(tmp_path: Path) -> None:
    """``export.compared_runs``: each run's training length, backbone size and its chosen heads' validation numbers are
    recorded; exporting a run that another run beats on validation accuracy (or one on another split, or one that
    differs in more than length and size) is refused."""
    import json

    from skintag.errors import ConfigError
    from training.rundir import RunDir
    from training.stages.evaluate import compared_runs

    def config(epochs: int, layers: int = 6, patch: int = 4, **other: object) -> dict:
        return {"seed": 0, "run_dir": "x", "data": {"datasets": ["dermamnist"]},
                "finetune": {"epochs": epochs, "patience": 3, "lr_head": 0.1},
                "backbone": {"source": "scratch", "config": {"num_hidden_layers": layers, "hidden_size": 128,
                                                             "patch_size": patch}},
                "export": {"compared_runs": []}, **other}

    def fake_run(name: str, epochs: int, acc: float, auc: float, split: str = "s1", recognised: float = 0.95,
                 **other: object) -> Path:
        root = tmp_path / name
        for sub, doc in (("prepare/DONE.json", {"split_sha256": split}), ("config.json", config(epochs, **other)),
                         ("calibrate/DONE.json", {"detector": {"recognised_in_domain": {"a": 0.99, "b": recognised}}}),
                         ("finetune/history.json", {"best_epoch": epochs - 1, "best_val": {"macro_auc": auc},
                                                    "history": [{}] * epochs, "trainable_backbone_parameters": 1000}),
                         ("heads/choice.json", {"family": "logistic", "tta": "dihedral8",
                                                "val": {"val_accuracy": acc, "val_macro_auc": auc}})):
            (root / sub).parent.mkdir(parents=True, exist_ok=True)
            (root / sub).write_text(json.dumps(doc))
        return root

    def compare(this: Path, *others: Path, epochs: int = 80) -> list:
        return compared_runs({**config(epochs), "export": {"compared_runs": [str(o) for o in others],
                                                           "min_detector_recognition": 0.9}}, RunDir(this))

    long_run, short_run = fake_run("e80", 80, 0.79, 0.93), fake_run("e40", 40, 0.78, 0.94)
    rows = compare(long_run, short_run)
    assert [(r["run"], r["epochs"], r["chosen"]) for r in rows] == [("this bundle", 80, True), ("e40", 40, False)]
    assert rows[1]["val_accuracy"] == 0.78 and rows[1]["heads"] == "logistic + dihedral8"
    with pytest.raises(ConfigError, match="e80 has the better validation accuracy"):
        compare(short_run, long_run, epochs=40)
    with pytest.raises(ConfigError, match="another split"):
        compare(long_run, fake_run("x", 10, 0.5, 0.5, split="s2"))
    with pytest.raises(ConfigError, match=r"differs from this config in \['seed'\]"):
        compare(long_run, fake_run("other_seed", 40, 0.5, 0.5, seed=1))
    deep = fake_run("d12", 40, 0.77, 0.95, layers=12)
    rows = compare(long_run, deep)
    assert rows[1]["backbone"] == {"num_hidden_layers": 12, "hidden_size": 128, "intermediate_size": None,
                                   "num_attention_heads": None, "parameters": 1000}
    assert rows[0]["backbone"]["num_hidden_layers"] == 6
    with pytest.raises(ConfigError, match=r"differs from this config in \['backbone'\]"):  # not a size: the patches
        compare(long_run, fake_run("p2", 40, 0.5, 0.5, patch=2))
    # a run whose detector flags too many of a domain's own validation images is not eligible, however accurate
    wide = fake_run("w192", 40, 0.80, 0.95, recognised=0.64)
    rows = compare(long_run, wide)
    assert [(r["run"], r["eligible"], r["chosen"]) for r in rows] == [("this bundle", True, True),
                                                                      ("w192", False, False)]
    assert rows[1]["detector_recognised"] == {"a": 0.99, "b": 0.64} and rows[1]["test"] is None  # never evaluated
    with pytest.raises(ConfigError, match="recognises only 0.640 .* cannot be shipped"):
        compare(wide, long_run, epochs=40)
    # a compared run whose test split was read shows its test numbers
    (wide / "access_log.jsonl").write_text(json.dumps({"stage": "evaluate", "split": "test", "n": 3}) + "\n")
    overall = {"accuracy": {"value": 0.758}, "macro_auc_ovr": {"value": 0.9196}}
    (wide / "evaluate").mkdir()
    (wide / "evaluate" / "metrics.json").write_text(json.dumps({"sets": {"dermamnist_test": {"overall": overall}}}))
    assert compare(long_run, wide)[1]["test"] == {"accuracy": 0.758, "macro_auc": 0.9196}
    with pytest.raises(ConfigError, match=r"has no config.json.*configs/demo_\*.yaml with that run_dir"):
        compare(long_run, tmp_path / "never_built")
    assert compare(long_run) == []
