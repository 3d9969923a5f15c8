"""The data layer: one loader module per dataset (:mod:`skintag.data.datasets`), the registry that dispatches to them,
the label audit, splits and sample weights.

``from skintag.data import load_dataset, load_datasets, DATASETS`` is cheap (pandas and numpy only); the split and
weight helpers live in :mod:`skintag.data.splits` and :mod:`skintag.data.weights` (scikit-learn / scipy are imported
there). Skin type is parsed by :mod:`skintag.fitzpatrick`.
"""

from skintag.data._common import DatasetInfo, LoadedDataset
from skintag.data.audit import LabelAudit, Problem
from skintag.data.registry import (
    DATASET_NAMES,
    DATASETS,
    available_datasets,
    derived_datasets,
    distinct_images,
    load_dataset,
    load_datasets,
)
from skintag.data.schema import COLUMNS

__all__ = [
    "COLUMNS",
    "DATASETS",
    "DATASET_NAMES",
    "DatasetInfo",
    "LabelAudit",
    "LoadedDataset",
    "Problem",
    "available_datasets",
    "derived_datasets",
    "distinct_images",
    "load_dataset",
    "load_datasets",
]
