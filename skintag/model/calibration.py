"""Probability calibration of the binary head and operating-point selection, both fitted on validation data.

* isotonic: scikit-learn's ``IsotonicRegression`` (clipped to [0, 1], out-of-range scores clipped); stored as its
  ``X_thresholds_`` / ``y_thresholds_`` arrays and applied by linear interpolation, which is what sklearn's own
  ``predict`` does.
* platt: scikit-learn's ``LogisticRegression`` (unpenalised) on the logit of the raw score; stored as slope and
  intercept. Fitting on the logit (rather than the raw probability, as in Platt's original SVM setting) makes the
  identity map reachable: slope 1, intercept 0 leaves a calibrated score unchanged.

Calibrators serialise to JSON (``to_dict`` / ``from_dict``); nothing is pickled.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from skintag.errors import ConfigError, ModelBundleError

CALIBRATION_FORMAT_VERSION = 1
#: raw scores are clipped to [LOGIT_EPS, 1 - LOGIT_EPS] before the logit (Platt)
LOGIT_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), LOGIT_EPS, 1 - LOGIT_EPS)
    return np.log(p) - np.log1p(-p)


def _check_scores(scores: Any, name: str = "scores") -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{name} hold non-finite values")
    return arr


class Calibrator:
    """Maps a raw head score (uncalibrated P(malignant)) to a calibrated probability.

    Parameters
    ----------
    method : "isotonic" or "platt".

    Attributes (after ``fit``)
    --------------------------
    x_thresholds_, y_thresholds_ : isotonic step points (isotonic only).
    slope_, intercept_ : of ``sigmoid(slope * logit(score) + intercept)`` (platt only).
    n_fit_ : number of rows used for fitting.
    """

    def __init__(self, method: Literal["isotonic", "platt"] = "isotonic") -> None:
        if method not in ("isotonic", "platt"):
            raise ConfigError(f"Unknown calibration method {method!r}; expected 'isotonic' or 'platt'")
        self.method = method

    def fit(self, scores: Any, y: Any, sample_weight: Any = None) -> Calibrator:
        """Fit on raw scores and 0/1 labels (validation rows), optionally weighted."""
        s = _check_scores(scores)
        y = np.asarray(y).astype(np.int64)
        if y.shape != s.shape:
            raise ConfigError(f"scores have shape {s.shape} but y has shape {y.shape}")
        if not np.isin(y, (0, 1)).all():
            raise ConfigError(f"Calibration labels must be 0/1, found {np.unique(y).tolist()}")
        if len(np.unique(y)) < 2:
            raise ConfigError("Calibration needs both classes (malignant and not) in the validation labels")
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
            iso.fit(s, y, sample_weight=w)
            self.x_thresholds_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
            self.y_thresholds_ = np.asarray(iso.y_thresholds_, dtype=np.float64)
        else:
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=math.inf, max_iter=1000)
            lr.fit(_logit(s).reshape(-1, 1), y, sample_weight=w)
            self.slope_ = float(lr.coef_[0, 0])
            self.intercept_ = float(lr.intercept_[0])
        self.n_fit_ = int(len(s))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_fit_"):
            raise ConfigError("This Calibrator is not fitted; call fit() or Calibrator.from_dict() first")

    def predict(self, scores: Any) -> np.ndarray:
        """Calibrated probabilities for raw scores, shape (N,)."""
        self._check_fitted()
        s = _check_scores(scores)
        if self.method == "isotonic":
            if len(self.x_thresholds_) == 1:
                return np.full(s.shape, self.y_thresholds_[0])
            return np.interp(s, self.x_thresholds_, self.y_thresholds_)
        z = self.slope_ * _logit(s) + self.intercept_
        return 0.5 * (1.0 + np.tanh(0.5 * z))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (stored as ``calibration.json`` in a bundle)."""
        self._check_fitted()
        d: dict[str, Any] = {"format_version": CALIBRATION_FORMAT_VERSION, "method": self.method, "n_fit": self.n_fit_}
        if self.method == "isotonic":
            d["x_thresholds"] = self.x_thresholds_.tolist()
            d["y_thresholds"] = self.y_thresholds_.tolist()
        else:
            d["slope"] = self.slope_
            d["intercept"] = self.intercept_
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        """Inverse of :meth:`to_dict`; raises ModelBundleError on a malformed or unknown description."""
        if not isinstance(d, dict) or d.get("format_version") != CALIBRATION_FORMAT_VERSION:
            found = d.get("format_version") if isinstance(d, dict) else type(d).__name__
            raise ModelBundleError(
                f"Unsupported calibration format version {found!r}; expected {CALIBRATION_FORMAT_VERSION}"
            )
        method = d.get("method")
        if method not in ("isotonic", "platt"):
            raise ModelBundleError(
                f"Unknown calibration method {method!r} in calibration data; expected isotonic or platt"
            )
        cal = cls(method)
        try:
            if method == "isotonic":
                cal.x_thresholds_ = np.asarray(d["x_thresholds"], dtype=np.float64)
                cal.y_thresholds_ = np.asarray(d["y_thresholds"], dtype=np.float64)
                if cal.x_thresholds_.shape != cal.y_thresholds_.shape or cal.x_thresholds_.ndim != 1:
                    raise ValueError("x_thresholds and y_thresholds must be 1-D arrays of equal length")
                if len(cal.x_thresholds_) == 0 or np.any(np.diff(cal.x_thresholds_) < 0):
                    raise ValueError("x_thresholds must be non-empty and sorted")
                if np.any(np.diff(cal.y_thresholds_) < 0):
                    raise ValueError("y_thresholds must be non-decreasing (isotonic)")
            else:
                cal.slope_ = float(d["slope"])
                cal.intercept_ = float(d["intercept"])
            cal.n_fit_ = int(d.get("n_fit", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelBundleError(f"Malformed {method} calibration data: {exc}") from exc
        return cal


def threshold_for_sensitivity(y: Any, p: Any, target: float = 0.95, *, sample_weight: Any = None) -> float:
    """The highest threshold ``t`` such that flagging ``p >= t`` reaches at least ``target`` sensitivity.

    Choose it on validation data. With weights, sensitivity is the weighted share of positives flagged.

    Parameters
    ----------
    y : 0/1 labels (1 = malignant).
    p : scores (probabilities), same length.
    target : required sensitivity in (0, 1].

    Returns
    -------
    float
        A score of one of the positive rows (so ties are handled by ``>=``).
    """
    y = np.asarray(y).astype(np.int64)
    p = _check_scores(p, "p")
    if y.shape != p.shape:
        raise ConfigError(f"y has shape {y.shape} but p has shape {p.shape}")
    if not 0 < target <= 1:
        raise ConfigError(f"target sensitivity must be in (0, 1], got {target}")
    w = np.ones_like(p) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    pos = y == 1
    if not pos.any():
        raise ConfigError("Cannot choose a sensitivity threshold: no positive (malignant) rows")
    ps, ws = p[pos], w[pos]
    order = np.argsort(-ps, kind="stable")
    ps, ws = ps[order], ws[order]
    # sensitivity when flagging p >= ps[k] counts every positive with a score >= ps[k] (ties included)
    last_of_tie = np.r_[ps[1:] != ps[:-1], True]
    sens = np.cumsum(ws) / ws.sum()
    ok = (sens >= target - 1e-12) & last_of_tie
    return float(ps[np.argmax(ok)])
