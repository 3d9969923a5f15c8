"""Simulated prediction tables for tests, the bench and the page's fixture — no patient data involved.

:func:`simulate_predictions` draws a population with the columns of the predictions table (docs/CONTRACTS.md §3): a Fitzpatrick
type per row (with a share unknown), a malignancy label whose prevalence is fixed per row, and a score from a
binormal model — ``logit(score) = shift[type] + separation[type] · y + N(0, 1)`` — where darker types get a lower
separation, so the simulated model really is less sensitive on them. The true per-type TPR/FPR at any threshold are
known in closed form (:func:`true_rates`), which the coverage tests use.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from skintag import fitzpatrick

#: per Fitzpatrick type 1-6: (share of rows, prevalence, separation d, shift) of the simulated population
TYPE_PARAMS: dict[int, tuple[float, float, float, float]] = {
    1: (0.16, 0.30, 2.6, -1.3),
    2: (0.28, 0.30, 2.6, -1.3),
    3: (0.22, 0.28, 2.4, -1.2),
    4: (0.12, 0.25, 2.2, -1.2),
    5: (0.06, 0.20, 1.8, -1.1),
    6: (0.04, 0.20, 1.6, -1.0),
}
UNKNOWN_SHARE = 0.12


def true_rates(threshold: float) -> pd.DataFrame:
    """Population TPR and FPR per type at ``threshold`` under the simulation's binormal model."""
    nd = NormalDist()
    logit = np.log(threshold / (1 - threshold))
    rows = {}
    for t, (_, _, d, shift) in TYPE_PARAMS.items():
        rows[t] = {"tpr": 1 - nd.cdf(logit - shift - d), "fpr": 1 - nd.cdf(logit - shift)}
    return pd.DataFrame.from_dict(rows, orient="index")


def simulate_predictions(n: int, *, random_state: int | None = 0, n_groups: int = 7) -> pd.DataFrame:
    """``n`` simulated predictions with the predictions-table columns (condition columns filled consistently).

    ``n_groups=7`` gives six Fitzpatrick types plus unknown (empty ``fitzpatrick``); ``random_state`` seeds the draw.
    """
    rng = np.random.default_rng(random_state)
    types = np.array(list(TYPE_PARAMS))
    share = np.array([TYPE_PARAMS[t][0] for t in types])
    share = share / share.sum() * (1 - UNKNOWN_SHARE if n_groups == 7 else 1.0)
    probs = np.append(share, UNKNOWN_SHARE) if n_groups == 7 else share
    draw = rng.choice(len(probs), size=n, p=probs / probs.sum())
    fst = np.where(draw < 6, draw + 1, 0)
    eff = np.where(fst == 0, 3, fst)  # unknown rows behave like type III
    prev = np.array([TYPE_PARAMS[t][1] for t in types])[eff - 1]
    sep = np.array([TYPE_PARAMS[t][2] for t in types])[eff - 1]
    shift = np.array([TYPE_PARAMS[t][3] for t in types])[eff - 1]
    y = (rng.random(n) < prev).astype(int)
    logit = shift + sep * y + rng.standard_normal(n)
    score = 1 / (1 + np.exp(-logit))
    malignant_ids = np.array([0, 1, 2, 3])  # stand-in condition ids for malignant / benign rows
    benign_ids = np.array([4, 5, 6, 7, 8, 9])
    cond = np.where(y == 1, rng.choice(malignant_ids, n), rng.choice(benign_ids, n))
    probs_c = rng.dirichlet(np.ones(10), size=n)
    probs_c[:, :4] *= (score / probs_c[:, :4].sum(axis=1))[:, None]
    probs_c[:, 4:] *= ((1 - score) / probs_c[:, 4:].sum(axis=1))[:, None]
    fitz = pd.array(np.where(fst > 0, fst, 0), dtype="Int64")
    fitz[fst == 0] = pd.NA
    group = np.array([fitzpatrick.UNKNOWN, *map(fitzpatrick.group_of, fitzpatrick.TYPES)], dtype=object)[fst]
    df = pd.DataFrame({
        "image_id": [f"sim_{i:06d}" for i in range(n)],
        "dataset": "simulated",
        "domain": rng.choice(["dermoscopic", "clinical", "smartphone"], size=n, p=[0.5, 0.3, 0.2]),
        "y_true": y,
        "y_score": np.round(score, 6),
        "condition_true": cond,
    })
    for k in range(10):
        df[f"cond_prob_{k}"] = np.round(probs_c[:, k], 6)
    df["fitzpatrick"] = fitz
    df["fitzpatrick_group"] = group
    df["sex"] = rng.choice(["female", "male"], size=n)
    df["age"] = np.round(rng.uniform(18, 90, size=n)).astype(float)
    df["site"] = rng.choice(["face", "trunk", "arm", "leg", "back"], size=n)
    df["split"] = "test"
    return df


def main(argv: list[str] | None = None) -> None:
    """``python -m skintag.fairness.simulate OUT.csv [--n N] [--random-state S]`` writes a simulated predictions table."""
    import argparse

    parser = argparse.ArgumentParser(description="Write a simulated predictions table (docs/CONTRACTS.md §3 columns).")
    parser.add_argument("out")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--random-state", "--seed", dest="random_state", type=int, default=7)
    args = parser.parse_args(argv)
    simulate_predictions(args.n, random_state=args.random_state).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
