"""The case log: every triaged image as a case, with the clinician's decision and the confirmed outcome, in a SQL
database (SQLite by default, any SQLAlchemy URL such as PostgreSQL through psycopg 3).

Nothing is ever overwritten. A case row is written once (model name, version and fingerprint, the whole result JSON, the
image's SHA-256 and the case fields); a decision, an outcome or a correction of the case fields is a new row with its
time and author, and the newest row is the current one (the database refuses UPDATE and DELETE, see migration 0002).
No name, date of birth or other direct identifier is asked for: ``case_id`` and ``lesion_id`` are pseudonyms, and a case
field this module does not know is refused. The image itself is stored only when the caller opts in, under the image
folder given (the app data folder), never elsewhere.

:meth:`CaseLog.outcomes` gives the confirmed cases as a DataFrame (``y_true``, ``y_score``, ``y_pred`` and the case
fields) ready for :func:`skintag.fairness.fairness_report`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc

from skintag import fitzpatrick
from skintag.caselog import db
from skintag.caselog.schema import TABLES, case_fields, cases, decisions, outcomes
from skintag.errors import ArgumentError
from skintag.fairness.groups import age_band_order
from skintag.triage import TIERS

#: What a clinician may do with a case.
ACTIONS: tuple[str, ...] = ("biopsy", "excision", "refer", "monitor", "discharge")
#: How an outcome was confirmed.
CONFIRMATIONS: tuple[str, ...] = ("histopathology", "clinical", "follow-up")
#: The case fields :meth:`CaseLog.record` accepts (all optional); nothing else is stored about the person.
CASE_FIELDS: tuple[str, ...] = ("case_id", "lesion_id", "skin_type", "age_band", "sex", "site", "domain")
SEXES: tuple[str, ...] = ("female", "male", "other")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_TEXT_LIMITS = {"site": 64, "domain": 32}
#: The columns of :meth:`CaseLog.cases` / :meth:`CaseLog.outcomes`, in order.
CASE_COLUMNS: tuple[str, ...] = (
    "case_id", "lesion_id", "recorded_at", "skin_type", "age_band", "sex", "site", "domain", "in_domain",
    "model_name", "model_version", "model_fingerprint", "status", "tier", "score_tier", "y_score", "threshold",
    "y_pred", "image_sha256", "decision_agree", "decision_tier", "decision_action", "decided_at", "confirmed",
    "y_true", "condition_id", "diagnosis", "confirmed_by", "outcome_date", "outcome_recorded_at",
)
#: The columns of :meth:`CaseLog.outcomes` by default: what the fairness report and its grouping need.
OUTCOME_COLUMNS: tuple[str, ...] = (
    "case_id", "lesion_id", "recorded_at", "skin_type", "age_band", "sex", "site", "domain", "in_domain",
    "model_name", "model_version", "tier", "y_score", "threshold", "y_pred", "y_true", "condition_id", "diagnosis",
    "confirmed_by", "outcome_date",
)


@dataclass(frozen=True)
class StoredImage:
    """An image the user chose to keep with its case: where it lies under the log's image folder and its hash."""

    sha256: str
    file: str


def _now() -> datetime:
    return datetime.now(UTC)


