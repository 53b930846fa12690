"""Finds and reads language files: one YAML file per language, named by its code (``gl.yaml``).

The package's own files live next to this module. Users add or override languages without
touching the package by putting ``<code>.yaml`` files in folders named by the environment
variable ``LIGHTNING_MLLM_LANGUAGES`` (several separated by ``os.pathsep``) or passed as
``folders=``; those folders are searched first, in order, and the package folder last.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from lightning_mllm.languages.answer_rules import AnswerRules
from lightning_mllm.languages.fields import (LanguageFileError, UnknownLanguageError, mapping, optional,
                                             required, text)
from lightning_mllm.languages.synthetic_words import SyntheticWords

PACKAGE_FOLDER = Path(__file__).parent
FOLDERS_ENV = "LIGHTNING_MLLM_LANGUAGES"
INSTRUCTION_KINDS = ("mc", "vqa")
# A code names a file: letters, digits and hyphens only (ISO 639 codes, "pt-BR"), so no path.
_CODE = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")


@dataclass(frozen=True)
class Language:
    """One language as data.

    Attributes:
        code: The code samples, sources and benchmark items carry in ``lang`` ("eu").
        name: The English name ("Basque").
        native_name: The name in the language itself ("Euskara").
        instructions: The answer-format instruction evaluation appends, by item kind (``mc``,
            ``vqa``); a kind missing here falls back to English.
        answers: How short answers are normalised before they are compared.
        synthetic: The words and templates of the synthetic scenes, or None when the language
            has none (it can still be evaluated and trained on other data).
        source: The file the language was read from.
    """

    code: str
    name: str
    native_name: str
    instructions: dict[str, str] = field(default_factory=dict)
    answers: AnswerRules = field(default_factory=AnswerRules)
    synthetic: SyntheticWords | None = None
    source: Path | None = None


def search_folders(folders: list[str | os.PathLike] | None = None) -> list[Path]:
    """The folders searched for language files, in order: ``folders`` (or the environment
    variable's), then the package's."""
    if folders is None:
        folders = [f for f in os.environ.get(FOLDERS_ENV, "").split(os.pathsep) if f]
    return [Path(f) for f in folders] + [PACKAGE_FOLDER]


def available_languages(folders: list[str | os.PathLike] | None = None) -> list[str]:
    """The codes of every language file found, sorted."""
    return sorted({p.stem for folder in search_folders(folders) if folder.is_dir()
                   for p in folder.glob("*.yaml") if _CODE.match(p.stem)})


def language_file(code: str, folders: list[str | os.PathLike] | None = None) -> Path:
    """The file ``code`` is read from: the first ``<code>.yaml`` along the search folders.

    Raises:
        UnknownLanguageError: If no folder holds it (a ``KeyError``); the message names the code,
            the folders searched and the languages that exist.
    """
    if not isinstance(code, str) or not _CODE.match(code):
        raise UnknownLanguageError(f"{code!r} is not a language code (letters, digits and hyphens, "
                                   f"like 'eu' or 'pt-BR')")
    searched = search_folders(folders)
    for folder in searched:
        path = folder / f"{code}.yaml"
        if path.is_file():
            return path
    raise UnknownLanguageError(f"unknown language {code!r}: no {code}.yaml in {', '.join(map(str, searched))} "
                               f"(known: {', '.join(available_languages(folders))}); add a language by "
                               f"writing {code}.yaml there or in a folder named by ${FOLDERS_ENV}")


def load_language(code: str, folders: list[str | os.PathLike] | None = None) -> Language:
    """The language ``code``, read from its file (each file is parsed once per process).

    Raises:
        UnknownLanguageError: If the language is unknown (see ``language_file``).
        LanguageFileError: If the file is not valid YAML or lacks or misspells a key; the message
            names the file and the key.
    """
    path = language_file(code, folders)
    stat = path.stat()
    return _read(path.resolve(), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _read(path: Path, mtime_ns: int, size: int) -> Language:
    # Keyed by modification time and size too, so an edited file is read again.
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise LanguageFileError(f"{path}: cannot read the language file: {error}") from error
    data = mapping(data, path, "the top level")
    code = text(required(data, path, "code"), path, "code")
    if code != path.stem:
        raise LanguageFileError(f"{path}: key 'code' is {code!r} but the file is named {path.name}; "
                                f"a language file is named by its code")
    instructions = mapping(optional(data, "instructions", {}), path, "instructions")
    for kind in instructions:
        if kind not in INSTRUCTION_KINDS:
            raise LanguageFileError(f"{path}: unknown key 'instructions.{kind}'; expected {INSTRUCTION_KINDS}")
        text(instructions[kind], path, f"instructions.{kind}")
    synthetic = optional(data, "synthetic", None)
    known = {"code", "name", "native_name", "instructions", "answers", "synthetic"}
    if unknown := sorted(set(data) - known):
        raise LanguageFileError(f"{path}: unknown key(s) {unknown}; expected some of {sorted(known)}")
    return Language(
        code=code,
        name=text(required(data, path, "name"), path, "name"),
        native_name=text(required(data, path, "native_name"), path, "native_name"),
        instructions=dict(instructions),
        answers=AnswerRules.from_data(optional(data, "answers", {}), path),
        synthetic=None if synthetic is None else SyntheticWords.from_data(synthetic, path),
        source=path,
    )
