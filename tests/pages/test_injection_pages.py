"""User-supplied text is shown as text on the Home, Model Card, Dataset Explorer, Worklist and Monitoring pages: a
Markdown link ``[a](http://x)`` or raw HTML ``<img src=x>`` in a file name, a folder name, a manifest field or a case
field reaches the page escaped (never a live link or image). Also: the Worklist with an app data folder that cannot be
written says the case log is unavailable and still triages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.caselog.conftest import result

REPO = Path(__file__).resolve().parents[2]
#: a live Markdown link or image, or raw HTML: "](" or "![" or "<img" not preceded by a backslash
LIVE = re.compile(r"(?<!\\)\]\(|(?<!\\)!\[|(?<!\\)<img", re.I)
HOSTILE = "[a](http://x)<img src=x>"
#: the same as a file or folder name (no "/")
HOSTILE_NAME = "[a](http:x)<img src=x>"
#: how safe_md shows the start of it: every markup character backslash-escaped
ESCAPED = r"\[a\]\(http\:"
KINDS = ("markdown", "caption", "error", "warning", "info", "success", "subheader", "title")


def _texts(at: AppTest) -> list[str]:
    texts = [e.value for kind in KINDS for e in getattr(at, kind)]
    texts += [c for img in at.get("image") for c in (i.caption for i in img.proto.imgs)]
    texts += [m.help for m in at.metric if m.help]
    return texts


def _assert_inert(at: AppTest) -> None:
    assert not at.exception, at.exception
    texts = _texts(at)
    assert any(ESCAPED in t for t in texts), texts  # the hostile text did reach the page
    live = [t for t in texts if LIVE.search(t)]
    assert not live, live


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(REPO / "app_pages" / name), default_timeout=240)


def test_home_shows_manifest_text_as_text(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text(json.dumps({"name": HOSTILE, "version": "1", "description": HOSTILE,
                                                      "training_data": {"datasets": [HOSTILE]}}))
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(bundle))
    _assert_inert(_page("home.py").run())


def test_home_and_model_card_show_a_hostile_bundle_path_as_text(tmp_path, monkeypatch):
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(tmp_path / HOSTILE_NAME))
    for page in ("home.py", "model_card.py"):
        at = _page(page).run()
        assert at.error, page
        _assert_inert(at)


def test_dataset_explorer_shows_a_hostile_data_root_as_text(tmp_path, monkeypatch):
    root = tmp_path / HOSTILE_NAME
    root.mkdir()
    monkeypatch.setenv("SKINTAG_DATA_DIR", str(root))
    at = _page("dataset_explorer.py").run()
    assert any("No dataset found" in w.value for w in at.warning)
    _assert_inert(at)


def test_monitoring_shows_case_fields_as_text(tmp_path, monkeypatch):
    from skintag.caselog import CaseLog

    monkeypatch.setenv("SKINTAG_APP_DATA_DIR", str(tmp_path / "appdata"))
    monkeypatch.delenv("SKINTAG_CASELOG_URL", raising=False)
    with CaseLog(tmp_path / "appdata" / "caselog.sqlite3") as log:
        # site HOSTILE: 3 of 12 malignant caught → an alert naming the site; "arm": 19 of 20
        for site, tp, fn in ((HOSTILE, 3, 9), ("arm", 19, 1)):
            for n, p, diagnosis in ((tp, 0.7, 0), (fn, 0.1, 1), (10, 0.05, 5)):
                for _ in range(n):
                    log.set_outcome(log.record(result(p), case={"site": site}), diagnosis)
    at = _page("monitoring.py").run()
    at.selectbox(key="attribute").set_value("site")
    at = at.run()
    assert any("Sensitivity for body site" in e.value and ESCAPED in e.value for e in at.error), [
        e.value for e in at.error]
    _assert_inert(at)


@pytest.fixture(scope="module")
def bundle_dir(shared_data) -> Path:
    from tests.explain.tinybundle import tiny_bundle_dir

    return tiny_bundle_dir(shared_data)


def test_worklist_with_hostile_names_and_an_unwritable_log(bundle_dir, pad_dir, tmp_path, monkeypatch):
    blocker = tmp_path / "appdata"
    blocker.write_text("a file where the app data folder should be")  # cannot be created, even by root
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(bundle_dir))
    monkeypatch.setenv("SKINTAG_APP_DATA_DIR", str(blocker))
    monkeypatch.delenv("SKINTAG_CASELOG_URL", raising=False)
    photo = sorted((pad_dir / "images").glob("*.png"))[0].read_bytes()
    at = _page("worklist.py").run()
    at.file_uploader(key="uploads").set_value([(HOSTILE_NAME + ".png", photo, "image/png"),
                                               ("z" + HOSTILE_NAME + ".jpg", b"not an image", "image/jpeg")])
    at = at.run()
    assert not at.exception, at.exception
    assert any("case log is unavailable" in w.value and "cannot be written" in w.value for w in at.warning), [
        w.value for w in at.warning]
    table = at.dataframe[0].value
    assert list(table["file"]) == [HOSTILE_NAME + ".png", "z" + HOSTILE_NAME + ".jpg"]  # tables show text as is
    assert table["tier"].iloc[0] in ("LOW", "MODERATE", "HIGH") and table["case_id"].isna().all()
    _assert_inert(at)  # the open case's image caption
    at.selectbox(key="open_case").set_value(at.selectbox(key="open_case").options[1])
    at = at.run()
    assert any("could not be read" in e.value for e in at.error)
    _assert_inert(at)
