"""Model-parameter randomisation check for explanations (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

An explanation that reflects what the model learned must change when the learned weights are replaced by random ones.
We compute each map twice — with the trained backbone and with a freshly initialised backbone of the same architecture
(full randomisation, seeded) — and compare them per image with Spearman's rank correlation over the map's cells. The check
passes when the mean |ρ| is below a stated bound (default :data:`DEFAULT_BOUND` = 0.5: at most a moderate rank agreement;
the paper reports near-zero correlations for methods that pass). A map computed from the image alone (e.g. an edge or
intensity map) gives ρ ≈ 1 under this test and fails it — the failure mode the check exists to catch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from skintag.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from skintag.model.bundle import ModelBundle

DEFAULT_BOUND = 0.5


@dataclass(frozen=True)
class SanityResult:
    """Outcome of a randomisation check.

    Attributes
    ----------
    method : which map was checked ("map_head", "rollout", "shap", or a caller's name).
    correlations : Spearman ρ per image (trained vs randomised); a constant map counts as ρ = 0 (no shared ranking).
    statistic : mean |ρ| over images.
    bound : the check passes when statistic < bound.
    passed : statistic < bound.
    """

    method: str
    correlations: tuple[float, ...]
    statistic: float
    bound: float
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "correlations": list(self.correlations), "statistic": self.statistic,
                "bound": self.bound, "passed": self.passed}

    def summary(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"{self.method}: mean |Spearman ρ| trained vs randomised = {self.statistic:.2f} over "
                f"{len(self.correlations)} image(s); bound {self.bound:.2f} → {verdict}")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (flattened); 0.0 when either map is constant."""
    from scipy.stats import spearmanr

    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ConfigError(f"Maps to compare differ in shape: {np.shape(a)} vs {np.shape(b)}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    rho = float(spearmanr(x, y).statistic)
    return 0.0 if math.isnan(rho) else rho


def compare_maps(
    trained: Sequence[np.ndarray], randomised: Sequence[np.ndarray], *, method: str, bound: float = DEFAULT_BOUND
) -> SanityResult:
    """Per-image Spearman ρ between two lists of maps and the pass/fail verdict against ``bound``."""
    if len(trained) != len(randomised) or not trained:
        raise ConfigError(f"Need the same non-zero number of maps; got {len(trained)} and {len(randomised)}")
    if not 0 < bound <= 1:
        raise ConfigError(f"bound must be in (0, 1]; got {bound}")
    rhos = tuple(spearman(a, b) for a, b in zip(trained, randomised, strict=True))
    stat = float(np.mean(np.abs(rhos)))
    return SanityResult(method, rhos, stat, float(bound), stat < bound)


def randomized_backbone(backbone: Any, *, random_state: int = 0) -> Any:
    """A freshly initialised model of the same class and config as ``backbone`` (weights drawn with ``random_state``).

    If that random_state happens to reproduce ``backbone``'s own weights (a model that was initialised with the same random_state and
    never trained, like a test bundle), the next seeds are tried, so the result always differs from ``backbone``.
    An ensemble's members are each randomised so.
    """
    import torch

    from skintag.model.ensemble import EnsembleBackbone, is_ensemble

    if is_ensemble(backbone):
        return EnsembleBackbone([randomized_backbone(m, random_state=random_state) for m in backbone.members])

    reference = next(iter(backbone.state_dict().values()))
    for s in range(random_state, random_state + 100):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            model = type(backbone)(backbone.config)
        if not torch.equal(next(iter(model.state_dict().values())), reference):
            return model.eval()
    raise ConfigError(f"Could not draw random weights that differ from the model's (seeds {random_state}-{random_state + 99})")


def backbone_attention_sanity(
    backbone: Any,
    pixel_values: Any,
    *,
    kind: Literal["map_head", "rollout"] = "rollout",
    bound: float = DEFAULT_BOUND,
    random_state: int = 0,
) -> SanityResult:
    """Randomisation check of an attention map for a backbone on preprocessed pixels (N, 3, H, W)."""
    import torch

    from skintag.explain.attention import attention_maps

    if kind not in ("map_head", "rollout"):
        raise ConfigError(f"Unknown attention map {kind!r}; expected 'map_head' or 'rollout'")
    rnd = randomized_backbone(backbone, random_state=random_state)
    maps = []
    for model in (backbone, rnd):
        with torch.no_grad():
            out = model(pixel_values=pixel_values, output_attentions=True)
        maps.append([getattr(m, kind) for m in attention_maps(model, out)])
    return compare_maps(maps[0], maps[1], method=kind, bound=bound)


def attention_sanity(
    bundle: ModelBundle,
    images: Sequence[Image.Image],
    *,
    kind: Literal["map_head", "rollout"] = "rollout",
    bound: float = DEFAULT_BOUND,
    random_state: int = 0,
) -> SanityResult:
    """Randomisation check of an attention map on real images: the bundle's backbone vs a randomised one."""
    pv = bundle.preprocess(list(images))
    return backbone_attention_sanity(bundle.backbone, pv, kind=kind, bound=bound, random_state=random_state)


def shap_sanity(
    bundle: ModelBundle,
    images: Sequence[Image.Image],
    *,
    max_evals: int = 100,
    masker: str = "blur(16,16)",
    output: Literal["calibrated", "raw"] = "raw",
    bound: float = DEFAULT_BOUND,
    random_state: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> SanityResult:
    """Randomisation check of SHAP maps: the same heads on the trained backbone vs a randomised backbone.

    ``output="raw"`` (default) explains the uncalibrated head output, because isotonic calibration is piecewise
    constant and can flatten small differences into ties.
    """
    from skintag.explain.shap_image import explain_shap

    rnd = randomized_backbone(bundle.backbone, random_state=random_state)
    trained, randomised = [], []
    for img in images:
        kw = {"max_evals": max_evals, "masker": masker, "output": output, "progress": progress}
        trained.append(explain_shap(bundle, img, **kw).values)
        randomised.append(explain_shap(bundle, img, backbone=rnd, **kw).values)
    return compare_maps(trained, randomised, method="shap", bound=bound)
