"""Streamlit pieces of the Dataset Explorer: the cached table loader, thumbnails and the renderers of each section.

The numbers and figures come from :mod:`skintag.plots.explorer` and :mod:`skintag.cards`; this module only lays them out.
No torch is imported here (the page must open without it).
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import streamlit as st

from skintag import cards
from skintag.data import LabelAudit, LoadedDataset, distinct_images
from skintag.plots import explorer as px_explorer
from skintag.taxonomy import CONDITIONS
from skintag.ui.common import safe_md

IMAGES_PER_PAGE = 12
GRID_COLUMNS = 4
THUMB_SIZE = 224


def present_datasets(root: str | Path) -> list[str]:
    """Datasets whose metadata files exist under ``root``, in registry order (``skintag.data.available_datasets``)."""
    from skintag.data import available_datasets

    return [name for name, ok in available_datasets(Path(root)).items() if ok]


@st.cache_data(show_spinner="Loading datasets…", max_entries=8)
def load_table(root: str, datasets: tuple[str, ...]) -> LoadedDataset:
    """The unified table of ``datasets`` under ``root`` and its label audit (cached per (root, datasets))."""
    from skintag.data import load_datasets

    return load_datasets(list(datasets), Path(root))


@st.cache_data(show_spinner=False, max_entries=512)
def thumbnail(path: str, size: int = THUMB_SIZE) -> bytes | None:
    """A JPEG thumbnail (longest side ``size``) of an image file, EXIF-oriented; None when it cannot be read."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))  # JPEG: decode at reduced scale
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((size, size))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=85)
            return buf.getvalue()
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def render_empty_state(root: str) -> None:
    """Explain that no dataset was found under ``root`` and where to get each one (from ``skintag.data.DATASETS``)."""
    from skintag.data import DATASETS

    st.warning(f"No dataset found under {safe_md(root)}.", icon="🗂️")
    st.markdown(
        "Set `SKINTAG_DATA_DIR` to a folder holding one sub-folder per dataset before starting the app. Each dataset, "
        "the folder it goes in, the files expected there and where to get it:"
    )
    rows = [
        {
            "dataset": info.display_name,
            "folder": f"{info.folder}/",
            "files": "; ".join(info.expected_files),
            "where to get it": info.source,
            "licence": info.licence,
        }
        for info in DATASETS.values()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="empty_state_table")


def render_overview(df: pd.DataFrame) -> None:
    """What is derived from what (in words), headline metrics over distinct images, and the per-dataset summary table.

    ``df`` is every selected row; a derived dataset whose source is also selected (DermaMNIST beside HAM10000) keeps its
    row in the table but is left out of the metrics.
    """
    for note in px_explorer.derivation_notes(list(df["dataset"].unique())):
        st.info(note, icon="🔁")
    summary = px_explorer.dataset_summary(df)
    df = distinct_images(df)
    cols = st.columns(4)
    cols[0].metric("Images", f"{len(df):,}")
    cols[1].metric("Image files present", f"{int(df['has_image'].sum()):,}")
    cols[2].metric("Malignant", f"{100 * df['malignant'].mean():.1f} %" if len(df) else "–")
    cols[3].metric("Exact skin type known", f"{int(df['fitzpatrick'].notna().sum()):,}")
    st.dataframe(summary, hide_index=True, width="stretch")


def render_skin_by_diagnosis(df: pd.DataFrame) -> None:
    """Fitzpatrick × diagnosis heatmap with base rates of malignancy, then images per label category (over distinct
    images)."""
    df = distinct_images(df)
    by = st.radio(
        "Skin type", ["group", "exact"], horizontal=True, key="fitz_by",
        format_func=lambda v: {"group": "Groups (I-II / III-IV / V-VI)", "exact": "Exact type (I-VI)"}[v],
    )
    table = px_explorer.skin_type_by_diagnosis(df, by=by)
    st.plotly_chart(px_explorer.skin_type_diagnosis_heatmap(table), width="stretch", key="fitz_heatmap")
    st.caption(
        "Cells: images per skin type and condition (colour on a log scale). Right: share of those images labelled malignant "
        "as their dataset labels them (melanoma, BCC, SCC and actinic keratosis, and labels the taxonomy does not name "
        "such as Kaposi sarcoma). Unknown skin type is its own row, never merged into another."
    )
    st.markdown("**Images per category of their label**")
    st.dataframe(px_explorer.category_counts(df), width="stretch", key="category_counts")
    st.caption(
        "A label no map knows goes to condition Other/Unknown. It is counted malignant when its dataset says so "
        "(Fitzpatrick17k's Kaposi sarcoma, mycosis fungoides) and otherwise as Other / Unknown — never as benign."
    )


