"""Case-log fixtures: every API test runs on a SQLite file and on the real PostgreSQL server that ``.ci/run``
installs and starts (``SKINTAG_TEST_POSTGRES_URL``); under CI a missing server fails the tests instead of skipping.
Each PostgreSQL test gets a schema of its own (dropped afterwards) through the connection's ``search_path``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from skintag.taxonomy import DEFAULT_CATEGORY_MAP
from skintag.triage import TriageResult, triage_from_probabilities

POSTGRES_ENV = "SKINTAG_TEST_POSTGRES_URL"
MODEL = {"name": "demo", "version": "1.0.0", "fingerprint": "f" * 64}
THRESHOLDS = {"moderate": 0.3, "high": 0.6}


def _missing(msg: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL; it must answer."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        _missing(f"{POSTGRES_ENV} is not set (.ci/run installs PostgreSQL and sets it)")
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        _missing(f"PostgreSQL at {sa.make_url(url).render_as_string(hide_password=True)} does not answer: {exc}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = sa.make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A new, empty case-log URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'caselog.sqlite3'}"
    return request.getfixturevalue("pg_schema_url")


def result(p: float | None, *, top: int = 4, domain: str | None = None, in_domain: bool | None = None,
           thresholds: dict[str, float] = THRESHOLDS) -> TriageResult | dict:
    """A real TriageResult for calibrated score ``p`` whose top condition is ``top`` (None: a rejected photo). With
    ``domain``/``in_domain``, its dict with those fields (as results of bundles with domains carry them)."""
    from skintag.triage import QualityGate, rejected_result

    if p is None:
        return rejected_result(QualityGate("reject", ("too dark",)), thresholds=thresholds, model=MODEL)
    probs = [0.0] * 10
    probs[top] = 0.7
    probs[9 if top != 9 else 8] = 0.3
    res = triage_from_probabilities(p, probs, thresholds=thresholds, category_map=DEFAULT_CATEGORY_MAP, model=MODEL)
    if domain is None and in_domain is None:
        return res
    return {**res.to_dict(), "domain": domain, "in_domain": in_domain}


def old_result(p: float) -> dict:
    """The dict of a result as SkinTag wrote it before bundles had domains (no domain fields)."""
    return {k: v for k, v in result(p).to_dict().items() if not k.startswith(("domain", "in_domain"))}
