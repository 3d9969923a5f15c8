"""The dataset registry: which loader modules exist, and the entry points that dispatch to them.

A dataset is added by writing ``skintag/data/datasets/<name>.py`` (``INFO``, ``is_present``, ``load``) and listing the
module in :data:`_MODULES`; nothing else names it. The order of :data:`_MODULES` is the display order everywhere (full-size
photos first, DermaMNIST's 28-px images last).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pandas as pd

from skintag.data._common import DatasetInfo, LoadedDataset
from skintag.data.audit import LabelAudit
from skintag.data.datasets import bcn20000, ddi, dermamnist, fitzpatrick17k, ham10000, pad_ufes_20
from skintag.data.schema import COLUMNS
from skintag.errors import ConfigError

_MODULES: tuple[ModuleType, ...] = (ham10000, ddi, fitzpatrick17k, pad_ufes_20, bcn20000, dermamnist)
_BY_NAME: dict[str, ModuleType] = {m.INFO.name: m for m in _MODULES}

#: Every dataset's description, by registry name, in display order.
DATASETS: dict[str, DatasetInfo] = {name: m.INFO for name, m in _BY_NAME.items()}
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)


def _module(name: str) -> ModuleType:
    if name not in _BY_NAME:
        raise ConfigError(f"Unknown dataset {name!r}; expected one of {list(_BY_NAME)}")
    return _BY_NAME[name]


def available_datasets(root: str | Path) -> dict[str, bool]:
    """Which datasets have their metadata under ``root`` (for the Explorer's empty state); reads no file."""
    return {name: bool(m.is_present(Path(root))) for name, m in _BY_NAME.items()}


def load_dataset(name: str, root: str | Path, *, strict: bool = False, **options: object) -> LoadedDataset:
    """Load one dataset as the unified table (one row per image; see :mod:`skintag.data.schema`) and its label audit.

    Parameters
    ----------
    name : one of :data:`DATASET_NAMES`.
    root : the data root holding one folder per dataset.
    strict : raise :class:`~skintag.errors.LabelError` / :class:`~skintag.errors.DataFileError` on the first problem
        that is an error (unknown label, bad Fitzpatrick value, unreadable row, bad value) instead of reporting it.
    options : loader-specific keywords (e.g. ``require_images=True``, ``source="npz"``, ``metadata=path``).

    Returns
    -------
    LoadedDataset
        ``.table`` (the unified columns) and ``.audit`` (the :class:`~skintag.data.audit.LabelAudit`).

    Raises
    ------
    ConfigError
        For an unknown dataset name.
    DataFileError
        If the dataset's metadata file is missing or unreadable (the message names the path and the expected file).
    """
    return _module(name).load(Path(root), strict=strict, **options)


def load_datasets(names: Iterable[str], root: str | Path, *, strict: bool = False) -> LoadedDataset:
    """Load several datasets: their tables concatenated (in the order given) and their audits merged."""
    loaded = [load_dataset(name, root, strict=strict) for name in names]
    if not loaded:
        raise ConfigError("load_datasets needs at least one dataset name")
    table = pd.concat([x.table for x in loaded], ignore_index=True)[COLUMNS]
    return LoadedDataset(table, LabelAudit.merge(x.audit for x in loaded))


def derived_datasets(names: Iterable[str]) -> dict[str, str]:
    """Among ``names``, each dataset whose source dataset is also in ``names`` → that source.

    Their images are the source's images again, so a count across datasets must take them once (see
    :func:`distinct_images`).
    """
    chosen = list(dict.fromkeys(names))
    return {
        name: str(DATASETS[name].derived_from)
        for name in chosen
        if name in DATASETS and DATASETS[name].derived_from in chosen
    }


def distinct_images(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without the rows of derived datasets whose source dataset is also in it (DermaMNIST beside HAM10000):
    each image counted once, as its source's."""
    derived = derived_datasets(table["dataset"].unique())
    return table[~table["dataset"].isin(list(derived))] if derived else table