def render_demographics(df: pd.DataFrame) -> None:
    """Domain × dataset (every selected dataset, one bar each), then age, sex and site over distinct images."""
    st.plotly_chart(px_explorer.domain_dataset_figure(df), width="stretch", key="domain_fig")
    df = distinct_images(df)
    left, right = st.columns(2)
    left.plotly_chart(px_explorer.age_figure(df), width="stretch", key="age_fig")
    right.plotly_chart(px_explorer.sex_figure(df), width="stretch", key="sex_fig")
    st.plotly_chart(px_explorer.site_figure(df), width="stretch", key="site_fig")


def render_audit(audit: LabelAudit) -> None:
    """The label audit: raw label -> condition with counts and how it was mapped, then the problems."""
    labels = audit.to_frame()
    unmapped = audit.unmapped()
    st.markdown(
        f"**{len(labels):,}** raw labels mapped to the 10 conditions; **{len(unmapped):,}** unmapped "
        "(sent to Other/Unknown and listed here, never silently)."
    )
    st.dataframe(labels, hide_index=True, width="stretch", key="audit_labels")
    problems = audit.problems_frame()
    if len(problems):
        st.markdown(f"**Problems reported while loading** ({len(problems):,}): file, row, value and what was expected.")
        st.dataframe(problems, hide_index=True, width="stretch", key="audit_problems")
    else:
        st.success("No problems reported while loading.")


def render_provenance(df: pd.DataFrame) -> None:
    """Where skin-type values came from (over distinct images), and Fitzpatrick17k's inter-annotator agreement."""
    df = distinct_images(df)
    st.plotly_chart(px_explorer.provenance_figure(df), width="stretch", key="prov_fig")
    agreement = px_explorer.annotator_agreement(df)
    if agreement is None:
        st.info("Annotator agreement needs Fitzpatrick17k rows with both `fitzpatrick_scale` and `fitzpatrick_centaur`.")
        return
    cols = st.columns(4)
    cols[0].metric("Rows with both types", f"{agreement.n:,}", help=f"of {agreement.n_rows:,} Fitzpatrick17k rows")
    cols[1].metric("Exact agreement", f"{100 * agreement.exact:.1f} %")
    cols[2].metric("Within ±1 type", f"{100 * agreement.within_one:.1f} %")
    cols[3].metric("Cohen's κ (linear)", f"{agreement.kappa_linear:.3f}", help=f"quadratic κ {agreement.kappa_quadratic:.3f}")
    st.plotly_chart(px_explorer.agreement_heatmap(agreement), width="stretch", key="agree_fig")


def render_image_grid(df: pd.DataFrame) -> None:
    """Filterable, paginated grid of the images present on disk, each with its metadata."""
    with_images = df[df["has_image"].astype(bool)]
    if with_images.empty:
        st.info("None of the selected datasets has image files under this data root (metadata only).")
        return
    c1, c2, c3 = st.columns(3)
    ds = c1.multiselect("Dataset", sorted(with_images["dataset"].unique()), key="img_datasets")
    cond_ids = sorted(int(c) for c in with_images["condition_id"].unique())
    conds = c2.multiselect("Condition", cond_ids, format_func=lambda c: CONDITIONS[c], key="img_conditions")
    skins = c3.multiselect(
        "Skin type", px_explorer.skin_type_options(px_explorer.skin_type_label(with_images)), key="img_skin"
    )
    shown = px_explorer.filter_images(with_images, datasets=ds, conditions=conds, skin_types=skins)
    pages = px_explorer.n_pages(len(shown), IMAGES_PER_PAGE)
    if st.session_state.get("img_page", 1) > pages:
        st.session_state["img_page"] = 1
    page = st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key="img_page")
    st.caption(f"{len(shown):,} images match ({len(with_images):,} with files); showing page {page} of {pages}.")
    if shown.empty:
        st.info("No image matches these filters.")
        return
    rows = px_explorer.page_slice(shown, page, IMAGES_PER_PAGE)
    for start in range(0, len(rows), GRID_COLUMNS):  # one st.columns per grid row keeps rows aligned
        for col, (_, row) in zip(st.columns(GRID_COLUMNS), rows.iloc[start : start + GRID_COLUMNS].iterrows(), strict=False):
            with col:
                data = thumbnail(str(row["image_path"]))
                if data is None:
                    st.error(f"Cannot read {safe_md(Path(row['image_path']).name)}")
                else:
                    st.image(data, width="stretch")
                st.caption(px_explorer.image_caption(row))


def render_card(dataset: str) -> None:
    """The data card: front matter as a table, then the body (generated statistics included)."""
    path = cards.find_data_card(dataset)
    if path is None:
        st.error(f"No data card for `{dataset}` in `{cards.CARDS_DIR}`.")
        return
    card = cards.parse_card(path)
    fm = card.front_matter
    rows = [
        {"field": k, "value": ", ".join(map(str, v)) if isinstance(v, list) else str(v).strip()} for k, v in fm.items()
    ]
    st.table(pd.DataFrame(rows).set_index("field"))
    st.markdown(card.body.replace(cards.STATS_BEGIN, "").replace(cards.STATS_END, ""))
