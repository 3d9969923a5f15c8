"""Worklist: many lesion photos (or a zip) triaged at once with a progress bar, ordered HIGH first and by score; each
row opens its case (result card, attention maps, report), where the decision and the confirmed outcome are entered into
the case log. Thin view over skintag.batch / skintag.caselog / skintag.ui.caselog."""

from __future__ import annotations

import hashlib

import streamlit as st

from skintag.batch import Item, read_zip, worklist_csv, worklist_frame
from skintag.errors import SkintagError
from skintag.explain.attention import attention_scope
from skintag.triage import DISCLAIMER, TriageSettings, triage, triage_many
from skintag.ui import caselog as ui
from skintag.ui import triage as triage_ui
from skintag.ui.common import get_bundle, get_settings, safe_md, start_bundle_load

#: Images per forward pass between two updates of the progress bar.
STEP = 4

settings = get_settings()
st.title("📋 Worklist")
author = ui.gate()
st.warning(DISCLAIMER, icon="⚠️")
try:
    start_bundle_load(settings)
except SkintagError as exc:
    st.error(f"No model bundle loaded: {safe_md(exc)}")
    st.stop()

log, log_error = ui.get_caselog(settings)
if log is None:
    ui.log_unavailable(log_error or "")
else:
    st.caption(f"Every triaged image is recorded as a case in the case log {safe_md(log.where)} (pseudonymous: no "
               "names).")
store_images = log is not None and st.checkbox(
    "Keep the images with their cases (in the app data folder only)", key="store_images",
    help="Off: only each image's SHA-256 is kept. On: the image file is stored under the app data folder, readable "
         "by this server's user only.")

files = st.file_uploader("Lesion photos (JPEG, PNG, WebP, HEIC) or a zip of them", accept_multiple_files=True,
                         type=[*triage_ui.UPLOAD_TYPES, "zip"], key="uploads")
if not files:
    st.info("Upload several photos, or one zip of photos, to build a worklist.")
    st.stop()
inputs: list[tuple[str, bytes]] = []
try:
    for f in files:
        data = f.getvalue()
        inputs += [(f"{f.name}/{n}", b) for n, b in read_zip(data)] if f.name.lower().endswith(".zip") else [(f.name, data)]
except SkintagError as exc:
    st.error(f"The zip cannot be used: {safe_md(exc)}")
    st.stop()
seen: dict[str, int] = {}
for i, (name, data) in enumerate(inputs):  # two uploads of one file name stay two cases: "IMG_1.jpg (2)"
    seen[name] = seen.get(name, 0) + 1
    if seen[name] > 1:
        inputs[i] = (f"{name} ({seen[name]})", data)
key = hashlib.sha256(b"".join(hashlib.sha256(d).digest() + n.encode() for n, d in inputs)).hexdigest()

try:
    bundle = get_bundle(settings)
except SkintagError as exc:
    st.error(f"No model bundle loaded: {safe_md(exc)}")
    st.stop()

state = st.session_state.get("worklist")
if state is None or state["key"] != key:
    bar = st.progress(0.0, text=f"Triaging 0 / {len(inputs)} images…")
    items: list[Item] = []
    logging_ok = log is not None
    options = TriageSettings.from_settings(settings)
    for start in range(0, len(inputs), STEP):
        chunk = inputs[start:start + STEP]
        for (name, data), res in zip(chunk, triage_many(bundle, [d for _, d in chunk], settings=options), strict=True):
            if isinstance(res, SkintagError):
                items.append(Item(name, None, f"{getattr(res, 'reason', 'invalid')}: {res}"))
                continue
            case_id = None
            if logging_ok:
                try:
                    case_id = log.record(res, image=data, store_image=store_images, author=author)
                except SkintagError as exc:
                    logging_ok = False
                    ui.log_unavailable(str(exc))
            items.append(Item(name, res.to_dict(), None, case_id))
        done = min(len(inputs), start + STEP)
        bar.progress(done / len(inputs), text=f"Triaging {done} / {len(inputs)} images…")
    bar.progress(1.0, text=f"Triaged {len(inputs)} images.")
    state = {"key": key, "items": items, "data": dict(inputs), "maps": {}}
    st.session_state["worklist"] = state
    st.session_state.pop("open_case", None)

frame = worklist_frame(state["items"])
counts = frame["tier"].value_counts()
st.subheader(f"{len(frame)} cases: " + ", ".join(f"{counts.get(t, 0)} {t}" for t in ("HIGH", "MODERATE", "LOW")))
labels = [f"#{r.rank} {r.tier or r.status} — {r.file}" for r in frame.itertuples()]


def _open_selected() -> None:
    rows = st.session_state["worklist_table"].selection.rows
    if rows:
        st.session_state["open_case"] = labels[rows[0]]


shown = frame.drop(columns=["p_low", "p_high"]).assign(p_malignant=frame["p_malignant"].map(
    lambda p: None if p is None or p != p else triage_ui.format_probability(p)))
st.dataframe(shown, hide_index=True, width="stretch", key="worklist_table", on_select=_open_selected,
             selection_mode="single-row")
st.download_button("Download the worklist (CSV)", worklist_csv(frame), file_name="worklist.csv",
                   mime="text/csv", key="download_csv")

choice = st.selectbox("Open case", labels, key="open_case")
row = frame.iloc[labels.index(choice)]
st.divider()
if row["error"]:
    st.error(f"{safe_md(row['file'])} could not be read: {safe_md(row['error'])}")
    st.stop()
if row["file"] not in state["maps"]:
    with st.spinner("Computing attention maps…"):
        state["maps"][row["file"]] = triage(bundle, state["data"][row["file"]],
                                            settings=TriageSettings.from_settings(settings, attention=True))
detailed = state["maps"][row["file"]]
overlays = triage_ui.attention_overlays(detailed)
left, right = st.columns([1, 1])
with right:
    triage_ui.render_result_card(detailed)
with left:
    st.image(detailed.image, caption=f"{safe_md(row['file'])} — as scored", width="stretch")
    for col, (caption, img) in zip(st.columns(max(1, len(overlays))), overlays.items(), strict=False):
        col.image(img, caption=caption, width="stretch")
    if overlays and (scope := attention_scope(bundle.backbone)):
        st.caption(scope)
    from skintag.documents.case_report import render_report_html

    st.download_button("Download report (HTML)", render_report_html(detailed, overlays=overlays),
                       file_name=f"skintag_case_{row['case_id'] or row['rank']}.html", mime="text/html",
                       key="download_report")
if log is not None and row["case_id"]:
    st.subheader(f"Case {safe_md(row['case_id'])}")
    ui.render_case_forms(log, row["case_id"], triage_tier=row["tier"], author=author)
elif log is None:
    st.caption("Decisions and outcomes need the case log (see the message above).")
