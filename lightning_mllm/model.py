"""The LightningModule: frozen vision tower -> trainable connector -> LoRA-tuned (or frozen) LLM."""

from __future__ import annotations

import os
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from transformers import AutoConfig, GenerationConfig

from lightning_mllm.chat_format import IMAGE_TOKEN_ID
from lightning_mllm.connector import Connector
from lightning_mllm.fusion import labelled_token_losses, splice_image_features
from lightning_mllm.image_aspect import check_image_aspect
from lightning_mllm.llm import add_lora, base_model, load_llm, prepare_for_training
from lightning_mllm.loss_normalisation import AccumulatedTokenMean
from lightning_mllm.packed_attention import ATTENTION
from lightning_mllm.processor import MultimodalProcessor
from lightning_mllm.stage_handoff import check_connector_init, load_connector_init
from lightning_mllm.stages import check_stage, describe_counts
from lightning_mllm.vision_tower import VisionTower, image_token_count, vision_config
from lightning_mllm.vlm_steps import VLMSteps

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _load_config(key: str, name_or_path: str):
    """Reads a backbone's config, failing with the config key when it cannot be found."""
    # Hub ids are "name" or "org/name"; anything else is meant as a folder.
    looks_local = name_or_path.startswith(("/", ".", "~")) or name_or_path.count("/") > 1
    if looks_local and not os.path.isdir(os.path.expanduser(name_or_path)):
        raise FileNotFoundError(f"model.{key}: folder {name_or_path!r} does not exist")
    try:
        return AutoConfig.from_pretrained(os.path.expanduser(name_or_path))
    except (OSError, ValueError) as error:
        raise FileNotFoundError(f"model.{key}: cannot load {name_or_path!r} (a Hugging Face id or a local "
                                f"folder is expected; is it downloaded and readable?): {error}") from error


