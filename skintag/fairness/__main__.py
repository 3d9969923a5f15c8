"""``python -m skintag.fairness PREDICTIONS.csv`` prints the fairness report of a predictions table as Markdown.

The rule defaults to the one triage applies in the bundle beside the file (``<bundle>/eval/predictions_*.csv`` →
``<bundle>/manifest.json``): refer = MODERATE or above, per domain (``--rule high`` or ``--rule op:<name>`` for the
others; ``--threshold`` for one number); without a bundle, 0.5. Patients are resampled when the table has the
``--patient-column`` (default ``patient_id``). ``--out`` also writes the report in the format its suffix names (.md,
.json, .csv or .html); every export records the model, the predictions file's SHA-256, the time and the settings.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from skintag.errors import ModelBundleError, SkintagError
from skintag.fairness.data import read_predictions, validate_predictions
from skintag.fairness.provenance import provenance, sha256_bytes
from skintag.fairness.report import FairnessReport
from skintag.fairness.rules import DecisionRule, audit_table, bundle_rules, default_rule
from skintag.model.manifest import read_manifest


def _write_html(report: FairnessReport, path: str) -> str:
    """Write the HTML document (one layer up, :mod:`skintag.documents`: imported only when asked for)."""
    from skintag.documents.fairness_report import render_fairness_html

    return render_fairness_html(report, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skintag.fairness", description=__doc__.splitlines()[0])
    parser.add_argument("predictions", type=Path)
    parser.add_argument("--threshold", type=float, default=None, help="one threshold for every row")
    parser.add_argument("--rule", default=None, help="the bundle's rule: refer (default), high or op:<name>")
    parser.add_argument("--grouping", choices=["six", "three", "binary"], default="six")
    parser.add_argument("--column", default="fitzpatrick", help="group column (default: fitzpatrick)")
    parser.add_argument("--patient-column", default="patient_id", help="patient id column, used when present")
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--random-state", "--seed", dest="random_state", type=int, default=0,
                        help="seed of the bootstrap intervals (--seed is an alias)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        df = read_predictions(args.predictions)
        validate_predictions(df, "y_true", "y_score", [args.column])
        try:
            manifest = read_manifest(args.predictions.resolve().parent.parent)
        except ModelBundleError:
            manifest = None
        if args.threshold is not None:
            rule = DecisionRule("custom", "Custom threshold", {"*": args.threshold},
                                f"malignant when score ≥ {args.threshold:.4f} (set on the command line)")
        elif args.rule is not None:
            rules = bundle_rules(manifest)
            if args.rule not in rules:
                parser.exit(2, f"error: --rule must be one of {sorted(rules) or 'nothing (no bundle found)'}\n")
            rule = rules[args.rule]
        else:
            rule = default_rule(manifest)
        rep = audit_table(df, manifest, group_column=args.column,
                          grouping=args.grouping if args.column.startswith("fitz") else None, rule=rule,
                          patient_column=args.patient_column, tolerance=args.tolerance,
                          random_state=args.random_state)
        rep = rep.with_context(provenance=provenance(
            predictions_name=args.predictions.name, predictions_sha256=sha256_bytes(args.predictions.read_bytes()),
            manifest=manifest))
    except SkintagError as exc:
        parser.exit(2, f"error: {exc}\n")
    if args.out is not None:
        writer = {".md": rep.to_markdown, ".json": rep.to_json, ".csv": rep.to_csv, ".html": partial(_write_html, rep)}.get(
            args.out.suffix.lower())
        if writer is None:
            parser.exit(2, f"error: --out must end in .md, .json, .csv or .html, got {args.out.name}\n")
        writer(str(args.out))
    print(rep.to_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
