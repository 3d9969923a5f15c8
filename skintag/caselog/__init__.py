"""The case log: triaged cases, the clinician's decisions and the confirmed outcomes in a SQL database, append-only,
with schema migrations applied on open (:mod:`skintag.caselog.log`, :mod:`skintag.caselog.db`); export and backup
(:mod:`skintag.caselog.export`, ``python -m skintag.caselog``); outcome-linked fairness monitoring
(:mod:`skintag.caselog.monitor`); and who may open the log's pages (:mod:`skintag.caselog.access`).

Public API: :class:`CaseLog` (``record``, ``set_decision``, ``set_outcome``, ``set_case_fields``, ``cases``,
``outcomes``, ``history``), :class:`CaseLogError`, :func:`default_url` and the vocabularies :data:`ACTIONS`,
:data:`CONFIRMATIONS`, :data:`CASE_FIELDS`. SQLAlchemy is imported only when one of these is first used, so
``skintag.caselog.access`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from skintag.settings import Settings

#: File name of the default SQLite case log inside the app data folder.
DEFAULT_FILE = "caselog.sqlite3"
#: Folder (inside the app data folder) of images kept with their case when the user opts in.
IMAGE_FOLDER = "caselog_images"

_LAZY = {
    "CaseLog": "skintag.caselog.log", "ACTIONS": "skintag.caselog.log", "CONFIRMATIONS": "skintag.caselog.log",
    "CASE_FIELDS": "skintag.caselog.log", "CASE_COLUMNS": "skintag.caselog.log",
    "OUTCOME_COLUMNS": "skintag.caselog.log", "CaseLogError": "skintag.caselog.db",
}
__all__ = ["DEFAULT_FILE", "IMAGE_FOLDER", "default_url", "open_log", *_LAZY]


def default_url(settings: Settings) -> str:
    """``settings.caselog_url`` (``$SKINTAG_CASELOG_URL``) if set, else a SQLite file in the app data folder."""
    if settings.caselog_url:
        return settings.caselog_url
    return "sqlite:///" + str((Path(settings.app_data_dir) / DEFAULT_FILE).expanduser().resolve())


def open_log(settings: Settings) -> Any:
    """The :class:`CaseLog` the settings name (images, when kept, go to ``<app data>/caselog_images``)."""
    from skintag.caselog.log import CaseLog

    return CaseLog(default_url(settings), image_dir=Path(settings.app_data_dir) / IMAGE_FOLDER,
                   busy_timeout_s=settings.caselog_busy_timeout_s)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skintag.caselog' has no attribute {name!r}")
