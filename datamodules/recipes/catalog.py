"""The paper's data sets, one recipe each: where they live, their columns, license and size.

Facts come from ``docs/sources.md`` "Data sets" (Hugging Face ids, PixMo's columns and row counts)
and from the data sets' own cards; what could not be confirmed says so in ``notes``. The Basque translations
(``lukasArana/*``) publish columns no one here could check: their column settings default to the
English data set's names, and every column is a setting (``--column question=...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

UNCONFIRMED_EU = ("columns not confirmed (the data set's card was not reachable from here); they default to "
                  "the English data set's names: override with --column NAME=COLUMN")
PIXMO_LICENSE = "ODC-BY-1.0 (PixMo card); images stay under their owners' terms"
COCO_LICENSE = "annotations CC BY 4.0; COCO images under Flickr terms"
HELD_OUT = ("PixMo-CapQA publishes one split, the one training reads: pass --input with rows held out from "
            "the training recipe, or the evaluation scores training data")


@dataclass(frozen=True)
class Recipe:
    """One published data set and how it becomes shards (or an evaluation file).

    Attributes:
        name: Recipe name, also the shard prefix (``pixmo-ama-eu``).
        source: Source name written into every sample (the mixture config's ``name``).
        lang: Language of the data.
        hf_id: Hugging Face data set id read from the local cache (None: give --input).
        license: License as its card states it.
        expected: Expected size.
        format: ``rows``, ``img2dataset`` or ``llava`` (the shard writer's formats) or ``eval``.
        kind: How rows become conversations (``RowOptions.kind``) or, for ``eval``, the benchmark
            format written (``vqa``, ``aokvqa_json``, ``open``).
        columns: Setting -> default column (``question``, ``answer``, ``url``, ``image``...).
        split: Split picked from a cached snapshot or folder.
        eval_path: ``eval`` only: where the file goes under ``--out`` (``configs/eval/paper.yaml``).
        notes: What is unconfirmed, and how the images are found.
    """

    name: str
    source: str
    lang: str
    hf_id: str | None
    license: str
    expected: str
    format: str
    kind: str
    columns: dict[str, str | None] = field(default_factory=dict)
    split: str | None = "train"
    eval_path: str | None = None
    notes: str = ""


PIXMO_AMA = {"url": "image_url", "sha256": "image_sha256", "question": "question", "answer": "answer"}
PIXMO_CAPQA = {"url": "image_url", "question": "question", "answer": "answer"}
PIXMO_CAPQA_EU = {"image": "image", "question": "question", "answer": "answer"}
VQAV2 = {"image": "image", "question": "question", "answer": "multiple_choice_answer", "id": "question_id"}
AOKVQA = {"image": "image", "question": "question", "choices": "choices", "answer_index": "correct_choice_idx",
          "id": "question_id"}
VQA_EVAL = {"image": "image", "question": "question", "answers": "answers", "id": "question_id"}
AOKVQA_EVAL = {**AOKVQA, "direct_answers": "direct_answers"}
OPEN_EVAL = {"image": "image", "question": "question", "reference": "answer", "id": None}
WILDVISION_EVAL = {"image": "image", "question": "instruction", "reference": None, "id": "question_id"}

RECIPES: tuple[Recipe, ...] = (
    Recipe("cc3m-en", "cc3m", "en", None, "CC3M terms: free for any use, attribution to Google appreciated",
           "3.3M URLs; about 2.8M still reachable (docs/sources.md)", "img2dataset", "caption", {"caption": "txt"},
           split=None, notes="--input: img2dataset --output_format webdataset output of CC3M's TSV "
                             "(jpg, txt, json per key); the image bytes are copied as they are"),
    Recipe("cc3m-595k-en", "cc3m", "en", "liuhaotian/LLaVA-CC3M-Pretrain-595K", "CC3M terms (LLaVA's card)",
           "595,375 samples", "llava", "llava", {}, split=None,
           notes="--input: chat.json; --image-root: the folder images.zip unpacks to"),
    Recipe("cc3m-eu", "cc3m", "eu", None, "not published; CC3M terms for the images",
           "about 2.8M pairs (docs/sources.md)", "rows", "caption", {"url": "url", "caption": "caption"}, split=None,
           notes="Basque CC3M captions by URL, joined to CC3M's images (--image-tars: the img2dataset "
                 "output of cc3m-en, or --images). No published id; " + UNCONFIRMED_EU),
    Recipe("pixmo-ama-en", "pixmo-ama", "en", "allenai/pixmo-ask-model-anything", PIXMO_LICENSE, "161,737 rows",
           "rows", "qa", PIXMO_AMA, notes="images by URL: --fetch-images, or --images / --image-tars"),
    Recipe("pixmo-ama-eu", "pixmo-ama", "eu", "lukasArana/pixmo-ask-model-anything-eu",
           "not stated here: check the card", "about 146k rows", "rows", "qa", PIXMO_AMA,
           notes="images by URL as pixmo-ama-en; " + UNCONFIRMED_EU),
    Recipe("pixmo-capqa-en", "pixmo-capqa", "en", "allenai/pixmo-cap-qa", PIXMO_LICENSE, "271,714 rows",
           "rows", "qa", PIXMO_CAPQA, notes="images by URL: --fetch-images, or --images / --image-tars"),
    Recipe("pixmo-capqa-eu", "pixmo-capqa", "eu", "lukasArana/Pixmo-cap-qa-eu", "not stated here: check the card",
           "10k-100k rows, images inside", "rows", "qa", PIXMO_CAPQA_EU,
           notes="Parquet with the images inside (docs/sources.md); " + UNCONFIRMED_EU),
    Recipe("vqav2-en", "vqav2", "en", "lmms-lab/VQAv2", COCO_LICENSE, "443,757 train questions (82,783 images)",
           "rows", "vqa", VQAV2, notes="any flat VQAv2 export with the image inside works (--input); "
                                        "lmms-lab's copy may lack the train split (unverified)"),
    Recipe("vqav2-eu", "vqav2", "eu", "lukasArana/vqa-v2-eu", "not stated here: check the card", "unknown",
           "rows", "vqa", VQAV2, notes="published as a labelled benchmark; " + UNCONFIRMED_EU),
    Recipe("aokvqa-en", "aokvqa", "en", "HuggingFaceM4/A-OKVQA", "Apache-2.0 (A-OKVQA repository; unverified for the hub copy); COCO images",
           "17,056 train questions", "rows", "mc", AOKVQA),
    Recipe("aokvqa-eu", "aokvqa", "eu", "lukasArana/A-OKVQA-eu", "not stated here: check the card", "unknown",
           "rows", "mc", AOKVQA, notes=UNCONFIRMED_EU),
    Recipe("text-en", "text", "en", None, "that of the data set chosen", "that of the data set chosen", "rows",
           "messages", {"messages": "messages", "image": None}, notes="the paper names no text-only data set: "
           "give --hf-id or --input (a messages column; --kind qa with --column question=... for flat rows)"),
    Recipe("text-eu", "text", "eu", None, "that of the data set chosen", "that of the data set chosen", "rows",
           "messages", {"messages": "messages", "image": None}, notes="as text-en, in Basque"),
    # Evaluation files in the layout configs/eval/paper.yaml reads (formats as formats.py reads them today).
    Recipe("vqav2-eval-en", "vqav2", "en", "lmms-lab/VQAv2", COCO_LICENSE, "214,354 validation questions", "eval",
           "vqa", VQA_EVAL, split="validation", eval_path="vqav2/vqav2-en.jsonl",
           notes="the paper evaluates on a subset: pass --limit"),
    Recipe("vqav2-eval-eu", "vqav2", "eu", "lukasArana/vqa-v2-eu", "not stated here: check the card", "unknown",
           "eval", "vqa", VQA_EVAL, split="validation", eval_path="vqav2/vqav2-eu.jsonl", notes=UNCONFIRMED_EU),
    Recipe("aokvqa-eval-en", "aokvqa", "en", "HuggingFaceM4/A-OKVQA", "Apache-2.0 (A-OKVQA repository; unverified for the hub copy); COCO images",
           "1,145 validation questions", "eval", "aokvqa_json", AOKVQA_EVAL, split="validation",
           eval_path="aokvqa/aokvqa_v1p0_val.json", notes="images written next to the file, named by absolute path"),
    Recipe("aokvqa-eval-eu", "aokvqa", "eu", "lukasArana/A-OKVQA-eu", "not stated here: check the card", "unknown",
           "eval", "aokvqa_json", AOKVQA_EVAL, split="validation", eval_path="aokvqa/aokvqa_v1p0_val_eu.json",
           notes=UNCONFIRMED_EU),
    Recipe("pixmo-capqa-eval-en", "pixmo-capqa", "en", "allenai/pixmo-cap-qa", PIXMO_LICENSE, "a held-out subset",
           "eval", "open", {**OPEN_EVAL, "image": None, "url": "image_url"}, split=None,
           eval_path="pixmo-capqa/capqa-en.jsonl", notes=f"images by URL (--images); {HELD_OUT}"),
    Recipe("pixmo-capqa-eval-eu", "pixmo-capqa", "eu", "lukasArana/Pixmo-cap-qa-eu", "not stated here: check the card",
           "a held-out subset", "eval", "open", OPEN_EVAL, split=None, eval_path="pixmo-capqa/capqa-eu.jsonl",
           notes=f"{HELD_OUT}; {UNCONFIRMED_EU}"),
    Recipe("wildvision-eval-en", "wildvision", "en", "WildVision/wildvision-bench", "check the card", "about 500 prompts",
           "eval", "open", WILDVISION_EVAL, split=None, eval_path="wildvision/wildvision-en.jsonl",
           notes="columns (instruction, image, question_id) unverified: override with --column"),
    Recipe("wildvision-eval-eu", "wildvision", "eu", "lukasArana/WildVision-eu", "not stated here: check the card",
           "about 500 prompts", "eval", "open", WILDVISION_EVAL, split=None, eval_path="wildvision/wildvision-eu.jsonl",
           notes="defaults to the English bench's column names; " + UNCONFIRMED_EU),
)


def recipe(name: str) -> Recipe:
    """The recipe called ``name``; the error lists the names there are."""
    for candidate in RECIPES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no recipe {name!r}; python -m datamodules.recipes list shows: "
                   f"{', '.join(r.name for r in RECIPES)}")
