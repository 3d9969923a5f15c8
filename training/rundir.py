"""The run directory: where every stage reads its inputs and writes its outputs, so stages run separately and resume.

It also owns the one door to the unified table, :meth:`RunDir.rows`, which refuses test rows to every stage except
``evaluate`` and logs every access to ``access_log.jsonl`` (the tests read that log to prove the test split was
touched only by the final evaluation).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from skintag.errors import SkintagError

TEST_READER = "evaluate"

# Columns read back as strings (identifiers and categorical text), whatever they look like.
_STR_COLUMNS = (
    "image_path", "dataset", "domain", "raw_label", "fitzpatrick_group", "fitzpatrick_source", "patient_id",
    "lesion_id", "sex", "site", "image_id", "official_split", "split",
)


class MissingStageOutputError(SkintagError):
    """A stage needs a file that an earlier stage writes, and it is not there."""


class TestSplitAccessError(SkintagError):
    """A stage other than ``evaluate`` asked for test rows."""

    __test__ = False  # not a pytest test class despite its name


class RunDir:
    """Paths and guarded data access for one pipeline run.

    Parameters
    ----------
    root : the run directory (created on first write).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._table: pd.DataFrame | None = None

    # -- layout -------------------------------------------------------------------------------------------------
    def stage_dir(self, stage: str) -> Path:
        path = self.root / stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def table_path(self) -> Path:
        return self.root / "prepare" / "table.csv"

    @property
    def splits_path(self) -> Path:
        return self.root / "prepare" / "splits.csv"

    @property
    def cache_dir(self) -> Path:
        return self.root / "embedding_cache"

    def require(self, path: Path, *, stage: str, producer: str) -> Path:
        """Return ``path`` if it exists, else raise naming the stage to run first."""
        if not path.exists():
            raise MissingStageOutputError(
                f"Stage '{stage}' needs {path}, which stage '{producer}' writes; it is missing. "
                f"Run `python -m training {producer} --config <config>` first (or `all`)."
            )
        return path

    def done(self, stage: str, info: dict[str, Any] | None = None) -> None:
        """Mark a stage complete (with a small JSON summary)."""
        payload = {"stage": stage, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(info or {})}
        write_json(self.stage_dir(stage) / "DONE.json", payload)

    def is_done(self, stage: str) -> bool:
        return (self.root / stage / "DONE.json").is_file()

    def read_done(self, stage: str) -> dict[str, Any]:
        return read_json(self.require(self.root / stage / "DONE.json", stage=stage, producer=stage))

    # -- guarded data access ------------------------------------------------------------------------------------
    def _load_table(self, stage: str) -> pd.DataFrame:
        if self._table is None:
            path = self.require(self.table_path, stage=stage, producer="prepare")
            dtypes: dict[str, Any] = {c: "string" for c in _STR_COLUMNS}
            dtypes.update({"fitzpatrick": "Int64", "fitzpatrick_centaur": "Int64"})
            table = pd.read_csv(path, dtype=dtypes, keep_default_na=True)
            table["has_image"] = table["has_image"].astype(bool)
            self._table = table
        return self._table

    def rows(self, split: str, *, stage: str) -> pd.DataFrame:
        """Rows of one split ("train", "val" or "test") of the prepared table, for ``stage``.

        Raises
        ------
        TestSplitAccessError
            If ``split == "test"`` and ``stage`` is not ``evaluate``: only the final evaluation may read test rows.
        """
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        if split == "test" and stage != TEST_READER:
            raise TestSplitAccessError(
                f"Stage '{stage}' asked for test rows; only '{TEST_READER}' may read the test split "
                "(validation is for early stopping, model selection, calibration and thresholds)."
            )
        table = self._load_table(stage)
        out = table[table["split"] == split].reset_index(drop=True)
        with (self.root / "access_log.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"stage": stage, "split": split, "n": len(out)}) + "\n")
        return out

    def domain_rows(self, name: str, *, stage: str) -> pd.DataFrame:
        """Rows of an extra image domain (``domains.others``) written by ``prepare``; logged like every access."""
        path = self.require(self.root / "prepare" / f"domain_{name}.csv", stage=stage, producer="prepare")
        dtypes: dict[str, Any] = {c: "string" for c in _STR_COLUMNS}
        dtypes.update({"fitzpatrick": "Int64", "fitzpatrick_centaur": "Int64"})
        out = pd.read_csv(path, dtype=dtypes, keep_default_na=True)
        with (self.root / "access_log.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"stage": stage, "split": f"domain:{name}", "n": len(out)}) + "\n")
        return out

    def access_log(self) -> list[dict[str, Any]]:
        path = self.root / "access_log.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