class MultimodalLM(VLMSteps, L.LightningModule):
    """A LLaVA-style late-fusion multimodal LLM.

    Args:
        vision_tower: Hugging Face id or folder of a CLIP or SigLIP model (frozen).
        llm: Hugging Face id or folder of a causal LM; its tokenizer is used unless ``tokenizer`` is set.
        tokenizer: Hugging Face id or folder of the tokenizer, when it is not with the LLM.
        stage: ``stage1`` (connector), ``stage2`` (connector + LoRA) or ``full`` (connector + LLM).
        connector: ``linear`` (the paper's) or ``mlp2x_gelu`` (LLaVA-1.5's).
        feature_layer: Vision hidden state fed to the connector (-2: second-to-last, as LLaVA-1.5).
        drop_cls: Drop the vision CLS token (LLaVA-1.5 does).
        max_length: Longest training sequence in tokens, image tokens included.
        llm_dtype: Storage dtype of the frozen backbones: ``bfloat16``, ``float16`` or ``float32``.
        load_in_4bit: Load the LLM in 4-bit NF4 through bitsandbytes (QLoRA).
        lora_rank: LoRA rank r.
        lora_alpha: LoRA scaling alpha (the update is scaled by alpha / r).
        lora_dropout: Dropout on the LoRA input.
        lora_target_modules: Module names to adapt, or ``all-linear`` for every linear layer but the LM head.
        connector_lr: Peak learning rate of the connector.
        llm_lr: Peak learning rate of the LLM's trainable weights (LoRA or all).
        weight_decay: AdamW weight decay.
        warmup_ratio: Share of the steps with linear warm-up before the cosine decay.
        max_new_tokens: Longest generated answer in validation.
        connector_init: A stage-1 checkpoint whose connector weights start this run (stage handoff:
            stage 2 trains connector + LoRA from the stage-1 connector).
        lora_dtype: Storage dtype of the LoRA weights: ``bfloat16`` (adapters in the backbone's
            dtype: no casts, 2.3x the step speed in docs/design.md's probe; AdamW with Kahan summation
            keeps the updates rounding would drop, see ``optimizers.py``) or ``float32`` (peft's
            default: adapter matmuls and their inputs upcast to float32).
        attn_implementation: The LLM's attention kernel: ``sdpa_packed`` (PyTorch SDPA, run on each
            sample of a packed row alone; elsewhere transformers' ``sdpa``; ``packed_attention.py``),
            ``sdpa`` (packed rows attend through a dense block-diagonal mask, computed in full),
            ``flex_attention`` (skips the masked blocks) or ``eager``.
        gradient_checkpointing: Recompute each LLM decoder layer's activations in the backward pass
            (any strategy; under FSDP with ``activation_checkpointing`` the strategy's wrapping is used).
        image_aspect: How a non-square image fits the tower's square input: ``pad`` (pad to a square
            with the processor's mean colour, then resize: LLaVA-1.5's, the default), ``crop`` (the
            tower's processor: resize the short side, cut the centre) or ``resize`` (squash).
    """

    def __init__(
        self,
        vision_tower: str = "openai/clip-vit-large-patch14-336",
        llm: str = "meta-llama/Llama-3.1-8B-Instruct",
        tokenizer: str | None = None,
        stage: str = "stage2",
        connector: str = "linear",
        feature_layer: int = -2,
        drop_cls: bool = True,
        max_length: int = 2048,
        llm_dtype: str = "bfloat16",
        load_in_4bit: bool = False,
        lora_rank: int = 128,
        lora_alpha: int = 256,
        lora_dropout: float = 0.0,
        lora_target_modules: list[str] | str = "all-linear",
        connector_lr: float = 2e-4,
        llm_lr: float = 2e-4,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.03,
        max_new_tokens: int = 16,
        connector_init: str | None = None,
        lora_dtype: str = "bfloat16",
        attn_implementation: str = ATTENTION,
        gradient_checkpointing: bool = False,
        image_aspect: str = "pad",
    ):
        super().__init__()
        self.save_hyperparameters()
        check_stage(stage, load_in_4bit)
        check_connector_init(connector_init)
        check_image_aspect(image_aspect)
        if lora_dtype not in ("float32", "bfloat16"):
            raise ValueError(f"model.lora_dtype={lora_dtype!r}; expected float32 or bfloat16")
        if llm_dtype not in DTYPES:
            raise ValueError(f"model.llm_dtype={llm_dtype!r}; expected one of {sorted(DTYPES)}")
        # Configs are read now, so a wrong path fails before any training starts.
        self.vision_config = _load_config("vision_tower", vision_tower)
        self.llm_config = _load_config("llm", llm)
        self.image_tokens = image_token_count(self.vision_config, drop_cls)
        self.vision: VisionTower | None = None
        self.connector: Connector | None = None
        self.llm = None
        self._processor: MultimodalProcessor | None = None
        self.token_mean = AccumulatedTokenMean()
        # Checkpoints hold only trainable weights (see on_save_checkpoint).
        self.strict_loading = False

    # ----------------------------------------------------------------- building
    def configure_model(self) -> None:
        """Loads the backbones and decides what trains; idempotent (Lightning may call it again)."""
        if self.llm is not None:
            return
        h = self.hparams
        dtype = DTYPES[h.llm_dtype]
        self.vision = VisionTower.from_pretrained(h.vision_tower, h.feature_layer, h.drop_cls, dtype)
        llm = load_llm(h.llm, dtype, h.load_in_4bit, h.attn_implementation)
        if h.stage == "stage2":
            llm = add_lora(llm, h.lora_rank, h.lora_alpha, h.lora_dropout, h.lora_target_modules,
                           DTYPES[h.lora_dtype])
        elif h.stage == "full":
            llm.requires_grad_(True)
        self.llm = llm.train()  # from_pretrained returns eval mode; Lightning expects train mode
        prepare_for_training(llm, h.gradient_checkpointing, h.load_in_4bit, self._trainer)
        llm_width = base_model(llm).get_input_embeddings().embedding_dim
        self.connector = Connector(h.connector, vision_config(self.vision_config).hidden_size, llm_width)
        if h.connector_init:
            load_connector_init(h.connector_init, self.connector)
            rank_zero_info(f"connector initialised from {h.connector_init}")
        rank_zero_info(f"stage {h.stage}: parameters per part\n"
                       + describe_counts({"vision_tower": self.vision, "connector": self.connector, "llm": self.llm}))

    @property
    def processor(self) -> MultimodalProcessor:
        """The tokenizer, image processor and chat formatter that match this model."""
        if self._processor is None:
            h = self.hparams
            self._processor = MultimodalProcessor.from_pretrained(h.tokenizer or h.llm, h.vision_tower,
                                                                  self.image_tokens, h.max_length,
                                                                  h.get("image_aspect", "pad"))
        return self._processor

    # ----------------------------------------------------------------- forward
    def embed(self, input_ids: torch.Tensor, pixel_values: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings with every image placeholder run replaced by projected image features."""
        image_mask = input_ids == IMAGE_TOKEN_ID
        embeds = self.llm.get_input_embeddings()(input_ids.masked_fill(image_mask, 0))
        if pixel_values is not None and len(pixel_values):
            features = self.vision(pixel_values)
            features = self.connector(features.to(self.connector.layers[0].weight.dtype))
            return splice_image_features(embeds, image_mask, features)
        if self.training:
            # A text-only batch still runs the vision tower and the connector on one blank image
            # and adds nothing from it: every rank of a DDP/FSDP run then has gradients for the
            # same parameters and runs the same collectives (FSDP all-gathers the tower's shards),
            # whatever mix of image and text-only samples its batch happened to draw.
            size = vision_config(self.vision.model.config).image_size
            blank = embeds.new_zeros(1, 3, size, size)
            dummy = self.connector(self.vision(blank).to(self.connector.layers[0].weight.dtype))
            embeds = embeds + 0.0 * dummy.sum().to(embeds.dtype)
        return embeds

    def token_losses(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token losses on labelled positions and the batch sample each belongs to."""
        embeds = self.embed(batch["input_ids"], batch.get("pixel_values"))
        llm = base_model(self.llm)
        if "position_ids" in batch:
            # Packed rows: position ids restart per sample and, with no 2D mask and no cache,
            # transformers masks attention to each sample's own block (lightning_mllm/packing.py).
            inputs = {"position_ids": batch["position_ids"], "attention_mask": None}
        else:
            inputs = {"attention_mask": batch["attention_mask"]}
        hidden = llm.get_decoder()(inputs_embeds=embeds, use_cache=False, **inputs).last_hidden_state
        softcap = getattr(llm.config, "final_logit_softcapping", None)
        losses, selected = labelled_token_losses(hidden, batch["labels"], llm.get_output_embeddings(), softcap)
        if "segments" not in batch:  # a hand-made batch of one sample per row
            return losses, selected.nonzero()[:, 0]
        return losses, batch["segments"][:, 1:][selected]

    # ----------------------------------------------------------------- evaluation
    @torch.no_grad()
    def generate(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, pixel_values: torch.Tensor | None,
                 max_new_tokens: int | None = None) -> list[str]:
        """Greedy answers for left-padded prompts, decoded without special tokens.

        ``max_new_tokens`` defaults to the ``max_new_tokens`` setting (validation's answer length).
        """
        tokenizer = self.processor.tokenizer
        eos = self.llm.generation_config.eos_token_id
        eos = list(eos) if isinstance(eos, (list, tuple)) else [eos] if eos is not None else []
        config = GenerationConfig(max_new_tokens=max_new_tokens or self.hparams.max_new_tokens, do_sample=False,
                                  eos_token_id=sorted(set(eos + [tokenizer.eos_token_id])),
                                  pad_token_id=self.processor.pad_token_id)
        embeds = self.embed(prompt_ids, pixel_values)
        # Under FSDP every forward all-gathers weights on every rank: ranks whose answers end
        # early must keep stepping until all are done, or the others wait for them forever.
        trainer = self._trainer
        synced = trainer is not None and trainer.world_size > 1 and "FSDP" in type(trainer.strategy).__name__
        out = self.llm.generate(inputs_embeds=embeds, attention_mask=prompt_mask, generation_config=config,
                                synced_gpus=synced)
        return tokenizer.batch_decode(out, skip_special_tokens=True)

    # ----------------------------------------------------------------- optimisation
    def configure_optimizers(self) -> dict[str, Any]:
        h = self.hparams
        groups = [{"name": "connector", "lr": h.connector_lr,
                   "params": [p for p in self.connector.parameters() if p.requires_grad]}]
        llm_params = [p for p in self.llm.parameters() if p.requires_grad]
        if llm_params:
            groups.append({"name": "llm", "lr": h.llm_lr, "params": llm_params})
        return self.optimizer_and_schedule(groups)
