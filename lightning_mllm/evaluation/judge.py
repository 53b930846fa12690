"""An LLM as judge of open-ended answers, with one fixed bilingual rubric.

The judge is an instruction-tuned model (a Hugging Face id or folder) used through its own chat
template with greedy decoding, so two runs with the same judge give the same ratings. It reads
the question, the reference answer when there is one and the model's answer, and must give a
rating from 1 to 10. Two kinds:

- text-only (``image=False``): any causal LM; it does not see the image and relies on the
  reference. With ``device="auto"`` the judge is spread over every visible GPU
  (``device_map="auto"``), so a judge too big for one GPU loads.
- multimodal (``image=True``): any image-text-to-text model (``AutoModelForImageTextToText``:
  LLaVA, our exported LLaVA folders, Qwen2-VL...); it sees the item's image, which open-ended
  image questions need to be judged at all.

``parse_rating`` reads "[[8]]" and "[[8.5]]" (the form the rubric asks for) and, failing that,
"8/10". A reply without exactly one rating is unparseable; a batch whose generation fails (an
error from the model) is recorded as ``judge_error``. Neither is guessed or scored 0: scoring
counts them and leaves them out of the mean.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from tqdm import tqdm

from lightning_mllm.evaluation.items import BenchItem, ImageDecodeError
from lightning_mllm.text_generation import TransformersEngine

log = logging.getLogger(__name__)

_SEES = {False: "You do not see the image; rely on the reference answer when one is given.",
         True: "You see the image; judge the answer against it and against the reference answer when one is given."}
RUBRIC = (
    "You are an impartial judge of the answers an AI assistant gives to questions about an image. {sees} "
    "The question and the answer may be in English or in Basque (euskara).\n"
    "Judge, in this order: (1) correctness with respect to the image, the reference answer and the question; "
    "(2) helpfulness, relevance and level of detail; (3) language: the answer must be in the language "
    "of the question; an answer in another language is a serious fault, and a Basque answer must be "
    "fluent, grammatical standard Basque (batua).\n"
    "Do not favour long answers for their length. Write one or two sentences of justification, then "
    "give the rating on its own line in exactly this form: Rating: [[N]] where N is a number from 1 "
    "(useless) to 10 (perfect)."
)
_NUMBER = r"(\d{1,2}(?:\.\d+)?)"
_BRACKETED = re.compile(rf"\[\[\s*{_NUMBER}\s*\]\]")
_OUT_OF_TEN = re.compile(rf"(?<![\d.]){_NUMBER}\s*/\s*10(?!\d|\.\d)")  # "8/10." ends a sentence
# A batch whose generation raises one of these is recorded as failed; anything else is a bug.
GENERATION_ERRORS = (RuntimeError, ValueError, IndexError)


def judge_prompt(question: str, answer: str, reference: str = "", image: bool = False) -> list[dict[str, Any]]:
    """The judge's conversation for one answer: the rubric as system turn, the case as user turn.

    With ``image`` the user turn is a list of parts with the image first, the form multimodal
    processors' chat templates take.
    """
    case = [f"[Question]\n{question}"]
    if reference:
        case.append(f"[Reference answer]\n{reference}")
    case.append(f"[Assistant's answer]\n{answer}")
    text = "\n\n".join(case)
    rubric = RUBRIC.format(sees=_SEES[image])
    if not image:
        return [{"role": "system", "content": rubric}, {"role": "user", "content": text}]
    return [{"role": "system", "content": [{"type": "text", "text": rubric}]},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]


def parse_rating(reply: str) -> float | None:
    """The 1-10 rating in ``reply`` ("[[8]]", "[[8.5]]", else "8/10"); None when there is none,
    several differ, or it is out of range. Whole ratings come back as ``int``."""
    found = {float(value) for value in _BRACKETED.findall(reply)} or \
        {float(value) for value in _OUT_OF_TEN.findall(reply)}
    if len(found) != 1:
        return None
    rating = found.pop()
    if not 1 <= rating <= 10:
        return None
    return int(rating) if rating.is_integer() else rating


class LLMJudge:
    """Rates open-ended answers with a judge model.

    Args:
        model: Hugging Face id or folder of an instruction-tuned model with a chat template.
        dtype: ``bfloat16``, ``float16`` or ``float32``.
        device: ``auto`` (all visible GPUs through ``device_map="auto"``, else the CPU), ``cuda``, ``cpu``...
        batch_size: Answers judged per ``generate`` call.
        max_new_tokens: Longest judge reply.
        image: Show the judge the item's image (an image-text-to-text model is then needed).
    """

    def __init__(self, model: str, dtype: str = "bfloat16", device: str = "auto", batch_size: int = 8,
                 max_new_tokens: int = 256, image: bool = False):
        if image:
            from lightning_mllm.evaluation.vision_engine import VisionEngine

            self.engine: Any = VisionEngine(model, dtype=dtype, device=device, max_new_tokens=max_new_tokens)
        else:
            self.engine = TransformersEngine(model, dtype=dtype, device=device, max_new_tokens=max_new_tokens)
        self.image = image
        self.batch_size = batch_size

    def _generate(self, conversations: list[list[dict[str, Any]]], images: list[Any]) -> list[str]:
        if self.image:
            return self.engine.generate(conversations, images)
        return self.engine.generate(conversations)

    def rate(self, cases: list[tuple[str, str, str]], images: list[Any] | None = None,
             progress: bool = True) -> list[tuple[float | None, str | None, str | None]]:
        """(rating or None, raw reply or None, error or None) for each (question, answer, reference).

        Args:
            cases: (question, answer, reference) per answer to rate.
            images: With an image judge, one PIL image (or None) per case.
            progress: Show a progress bar.
        """
        images = images if images is not None else [None] * len(cases)
        out: list[tuple[float | None, str | None, str | None]] = []
        for start in tqdm(range(0, len(cases), self.batch_size), desc="judge", unit="batch",
                          disable=not progress, leave=False):
            batch, pictures = cases[start:start + self.batch_size], images[start:start + self.batch_size]
            conversations = [judge_prompt(q, a, r, image=self.image and p is not None)
                             for (q, a, r), p in zip(batch, pictures)]
            try:
                replies = self._generate(conversations, pictures)
            except GENERATION_ERRORS as error:  # e.g. out of memory, a prompt longer than the judge's context
                log.warning("judge generation failed for %d answer(s): %s", len(batch), error)
                out += [(None, None, f"{type(error).__name__}: {error}")] * len(batch)
                continue
            out += [(parse_rating(reply), reply, None) for reply in replies]
        return out


def add_ratings(judge: LLMJudge, items: list[BenchItem], answers: dict[str, dict], progress: bool = True) -> None:
    """Rates every open-ended item that got an answer; rating, reply and any judge error go into ``answers``."""
    rated = [item for item in items if item.kind == "open" and answers[item.key]["prediction"] is not None]
    images = [_image(item) for item in rated] if judge.image else None
    results = judge.rate([(item.question, answers[item.key]["prediction"], item.answer) for item in rated],
                         images, progress)
    for item, (rating, reply, error) in zip(rated, results):
        answers[item.key].update(rating=rating, judge_reply=reply, judge_error=error)


def _image(item: BenchItem) -> Any:
    try:
        return item.load_image()
    except ImageDecodeError:  # the answer was made without it too; judged blind rather than dropped
        return None
