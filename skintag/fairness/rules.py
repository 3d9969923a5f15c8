"""The decision rules a model bundle applies, for auditing the rule triage really uses.

A bundle with ``"domains"`` (bundle format 2) has per-domain thresholds: triage refers a photo (tier MODERATE or above)
when its calibrated P(malignant) ≥ the domain's ``thresholds["moderate"]`` and calls it HIGH at ``thresholds["high"]``.
A format-1 bundle has one rule for every photo: the top-level ``thresholds`` (the same tiers) and its
``operating_points`` (e.g. a screening point chosen for 95 % sensitivity). :func:`bundle_rules` lists them all, the
triage referral rule first (the audit's default). Rows are matched to a bundle domain by
:func:`row_domains`.

A predictions table may record beside each row the tier thresholds it is judged at (:data:`ROW_THRESHOLD_COLUMNS`):
for a cross-fitted set (a domain calibrated on its own photos) those are the thresholds fitted without the row's
patient, and the bundle's tier rules then apply them row by row, so the audit of such a set is out of fold rather
than at the shipped threshold chosen on those same photos.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from skintag.errors import ArgumentError

REFER, HIGH = "refer", "high"
#: Photo domains of the data that a bundle's domains cover under another name (a smartphone photo is a clinical,
#: non-dermoscopic photograph).
DOMAIN_ALIASES = {"smartphone": "clinical"}
#: Columns naming the domain a model used for a row, most specific first.
DOMAIN_COLUMNS = ("model_domain", "domain_used", "domain")
#: Columns of per-row thresholds that a tier rule applies instead of its per-domain ones, by rule key.
ROW_THRESHOLD_COLUMNS = {"refer": "threshold_moderate", "high": "threshold_high"}


@dataclass(frozen=True)
class DecisionRule:
    """One decision rule: a threshold per domain (``"*"`` = every photo) and the rule in words."""

    key: str
    label: str
    thresholds: Mapping[str, float]
    words: str

    @property
    def single(self) -> float | None:
        """The threshold when the rule has one for every domain, else None."""
        values = set(self.thresholds.values())
        return float(next(iter(values))) if len(values) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "thresholds": dict(self.thresholds), "words": self.words}


def _fmt(by_domain: Mapping[str, float]) -> str:
    if set(by_domain) == {"*"}:
        return f"{by_domain['*']:.4f}, one threshold for every photo (a single-domain, format-1 bundle)"
    return "the threshold of the photo's domain: " + ", ".join(f"{d} {t:.4f}" for d, t in by_domain.items())


def bundle_rules(manifest: Mapping[str, Any] | None) -> dict[str, DecisionRule]:
    """The bundle's decision rules by key: ``"refer"`` (MODERATE or above — triage's referral rule, the default),
    ``"high"``, then each operating point (``"op:<name>"``); empty without a manifest."""
    if not manifest:
        return {}
    name = f"{manifest.get('name', 'bundle')} {manifest.get('version', '')}".strip()
    rules: dict[str, DecisionRule] = {}
    domains = manifest.get("domains")
    if isinstance(domains, Mapping) and domains:
        per = {tier: {str(d): float(spec["thresholds"][tier]) for d, spec in domains.items()
                      if isinstance(spec, Mapping) and tier in (spec.get("thresholds") or {})}
               for tier in ("moderate", "high")}
    else:
        th = manifest.get("thresholds") or {}
        per = {tier: {"*": float(th[tier])} for tier in ("moderate", "high") if tier in th}
    if per.get("moderate"):
        rules[REFER] = DecisionRule(
            REFER, "Triage referral: MODERATE or above",
            per["moderate"], f"the rule triage applies in {name}: refer (tier MODERATE or above) when calibrated "
            f"P(malignant) ≥ {_fmt(per['moderate'])}")
    if per.get("high"):
        rules[HIGH] = DecisionRule(
            HIGH, "Triage tier HIGH", per["high"],
            f"triage tier HIGH in {name}: calibrated P(malignant) ≥ {_fmt(per['high'])}")
    for op, value in (manifest.get("operating_points") or {}).items():
        try:
            t = float(value)
        except (TypeError, ValueError):
            continue
        default = " (the bundle's default operating point)" if op == manifest.get("default_operating_point") else ""
        rules[f"op:{op}"] = DecisionRule(
            f"op:{op}", f"Operating point {op}", {"*": t},
            f"operating point '{op}' of {name}{default}: calibrated P(malignant) ≥ {t:.4f}; triage does not tier "
            "at it")
    return rules


def row_domains(df: pd.DataFrame, rule: DecisionRule) -> np.ndarray | None:
    """Each row's domain among the rule's domains (``None`` when the rule has one threshold for all): from the first
    of :data:`DOMAIN_COLUMNS` present, with :data:`DOMAIN_ALIASES` mapping data domains onto bundle domains; a row
    matching none keeps its value (the report then names it)."""
    if set(rule.thresholds) == {"*"}:
        return None
    col = next((c for c in DOMAIN_COLUMNS if c in df.columns), None)
    if col is None:
        return np.full(len(df), "*", dtype=object)
    values = df[col].astype(str).str.strip().str.lower().to_numpy(dtype=object)
    known = set(rule.thresholds)
    return np.array([v if v in known else DOMAIN_ALIASES.get(v, v) for v in values], dtype=object)


#: Column holding the patient (cluster) id in a predictions table.
PATIENT_COLUMN = "patient_id"


def default_rule(manifest: Mapping[str, Any] | None) -> DecisionRule | None:
    """The audit's default: triage's referral rule, else the default operating point, else None."""
    rules = bundle_rules(manifest)
    if REFER in rules:
        return rules[REFER]
    op = (manifest or {}).get("default_operating_point")
    return rules.get(f"op:{op}") or next(iter(rules.values()), None)


def per_row_thresholds(values: Any) -> tuple[dict[str, float], np.ndarray]:
    """Each row at its own threshold, in the engine's per-domain form: ``({key: threshold}, key of each row)``, one
    key per distinct threshold (its exact ``repr``)."""
    t = np.asarray(values, dtype=float)
    keys = np.array([repr(float(v)) for v in t], dtype=object)
    return {k: float(k) for k in sorted(set(keys.tolist()), key=float)}, keys


def thresholds_of_rows(threshold: Mapping[str, float], domains: Any) -> np.ndarray:
    """Each row's threshold under a per-domain (or per-row, :func:`per_row_thresholds`) rule: its domain's, else the
    rule's ``"*"``, else NaN."""
    return np.array([threshold.get(str(d), threshold.get("*", np.nan)) for d in domains], dtype=float)


