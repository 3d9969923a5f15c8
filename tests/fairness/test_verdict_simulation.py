"""The gap verdicts' error rates, by simulation through the public report (issue 9).

Each simulation draws every group's predictions from known true rates (a row is predicted malignant with probability
TPR if malignant, FPR if benign), builds the report at the threshold and counts the verdicts. With no true gap,
"outside tolerance" must come at most 5 % of the time — at PAD-UFES-20-like skin-type sizes (types I-IV: about 40/10,
200/55, 100/30 and 10/12 malignant/benign) and at large sizes, with and without patients whose images are alike; a
true TPR gap of 0.20 with 400 malignant cases per group must be found ("outside tolerance") at least 80 % of the time.

Numbers measured when the tests were written (1,000 simulations unless noted; the standard error of a rate near 1 %
over 1,000 simulations is ≈ 0.3 %, near 5 % ≈ 0.7 %) are written beside each bound.
"""

from __future__ import annotations

import numpy as np
import pytest

from skintag.fairness import FairnessAudit
from skintag.fairness.report import INCONCLUSIVE, OUTSIDE, WITHIN

PAD_SIZES = [(40, 10), (200, 55), (100, 30), (10, 12)]


def _draw(rng, sizes, tpr, fpr, patient_size=1, shared=0.0):
    """Rows of one simulated audit. With ``patient_size`` > 1, each patient has that many images of one class and,
    with probability ``shared``, one prediction for all of them (images of a patient alike)."""
    y, s, g, c = [], [], [], []
    for k, ((n_pos, n_neg), t, f) in enumerate(zip(sizes, tpr, fpr, strict=True)):
        for label, n, p in ((1, n_pos, t), (0, n_neg, f)):
            patient = np.arange(n) // patient_size
            own = rng.random(n) < p
            common = (rng.random(patient[-1] + 1) < p)[patient]
            alike = (rng.random(patient[-1] + 1) < shared)[patient]
            pred = np.where(alike, common, own)
            y.append(np.full(n, label))
            s.append(np.where(pred, 0.9, 0.1))
            g.append(np.full(n, f"g{k}"))
            c.append(np.char.add(f"g{k}y{label}p", patient.astype(str)))
    return np.concatenate(y), np.concatenate(s), np.concatenate(g), np.concatenate(c)


def _rates(sizes, tpr, fpr, n_sim, *, seed, clusters=False, patient_size=1, shared=0.0):
    rng = np.random.default_rng(seed)
    verdicts = {"tpr": [], "fpr": []}
    for _ in range(n_sim):
        y, s, g, c = _draw(rng, sizes, tpr, fpr, patient_size, shared)
        rep = FairnessAudit(y, s, g, grouping=None, clusters=c if clusters else None).report(
            0.5, n_boot=200 if clusters else 0, auroc_n_boot=0, tolerance=0.05, random_state=1)
        for m in verdicts:
            verdicts[m].append(rep.verdicts[m])
    return {m: {v: float(np.mean(np.array(x) == v)) for v in (OUTSIDE, INCONCLUSIVE, WITHIN)}
            for m, x in verdicts.items()}


@pytest.mark.parametrize(("tpr", "fpr"), [(0.7, 0.3), (0.9, 0.5)])
def test_no_false_alarm_at_pad_like_sizes(tpr, fpr):
    rates = _rates(PAD_SIZES, [tpr] * 4, [fpr] * 4, 1000, seed=int(tpr * 10))
    # measured: TPR 0.8 % / FPR 1.0 % (0.7/0.3); TPR 0.6 % / FPR 1.4 % (0.9/0.5) — the old max − min bootstrap: 63 % / 100 %
    assert rates["tpr"][OUTSIDE] <= 0.05, rates
    assert rates["fpr"][OUTSIDE] <= 0.05, rates
    # at these sizes the evidence cannot show equality either: the honest answer is "inconclusive"
    assert rates["tpr"][INCONCLUSIVE] >= 0.9 and rates["tpr"][WITHIN] == 0.0


def test_no_false_alarm_at_large_sizes_and_equality_shown():
    rates = _rates([(2000, 2000)] * 4, [0.8] * 4, [0.2] * 4, 300, seed=5)
    # measured (500 simulations): outside 0 % for both; within tolerance 44 % (TPR) / 48 % (FPR)
    assert rates["tpr"][OUTSIDE] <= 0.05 and rates["fpr"][OUTSIDE] <= 0.05, rates
    assert rates["tpr"][WITHIN] >= 0.25 and rates["fpr"][WITHIN] >= 0.25, rates


def test_a_gap_exactly_at_the_tolerance_is_rarely_called_outside():
    """The least favourable null: one group 0.05 below the others (the gap equals the tolerance)."""
    rates = _rates([(2000, 2000)] * 4, [0.8, 0.8, 0.8, 0.75], [0.2, 0.2, 0.2, 0.25], 300, seed=6)
    # measured (500 simulations): 1.0 % (TPR), 1.2 % (FPR)
    assert rates["tpr"][OUTSIDE] <= 0.05 and rates["fpr"][OUTSIDE] <= 0.05, rates


@pytest.mark.parametrize("n_groups", [2, 4])
def test_a_real_tpr_gap_of_020_is_found(n_groups):
    tpr = [0.8] * (n_groups - 1) + [0.6]
    rates = _rates([(400, 400)] * n_groups, tpr, [0.2] * n_groups, 1000, seed=n_groups)
    # measured: 99.4 % (2 groups), 99.9 % (4 groups, 6 comparisons)
    assert rates["tpr"][OUTSIDE] >= 0.80, rates
    assert rates["fpr"][OUTSIDE] <= 0.05, rates  # the FPRs are equal


def test_patients_with_alike_images_need_the_patient_bootstrap():
    """Three images per patient, 80 % of patients with one prediction for all their images: treating images as
    independent over-alarms; resampling patients keeps the false-alarm rate under 5 %."""
    kw = dict(patient_size=3, shared=0.8)
    naive = _rates([(150, 150)] * 4, [0.7] * 4, [0.3] * 4, 300, seed=8, **kw)
    clustered = _rates([(150, 150)] * 4, [0.7] * 4, [0.3] * 4, 300, seed=8, clusters=True, **kw)
    # measured: images as independent 16 % (TPR) / 8 % (FPR); patients resampled 1.3 % / 0.3 %
    assert naive["tpr"][OUTSIDE] > 0.05  # the failure the patient bootstrap fixes
    assert clustered["tpr"][OUTSIDE] <= 0.05 and clustered["fpr"][OUTSIDE] <= 0.05, clustered
    pad = _rates(PAD_SIZES, [0.7] * 4, [0.3] * 4, 300, seed=9, clusters=True, patient_size=2, shared=0.8)
    # measured: 2.0 % (TPR), 1.0 % (FPR)
    assert pad["tpr"][OUTSIDE] <= 0.05 and pad["fpr"][OUTSIDE] <= 0.05, pad
