"""The language registry: packaged files, user folders, errors naming file and key, answer rules,
evaluation instructions, the mixture's target language, a language added as nothing but a file."""

import json
import random
import warnings
from pathlib import Path

import pytest
import yaml

from lightning_mllm import languages
from lightning_mllm.evaluation import basque
from lightning_mllm.evaluation.items import BenchItem
from lightning_mllm.evaluation.prompts import instruction, user_prompt
from lightning_mllm.languages import LanguageFileError, UnknownLanguageError, available_languages, load_language

PACKAGED = Path(languages.__file__).parent


def _file(folder: Path, code: str, data: dict) -> Path:
    path = folder / f"{code}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _gl_data() -> dict:
    return yaml.safe_load((PACKAGED / "gl.yaml").read_text(encoding="utf-8"))


def test_packaged_languages_load_with_names_instructions_and_scene_words():
    assert {"en", "eu", "gl", "ca", "es"} <= set(available_languages())
    names = {code: load_language(code).name for code in ("en", "eu", "gl", "ca", "es")}
    assert names == {"en": "English", "eu": "Basque", "gl": "Galician", "ca": "Catalan", "es": "Spanish"}
    for code in names:
        language = load_language(code)
        assert set(language.instructions) == {"mc", "vqa"} and language.synthetic is not None
        assert language.source == (PACKAGED / f"{code}.yaml").resolve()


def test_unknown_language_names_the_code_and_the_folders(tmp_path):
    with pytest.raises(UnknownLanguageError) as error:
        load_language("xx", folders=[tmp_path])
    message = str(error.value)
    assert "'xx'" in message and str(tmp_path) in message and str(PACKAGED) in message and "eu" in message
    with pytest.raises(KeyError):  # still a KeyError for callers that catch lookups
        load_language("../en")


def test_a_user_folder_adds_and_overrides_languages(tmp_path, monkeypatch):
    data = _gl_data() | {"code": "pt", "name": "Portuguese", "native_name": "Português"}
    _file(tmp_path, "pt", data)
    override = yaml.safe_load((PACKAGED / "en.yaml").read_text()) | {"name": "English (user)"}
    _file(tmp_path, "en", override)
    monkeypatch.setenv(languages.FOLDERS_ENV, str(tmp_path))
    assert "pt" in available_languages()
    assert load_language("pt").native_name == "Português"
    assert load_language("en").name == "English (user)"  # user folders come first
    monkeypatch.delenv(languages.FOLDERS_ENV)
    assert load_language("en").name == "English"
    assert "pt" not in available_languages()


@pytest.mark.parametrize("edit, key", [
    (lambda d: d.pop("native_name"), "native_name"),
    (lambda d: d["synthetic"]["colours"].pop("yellow"), "synthetic.colours"),
    (lambda d: d["synthetic"]["questions"]["colour"].pop("answer"), "synthetic.questions.colour.answer"),
    (lambda d: d["synthetic"]["questions"]["colour"].update(question="Que cor ten {shape[dative]}?"),
     "synthetic.questions.colour.question"),
    (lambda d: d["synthetic"]["caption"].update(shape="{shape} {colour}"), "synthetic.caption.shape"),
    (lambda d: d["answers"]["numbers"].update(dúas="two"), "answers.numbers.dúas"),
    (lambda d: d["instructions"].update(open="Describe."), "instructions.open"),
    (lambda d: d["synthetic"]["slots"].update(left=False), "synthetic.slots.left"),
])
def test_a_broken_file_names_itself_and_the_key(tmp_path, edit, key):
    data = _gl_data()
    edit(data)
    path = _file(tmp_path, "gl", data)
    with pytest.raises(LanguageFileError) as error:
        load_language("gl", folders=[tmp_path])
    assert str(path.resolve()) in str(error.value) and key in str(error.value)


def test_a_file_named_for_another_code_is_refused(tmp_path):
    _file(tmp_path, "pt", _gl_data())
    with pytest.raises(LanguageFileError, match="'code' is 'gl' but the file is named pt.yaml"):
        load_language("pt", folders=[tmp_path])


def test_an_edited_file_is_read_again(tmp_path):
    data = _gl_data()
    path = _file(tmp_path, "gl", data)
    assert load_language("gl", folders=[tmp_path]).name == "Galician"
    path.write_text(path.read_text(encoding="utf-8").replace("name: Galician", "name: Galician (edited, longer)"),
                    encoding="utf-8")
    assert load_language("gl", folders=[tmp_path]).name == "Galician (edited, longer)"


