"""The data layer: one loader per dataset returning the unified table, the label audit, splits and sample weights.

``from skintag.data import load_dataset, load_datasets, DATASETS`` is cheap (pandas and numpy only); the split and
weight helpers live in :mod:`skintag.data.splits` and :mod:`skintag.data.weights` (scikit-learn / scipy are imported there).
"""

from skintag.data.audit import LabelAudit, Problem
from skintag.data.loaders import (
    DATASET_NAMES,
    DATASETS,
    DatasetInfo,
    available_datasets,
    load_bcn20000,
    load_dataset,
    load_datasets,
    load_ddi,
    load_dermamnist,
    load_fitzpatrick17k,
    load_ham10000,
    load_pad_ufes_20,
)
from skintag.data.schema import COLUMNS, FITZPATRICK_GROUPS, parse_fitzpatrick

__all__ = [
    "COLUMNS",
    "DATASETS",
    "DATASET_NAMES",
    "FITZPATRICK_GROUPS",
    "DatasetInfo",
    "LabelAudit",
    "Problem",
    "available_datasets",
    "load_bcn20000",
    "load_dataset",
    "load_datasets",
    "load_ddi",
    "load_dermamnist",
    "load_fitzpatrick17k",
    "load_ham10000",
    "load_pad_ufes_20",
    "parse_fitzpatrick",
]
