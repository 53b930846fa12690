"""Greedy chat generation with a Hugging Face causal LM, shared by translation and the judge.

``TransformersEngine`` renders each conversation with the model's own chat template, generates a
left-padded batch greedily and never runs code from the model's repository. ``placement`` puts a
model too big for one GPU across all of them (``device_map="auto"``).
"""

from __future__ import annotations

import torch

Conversation = list[dict[str, str]]


def placement(device: str, cuda_available: bool | None = None) -> dict[str, str]:
    """``from_pretrained`` placement for ``device``: ``device_map="auto"`` (the model spread over
    every visible GPU, so one too big for a single GPU still loads) when ``device`` is ``auto``
    and there is a GPU; otherwise nothing (the model is moved to ``device`` after loading)."""
    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    return {"device_map": "auto"} if device == "auto" and cuda else {}


def left_padded(tokenizer):
    """``tokenizer`` set to pad on the left (every prompt then ends where generation starts, so a
    batch generates together), with the end-of-text token as pad token when it has none."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


class TransformersEngine:
    """Generates with ``AutoModelForCausalLM``; one ``generate`` call per list of conversations.

    Args:
        model: Hugging Face id or folder of an instruction-tuned causal LM with a chat template.
        dtype: ``bfloat16``, ``float16`` or ``float32``.
        device: ``auto`` (all visible GPUs through ``device_map="auto"``, else the CPU), ``cuda``,
            ``cuda:1``, ``cpu``...
        max_new_tokens: Longest reply.
    """

    def __init__(self, model: str, dtype: str = "bfloat16", device: str = "auto", max_new_tokens: int = 1024):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = left_padded(AutoTokenizer.from_pretrained(model))
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"{model!r}: the tokenizer has no chat template (an instruction-tuned model is needed)")
        # A 70B model does not fit one GPU: with device "auto", device_map spreads it over all of them.
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, dtype), **placement(device))
        if device != "auto":
            self.model.to(device)
        self.model.eval()
        self.max_new_tokens = max_new_tokens

    @torch.inference_mode()
    def generate(self, conversations: list[Conversation]) -> list[str]:
        """The greedy reply to each conversation, generated as one left-padded batch."""
        if not conversations:
            return []
        texts = [self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                 for c in conversations]
        # The template already wrote the BOS token; the tokenizer must not add a second one.
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        inputs = inputs.to(self.model.device)
        generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                        pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.batch_decode(generated[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
