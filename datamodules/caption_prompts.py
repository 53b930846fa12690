"""Stage-1 caption prompts and the fixed instructions of short-answer and multiple-choice items.

LLaVA's stage-1 data pairs each caption with one of a list of brief-description requests, and its
stage-2 mixture ends VQAv2 questions with a short-answer instruction and A-OKVQA questions with a
letter instruction (LLaVA-1.5 paper, Table 7). The English wording below is ours in that spirit;
the Basque wording is ours too and has not been checked by a native speaker (the paper's is not
published), so recipes take every instruction as a setting.
"""

from __future__ import annotations

import hashlib

CAPTION_PROMPTS = {
    "en": ("Describe the image briefly.", "Give a short caption for this picture.",
           "Summarise what the photo shows in one sentence.", "What does this image show? Answer briefly.",
           "Write a concise description of the image."),
    "eu": ("Deskribatu irudia labur.", "Eman argazki honentzako oin labur bat.",
           "Laburbildu argazkiak erakusten duena esaldi batean.", "Zer erakusten du irudi honek? Erantzun labur.",
           "Idatzi irudiaren deskribapen labur bat."),
}
SHORT_ANSWER = {"en": "Answer the question using a single word or phrase.",
                "eu": "Erantzun galderari hitz edo esapide bakar batekin."}
LETTER_ANSWER = {"en": "Answer with the option's letter from the given choices directly.",
                 "eu": "Erantzun zuzenean emandako aukeren letrarekin."}


def caption_prompt(lang: str, key: str) -> str:
    """The prompt of one caption sample, picked by a hash of its key: the same sample always
    gets the same prompt, whatever the order or number of workers."""
    prompts = CAPTION_PROMPTS.get(lang, CAPTION_PROMPTS["en"])
    return prompts[int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % len(prompts)]
