"""Writes the synthetic data set (English and Basque by default) as WebDataset tar shards.

Layout under ``root``, per language of ``SyntheticSpec.languages``::

    train/en-000000.tar ...   conversations (captions and multi-turn QA), English
    train/eu-000000.tar ...   the same kind of data, Basque, from different scenes
    eval/en-000000.tar ...    held-out single-turn questions with reference answers
    eval/eu-000000.tar ...
    meta.json                 counts and settings; written last, so its presence means "complete"

Any language whose file in ``lightning_mllm/languages`` has a ``synthetic`` entry can be listed
(``languages: [en, eu, gl]``).

Each sample follows docs/design.md: ``json`` (messages, lang, source, id) plus ``png``.
Run ``python -m datamodules.synthetic_shards --root data/synthetic`` to write it by hand; the
mixture datamodule also writes it into its ``data_root`` on first use when ``synthetic`` is set.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import webdataset as wds
from tqdm import tqdm

from lightning_mllm import synthetic_scenes as scenes
from lightning_mllm.files import atomic_folder

MAX_LANGUAGES = 10


@dataclass
class SyntheticSpec:
    """What the synthetic data set holds.

    Args:
        train_per_language: Training conversations per language.
        eval_per_language: Held-out evaluation questions per language.
        image_size: Side of the square PNG images in pixels.
        samples_per_shard: Samples per tar shard.
        seed: Seed of every random choice; the same spec always writes the same data.
        languages: Codes of the languages to write, each with a ``synthetic`` entry in its
            language file. A language's scenes depend on its position in this list (the n-th
            language always gets the same scenes), so ``[en, eu, gl]`` holds exactly the English
            and Basque data of ``[en, eu]``.
    """

    train_per_language: int = 6000
    eval_per_language: int = 200
    image_size: int = 48
    samples_per_shard: int = 1000
    seed: int = 0
    languages: list[str] = field(default_factory=lambda: list(scenes.LANGUAGES))

    def __post_init__(self) -> None:
        self.languages = list(self.languages)
        if not self.languages or len(set(self.languages)) != len(self.languages):
            raise ValueError(f"synthetic.languages must list distinct language codes, got {self.languages}")
        if len(self.languages) > MAX_LANGUAGES:  # the seeds of more would collide (see write_synthetic_shards)
            raise ValueError(f"synthetic.languages lists {len(self.languages)} languages; at most "
                             f"{MAX_LANGUAGES} fit one data set")
        for lang in self.languages:  # an unknown code or a file without words fails here, before writing
            scenes.words(lang)


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _write_split(folder: Path, split: str, lang: str, count: int, spec: SyntheticSpec, seed: int) -> None:
    rng = random.Random(seed)
    pattern = str(folder / f"{lang}-%06d.tar")
    with wds.ShardWriter(pattern, maxcount=spec.samples_per_shard, verbose=0) as sink:
        for index in tqdm(range(count), desc=f"synthetic {split}/{lang}", unit="sample", leave=False):
            scene = scenes.sample_scene(rng)
            image = scenes.render_scene(scene, spec.image_size, rng)
            record = {"lang": lang, "source": f"synthetic-{split}", "id": f"{split}-{lang}-{index:07d}"}
            if split == "train":
                record["messages"] = scenes.training_messages(scene, lang, rng)
            else:
                record["question_kind"], record["messages"] = scenes.evaluation_messages(scene, lang, rng)
            sink.write({"__key__": record["id"], "json": json.dumps(record, ensure_ascii=False).encode(),
                        "png": _png(image)})


def is_complete(root: str | os.PathLike) -> bool:
    """True when a finished data set (with its ``meta.json``) is at ``root``."""
    return (Path(root) / "meta.json").is_file()


def write_synthetic_shards(spec: SyntheticSpec, root: str | os.PathLike) -> Path:
    """Writes the data set unless it is already complete; returns its root.

    Writing goes to a temporary sibling folder that is renamed into place at the end, so an
    interrupted run never leaves a half-written data set that looks finished.
    """
    root = Path(root)
    if is_complete(root):
        written = json.loads((root / "meta.json").read_text()).get("spec")
        if isinstance(written, dict):  # written before the spec listed its languages: English and Basque
            written.setdefault("languages", list(scenes.LANGUAGES))
        if written != asdict(spec):
            raise ValueError(f"{root} holds synthetic data written with other settings ({written}); "
                             f"delete it or set data.data_root to another folder")
        return root
    # replace=True: a folder without meta.json is an earlier, incomplete attempt.
    with atomic_folder(root, replace=True) as staging:
        for split_index, (split, count) in enumerate((("train", spec.train_per_language),
                                                      ("eval", spec.eval_per_language))):
            (staging / split).mkdir()
            for lang_index, lang in enumerate(spec.languages):
                # Below MAX_LANGUAGES, train seeds (+0..9) and eval seeds (+10..19) never collide.
                seed = spec.seed * 1000 + split_index * 10 + lang_index
                _write_split(staging / split, split, lang, count, spec, seed)
        (staging / "meta.json").write_text(json.dumps({"spec": asdict(spec), "languages": spec.languages}))
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/synthetic", help="output folder")
    for name, value in asdict(SyntheticSpec()).items():
        if isinstance(value, list):
            parser.add_argument(f"--{name.replace('_', '-')}", nargs="+", default=value)
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    settings = vars(args)
    root = write_synthetic_shards(SyntheticSpec(**{k: v for k, v in settings.items() if k != "root"}),
                                  settings["root"])
    print(f"synthetic shards at {root}")


if __name__ == "__main__":
    main()
