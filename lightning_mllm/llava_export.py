"""Converts a trained ``MultimodalLM`` into a standard Hugging Face ``LlavaForConditionalGeneration``.

The mapping (docs/design.md, "Export"): the vision tower becomes LLaVA's ``vision_tower`` (same class,
same weights; ``vision_feature_layer`` is our ``feature_layer`` and the ``default`` strategy drops
CLIP's CLS token as ``drop_cls`` does), the connector becomes ``multi_modal_projector`` and the LLM,
with its LoRA merged, becomes ``language_model`` + ``lm_head``. A ``linear`` connector is exactly a
LLaVA projector whose activation is ``linear`` (identity) and whose second layer is the identity
matrix with a zero bias, so both connectors load with no custom code.

Our image positions are a negative id outside the vocabulary; LLaVA needs a real ``<image>``
token, so one is added to the tokenizer and the embeddings grow by one row. That row's input
embedding is never used (image features replace it); its output row is zero and the generation
config suppresses the token, so the exported model never generates it, as ours cannot.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from tokenizers import AddedToken
from torch import nn
from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, PreTrainedModel

from lightning_mllm.chat_format import IMAGE_PLACEHOLDER
from lightning_mllm.llm import base_model
from lightning_mllm.model import MultimodalLM

# Put in front of the LLM's own chat template: messages whose content is a list of parts
# ({"type": "image"} / {"type": "text", "text": ...}, what LLaVA processors are given) become plain
# strings with "<image>\n" where the image goes, the form the model was trained on (chat_format.py).
# String contents pass through untouched, so text-only chats render exactly as before.
MULTIMODAL_PREAMBLE = "\n".join([
    "{%- set ns = namespace(messages=[]) -%}",
    "{%- for message in messages -%}",
    "{%- if message['content'] is string -%}",
    "{%- set ns.messages = ns.messages + [message] -%}",
    "{%- else -%}",
    "{%- set parts = namespace(text='') -%}",
    "{%- for part in message['content'] -%}",
    "{%- if part['type'] == 'image' -%}{%- set parts.text = parts.text + '" + IMAGE_PLACEHOLDER + "\\n' -%}",
    "{%- elif part['type'] == 'text' -%}{%- set parts.text = parts.text + part['text'] -%}",
    "{%- endif -%}",
    "{%- endfor -%}",
    "{%- set ns.messages = ns.messages + [{'role': message['role'], 'content': parts.text}] -%}",
    "{%- endif -%}",
    "{%- endfor -%}",
    "{%- set messages = ns.messages %}",
])


def merged_llm(model: MultimodalLM) -> PreTrainedModel:
    """The LLM with its LoRA update folded into the weights (stage 2), or the LLM itself.

    Consumes the model: after the merge its ``llm`` no longer holds adapters.
    """
    llm = model.llm
    return llm.merge_and_unload() if llm is not base_model(llm) else llm


def add_image_token(tokenizer: Any, llm: PreTrainedModel) -> int:
    """Adds ``<image>`` as a special token and one embedding row for it; returns its id."""
    tokenizer.add_tokens([AddedToken(IMAGE_PLACEHOLDER, special=True, normalized=False, lstrip=False,
                                     rstrip=False)], special_tokens=True)
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_PLACEHOLDER)
    old_rows = llm.get_input_embeddings().weight.shape[0]
    if image_id >= old_rows:
        llm.resize_token_embeddings(image_id + 1, mean_resizing=False)
        with torch.no_grad():
            inputs = llm.get_input_embeddings().weight
            inputs[old_rows:] = inputs[:old_rows].mean(0)  # a typical embedding; replaced by image features anyway
            outputs = llm.get_output_embeddings().weight
            if outputs.data_ptr() != inputs.data_ptr():  # untied: the new logits are 0 and suppressed
                outputs[old_rows:] = 0
    return image_id


def llava_config(model: MultimodalLM, llm: PreTrainedModel, image_id: int) -> LlavaConfig:
    """The LlavaConfig that reproduces ``model``'s vision features, connector and LLM."""
    h = model.hparams
    vision = model.vision
    return LlavaConfig(
        vision_config=vision.model.config, text_config=llm.config, image_token_index=image_id,
        image_seq_length=vision.num_tokens, vision_feature_layer=h.feature_layer,
        # "default" drops the first position (CLS); SigLIP has none, so it keeps every patch.
        vision_feature_select_strategy="default" if vision.has_cls and vision.drop_cls else "full",
        projector_hidden_act="gelu" if h.connector == "mlp2x_gelu" else "linear",
        multimodal_projector_bias=True,
        tie_word_embeddings=bool(getattr(llm.config, "tie_word_embeddings", False)))


