"""The SigLIP vision backbone: building one from a config, loading one from disk or the Hugging Face Hub, hashing its
weights, and the image preprocessing that feeds it.

This is the only module of ``skintag.model`` that imports ``transformers``. Every backbone is created with
``attn_implementation="eager"`` so that attention maps are available to the explanations (the SDPA path silently
returns none).
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from skintag.errors import ConfigError, ModelBundleError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import SiglipVisionModel

#: Preprocessing code version, part of every cache key: bump it when the pixels produced for the same settings change.
PREPROCESSING_VERSION = 1

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Preprocessing:
    """Image preprocessing of a SigLIP backbone: RGB, resize to a square, scale to [0, 1], normalise per channel.

    The result equals ``transformers``' ``SiglipImageProcessorPil`` with the same size, resample, mean and std
    (checked in the tests); it is written out here so the embedding cache can key on exactly these settings and so
    decoding can run in worker threads without a processor object.

    Attributes
    ----------
    image_size : side of the square model input, in pixels.
    mean, std : per-channel normalisation applied after scaling to [0, 1] (SigLIP uses 0.5 for both).
    resample : PIL filter name: "bicubic" (SigLIP's), "bilinear", "lanczos", "nearest", "box" or "hamming".
    """

    image_size: int = 224
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    resample: str = "bicubic"

    def __post_init__(self) -> None:
        if not isinstance(self.image_size, int) or self.image_size < 1:
            raise ConfigError(f"Preprocessing.image_size must be a positive integer, got {self.image_size!r}")
        if self.resample not in _RESAMPLE:
            raise ConfigError(f"Unknown resample filter {self.resample!r}; expected one of {sorted(_RESAMPLE)}")
        for name in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3:
                raise ConfigError(f"Preprocessing.{name} must have 3 values (RGB), got {value!r}")
            object.__setattr__(self, name, value)
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"Preprocessing.std must be positive, got {self.std!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings, as stored in a bundle manifest under ``preprocessing``."""
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_manifest(cls, d: dict[str, Any]) -> Preprocessing:
        """Build from a manifest's ``preprocessing`` entry (or a whole manifest holding one)."""
        if "preprocessing" in d and isinstance(d["preprocessing"], dict):
            d = d["preprocessing"]
        try:
            return cls(
                image_size=int(d["image_size"]),
                mean=tuple(d.get("mean", (0.5, 0.5, 0.5))),
                std=tuple(d.get("std", (0.5, 0.5, 0.5))),
                resample=str(d.get("resample", "bicubic")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"Invalid preprocessing settings {d!r}: {exc}; expected image_size, mean, std, resample"
            ) from exc

    def key(self) -> str:
        """Stable short hash of these settings and the preprocessing code version (used in cache keys)."""
        payload = json.dumps({"v": PREPROCESSING_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def array(self, image: Image.Image) -> np.ndarray:
        """One image as a float32 array (3, H, W), normalised. Thread-safe (no shared state)."""
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        resized = rgb.resize((self.image_size, self.image_size), _RESAMPLE[self.resample])
        x = np.asarray(resized, dtype=np.float32) * np.float32(1 / 255)
        x = (x - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def __call__(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Preprocess PIL images into a float32 tensor (N, 3, image_size, image_size)."""
        import torch

        if isinstance(images, Image.Image):
            images = [images]
        if len(images) == 0:
            return torch.zeros((0, 3, self.image_size, self.image_size), dtype=torch.float32)
        return torch.from_numpy(np.stack([self.array(im) for im in images]))


def new_backbone(config: dict[str, Any], *, random_state: int | None = None) -> SiglipVisionModel:
    """A freshly initialised ``SiglipVisionModel`` from a ``SiglipVisionConfig`` dict, with eager attention, in eval mode.

    Parameters
    ----------
    config : keyword arguments of ``SiglipVisionConfig`` (image_size, patch_size, hidden_size, ...).
    random_state : if given, the weights are initialised under ``torch.manual_seed(random_state)`` (the global RNG is restored after).
    """
    import torch
    from transformers import SiglipVisionConfig, SiglipVisionModel

    cfg_kwargs = {k: v for k, v in dict(config).items() if k not in ("attn_implementation", "model_type")}
    try:
        cfg = SiglipVisionConfig(**cfg_kwargs, attn_implementation="eager")
    except Exception as exc:  # transformers raises TypeError/ValueError or huggingface_hub's strict-dataclass error
        raise ConfigError(f"Invalid SigLIP vision config {config!r}: {exc}") from exc
    if random_state is None:
        model = SiglipVisionModel(cfg)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(random_state)
            model = SiglipVisionModel(cfg)
    return model.eval()


def _env_flag(*names: str) -> bool:
    return any(os.environ.get(n, "").strip().lower() in _TRUE for n in names)


def _hub_cache_dir() -> str | None:
    """The Hub cache folder from the environment *now* (huggingface_hub reads it only once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def load_backbone(
    source: str | Path,
    *,
    token: str | bool | None = None,
    local_files_only: bool | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
) -> SiglipVisionModel:
    """Load a SigLIP vision tower from a local ``save_pretrained`` folder or a Hugging Face model id (eager attention).

    A full ``SiglipModel`` checkpoint (vision + text, e.g. ``google/siglip-so400m-patch14-384``) also works: only the
    vision tower is kept. Only safetensors weights are accepted (no pickle-based ``.bin``).

    Parameters
    ----------
    source : folder with ``config.json`` and ``model.safetensors``, or a Hub id such as ``google/siglip-base-patch16-224``.
    token : Hub token; ``None`` uses ``HF_TOKEN`` / the stored login as huggingface_hub does.
    local_files_only : ``None`` follows ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` as set at call time.
    revision : Hub revision (branch, tag or commit); ignored for local folders.
    cache_dir : Hub cache; ``None`` follows ``HF_HUB_CACHE`` / ``HF_HOME`` as set at call time.

    Raises
    ------
    ModelBundleError
        If the folder or id cannot be loaded; the message says how to make it available.
    """
    from transformers import SiglipVisionModel

    path = Path(source).expanduser()
    if path.is_dir() and (path / "ensemble.json").is_file():
        from skintag.model.ensemble import load_ensemble

        return load_ensemble(path, load_backbone).eval()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelBundleError(
                f"Backbone folder {path} has no config.json; expected the output of save_pretrained()"
            )
        if not any(path.glob("*.safetensors")):
            raise ModelBundleError(
                f"Backbone folder {path} has no .safetensors weights; only safetensors are accepted (no pickle .bin files)"
            )
        try:
            model = SiglipVisionModel.from_pretrained(
                str(path), attn_implementation="eager", local_files_only=True, use_safetensors=True
            )
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelBundleError(f"Could not load the backbone in {path}: {exc}") from exc
        return model.eval()

    source = str(source)
    offline = _env_flag("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if local_files_only is None else local_files_only
    cache = str(cache_dir) if cache_dir is not None else _hub_cache_dir()
    try:
        model = SiglipVisionModel.from_pretrained(
            source,
            attn_implementation="eager",
            revision=revision,
            token=token,
            local_files_only=offline,
            cache_dir=cache,
            use_safetensors=True,
        )
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        where = f"{source!r}" + (f" at revision {revision!r}" if revision else "")
        mode = "offline (HF_HUB_OFFLINE=1 or local_files_only)" if offline else "online"
        hint = (
            f"download it once while online (`hf download {source}"
            + (f" --revision {revision}" if revision else "")
            + "`), point HF_HOME / HF_HUB_CACHE at a cache that holds it, set HF_TOKEN if the model is gated"
            + (", or unset HF_HUB_OFFLINE to allow downloading" if offline else "")
            + "; or use a bundle with a local backbone/ folder"
        )
        raise ModelBundleError(
            f"Could not load backbone {where} from the Hugging Face Hub {mode} (cache: {cache or 'default'}): "
            f"{str(exc).strip().rstrip('.')}. "
            f"To fix: {hint}."
        ) from exc
    return model.eval()


_HASH_MEMO: weakref.WeakKeyDictionary[Any, tuple[tuple, str]] = weakref.WeakKeyDictionary()


def _weights_signature(model: SiglipVisionModel) -> tuple:
    """Identity of the current weights: storage, in-place version counter, dtype and shape of every tensor.

    Any in-place change (optimizer step, ``load_state_dict``, ``copy_``) bumps a tensor's version counter, and any
    replacement changes its storage, so an unchanged signature means unchanged weights.
    """
    return tuple(
        (name, t.data_ptr(), t._version, str(t.dtype), tuple(t.shape), str(t.device))
        for name, t in model.state_dict(keep_vars=True).items()
    )


def backbone_hash(model: SiglipVisionModel) -> str:
    """SHA-256 over the model config and every tensor of its state dict (name, dtype, shape, bytes).

    Two backbones with equal weights and architecture hash equally wherever they live (CPU/GPU); any fine-tuning
    changes the hash. Used as the backbone part of embedding cache keys. The digest is memoised per model object
    until its weights change (see :func:`_weights_signature`), so repeated calls on a large backbone cost nothing.
    """
    import torch

    signature = (json.dumps(model.config.to_dict(), sort_keys=True, default=str), _weights_signature(model))
    memo = _HASH_MEMO.get(model)
    if memo is not None and memo[0] == signature:
        return memo[1]
    from skintag.model.ensemble import config_identity

    h = hashlib.sha256()
    cfg = config_identity(model.config)
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            t = tensor.detach().to("cpu").contiguous()
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    digest = h.hexdigest()
    _HASH_MEMO[model] = (signature, digest)
    return digest


def dihedral_views(pixel_values: Any) -> Any:
    """The 8 dihedral views (4 rotations by 90°, each also mirrored) of a (N, C, H, W) tensor of square images, stacked
    view-major into (8N, C, H, W): rows ``v * N + i`` are view ``v`` of image ``i``; view 0 is the input itself."""
    import torch

    views = []
    for k in range(8):
        v = torch.rot90(pixel_values, k % 4, dims=(2, 3))
        views.append(torch.flip(v, dims=(3,)) if k >= 4 else v)
    return torch.cat(views, dim=0)


def pooled_embedding(backbone: Any, pixel_values: Any, *, tta: bool = False,
                     output_attentions: bool = False) -> tuple[np.ndarray, Any]:
    """(embeddings (N, D) float32, transformers outputs) of one forward pass under ``torch.no_grad``.

    The embedding is the pooled (MAP) output; with ``tta`` it is the mean over the 8 dihedral views
    (:func:`dihedral_views`), all run in one batch, and the returned outputs (hidden states, attentions) are cut to the
    unaltered view so that explanations see the image as given. For an
    :class:`~skintag.model.ensemble.EnsembleBackbone` it is each member's embedding so computed, side by side, and the
    outputs are an :class:`~skintag.model.ensemble.EnsembleOutput` of the members' outputs.
    """
    import torch

    from skintag.model.ensemble import EnsembleOutput, is_ensemble

    if is_ensemble(backbone):
        parts = [pooled_embedding(m, pixel_values, tta=tta, output_attentions=output_attentions)
                 for m in backbone.members]
        emb = np.concatenate([p[0] for p in parts], axis=1)
        return emb, EnsembleOutput(pooler_output=torch.from_numpy(emb), members=[p[1] for p in parts])

    x = pixel_values.to(dtype=torch.float32)
    n = int(x.shape[0])
    with torch.no_grad():
        out = backbone(pixel_values=dihedral_views(x) if tta and n else x, output_attentions=output_attentions)
    pooled = out.pooler_output.detach().to("cpu", dtype=torch.float32)
    if tta and n:
        pooled = pooled.reshape(8, n, -1).mean(dim=0)
        out = type(out)(**{k: _first_rows(v, n) for k, v in out.items()})
    return pooled.numpy(), out


def _first_rows(value: Any, n: int) -> Any:
    if isinstance(value, tuple):
        return tuple(_first_rows(v, n) for v in value)
    return value[:n] if hasattr(value, "shape") else value
