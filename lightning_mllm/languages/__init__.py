"""Languages as data: one YAML file per language (``en.yaml``, ``eu.yaml``, ``gl.yaml`` ...).

A language file holds the language's names, the answer-format instructions evaluation appends,
its rules for comparing short answers and the words of the synthetic scenes. Adding a language
is adding a file, here or in a folder named by ``$LIGHTNING_MLLM_LANGUAGES``; ``en.yaml`` is the
template to copy.
"""

from lightning_mllm.languages.answer_rules import AnswerRules
from lightning_mllm.languages.fields import LanguageFileError, UnknownLanguageError
from lightning_mllm.languages.registry import (FOLDERS_ENV, Language, available_languages, language_file,
                                               load_language)
from lightning_mllm.languages.synthetic_words import SyntheticWords

__all__ = ["FOLDERS_ENV", "AnswerRules", "Language", "LanguageFileError", "SyntheticWords", "UnknownLanguageError",
           "available_languages", "language_file", "load_language"]
