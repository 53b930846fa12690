"""The frozen vision tower: a CLIP or SigLIP vision transformer that turns images into patch features."""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, CLIPVisionModel, SiglipVisionModel

# model_type of a full checkpoint or of its vision part -> the class that loads the vision part.
VISION_CLASSES = {
    "clip": CLIPVisionModel, "clip_vision_model": CLIPVisionModel,
    "siglip": SiglipVisionModel, "siglip_vision_model": SiglipVisionModel,
}


def vision_config(config):
    """The vision part of a full CLIP/SigLIP config, or the config itself."""
    return getattr(config, "vision_config", config)


def image_token_count(config, drop_cls: bool) -> int:
    """Sequence positions one image takes: one per patch, plus CLS when it is kept (CLIP only)."""
    vision = vision_config(config)
    patches = (vision.image_size // vision.patch_size) ** 2
    has_cls = config.model_type.startswith("clip")
    return patches + int(has_cls and not drop_cls)


class VisionTower(nn.Module):
    """Wraps a pretrained vision transformer that never trains.

    Args:
        model: A ``CLIPVisionModel`` or ``SiglipVisionModel``.
        feature_layer: Which hidden state to use (-2, the second-to-last layer, as LLaVA-1.5).
        drop_cls: Drop CLIP's class token and keep only patch tokens (LLaVA-1.5 does).
    """

    def __init__(self, model: nn.Module, feature_layer: int = -2, drop_cls: bool = True):
        super().__init__()
        self.model = model
        self.feature_layer = feature_layer
        self.has_cls = model.config.model_type.startswith("clip")
        self.drop_cls = drop_cls
        self.model.requires_grad_(False)
        self.model.eval()

    @classmethod
    def from_pretrained(cls, name_or_path: str, feature_layer: int = -2, drop_cls: bool = True,
                        dtype: torch.dtype | None = None) -> "VisionTower":
        """Loads the vision part of a CLIP or SigLIP checkpoint (a hub id or a local folder)."""
        model_type = AutoConfig.from_pretrained(name_or_path).model_type
        if model_type not in VISION_CLASSES:
            raise ValueError(f"{name_or_path!r} is a {model_type!r} model; the vision tower supports "
                             f"{sorted(VISION_CLASSES)}")
        model = VISION_CLASSES[model_type].from_pretrained(name_or_path, dtype=dtype)
        return cls(model, feature_layer, drop_cls)

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    @property
    def num_tokens(self) -> int:
        return image_token_count(self.model.config, self.drop_cls)

    def train(self, mode: bool = True) -> "VisionTower":
        # Frozen: dropout and friends stay off whatever mode the LightningModule switches to.
        return super().train(False)

    @torch.no_grad()
    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(images, 3, H, W) -> (images, num_tokens, hidden_size) features."""
        dtype = next(self.model.parameters()).dtype
        out = self.model(pixel_values=pixel_values.to(dtype), output_hidden_states=True)
        features = out.hidden_states[self.feature_layer]
        if self.has_cls and self.drop_cls:
            features = features[:, 1:]
        return features
