"""Data and model cards: parse markdown cards with YAML front matter, and generate their statistics from the data.

A card is a markdown file that starts with YAML front matter between ``---`` lines, followed by ``## `` sections.
In a data card the ``## Statistics`` section holds a block between :data:`STATS_BEGIN` and :data:`STATS_END` that is
written only by :func:`update_card` (``python -m skintag.cards build``) from the real files, never by hand.

Command line::

    python -m skintag.cards build [--data-root DIR] [--cards-dir DIR] [--check]

``--check`` rebuilds in memory and exits 1 if a committed card differs from what the data says.
This module imports neither streamlit nor torch; the dataset loaders are called only when a card is built.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from skintag import fitzpatrick as fz
from skintag.data.audit import LabelAudit
from skintag.errors import DataFileError, SkintagError
from skintag.settings import shipped
from skintag.taxonomy import CONDITIONS

CARDS_DIR = shipped("data_cards")

STATS_BEGIN = "<!-- stats:begin -->"
STATS_END = "<!-- stats:end -->"

#: Front-matter keys every data card must carry.
DATA_CARD_KEYS: tuple[str, ...] = (
    "id",
    "name",
    "source",
    "licence",
    "citation",
    "domain",
    "label_set",
    "skin_type_field",
    "version",
    "date",
)
#: ``## `` sections every data card must have, in this order.
DATA_CARD_SECTIONS: tuple[str, ...] = (
    "Uses",
    "Structure",
    "Collection",
    "Annotations",
    "Bias, risks and limitations",
    "Privacy",
    "Recommendations",
    "Statistics",
)

AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("0-19", 0, 20),
    ("20-39", 20, 40),
    ("40-59", 40, 60),
    ("60-79", 60, 80),
    ("80+", 80, float("inf")),
)


@dataclass(frozen=True)
class Card:
    """A parsed card.

    Attributes
    ----------
    front_matter : the YAML front matter as a dict (empty when the card has none).
    sections : ``## `` heading -> the section's markdown (without the heading line), in file order.
    body : everything after the front matter (the markdown to render).
    path : the file the card came from, if any.
    """

    front_matter: dict[str, Any]
    sections: dict[str, str]
    body: str
    path: Path | None = None
    title: str = field(default="")

    @property
    def id(self) -> str:
        return str(self.front_matter.get("id", self.path.stem if self.path else ""))

    @property
    def stats(self) -> str | None:
        """The generated statistics block (between the markers, stripped), or None when the markers are absent."""
        return extract_stats(self.body)


def parse_card_text(text: str, *, source: str = "<string>", path: Path | None = None) -> Card:
    """Parse card markdown (optional YAML front matter, then ``#``/``##`` headings) into a :class:`Card`.

    Raises
    ------
    DataFileError
        When the front matter is not closed, is not valid YAML, or is not a mapping.
    """
    text = text.replace("\r\n", "\n")
    front: dict[str, Any] = {}
    body = text
    if text.startswith("---\n"):
        end = text.find("\n---\n", 3)
        if end < 0 and text.rstrip().endswith("\n---"):
            end = len(text.rstrip()) - 4
        if end < 0:
            raise DataFileError(f"{source}: YAML front matter opened with '---' on line 1 is never closed; expected a second '---' line")
        try:
            loaded = yaml.safe_load(text[4:end])
        except yaml.YAMLError as exc:
            raise DataFileError(f"{source}: front matter is not valid YAML ({exc})") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise DataFileError(f"{source}: front matter must be a YAML mapping of keys to values, got {type(loaded).__name__}")
        front = loaded
        body = text[end + 5 :]
    title = ""
    sections: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    in_code = False
    for line in body.split("\n"):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        if not in_code and line.startswith("# ") and not title:
            title = line[2:].strip()
            continue
        if not in_code and line.startswith("## "):
            if current is not None:
                sections[current] = "\n".join(lines).strip("\n")
            current = line[3:].strip()
            lines = []
            continue
        if current is not None:
            lines.append(line)
    if current is not None:
        sections[current] = "\n".join(lines).strip("\n")
    return Card(front_matter=front, sections=sections, body=body.lstrip("\n"), path=path, title=title)


def parse_card(path: str | Path) -> Card:
    """Read and parse a card file (see :func:`parse_card_text`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"cannot read card {path}: {exc.strerror or exc}") from exc
    return parse_card_text(text, source=str(path), path=path)


def load_model_card(path: str | Path) -> Card:
    """Parse a model card: ``path`` is the card file or a model bundle directory holding ``model_card.md``."""
    path = Path(path)
    if path.is_dir():
        path = path / "model_card.md"
    if not path.is_file():
        raise DataFileError(f"no model card at {path}; expected model_card.md inside a model bundle directory")
    return parse_card(path)


def validate_data_card(card: Card) -> list[str]:
    """Problems with a data card's shape: missing front-matter keys, missing sections, missing statistics markers."""
    problems = [f"front matter lacks '{k}'" for k in DATA_CARD_KEYS if k not in card.front_matter]
    problems += [f"section '## {s}' is missing" for s in DATA_CARD_SECTIONS if s not in card.sections]
    if card.stats is None:
        problems.append(f"statistics markers {STATS_BEGIN} ... {STATS_END} are missing")
    return problems


def list_data_cards(cards_dir: str | Path = CARDS_DIR) -> list[Path]:
    """The data card files (``*.md``) of a folder, sorted by name."""
    return sorted(p for p in Path(cards_dir).glob("*.md") if p.is_file() and not p.name.startswith(("README", "_")))


def find_data_card(dataset: str, cards_dir: str | Path = CARDS_DIR) -> Path | None:
    """The card whose front-matter ``id`` is ``dataset`` (falls back to ``<dataset>.md``)."""
    cards_dir = Path(cards_dir)
    direct = cards_dir / f"{dataset}.md"
    if direct.is_file():
        return direct
    for path in list_data_cards(cards_dir):
        if parse_card(path).id == dataset:
            return path
    return None


# ---------------------------------------------------------------------------------------------------------------
# statistics


def _fmt_int(n: int | float) -> str:
    return f"{int(n):,}"


def _pct(n: int | float, total: int | float) -> str:
    return f"{100.0 * n / total:.1f} %" if total else "–"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub-flavoured markdown table; ``align`` is one char per column ('l' or 'r')."""
    align = align or "l" * len(headers)
    rule = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(_cell(h) for h in headers) + " |", "| " + " | ".join(rule) + " |"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def age_band(age: pd.Series) -> pd.Series:
    """Age in 20-year bands (``0-19`` … ``80+``), ``unknown`` where missing."""
    age = pd.to_numeric(age, errors="coerce")
    out = pd.Series("unknown", index=age.index, dtype=object)
    for name, lo, hi in AGE_BANDS:
        out[(age >= lo) & (age < hi)] = name
    return out


def _count_table(values: pd.Series, header: str, order: Sequence[Any] | None = None, missing: str = "unknown") -> str:
    total = len(values)
    filled = values.astype(object).where(values.notna(), missing)
    counts = filled.value_counts(sort=False)
    if order is not None:
        keys = [k for k in order if k in counts.index] + sorted((k for k in counts.index if k not in order), key=str)
    else:
        known = sorted((k for k in counts.index if k != missing), key=lambda k: (-counts[k], str(k)))
        keys = known + ([missing] if missing in counts.index else [])
    rows = [(k, _fmt_int(counts[k]), _pct(counts[k], total)) for k in keys]
    return md_table([header, "n", "share"], rows, "lrr")


def render_stats(df: pd.DataFrame, audit: LabelAudit | None = None, *, data_root: str | Path | None = None) -> str:
    """Markdown statistics of one dataset's unified table (docs/CONTRACTS.md §1), deterministic for a given table.

    Covers rows, images on disk, patients and lesions, official splits, conditions (with binary label), raw label ->
    condition, Fitzpatrick type, group and provenance, domain, sex, age band, anatomical site and the label audit.

    Parameters
    ----------
    df : the table of ``skintag.data.load_dataset(...).table``.
    audit : that load's label audit (``.audit``); None when there is none (the card says so).
    data_root : the root the table was loaded from; its path is written as ``<data root>`` so a card does not depend on
        where the data lives.
    """
    names = CONDITIONS
    n = len(df)
    parts: list[str] = []
    datasets = sorted(df["dataset"].dropna().unique()) if "dataset" in df else []
    src = ", ".join(f"`{d}`" for d in datasets) or "the table"
    parts.append(
        f"_Generated from {src} by `python -m skintag.cards build`; do not edit by hand._"
    )

    overview = [("rows (images)", _fmt_int(n))]
    if "has_image" in df:
        overview.append(("image files present", _fmt_int(int(df["has_image"].astype(bool).sum()))))
    for col, label in (("patient_id", "patients"), ("lesion_id", "lesions")):
        if col in df and df[col].notna().any():
            overview.append((label, _fmt_int(df[col].dropna().nunique())))
    if "malignant" in df:
        overview.append(("malignant (incl. actinic keratosis)", f"{_fmt_int(df['malignant'].sum())} ({_pct(df['malignant'].sum(), n)})"))
    parts.append("### Overview\n\n" + md_table(["quantity", "value"], overview, "lr"))

    if "official_split" in df and df["official_split"].notna().any():
        parts.append(
            "### Official split\n\n"
            + _count_table(df["official_split"], "split", order=("train", "val", "test"), missing="none")
        )

    cond = df["condition_id"].astype(int)
    counts = cond.value_counts()
    mal = df.groupby(cond)["malignant"].sum()
    rows = [
        (cid, names[cid] if 0 <= cid < len(names) else "?", _fmt_int(counts[cid]), _pct(counts[cid], n), _fmt_int(mal[cid]))
        for cid in sorted(counts.index)
    ]
    parts.append("### Conditions\n\n" + md_table(["id", "condition", "n", "share", "malignant"], rows, "llrrr"))

    raw = (
        df.assign(raw=df["raw_label"].astype(str), cid=cond)
        .groupby(["raw", "cid"], sort=False)
        .size()
        .reset_index(name="n")
        .sort_values(["n", "raw"], ascending=[False, True], kind="mergesort")
    )
    how: dict[tuple[str, int], str] = {}
    if audit is not None:
        for r in audit.to_frame().itertuples():
            how[(str(r.raw_label), int(r.condition_id))] = str(r.mapped_by)
    raw_rows = [(r.raw, f"{r.cid} {names[r.cid]}", how.get((r.raw, r.cid), "?"), _fmt_int(r.n)) for r in raw.itertuples()]
    parts.append(
        f"### Raw label -> condition ({len(raw_rows)} raw labels)\n\n"
        + md_table(["raw label", "condition", "mapped by", "n"], raw_rows, "lllr")
    )

    fitz = df["fitzpatrick"].astype("Int64")
    fitz_named = fitz.map(lambda v: fz.label(v) if pd.notna(v) else pd.NA)
    skin = ["### Skin type"]
    skin.append(
        "Fitzpatrick type (exact):\n\n" + _count_table(fitz_named, "type", order=fz.SIX_LABELS, missing="unknown")
    )
    skin.append("Fitzpatrick group:\n\n" + _count_table(df["fitzpatrick_group"], "group", order=fz.GROUPS))
    skin.append("Where the skin type came from (`fitzpatrick_source`):\n\n" + _count_table(df["fitzpatrick_source"], "source"))
    parts.append("\n\n".join(skin))

    parts.append("### Imaging domain\n\n" + _count_table(df["domain"], "domain"))
    parts.append("### Sex\n\n" + _count_table(df["sex"], "sex", order=("female", "male")))
    parts.append(
        "### Age band\n\n" + _count_table(age_band(df["age"]), "age", order=tuple(b[0] for b in AGE_BANDS) + ("unknown",))
    )
    if df["site"].notna().any():
        parts.append("### Anatomical site\n\n" + _count_table(df["site"], "site"))

    parts.append("### Label audit\n\n" + _render_audit(audit))
    return _relative_to_root("\n\n".join(parts), data_root)


def _relative_to_root(text: str, data_root: str | Path | None) -> str:
    """Write the data root's path (as given and resolved) as ``<data root>``."""
    if data_root is None:
        return text
    forms = {str(Path(data_root)), str(Path(data_root).resolve())}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form.rstrip("/") + "/", "<data root>/")
    return text


