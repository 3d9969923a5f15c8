"""An ensemble of SigLIP vision towers seen as one backbone.

:class:`EnsembleBackbone` holds several towers (members) that take the same pixels (one image size, one
preprocessing). Its embedding is the concatenation of the members' pooled (MAP) embeddings, lead member first, so the
rest of the product (heads, calibration, domain detector, embedding cache, SHAP over the whole pipeline) works on it
unchanged. The heads that go with it (:class:`skintag.model.heads.EnsembleHead`) average one head per member, each
reading its member's slice of the embedding.

On disk (``save_pretrained``): ``ensemble.json`` (``{"format": "skintag-ensemble-backbone", "members": ["0", ...]}``)
and one ``save_pretrained`` folder per member; :func:`skintag.model.backbone.load_backbone` recognises the folder.
Attention explanations average the members' maps (:func:`skintag.explain.attention.attention_maps`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from skintag.errors import ConfigError, ModelBundleError

ENSEMBLE_FILE = "ensemble.json"
ENSEMBLE_FORMAT = "skintag-ensemble-backbone"
#: config keys that say where or how a model was saved, not what it is (left out of identities and manifests)
VOLATILE_CONFIG_KEYS = ("transformers_version", "_name_or_path", "architectures", "dtype", "torch_dtype",
                        "_attn_implementation")


def config_identity(config: Any) -> dict[str, Any]:
    """A backbone config as a dict without the keys that depend on where or with which library it was saved."""
    cfg = config.to_dict()
    for k in VOLATILE_CONFIG_KEYS:
        cfg.pop(k, None)
    return cfg


class EnsembleConfig:
    """The config an ensemble shows the code that reads ``backbone.config``: the members' common ``image_size``,
    ``num_channels`` and ``patch_size`` (the lead member's), and ``hidden_size`` = the concatenated embedding width."""

    def __init__(self, members: Sequence[Any]) -> None:
        self.members = list(members)
        self.image_size = int(self.members[0].image_size)
        self.num_channels = int(self.members[0].num_channels)
        self.patch_size = int(self.members[0].patch_size)
        self.hidden_size = sum(int(m.hidden_size) for m in self.members)

    def to_dict(self) -> dict[str, Any]:
        return {"model_type": "skintag_ensemble", "members": [config_identity(m) for m in self.members]}


@dataclass
class EnsembleOutput:
    """The outputs of an ensemble forward pass: the concatenated pooled embedding and each member's outputs."""

    pooler_output: torch.Tensor
    members: list[Any] = field(default_factory=list)


class EnsembleBackbone(torch.nn.Module):
    """Several SigLIP vision towers (two at least, one image size and patch grid) whose embedding is their pooled outputs side by
    side, lead member first. ``forward`` takes and returns what a ``SiglipVisionModel`` does where the product reads it
    (``pooler_output``; each member's full outputs in ``members``)."""

    def __init__(self, members: Sequence[torch.nn.Module]) -> None:
        super().__init__()
        members = list(members)
        if len(members) < 2:
            raise ConfigError(f"An ensemble backbone needs at least two members, got {len(members)}")
        if any(isinstance(m, EnsembleBackbone) for m in members):
            raise ConfigError("An ensemble backbone cannot contain another ensemble")
        grids = sorted({(int(m.config.image_size), int(m.config.patch_size)) for m in members})
        if len(grids) > 1:
            raise ConfigError(f"Ensemble members must share image size and patch size (one patch grid); got {grids}")
        self.members = torch.nn.ModuleList(members)
        self.config = EnsembleConfig([m.config for m in members])

    @property
    def widths(self) -> list[int]:
        """Each member's embedding width, in order (the slices of the concatenated embedding)."""
        return [int(m.config.hidden_size) for m in self.members]

    def forward(self, pixel_values: torch.Tensor, output_attentions: bool = False, **kwargs: Any) -> EnsembleOutput:
        outs = [m(pixel_values=pixel_values, output_attentions=output_attentions, **kwargs) for m in self.members]
        return EnsembleOutput(pooler_output=torch.cat([o.pooler_output for o in outs], dim=-1), members=outs)

    def save_pretrained(self, folder: str | Path, **kwargs: Any) -> None:
        """``ensemble.json`` and one ``save_pretrained`` folder per member (safetensors)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        names = [str(i) for i in range(len(self.members))]
        for name, member in zip(names, self.members, strict=True):
            member.save_pretrained(folder / name, **kwargs)
        (folder / ENSEMBLE_FILE).write_text(
            json.dumps({"format": ENSEMBLE_FORMAT, "members": names}, indent=2) + "\n", encoding="utf-8")


def is_ensemble(backbone: Any) -> bool:
    return isinstance(backbone, EnsembleBackbone)


def load_ensemble(folder: Path, load_member: Any) -> EnsembleBackbone:
    """The ensemble saved in ``folder`` by :meth:`EnsembleBackbone.save_pretrained`; ``load_member(path)`` loads one
    member folder (it must stay inside ``folder``)."""
    try:
        spec = json.loads((folder / ENSEMBLE_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelBundleError(f"Could not read {folder / ENSEMBLE_FILE}: {exc}") from exc
    names = spec.get("members") if isinstance(spec, dict) else None
    if spec.get("format") != ENSEMBLE_FORMAT or not isinstance(names, list) or len(names) < 2:
        raise ModelBundleError(f"{folder / ENSEMBLE_FILE} is not a SkinTag ensemble of two or more members")
    for name in names:
        if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
            raise ModelBundleError(f"{folder / ENSEMBLE_FILE}: member {name!r} is not a plain folder name")
    return EnsembleBackbone([load_member(folder / name) for name in names])

