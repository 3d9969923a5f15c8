"""Train / validation / test splits: grouped, stratified, seeded, and written to disk once.

Rows are grouped so that no patient and no lesion crosses splits: two rows are in the same group when they share a
``patient_id``, a ``lesion_id`` or a ``near_duplicate_group`` within a dataset (connected components, so a patient with
several lesions stays whole); a row with none is its own group (split by image). Datasets without patient or lesion ids
(DDI, Fitzpatrick17k) get ``near_duplicate_group`` from :func:`near_duplicate_groups`: images whose embeddings have a
cosine similarity above a threshold are linked (the same lesion photographed twice, crops and resizes of one photo). Each group is one sample for scikit-learn's ``StratifiedKFold``,
stratified by ``(malignant, domain)`` of the group (malignant if any of its rows is): the groups are cut into ``n_folds``
(default 20) balanced folds and whole folds go to test and validation (``round(test_frac * n_folds)`` and
``round(val_frac * n_folds)`` folds, in a seeded random order), so the fractions are met to within one fold (5 %) and
each split has about the same malignant rate per domain. (``StratifiedGroupKFold`` gives the same guarantee but its
per-group loop took about a minute on the 40,000 groups of the combined data; stratifying whole groups takes well under
a second.)

``use_official=True`` keeps a dataset's own split where it has one (DermaMNIST's MedMNIST split, HAM10000's ISIC 2018
test rows); rows without one, but grouped with rows that have one, follow their group; the rest are split as above.

The split file is CSV ``dataset,image_id,split`` sorted by ``(dataset, image_id)`` with LF endings, so
:func:`split_hash` (SHA-256 of the bytes) identifies a split exactly.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from skintag.errors import ConfigError, DataFileError

SPLIT_COLUMNS = ["dataset", "image_id", "split"]
SPLIT_VALUES = ("train", "val", "test")
_REQUIRED = ("dataset", "image_id", "malignant", "domain")


def group_ids(df: pd.DataFrame) -> np.ndarray:
    """Integer group label per row: connected components of rows sharing a patient or a lesion (within a dataset).

    Rows without ``patient_id`` and ``lesion_id`` are singletons (their own image).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(df)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    offset = n
    dataset = df["dataset"].astype(str).to_numpy()
    for column in ("patient_id", "lesion_id", "near_duplicate_group"):
        if column not in df:
            continue
        values = df[column]
        known = values.notna().to_numpy() & (values.astype(str).str.strip() != "").to_numpy()
        if not known.any():
            continue
        keys = pd.Series(dataset[known]) + "\x00" + values[known].astype(str).str.strip().to_numpy()
        codes, uniques = pd.factorize(keys)
        rows.append(np.flatnonzero(known))
        cols.append(codes + offset)
        offset += len(uniques)
    if not rows:
        return np.arange(n)
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(offset, offset))
    _, labels = connected_components(graph, directed=False)
    return labels[:n]