def _render_audit(audit: LabelAudit | None) -> str:
    """Label-audit summary: raw labels and rows per mapping method, unmapped labels, problems by kind."""
    if audit is None:
        return "No label audit is attached to this table."
    lines: list[str] = []
    frame = audit.to_frame()
    if len(frame):
        by = frame.groupby("mapped_by", sort=True).agg(labels=("raw_label", "size"), rows=("count", "sum"))
        lines.append(
            md_table(["mapped by", "raw labels", "rows"], [(k, _fmt_int(r.labels), _fmt_int(r.rows)) for k, r in by.iterrows()], "lrr")
        )
        unmapped = audit.unmapped()
        if len(unmapped):
            lines.append(
                f"Unmapped raw labels (sent to Other/Unknown and reported): {len(unmapped)}\n\n"
                + md_table(["raw label", "rows"], [(r.raw_label, _fmt_int(r.count)) for r in unmapped.itertuples()], "lr")
            )
        else:
            lines.append("Every raw label is mapped by the taxonomy; none fell to Other/Unknown unseen.")
    problems = audit.problems_frame()
    if len(problems):
        grouped = (
            problems.fillna({"column": ""})
            .groupby(["severity", "problem", "file", "column"], sort=True)
            .size()
            .reset_index(name="n")
        )
        lines.append(
            f"Problems reported while loading: {len(problems):,} record(s)\n\n"
            + md_table(
                ["severity", "problem", "file", "column", "records"],
                [(r.severity, r.problem, r.file, r.column, _fmt_int(r.n)) for r in grouped.itertuples()],
                "llllr",
            )
        )
        summaries = [p.message() for p in audit.problems if p.row is None]
        if summaries:
            lines.append("\n".join(f"- {m}" for m in summaries))
    else:
        lines.append("No problems reported while loading.")
    return "\n\n".join(lines)


