"""Faults: a crash mid-write leaves the log consistent; a corrupt or locked database gives a clear CaseLogError (and
the triage result does not depend on the log); a database of an unknown newer schema is refused, not changed; the
files are private (0600); an unreachable PostgreSQL server is named in words."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from skintag.caselog import CaseLog, CaseLogError
from tests.caselog.conftest import result

REPO = Path(__file__).resolve().parents[2]

CRASH_IN_TRANSACTION = """
import os, signal, sys
import sqlalchemy as sa
from skintag.caselog import CaseLog
from skintag.caselog.schema import cases
from tests.caselog.conftest import result
with CaseLog(sys.argv[1]) as log:
    log.record(result(0.3), case={"case_id": "committed"})
    with log.engine.execution_options(write=True).begin() as conn:
        log_row = dict(case_id="half", recorded_at=sa.func.now(), status="ok", result_json="{}")
        conn.execute(sa.insert(cases).values(**log_row))
        print("inserted", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # dies before the commit
"""

HAMMER = """
import sys
from skintag.caselog import CaseLog
from tests.caselog.conftest import result
with CaseLog(sys.argv[1]) as log:
    i = 0
    while True:
        cid = log.record(result(0.4), case={"case_id": f"h{i}"})
        log.set_outcome(cid, 1)
        i += 1
        if i == 30:
            print("running", flush=True)
"""


def _integrity(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def test_a_crash_inside_a_transaction_leaves_nothing_half_written(tmp_path):
    path = tmp_path / "crash.sqlite3"
    proc = subprocess.run([sys.executable, "-c", CRASH_IN_TRANSACTION, str(path)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL and "inserted" in proc.stdout, proc.stderr
    assert _integrity(path) == "ok"
    with CaseLog(path) as log:
        assert log.table("cases")["case_id"].tolist() == ["committed"]
        log.record(result(0.5), case={"case_id": "after"})  # the log is writable again (no stale lock)
        assert log.count() == 2


def test_a_process_killed_while_writing_leaves_a_consistent_log(tmp_path):
    path = tmp_path / "killed.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", HAMMER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "running"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert _integrity(path) == "ok"
    with CaseLog(path) as log:
        cases, outcomes = log.table("cases"), log.table("outcomes")
        assert len(cases) >= 30
        # every case was committed whole; outcomes (their own transactions) refer only to existing cases
        assert set(outcomes["case_id"]) <= set(cases["case_id"]) and len(cases) - len(outcomes) in (0, 1)
        assert list(cases["case_id"]) == [f"h{i}" for i in range(len(cases))]


def test_a_corrupt_file_gives_a_clear_message(tmp_path):
    path = tmp_path / "corrupt.sqlite3"
    path.write_bytes(b"this is not a database, just text " * 200)
    with pytest.raises(CaseLogError, match=r"is not a readable SQLite database .*restore the latest backup"):
        CaseLog(path)


def test_a_truncated_database_gives_a_clear_message(tmp_path):
    path = tmp_path / "cut.sqlite3"
    with CaseLog(path) as log:
        for _ in range(50):
            log.record(result(0.2))
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\xff" * 4000 + data[4100:])  # header kept, the schema page overwritten
    with pytest.raises(CaseLogError, match="not a readable SQLite database"):
        CaseLog(path).cases()


def test_a_locked_database_gives_a_clear_message_and_a_released_lock_is_waited_for(tmp_path):
    path = tmp_path / "locked.sqlite3"
    CaseLog(path).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(CaseLogError, match="stayed locked by another program"):
        CaseLog(path, busy_timeout_s=0.1)
    log = CaseLog.__new__(CaseLog)  # an app that opened the log before the lock was taken
    holder.execute("COMMIT")
    log.__init__(path, busy_timeout_s=0.2)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.4, lambda: holder.execute("COMMIT"))
    release.start()
    log.record(result(0.2))  # busy timeout 0.2 s < 0.4 s: only the retries get it through
    release.join()
    assert log.count() == 1
    log.close()
    holder.close()


def test_a_newer_schema_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "future.sqlite3"
    with CaseLog(path) as log:
        log.record(result(0.2))
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num = '0099'")
    con.commit()
    con.close()
    with pytest.raises(CaseLogError, match=r"schema revision '0099', which this SkinTag does not know"):
        CaseLog(path)
    con = sqlite3.connect(path)
    assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0099"
    assert con.execute("SELECT count(*) FROM cases").fetchone()[0] == 1
    con.close()


def test_database_wal_and_images_are_private(tmp_path):
    folder = tmp_path / "appdata"
    path = folder / "caselog.sqlite3"
    with CaseLog(path, image_dir=folder / "caselog_images") as log:
        data = (REPO / "models" / "demo" / "manifest.json").read_bytes()  # any bytes; an image is not required
        cid = log.record(result(0.3), image=data, store_image=True)
        stored = log.table("cases").set_index("case_id").loc[cid, "image_file"]
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), folder / "caselog_images" / stored]
        modes = {f.name: stat.S_IMODE(os.stat(f).st_mode) for f in files}
    assert modes == {f.name: 0o600 for f in files}
    assert stat.S_IMODE(os.stat(folder / "caselog_images").st_mode) & 0o077 == 0
    assert (folder / "caselog_images" / stored).read_bytes() == data


def test_store_image_needs_an_image_folder(tmp_path):
    with CaseLog(tmp_path / "x.sqlite3") as log, pytest.raises(Exception, match="needs the image bytes"):
        log.record(result(0.3), image=b"123", store_image=True)


def test_an_unreachable_server_is_named_without_its_password(tmp_path):
    url = "postgresql+psycopg://someone:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(CaseLogError, match=r"cannot be reached") as info:
        CaseLog(url)
    assert "s3cret" not in str(info.value) and "127.0.0.1:1" in str(info.value)


def test_an_in_memory_sqlite_url_is_refused():
    with pytest.raises(ValueError, match="needs a SQLite file"):
        CaseLog("sqlite://")
    assert sa.make_url("sqlite://").database is None


def test_settings_name_the_log_and_check_the_timeout(monkeypatch, tmp_path):
    from skintag.caselog import default_url
    from skintag.errors import ConfigError
    from skintag.settings import Settings

    monkeypatch.delenv("SKINTAG_CASELOG_URL", raising=False)
    monkeypatch.setenv("SKINTAG_APP_DATA_DIR", str(tmp_path))
    assert default_url(Settings.from_env()) == f"sqlite:///{tmp_path.resolve() / 'caselog.sqlite3'}"
    monkeypatch.setenv("SKINTAG_CASELOG_URL", "postgresql+psycopg://u:p@db/log")
    monkeypatch.setenv("SKINTAG_CASELOG_BUSY_TIMEOUT_S", "2.5")
    settings = Settings.from_env()
    assert (default_url(settings), settings.caselog_busy_timeout_s) == ("postgresql+psycopg://u:p@db/log", 2.5)
    for bad in (0, 601):
        with pytest.raises(ConfigError, match="caselog_busy_timeout_s"):
            Settings(caselog_busy_timeout_s=bad)