def near_duplicate_groups(embeddings: np.ndarray, threshold: float = 0.95, *, block: int = 2048) -> np.ndarray:
    """Group label per row: connected components of the graph that links two rows whose embeddings have a cosine
    similarity above ``threshold`` (so near-duplicates of near-duplicates share a group). Labels are 0..k-1 in order
    of first appearance; a row with no near-duplicate is a group of its own.

    Parameters
    ----------
    embeddings : (N, D) array (any scale; rows are L2-normalised here; an all-zero row links to nothing).
    threshold : cosine similarity above which two images are taken to show the same lesion, in (-1, 1].
    block : rows per block of the similarity product (memory is ``block * N`` floats).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"near_duplicate_groups needs an (N, D) array, got shape {x.shape}")
    if not -1.0 < threshold <= 1.0:
        raise ConfigError(f"near-duplicate threshold must be in (-1, 1], got {threshold}")
    n = len(x)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for start in range(0, n, block):
        sim = x[start : start + block] @ x.T
        i, j = np.nonzero(sim > threshold)
        keep = (i + start) < j
        rows.append(i[keep] + start)
        cols.append(j[keep])
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    relabel = np.empty(len(order), dtype=np.int64)
    relabel[order] = np.arange(len(order))
    return relabel[labels]


def _check(df: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in df]
    if missing:
        raise ConfigError(f"make_splits needs columns {list(_REQUIRED)}; missing {missing}")
    if df[["dataset", "image_id"]].duplicated().any():
        dup = df.loc[df[["dataset", "image_id"]].duplicated(), ["dataset", "image_id"]].iloc[0].tolist()
        raise ConfigError(f"(dataset, image_id) must be unique to key a split; {dup} appears twice")


def make_splits(
    df: pd.DataFrame,
    *,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    random_state: int = 0,
    use_official: bool = False,
    n_folds: int = 20,
) -> pd.Series:
    """Assign every row to "train", "val" or "test".

    Parameters
    ----------
    df : the unified table (needs dataset, image_id, malignant, domain; patient_id / lesion_id / official_split used
        when present).
    val_frac, test_frac : target fractions of rows (met to within ``1 / n_folds``).
    random_state : seed of the fold assignment (same seed and data → same split).
    use_official : keep ``official_split`` where present (see module docstring).
    n_folds : granularity of the stratified group folds.

    Returns
    -------
    pandas.Series
        Named ``"split"``, indexed like ``df``.
    """
    from sklearn.model_selection import StratifiedKFold

    _check(df)
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ConfigError(f"val_frac={val_frac} and test_frac={test_frac} must be in [0, 1) with a sum below 1")
    n = len(df)
    out = np.array(["train"] * n, dtype=object)
    groups = group_ids(df)
    todo = np.ones(n, dtype=bool)

    if use_official and "official_split" in df:
        official = df["official_split"].to_numpy(dtype=object)
        has = pd.notna(official)
        bad = set(official[has]) - set(SPLIT_VALUES)
        if bad:
            raise ConfigError(f"official_split holds {sorted(bad)}; expected {list(SPLIT_VALUES)}")
        out[has] = official[has]
        todo[has] = False
        # rows without an official split follow their group's (most common) official split
        pairs = pd.DataFrame({"group": groups[has], "split": official[has].astype(str)})
        counted = pairs.value_counts().reset_index(name="n").sort_values(["n", "split"], ascending=[False, True])
        group_split = counted.drop_duplicates("group").set_index("group")["split"]
        follow = ~has & np.isin(groups, group_split.index.to_numpy())
        out[follow] = group_split.reindex(groups[follow]).to_numpy()
        todo[follow] = False

    idx = np.flatnonzero(todo)
    k_test = int(round(test_frac * n_folds))
    k_val = int(round(val_frac * n_folds))
    if len(idx) and (k_test or k_val):
        sub_groups = groups[idx]
        n_groups = len(np.unique(sub_groups))
        folds_wanted = k_test + k_val
        if n_groups <= folds_wanted:
            raise ConfigError(
                f"only {n_groups} patient/lesion/image groups to split; need more than {folds_wanted} for val_frac="
                f"{val_frac}, test_frac={test_frac} with n_folds={n_folds}"
            )
        folds = min(n_folds, n_groups)
        # one sample per group, stratified by the group's domain and whether it holds any malignant row
        sub = pd.DataFrame(
            {
                "group": sub_groups,
                "malignant": df["malignant"].to_numpy()[idx].astype(int),
                "domain": df["domain"].astype(str).to_numpy()[idx],
            }
        )
        per_group = sub.groupby("group", sort=True).agg(malignant=("malignant", "max"), domain=("domain", "first"))
        strata = per_group["malignant"].astype(str).to_numpy() + "|" + per_group["domain"].to_numpy()
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
        group_fold = np.empty(len(per_group), dtype=np.int64)
        with warnings.catch_warnings():
            # "The least populated class in y has only k members": expected for rare strata
            warnings.simplefilter("ignore", UserWarning)
            for f, (_, test_index) in enumerate(splitter.split(np.zeros(len(per_group)), strata)):
                group_fold[test_index] = f
        fold_of = group_fold[np.searchsorted(per_group.index.to_numpy(), sub_groups)]
        # a random (seeded) order of folds, so fold 0 (which StratifiedGroupKFold fills first) is not always test
        order = np.random.default_rng(random_state).permutation(folds)
        rank = np.empty(folds, dtype=np.int64)
        rank[order] = np.arange(folds)
        r = rank[fold_of]
        assigned = np.where(r < k_test, "test", np.where(r < k_test + k_val, "val", "train"))
        out[idx] = assigned
    return pd.Series(out, index=df.index, name="split", dtype="str")


# ---------------------------------------------------------------------------------------------------------------------
# Persistence


def split_table(splits: pd.Series | pd.DataFrame, df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Normalise a split into the ``dataset, image_id, split`` table (sorted by dataset, image_id)."""
    if isinstance(splits, pd.DataFrame):
        if "split" not in splits:
            raise ConfigError("a split DataFrame needs a 'split' column (plus dataset and image_id)")
        table = splits
    else:
        if df is None:
            raise ConfigError("save_splits(series, path) needs df=... (the table the series is indexed like)")
        if not splits.index.equals(df.index):
            raise ConfigError("the split series must be indexed like df")
        table = df[["dataset", "image_id"]].assign(split=splits.to_numpy())
    missing = [c for c in SPLIT_COLUMNS if c not in table]
    if missing:
        raise ConfigError(f"split table lacks columns {missing}; expected {SPLIT_COLUMNS}")
    table = table[SPLIT_COLUMNS].astype(str)
    bad = set(table["split"]) - set(SPLIT_VALUES)
    if bad:
        raise ConfigError(f"split values {sorted(bad)} are not among {list(SPLIT_VALUES)}")
    if table[["dataset", "image_id"]].duplicated().any():
        raise ConfigError("split table has duplicate (dataset, image_id) keys")
    return table.sort_values(["dataset", "image_id"], ignore_index=True)