def render_unavailable(card: Card) -> str:
    """Statistics block for a dataset whose files are not present: says so and how to obtain them."""
    fm = card.front_matter
    folder = fm.get("folder", card.id)
    access = str(fm.get("access", "")).strip()
    text = [
        "_Generated by `python -m skintag.cards build`; do not edit by hand._",
        f"**Data not available.** No copy of {fm.get('name', card.id)} is present under the data root "
        f"(expected folder `{folder}/`), so no statistics can be computed here.",
    ]
    if access:
        text.append(f"How to get it: {access}")
    if fm.get("source"):
        text.append(f"Source: <{fm['source']}>")
    text.append(
        f"Then place the files in `<data root>/{folder}/` and run `python -m skintag.cards build --data-root <data root>`."
    )
    return "\n\n".join(text)


def extract_stats(text: str) -> str | None:
    """The text between the statistics markers (stripped), or None if the markers are absent."""
    m = re.search(re.escape(STATS_BEGIN) + r"(.*?)" + re.escape(STATS_END), text, flags=re.S)
    return m.group(1).strip() if m else None


def replace_stats(text: str, stats: str) -> str:
    """``text`` with the block between the markers replaced by ``stats``."""
    start, end = text.find(STATS_BEGIN), text.find(STATS_END)
    if start < 0 or end < start:
        raise DataFileError(f"card has no statistics block; expected the markers {STATS_BEGIN} and {STATS_END}")
    return text[: start + len(STATS_BEGIN)] + "\n\n" + stats.strip() + "\n\n" + text[end:]


