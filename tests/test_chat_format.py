"""Chat formatting: labels on assistant tokens only, image placeholder expansion, truncation."""

import pytest

from lightning_mllm.chat_format import IGNORE_INDEX, IMAGE_TOKEN_ID, ChatFormatter, SampleError

CONVERSATION = [
    {"role": "user", "content": "<image>\nZer kolore du zirkuluak?"},
    {"role": "assistant", "content": "Gorria."},
    {"role": "user", "content": "Zenbat forma daude?"},
    {"role": "assistant", "content": "Bi."},
]


def runs(flags):
    """(start, end) of each run of True values."""
    out, start = [], None
    for i, flag in enumerate(list(flags) + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append((start, i))
            start = None
    return out


def test_labels_cover_exactly_the_assistant_turns(tokenizer):
    formatter = ChatFormatter(tokenizer, image_tokens=4, max_length=512)
    encoded = formatter.encode(CONVERSATION, has_image=True)
    labelled = runs(label != IGNORE_INDEX for label in encoded.labels)
    assert len(labelled) == 2
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    for (start, end), answer in zip(labelled, ["Gorria.", "Bi."]):
        # The labels are the answer's tokens followed by the end-of-turn token, nothing more...
        expected = tokenizer(answer, add_special_tokens=False)["input_ids"] + [eot]
        assert encoded.labels[start:end] == expected
        assert encoded.input_ids[start:end] == expected
        # ...and they start right after the assistant header.
        before = tokenizer.decode([t for t in encoded.input_ids[:start] if t >= 0])
        assert before.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_image_placeholder_expands_in_place(tokenizer):
    formatter = ChatFormatter(tokenizer, image_tokens=6, max_length=512)
    encoded = formatter.encode(CONVERSATION, has_image=True)
    image_runs = runs(t == IMAGE_TOKEN_ID for t in encoded.input_ids)
    assert len(image_runs) == 1 and image_runs[0][1] - image_runs[0][0] == 6
    start = image_runs[0][0]
    assert tokenizer.decode(encoded.input_ids[:start]).endswith("user<|end_header_id|>\n\n")
    assert all(encoded.labels[i] == IGNORE_INDEX for i in range(start, start + 6))


def test_missing_placeholder_is_added_to_the_first_user_turn(tokenizer):
    formatter = ChatFormatter(tokenizer, image_tokens=3, max_length=512)
    messages = [{"role": "user", "content": "What colour is the circle?"}, {"role": "assistant", "content": "Red."}]
    with_image = formatter.encode(messages, has_image=True)
    assert with_image.input_ids.count(IMAGE_TOKEN_ID) == 3
    assert formatter.encode(messages, has_image=False).input_ids.count(IMAGE_TOKEN_ID) == 0


@pytest.mark.parametrize("messages, has_image, reason", [
    (CONVERSATION, False, "image_mismatch"),
    ([{"role": "user", "content": "<image><image> hi"}, {"role": "assistant", "content": "x"}], True,
     "image_mismatch"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "<image>"}], False, "image_mismatch"),
    ([{"role": "user", "content": "hi"}], False, "no_assistant_turn"),
    ([{"role": "robot", "content": "hi"}], False, "bad_messages"),
    ([{"role": "assistant", "content": "Kaixo!"}, {"role": "user", "content": "hi"},
      {"role": "assistant", "content": "x"}], False, "assistant_first"),
    ([{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Kaixo!"},
      {"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}], False, "assistant_first"),
    ("not a list", False, "bad_messages"),
])
def test_bad_conversations_raise_sample_errors(tokenizer, messages, has_image, reason):
    formatter = ChatFormatter(tokenizer, image_tokens=3, max_length=512)
    with pytest.raises(SampleError) as caught:
        formatter.encode(messages, has_image)
    assert caught.value.reason == reason


def test_truncation_keeps_the_image_whole(tokenizer):
    full = ChatFormatter(tokenizer, image_tokens=8, max_length=512).encode(CONVERSATION, True)
    image_end = max(i for i, t in enumerate(full.input_ids) if t == IMAGE_TOKEN_ID) + 1
    first_answer = next(i for i, label in enumerate(full.labels) if label != IGNORE_INDEX)
    cut = ChatFormatter(tokenizer, image_tokens=8, max_length=first_answer + 2).encode(CONVERSATION, True)
    assert cut.truncated and cut.input_ids == full.input_ids[: first_answer + 2]
    with pytest.raises(SampleError) as caught:
        ChatFormatter(tokenizer, image_tokens=8, max_length=image_end - 1).encode(CONVERSATION, True)
    assert caught.value.reason == "image_beyond_max_length"
    with pytest.raises(SampleError) as caught:
        ChatFormatter(tokenizer, image_tokens=8, max_length=image_end + 1).encode(CONVERSATION, True)
    assert caught.value.reason == "no_labels_after_truncation"


def test_prompt_ends_with_the_generation_header(tokenizer):
    formatter = ChatFormatter(tokenizer, image_tokens=2, max_length=512)
    prompt, answer = formatter.encode_prompt(CONVERSATION, has_image=True)
    assert answer == "Bi."
    text = tokenizer.decode([t for t in prompt if t >= 0])
    assert text.endswith("Zenbat forma daude?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def test_a_leading_assistant_turn_raises_naming_the_sample(tokenizer):
    # Without the check the prefix search labels <|begin_of_text|> and the system header.
    formatter = ChatFormatter(tokenizer, image_tokens=3, max_length=512)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Kaixo!"},
                {"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]
    for call in (formatter.encode, formatter.encode_prompt):
        with pytest.raises(SampleError, match=r"^assistant_first: sample shard-3\.tar:k7 \(id q7\): ") as caught:
            call(messages, False, sample="shard-3.tar:k7 (id q7)")
        assert (caught.value.reason, caught.value.sample) == ("assistant_first", "shard-3.tar:k7 (id q7)")
    # A system prompt followed by the user is fine.
    assert formatter.encode([messages[0], *messages[2:]], False).input_ids
