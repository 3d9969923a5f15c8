"""The label audit: how every raw label was mapped, and every problem met while loading.

A loader never drops a row or sends a label to "Other" without a trace: it counts each raw label with the condition it
went to and *how* (``exact``, ``keyword``, ``partition`` or ``unmapped→Other``), and records each problem (a missing
image file, an unreadable row, an unknown label, a bad Fitzpatrick value) as a :class:`Problem` naming the dataset, file,
row, column, value and what was expected. A load returns the audit beside the table
(:class:`~skintag.data.LoadedDataset`); with ``strict=True`` the first error is raised instead
(:meth:`LabelAudit.raise_for_errors`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from skintag.errors import DataFileError, LabelError
from skintag.taxonomy import CONDITIONS, UNMAPPED

#: Problem kinds.
MISSING_IMAGE = "missing image file"
UNREADABLE_ROW = "unreadable row"
UNKNOWN_LABEL = "unknown label"
BAD_FITZPATRICK = "bad Fitzpatrick value"
BAD_VALUE = "bad value"

#: Kinds that are errors (``strict=True`` raises on them). Missing images are warnings: most datasets are used with a
#: subset of their images (metadata for all rows, images for some), so they are summarised, and only raise when a loader
#: is called with ``require_images=True``.
ERROR_KINDS = frozenset({UNREADABLE_ROW, UNKNOWN_LABEL, BAD_FITZPATRICK, BAD_VALUE})

PROBLEM_COLUMNS = ["dataset", "file", "row", "column", "value", "expected", "problem", "severity", "count"]
LABEL_COLUMNS = ["dataset", "raw_label", "condition_id", "condition_name", "count", "mapped_by"]


@dataclass(frozen=True)
class Problem:
    """One problem met while loading.

    ``row`` is the line number in the file (the header is line 1) for CSV files, the array index for ``.npz`` files, and
    ``None`` for a summary record (e.g. "1512 of 1512 image files missing").
    """

    dataset: str
    file: str
    row: int | None
    column: str
    value: str
    expected: str
    problem: str
    #: how many rows the record stands for (a summary or a distinct unknown label covers several)
    count: int = 1

    @property
    def severity(self) -> str:
        return "error" if self.problem in ERROR_KINDS else "warning"

    def message(self) -> str:
        where = f"{self.file}" + (f" row {self.row}" if self.row is not None else "")
        col = f" column {self.column!r}" if self.column else ""
        rows = f" ({self.count} rows)" if self.count > 1 else ""
        return f"{self.dataset}: {self.problem} in {where}{col}: value {self.value!r}{rows}; expected {self.expected}"


@dataclass
class LabelAudit:
    """Raw label → condition counts plus the problems of one or more loads.

    Attributes
    ----------
    labels : Counter keyed by ``(dataset, raw_label, condition_id, mapped_by)``.
    problems : list of :class:`Problem`, in the order met.
    """

    labels: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)

    # -- building -------------------------------------------------------------------------------------------------
    def add_label(self, dataset: str, raw_label: str, condition_id: int, mapped_by: str, count: int = 1) -> None:
        self.labels[(dataset, str(raw_label), int(condition_id), mapped_by)] += int(count)

    def add_problem(self, problem: Problem) -> None:
        self.problems.append(problem)

    @classmethod
    def merge(cls, audits: Iterable[LabelAudit]) -> LabelAudit:
        out = cls()
        for audit in audits:
            out.labels.update(audit.labels)
            out.problems.extend(audit.problems)
        return out

    # -- reading --------------------------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The label table: dataset, raw_label, condition_id, condition_name, count, mapped_by (by dataset, count desc)."""
        rows = [(ds, raw, cid, CONDITIONS[cid], n, how) for (ds, raw, cid, how), n in self.labels.items()]
        df = pd.DataFrame(rows, columns=LABEL_COLUMNS)
        if df.empty:
            return df.astype({"condition_id": "int64", "count": "int64"})
        return df.sort_values(["dataset", "count", "raw_label"], ascending=[True, False, True], ignore_index=True)

    def problems_frame(self) -> pd.DataFrame:
        """The problems as a table with :data:`PROBLEM_COLUMNS` (``row`` is nullable Int64)."""
        df = pd.DataFrame(
            [
                (p.dataset, p.file, p.row, p.column, p.value, p.expected, p.problem, p.severity, p.count)
                for p in self.problems
            ],
            columns=PROBLEM_COLUMNS,
        )
        df["row"] = df["row"].astype("Int64")
        return df

    def unmapped(self, dataset: str | None = None) -> pd.DataFrame:
        """Labels that no map knew (sent to Other and recorded as ``unmapped→Other``)."""
        df = self.to_frame()
        df = df[df["mapped_by"] == UNMAPPED]
        if dataset is not None:
            df = df[df["dataset"] == dataset]
        return df.reset_index(drop=True)

    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def raise_for_errors(self, *, include_missing_images: bool = False) -> None:
        """Raise the first error problem (and say how many more there are).

        :class:`~skintag.errors.LabelError` for unknown labels and bad Fitzpatrick values,
        :class:`~skintag.errors.DataFileError` for unreadable rows, bad values and (if asked) missing images.
        """
        bad = [
            p for p in self.problems if p.severity == "error" or (include_missing_images and p.problem == MISSING_IMAGE)
        ]
        if not bad:
            return
        first = bad[0]
        more = f" (and {len(bad) - 1} more problem(s))" if len(bad) > 1 else ""
        exc = LabelError if first.problem in (UNKNOWN_LABEL, BAD_FITZPATRICK) else DataFileError
        raise exc(first.message() + more)

    def __bool__(self) -> bool:  # an empty audit is still an audit
        return True

    def __repr__(self) -> str:
        return f"LabelAudit({len(self.labels)} label entries, {len(self.problems)} problems)"
