"""An LLM as judge of open-ended answers, with one fixed bilingual rubric.

The judge is any instruction-tuned causal LM (a Hugging Face id or folder) used through its own
chat template with greedy decoding, so two runs with the same judge give the same ratings. It
reads the question, the reference answer when there is one and the model's answer (it does not
see the image) and must end with ``Rating: [[N]]``, N from 1 to 10. A reply without exactly one
such rating is counted as unparseable and left out of the mean; it is never guessed.
"""

from __future__ import annotations

import re

from tqdm import tqdm

from lightning_mllm.translation.engines import TransformersEngine

RUBRIC = (
    "You are an impartial judge of the answers an AI assistant gives to questions about an image. "
    "You do not see the image; rely on the reference answer when one is given. The question and the "
    "answer may be in English or in Basque (euskara).\n"
    "Judge, in this order: (1) correctness with respect to the reference answer and the question; "
    "(2) helpfulness, relevance and level of detail; (3) language: the answer must be in the language "
    "of the question; an answer in another language is a serious fault, and a Basque answer must be "
    "fluent, grammatical standard Basque (batua).\n"
    "Do not favour long answers for their length. Write one or two sentences of justification, then "
    "give the rating on its own line in exactly this form: Rating: [[N]] where N is an integer from 1 "
    "(useless) to 10 (perfect)."
)
_RATING = re.compile(r"\[\[\s*(\d{1,2})\s*\]\]")


def judge_prompt(question: str, answer: str, reference: str = "") -> list[dict[str, str]]:
    """The judge's conversation for one answer: the rubric as system turn, the case as user turn."""
    case = [f"[Question]\n{question}"]
    if reference:
        case.append(f"[Reference answer]\n{reference}")
    case.append(f"[Assistant's answer]\n{answer}")
    return [{"role": "system", "content": RUBRIC}, {"role": "user", "content": "\n\n".join(case)}]


def parse_rating(reply: str) -> int | None:
    """The 1-10 rating in ``reply``, or None when there is none, several differ, or it is out of range."""
    found = {int(value) for value in _RATING.findall(reply)}
    if len(found) != 1:
        return None
    rating = found.pop()
    return rating if 1 <= rating <= 10 else None


class LLMJudge:
    """Rates open-ended answers with a judge LLM (the translation command's transformers engine:
    the judge's chat template, left-padded batches, greedy decoding).

    Args:
        model: Hugging Face id or folder of an instruction-tuned causal LM with a chat template.
        dtype: ``bfloat16``, ``float16`` or ``float32``.
        device: Where the judge runs (``cuda``, ``cpu``, or ``auto`` to spread it over the GPUs).
        batch_size: Answers judged per ``generate`` call.
        max_new_tokens: Longest judge reply.
    """

    def __init__(self, model: str, dtype: str = "bfloat16", device: str = "cpu", batch_size: int = 8,
                 max_new_tokens: int = 256):
        self.engine = TransformersEngine(model, dtype=dtype, device=device, max_new_tokens=max_new_tokens)
        self.batch_size = batch_size

    def replies(self, conversations: list[list[dict[str, str]]], progress: bool = True) -> list[str]:
        """The judge's greedy reply to each conversation."""
        out: list[str] = []
        for start in tqdm(range(0, len(conversations), self.batch_size), desc="judge", unit="batch",
                          disable=not progress, leave=False):
            out += self.engine.generate(conversations[start:start + self.batch_size])
        return out

    def rate(self, cases: list[tuple[str, str, str]], progress: bool = True) -> list[tuple[int | None, str]]:
        """(rating or None, raw reply) for each (question, answer, reference) case."""
        replies = self.replies([judge_prompt(q, a, r) for q, a, r in cases], progress)
        return [(parse_rating(reply), reply) for reply in replies]


def add_ratings(judge: LLMJudge, items: list, answers: dict[str, dict], progress: bool = True) -> None:
    """Rates every open-ended item that got an answer; the rating and reply go into ``answers``."""
    rated = [item for item in items if item.kind == "open" and answers[item.key]["prediction"] is not None]
    results = judge.rate([(item.question, answers[item.key]["prediction"], item.answer) for item in rated], progress)
    for item, (rating, reply) in zip(rated, results):
        answers[item.key].update(rating=rating, judge_reply=reply)
