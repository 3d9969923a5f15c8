"""Classification heads on frozen embeddings: XGBoost (the product's heads) and logistic regression (the baseline).

Two kinds of head share one API:

* ``"binary"``: P(malignant), ``predict_proba`` returns shape (N,);
* ``"condition"``: the 10 conditions of :mod:`skintag.taxonomy`, ``predict_proba`` returns (N, 10); a condition absent
  from the training labels (DermaMNIST has 7 of the 10) gets probability 0, and every row sums to 1.

Heads are saved in formats that cannot execute code on load: XGBoost's own UBJ (or JSON) model file plus a small JSON
sidecar, and plain JSON for the logistic head. Nothing here is pickled.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

from skintag.errors import ConfigError, ModelBundleError
from skintag.model.manifest import read_json_object

N_CONDITIONS = 10
HEAD_FORMAT_VERSION = 1

Kind = Literal["binary", "condition"]

#: XGBoost defaults from the reference system (docs/SPEC.md §4); any key can be overridden by ``params``.
XGB_DEFAULTS: dict[str, Any] = {
    "n_estimators": 500,
    "max_depth": 6,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 3,
    "tree_method": "hist",
    "random_state": 0,
}


def _check_kind(kind: str) -> None:
    if kind not in ("binary", "condition"):
        raise ConfigError(f"Unknown head kind {kind!r}; expected 'binary' or 'condition'")


def _as_2d(X: Any, name: str = "X") -> np.ndarray:
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim != 2:
        raise ConfigError(f"{name} must be a 2-D array (n_samples, n_features), got shape {arr.shape}")
    return arr


def _prepare_labels(kind: str, y: Any, name: str = "y") -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be 1-D, got shape {arr.shape}")
    arr = arr.astype(np.int64)
    hi = 2 if kind == "binary" else N_CONDITIONS
    bad = (arr < 0) | (arr >= hi)
    if bad.any():
        raise ConfigError(
            f"{name} holds {np.unique(arr[bad]).tolist()}; expected labels in 0..{hi - 1} for a {kind} head"
        )
    return arr


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".meta.json")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    return read_json_object(path, f"{what} file {path}", missing=f"{what} file {path} is missing")


class _Head:
    """What the two heads share: the kind, the parameter overrides, and the checks before inference."""

    #: the attribute that ``fit`` / ``load`` set
    _fitted_attr = ""

    def __init__(self, kind: Kind, params: dict[str, Any] | None = None) -> None:
        _check_kind(kind)
        self.kind = kind
        self.params = dict(params or {})

    def _check_fitted(self) -> None:
        if not hasattr(self, self._fitted_attr):
            name = type(self).__name__
            raise ConfigError(f"This {self.kind} {name} is not fitted; call fit() or {name}.load() first")

    def _training_classes(self, y: np.ndarray) -> np.ndarray:
        """The classes in the training labels; a head needs two at least."""
        classes = np.unique(y)
        if len(classes) < 2:
            raise ConfigError(
                f"The {self.kind} head needs at least two classes in training, found only {classes.tolist()}"
            )
        return classes

    def _check_input(self, X: Any) -> np.ndarray:
        """``X`` as a 2-D float32 array of the fitted embedding size (the head must be fitted)."""
        self._check_fitted()
        X = _as_2d(X)
        if X.shape[1] != self.n_features_:
            raise ConfigError(f"Expected {self.n_features_} embedding features, got {X.shape[1]}")
        return X


class XGBHead(_Head):
    """An XGBoost head (binary logistic or multi-class softprob) with early stopping on a validation set only.

    Parameters
    ----------
    kind : "binary" or "condition".
    params : overrides of :data:`XGB_DEFAULTS` (any ``xgboost.XGBClassifier`` argument).

    Attributes (after ``fit`` or ``load``)
    --------------------------------------
    classes_ : condition ids (or 0/1) seen in training, in the order of the booster's outputs.
    best_iteration_ : last boosting round used for prediction (chosen on validation when given).
    n_features_ : embedding size.
    """

    _fitted_attr = "booster_"

    # -- training -------------------------------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        X_val: Any = None,
        y_val: Any = None,
        w_val: Any = None,
        early_stopping_rounds: int | None = 50,
    ) -> XGBHead:
        """Train on (X, y); with (X_val, y_val) stop when the validation log-loss has not improved for
        ``early_stopping_rounds`` rounds. The training rows are never used to choose the number of rounds.

        Validation rows whose condition never occurs in training are dropped (the booster has no output for them).
        """
        import xgboost as xgb

        X = _as_2d(X)
        y = _prepare_labels(self.kind, y)
        if len(X) != len(y):
            raise ConfigError(f"X has {len(X)} rows but y has {len(y)}")
        classes = self._training_classes(y)
        if self.kind == "binary":
            classes = np.array([0, 1])
        lookup = np.full(N_CONDITIONS if self.kind == "condition" else 2, -1, dtype=np.int64)
        lookup[classes] = np.arange(len(classes))

        params = {**XGB_DEFAULTS, **self.params}
        if self.kind == "binary":
            params.setdefault("objective", "binary:logistic")
            params.setdefault("eval_metric", "logloss")
        else:
            params.setdefault("objective", "multi:softprob")
            params.setdefault("eval_metric", "mlogloss")

        fit_kwargs: dict[str, Any] = {
            "sample_weight": None if sample_weight is None else np.asarray(sample_weight, float)
        }
        if X_val is not None:
            if y_val is None:
                raise ConfigError("X_val given without y_val")
            X_val = _as_2d(X_val, "X_val")
            y_val = _prepare_labels(self.kind, y_val, "y_val")
            keep = lookup[y_val] >= 0
            if not keep.all():
                warnings.warn(
                    f"Dropping {int((~keep).sum())} validation rows whose condition is absent from training",
                    stacklevel=2,
                )
            wv = None if w_val is None else np.asarray(w_val, float)[keep]
            fit_kwargs["eval_set"] = [(X_val[keep], lookup[y_val[keep]])]
            if wv is not None:
                fit_kwargs["sample_weight_eval_set"] = [wv]
            if early_stopping_rounds:
                params["early_stopping_rounds"] = int(early_stopping_rounds)
        fit_kwargs["verbose"] = False

        clf = xgb.XGBClassifier(**params)
        clf.fit(X, lookup[y], **fit_kwargs)
        booster = clf.get_booster()
        best = getattr(clf, "best_iteration", None) if X_val is not None and early_stopping_rounds else None
        self.booster_ = booster
        self.best_iteration_ = int(best) if best is not None else int(booster.num_boosted_rounds()) - 1
        self.classes_ = classes.astype(int)
        self.n_features_ = int(X.shape[1])
        self.evals_result_ = clf.evals_result() if X_val is not None else {}
        return self

    # -- inference ------------------------------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """P(malignant) (N,) for a binary head; (N, 10) condition probabilities for a condition head."""
        X = self._check_input(X)
        if len(X) == 0:
            return np.zeros((0,) if self.kind == "binary" else (0, N_CONDITIONS), dtype=np.float64)
        raw = np.asarray(
            self.booster_.inplace_predict(X, iteration_range=(0, self.best_iteration_ + 1)), dtype=np.float64
        )
        if self.kind == "binary":
            return raw.reshape(-1)
        out = np.zeros((len(X), N_CONDITIONS), dtype=np.float64)
        out[:, self.classes_] = raw.reshape(len(X), len(self.classes_))
        return out / out.sum(axis=1, keepdims=True)

    # -- persistence ----------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> list[Path]:
        """Write the booster to ``path`` (``.ubj`` or ``.json``, XGBoost's own formats) and ``<stem>.meta.json``.

        Returns the files written.
        """
        self._check_fitted()
        path = Path(path)
        if path.suffix not in (".ubj", ".json"):
            raise ConfigError(f"XGBoost head path must end in .ubj or .json, got {path.name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(path))
        meta = {
            "format": "skintag-xgb-head",
            "format_version": HEAD_FORMAT_VERSION,
            "kind": self.kind,
            "classes": self.classes_.tolist(),
            "best_iteration": self.best_iteration_,
            "n_features": self.n_features_,
            "params": {k: v for k, v in self.params.items() if isinstance(v, (int, float, str, bool, type(None)))},
        }
        _write_json(_sidecar(path), meta)
        return [path, _sidecar(path)]

    @classmethod
    def load(cls, path: str | Path) -> XGBHead:
        """Load a head written by :meth:`save`."""
        import xgboost as xgb

        path = Path(path)
        meta = _read_json(_sidecar(path), "XGBoost head metadata")
        if meta.get("format") != "skintag-xgb-head" or meta.get("format_version") != HEAD_FORMAT_VERSION:
            raise ModelBundleError(
                f"{_sidecar(path)} is not a SkinTag XGBoost head of format version {HEAD_FORMAT_VERSION} "
                f"(found format={meta.get('format')!r}, version={meta.get('format_version')!r})"
            )
        if not path.is_file():
            raise ModelBundleError(f"XGBoost head file {path} is missing")
        head = cls(meta["kind"], meta.get("params"))
        booster = xgb.Booster()
        try:
            booster.load_model(str(path))
        except xgb.core.XGBoostError as exc:
            raise ModelBundleError(f"{path} is not a valid XGBoost model: {exc}") from exc
        head.booster_ = booster
        head.best_iteration_ = int(meta["best_iteration"])
        head.classes_ = np.asarray(meta["classes"], dtype=int)
        head.n_features_ = int(meta["n_features"])
        head.evals_result_ = {}
        return head


class LogisticHead(_Head):
    """Logistic regression on standardised embeddings (the baseline of the results table), saved as plain JSON.

    With a validation set, the inverse regularisation strength ``C`` is chosen from ``params["Cs"]`` (default
    0.01, 0.1, 1, 10) by weighted validation log-loss, then the model is refitted on the training rows only.

    Parameters
    ----------
    kind : "binary" or "condition".
    params : ``C`` (used without validation, default 1.0), ``Cs``, ``max_iter`` (default 2000).
    """

    _fitted_attr = "coef_"

    def _fit_one(self, Xs: np.ndarray, y: np.ndarray, w: np.ndarray | None, C: float) -> Any:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=C, max_iter=int(self.params.get("max_iter", 2000)))
        model.fit(Xs, y, sample_weight=w)
        return model

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        X_val: Any = None,
        y_val: Any = None,
        w_val: Any = None,
        early_stopping_rounds: int | None = None,
    ) -> LogisticHead:
        """Standardise, then fit; ``early_stopping_rounds`` is accepted for API symmetry and ignored."""
        from sklearn.metrics import log_loss

        X = _as_2d(X).astype(np.float64)
        y = _prepare_labels(self.kind, y)
        classes = self._training_classes(y)
        w = None if sample_weight is None else np.asarray(sample_weight, float)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
        Xs = (X - mean) / scale
        C = float(self.params.get("C", 1.0))
        self.val_losses_: dict[float, float] = {}
        if X_val is not None and y_val is not None:
            Xv = (_as_2d(X_val, "X_val").astype(np.float64) - mean) / scale
            yv = _prepare_labels(self.kind, y_val, "y_val")
            keep = np.isin(yv, classes)
            wv = None if w_val is None else np.asarray(w_val, float)[keep]
            for c in [float(v) for v in self.params.get("Cs", (0.01, 0.1, 1.0, 10.0))]:
                m = self._fit_one(Xs, y, w, c)
                self.val_losses_[c] = float(
                    log_loss(yv[keep], m.predict_proba(Xv[keep]), sample_weight=wv, labels=m.classes_)
                )
            C = min(self.val_losses_, key=self.val_losses_.get)
        model = self._fit_one(Xs, y, w, C)
        self.C_ = C
        self.mean_ = mean
        self.scale_ = scale
        self.coef_ = np.asarray(model.coef_, dtype=np.float64)
        self.intercept_ = np.asarray(model.intercept_, dtype=np.float64)
        self.classes_ = np.asarray(model.classes_, dtype=int)
        self.n_features_ = int(X.shape[1])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Same output shapes as :meth:`XGBHead.predict_proba` (equal to sklearn's ``predict_proba``)."""
        X = self._check_input(X).astype(np.float64)
        z = ((X - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_
        if self.coef_.shape[0] == 1:  # two classes: sigmoid of one decision function
            p1 = 0.5 * (1.0 + np.tanh(0.5 * z[:, 0]))  # numerically stable logistic
            probs = np.column_stack([1.0 - p1, p1])
        else:
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            probs = e / e.sum(axis=1, keepdims=True)
        if self.kind == "binary":
            return probs[:, list(self.classes_).index(1)] if 1 in self.classes_ else np.zeros(len(X))
        out = np.zeros((len(X), N_CONDITIONS), dtype=np.float64)
        out[:, self.classes_] = probs
        return out

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "format": "skintag-logistic-head",
            "format_version": HEAD_FORMAT_VERSION,
            "kind": self.kind,
            "C": self.C_,
            "classes": self.classes_.tolist(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_.tolist(),
            "params": {
                k: v for k, v in self.params.items() if isinstance(v, (int, float, str, bool, list, type(None)))
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogisticHead:
        if d.get("format") != "skintag-logistic-head" or d.get("format_version") != HEAD_FORMAT_VERSION:
            raise ModelBundleError(
                f"Not a SkinTag logistic head of format version {HEAD_FORMAT_VERSION} "
                f"(found format={d.get('format')!r}, version={d.get('format_version')!r})"
            )
        head = cls(d["kind"], d.get("params"))
        head.C_ = float(d["C"])
        head.classes_ = np.asarray(d["classes"], dtype=int)
        head.mean_ = np.asarray(d["mean"], dtype=np.float64)
        head.scale_ = np.asarray(d["scale"], dtype=np.float64)
        head.coef_ = np.asarray(d["coef"], dtype=np.float64)
        head.intercept_ = np.asarray(d["intercept"], dtype=np.float64)
        head.n_features_ = int(head.coef_.shape[1])
        return head

    def save(self, path: str | Path) -> list[Path]:
        """Write the head as one JSON file; returns the files written."""
        path = Path(path)
        if path.suffix != ".json":
            raise ConfigError(f"Logistic head path must end in .json, got {path.name}")
        _write_json(path, self.to_dict())
        return [path]

    @classmethod
    def load(cls, path: str | Path) -> LogisticHead:
        return cls.from_dict(_read_json(Path(path), "Logistic head"))


class EnsembleHead:
    """One head per member of an ensemble backbone (:class:`skintag.model.ensemble.EnsembleBackbone`), each reading its
    member's slice of the concatenated embedding; the output is the mean of the members' outputs (probabilities).

    Saved as ``<name>.json`` (format ``skintag-ensemble-head``: kind, member widths, member files) beside one file per
    member (``<stem>.member<i>.ubj`` for XGBoost, ``.json`` for logistic), each in its own format.

    Parameters
    ----------
    heads : the member heads (XGBHead or LogisticHead, one family), fitted or not.
    widths : each member's embedding width, in the order of the concatenated embedding.
    """

    def __init__(self, heads: list[XGBHead | LogisticHead], widths: list[int]) -> None:
        if len(heads) < 2 or len(heads) != len(widths):
            raise ConfigError(f"An ensemble head needs one head per member (two at least); got {len(heads)} heads "
                              f"for {len(widths)} widths")
        kinds = {h.kind for h in heads}
        if len(kinds) != 1:
            raise ConfigError(f"Ensemble member heads must be of one kind; got {sorted(kinds)}")
        self.kind = kinds.pop()
        self.heads = list(heads)
        self.widths = [int(w) for w in widths]
        self.n_features_ = sum(self.widths)

    def _slices(self, X: np.ndarray) -> list[np.ndarray]:
        edges = np.cumsum([0, *self.widths])
        return [X[:, a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]

    @property
    def classes_(self) -> np.ndarray:
        return np.unique(np.concatenate([np.asarray(h.classes_) for h in self.heads]))

    @property
    def family(self) -> str:
        return head_type(self.heads[0])

    def fit(self, X: Any, y: Any, *, sample_weight: Any = None, X_val: Any = None, y_val: Any = None,
            w_val: Any = None, early_stopping_rounds: int | None = None) -> EnsembleHead:
        """Fit each member head on its slice (validation slices for early stopping / choosing C, as each head does)."""
        X = _as_2d(X)
        if X.shape[1] != self.n_features_:
            raise ConfigError(f"Expected {self.n_features_} embedding features (widths {self.widths}), got {X.shape[1]}")
        val = self._slices(_as_2d(X_val, "X_val")) if X_val is not None else [None] * len(self.heads)
        for head, Xm, Xv in zip(self.heads, self._slices(X), val, strict=True):
            head.fit(Xm, y, sample_weight=sample_weight, X_val=Xv, y_val=y_val, w_val=w_val,
                     early_stopping_rounds=early_stopping_rounds)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """The mean of the member heads' outputs (same shapes as theirs)."""
        X = _as_2d(X)
        if X.shape[1] != self.n_features_:
            raise ConfigError(f"Expected {self.n_features_} embedding features, got {X.shape[1]}")
        return np.mean([h.predict_proba(Xm) for h, Xm in zip(self.heads, self._slices(X), strict=True)], axis=0)

    def save(self, path: str | Path) -> list[Path]:
        path = Path(path)
        if path.suffix != ".json":
            raise ConfigError(f"Ensemble head path must end in .json, got {path.name}")
        written: list[Path] = []
        members = []
        for i, head in enumerate(self.heads):
            htype = head_type(head)
            member = path.with_name(f"{path.stem}.member{i}.{'ubj' if htype == 'xgboost' else 'json'}")
            written += head.save(member)
            members.append({"type": htype, "file": member.name})
        _write_json(path, {"format": "skintag-ensemble-head", "format_version": HEAD_FORMAT_VERSION,
                           "kind": self.kind, "widths": self.widths, "members": members})
        return [path, *written]

    @classmethod
    def load(cls, path: str | Path) -> EnsembleHead:
        path = Path(path)
        d = _read_json(path, "Ensemble head")
        if d.get("format") != "skintag-ensemble-head" or d.get("format_version") != HEAD_FORMAT_VERSION:
            raise ModelBundleError(f"{path} is not a SkinTag ensemble head of format version {HEAD_FORMAT_VERSION}")
        heads = []
        for m in d.get("members") or []:
            name = m.get("file") if isinstance(m, dict) else None
            if not isinstance(name, str) or Path(name).name != name or m.get("type") not in ("xgboost", "logistic"):
                raise ModelBundleError(f"{path}: member {m!r} is not a head file beside it")
            heads.append(load_head(path.with_name(name), m["type"]))
        head = cls(heads, list(d.get("widths") or []))
        for h, w in zip(head.heads, head.widths, strict=True):
            if h.n_features_ != w:
                raise ModelBundleError(f"{path}: a member head takes {h.n_features_} features, its width is {w}")
        return head


AnyHead = XGBHead | LogisticHead | EnsembleHead


def load_head(path: str | Path, head_type: str) -> AnyHead:
    """Load a head by its manifest type ("xgboost", "logistic" or "ensemble")."""
    if head_type == "xgboost":
        return XGBHead.load(path)
    if head_type == "logistic":
        return LogisticHead.load(path)
    if head_type == "ensemble":
        return EnsembleHead.load(path)
    raise ModelBundleError(
        f"Unknown head type {head_type!r} in bundle manifest; expected 'xgboost', 'logistic' or 'ensemble'")


def head_type(head: AnyHead) -> str:
    """The manifest type name of a head object."""
    if isinstance(head, XGBHead):
        return "xgboost"
    if isinstance(head, LogisticHead):
        return "logistic"
    if isinstance(head, EnsembleHead):
        return "ensemble"
    raise ConfigError(f"Unsupported head object {type(head).__name__}; expected XGBHead, LogisticHead or EnsembleHead")
