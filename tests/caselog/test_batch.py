"""Batch triage (``skintag.batch``): a folder of real photos gives the same worklist from one process and from two
worker processes, ordered HIGH first then by score; zips are read in memory with limits; ``--log`` records the cases."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from skintag.batch import Item, auto_workers, collect_images, read_zip, worklist_frame
from skintag.errors import BadImageError

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "models" / "demo"


@pytest.fixture(scope="module")
def folder(pad_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("photos")
    for p in sorted((pad_dir / "images").glob("*.png"))[:6]:
        shutil.copy(p, out / p.name)
    (out / "sub").mkdir()
    shutil.copy(sorted((pad_dir / "images").glob("*.png"))[6], out / "sub" / "seven.png")
    (out / "notes.txt").write_text("not an image")
    (out / ".hidden.png").write_bytes(b"x")
    (out / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return out


def test_collect_images_skips_hidden_and_non_images(folder):
    names = [p.relative_to(folder).as_posix() for p in collect_images(folder)]
    assert len(names) == 8 and "sub/seven.png" in names and "broken.jpg" in names
    assert not any(n.startswith(".") or n.endswith(".txt") for n in names)


def _run(folder: Path, out: Path, *extra: str, env: dict | None = None) -> pd.DataFrame:
    proc = subprocess.run([sys.executable, "-m", "skintag.batch", str(folder), "--out", str(out), "--model-dir",
                           str(DEMO), *extra], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"8 images → {out}" in proc.stdout
    return pd.read_csv(out)


def test_one_process_and_two_processes_give_the_same_ordered_worklist(folder, tmp_path):
    one = _run(folder, tmp_path / "one.csv", "--workers", "1")
    two = _run(folder, tmp_path / "two.csv", "--workers", "2")
    pd.testing.assert_frame_equal(one, two)
    scored = one[one["status"] == "ok"]
    rank = scored["tier"].map({"HIGH": 0, "MODERATE": 1, "LOW": 2})
    assert list(zip(rank, -scored["p_malignant"], strict=True)) == sorted(zip(rank, -scored["p_malignant"],
                                                                               strict=True))
    assert one.iloc[-1]["file"] == "broken.jpg" and one.iloc[-1]["status"] == "unreadable"
    assert one["rank"].tolist() == list(range(1, 9)) and len(scored) >= 6


def test_log_option_records_every_readable_image(folder, tmp_path):
    from skintag.caselog import CaseLog

    df = _run(folder, tmp_path / "w.csv", "--workers", "1", "--log", env={"SKINTAG_APP_DATA_DIR": str(tmp_path)})
    with CaseLog(tmp_path / "caselog.sqlite3") as log:
        cases = log.cases()
    assert set(cases["case_id"]) == set(df["case_id"].dropna()) and len(cases) == 7


def test_read_zip_in_memory_with_limits():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a/one.png", b"1")
        z.writestr("b.JPG", b"22")
        z.writestr("__MACOSX/a/._one.png", b"junk")
        z.writestr("readme.txt", b"no")
    assert read_zip(buf.getvalue()) == [("a/one.png", b"1"), ("b.JPG", b"22")]
    with pytest.raises(BadImageError, match="at most 1 at once"):
        read_zip(buf.getvalue(), max_files=1)
    with pytest.raises(BadImageError, match="uncompressed"):
        read_zip(buf.getvalue(), max_bytes=2)
    with pytest.raises(BadImageError, match="not a readable zip"):
        read_zip(b"PK but not really")


def test_worklist_order_and_workers():
    items = [Item("low", {"status": "ok", "tier": "LOW", "p_malignant": 0.2}),
             Item("bad", None, "not_image: ..."),
             Item("high-a", {"status": "ok", "tier": "HIGH", "p_malignant": 0.7}),
             Item("retake", {"status": "retake", "tier": None, "p_malignant": None}),
             Item("high-b", {"status": "ok", "tier": "HIGH", "p_malignant": 0.9}),
             Item("mod", {"status": "ok", "tier": "MODERATE", "p_malignant": 0.25})]  # promoted: below 0.3
    assert worklist_frame(items)["file"].tolist() == ["high-b", "high-a", "mod", "low", "retake", "bad"]
    assert (auto_workers(10, 16), auto_workers(100, 16), auto_workers(10_000, 4)) == (1, 2, 4)
