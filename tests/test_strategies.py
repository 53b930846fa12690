"""Distributed strategies: the FSDP wrap policy covers the layers of the paper's backbones."""

from __future__ import annotations

import pytest
from helpers import make_model

from lightning_mllm.fsdp import MultimodalFSDPStrategy
from lightning_mllm.llm import base_model


def test_fsdp_units_are_the_llm_and_vision_layers(tiny_paths):
    strategy = MultimodalFSDPStrategy(activation_checkpointing=True)
    classes = tuple(strategy.layer_classes)
    model = make_model(tiny_paths, stage="stage2")
    wrapped = [name for name, module in model.named_modules() if isinstance(module, classes)]
    llm_layers = base_model(model.llm).model.layers
    vision_layers = model.vision.model.vision_model.encoder.layers \
        if hasattr(model.vision.model, "vision_model") else next(
            m for n, m in model.vision.model.named_modules() if n.endswith("encoder.layers"))
    assert len(wrapped) == len(llm_layers) + len(vision_layers)
    assert all(isinstance(layer, classes) for layer in [*llm_layers, *vision_layers])
    # LoRA puts frozen and trainable weights in one unit: only allowed with original parameters.
    assert strategy.kwargs["use_orig_params"] is True
    assert strategy.sharding_strategy.name == "FULL_SHARD"


def test_bad_fsdp_settings_fail_naming_the_key():
    with pytest.raises(ValueError, match="trainer.strategy.layer_classes: cannot import 'transformers.Nope'"):
        MultimodalFSDPStrategy(layer_classes=["transformers.Nope"])
    with pytest.raises(ValueError, match="sharding_strategy='ZERO9'"):
        MultimodalFSDPStrategy(sharding_strategy="ZERO9")
