"""Tables and plotly figures of the Dataset Explorer page, built from the unified dataset table (docs/CONTRACTS.md §1).

This module owns the explorer's computations — per-dataset summaries, skin type × diagnosis counts with base rates of
malignancy, the Fitzpatrick17k annotator agreement (exact, within ±1, Cohen's weighted kappa via scikit-learn), the image
grid's filter and pagination — and the figures drawn from them. No streamlit here; no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from skintag import fitzpatrick as fz
from skintag import taxonomy as tx
from skintag.data import DATASET_NAMES, DATASETS, derived_datasets, distinct_images
from skintag.taxonomy import CONDITIONS

UNKNOWN = fz.UNKNOWN
#: Display order of datasets: the registry's (full-size photos first, DermaMNIST's 28-px images last).
DATASET_ORDER: tuple[str, ...] = DATASET_NAMES
SEX_ORDER: tuple[str, ...] = ("female", "male", UNKNOWN)
#: Palette shared by the explorer's figures (colour-blind-safe Okabe-Ito order).
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def _filled(s: pd.Series, missing: str = UNKNOWN) -> pd.Series:
    return s.astype(object).where(s.notna(), missing)


def skin_type_label(df: pd.DataFrame) -> pd.Series:
    """Per-row skin-type label for filters: the exact type ("I".."VI") when known, else the coarse group with
    "(group only)" (DDI), else "unknown".
    """
    exact = df["fitzpatrick"].astype("Int64").map(lambda v: None if fz.label(v) == UNKNOWN else fz.label(v))
    group = _filled(df["fitzpatrick_group"])
    out = exact.astype(object)
    no_exact = out.isna()
    out[no_exact & (group != UNKNOWN)] = group[no_exact & (group != UNKNOWN)] + " (group only)"
    out[out.isna()] = UNKNOWN
    return out


def skin_type_options(labels: pd.Series) -> list[str]:
    """The skin-type labels present, in order I..VI, group-only labels, unknown."""
    present = set(labels.unique())
    order = [*fz.SIX_LABELS, *(f"{g} (group only)" for g in fz.THREE_LABELS), UNKNOWN]
    return [o for o in order if o in present]


def dataset_color(name: str) -> str:
    """A fixed colour per dataset, so a dataset looks the same in every chart."""
    return PALETTE[_dataset_rank(name) % len(PALETTE)]


def _dataset_rank(name: str) -> int:
    return DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER)


def _n_ids(ids: pd.Series) -> object:
    """Distinct ids, or <NA> when the dataset records none (so "no ids" is not shown as "0 patients")."""
    ids = ids.dropna()
    return int(ids.nunique()) if len(ids) else pd.NA


def derivation_notes(names: Sequence[str]) -> list[str]:
    """In words, for each selected dataset derived from another, what it is derived from and how it is counted."""
    derived = derived_datasets(names)
    notes = []
    for name in sorted(dict.fromkeys(names), key=_dataset_rank):
        info = DATASETS.get(name)
        if info is None or info.derived_from is None:
            continue
        source = DATASETS[info.derived_from].display_name
        if name in derived:
            notes.append(
                f"{info.display_name} is derived from {source} (the same images, re-published). With both selected, "
                f"totals and charts count each image once, as {source}'s; {info.display_name} keeps its own row in "
                "the table."
            )
        else:
            notes.append(f"{info.display_name} is derived from {source} (the same images, re-published).")
    return notes


def dataset_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset, then the total over distinct images ("all selected": a derived dataset whose source is
    also selected is left out of it, and its row says so): images, image files present, patients, lesions, malignant,
    skin type known."""
    rows = []
    derived = derived_datasets(df["dataset"].unique())
    groups = sorted(df.groupby("dataset", sort=False), key=lambda kv: _dataset_rank(kv[0]))
    for name, sub in [*groups, ("all selected", distinct_images(df))]:
        n = len(sub)
        rows.append(
            {
                "dataset": name,
                "domain": ", ".join(sorted(sub["domain"].dropna().unique())),
                "images": n,
                "image files": int(sub["has_image"].sum()),
                "patients": _n_ids(sub["patient_id"]),
                "lesions": _n_ids(sub["lesion_id"]),
                "malignant": int(sub["malignant"].sum()),
                "% malignant": round(100.0 * sub["malignant"].mean(), 1) if n else math.nan,
                "skin type known (exact)": int(sub["fitzpatrick"].notna().sum()),
                "skin group known": int((_filled(sub["fitzpatrick_group"]) != UNKNOWN).sum()),
                "in the total": f"no: derived from {derived[name]}" if name in derived else "yes",
            }
        )
    out = pd.DataFrame(rows)
    return out.astype({"patients": "Int64", "lesions": "Int64"})