def save_splits(splits: pd.Series | pd.DataFrame, path: str | Path, *, df: pd.DataFrame | None = None) -> Path:
    """Write a split as CSV ``dataset,image_id,split`` (sorted, LF). Pass a DataFrame holding ``dataset``, ``image_id``
    and ``split`` columns, or a Series from :func:`make_splits` together with ``df``. Returns the path."""
    path = Path(path)
    table = split_table(splits, df)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, lineterminator="\n")
    return path


def load_splits(path: str | Path) -> pd.DataFrame:
    """Read a split CSV written by :func:`save_splits`; raises :class:`DataFileError` when missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"split file {path} not found; expected a CSV with columns {SPLIT_COLUMNS} (save_splits)")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFileError(f"split file {path} is not a readable CSV ({exc})") from exc
    if list(table.columns) != SPLIT_COLUMNS:
        raise DataFileError(f"split file {path} has columns {list(table.columns)}; expected {SPLIT_COLUMNS}")
    bad = table.loc[~table["split"].isin(SPLIT_VALUES)]
    if len(bad):
        row = int(bad.index[0]) + 2
        raise DataFileError(
            f"split file {path} row {row}: split {bad['split'].iloc[0]!r}; expected one of {list(SPLIT_VALUES)}"
        )
    return table


def apply_splits(df: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """The split of each row of ``df`` from a loaded split table, keyed by ``(dataset, image_id)``.

    Raises :class:`DataFileError` if some rows of ``df`` are not in the table (a split must cover the data it is used on).
    """
    key = pd.MultiIndex.from_frame(df[["dataset", "image_id"]].astype(str))
    lookup = pd.Series(table["split"].to_numpy(), index=pd.MultiIndex.from_frame(table[["dataset", "image_id"]]))
    result = lookup.reindex(key)
    missing = result.isna().to_numpy()
    if missing.any():
        first = df.loc[missing, ["dataset", "image_id"]].head(3).to_numpy().tolist()
        raise DataFileError(f"{int(missing.sum())} rows are not in the split table (first: {first}); re-make the split")
    return pd.Series(result.to_numpy(), index=df.index, name="split", dtype="str")


def split_hash(path: str | Path) -> str:
    """SHA-256 (hex) of a split file's bytes: the identity of a split, recorded in model manifests."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"split file {path} not found")
    return hashlib.sha256(path.read_bytes()).hexdigest()
