"""Fairness-aware sample weights (docs/SPEC.md §3): ``w = w_domain × w_fitz``.

* ``w_domain`` gives each imaging domain an equal share of the loss: a domain with ``n_d`` of ``N`` rows gets
  ``N / (D · n_d)`` per row (``D`` = number of domains present), so every domain's weights sum to ``N / D``.
* ``w_fitz``, within a domain, is inversely proportional to the frequency of the row's (Fitzpatrick group, label) pair:
  ``1 / count(pair)``. Rows of unknown skin type get the median of the known rows' ``w_fitz`` in that domain (1 when the
  domain has no known skin type at all). ``w_fitz`` is then rescaled to mean 1 within the domain, so it redistributes
  weight inside a domain without changing the domain's share.

The weights go into the loss (``sample_weight``); nothing is duplicated. Their overall mean is 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skintag.errors import ConfigError
from skintag.fitzpatrick import UNKNOWN


def fairness_weights(
    df: pd.DataFrame,
    *,
    label_col: str = "malignant",
    group_col: str = "fitzpatrick_group",
    domain_col: str = "domain",
) -> np.ndarray:
    """Per-row sample weights ``w_domain × w_fitz`` (see module docstring).

    Parameters
    ----------
    df : rows to weight (typically the training split of the unified table).
    label_col : the label whose balance matters (default the binary ``malignant``; ``condition_id`` also works).
    group_col : the skin-type group column; ``"unknown"`` or missing values count as unknown.
    domain_col : the imaging-domain column.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(len(df),)``, positive, mean 1.
    """
    for col in (label_col, group_col, domain_col):
        if col not in df:
            raise ConfigError(f"fairness_weights needs column {col!r}; the table has {list(df.columns)}")
    n = len(df)
    if n == 0:
        return np.zeros(0, dtype=float)
    domain = df[domain_col].astype(str).to_numpy()
    group = df[group_col].astype(object).where(df[group_col].notna(), UNKNOWN).astype(str).to_numpy()
    label = df[label_col].astype(str).to_numpy()
    unknown = group == UNKNOWN

    domains, domain_codes = np.unique(domain, return_inverse=True)
    domain_counts = np.bincount(domain_codes)
    w_domain = n / (len(domains) * domain_counts[domain_codes])

    w_fitz = np.ones(n, dtype=float)
    for d in range(len(domains)):
        in_domain = domain_codes == d
        known = in_domain & ~unknown
        if known.any():
            pair = pd.Series(group[known]) + "\x00" + pd.Series(label[known])
            counts = pair.map(pair.value_counts()).to_numpy(dtype=float)
            w_fitz[known] = 1.0 / counts
            w_fitz[in_domain & unknown] = float(np.median(w_fitz[known]))
        w_fitz[in_domain] /= w_fitz[in_domain].mean()
    return w_domain * w_fitz