@dataclass(frozen=True)
class SkinTypeDiagnosis:
    """Counts of images by skin type (rows) × condition (columns), with malignancy per skin type.

    Attributes
    ----------
    counts : DataFrame, index = skin-type labels, columns = condition names (only conditions present).
    malignant : Series, malignant images per skin type.
    total : Series, images per skin type.
    """

    counts: pd.DataFrame
    malignant: pd.Series
    total: pd.Series

    @property
    def malignant_rate(self) -> pd.Series:
        return self.malignant / self.total.where(self.total > 0)


def skin_type_by_diagnosis(df: pd.DataFrame, by: str = "group") -> SkinTypeDiagnosis:
    """Skin type × condition counts and base rates of malignancy.

    Parameters
    ----------
    by : "group" (I-II / III-IV / V-VI / unknown, includes DDI's coarse groups) or "exact" (I..VI, plus rows without an
        exact type as "unknown or group only").
    """
    if by == "group":
        st = _filled(df["fitzpatrick_group"])
        order = list(fz.GROUPS)
    elif by == "exact":
        st = df["fitzpatrick"].astype("Int64").map(fz.label).astype(object).replace(UNKNOWN, "unknown or group only")
        order = [*fz.SIX_LABELS, "unknown or group only"]
    else:
        raise ValueError(f"by={by!r}; expected 'group' or 'exact'")
    cond = df["condition_id"].astype(int).map(lambda c: CONDITIONS[c])
    counts = pd.crosstab(st, cond)
    rows = [o for o in order if o in counts.index]
    cols = [c for c in CONDITIONS if c in counts.columns]
    counts = counts.reindex(index=rows, columns=cols, fill_value=0)
    malignant = df["malignant"].groupby(st).sum().reindex(rows, fill_value=0)
    total = st.value_counts().reindex(rows, fill_value=0)
    return SkinTypeDiagnosis(counts=counts, malignant=malignant, total=total)


def category_counts(df: pd.DataFrame) -> pd.DataFrame:
    """Images per category of their label (:func:`skintag.taxonomy.label_categories`: the dataset's own malignant flag
    first, then condition Other/Unknown in a category of its own, never benign).

    Returns a DataFrame indexed by category display name (display order, present categories only) with columns
    ``images``, ``share %`` and ``of which Other/Unknown`` (rows whose label no map knew, e.g. Kaposi sarcoma, which
    count as malignant by their dataset's own flag).
    """
    cats = pd.Series(tx.label_categories(df["condition_id"], df["malignant"]), index=df.index)
    order = [c for c in tx.LABEL_CATEGORIES if c in set(cats)]
    images = cats.value_counts().reindex(order)
    other = (df["condition_id"].astype(int) == tx.OTHER_ID).groupby(cats).sum().reindex(order)
    out = pd.DataFrame(
        {
            "images": images.astype(int),
            "share %": (100.0 * images / max(len(df), 1)).round(1),
            "of which Other/Unknown": other.astype(int),
        }
    )
    out.index = pd.Index([tx.LABEL_CATEGORY_NAMES[c] for c in order], name="category")
    return out


