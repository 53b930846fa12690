"""Pretrains the demo's tiny vision tower on synthetic scenes before it is frozen.

A real CLIP tower arrives pretrained: its patch features already say what is where. A random
tiny tower does not, and with one the demo's tiny LLM plateaued near 72% answer accuracy in the
time budget (BENCHMARKS.md) because it had to learn vision and language at once through a frozen
random projection. A few seconds of supervised training, in which every patch learns to name the
shape and colour in its column's slot, both alone and together with which slot that is, gives the
tiny tower the kind of features a real one has. The joint (slot, shape) classes matter: with the
content alone the features carried the slot only weakly (12% of their variance against 18% with
the joint classes), and the LLM then confused left and right. The tower is then saved and stays
frozen during the MLLM training, as the paper's does.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn
from transformers import CLIPImageProcessor, CLIPVisionModel

from lightning_mllm import synthetic_scenes as scenes


def _batch(rng: random.Random, count: int, size: int, mean: torch.Tensor, std: torch.Tensor):
    images, kinds, colours = [], [], []
    for _ in range(count):
        scene = scenes.sample_scene(rng)
        images.append(np.asarray(scenes.render_scene(scene, size, rng)))
        kind, colour = [0] * len(scenes.SLOTS), [0] * len(scenes.SLOTS)
        for shape in scene:  # 0 means an empty slot
            slot = scenes.SLOTS.index(shape.slot)
            kind[slot] = 1 + scenes.SHAPES.index(shape.kind)
            colour[slot] = 1 + scenes.COLOURS.index(shape.colour)
        kinds.append(kind)
        colours.append(colour)
    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    return (pixels - mean) / std, torch.tensor(kinds), torch.tensor(colours)


def pretrain_on_scenes(model: CLIPVisionModel, steps: int = 150, batch_size: int = 64, lr: float = 1e-3,
                       feature_layer: int = -2, seed: int = 0) -> list[float]:
    """Trains ``model`` in place so each patch feature at ``feature_layer`` names the shape and
    colour in its column's slot and which slot that is; returns the loss of every step."""
    config = model.config
    grid = config.image_size // config.patch_size
    slot_of_patch = torch.tensor([(i % grid) * len(scenes.SLOTS) // grid for i in range(grid * grid)])
    slots = len(scenes.SLOTS)
    heads = nn.ModuleList([nn.Linear(config.hidden_size, slots * (1 + len(scenes.SHAPES))),
                           nn.Linear(config.hidden_size, slots * (1 + len(scenes.COLOURS))),
                           nn.Linear(config.hidden_size, 1 + len(scenes.SHAPES)),
                           nn.Linear(config.hidden_size, 1 + len(scenes.COLOURS))])
    processor = CLIPImageProcessor()  # the mean and std the saved image processor applies
    mean = torch.tensor(processor.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(processor.image_std).view(1, 3, 1, 1)
    optimizer = torch.optim.AdamW([*model.parameters(), *heads.parameters()], lr=lr)
    rng = random.Random(seed)
    losses = []
    model.train()
    for _ in range(steps):
        pixels, kinds, colours = _batch(rng, batch_size, config.image_size, mean, std)
        features = model(pixel_values=pixels, output_hidden_states=True).hidden_states[feature_layer][:, 1:]
        # Per patch: its column's slot's shape and colour, alone and joined with the slot.
        targets = [kinds[:, slot_of_patch] * slots + slot_of_patch, colours[:, slot_of_patch] * slots + slot_of_patch,
                   kinds[:, slot_of_patch], colours[:, slot_of_patch]]
        loss = sum(nn.functional.cross_entropy(head(features).flatten(0, 1), target.flatten())
                   for head, target in zip(heads, targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses
