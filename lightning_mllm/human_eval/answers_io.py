"""Reads the evaluate command's ``predictions.jsonl`` files for the human evaluation.

An answers argument is ``NAME=PATH`` or ``PATH``; PATH is an evaluation folder (holding
``predictions.jsonl`` and ``results.json``) or a ``predictions.jsonl`` file. Without NAME the model
is named by the folder's ``results.json`` ``run.name``. Only open-ended items (``kind`` "open") are
kept: pairwise ratings are for free-form answers, close-ended benchmarks have exact scores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from lightning_mllm.files import JsonlError, iter_jsonl

REQUIRED = ("key", "benchmark", "lang", "kind", "question", "prediction")


class RatingSetError(ValueError):
    """Inputs that cannot make a rating set; the message names the file, model or item."""


@dataclass
class ModelAnswers:
    """One model's open-ended answers, keyed by item key ("benchmark/lang/id")."""

    name: str
    path: Path
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


def split_spec(spec: str) -> tuple[str | None, Path]:
    """``NAME=PATH`` -> (NAME, PATH); a bare ``PATH`` -> (None, PATH)."""
    name, sep, path = spec.partition("=")
    if sep and name and not Path(spec).exists():
        return name.strip(), Path(path)
    return None, Path(spec)


def _locate(path: Path) -> tuple[Path, Path]:
    """(predictions file, evaluation folder) for a folder or a predictions file."""
    if path.is_dir():
        path = path / "predictions.jsonl"
    if not path.is_file():
        raise RatingSetError(f"{path}: no such predictions file (give an evaluation folder or its predictions.jsonl)")
    return path, path.parent


def _run_name(folder: Path, spec: str) -> str:
    results = folder / "results.json"
    try:
        name = json.loads(results.read_text(encoding="utf-8"))["run"]["name"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RatingSetError(f"{spec}: no model name given and {results} has no run.name ({err}); "
                             "write NAME=PATH") from err
    if not isinstance(name, str) or not name:
        raise RatingSetError(f"{spec}: run.name in {results} is empty; write NAME=PATH")
    return name


def _resolve_image(image: Any, folder: Path) -> str | None:
    # Evaluations record image paths as given in the benchmark config, usually relative to the
    # folder the evaluate command ran in; fall back to the evaluation folder. Stored absolute so
    # the rating server does not depend on where it is started.
    if not isinstance(image, str) or not image:
        return None
    for candidate in (Path(image), folder / image):
        if candidate.is_file():
            return str(candidate.resolve())
    return image


def resolve_spec(spec: str) -> tuple[str, Path, Path]:
    """(model name, predictions file, evaluation folder) of a ``NAME=PATH`` or ``PATH`` argument."""
    name, given = split_spec(spec)
    path, folder = _locate(given)
    return name or _run_name(folder, spec), path, folder


def read_predictions(path: Path, folder: Path, langs: Sequence[str] | None,
                     benchmarks: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """The open-ended records of one predictions file that pass the language/benchmark filters."""
    records: dict[str, dict[str, Any]] = {}
    try:
        rows = list(iter_jsonl(path))
    except JsonlError as err:
        raise RatingSetError(str(err)) from err
    for number, record in rows:
        missing = [k for k in REQUIRED if not isinstance(record, dict) or k not in record]
        if missing:
            raise RatingSetError(f"{path}:{number}: missing {', '.join(missing)}")
        if record["kind"] != "open" or (langs and record["lang"] not in langs) or \
                (benchmarks and record["benchmark"] not in benchmarks):
            continue
        if record["key"] in records:
            raise RatingSetError(f"{path}:{number}: item {record['key']} appears twice")
        record["image"] = _resolve_image(record.get("image"), folder)
        records[record["key"]] = record
    return records


def load_answers(specs: Sequence[str], langs: Sequence[str] | None = None,
                 benchmarks: Sequence[str] | None = None) -> list[ModelAnswers]:
    """Every model's answers, sorted by name so the argument order does not change the set."""
    models: dict[str, ModelAnswers] = {}
    for spec in specs:
        name, path, folder = resolve_spec(spec)
        if name in models:
            raise RatingSetError(f"model name {name!r} given twice ({models[name].path} and {path})")
        models[name] = ModelAnswers(name, path, read_predictions(path, folder, langs, benchmarks))
    if len(models) < 2:
        raise RatingSetError("pairwise rating needs at least two models (--answers NAME=PATH NAME=PATH ...)")
    return [models[name] for name in sorted(models)]


def check_prompts(models: Sequence[ModelAnswers]) -> None:
    """Fails naming the first item whose prompt differs between two answer files."""
    seen: dict[str, tuple[str, str]] = {}
    for model in models:
        for key in sorted(model.records):
            question = model.records[key]["question"]
            first = seen.setdefault(key, (model.name, question))
            if first[1] != question:
                raise RatingSetError(f"item {key}: the prompt differs between {first[0]} and {model.name} "
                                     f"({first[1][:60]!r} vs {question[:60]!r}); were they evaluated on the same files?")


def answered(record: dict[str, Any] | None) -> bool:
    """Whether a record holds an answer to show: present, no error, a non-null prediction."""
    return record is not None and record.get("error") is None and isinstance(record.get("prediction"), str)
