"""The judge: placement of big judges, failed generations counted, and a judge that sees the image
(a tiny LLaVA built from config objects through the real export, loaded back from its folder)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import make_model
from PIL import Image

from lightning_mllm.evaluation.items import BenchItem
from lightning_mllm.evaluation.judge import LLMJudge, add_ratings, judge_prompt
from lightning_mllm.evaluation.scoring import score
from lightning_mllm.export import save_llava
from lightning_mllm.exported_model import llava_image_tokens
from lightning_mllm.text_generation import placement


def test_a_judge_on_auto_is_spread_over_the_gpus_and_otherwise_placed_whole() -> None:
    assert placement("auto", cuda_available=True) == {"device_map": "auto"}
    assert placement("auto", cuda_available=False) == {}
    assert placement("cuda", cuda_available=True) == {}


@pytest.fixture(scope="module")
def tiny_llava(tiny_paths, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("judge") / "llava"
    save_llava(make_model(tiny_paths, lora_rank=0, stage="full"), folder, torch.float32)
    return folder


def picture(colour: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (40, 30), colour)


def test_the_image_judge_sees_the_image_and_rates_or_counts_every_answer(tiny_llava) -> None:
    judge = LLMJudge(str(tiny_llava), dtype="float32", device="cpu", batch_size=2, max_new_tokens=5, image=True)
    # The image reaches the model: the prompt holds one image token per vision feature.
    engine = judge.engine
    text = engine.processor.apply_chat_template(judge_prompt("What colour?", "Red.", image=True), tokenize=False,
                                                add_generation_prompt=True)
    inputs = engine.processor(images=[picture((200, 0, 0))], text=[text], return_tensors="pt")
    image_id = engine.model.config.image_token_index
    assert int((inputs["input_ids"] == image_id).sum()) == llava_image_tokens(engine.model.config)
    assert inputs["pixel_values"].shape[0] == 1
    items = [BenchItem("wild", "en", "1", "open", "What colour is it?", image=_png(picture((200, 0, 0)))),
             BenchItem("wild", "eu", "2", "open", "Zer kolore da?", answer="Urdina.", image=_png(picture((0, 0, 200)))),
             BenchItem("wild", "en", "3", "open", "Say hello.")]  # no image: judged from the text
    answers = {item.key: {"prediction": reply, "error": None} for item, reply in zip(items, ["Red.", "Gorria.", "Hi"])}
    add_ratings(judge, items, answers, progress=False)
    for item in items:
        answer = answers[item.key]
        assert answer["judge_error"] is None and isinstance(answer["judge_reply"], str)
        assert item.question not in answer["judge_reply"]  # only what the judge generated, not the prompt again
    # A random judge's words hold no "[[n]]" or "n/10": every answer is counted unparseable, none scored.
    rows, _ = score(items, answers)
    assert [(r["lang"], r["score"], r["judge_unparseable"]) for r in rows] == [("en", None, 2), ("eu", None, 1)]


def _png(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_failed_generation_is_counted_not_scored_zero(tiny_paths) -> None:
    # A real judge asked for an impossible generation (no new tokens) fails inside generate.
    judge = LLMJudge(tiny_paths["llm"], dtype="float32", device="cpu", batch_size=2, max_new_tokens=0)
    results = judge.rate([("Q?", "A.", ""), ("Q2?", "B.", "")], progress=False)
    assert [(rating, reply) for rating, reply, _ in results] == [(None, None)] * 2
    assert all(error for _, _, error in results)
    items = [BenchItem("wild", "en", str(i), "open", "Q?") for i in range(4)]
    answers = {items[0].key: {"prediction": "x", "error": None, "rating": 8, "judge_reply": "[[8]]", "judge_error": None},
               items[1].key: {"prediction": "y", "error": None, "rating": 6.5, "judge_reply": "6.5/10",
                              "judge_error": None},
               items[2].key: {"prediction": "z", "error": None, "rating": None, "judge_reply": None,
                              "judge_error": results[0][2]},
               items[3].key: {"prediction": "w", "error": None, "rating": None, "judge_reply": "fine",
                              "judge_error": None}}
    (row,), _ = score(items, answers)
    # The mean is over the two rated answers only; the failed and the unparseable one are counted.
    assert row["score"] == pytest.approx((0.8 + 0.65) / 2)
    assert (row["judge_failed"], row["judge_unparseable"], row["judge_unrated"]) == (1, 1, 2)
