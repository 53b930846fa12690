"""Two-shot English -> Basque translation (``python -m lightning_mllm.translate``), CPU only, offline.

The tiny random Llama cannot translate, so it drives one end-to-end run through the real
transformers engine (every item must end in the rejects file with a reason). Retry, reject and
resume logic is tested with scripted engines: test doubles of the LLM with the same ``generate``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from helpers import write_jsonl
from transformers import AutoTokenizer

from datamodules.raw_formats import ConvertOptions, RawRecord, convert
from lightning_mllm.evaluation.scoring import score
from lightning_mllm.evaluation.spec import BenchmarkSpec
from lightning_mllm.translate import main
from lightning_mllm.translation.journal import JournalError
from lightning_mllm.translation.prompts import EXAMPLES, SYSTEM_PROMPT, build_messages
from lightning_mllm.translation.records import read_items
from lightning_mllm.translation.runner import translate_items
from lightning_mllm.translation.segments import (
    TAG_LINE,
    Segment,
    TranslationRejected,
    parse,
    render,
)
from lightning_mllm.translation.validation import check_translation, english_score

# The English texts of the test records and their Basque translations (what a good translator returns).
BASQUE = {
    "What is on the table?": "Zer dago mahai gainean?",
    "A cup": "Katilu bat", "A plate": "Plater bat", "A lamp": "Lanpara bat",
    "How many birds are there?": "Zenbat txori daude?",
    "three": "hiru", "three birds": "hiru txori",
    "Describe the picture.": "Deskribatu irudia.",
    "A dog runs on the beach.": "Txakur bat hondartzan korrika dabil.",
    "A red bus in the street.": "Autobus gorri bat kalean.",
    "You are a helpful assistant.": "Laguntzaile baliagarria zara.",
    "What colour is the car?": "Zer kolore du autoak?",
    "The car is blue.": "Autoa urdina da.",
}
RECORDS = {
    "mc": {"id": "mc-1", "image": "img/1.jpg", "question": "<image>\nWhat is on the table?",
           "options": ["A cup", "A plate", "A lamp"], "answer": "A plate", "category": "objects"},
    "vqa": {"id": 7, "image": "img/2.jpg", "question": "How many birds are there?",
            "answers": ["three", "3", "three", "three birds"]},
    "open": {"id": "open-1", "image": "img/3.jpg", "prompt": "Describe the picture.",
             "reference": "A dog runs on the beach."},
    "caption": {"id": "cap-1", "image": "img/4.jpg", "caption": "A red bus in the street.", "source": "capqa"},
    "messages": {"id": "msg-1", "image": "img/5.jpg", "source": "ama", "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "<image>\nWhat colour is the car?"},
        {"role": "assistant", "content": "The car is blue."}]},
    "llava": {"id": "llava-1", "image": "img/6.jpg", "conversations": [
        {"from": "human", "value": "What colour is the car?\n<image>"}, {"from": "gpt", "value": "The car is blue."}]},
}


@pytest.fixture(scope="module")
def tiny_llm(cache_dir) -> str:
    """Only the tiny LLM (the shared ``tiny_paths`` fixture also pretrains a vision tower)."""
    from lightning_mllm.tiny_backbones import ensure_tiny_backbone

    return ensure_tiny_backbone("llm", cache_dir)


class ScriptedEngine:
    """A stand-in for the LLM: ``reply`` maps each conversation (and the call number) to a reply."""

    def __init__(self, reply):
        self.reply = reply
        self.calls: list[list[list[dict[str, str]]]] = []

    def generate(self, conversations):
        self.calls.append(conversations)
        return [self.reply(conversation, len(self.calls)) for conversation in conversations]


def good_translation(conversation, call=0) -> str:
    """The item (last user turn) with every text line put into Basque; tags and <image> kept."""
    lines = conversation[-1]["content"].split("\n")
    return "\n".join(line if TAG_LINE.match(line) or line == "<image>" else BASQUE[line] for line in lines)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def numbered(count: int) -> list[dict]:
    return [{"id": f"q{i}", "question": "What is on the table?", "options": ["A cup", "A plate"], "answer": "B"}
            for i in range(count)]


@pytest.mark.parametrize("format", list(RECORDS))
def test_prompt_has_system_two_examples_and_the_item(format, tmp_path, tiny_llm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    suffix = ".json" if format == "llava" else ".jsonl"
    path = tmp_path / f"in{suffix}"
    path.write_text(json.dumps([RECORDS[format]]) if format == "llava" else json.dumps(RECORDS[format]) + "\n")
    item = read_items(str(path), format)[0]
    messages = build_messages(item.kind, render(item.segments))
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    assert [m["content"] for m in messages[1:5]] == [text for pair in EXAMPLES[item.kind] for text in pair]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    headers = [part.split("<|end_header_id|>")[0] for part in rendered.split("<|start_header_id|>")[1:]]
    assert headers == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    last_user = rendered.split("<|start_header_id|>")[6]
    assert render(item.segments) in last_user and rendered.endswith("assistant<|end_header_id|>\n\n")
    assert rendered.count("<|begin_of_text|>") == 1


def tagged_segments(text: str) -> list[Segment]:
    """The segments of a tagged text (the English side of a worked example)."""
    tags = [match.group(1) for match in TAG_LINE.finditer(text)]
    return [Segment(tag, part) for tag, part in zip(tags, parse(text, tags))]


@pytest.mark.parametrize("kind", list(EXAMPLES))
def test_worked_examples_pass_the_checks_and_their_english_side_is_flagged(kind):
    for english, basque in EXAMPLES[kind]:
        segments = tagged_segments(english)
        assert len(check_translation(segments, basque)) == len(segments) >= 1
        with pytest.raises(TranslationRejected) as rejected:
            check_translation(segments, english)  # left untranslated
        assert rejected.value.reason == "english"


def test_english_detector_flags_english_and_accepts_basque():
    assert english_score("What colour is the bus in the picture?").looks_english
    assert english_score("There are two dogs playing with a ball on the grass.").looks_english
    assert not english_score("Zer kolore du irudiko autobusak?").looks_english
    assert not english_score("Bi txakur daude belarrean pilota batekin jolasten.").looks_english
    assert not english_score("The Beatles taldearen diskoa mahai gainean dago.").looks_english
    assert not english_score("yes").looks_english  # too short to judge


@pytest.mark.parametrize("format", list(RECORDS))
def test_round_trip_keeps_placeholders_letters_and_answer_key(format, tmp_path):
    path = tmp_path / "in.jsonl"
    write_jsonl(path, [RECORDS[format]])
    out = tmp_path / "out.jsonl"
    summary = translate_items(read_items(str(path), format), ScriptedEngine(good_translation), str(out),
                              str(tmp_path / "rejects.jsonl"), progress=False)
    assert summary.translated == 1 and summary.rejected == 0
    (record,) = read_jsonl(out)
    source = RECORDS[format]
    assert record["id"] == source["id"] and record["lang"] == "eu" and record["image"] == source["image"]
    if format == "mc":
        assert record["options"] == ["Katilu bat", "Plater bat", "Lanpara bat"] and record["answer"] == "B"
        assert record["question"] == "<image>\nZer dago mahai gainean?" and record["category"] == "objects"
    if format == "vqa":
        assert record["answers"] == ["hiru", "3", "hiru", "hiru txori"]
    if format == "open":
        assert record["prompt"] == "Deskribatu irudia." and record["reference"] == BASQUE[source["reference"]]
    if format in ("mc", "vqa", "open"):
        # The output is what evaluation reads (configs/eval/paper.yaml's Basque entries), and scores.
        (item,) = BenchmarkSpec("test", "eu", format, str(out)).load()
        assert item.id == str(source["id"]) and item.lang == "eu"
        right = {"mc": "Erantzuna B da.", "vqa": "Hiru.", "open": "Txakur bat hondartzan korrika dabil."}[format]
        (row,), _ = score([item], {item.key: {"prediction": right, "error": None}})
        assert row["score"] == 1.0
        return
    assert "conversations" not in record
    (tmp_path / "img").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / source["image"])
    sample = convert(RawRecord("out:1", record), ConvertOptions("messages", "t", "en", str(tmp_path)), 0).record
    assert sample["lang"] == "eu" and sample["id"] == source["id"] and record.get("source") == source.get("source")
    if format == "caption":
        assert record["caption"] == BASQUE[source["caption"]]
    placeholders = [m["content"].count("<image>") for m in sample["messages"]]
    assert sum(placeholders) == 1 and sample["messages"][placeholders.index(1)]["role"] == "user"
    roles = {"caption": ["user", "assistant"], "messages": ["system", "user", "assistant"], "llava": ["user", "assistant"]}
    assert [m["role"] for m in sample["messages"]] == roles[format]
    assert all(m["content"] == "<image>" or not english_score(m["content"]).looks_english for m in sample["messages"])


def test_repeated_vqa_answers_are_translated_once(tmp_path):
    item = read_items(write_jsonl(tmp_path / "in.jsonl", [RECORDS["vqa"]]), "vqa")[0]
    # "three" twice, "3" has no letter to translate: two answers to translate.
    assert [s.tag for s in item.segments] == ["QUESTION", "ANSWER 1", "ANSWER 2"]
    assert item.segments[1].paths == [("answers", 0), ("answers", 2)]


def test_broken_structure_is_retried_then_rejected(tmp_path):
    birds = {"id": "q1", "question": "How many birds are there?", "options": ["three", "three birds"], "answer": "A"}
    items = read_items(write_jsonl(tmp_path / "in.jsonl", [numbered(1)[0], birds]), "mc")
    broken = "Zer dago mahai gainean? Plater bat."

    def reply(conversation, call):  # q0 is fixed by its second attempt; q1 never keeps the tags
        return good_translation(conversation) if call >= 2 and "birds" not in conversation[-1]["content"] else broken

    engine = ScriptedEngine(reply)
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    summary = translate_items(items, engine, str(out), str(rejects), batch_size=2, retries=2, progress=False)
    assert [len(call) for call in engine.calls] == [2, 2, 1]  # both items, both again, then q1 alone
    assert summary.translated == 1 and summary.rejected == 1 and summary.attempts == 5
    assert [r["id"] for r in read_jsonl(out)] == ["q0"]
    (reject,) = read_jsonl(rejects)
    assert reject["id"] == "q1" and reject["reason"] == "structure" and reject["attempts"] == 3
    assert reject["raw"] == broken and "no tags found" in reject["detail"]
    # Decoding stays greedy; retries differ by a note in the system turn, which names the failure.
    first, retry = engine.calls[0][1], engine.calls[1][1]
    assert first[0]["content"] == SYSTEM_PROMPT and retry[0]["content"].startswith(SYSTEM_PROMPT)
    assert "tag line" in retry[0]["content"] and retry[-1] == first[-1]


def test_each_check_names_its_reason():
    segments = tagged_segments("[QUESTION]\n<image>\nWhat is on the table in the kitchen?\n[OPTION A]\nA cup")
    cases = {"structure": "[QUESTION]\n<image>\nZer dago sukaldeko mahai gainean?",
             "empty": "[QUESTION]\n<image>\nZer dago sukaldeko mahai gainean?\n[OPTION A]\n",
             "placeholder": "[QUESTION]\nZer dago sukaldeko mahai gainean?\n[OPTION A]\nKatilu bat",
             "length": "[QUESTION]\n<image>\nZer?\n[OPTION A]\nKatilu bat",
             "english": "[QUESTION]\n<image>\nWhat is on the table in the kitchen?\n[OPTION A]\nA cup"}
    for reason, reply in cases.items():
        with pytest.raises(TranslationRejected) as rejected:
            check_translation(segments, reply)
        assert rejected.value.reason == reason
    ok = "Hona itzulpena:\n[QUESTION]: <image>\nZer dago sukaldeko mahai gainean?\n[OPTION A]\nKatilu bat"
    assert check_translation(segments, ok) == ["<image>\nZer dago sukaldeko mahai gainean?", "Katilu bat"]


def test_source_holding_a_tag_line_is_rejected_without_generation(tmp_path):
    record = {"id": "t", "question": "Read this:\n[OPTION A]\nnow", "options": ["A cup", "A plate"], "answer": 0}
    items = read_items(write_jsonl(tmp_path / "in.jsonl", [record]), "mc")
    engine = ScriptedEngine(good_translation)
    summary = translate_items(items, engine, str(tmp_path / "o.jsonl"), str(tmp_path / "r.jsonl"), progress=False)
    assert engine.calls == [] and summary.reasons == {"source_has_tag": 1}


def test_rerun_after_a_crash_translates_only_the_rest(tmp_path):
    items = read_items(write_jsonl(tmp_path / "in.jsonl", numbered(7)), "mc")
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    rejects.write_text(json.dumps({"id": "q6", "reason": "english"}) + "\n")  # rejected earlier: done too

    def crash_on_second_batch(conversation, call):
        if call == 2:
            raise RuntimeError("CUDA out of memory")
        return good_translation(conversation)

    with pytest.raises(RuntimeError):
        translate_items(items, ScriptedEngine(crash_on_second_batch), str(out), str(rejects), batch_size=2,
                        progress=False)
    assert [r["id"] for r in read_jsonl(out)] == ["q0", "q1"]  # the first batch was flushed
    engine = ScriptedEngine(good_translation)
    summary = translate_items(items, engine, str(out), str(rejects), batch_size=2, progress=False)
    assert summary.already_done == 3 and summary.translated == 4 and summary.attempts == 4
    assert [len(call) for call in engine.calls] == [2, 2]
    assert [r["id"] for r in read_jsonl(out)] == [f"q{i}" for i in range(6)]


def test_cut_short_last_line_is_dropped_reported_and_redone(tmp_path):
    items = read_items(write_jsonl(tmp_path / "in.jsonl", numbered(3)), "mc")
    out = tmp_path / "out.jsonl"
    good = json.dumps({"id": "q0", "question": "Zer dago mahai gainean?", "lang": "eu"}) + "\n"
    out.write_text(good + '{"id": "q1", "question": "Zer da', encoding="utf-8")
    engine = ScriptedEngine(good_translation)
    summary = translate_items(items, engine, str(out), str(tmp_path / "r.jsonl"), progress=False)
    assert summary.already_done == 1 and summary.translated == 2 and f"{out}:2:" in summary.notes[0]
    assert [r["id"] for r in read_jsonl(out)] == ["q0", "q1", "q2"]  # every line parses again
    out.write_text('{"id": "q0", "quest\n' + good, encoding="utf-8")  # damage before the end is not a crash
    with pytest.raises(JournalError) as stopped:
        translate_items(items, engine, str(out), str(tmp_path / "r.jsonl"), progress=False)
    assert str(stopped.value).startswith(f"{out}:1: not valid JSON")


@pytest.mark.parametrize("format, record, missing", [
    ("mc", {"id": "x", "question": "What is on the table?", "options": ["A cup", "A plate"]}, "'answer'"),
    ("messages", {"id": "x", "image": "a.jpg"}, "'messages'"),
    ("open", {"question": "Describe the picture."}, "'id'"),
])
def test_missing_fields_stop_the_run_naming_file_line_and_field(format, record, missing, tmp_path):
    good = {"mc": numbered(1)[0], "messages": RECORDS["messages"], "open": RECORDS["open"]}[format]
    path = write_jsonl(tmp_path / "in.jsonl", [good, {**good, "id": "y"}, record])
    with pytest.raises(SystemExit) as stopped:  # no model is loaded: the path does not exist
        main(["--input", path, "--format", format, "--output", str(tmp_path / "o.jsonl"), "--model", "/nowhere"])
    assert f"{path}:3:" in str(stopped.value) and missing in str(stopped.value)


def test_transformers_engine_end_to_end_rejects_the_random_models_output(tmp_path, tiny_llm):
    records = [RECORDS["mc"], RECORDS["vqa"], RECORDS["messages"]]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "eu" / "out.jsonl"
    args = ["--input", path, "--format", "mc", "--output", str(out), "--model", tiny_llm, "--engine",
            "transformers", "--device", "cpu", "--dtype", "float32", "--max_new_tokens", "6", "--retries", "1",
            "--batch_size", "4", "--no_progress"]
    with pytest.raises(SystemExit):  # the vqa and messages records lack mc fields: checked before loading
        main(args + ["--limit", "1"])
    assert not out.exists()
    write_jsonl(Path(path), [RECORDS["mc"], {**RECORDS["mc"], "id": "mc-2"}, {**RECORDS["mc"], "id": "mc-3"}])
    summary = main(args)
    assert summary.rejected == 3 and summary.engine_calls == 2 and summary.attempts == 6
    rejects = read_jsonl(Path(f"{out}.rejects.jsonl"))
    assert [r["id"] for r in rejects] == ["mc-1", "mc-2", "mc-3"]
    assert all(r["reason"] and r["detail"] and r["attempts"] == 2 and isinstance(r["raw"], str) for r in rejects)
    assert not out.exists() or not read_jsonl(out)
    again = main(args)  # everything is done: no model call
    assert again.already_done == 3 and again.engine_calls == 0


@pytest.mark.parametrize(("reply", "reason"), [
    # A short option left in English.
    ("[QUESTION]\n<image>\nZer dago mahai gainean?\n[OPTION A]\nA cup\n[OPTION B]\nPlater bat", "untranslated"),
    # Two options translated to the same text.
    ("[QUESTION]\n<image>\nZer dago mahai gainean?\n[OPTION A]\nKatilu bat\n[OPTION B]\nkatilu bat.", "options"),
    # A letter added inside an option.
    ("[QUESTION]\n<image>\nZer dago mahai gainean?\n[OPTION A]\nA) Katilu bat\n[OPTION B]\nPlater bat", "options"),
    ("[QUESTION]\n<image>\nZer dago mahai gainean?\n[OPTION A]\nKatilu bat\n[OPTION B]\nPlater bat (B)", "options"),
])
def test_short_english_parts_merged_options_and_added_letters_are_caught(reply, reason):
    segments = tagged_segments("[QUESTION]\n<image>\nWhat is on the table?\n[OPTION A]\nA cup\n[OPTION B]\nA plate")
    with pytest.raises(TranslationRejected) as rejected:
        check_translation(segments, reply)
    assert rejected.value.reason == reason
    good = "[QUESTION]\n<image>\nZer dago mahai gainean?\n[OPTION A]\nKatilu bat\n[OPTION B]\nPlater bat"
    assert check_translation(segments, good)[1:] == ["Katilu bat", "Plater bat"]


def test_one_word_answers_left_in_english_are_caught_but_names_may_stay():
    segments = tagged_segments("[QUESTION]\nWhere is the tower?\n[ANSWER 1]\nParis\n[ANSWER 2]\nthree")
    with pytest.raises(TranslationRejected, match="ANSWER 2"):
        check_translation(segments, "[QUESTION]\nNon dago dorrea?\n[ANSWER 1]\nParis\n[ANSWER 2]\nthree")
    assert check_translation(segments, "[QUESTION]\nNon dago dorrea?\n[ANSWER 1]\nParis\n[ANSWER 2]\nhiru")[1:] == \
        ["Paris", "hiru"]
