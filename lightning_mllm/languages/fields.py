"""Checks on the values of a language file, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_MISSING = object()


class LanguageFileError(ValueError):
    """A language file that cannot be used; the message names the file and the key at fault."""


class UnknownLanguageError(KeyError):
    """No file for a language code; the message names the code and the folders searched."""

    def __str__(self) -> str:  # KeyError would print the message quoted, as a key
        return str(self.args[0])


def required(data: dict, path: Path, key: str, prefix: str = "") -> Any:
    """``data[key]``, or an error naming ``prefix + key`` and the file when it is missing."""
    value = data.get(key, _MISSING)
    if value is _MISSING or value is None:
        raise LanguageFileError(f"{path}: missing required key '{prefix}{key}'")
    return value


def optional(data: dict, key: str, default: Any) -> Any:
    """``data[key]``, or ``default`` when it is missing or empty."""
    value = data.get(key)
    return default if value is None else value


def mapping(value: Any, path: Path, key: str) -> dict:
    """``value`` if it is a mapping, else an error naming the key."""
    if not isinstance(value, dict):
        raise LanguageFileError(f"{path}: key '{key}' must be a mapping, got {type(value).__name__}")
    return value


def text(value: Any, path: Path, key: str) -> str:
    """``value`` if it is a non-empty string, else an error naming the key."""
    # YAML reads unquoted yes/no/on/off as booleans and digits as numbers: say so.
    if not isinstance(value, str) or not value.strip():
        raise LanguageFileError(f"{path}: key '{key}' must be a non-empty string, got {value!r} "
                                f"(quote words that YAML reads as booleans or numbers)")
    return value


def words(value: Any, path: Path, key: str) -> tuple[str, ...]:
    """A list of strings (a single string counts as a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise LanguageFileError(f"{path}: key '{key}' must be a list of words, got {type(value).__name__}")
    return tuple(text(v, path, f"{key}[{i}]") for i, v in enumerate(value))