def rule_arguments(df: pd.DataFrame, rule: DecisionRule) -> dict[str, Any]:
    """Keyword arguments of :func:`skintag.fairness.fairness_report` / :meth:`FairnessAudit.report` that apply ``rule``
    to the rows of ``df``: ``threshold`` (one number or per domain), ``domains`` (or None) and ``rule`` (words). A
    tier rule applies the table's :data:`ROW_THRESHOLD_COLUMNS` wherever a row records one (a row without one gets
    its domain's threshold), also when the rows left (e.g. by a cohort filter) all record the same number."""
    col = ROW_THRESHOLD_COLUMNS.get(rule.key)
    recorded = (np.array(pd.to_numeric(df[col], errors="coerce"), dtype=float) if col and col in df.columns
                else np.full(len(df), np.nan))
    if len(df) and np.isfinite(recorded).any():
        missing = ~np.isfinite(recorded)
        if missing.any():  # the rule's own threshold for the rows that record none
            dom = row_domains(df, rule)
            keys = np.full(len(df), "*", dtype=object) if dom is None else dom
            recorded[missing] = thresholds_of_rows(rule.thresholds, keys[missing])
            if not np.isfinite(recorded).all():
                unknown = sorted({str(k) for k in keys[~np.isfinite(recorded)]})
                raise ArgumentError(f"No threshold for the domain(s) {unknown}; the rule covers {sorted(rule.thresholds)}")
        head = f"{rule.words.split('≥')[0]}≥ the threshold recorded beside each photo's score"
        tail = "; a row without one at its image domain's" if missing.any() else ""
        values = sorted(set(recorded.tolist()))
        if len(values) == 1:
            return {"threshold": values[0], "domains": None, "rule": f"{head} ({values[0]:.4f}{tail})"}
        threshold, keys = per_row_thresholds(recorded)
        words = (f"{head} ({values[0]:.4f}–{values[-1]:.4f}; in a cross-fitted set, the one fitted without that "
                 f"photo's patient{tail})")
        return {"threshold": threshold, "domains": keys, "rule": words}
    single = rule.single
    if single is not None:
        return {"threshold": single, "domains": None, "rule": rule.words}
    return {"threshold": dict(rule.thresholds), "domains": row_domains(df, rule), "rule": rule.words}


def audit_table(
    df: pd.DataFrame,
    manifest: Mapping[str, Any] | None,
    *,
    group_column: str = "fitzpatrick",
    grouping: str | None = "six",
    rule: DecisionRule | None = None,
    patient_column: str | None = PATIENT_COLUMN,
    **options: Any,
) -> Any:
    """The one audit of a predictions table that the model card, ``python -m skintag.fairness`` and the page's
    defaults share: the bundle's rule (default: :func:`default_rule`; 0.5 without a bundle), patients resampled when
    ``patient_column`` is in the table, every other setting as given (``random_state`` etc.)."""
    from skintag.fairness.report import fairness_report

    rule = rule or default_rule(manifest)
    args = rule_arguments(df, rule) if rule is not None else {"threshold": 0.5, "domains": None, "rule": None}
    clusters = df[patient_column].to_numpy(dtype=object) if patient_column and patient_column in df.columns else None
    return fairness_report(df["y_true"].to_numpy(), df["y_score"].to_numpy(), df[group_column], grouping=grouping,
                           clusters=clusters, **args, **options)