def skin_type_diagnosis_heatmap(table: SkinTypeDiagnosis) -> go.Figure:
    """Heatmap of images per skin type × condition (colour on a log scale, cells annotated with n), beside a column
    giving each skin type's base rate of malignancy (annotated "% malignant<br>m / n").
    """
    counts = table.counts
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.82, 0.18], shared_yaxes=True, horizontal_spacing=0.02,
        subplot_titles=("Images per skin type × condition", "Base rate of malignancy"),
    )
    z = np.log10(counts.to_numpy(dtype=float) + 1.0)
    text = [[f"{int(v):,}" for v in row] for row in counts.to_numpy()]
    fig.add_trace(
        go.Heatmap(
            z=z, x=list(counts.columns), y=list(counts.index), text=text, texttemplate="%{text}",
            colorscale="Blues", showscale=False, customdata=counts.to_numpy(),
            hovertemplate="skin type %{y}<br>%{x}<br>n = %{customdata:,}<extra></extra>",
        ),
        row=1, col=1,
    )
    rate = table.malignant_rate
    rtext = [
        [f"{100 * r:.1f} %<br>{int(m):,} / {int(t):,}" if t else "–"]
        for r, m, t in zip(rate.fillna(0), table.malignant, table.total, strict=True)
    ]
    fig.add_trace(
        go.Heatmap(
            z=[[v] for v in (100 * rate).to_numpy(dtype=float)], x=["% malignant"], y=list(rate.index), text=rtext,
            texttemplate="%{text}", colorscale="Reds", zmin=0, zmax=100, showscale=False,
            hovertemplate="skin type %{y}<br>%{text}<extra></extra>",
        ),
        row=1, col=2,
    )
    fig.update_yaxes(autorange="reversed", title_text="Fitzpatrick skin type", row=1, col=1)
    fig.update_xaxes(tickangle=-30)
    fig.update_layout(height=120 + 55 * max(len(counts.index), 1), margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def domain_by_dataset(df: pd.DataFrame) -> pd.DataFrame:
    """Images per dataset (rows, registry order) × imaging domain (columns)."""
    table = pd.crosstab(df["dataset"], df["domain"])
    return table.loc[sorted(table.index, key=_dataset_rank)]


def domain_dataset_figure(df: pd.DataFrame) -> go.Figure:
    """Stacked bars: images per dataset, coloured by imaging domain."""
    table = domain_by_dataset(df)
    fig = go.Figure()
    for i, domain in enumerate(table.columns):
        fig.add_bar(
            name=domain, x=list(table.index), y=table[domain].tolist(), marker_color=PALETTE[i % len(PALETTE)],
            text=[f"{v:,}" if v else "" for v in table[domain]], textposition="auto",
        )
    fig.update_layout(
        barmode="stack", title="Images by dataset and imaging domain", yaxis_title="images", legend_title="domain",
        height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def age_figure(df: pd.DataFrame) -> go.Figure:
    """Histogram of age (5-year bins) per dataset; the title counts rows without an age."""
    fig = go.Figure()
    for name, sub in sorted(df.groupby("dataset", sort=False), key=lambda kv: _dataset_rank(kv[0])):
        ages = pd.to_numeric(sub["age"], errors="coerce").dropna()
        if len(ages):
            fig.add_histogram(
                x=ages, name=name, xbins={"start": 0, "end": 105, "size": 5}, marker_color=dataset_color(name),
                opacity=0.7,
            )
    missing = int(pd.to_numeric(df["age"], errors="coerce").isna().sum())
    fig.update_layout(
        barmode="overlay", title=f"Age (5-year bins; {missing:,} images without age)", xaxis_title="age (years)",
        yaxis_title="images", height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def _by_dataset(table: pd.DataFrame) -> pd.DataFrame:
    """Columns (datasets) in registry order."""
    return table[sorted(table.columns, key=_dataset_rank)]


def _stacked_by_dataset(table: pd.DataFrame, title: str, horizontal: bool = False) -> go.Figure:
    """Stacked bars of a (category × dataset) count table, one trace per dataset in its fixed colour."""
    fig = go.Figure()
    for col in _by_dataset(table).columns:
        vals = table[col].tolist()
        if horizontal:
            fig.add_bar(name=str(col), y=list(table.index), x=vals, orientation="h", marker_color=dataset_color(col))
        else:
            fig.add_bar(name=str(col), x=list(table.index), y=vals, marker_color=dataset_color(col))
    fig.update_layout(barmode="stack", title=title, legend_title="dataset", height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    if horizontal:
        fig.update_yaxes(autorange="reversed")
    return fig


def sex_figure(df: pd.DataFrame) -> go.Figure:
    """Images per sex (female / male / unknown), stacked by dataset."""
    sex = _filled(df["sex"])
    table = pd.crosstab(sex, df["dataset"]).reindex([s for s in SEX_ORDER if s in set(sex)], fill_value=0)
    return _stacked_by_dataset(table, "Sex")


def site_table(df: pd.DataFrame, top: int = 15) -> pd.DataFrame:
    """Images per anatomical site (lower-cased) × dataset for the ``top`` most frequent sites, then "other sites"
    (the rest summed); rows without a site are left out (see :func:`site_figure`'s title).
    """
    site = df["site"].astype(object).map(lambda s: s.lower() if isinstance(s, str) else None)
    known = site.notna()
    table = pd.crosstab(site[known], df.loc[known, "dataset"])
    order = table.sum(axis=1).sort_values(ascending=False, kind="mergesort").index.tolist()
    out = table.loc[order[:top]]
    if len(order) > top:
        out = pd.concat([out, table.loc[order[top:]].sum().to_frame("other sites").T])
    return out


def site_figure(df: pd.DataFrame, top: int = 15) -> go.Figure:
    """Horizontal stacked bars of the most frequent anatomical sites, by dataset."""
    missing = int(df["site"].isna().sum())
    fig = _stacked_by_dataset(site_table(df, top), f"Anatomical site (top {top}; {missing:,} images without a site)", horizontal=True)
    fig.update_layout(height=120 + 22 * (top + 1))
    return fig


def provenance_table(df: pd.DataFrame) -> pd.DataFrame:
    """Images per ``fitzpatrick_source`` (where the skin-type value came from) × dataset."""
    return pd.crosstab(_filled(df["fitzpatrick_source"], "none"), df["dataset"])


def provenance_figure(df: pd.DataFrame) -> go.Figure:
    """Stacked bars: where each image's skin type came from ("none" = no skin type recorded)."""
    return _stacked_by_dataset(provenance_table(df), "Fitzpatrick label provenance")


@dataclass(frozen=True)
class AnnotatorAgreement:
    """Agreement between Fitzpatrick17k's two skin-type annotators on rows where both gave a type 1-6.

    Attributes
    ----------
    n : rows with both types known.
    n_rows : rows of Fitzpatrick17k considered.
    exact : share of rows where the two types are equal.
    within_one : share of rows where they differ by at most one type.
    kappa_linear, kappa_quadratic : Cohen's weighted kappa (scikit-learn ``cohen_kappa_score``).
    confusion : 6×6 DataFrame, rows = ``fitzpatrick_scale`` type, columns = ``fitzpatrick_centaur`` type.
    """

    n: int
    n_rows: int
    exact: float
    within_one: float
    kappa_linear: float
    kappa_quadratic: float
    confusion: pd.DataFrame


def annotator_agreement(df: pd.DataFrame) -> AnnotatorAgreement | None:
    """Agreement between ``fitzpatrick`` (Fitzpatrick17k's ``fitzpatrick_scale``) and ``fitzpatrick_centaur``.

    Returns None when the table has no row with both annotations.
    """
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    sub = df[df["dataset"] == "fitzpatrick17k"]
    both = sub[sub["fitzpatrick"].notna() & sub["fitzpatrick_centaur"].notna()]
    if both.empty:
        return None
    a = both["fitzpatrick"].astype(int).to_numpy()
    b = both["fitzpatrick_centaur"].astype(int).to_numpy()
    labels = list(fz.TYPES)
    conf = pd.DataFrame(
        confusion_matrix(a, b, labels=labels),
        index=pd.Index(fz.SIX_LABELS, name="fitzpatrick_scale"),
        columns=pd.Index(fz.SIX_LABELS, name="fitzpatrick_centaur"),
    )
    return AnnotatorAgreement(
        n=len(both),
        n_rows=len(sub),
        exact=float(np.mean(a == b)),
        within_one=float(np.mean(np.abs(a - b) <= 1)),
        kappa_linear=float(cohen_kappa_score(a, b, labels=labels, weights="linear")),
        kappa_quadratic=float(cohen_kappa_score(a, b, labels=labels, weights="quadratic")),
        confusion=conf,
    )


def agreement_heatmap(agreement: AnnotatorAgreement) -> go.Figure:
    """Confusion heatmap of the two annotators' types, annotated with counts; the diagonal is agreement."""
    conf = agreement.confusion
    fig = go.Figure(
        go.Heatmap(
            z=conf.to_numpy(), x=[f"{c}" for c in conf.columns], y=[f"{r}" for r in conf.index],
            text=[[f"{v:,}" for v in row] for row in conf.to_numpy()], texttemplate="%{text}", colorscale="Purples",
            hovertemplate="scale %{y} / centaur %{x}: %{z:,}<extra></extra>", showscale=False,
        )
    )
    fig.update_layout(
        title=(
            f"Fitzpatrick17k annotators (n = {agreement.n:,}): exact {100 * agreement.exact:.1f} %, "
            f"±1 {100 * agreement.within_one:.1f} %, linear κ {agreement.kappa_linear:.3f}"
        ),
        xaxis_title="fitzpatrick_centaur (Centaur Labs)", yaxis_title="fitzpatrick_scale (Scale AI)", height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    fig.update_yaxes(autorange="reversed")
    return fig


def filter_images(
    df: pd.DataFrame,
    *,
    datasets: Sequence[str] | None = None,
    conditions: Sequence[int] | None = None,
    skin_types: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows with an image file on disk, filtered by dataset names, condition ids and skin-type labels
    (:func:`skin_type_label`); None or an empty selection means "all". Order: dataset (registry order), image_id.
    """
    out = df[df["has_image"].astype(bool)]
    if datasets:
        out = out[out["dataset"].isin(list(datasets))]
    if conditions:
        out = out[out["condition_id"].isin([int(c) for c in conditions])]
    if skin_types:
        out = out[skin_type_label(out).isin(list(skin_types))]
    rank = out["dataset"].map(_dataset_rank)
    return out.assign(_rank=rank).sort_values(["_rank", "dataset", "image_id"], kind="mergesort").drop(columns="_rank")


def n_pages(n_rows: int, per_page: int) -> int:
    """Number of pages needed for ``n_rows`` (at least 1)."""
    if per_page < 1:
        raise ValueError(f"per_page={per_page}; expected a positive integer")
    return max(1, math.ceil(n_rows / per_page))


def page_slice(df: pd.DataFrame, page: int, per_page: int = 12) -> pd.DataFrame:
    """Rows of 1-based ``page`` (clamped to the valid range)."""
    page = min(max(1, int(page)), n_pages(len(df), per_page))
    return df.iloc[(page - 1) * per_page : page * per_page]


def image_caption(row: pd.Series) -> str:
    """One-line metadata of an image for the grid: id, dataset, condition, label, skin type, age, sex, site."""
    fitz = row.get("fitzpatrick")
    if pd.notna(fitz):
        skin = f"FST {fz.label(fitz)}"
    elif isinstance(row.get("fitzpatrick_group"), str) and row["fitzpatrick_group"] != UNKNOWN:
        skin = f"FST {row['fitzpatrick_group']}"
    else:
        skin = "FST unknown"
    age = row.get("age")
    parts = [
        f"{row['image_id']} ({row['dataset']})",
        f"{CONDITIONS[int(row['condition_id'])]} [{row['raw_label']}]",
        "malignant" if int(row["malignant"]) else "benign",
        skin,
        f"age {int(age)}" if pd.notna(age) else "age ?",
        row["sex"] if isinstance(row.get("sex"), str) else "sex ?",
    ]
    if isinstance(row.get("site"), str):
        parts.append(row["site"])
    return " · ".join(parts)
