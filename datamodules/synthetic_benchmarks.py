"""Small English and Basque benchmark files over synthetic scenes, for the demo and the tests.

    python -m datamodules.synthetic_benchmarks --root data/synthetic-bench --per-language 100

Writes, per language, a multiple-choice file (``mc-<lang>.jsonl``: the question, the answers of
its kind as options, the right letter), a short-answer file (``vqa-<lang>.jsonl``) and an
open-ended file (``open-<lang>.jsonl``: describe the image, the caption as reference), in the
generic formats of ``lightning_mllm.evaluation.formats``, with PNG images under ``images/``.
The English and Basque files ask about the same scenes with the same ids.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from lightning_mllm import synthetic_scenes as scenes

# Every answer a question kind can have, per language: the options of a multiple-choice item.
def _answer_space(kind: str, lang: str) -> list[str]:
    rng = random.Random(0)
    seen: dict[str, None] = {}
    for _ in range(300):  # the generator's own answers, so options read exactly like its replies
        seen[scenes.question(scenes.sample_scene(rng), kind, lang, rng).answer] = None
    return sorted(seen)


def _items(scene, index: int, lang: str, rng: random.Random) -> dict[str, dict]:
    kind = scenes.QUESTION_KINDS[index % len(scenes.QUESTION_KINDS)]
    qa = scenes.question(scene, kind, lang, rng)
    space = _answer_space(kind, lang)
    distractors = rng.sample([a for a in space if a != qa.answer], min(3, len(space) - 1))
    options = distractors + [qa.answer]
    rng.shuffle(options)
    base = {"id": f"{index:05d}", "image": f"images/{index:05d}.png", "category": kind}
    return {
        "mc": {**base, "question": qa.question, "options": [o.rstrip(".") for o in options],
               "answer": "ABCD"[options.index(qa.answer)]},
        "vqa": {**base, "question": qa.question, "answers": [qa.answer.rstrip(".")] * 10},
        "open": {**base, "prompt": scenes.caption_prompt(lang), "reference": scenes.caption(scene, lang)},
    }


def write_synthetic_benchmarks(root: str | Path, per_language: int = 100, image_size: int = 48, seed: int = 1234,
                               languages: tuple[str, ...] | list[str] = scenes.LANGUAGES) -> Path:
    """Writes the files under ``root`` (overwriting) for each of ``languages``; returns ``root``."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    scene_rng = random.Random(seed)
    scene_list = [scenes.sample_scene(scene_rng) for _ in range(per_language)]
    for index, scene in enumerate(scene_list):
        scenes.render_scene(scene, image_size, random.Random(seed + index)).save(root / "images" / f"{index:05d}.png")
    for lang in languages:
        # The same question seed per language: the English and Basque files ask the same things.
        rows = [_items(scene, i, lang, random.Random(seed * 7 + i)) for i, scene in enumerate(scene_list)]
        for kind in ("mc", "vqa", "open"):
            with open(root / f"{kind}-{lang}.jsonl", "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(row[kind], ensure_ascii=False) + "\n" for row in rows)
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/synthetic-bench", help="output folder")
    parser.add_argument("--per-language", type=int, default=100, help="items per language and kind")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the scenes and questions")
    parser.add_argument("--languages", nargs="+", default=list(scenes.LANGUAGES),
                        help="language codes with a synthetic entry in lightning_mllm/languages")
    args = parser.parse_args(argv)
    root = write_synthetic_benchmarks(args.root, args.per_language, seed=args.seed, languages=args.languages)
    print(f"synthetic benchmarks at {root}")


if __name__ == "__main__":
    main()
