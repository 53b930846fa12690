"""The LightningModule that adapts an existing Hugging Face vision-language model (LLaVA, Qwen-VL).

Built with ``AutoModelForImageTextToText.from_pretrained(init_from)`` and the model's own
``AutoProcessor`` (tokenizer, image processor, chat template). The model's own forward fuses the
images (and computes Qwen's multimodal rotary positions); the loss, like ``MultimodalLM``'s, runs
the LM head only on labelled positions. Everything around the model (mixture datamodule,
callbacks, checkpoints, exact resume, benchmark answering) is the project's, unchanged.
"""

from __future__ import annotations

import inspect
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from transformers import AutoModelForImageTextToText, GenerationConfig

from lightning_mllm.chat_format import IMAGE_TOKEN_ID
from lightning_mllm.fusion import labelled_token_losses
from lightning_mllm.llm import enable_checkpointing
from lightning_mllm.loss_normalisation import AccumulatedTokenMean
from lightning_mllm.stages import check_stage, describe_counts
from lightning_mllm.vlm_parts import (
    Family,
    apply_stage,
    connector_modules,
    family,
    inner_model,
    load_vlm_config,
    parts,
    top_model,
)
from lightning_mllm.vlm_processor import VLMProcessor
from lightning_mllm.vlm_steps import VLMSteps

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class PretrainedVLM(VLMSteps, L.LightningModule):
    """An existing image-text-to-text model, trained by stage: vision frozen, projector/merger as
    the connector, LoRA (or full) on its language model.

    Args:
        init_from: Hugging Face id or folder of a LLaVA or Qwen2-VL / Qwen2.5-VL / Qwen3-VL model
            with its processor (e.g. ``Qwen/Qwen2-VL-2B-Instruct``, ``llava-hf/llava-1.5-7b-hf``).
        stage: ``stage1`` (connector), ``stage2`` (connector + LoRA) or ``full`` (connector + language model).
        max_length: Longest training sequence in tokens, image tokens included.
        dtype: Storage dtype of the model: ``bfloat16``, ``float16`` or ``float32``.
        image_size: Qwen-VL: side in pixels every image is resized to (448: 256 tokens for
            Qwen2-VL); None keeps 448. LLaVA models have one input size: leave it unset.
        lora_rank: LoRA rank r.
        lora_alpha: LoRA scaling alpha (the update is scaled by alpha / r).
        lora_dropout: Dropout on the LoRA input.
        lora_target_modules: ``all-linear`` (every linear layer of the language model) or short
            names (``q_proj``...) of language-model linears; the vision tower is never adapted.
        lora_dtype: ``float32`` (peft's default) or ``bfloat16`` (adapters in the backbone's dtype).
        connector_lr: Peak learning rate of the projector/merger.
        llm_lr: Peak learning rate of the language model's trainable weights (LoRA or all).
        weight_decay: AdamW weight decay.
        warmup_ratio: Share of the steps with linear warm-up before the cosine decay.
        max_new_tokens: Longest generated answer in validation.
        attn_implementation: Attention kernel: ``sdpa`` or ``eager``.
        gradient_checkpointing: Recompute each layer's activations in the backward pass
            (transformers' checkpointing of the model's language and vision layers).
    """

    def __init__(
        self,
        init_from: str = "Qwen/Qwen2-VL-2B-Instruct",
        stage: str = "stage2",
        max_length: int = 2048,
        dtype: str = "bfloat16",
        image_size: int | None = None,
        lora_rank: int = 64,
        lora_alpha: int = 128,
        lora_dropout: float = 0.0,
        lora_target_modules: list[str] | str = "all-linear",
        lora_dtype: str = "float32",
        connector_lr: float = 2e-5,
        llm_lr: float = 2e-4,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.03,
        max_new_tokens: int = 16,
        attn_implementation: str = "sdpa",
        gradient_checkpointing: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        check_stage(stage, False)
        for key, value in (("dtype", dtype), ("lora_dtype", lora_dtype)):
            if value not in DTYPES:
                raise ValueError(f"model.{key}={value!r}; expected one of {sorted(DTYPES)}")
        # Read now, so a wrong path or an unsupported architecture fails before training starts.
        self.vlm_config = load_vlm_config(init_from)
        self.model = None
        self._processor: VLMProcessor | None = None
        self.token_mean = AccumulatedTokenMean()
        # Checkpoints hold only trainable weights (see on_save_checkpoint).
        self.strict_loading = False

    def configure_model(self) -> None:
        """Loads the model and decides what trains; idempotent (Lightning may call it again)."""
        if self.model is not None:
            return
        h = self.hparams
        model = AutoModelForImageTextToText.from_pretrained(h.init_from, dtype=DTYPES[h.dtype],
                                                            attn_implementation=h.attn_implementation)
        lora = {"rank": h.lora_rank, "alpha": h.lora_alpha, "dropout": h.lora_dropout,
                "target_modules": h.lora_target_modules}
        if h.gradient_checkpointing:
            enable_checkpointing(model)
        self.model = apply_stage(model, h.stage, self.family, lora, DTYPES[h.lora_dtype]).train()
        rank_zero_info(f"stage {h.stage} of {h.init_from} ({self.vlm_config.model_type}): parameters per part\n"
                       + describe_counts(parts(self.model, self.family)))

    @property
    def family(self) -> Family:
        return family(self.vlm_config)

    @property
    def processor(self) -> VLMProcessor:
        """The model's tokenizer, chat template and image processor behind the datamodules' interface."""
        if self._processor is None:
            h = self.hparams
            self._processor = VLMProcessor.from_pretrained(h.init_from, self.vlm_config, h.max_length, h.image_size)
        return self._processor

    @property
    def llm(self) -> torch.nn.Module:
        """The trained model as ``MultimodalLM.llm`` is (chat reads its generation config from it)."""
        return self.model

    # ----------------------------------------------------------------- forward
    def model_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     pixel_values: torch.Tensor | None) -> dict[str, Any]:
        """The model's own forward inputs: image runs as its image token, Qwen's patches and grids."""
        image_id = self.vlm_config.image_token_id
        ids = input_ids.masked_fill(input_ids == IMAGE_TOKEN_ID, image_id)
        inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": attention_mask}
        if pixel_values is not None and len(pixel_values):
            inputs["pixel_values"] = pixel_values.to(self.dtype_of_model)
            if self.family.grid:
                # (images, patches, features) -> the flat patch list with one (t, h, w) row per image.
                inputs["pixel_values"] = inputs["pixel_values"].flatten(0, 1)
                inputs["image_grid_thw"] = self.processor.grid.to(ids.device).repeat(len(pixel_values), 1)
        if "mm_token_type_ids" in inspect.signature(type(inner_model(self.model)).forward).parameters:
            inputs["mm_token_type_ids"] = (ids == image_id).int()  # text 0, image 1
        return inputs

    @property
    def dtype_of_model(self) -> torch.dtype:
        return DTYPES[self.hparams.dtype]

    def token_losses(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token losses on labelled positions and the batch sample each belongs to."""
        if "position_ids" in batch:
            raise ValueError(self._packing_error(None))
        pixels = batch.get("pixel_values")
        inputs = self.model_inputs(batch["input_ids"], batch["attention_mask"], pixels)
        hidden = inner_model(self.model)(**inputs, use_cache=False).last_hidden_state
        losses, selected = labelled_token_losses(hidden, batch["labels"], top_model(self.model).lm_head)
        if self.training and pixels is None:
            # A text-only batch leaves the connector without gradients; a zero-weighted term keeps
            # every rank of a DDP run reducing the same parameters whatever its batch drew.
            used = sum(p.sum() for m in connector_modules(self.model, self.family) for p in m.parameters()
                       if p.requires_grad)
            losses = losses + 0.0 * used
        if "segments" not in batch:
            return losses, selected.nonzero()[:, 0]
        return losses, batch["segments"][:, 1:][selected]

    def _packing_error(self, pack_length: int | None) -> str:
        return (f"data.pack_length={pack_length} cannot be used with model.init_from "
                f"({self.vlm_config.model_type}): the model computes its own positions from each row "
                f"(Qwen-VL's multimodal rotary positions), which packed rows would mix; leave data.pack_length unset")

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        pack_length = getattr(datamodule, "pack_length", None)
        if pack_length is not None:
            raise ValueError(self._packing_error(pack_length))

    # ----------------------------------------------------------------- generation
    @torch.no_grad()
    def generate(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, pixel_values: torch.Tensor | None,
                 max_new_tokens: int | None = None) -> list[str]:
        """Greedy answers for left-padded prompts, decoded without special tokens."""
        tokenizer = self.processor.tokenizer
        eos = self.model.generation_config.eos_token_id
        eos = list(eos) if isinstance(eos, (list, tuple)) else [eos] if eos is not None else []
        config = GenerationConfig(max_new_tokens=max_new_tokens or self.hparams.max_new_tokens, do_sample=False,
                                  eos_token_id=sorted(set(eos + [tokenizer.eos_token_id])),
                                  pad_token_id=self.processor.pad_token_id)
        inputs = self.model_inputs(prompt_ids, prompt_mask, pixel_values)
        out = top_model(self.model).generate(**inputs, generation_config=config)
        return tokenizer.batch_decode(out[:, prompt_ids.shape[1]:], skip_special_tokens=True)

    # ----------------------------------------------------------------- optimisation
    def configure_optimizers(self) -> dict[str, Any]:
        connector = {id(p) for m in connector_modules(self.model, self.family) for p in m.parameters()}
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        groups = [{"name": "connector", "lr": self.hparams.connector_lr,
                   "params": [p for p in trainable if id(p) in connector]}]
        rest = [p for p in trainable if id(p) not in connector]
        if rest:
            groups.append({"name": "llm", "lr": self.hparams.llm_lr, "params": rest})
        return self.optimizer_and_schedule(groups)
