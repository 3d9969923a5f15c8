"""Attention explanations for a SigLIP vision tower: the MAP head's attention over patches and attention rollout.

SigLIP has no CLS token; its pooled embedding (what the triage heads see) comes from the attention-pooling head
(``SiglipMultiheadAttentionPoolingHead``): a learned probe attends over the post-layernorm last hidden states through a
``torch.nn.MultiheadAttention``. transformers does not return those weights, so :func:`map_attention` recomputes them
from the probe and the last hidden state with ``need_weights=True`` (averaged over heads) — the exact weights the
pooled output was built from.

Attention rollout (Abnar & Zuidema 2020) multiplies the encoder's per-layer attention matrices, each averaged over heads,
mixed with the identity for the residual stream (0.5·A + 0.5·I) and renormalised per row. Without a CLS token the
rollout matrix has no single row to read; we read it through the MAP head: relevance of input patch j =
Σ_i a_i · R[i, j], where a is the MAP probe's attention over the final tokens — the flow of attention from the pooled
embedding back to the input patches (``query="map"``). ``query="mean"`` instead averages all rows (uniform query).

Maps are returned on the patch grid (gh × gw) scaled to [0, 1]; :func:`overlay` upsamples and blends them onto an image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from skintag.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from skintag.model.bundle import ModelBundle


@dataclass(frozen=True, eq=False)
class AttentionMaps:
    """Attention maps of one image on the patch grid, each gh × gw float32 in [0, 1]."""

    map_head: np.ndarray
    rollout: np.ndarray

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.map_head.shape)  # type: ignore[return-value]


def normalize01(x: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1] as float32; a constant array becomes zeros."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = float(np.min(x)), float(np.max(x))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 1e-12:
        return np.zeros(x.shape, dtype=np.float32)
    return ((x - lo) / (hi - lo)).astype(np.float32)


def _grid(n_tokens: int) -> tuple[int, int]:
    side = int(round(n_tokens**0.5))
    if side * side != n_tokens:
        raise ConfigError(f"Cannot reshape {n_tokens} patch tokens to a square grid; expected a square number")
    return side, side


def map_attention(backbone: Any, last_hidden_state: torch.Tensor) -> np.ndarray:
    """Attention weights of the MAP head's probe over the tokens, shape (B, N), rows summing to 1.

    Parameters
    ----------
    backbone : a ``SiglipVisionModel`` with an attention-pooling head (``vision_use_head=True``).
    last_hidden_state : (B, N, D) post-layernorm last hidden state (``outputs.last_hidden_state``).
    """
    import torch

    head = getattr(backbone, "head", None)
    if head is None or not hasattr(head, "attention") or not hasattr(head, "probe"):
        raise ConfigError("The backbone has no attention-pooling (MAP) head; expected SiglipVisionModel with a head")
    with torch.no_grad():
        h = last_hidden_state.to(head.probe.dtype)
        probe = head.probe.repeat(h.shape[0], 1, 1)
        _, weights = head.attention(probe, h, h, need_weights=True, average_attn_weights=True)
    return weights[:, 0, :].float().cpu().numpy()


def attention_rollout(
    attentions: Sequence[torch.Tensor] | Sequence[np.ndarray],
    *,
    residual: float = 0.5,
    query_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Attention rollout through the encoder, shape (B, N): relevance of each input token.

    Parameters
    ----------
    attentions : per-layer attention probabilities, each (B, heads, N, N), first layer first.
    residual : weight of the identity added for the residual connection (0.5 as in Abnar & Zuidema).
    query_weights : (B, N) weights over the final tokens to read the rollout with (e.g. the MAP attention);
        None averages all query rows uniformly.
    """
    if not attentions:
        raise ConfigError("No attentions to roll out; run the backbone with output_attentions=True and eager attention")
    mats = [np.asarray(a.float().cpu().numpy() if hasattr(a, "cpu") else a, dtype=np.float64) for a in attentions]
    b, _, n, _ = mats[0].shape
    eye = np.eye(n)[None]
    rollout = np.broadcast_to(eye, (b, n, n)).copy()
    for a in mats:
        layer = (1.0 - residual) * a.mean(axis=1) + residual * eye
        layer = layer / layer.sum(axis=-1, keepdims=True)
        rollout = layer @ rollout
    if query_weights is None:
        weights = np.full((b, n), 1.0 / n)
    else:
        weights = np.asarray(query_weights, dtype=np.float64)
        weights = weights / weights.sum(axis=-1, keepdims=True)
    return np.einsum("bi,bij->bj", weights, rollout)


def attention_scope(backbone: Any) -> str | None:
    """The sentence to show beside attention maps when they cover only part of the model (an ensemble), else None.

    An ensemble's maps are its lead tower's. The mean of the towers' maps was measured to depend less on the trained
    weights (randomisation check on the demo's 16 photos: mean |ρ| 0.41-0.47 for the mean map, bound 0.5), so it would
    say less about what the model learned; the lead tower's map is the one the check validates.
    """
    from skintag.model.ensemble import is_ensemble

    if not is_ensemble(backbone):
        return None
    n = len(backbone.members)
    return (f"This model is an ensemble of {n} backbones; the attention maps are those of its lead backbone (the one "
            f"its domain detector reads), whose head gives 1/{n} of the averaged score. SHAP, on request below, "
            "explains the whole ensemble's score.")


def attention_maps(
    backbone: Any, outputs: Any, *, query: Literal["map", "mean"] = "map", residual: float = 0.5
) -> list[AttentionMaps]:
    """Both maps for every image of a forward pass made with ``output_attentions=True``.

    Parameters
    ----------
    backbone : the SiglipVisionModel that produced ``outputs``; for an
        :class:`~skintag.model.ensemble.EnsembleBackbone`, the maps are its lead tower's (:func:`attention_scope`).
    outputs : its output (needs ``last_hidden_state`` and ``attentions``; an ensemble's, each member's).
    query : how rollout rows are read — "map" (weighted by the MAP attention, default) or "mean".
    """
    from skintag.model.ensemble import is_ensemble

    if query not in ("map", "mean"):
        raise ConfigError(f"Unknown rollout query {query!r}; expected 'map' or 'mean'")
    if is_ensemble(backbone):
        return attention_maps(backbone.members[0], outputs.members[0], query=query, residual=residual)
    attentions = getattr(outputs, "attentions", None)
    if not attentions:
        raise ConfigError(
            "The forward pass returned no attentions; load the backbone with attn_implementation='eager' "
            "and call it with output_attentions=True"
        )
    a_map = map_attention(backbone, outputs.last_hidden_state)
    roll = attention_rollout(attentions, residual=residual, query_weights=a_map if query == "map" else None)
    gh, gw = _grid(a_map.shape[1])
    return [
        AttentionMaps(normalize01(a_map[i].reshape(gh, gw)), normalize01(roll[i].reshape(gh, gw)))
        for i in range(a_map.shape[0])
    ]


def compute_attention(bundle: ModelBundle, images: Sequence[Image.Image], **kwargs: Any) -> list[AttentionMaps]:
    """Attention maps for images through a bundle (one forward pass with attentions)."""
    emb, outputs = bundle.forward_pixels(bundle.preprocess(list(images)), output_attentions=True)
    return attention_maps(bundle.backbone, outputs, **kwargs)


def model_input_image(bundle: ModelBundle, image: Image.Image) -> Image.Image:
    """The picture the model actually sees: ``image`` through the bundle's preprocessing (resize to its input size with
    its filter, scaling, normalisation), un-normalised back to an RGB image of ``image_size`` × ``image_size`` pixels.

    Exact up to rounding: each channel value is ``round((x · std + mean) · 255)`` of the preprocessed tensor.
    """
    pv = bundle.preprocess([image.convert("RGB")])[0].detach().to("cpu").float().numpy()  # (3, S, S)
    prep = bundle.preprocessing
    mean = np.asarray(prep.mean, dtype=np.float64)[:, None, None]
    std = np.asarray(prep.std, dtype=np.float64)[:, None, None]
    rgb = np.clip(np.rint((pv * std + mean) * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(np.transpose(rgb, (1, 2, 0))))


def upsample(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a [0, 1] map to (width, height) = ``size``; result in [0, 1]."""
    h = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    up = Image.fromarray(h).resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(up, dtype=np.float32), 0.0, 1.0)


def colorize(heatmap: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """RGB uint8 rendering of a [0, 1] map with an OpenCV colormap (e.g. "inferno", "jet", "turbo")."""
    import cv2

    name = f"COLORMAP_{colormap.upper()}"
    if not hasattr(cv2, name):
        raise ConfigError(f"Unknown colormap {colormap!r}; expected an OpenCV colormap such as 'inferno' or 'jet'")
    u8 = (np.clip(np.asarray(heatmap, dtype=np.float32), 0, 1) * 255).round().astype(np.uint8)
    bgr = cv2.applyColorMap(u8, getattr(cv2, name))
    return bgr[..., ::-1].copy()


def overlay(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.45, colormap: str = "inferno") -> Image.Image:
    """Blend a [0, 1] heatmap (any grid size) onto an image; returns an RGB image of the image's size.

    ``alpha`` is the heatmap's opacity (0 = image only, 1 = heatmap only).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"overlay alpha must be in [0, 1]; got {alpha}")
    base = image.convert("RGB")
    up = upsample(heatmap, base.size)
    colour = colorize(up, colormap).astype(np.float32)
    out = (1.0 - alpha) * np.asarray(base, dtype=np.float32) + alpha * colour
    return Image.fromarray(np.clip(out, 0, 255).round().astype(np.uint8))
