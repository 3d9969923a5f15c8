"""Issue 11 on the case log and the worklist: CSV exports neutralise formula cells, an unwritable app data folder
gives a clear message instead of a traceback, and SHAP cache writers of the same key never collide."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skintag.batch import Item, worklist_csv, worklist_frame
from skintag.caselog import CaseLog, CaseLogError
from skintag.caselog.export import export_log
from skintag.explain.shap_image import ShapResult, _load_cached, _save_cached
from tests.caselog.conftest import result

FORMULA = '=HYPERLINK("http://x")'
#: every trigger the neutraliser knows, each as the start of a cell
HOSTILE = (FORMULA, "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1")


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))  # as a spreadsheet reads it: CR and LF both end rows


def test_case_log_csv_export_neutralises_formulas(tmp_path):
    with CaseLog(tmp_path / "log.sqlite3") as log:
        ids = [log.record(result(0.7), case={"site": site}) for site in HOSTILE[:4]]
        log.set_decision(ids[0], agree=True, action="refer", note=FORMULA)
        log.set_case_fields(ids[1], site=FORMULA)
        log.record(result(0.2), case={"site": "arm"})
        export_log(log, tmp_path / "csv")
        export_log(log, tmp_path / "pq", fmt="parquet")
    cases = _rows((tmp_path / "csv" / "cases.csv").read_bytes().decode())
    assert [r["site"] for r in cases] == ["'" + s for s in HOSTILE[:4]] + ["arm"]
    assert _rows((tmp_path / "csv" / "decisions.csv").read_bytes().decode())[0]["note"] == "'" + FORMULA
    current = _rows((tmp_path / "csv" / "current.csv").read_bytes().decode())
    assert current[1]["site"] == "'" + FORMULA and current[0]["y_score"] == "0.7"  # numbers untouched
    assert pd.read_parquet(tmp_path / "pq" / "cases.parquet")["site"].iloc[0] == FORMULA  # not a spreadsheet format


def test_worklist_csv_neutralises_file_names_and_errors():
    items = [Item(name, {"status": "ok", "tier": "HIGH", "p_malignant": 0.9 - i / 10})
             for i, name in enumerate(HOSTILE)]
    items.append(Item("@bad.jpg", None, "-not_image: cannot identify"))
    rows = _rows(worklist_csv(worklist_frame(items)))
    assert [r["file"] for r in rows] == ["'" + n for n in HOSTILE] + ["'@bad.jpg"]
    assert rows[-1]["error"] == "'-not_image: cannot identify"
    assert [r["p_malignant"] for r in rows[:2]] == ["0.9", "0.8"] and rows[0]["rank"] == "1"


def test_a_log_under_a_regular_file_gives_a_clear_message(tmp_path):
    # the folder cannot be created even by root (unlike a chmod-ed folder): a file stands where it should be
    blocker = tmp_path / "appdata"
    blocker.write_text("a file, not a folder")
    with pytest.raises(CaseLogError, match=r"cannot be written at .*appdata/caselog\.sqlite3.*SKINTAG_APP_DATA_DIR"):
        CaseLog(blocker / "caselog.sqlite3")
    with CaseLog(tmp_path / "ok.sqlite3", image_dir=blocker / "images") as log:
        with pytest.raises(CaseLogError, match="cannot be written at .*images"):
            log.record(result(0.5), image=b"\x89PNG fake", store_image=True)
        assert log.count() == 0  # nothing half-recorded
        log.record(result(0.5), image=b"\x89PNG fake")  # without keeping the image it still logs
        assert log.count() == 1


def _shap(fill: float) -> ShapResult:
    return ShapResult(np.full((32, 32), fill, dtype=np.float32), 0.1, 0.4, 100, "blur(8,8)", "calibrated", 100, False)


_WRITER = """
import sys
from pathlib import Path
import numpy as np
from skintag.explain.shap_image import ShapResult, _save_cached
fill = float(sys.argv[2])
res = ShapResult(np.full((32, 32), fill, dtype=np.float32), 0.1, 0.4, 100, "blur(8,8)", "calibrated", 100, False)
notes = [_save_cached(Path(sys.argv[1]), "same-key", res) for _ in range(40)]
print(f"{sum(n is None for n in notes)} ok")
"""


def _save_many(folder: str, fill: float, n: int) -> list[str | None]:
    return [_save_cached(Path(folder), "same-key", _shap(fill)) for _ in range(n)]


def test_shap_cache_writers_of_one_key_never_collide(tmp_path):
    # 8 threads, then 2 processes, write the same key at once: no writer fails (the old fixed temporary name made one
    # writer's rename move the other's half-written file), every read is a whole entry, no temporary file is left
    notes: list[str | None] = []
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        barrier.wait()
        notes.extend(_save_many(str(tmp_path), 0.01 * (i + 1), 25))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert notes == [None] * 200
    got = _load_cached(tmp_path, "same-key", 32)
    assert got is not None and got.values.shape == (32, 32)
    assert float(got.values[0, 0]) in {np.float32(0.01 * (i + 1)) for i in range(8)}
    # two real processes (plain interpreters running the library, so nothing depends on how pytest imported this file)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(fill)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for fill in (0.5, 0.25)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert [o[0].strip() for o in outputs] == ["40 ok", "40 ok"]
    assert float(_load_cached(tmp_path, "same-key", 32).values[0, 0]) in (0.5, 0.25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same-key.json", "same-key.npz"]
