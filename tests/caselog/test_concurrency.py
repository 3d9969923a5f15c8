"""Writers at once lose nothing: 8 threads (each its own CaseLog, as 8 app sessions in separate processes would
have their own connections) and 8 processes opening the same brand-new SQLite file (so they also race to create the
schema), each writing cases, decisions and outcomes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from skintag.caselog import CaseLog
from tests.caselog.conftest import result

WRITERS = 8
PER_WRITER = 40
REPO = Path(__file__).resolve().parents[2]


def _write(url: str, writer: int, errors: list[BaseException], barrier: threading.Barrier) -> None:
    try:
        with CaseLog(url, busy_timeout_s=5) as log:
            barrier.wait()
            for i in range(PER_WRITER):
                cid = log.record(result(0.05 + 0.9 * i / PER_WRITER), case={"case_id": f"w{writer}-{i}"})
                if i % 2 == 0:
                    log.set_decision(cid, agree=True, action="monitor", author=f"writer{writer}")
                if i % 4 == 0:
                    log.set_outcome(cid, i % 10, author=f"writer{writer}")
    except BaseException as exc:  # reported to the test thread
        errors.append(exc)


def test_eight_threads_writing_at_once_lose_no_row(log_url):
    CaseLog(log_url).close()  # schema first; the process test below covers racing migrations
    errors: list[BaseException] = []
    barrier = threading.Barrier(WRITERS)
    threads = [threading.Thread(target=_write, args=(log_url, w, errors, barrier)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    with CaseLog(log_url) as log:
        cases = log.table("cases")
        assert len(cases) == WRITERS * PER_WRITER
        assert set(cases["case_id"]) == {f"w{w}-{i}" for w in range(WRITERS) for i in range(PER_WRITER)}
        assert len(log.table("decisions")) == WRITERS * PER_WRITER // 2
        assert len(log.table("outcomes")) == WRITERS * PER_WRITER // 4
        assert int(log.cases()["confirmed"].sum()) == WRITERS * PER_WRITER // 4


CHILD = """
import sys
from skintag.caselog import CaseLog
from tests.caselog.conftest import result
url, writer, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with CaseLog(url, busy_timeout_s=5) as log:
    for i in range(n):
        cid = log.record(result(0.5), case={"case_id": f"p{writer}-{i}"})
        log.set_outcome(cid, 4)
"""


def test_eight_processes_on_a_new_sqlite_file_lose_no_row(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    n = 25
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, url, str(w), str(n)], cwd=REPO, stderr=subprocess.PIPE,
                              text=True) for w in range(WRITERS)]
    failures = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in failures), failures
    with CaseLog(url) as log:
        assert log.count() == WRITERS * n and len(log.table("outcomes")) == WRITERS * n
        assert log.revision == "0002"
