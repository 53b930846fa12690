"""The chat command and `train.py predict` on a checkpoint of a few real CLI steps, CPU only."""

import io
import json
import logging
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import lightning_mllm.chat as chat
from callbacks.prediction_writer import merge_parts
from datamodules import PredictionDataModule
from datamodules.synthetic_benchmarks import write_synthetic_benchmarks
from lightning_mllm.chat_format import IMAGE_TOKEN_ID
from lightning_mllm.model import MultimodalLM
from lightning_mllm.trained_model import load_trained
from helpers import DEMO, tiny_fit_args
from train import cli_main

PREDICT = str(Path(DEMO).parent / "predict" / "demo.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_paths, synthetic_root):
    """A checkpoint of a few demo steps, its model, and small synthetic question files.

    Stage 1 leaves the tiny LLM random, so answers run to ``max_new_tokens``, hold several pieces
    of text (stray bytes too) and differ between images: a sharper check of streaming, answer
    lengths and row order than the demo's full-stage model, which says "." to everything after
    four steps at its learning rate.
    """
    root = tmp_path_factory.mktemp("chat")
    cli = cli_main(tiny_fit_args(root, synthetic_root, "--trainer.limit_val_batches", "0", "--model.stage", "stage1"))
    checkpoint = next(Path(cli.trainer.logger.log_dir).glob("checkpoints/*.ckpt"))
    return checkpoint, load_trained(str(checkpoint)), write_synthetic_benchmarks(root / "bench", per_language=4)


def questions(bench: Path, lang: str) -> list[dict]:
    return [json.loads(line) for line in (bench / f"vqa-{lang}.jsonl").read_text(encoding="utf-8").splitlines()]


def encode(model, messages: list[dict], has_image: bool) -> list[int]:
    """The prompt ids of ``messages`` straight from the chat formatter."""
    ids, _ = model.processor.formatter.encode_prompt([*messages, {"role": "assistant", "content": ""}], has_image)
    return ids


def greedy_answer(model, messages: list[dict], image_path: Path | None, max_new_tokens: int) -> str:
    """The non-streamed answer: ``MultimodalLM.generate`` on the prompt built from ``messages``."""
    image = Image.open(image_path).convert("RGB") if image_path else None
    ids = encode(model, messages, image is not None)
    pixels = model.processor.pixel_values(image)[None] if image is not None else None
    return model.generate(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), pixels, max_new_tokens)[0]


def record_prompts(monkeypatch) -> list[list[int]]:
    """The prompt ids of every answer the chat command generates, in order."""
    prompts = []
    stream_answer = chat.stream_answer

    def recording(model, ids, *args):
        prompts.append(ids)
        return stream_answer(model, ids, *args)

    monkeypatch.setattr(chat, "stream_answer", recording)
    return prompts


@pytest.mark.parametrize("lang", ["en", "eu"])
def test_chat_streams_the_greedy_answer(trained, capsys, monkeypatch, lang):
    checkpoint, model, bench = trained
    row = questions(bench, lang)[1]
    prompts = record_prompts(monkeypatch)
    conversation = chat.main(["--checkpoint", str(checkpoint), "--image", str(bench / row["image"]),
                              "--max_new_tokens", "12", row["question"]])
    messages = [{"role": "user", "content": row["question"]}]
    assert prompts == [encode(model, messages, True)]
    expected = greedy_answer(model, messages, bench / row["image"], 12)
    assert expected.strip(), "the tiny model should say something for this check to mean anything"
    assert capsys.readouterr().out == expected + "\n"
    assert conversation.messages[-1] == {"role": "assistant", "content": expected}


def test_chat_without_an_image_and_with_a_system_prompt(trained, capsys, monkeypatch):
    checkpoint, model, _ = trained
    prompts = record_prompts(monkeypatch)
    chat.main(["--checkpoint", str(checkpoint), "--system", "Be brief.", "--max_new_tokens", "6", "What is red?"])
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is red?"}]
    assert prompts == [encode(model, messages, False)]
    assert capsys.readouterr().out == greedy_answer(model, messages, None, 6) + "\n"


def test_a_missing_or_corrupt_image_is_a_clean_error_naming_it(trained, tmp_path):
    checkpoint, _, _ = trained
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"not a png")
    for path in (tmp_path / "missing.png", corrupt):
        with pytest.raises(SystemExit) as exit_info:
            chat.main(["--checkpoint", str(checkpoint), "--image", str(path), "What is it?"])
        assert str(path) in str(exit_info.value.code) and str(exit_info.value.code).startswith("error:")