def projector_state(connector: nn.Module) -> dict[str, torch.Tensor]:
    """Our connector's weights under LLaVA projector names; ``linear`` gets an identity second layer."""
    first = connector.layers[0]
    state = {"linear_1.weight": first.weight, "linear_1.bias": first.bias}
    if connector.kind == "linear":
        width = first.out_features
        # Identity times x adds exact zeros: the projector's output is bit-for-bit linear_1's.
        state["linear_2.weight"] = torch.eye(width, dtype=first.weight.dtype)
        state["linear_2.bias"] = torch.zeros(width, dtype=first.weight.dtype)
    else:
        second = connector.layers[2]
        state["linear_2.weight"], state["linear_2.bias"] = second.weight, second.bias
    return {k: v.detach().to("cpu", torch.float32) for k, v in state.items()}


def assemble(config: LlavaConfig, model: MultimodalLM, llm: PreTrainedModel) -> LlavaForConditionalGeneration:
    """A LLaVA model holding ``model``'s own modules (no copy of the multi-gigabyte weights)."""
    # Built on the meta device: initialising 8B random weights that are replaced at once would
    # cost minutes and a second copy of the model in memory.
    with torch.device("meta"):
        llava = LlavaForConditionalGeneration(config)
    inner = llava.model
    inner.vision_tower = model.vision.model
    inner.language_model = llm.get_decoder()
    llava.lm_head = llm.get_output_embeddings()
    projector = inner.multi_modal_projector.to_empty(device="cpu")
    projector.load_state_dict(projector_state(model.connector), strict=True)
    left = [n for n, t in [*llava.named_parameters(), *llava.named_buffers()] if t.is_meta]
    if left:
        raise RuntimeError(f"LLaVA export left weights unset (a transformers layout change?): {left[:3]}")
    generation = copy.deepcopy(llm.generation_config)
    generation.suppress_tokens = sorted(set(generation.suppress_tokens or []) | {config.image_token_index})
    llava.generation_config = generation
    return llava


def build_processor(tokenizer: Any, image_processor: Any, config: LlavaConfig) -> LlavaProcessor:
    """A LlavaProcessor that expands ``<image>`` into as many tokens as the model has features."""
    vision = config.vision_config
    template = tokenizer.chat_template
    wrapped = MULTIMODAL_PREAMBLE + template
    probe = [{"role": "user", "content": f"{IMAGE_PLACEHOLDER}\nq"}, {"role": "assistant", "content": "a"}]
    if tokenizer.apply_chat_template(probe, tokenize=False, chat_template=wrapped) != \
            tokenizer.apply_chat_template(probe, tokenize=False, chat_template=template):
        raise ValueError("the multimodal chat template preamble changes how text-only chats render")
    tokenizer.chat_template = wrapped
    # LlavaProcessor counts (size / patch)^2 + num_additional_image_tokens and takes one off for
    # the "default" strategy: CLIP's CLS is that additional token, SigLIP has none.
    has_cls = vision.model_type.startswith("clip")
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=vision.patch_size,
                          vision_feature_select_strategy=config.vision_feature_select_strategy,
                          chat_template=wrapped, image_token=IMAGE_PLACEHOLDER,
                          num_additional_image_tokens=int(has_cls))


def to_llava(model: MultimodalLM, dtype: torch.dtype) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """The exported model in ``dtype`` and its processor; consumes ``model`` (LoRA is merged in place)."""
    tokenizer = copy.deepcopy(model.processor.tokenizer)
    llm = merged_llm(model)
    image_id = add_image_token(tokenizer, llm)
    config = llava_config(model, llm, image_id)
    llava = assemble(config, model, llm).to(dtype).eval()
    processor = build_processor(tokenizer, model.processor.image_processor, config)
    return llava, processor
