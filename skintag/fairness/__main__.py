"""``python -m skintag.fairness PREDICTIONS.csv`` prints the fairness report of a predictions table as Markdown.

The threshold defaults to the default operating point of the bundle manifest beside the file
(``<bundle>/eval/predictions_*.csv`` → ``<bundle>/manifest.json``), else 0.5. ``--out`` also writes the report in the
format its suffix names (.md, .json, .csv or .html).
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from skintag.errors import ModelBundleError, SkintagError
from skintag.fairness.data import default_operating_point, read_predictions, validate_predictions
from skintag.fairness.report import FairnessReport, fairness_report
from skintag.model.manifest import read_manifest


def _write_html(report: FairnessReport, path: str) -> str:
    """Write the HTML document (one layer up, :mod:`skintag.documents`: imported only when asked for)."""
    from skintag.documents.fairness_report import render_fairness_html

    return render_fairness_html(report, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skintag.fairness", description=__doc__.splitlines()[0])
    parser.add_argument("predictions", type=Path)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--grouping", choices=["six", "three", "binary"], default="six")
    parser.add_argument("--column", default="fitzpatrick", help="group column (default: fitzpatrick)")
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--random-state", "--seed", dest="random_state", type=int, default=0,
                        help="seed of the bootstrap intervals (--seed is an alias)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        df = read_predictions(args.predictions)
        checked = validate_predictions(df, "y_true", "y_score", [args.column])
        threshold = args.threshold
        if threshold is None:
            try:
                op = default_operating_point(read_manifest(args.predictions.resolve().parent.parent))
            except ModelBundleError:
                op = None
            threshold = op[1] if op else 0.5
        rep = fairness_report(checked.y_true, checked.y_score, df[args.column], threshold=threshold,
                              grouping=args.grouping if args.column.startswith("fitz") else None,
                              tolerance=args.tolerance, random_state=args.random_state)
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