def test_interactive_chat_keeps_the_history(trained, capsys, monkeypatch):
    checkpoint, model, bench = trained
    image = bench / "images" / "00000.png"
    prompts = record_prompts(monkeypatch)
    monkeypatch.setattr(sys, "stdin", io.StringIO("What colour is the shape?\n\nWhere is it?\n"))
    conversation = chat.main(["--checkpoint", str(checkpoint), "--image", str(image), "--max_new_tokens", "10"])
    first, second = (m["content"] for m in conversation.messages if m["role"] == "assistant")
    assert len(prompts) == 2 and first.strip()
    assert capsys.readouterr().out == f"{first}\n{second}\n"
    # The second prompt is the whole first turn (image, question, answer) plus the new question.
    history = [{"role": "user", "content": "What colour is the shape?"}, {"role": "assistant", "content": first},
               {"role": "user", "content": "Where is it?"}]
    assert prompts[1] == encode(model, history, True)
    assert prompts[1].count(IMAGE_TOKEN_ID) == prompts[0].count(IMAGE_TOKEN_ID) == model.image_tokens
    assert second == greedy_answer(model, history, image, 10)


def test_train_py_predict_writes_every_row_in_order(trained, tmp_path, monkeypatch, caplog):
    checkpoint, model, _ = trained
    # The config's relative paths (data/synthetic-bench, runs/demo/predict) land under tmp_path.
    monkeypatch.chdir(tmp_path)
    bench = write_synthetic_benchmarks(tmp_path / "data" / "synthetic-bench", per_language=4)
    (bench / "images" / "00002.png").write_bytes(b"not a png")
    # The random tiny LLM answers from the image alone, so the prompts are checked as well.
    prompts = []
    generate = MultimodalLM.generate

    def recording(self, prompt_ids, prompt_mask, *args, **kwargs):
        prompts.extend(ids[mask.bool()].tolist() for ids, mask in zip(prompt_ids, prompt_mask))
        return generate(self, prompt_ids, prompt_mask, *args, **kwargs)

    monkeypatch.setattr(MultimodalLM, "generate", recording)
    with caplog.at_level(logging.INFO):
        cli_main(["predict", "--config", DEMO, "--config", PREDICT, "--data.init_args.num_workers", "0",
                  "--data.init_args.batch_size", "3", "--data.init_args.max_new_tokens", "8",
                  "--trainer.enable_progress_bar", "false",
                  "--ckpt_path", str(checkpoint)])
    monkeypatch.undo()
    rows = [json.loads(line) for line in (tmp_path / "runs/demo/predict/answers.jsonl").read_text().splitlines()]
    inputs = questions(bench, "eu")
    assert prompts == [encode(model, [{"role": "user", "content": r["question"]}], True) for r in inputs
                       if not r["image"].endswith("00002.png")]
    assert [r["id"] for r in rows] == [r["id"] for r in inputs]
    for row, source in zip(rows, inputs):
        assert {k: row[k] for k in source} == source  # the input's fields are carried over
        if source["image"].endswith("00002.png"):
            assert row["answer"] is None and "00002.png" in row["error"]
        else:
            expected = greedy_answer(model, [{"role": "user", "content": source["question"]}],
                                     bench / source["image"], 8).strip()
            assert row["error"] is None and row["answer"] == expected
    assert len({r["answer"] for r in rows if r["answer"]}) > 1  # answers that tell rows apart
    assert "wrote 4 row(s)" in caplog.text and "1 without an answer" in caplog.text


def test_a_bad_input_line_is_named(tmp_path):
    good = json.dumps({"id": "a", "question": "What?"})
    for lines, message in [([good, "{not json"], r":2: not valid JSON"),
                           ([good, "", json.dumps({"id": "b", "image": "x.png"})], r":3: no question"),
                           (["[1, 2]"], r":1: expected a JSON object")]:
        path = tmp_path / "questions.jsonl"
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(ValueError, match=str(path).replace(".", r"\.") + message):
            PredictionDataModule(str(path)).setup("predict")
    with pytest.raises(FileNotFoundError, match="data.path"):
        PredictionDataModule(str(tmp_path / "missing.jsonl")).setup("predict")


def test_rank_parts_merge_in_input_order(tmp_path):
    parts = [tmp_path / "out.jsonl.rank0", tmp_path / "out.jsonl.rank1"]
    for part, indices in zip(parts, ([0, 2, 4], [1, 3])):
        part.write_text("".join(json.dumps({"index": i, "row": {"id": f"q{i}"}}) + "\n" for i in indices))
    merge_parts(parts, tmp_path / "out.jsonl")
    assert [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == \
           [f"q{i}" for i in range(5)]
    assert not any(part.exists() for part in parts)