@pytest.mark.parametrize("code, answer, expected", [
    ("gl", "Dúas.", "2"),
    ("gl", "Un círculo.", "círculo"),
    ("gl", "Unha", "1"),
    ("gl", "Á esquerda.", "á esquerda"),
    ("ca", "A l'esquerra.", "a esquerra"),
    ("ca", "El cercle", "cercle"),
    ("es", "2,5", "2.5"),
    ("es", "¿Dos?", "2"),
    ("en", "The three", "3"),
    ("en", "2,5", "2 5"),  # no decimal comma in English
    ("eu", "Hiru.", "3"),
])
def test_answer_rules_normalise_answers(code, answer, expected):
    assert load_language(code).answers.normalize(answer) == expected


def test_basque_entry_agrees_with_the_basque_scoring_rules():
    rules = load_language("eu").answers
    for word, value in rules.numbers.items():
        assert basque.NUMBERS[(word,)] == str(value)
    assert {k: tuple(v) for k, v in rules.mc_cues.items()} == basque.MC_CUES
    assert rules.decimal_comma


def test_evaluation_asks_in_the_items_language_and_falls_back_to_english_once():
    item = BenchItem(benchmark="synthetic", lang="gl", id="1", kind="vqa", question="Que cor ten o círculo?",
                     answers=["vermello"], answer_format=True)
    assert user_prompt(item) == "Que cor ten o círculo?\nResponde á pregunta cunha soa palabra ou frase."
    assert instruction("mc", "ca") == load_language("ca").instructions["mc"]
    assert instruction("mc", "eu") == "Erantzun zuzenean emandako aukeretako letrarekin."
    with pytest.warns(UserWarning, match="'zz'"):
        assert instruction("vqa", "zz") == load_language("en").instructions["vqa"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert instruction("vqa", "zz") == load_language("en").instructions["vqa"]  # no second warning


def test_the_mixture_target_language_can_be_galician():
    from lightning_mllm.mixture_weights import MixtureShares, Source, source_weights

    sources = [Source("en", weight=1.0, lang="en"), Source("eu", weight=1.0, lang="eu"),
               Source("gl", weight=2.0, lang="gl"), Source("text", lang="gl", modality="text")]
    probabilities = source_weights(sources, MixtureShares(target_share=0.2, text_share=0.1, target_lang="gl"))
    assert probabilities == pytest.approx([0.36, 0.36, 0.18, 0.1])
    with pytest.raises(ValueError, match="lang 'gl'"):
        source_weights(sources[:2], MixtureShares(target_share=0.5, target_lang="gl"))


def test_a_new_language_is_only_a_file(tmp_path, monkeypatch):
    """Portuguese, written as a file in a user folder, becomes synthetic training data."""
    from datamodules.samples import read_shard
    from datamodules.synthetic_shards import SyntheticSpec, write_synthetic_shards
    from lightning_mllm import synthetic_scenes as scenes

    data = _gl_data() | {"code": "pt", "name": "Portuguese", "native_name": "Português"}
    words = data["synthetic"]
    words["caption_prompt"] = "Descreva a imagem brevemente."
    words["shapes"] = {kind: {"def": f"o {noun}", "indef": f"um {noun}", "gender": "m"} for kind, noun in
                       (("circle", "círculo"), ("square", "quadrado"), ("triangle", "triângulo"))}
    words["colours"]["red"] = {"m": "vermelho", "f": "vermelha"}
    words["slots"] = {"left": "à esquerda", "middle": "no meio", "right": "à direita"}
    words["counts"] = {1: "uma", 2: "duas", 3: "três"}
    words["questions"]["colour"]["question"] = "De que cor é {shape[def]}?"
    folder = tmp_path / "langs"
    folder.mkdir()
    _file(folder, "pt", data)
    monkeypatch.setenv(languages.FOLDERS_ENV, str(folder))

    scene = [scenes.Shape("square", "red", "right")]
    qa = scenes.question(scene, "colour", "pt", random.Random(0))
    assert (qa.question, qa.answer) == ("De que cor é o quadrado?", "Vermelho.")
    assert scenes.caption(scene, "pt") == "Um quadrado vermelho à direita."
    spec = SyntheticSpec(train_per_language=3, eval_per_language=2, image_size=16, languages=["en", "pt"])
    root = write_synthetic_shards(spec, tmp_path / "syn")
    record = json.loads(next(iter(read_shard(str(root / "eval" / "pt-000000.tar"))))["json"])
    assert record["lang"] == "pt"
    assert json.loads((root / "meta.json").read_text())["languages"] == ["en", "pt"]