def _clean_id(value: Any, name: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if not _ID.match(text):
        raise ArgumentError(
            f"{name} {text!r} is not a pseudonymous id: use 1-64 letters, digits, '.', '_', ':' or '-' (no names, "
            "dates of birth or other direct identifiers)."
        )
    return text


def _clean_text(value: Any, name: str, limit: int) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    if len(text) > limit:
        raise ArgumentError(f"{name} {text[:20]!r}… is longer than {limit} characters")
    return text


def clean_case_fields(case: Mapping[str, Any] | None, *, allow_case_id: bool = True) -> dict[str, Any]:
    """Validate the case fields of :meth:`CaseLog.record` (see :data:`CASE_FIELDS`) and return them normalised:
    skin type as an exact Fitzpatrick type 1-6 (``"IV"``, ``4`` or ``"4"``), age band one of
    ``skintag.fairness.groups.age_band_order()``, sex one of :data:`SEXES`; missing values are None.

    Raises
    ------
    ArgumentError
        An unknown field (direct identifiers such as a name or date of birth are never stored), or a bad value.
    """
    case = dict(case or {})
    allowed = CASE_FIELDS if allow_case_id else CASE_FIELDS[1:]
    unknown = sorted(set(case) - set(allowed))
    if unknown:
        raise ArgumentError(
            f"Unknown case field(s) {unknown}; the case log stores only {list(allowed)} (pseudonymous ids, no names, "
            "dates of birth or other direct identifiers)."
        )
    out: dict[str, Any] = {k: None for k in allowed}
    if allow_case_id:
        out["case_id"] = _clean_id(case.get("case_id"), "case_id")
    out["lesion_id"] = _clean_id(case.get("lesion_id"), "lesion_id")
    raw_skin = case.get("skin_type")
    skin = fitzpatrick.parse(raw_skin, accept="exact")
    if not skin.ok:
        raise ArgumentError(f"skin_type {raw_skin!r} is not a Fitzpatrick type; expected "
                            f"{fitzpatrick.EXPECTED['exact']}")
    out["skin_type"] = skin.exact
    band = _clean_text(case.get("age_band"), "age_band", 16)
    if band is not None and band.lower() != fitzpatrick.UNKNOWN and band not in age_band_order():
        raise ArgumentError(f"age_band {band!r} is not an age band; expected one of {list(age_band_order())}")
    out["age_band"] = None if band is None or band.lower() == fitzpatrick.UNKNOWN else band
    sex = _clean_text(case.get("sex"), "sex", 16)
    if sex is not None and sex.lower() not in SEXES:
        raise ArgumentError(f"sex {sex!r} is not one of {list(SEXES)} (leave it empty when not recorded)")
    out["sex"] = None if sex is None else sex.lower()
    for name, limit in _TEXT_LIMITS.items():
        out[name] = _clean_text(case.get(name), name, limit)
    return out


def condition_of(diagnosis: int | str) -> tuple[int, str, bool]:
    """A SkinTag condition by id (0-9) or name (case-insensitive) → (id, name, malignant)."""
    from skintag.taxonomy import CONDITION_IDS, CONDITIONS, MALIGNANT_IDS

    if isinstance(diagnosis, bool):
        raise ArgumentError(f"diagnosis {diagnosis!r} is not a condition id or name")
    if isinstance(diagnosis, int | np.integer) or (isinstance(diagnosis, str) and diagnosis.strip().isdigit()):
        cid = int(diagnosis)
        if not 0 <= cid < len(CONDITIONS):
            raise ArgumentError(f"diagnosis id {cid} is not a SkinTag condition id (0-{len(CONDITIONS) - 1})")
    else:
        by_name = {k.lower(): v for k, v in CONDITION_IDS.items()}
        key = str(diagnosis).strip().lower()
        if key not in by_name:
            raise ArgumentError(f"diagnosis {diagnosis!r} is not a SkinTag condition; expected one of "
                                f"{list(CONDITIONS)} or its id 0-{len(CONDITIONS) - 1}")
        cid = by_name[key]
    return cid, CONDITIONS[cid], cid in MALIGNANT_IDS


def result_payload(result: Any) -> dict[str, Any]:
    """The JSON-safe dict of a :class:`~skintag.triage.TriageResult` (its ``to_dict()``) or of such a dict."""
    payload = result.to_dict() if hasattr(result, "to_dict") else result
    if not isinstance(payload, Mapping) or "status" not in payload:
        raise ArgumentError(f"record() needs a TriageResult or its to_dict(); got {type(result).__name__}")
    return dict(payload)


def image_sha256(result: Any, image: bytes | None) -> str | None:
    """SHA-256 of the image file's bytes when given, else of the decoded RGB pixels the result carries."""
    if image is not None:
        return hashlib.sha256(image).hexdigest()
    pil = getattr(result, "image", None)
    if pil is None:
        return None
    return hashlib.sha256(pil.convert("RGB").tobytes()).hexdigest()


def _image_suffix(data: bytes) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return "." + (im.format or "bin").lower()
    except (UnidentifiedImageError, OSError):
        return ".bin"


class CaseLog:
    """The case log at a SQLAlchemy URL; opening it applies any pending schema migration.

    Parameters
    ----------
    url : ``sqlite:////abs/path/caselog.sqlite3``, a plain file path, or another SQLAlchemy URL
        (``postgresql+psycopg://user:password@host/db``).
    image_dir : folder for images kept with their case (``record(..., store_image=True)``); None: images are never
        kept.
    busy_timeout_s : how long a SQLite writer waits for another's lock before a retry.

    Raises
    ------
    CaseLogError
        The database is corrupt, locked, unreachable or of a newer schema (the message says which and what to do).
    """

    def __init__(self, url: str | Path | sa.URL, *, image_dir: str | Path | None = None,
                 busy_timeout_s: float = 30.0) -> None:
        if isinstance(url, Path) or (isinstance(url, str) and "://" not in url):
            url = sa.URL.create("sqlite", database=str(Path(url).expanduser().resolve()))
        try:
            self.url: sa.URL = sa.make_url(url)
        except exc.ArgumentError as error:
            raise ArgumentError(f"Case-log URL {str(url)!r} is not a database URL: {error}") from error
        self.image_dir = None if image_dir is None else Path(image_dir).expanduser()
        self.engine = db.make_engine(self.url, busy_timeout_s=busy_timeout_s)
        try:
            self.revision = db.migrate(self.engine, self.url)
        except Exception:
            self.engine.dispose()
            raise

    # --- life cycle ---------------------------------------------------------------------------------------------
    @property
    def where(self) -> str:
        """The database, named for messages (password hidden)."""
        return db.where(self.url)

    @property
    def path(self) -> Path | None:
        """The SQLite file (None for another database)."""
        return db.sqlite_path(self.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> CaseLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CaseLog({self.where!r})"

    def _write(self, work: Callable[[sa.Connection], Any]) -> Any:
        return db.run_write(self.engine, self.url, work)

    def _read(self, work: Callable[[sa.Connection], Any]) -> Any:
        return db.run_read(self.engine, self.url, work)

    # --- writing ------------------------------------------------------------------------------------------------
    def record(self, result: Any, *, case: Mapping[str, Any] | None = None, image: bytes | None = None,
               store_image: bool = False, author: str | None = None) -> str:
        """Log one triage result as a new case and return its ``case_id``.

        Parameters
        ----------
        result : a :class:`~skintag.triage.TriageResult` (or its ``to_dict()``); the whole JSON is stored, plus the
            columns queries need (status, tier, score, thresholds, model, and ``domain`` / ``in_domain`` when the
            result has them).
        case : optional case fields (:data:`CASE_FIELDS`); ``case_id`` is generated when not given.
        image : the image file's bytes, for its SHA-256 (else the decoded pixels the result carries are hashed).
        store_image : also keep the image file under ``image_dir`` (needs ``image`` and ``image_dir``).
        author : who recorded it (the signed-in user).

        Raises
        ------
        ArgumentError
            A bad case field, a ``case_id`` already in the log, or ``store_image`` without an image folder.
        CaseLogError
            The database cannot be written.
        """
        payload = result_payload(result)
        fields = clean_case_fields(case)
        case_id = fields.pop("case_id") or uuid.uuid4().hex[:16]
        stored = self._store_image(image, store_image) if store_image else None
        thresholds = payload.get("thresholds") or {}
        model = payload.get("model") or {}
        domain = fields.pop("domain") or (None if payload.get("domain") is None else str(payload["domain"])[:32])
        in_domain = payload.get("in_domain")
        row = {
            "case_id": case_id, "recorded_at": _now(), "author": _clean_text(author, "author", 128), **fields,
            "domain": domain, "in_domain": None if in_domain is None else bool(in_domain),
            "model_name": _str_or_none(model.get("name")), "model_version": _str_or_none(model.get("version")),
            "model_fingerprint": _str_or_none(model.get("fingerprint")),
            "status": str(payload["status"]), "tier": payload.get("tier"), "score_tier": payload.get("score_tier"),
            "p_malignant": payload.get("p_malignant"),
            "threshold_moderate": thresholds.get("moderate"), "threshold_high": thresholds.get("high"),
            "image_sha256": stored.sha256 if stored else image_sha256(result, image),
            "image_file": stored.file if stored else None,
            "result_json": json.dumps(payload, ensure_ascii=False, allow_nan=False, default=str),
        }
        try:
            self._write(lambda conn: conn.execute(sa.insert(cases), row))  # parameters apart: a cached statement
        except exc.IntegrityError as error:
            raise ArgumentError(f"Case {case_id!r} is already in the case log; give a new case_id") from error
        return case_id

    def _store_image(self, image: bytes | None, store: bool) -> StoredImage | None:
        if not store:
            return None
        if image is None or self.image_dir is None:
            raise ArgumentError("store_image=True needs the image bytes and a CaseLog image_dir (the app data folder)")
        digest = hashlib.sha256(image).hexdigest()
        name = digest + _image_suffix(image)
        target = self.image_dir / name
        try:
            self.image_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not target.exists():
                tmp = self.image_dir / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
                db.create_private_file(tmp)
                tmp.write_bytes(image)
                tmp.replace(target)
        except OSError as error:
            raise db.unwritable(target, error) from error
        return StoredImage(digest, name)

    def _require_case(self, conn: sa.Connection, case_id: str) -> None:
        if conn.execute(sa.select(cases.c.id).where(cases.c.case_id == case_id)).first() is None:
            raise ArgumentError(f"No case {case_id!r} in the case log")

    def set_decision(self, case_id: str, *, agree: bool, action: str, tier: str | None = None,
                     note: str | None = None, author: str | None = None) -> None:
        """Record the clinician's decision on a case (a new row; the newest is the current decision).

        ``agree=True`` keeps the triage tier (``tier`` may be omitted); ``agree=False`` overrides it with ``tier``
        (LOW, MODERATE or HIGH). ``action`` is one of :data:`ACTIONS`; ``note`` is free text.
        """
        if action not in ACTIONS:
            raise ArgumentError(f"action {action!r} is not one of {list(ACTIONS)}")
        if tier is not None and tier not in TIERS:
            raise ArgumentError(f"tier {tier!r} is not one of {list(TIERS)}")
        if not agree and tier is None:
            raise ArgumentError("An override (agree=False) needs the clinician's tier")
        case_id = str(case_id)

        def work(conn: sa.Connection) -> None:
            triage_tier = conn.execute(sa.select(cases.c.tier, cases.c.id).where(cases.c.case_id == case_id)).first()
            if triage_tier is None:
                raise ArgumentError(f"No case {case_id!r} in the case log")
            final = tier if tier is not None else triage_tier[0]
            if final is None:
                raise ArgumentError(f"Case {case_id!r} has no triage tier (the photo was rejected); give the tier")
            if agree and tier is not None and triage_tier[0] is not None and tier != triage_tier[0]:
                raise ArgumentError(f"agree=True but tier {tier} differs from the triage tier {triage_tier[0]}")
            conn.execute(sa.insert(decisions), {
                "case_id": case_id, "decided_at": _now(), "author": _clean_text(author, "author", 128),
                "agree": bool(agree), "tier": final, "action": action, "note": _clean_text(note, "note", 10_000)})

        self._write(work)

    def set_outcome(self, case_id: str, diagnosis: int | str, *, confirmed_by: str = "histopathology",
                    date: date | str | None = None, author: str | None = None) -> None:
        """Record a case's confirmed outcome (a new row; the newest is the current outcome).

        ``diagnosis`` is a SkinTag condition name ("Basal Cell Carcinoma") or id (0-9); ``confirmed_by`` one of
        :data:`CONFIRMATIONS`; ``date`` the date of the confirmation (a ``date`` or ISO text).
        """
        cid, name, malignant = condition_of(diagnosis)
        if confirmed_by not in CONFIRMATIONS:
            raise ArgumentError(f"confirmed_by {confirmed_by!r} is not one of {list(CONFIRMATIONS)}")
        when = _as_date(date)
        case_id = str(case_id)

        def work(conn: sa.Connection) -> None:
            self._require_case(conn, case_id)
            conn.execute(sa.insert(outcomes).values(
                case_id=case_id, recorded_at=_now(), author=_clean_text(author, "author", 128), condition_id=cid,
                diagnosis=name, malignant=malignant, confirmed_by=confirmed_by, outcome_date=when))

        self._write(work)

    def set_case_fields(self, case_id: str, *, author: str | None = None, **changes: Any) -> None:
        """Correct a case's fields (lesion_id, skin_type, age_band, sex, site, domain): a new snapshot row holding
        the current fields with ``changes`` applied. Pass a field as None to clear it."""
        check = clean_case_fields(changes, allow_case_id=False)
        case_id = str(case_id)
        names = CASE_FIELDS[1:]

        def work(conn: sa.Connection) -> None:
            self._require_case(conn, case_id)
            latest = conn.execute(
                sa.select(*[case_fields.c[n] for n in names]).where(case_fields.c.case_id == case_id)
                .order_by(case_fields.c.id.desc()).limit(1)).first()
            if latest is None:
                latest = conn.execute(sa.select(*[cases.c[n] for n in names]).where(cases.c.case_id == case_id)).one()
            current = dict(zip(names, latest, strict=True))
            current.update({k: check[k] for k in changes})
            conn.execute(sa.insert(case_fields).values(case_id=case_id, changed_at=_now(),
                                                       author=_clean_text(author, "author", 128), **current))

        self._write(work)

    # --- reading ------------------------------------------------------------------------------------------------
    def count(self) -> int:
        """Number of cases."""
        return int(self._read(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(cases)).scalar()))

    def result(self, case_id: str) -> dict[str, Any]:
        """The stored result JSON of a case, as a dict."""
        text = self._read(lambda conn: conn.execute(
            sa.select(cases.c.result_json).where(cases.c.case_id == str(case_id))).scalar())
        if text is None:
            raise ArgumentError(f"No case {case_id!r} in the case log")
        return json.loads(text)

    def cases(self, *, since: datetime | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Every case (one row each, oldest first) with its current case fields, decision and outcome: the columns
        ``columns`` (some of :data:`CASE_COLUMNS`, in that order; default all of them). ``confirmed`` says whether it
        has an outcome, ``y_true`` is 1 for a malignant outcome, 0 for a benign one, missing (<NA>) without one.
        ``y_score`` is the calibrated P(malignant) (missing for a rejected photo) and ``y_pred`` the triage rule's
        call (1 = MODERATE or HIGH, i.e. referred; ``threshold`` is the screening point it applied). Times are UTC.
        Asking only for the columns a view needs (e.g. :data:`skintag.caselog.monitor.MONITOR_COLUMNS`) reads a large
        log several times faster: the histories no column needs are not joined."""
        names = _columns(columns)
        return self._read(lambda conn: _frame(conn, since, names))

    def outcomes(self, *, since: datetime | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The cases with a confirmed outcome and a score (the rows of :meth:`cases` where ``confirmed`` and
        ``y_score`` is known), with ``columns`` (default :data:`OUTCOME_COLUMNS`: ``y_true`` as 0/1 int, ``y_score``,
        ``y_pred`` as 0/1 int, ``threshold``, ``skin_type`` (1-6 or missing), the other case fields, the model and the
        diagnosis) — the input of :func:`skintag.fairness.fairness_report`. Filtered in the database (an inner join
        to each case's newest outcome)."""
        names = _columns(OUTCOME_COLUMNS if columns is None else columns)
        df = self._read(lambda conn: _frame(conn, since, names, confirmed_only=True))
        for n in ("y_true", "y_pred"):
            if n in df:
                df[n] = df[n].astype(int)
        return df

    def history(self, case_id: str) -> pd.DataFrame:
        """Every row about a case, oldest first: ``at``, ``author``, ``kind`` (recorded / fields / decision /
        outcome) and what it said."""
        case_id = str(case_id)

        def work(conn: sa.Connection) -> list[dict[str, Any]]:
            first = conn.execute(sa.select(cases).where(cases.c.case_id == case_id)).mappings().first()
            if first is None:
                raise ArgumentError(f"No case {case_id!r} in the case log")
            rows = [{"at": first["recorded_at"], "author": first["author"], "kind": "recorded",
                     "detail": f"tier {first['tier']}, score {first['p_malignant']}, model {first['model_name']} "
                               f"v{first['model_version']}"}]
            for table, when, kind, fmt in (
                (case_fields, "changed_at", "fields", _fields_detail),
                (decisions, "decided_at", "decision", _decision_detail),
                (outcomes, "recorded_at", "outcome", _outcome_detail),
            ):
                for r in conn.execute(sa.select(table).where(table.c.case_id == case_id).order_by(table.c.id)).mappings():
                    rows.append({"at": r[when], "author": r["author"], "kind": kind, "detail": fmt(r)})
            return rows

        rows = self._read(work)
        out = pd.DataFrame(rows, columns=["at", "author", "kind", "detail"])
        out["at"] = _utc(out["at"])
        return out.sort_values("at", kind="stable").reset_index(drop=True)

    def table(self, name: str) -> pd.DataFrame:
        """One table of the log as it is stored (``cases``, ``case_fields``, ``decisions`` or ``outcomes``)."""
        if name not in TABLES:
            raise ArgumentError(f"Unknown case-log table {name!r}; expected one of {list(TABLES)}")
        t = TABLES[name]

        def work(conn: sa.Connection) -> pd.DataFrame:
            res = conn.execute(sa.select(t).order_by(t.c.id))
            return pd.DataFrame(res.fetchall(), columns=list(res.keys()))

        return self._read(work)


def _str_or_none(v: Any) -> str | None:
    return None if v is None else str(v)


def _as_date(value: date | str | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as error:
        raise ArgumentError(f"date {value!r} is not a date (YYYY-MM-DD)") from error


def _fields_detail(r: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={r[k]}" for k in CASE_FIELDS[1:] if r[k] is not None) or "all fields cleared"


def _decision_detail(r: Mapping[str, Any]) -> str:
    verb = "agreed" if r["agree"] else "overrode"
    return f"{verb}: tier {r['tier']}, action {r['action']}" + (f" — {r['note']}" if r["note"] else "")


def _outcome_detail(r: Mapping[str, Any]) -> str:
    when = f" on {r['outcome_date']}" if r["outcome_date"] else ""
    return f"{r['diagnosis']} ({'malignant' if r['malignant'] else 'benign'}), {r['confirmed_by']}{when}"


def _utc(series: pd.Series) -> pd.Series:
    """Datetimes as UTC (SQLite returns them naive, in the UTC they were written in; aware ones are converted)."""
    return pd.to_datetime(series, utc=True, format="ISO8601")


#: The case fields, current value = the newest ``case_fields`` snapshot when there is one, else the ``cases`` row.
_FIELD_NAMES = ("lesion_id", "skin_type", "age_band", "sex", "site", "domain")
#: Output column → column of the newest decision / outcome row it comes from.
_DECISION_SOURCE = {"decision_agree": "agree", "decision_tier": "tier", "decision_action": "action",
                    "decided_at": "decided_at"}
_OUTCOME_SOURCE = {"y_true": "malignant", "condition_id": "condition_id", "diagnosis": "diagnosis",
                   "confirmed_by": "confirmed_by", "outcome_date": "outcome_date", "outcome_recorded_at": "recorded_at"}
_CASE_SOURCE = {"y_score": "p_malignant", "threshold": "threshold_moderate"}
_TIMES = ("recorded_at", "decided_at", "outcome_recorded_at")


def _columns(columns: Sequence[str] | None) -> tuple[str, ...]:
    if columns is None:
        return CASE_COLUMNS
    names = tuple(dict.fromkeys(columns))
    unknown = [n for n in names if n not in CASE_COLUMNS]
    if unknown:
        raise ArgumentError(f"Unknown case-log column(s) {unknown}; expected some of {list(CASE_COLUMNS)}")
    return names


def _newest(table: sa.Table, name: str, dialect: str) -> tuple[sa.Alias, sa.FromClause, sa.ColumnElement[bool]]:
    """``table`` aliased as ``name``, joined so that only each case's newest row of it is kept: ``(from, on)`` to join
    to ``cases``. SQLite: a correlated ``max(id)`` per case, which the ``(case_id)`` index of each history table answers
    by a seek (SQLite's index entries end with the row id; no temporary index is built for a materialised GROUP BY).
    PostgreSQL: the newest id per case from one GROUP BY (a hash aggregate), then hash joins."""
    row = table.alias(name)
    if dialect == "sqlite":
        older = table.alias(f"{name}_all")
        newest = sa.select(sa.func.max(older.c.id)).where(older.c.case_id == cases.c.case_id).correlate(cases)
        return row, row, row.c.id == newest.scalar_subquery()
    latest = sa.select(table.c.case_id, sa.func.max(table.c.id).label("id")).group_by(table.c.case_id) \
        .subquery(f"{name}_newest")
    return row, latest.join(row, row.c.id == latest.c.id), latest.c.case_id == cases.c.case_id


def _frame(conn: sa.Connection, since: datetime | None, columns: Sequence[str] | None = None, *,
           confirmed_only: bool = False) -> pd.DataFrame:
    """One row per case (oldest first) with ``columns`` (default :data:`CASE_COLUMNS`). Only the histories the
    columns need are joined; current case fields and ``y_pred`` are computed in SQL; ``confirmed_only`` keeps the
    cases with an outcome and a score (an inner join to the newest outcome)."""
    names = _columns(columns)
    want = set(names)
    source: sa.FromClause = cases
    f = d = o = None
    dialect = conn.dialect.name
    if want & set(_FIELD_NAMES):
        f, joined, on = _newest(case_fields, "f", dialect)
        source = source.outerjoin(joined, on)
    if want & set(_DECISION_SOURCE):
        d, joined, on = _newest(decisions, "d", dialect)
        source = source.outerjoin(joined, on)
    if confirmed_only or want & {"confirmed", *_OUTCOME_SOURCE}:
        o, joined, on = _newest(outcomes, "o", dialect)
        source = source.join(joined, on) if confirmed_only else source.outerjoin(joined, on)
    selected = []
    for n in names:
        if n in _FIELD_NAMES:
            expr = sa.case((f.c.id.is_(None), cases.c[n]), else_=f.c[n])
        elif n == "y_pred":
            expr = sa.case((cases.c.tier.in_(("MODERATE", "HIGH")), 1), else_=0)
        elif n == "confirmed":
            expr = sa.case((o.c.id.is_(None), 0), else_=1)
        elif n in _DECISION_SOURCE:
            expr = d.c[_DECISION_SOURCE[n]]
        elif n in _OUTCOME_SOURCE:
            expr = o.c[_OUTCOME_SOURCE[n]]
        else:
            expr = cases.c[_CASE_SOURCE.get(n, n)]
        selected.append(expr.label(n))
    stmt = sa.select(*selected).select_from(source).order_by(cases.c.id)
    if confirmed_only:
        stmt = stmt.where(cases.c.p_malignant.is_not(None))
    if since is not None:
        stmt = stmt.where(cases.c.recorded_at >= since)
    res = conn.execute(stmt)
    # The driver's plain tuples, converted below column by column: SQLAlchemy's per-value processing and Row objects
    # cost seconds at 100,000 cases. SQLite gives ISO text for times and 0/1 for booleans, psycopg Python objects.
    df = pd.DataFrame.from_records(res.cursor.fetchall(), columns=list(names), coerce_float=False)
    res.close()
    for n in ("skin_type", "condition_id"):
        if n in want:
            df[n] = pd.to_numeric(df[n], errors="coerce").astype("Int64")
    for n in ("y_score", "threshold"):
        if n in want:
            df[n] = pd.to_numeric(df[n], errors="coerce").astype(float)
    if "y_pred" in want:
        df["y_pred"] = df["y_pred"].astype(int)
    if "confirmed" in want:
        df["confirmed"] = df["confirmed"].astype(bool)
    if "y_true" in want:
        df["y_true"] = df["y_true"].astype("boolean").astype("Int64")
    for n in ("in_domain", "decision_agree"):
        if n in want:
            df[n] = df[n].astype("boolean")
    for n in _TIMES:
        if n in want:
            df[n] = _utc(df[n])
    if "outcome_date" in want:
        df["outcome_date"] = pd.to_datetime(df["outcome_date"], format="ISO8601")
    return df
