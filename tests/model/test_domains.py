"""Image domains (skintag.model.domains): thresholds, cross-fitting by patient, honest intervals, the Mahalanobis
detector, and format-2 bundles with domains next to legacy format-1 bundles."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis
from scipy.stats import binomtest

from skintag.errors import ConfigError, ModelBundleError
from skintag.model.calibration import Calibrator
from skintag.model.domains import (
    DomainDetector,
    ReliabilityBin,
    cross_fit_domain,
    interval_for,
    patient_folds,
    reliability_table,
    threshold_for_specificity,
    tier_thresholds,
)


def test_threshold_for_specificity_by_hand():
    y = [0, 0, 0, 0, 1]
    p = [0.1, 0.2, 0.3, 0.4, 0.9]
    # 75 % of the 4 negatives = 3 must stay below: the 3rd lowest negative is 0.3, the next score 0.4
    assert threshold_for_specificity(y, p, 0.75) == 0.4
    assert threshold_for_specificity(y, p, 1.0) == 0.9  # every negative below: the next score above 0.4
    assert threshold_for_specificity([0, 0], [0.2, 0.5], 1.0) == np.nextafter(0.5, 1)  # nothing above: a hair above
    with pytest.raises(ConfigError, match="no negative"):
        threshold_for_specificity([1, 1], [0.2, 0.5], 0.9)


def test_tier_thresholds_reach_the_targets_and_melanoma_on_its_own():
    # 10 positives at 0.50..0.95, 10 negatives at 0.00..0.45; the two lowest positives are melanomas
    pos = np.linspace(0.50, 0.95, 10)
    neg = np.linspace(0.00, 0.45, 10)
    y = np.r_[np.ones(10), np.zeros(10)].astype(int)
    p = np.r_[pos, neg]
    t = tier_thresholds(y, p, {"moderate_sensitivity": 0.9, "high_specificity": 0.9})
    assert t["moderate"] == t["screening"] == pytest.approx(0.55)  # 9 of 10 positives are >= 0.55
    # specificity 0.9 alone would give 0.45 (the highest negative keeps 9 of 10 below); HIGH stays above MODERATE
    assert t["high"] == pytest.approx(0.60)
    crit = np.zeros(20, bool)
    crit[[0, 1]] = True  # melanomas at 0.50 and 0.55: 90 % of them needs 0.50
    t2 = tier_thresholds(y, p, {"moderate_sensitivity": 0.9, "high_specificity": 0.9}, critical=crit)
    assert t2["moderate"] == pytest.approx(0.50)


def test_reliability_table_and_interval_contains_the_shown_probability():
    bins = reliability_table([0, 1, 1, 0, 1], [0.05, 0.15, 0.95, 0.99, 1.0], n_bins=10)
    assert [(b.n, b.k) for b in bins if b.n] == [(1, 0), (1, 1), (3, 2)]
    # a bin whose Wilson interval holds p: exactly scipy's Wilson interval of that bin
    table = [ReliabilityBin(0.0, 0.2, 100, 3), ReliabilityBin(0.2, 0.3, 50, 10), ReliabilityBin(0.3, 1.0, 40, 30)]
    (lo, hi), label = interval_for(0.25, table, domain="clinical")
    ci = binomtest(10, 50).proportion_ci(method="wilson")
    assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert "Of 50 clinical calibration images" in label and "10 (20%)" in label and "pooled" not in label
    # what was held out depends on the domain (patients for phone photos, images for DermaMNIST): the label claims
    # only what holds for both
    assert "out of fold (each by a calibrator fitted without it)" in label and "patient" not in label
    # p = 0.35 is above its bin's interval (5 of 50: 4 %-21 %): pooled with the next bin up
    (lo2, hi2), label2 = interval_for(0.35, [ReliabilityBin(0.0, 0.3, 100, 3), ReliabilityBin(0.3, 0.4, 50, 5),
                                             ReliabilityBin(0.4, 1.0, 40, 30)])
    ci2 = binomtest(35, 90).proportion_ci(method="wilson")  # bins 2 + 3 pooled: 35 of 90
    assert (lo2, hi2) == pytest.approx((ci2.low, ci2.high), abs=1e-9) and lo2 <= 0.35 <= hi2
    assert "pooled" in label2 and "Of 90" in label2
    # nothing to pool toward: widened to the score, and said so
    (lo3, hi3), label3 = interval_for(0.99, [ReliabilityBin(0.0, 1.0, 200, 2)])
    assert hi3 == 0.99 and "widened" in label3
    assert interval_for(0.5, [])[0] is None


def test_every_interval_contains_its_probability_on_random_tables():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(200):
        y = rng.integers(0, 2, 60)
        s = np.clip(rng.beta(2, 2, 60) * 0.5 + 0.5 * y * rng.random(60), 0, 1)
        table = reliability_table(y, s)
        for p in np.r_[rng.random(20), 0.0, 1.0]:
            (lo, hi), _ = interval_for(float(p), table)
            assert lo <= p <= hi
            checked += 1
    assert checked == 200 * 22


def test_patient_folds_keep_patients_whole():
    rng = np.random.default_rng(1)
    groups = rng.integers(0, 40, 200).astype(str)
    y = rng.integers(0, 2, 200)
    folds = patient_folds(y, groups, 5, random_state=0)
    assert set(folds) == {0, 1, 2, 3, 4}
    for g in np.unique(groups):
        assert len(set(folds[groups == g])) == 1


def test_cross_fit_domain_scores_each_fold_with_a_calibrator_that_never_saw_it():
    rng = np.random.default_rng(2)
    n = 300
    y = rng.integers(0, 2, n)
    raw = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0.01, 0.99)
    groups = (np.arange(n) // 2).astype(str)  # two images per patient
    fit = cross_fit_domain(raw, y, groups=groups, method="platt", n_folds=5, random_state=0, n_boot=200)
    f0 = fit.folds == 0
    manual = Calibrator("platt").fit(raw[~f0], y[~f0]).predict(raw[f0])
    np.testing.assert_allclose(fit.p_oof[f0], manual, rtol=1e-9)
    full = Calibrator("platt").fit(raw, y)
    assert fit.calibrator.slope_ == pytest.approx(full.slope_)
    assert sum(b.n for b in fit.reliability) == n
    sens = fit.achieved["moderate"]["sensitivity"]
    flagged = fit.p_oof >= fit.moderate_oof
    assert sens[0] == pytest.approx(flagged[y == 1].mean())
    assert sens[1] <= sens[0] <= sens[2]
    assert fit.achieved["moderate"]["n_pos"] == int(y.sum())


def test_detector_distance_is_mahalanobis_with_ledoit_wolf_and_round_trips(tmp_path):
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, (200, 4))
    b = rng.normal(5, 2, (150, 4))
    det = DomainDetector.fit({"dermoscopic": a, "clinical": b})
    lw = LedoitWolf().fit(a)
    x = rng.normal(0, 1, (3, 4))
    want = [mahalanobis(r, lw.location_, lw.get_precision()) for r in x]
    np.testing.assert_allclose(det.distances(x)["dermoscopic"], want, rtol=1e-9)
    det.set_thresholds({"dermoscopic": a, "clinical": b}, 0.99)
    assert det.thresholds["dermoscopic"] == pytest.approx(np.quantile(det.distances(a)["dermoscopic"], 0.99))
    det.save(tmp_path / "d.safetensors")
    assert (tmp_path / "d.safetensors").read_bytes()[:8] != b"\x80\x04"  # safetensors, not a pickle
    again = DomainDetector.load(tmp_path / "d.safetensors", det.thresholds)
    np.testing.assert_allclose(again.distances(x)["clinical"], det.distances(x)["clinical"])
    near_a, near_b, far = again.decide(np.array([a.mean(0), b.mean(0), np.full(4, 100.0)]))
    assert (near_a.domain, near_a.in_domain) == ("dermoscopic", True)
    assert (near_b.domain, near_b.in_domain) == ("clinical", True)
    assert not far.in_domain
    declared = again.decide(b.mean(0)[None], declared="dermoscopic")[0]  # declared but far from it
    assert declared.domain == "dermoscopic" and not declared.in_domain


def test_detector_on_the_leading_columns_ignores_the_rest_and_round_trips(tmp_path):
    """An ensemble's detector may read only its lead tower's columns: distances equal those of a detector fitted on
    those columns alone, whatever the other columns hold, and the column count survives save / load."""
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, (200, 6)), rng.normal(3, 2, (150, 6))
    lead = DomainDetector.fit({"dermoscopic": a, "clinical": b}, features=4)
    alone = DomainDetector.fit({"dermoscopic": a[:, :4], "clinical": b[:, :4]})
    x = rng.normal(1, 1, (5, 6))
    scrambled = x.copy()
    scrambled[:, 4:] = 1e6
    for name in ("dermoscopic", "clinical"):
        np.testing.assert_allclose(lead.distances(x)[name], alone.distances(x[:, :4])[name], rtol=1e-12)
        np.testing.assert_array_equal(lead.distances(scrambled)[name], lead.distances(x)[name])
    assert not np.allclose(DomainDetector.fit({"dermoscopic": a}).distances(x)["dermoscopic"],
                           lead.distances(x)["dermoscopic"])
    lead.set_thresholds({"dermoscopic": a, "clinical": b}, 0.99)
    lead.save(tmp_path / "lead.safetensors")
    again = DomainDetector.load(tmp_path / "lead.safetensors", lead.thresholds)
    assert again.features == 4
    np.testing.assert_array_equal(again.distances(x)["clinical"], lead.distances(x)["clinical"])
    with pytest.raises(ModelBundleError, match="reads 5 embedding columns"):
        DomainDetector(lead.means, lead.precisions, features=5)


@pytest.fixture(scope="module")
def v2_bundle(tmp_path_factory, shared_data):
    from skintag.model import load_bundle
    from skintag.model.testing import build_tiny_domain_bundle

    return load_bundle(build_tiny_domain_bundle(tmp_path_factory.mktemp("v2") / "b", data_dir=shared_data))


def test_format_2_bundle_carries_its_domains(v2_bundle):
    m = v2_bundle.manifest
    assert m["bundle_format_version"] == 2 and set(v2_bundle.domains) == {"dermoscopic", "clinical"}
    for name, spec in v2_bundle.domains.items():
        entry = m["domains"][name]
        assert not spec.legacy and spec.thresholds == entry["thresholds"]
        assert spec.thresholds["screening"] == spec.thresholds["moderate"] < spec.thresholds["high"]
        assert entry["calibration"]["cross_fitted"] and entry["calibration"]["file"] == f"calibration/{name}.json"
        assert set(entry["achieved"]) == {"moderate", "high"} and len(entry["achieved"]["moderate"]["sensitivity"]) == 3
        assert sum(b.n for b in spec.reliability) == entry["images"]
    assert v2_bundle.domains["clinical"].patients == m["domains"]["clinical"]["patients"] > 0
    raw = np.array([0.1, 0.5, 0.9])
    for name in ("dermoscopic", "clinical"):
        stored = Calibrator.from_dict(json.loads((v2_bundle.path / f"calibration/{name}.json").read_text()))
        np.testing.assert_allclose(v2_bundle.calibrate(raw, name), stored.predict(raw))
    assert "domains/detector.safetensors" in m["files"]


def test_bundle_without_domains_is_one_legacy_domain(shared_data, tmp_path):
    from skintag.model import load_bundle
    from tests.explain.tinybundle import tiny_bundle_dir

    b = load_bundle(tiny_bundle_dir(shared_data))
    assert "domains" not in b.manifest and list(b.domains) == ["dermoscopic"]  # saved without domains
    spec = b.domains["dermoscopic"]
    op = b.manifest["operating_points"]["sens95"]
    assert spec.legacy and spec.thresholds["screening"] == op and spec.thresholds["moderate"] == min(0.30, op)
    d = b.detect_domains(np.zeros((1, b.embedding_size)), "clinical")[0]
    assert d.domain == "clinical" and not d.in_domain  # a domain the bundle lacks
    import shutil

    old = shutil.copytree(b.path, tmp_path / "v1")
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["bundle_format_version"] = 1  # the manifest is not in its own hash table
    (old / "manifest.json").write_text(json.dumps(manifest))
    v1 = load_bundle(old)
    assert v1.domains["dermoscopic"].legacy and v1.domains["dermoscopic"].thresholds == spec.thresholds