def update_card(
    path: str | Path, df: pd.DataFrame | None, audit: LabelAudit | None = None, *, write: bool = True
) -> bool:
    """Regenerate a card's statistics block from ``df`` and its ``audit`` (``df`` None = data not available). Returns
    whether it changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    card = parse_card_text(text, source=str(path), path=path)
    stats = render_stats(df, audit) if df is not None else render_unavailable(card)
    new = replace_stats(text, stats)
    if new != text and write:
        path.write_text(new, encoding="utf-8")
    return new != text


def dataset_folder(card: Card, data_root: str | Path) -> Path:
    """Where a card's dataset lives under ``data_root`` (front-matter ``folder``, default the card id)."""
    return Path(data_root) / str(card.front_matter.get("folder", card.id))


def expected_stats(card: Card, data_root: str | Path) -> str | None:
    """What the card's statistics block should be for ``data_root``.

    The real statistics when the dataset's files are present (``skintag.data.available_datasets``); the "data not
    available" text when they are absent and the card holds no real statistics; None when they are absent but the card
    already ships real statistics (so a wrong root never erases them).
    """
    from skintag.data import available_datasets, load_dataset

    if not available_datasets(data_root).get(card.id, False):
        current = card.stats or ""
        return render_unavailable(card) if (not current or "Data not available" in current) else None
    loaded = load_dataset(card.id, Path(data_root))
    return render_stats(loaded.table, loaded.audit, data_root=data_root)


def build_cards(cards_dir: str | Path, data_root: str | Path, *, check: bool = False) -> list[tuple[Path, str]]:
    """Rebuild the statistics of every data card in ``cards_dir`` from ``data_root``.

    Returns (card path, status) with status one of "updated", "unchanged", "stale" (check mode), "skipped (no data)".
    """
    results: list[tuple[Path, str]] = []
    for path in list_data_cards(cards_dir):
        text = path.read_text(encoding="utf-8")
        card = parse_card_text(text, source=str(path), path=path)
        stats = expected_stats(card, data_root)
        if stats is None:
            results.append((path, f"skipped (no data at {dataset_folder(card, data_root)})"))
            continue
        new = replace_stats(text, stats)
        if new == text:
            results.append((path, "unchanged"))
        elif check:
            results.append((path, "stale"))
        else:
            path.write_text(new, encoding="utf-8")
            results.append((path, "updated"))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    from skintag.settings import default_data_dir

    parser = argparse.ArgumentParser(prog="python -m skintag.cards", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="regenerate the statistics sections of the data cards from the real files")
    build.add_argument("--data-root", type=Path, default=None, help="data root (default: $SKINTAG_DATA_DIR or ../shared/data)")
    build.add_argument("--cards-dir", type=Path, default=CARDS_DIR, help="folder of data cards (default: data_cards/)")
    build.add_argument("--check", action="store_true", help="change nothing; exit 1 if a card is out of date")
    args = parser.parse_args(argv)
    root = args.data_root or default_data_dir()
    try:
        results = build_cards(args.cards_dir, root, check=args.check)
    except SkintagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path, status in results:
        print(f"{path.name}: {status}")
    return 1 if any(s == "stale" for _, s in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
