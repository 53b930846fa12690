"""Turns a conversation into token ids and labels with the LLM tokenizer's own chat template.

Labels cover exactly the assistant turns as the template renders them (their content and the
template's end-of-turn token, ``<|eot_id|>`` for Llama-3); everything else is ``IGNORE_INDEX``.
The assistant spans are found by rendering growing prefixes of the conversation, so any template
that renders a conversation as the concatenation of its turns works, not only Llama-3's.

Each ``<image>`` placeholder becomes ``image_tokens`` copies of ``IMAGE_TOKEN_ID``, a negative id
outside every vocabulary: the model replaces those positions with projected image features, and
the vocabulary (and thus the embedding matrix) never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IMAGE_PLACEHOLDER = "<image>"
IMAGE_TOKEN_ID = -200
IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")
# LLaVA's speaker names (``"from"``) as ``ROLES``: the shard writer and the translator both read them.
LLAVA_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


class SampleError(ValueError):
    """A sample that cannot be used; ``reason`` is a short key for the skipped-sample counters."""

    def __init__(self, reason: str, detail: str, sample: str | None = None):
        super().__init__(f"{reason}: {'sample ' + sample + ': ' if sample else ''}{detail}")
        self.reason = reason
        self.detail = detail
        self.sample = sample


@dataclass
class EncodedChat:
    """Token ids and labels of one conversation; ``truncated`` is True when text was cut."""

    input_ids: list[int]
    labels: list[int]
    truncated: bool = False


def check_messages(messages: Any, has_image: bool, sample: str | None = None) -> list[dict[str, str]]:
    """Validates a conversation and places the image placeholder; returns a normalised copy.

    An image sample without a placeholder gets one at the start of the first user turn
    (docs/design.md); any other mismatch between placeholders and images, and a conversation that
    opens with the assistant, is a ``SampleError`` naming ``sample`` (where it came from).
    """
    try:
        return _checked_messages(messages, has_image)
    except SampleError as error:
        raise SampleError(error.reason, error.detail, sample) from None


def _checked_messages(messages: Any, has_image: bool) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise SampleError("bad_messages", "messages must be a non-empty list")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES \
                or not isinstance(message.get("content"), str):
            raise SampleError("bad_messages", f"message {i} needs a role in {ROLES} and string content")
        out.append({"role": message["role"], "content": message["content"]})
    opening = next((m for m in out if m["role"] != "system"), None)
    if opening is not None and opening["role"] == "assistant":
        # The template would render no user turn before the reply, and the prefix-based label
        # search would label the BOS and the system header as the reply.
        raise SampleError("assistant_first", "the first turn after the system prompt is the assistant's")
    if not any(m["role"] == "assistant" for m in out):
        raise SampleError("no_assistant_turn", "the conversation has no assistant turn")
    if any(IMAGE_PLACEHOLDER in m["content"] for m in out if m["role"] != "user"):
        raise SampleError("image_mismatch", f"{IMAGE_PLACEHOLDER} may only appear in user turns")
    placeholders = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in out)
    if has_image and placeholders == 0:
        first_user = next((m for m in out if m["role"] == "user"), None)
        if first_user is None:
            raise SampleError("image_mismatch", "an image sample needs a user turn")
        first_user["content"] = f"{IMAGE_PLACEHOLDER}\n{first_user['content']}"
        placeholders = 1
    if placeholders != int(has_image):
        raise SampleError("image_mismatch", f"{placeholders} {IMAGE_PLACEHOLDER} placeholder(s) for "
                                            f"{int(has_image)} image(s)")
    return out


class ChatFormatter:
    """Renders, tokenizes and labels conversations for one tokenizer.

    Args:
        tokenizer: A Hugging Face fast tokenizer that has a chat template.
        image_tokens: Positions one image occupies in the sequence (576 for CLIP ViT-L/14-336).
        max_length: Longest sequence kept; longer ones are cut at the end, never inside an image.
    """

    def __init__(self, tokenizer: Any, image_tokens: int, max_length: int):
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template")
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("a fast tokenizer is needed (character offsets locate the assistant turns)")
        self.tokenizer = tokenizer
        self.image_tokens = image_tokens
        self.max_length = max_length

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)

    def assistant_spans(self, messages: list[dict[str, str]], text: str) -> list[tuple[int, int]]:
        """Character spans of each assistant turn in ``text``, end-of-turn token included."""
        spans = []
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prefix = self.render(messages[:i], add_generation_prompt=True) if i else ""
            # The last turn ends where the text ends: one template rendering saved per sample.
            end_text = text if i == len(messages) - 1 else self.render(messages[: i + 1])
            if not (text.startswith(end_text) and end_text.startswith(prefix)):
                raise ValueError("the chat template does not render a conversation as the concatenation "
                                 "of its turns, so assistant tokens cannot be located")
            spans.append((len(prefix), len(end_text)))
        return spans

    def tokenize(self, text: str, spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
        """Token ids and labels for rendered text; placeholders become image token runs."""
        segments = text.split(IMAGE_PLACEHOLDER)
        # One call into the Rust tokenizer for all segments: the per-call Python overhead of the
        # transformers wrapper cost as much as the tokenisation itself in the loader.
        encodings = self.tokenizer.backend_tokenizer.encode_batch(segments, add_special_tokens=False)
        input_ids: list[int] = []
        labels: list[int] = []
        offset = 0
        span = 0  # spans are sorted and tokens come in order: one pointer walks both
        for index, (segment, encoding) in enumerate(zip(segments, encodings)):
            if index:
                input_ids += [IMAGE_TOKEN_ID] * self.image_tokens
                labels += [IGNORE_INDEX] * self.image_tokens
                offset += len(IMAGE_PLACEHOLDER)
            for token, (start, _) in zip(encoding.ids, encoding.offsets):
                position = offset + start
                while span < len(spans) and spans[span][1] <= position:
                    span += 1
                inside = span < len(spans) and spans[span][0] <= position
                input_ids.append(token)
                labels.append(token if inside else IGNORE_INDEX)
            offset += len(segment)
        return input_ids, labels

    def encode(self, messages: list[dict[str, str]], has_image: bool, sample: str | None = None) -> EncodedChat:
        """Ids and labels of a whole conversation, truncated to ``max_length``; ``sample`` (where
        the conversation came from) is named in every ``SampleError``."""
        messages = check_messages(messages, has_image, sample)
        text = self.render(messages)
        input_ids, labels = self.tokenize(text, self.assistant_spans(messages, text))
        if len(input_ids) <= self.max_length:
            return EncodedChat(input_ids, labels)
        image_positions = [i for i, t in enumerate(input_ids) if t == IMAGE_TOKEN_ID]
        if image_positions and image_positions[-1] >= self.max_length:
            raise SampleError("image_beyond_max_length",
                              f"the image ends at token {image_positions[-1] + 1} > max_length {self.max_length}", sample)
        input_ids, labels = input_ids[: self.max_length], labels[: self.max_length]
        if all(label == IGNORE_INDEX for label in labels):
            raise SampleError("no_labels_after_truncation", f"no assistant token in the first {self.max_length}", sample)
        return EncodedChat(input_ids, labels, truncated=True)

    def encode_prompt(self, messages: list[dict[str, str]], has_image: bool,
                      sample: str | None = None) -> tuple[list[int], str]:
        """Ids of a conversation up to its last assistant turn, with the generation prompt
        appended, and that last assistant turn's text (the reference answer)."""
        messages = check_messages(messages, has_image, sample)
        if messages[-1]["role"] != "assistant":
            raise SampleError("bad_messages", "an evaluation conversation must end with an assistant turn", sample)
        prompt, _ = self.tokenize(self.render(messages[:-1], add_generation_prompt=True), [])
        if len(prompt) > self.max_length:
            raise SampleError("prompt_too_long", f"{len(prompt)} prompt tokens > max_length {self.max_length}", sample)
        return prompt, messages[-1]["content"]
