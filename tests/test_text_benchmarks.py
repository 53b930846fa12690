"""The text-benchmark runner on local lm-eval task configs and the tiny LLM, offline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from lightning_mllm.text_benchmarks import (
    OptionError,
    benchmark_and_lang,
    main,
    main_metric,
)

QUESTIONS = [
    ("Zein da Euskal Herriko hiriburu administratiboa?", ["Gasteiz", "Madril", "Paris"], 0),
    ("Zenbat egun ditu aste batek?", ["bost", "zazpi", "hamar"], 1),
    ("Zein koloretakoa da zerua egun argi batean?", ["gorria", "berdea", "urdina"], 2),
    ("Zer edaten dute behiek?", ["ura", "esnea", "ardoa"], 0),
    ("Non bizi dira arrainak?", ["basoan", "uretan", "mendian"], 1),
    ("Zein da urteko lehen hilabetea?", ["abendua", "ekaina", "urtarrila"], 2),
    ("Zenbat hanka ditu txakur batek?", ["lau", "bi", "sei"], 0),
    ("Zer jaten dugu gosarian askotan?", ["harria", "ogia", "paperra"], 1),
]
TASK_YAML = """task: {task}
{tag}dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
  cache_dir: {cache}
test_split: test
output_type: multiple_choice
doc_to_text: "Galdera: {{{{question}}}}\\nErantzuna:"
doc_to_choice: choices
doc_to_target: label
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


def _write_task(folder: Path, task: str, rows: list[tuple], tag: str = "") -> None:
    data = folder / f"{task}.jsonl"
    data.write_text("".join(json.dumps({"question": q, "choices": c, "label": label}) + "\n"
                            for q, c, label in rows))
    folder.joinpath(f"{task}.yaml").write_text(TASK_YAML.format(
        task=task, tag=f"tag: [{tag}]\n" if tag else "", data=data, cache=folder / "hf_datasets"))


@pytest.fixture(scope="module")
def llm(cache_dir) -> str:
    """The folder of ``tiny_paths["llm"]``, without building the vision tower (a minute of CPU)."""
    from lightning_mllm.tiny_backbones import ensure_tiny_backbone

    return ensure_tiny_backbone("llm", cache_dir)


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory) -> Path:
    """Three local multiple-choice tasks: one of 8 questions, two of 4 under the tag ``quiz_exams``."""
    folder = tmp_path_factory.mktemp("lm_eval_tasks")
    _write_task(folder, "quiz_eu", QUESTIONS)
    _write_task(folder, "quiz_exam_a", QUESTIONS[:4], tag="quiz_exams")
    _write_task(folder, "quiz_exam_b", QUESTIONS[4:], tag="quiz_exams")
    return folder


@pytest.fixture(scope="module")
def hermetic_cache(task_dir):
    """Keeps the datasets cache inside the test's folder, offline."""
    import datasets.config

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_DATASETS_CACHE", str(task_dir / "hf_datasets"))
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", task_dir / "hf_datasets")
        patch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
        yield


@pytest.fixture(scope="module")
def run(llm, task_dir, hermetic_cache) -> dict:
    """One harness run of the tiny LLM on ``quiz_eu`` and the ``quiz_exams`` tag."""
    out = task_dir / "out" / "text.json"
    main(["--model", llm, "--include_path", str(task_dir), "--tasks",
          "quiz_eu,quiz_exams", "--device", "cpu", "--batch_size", "4", "--log_samples",
          "--out", str(out), "--name", "tiny", "--backbone", "llama", "--basque_share", "50"])
    return {name: json.loads(out.with_name(f"text{suffix}.json").read_text())
            for name, suffix in [("out", ""), ("raw", ".lm_eval"), ("samples", ".samples")]}


def test_output_follows_the_evaluation_schema(run, llm):
    out = run["out"]
    assert out["format"] == "lightning-mllm-eval/1"
    assert out["run"] == {"name": "tiny", "backbone": "llama", "basque_share": 50, "target_lang": None,
                          "language_shares": None, "mixture_config": None, "checkpoint": None,
                          "model": llm, "adapter": None}
    assert out["created"].startswith("20")
    row = next(row for row in out["results"] if row["task"] == "quiz_eu")
    assert {key: row[key] for key in ("benchmark", "lang", "kind", "metric", "count")} == {
        "benchmark": "quiz", "lang": "eu", "kind": "text", "metric": "acc", "count": 8}
    assert 0 <= row["score"] <= 1 and row["stderr"] >= 0


def test_score_is_the_mean_of_the_harness_per_sample_correctness(run):
    row = next(row for row in run["out"]["results"] if row["task"] == "quiz_eu")
    samples = run["samples"]["quiz_eu"]
    assert len(samples) == 8
    # Multiple choice: correct when the target choice has the highest log-likelihood.
    for sample in samples:
        loglikelihoods = [response[0] for response in sample["filtered_resps"]]
        assert sample["acc"] == float(loglikelihoods.index(max(loglikelihoods)) == sample["target"])
    assert row["score"] == pytest.approx(sum(sample["acc"] for sample in samples) / 8)
    assert row["score"] == pytest.approx(run["raw"]["results"]["quiz_eu"]["acc,none"])
    assert run["raw"]["n-samples"]["quiz_eu"]["effective"] == 8


def test_a_tag_is_pooled_into_one_sample_weighted_row(run):
    rows = {row["task"]: row for row in run["out"]["results"]}
    assert set(rows) == {"quiz_eu", "quiz_exams"}
    raw = run["raw"]["results"]
    expected = (raw["quiz_exam_a"]["acc,none"] + raw["quiz_exam_b"]["acc,none"]) / 2
    assert rows["quiz_exams"]["count"] == 8
    assert rows["quiz_exams"]["score"] == pytest.approx(expected)


def test_adapter_is_applied_through_peft(run, llm, task_dir, hermetic_cache):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = task_dir / "adapter"
    base = AutoModelForCausalLM.from_pretrained(llm)
    # Random B matrices (not the zero init), so the adapter visibly changes the log-likelihoods.
    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(adapter)
    out = task_dir / "out" / "adapter.json"
    main(["--model", llm, "--adapter", str(adapter), "--include_path", str(task_dir),
          "--tasks", "quiz_eu", "--device", "cpu", "--log_samples", "--out", str(out)])
    assert json.loads(out.read_text())["run"]["adapter"] == str(adapter)
    with_adapter = json.loads(out.with_name("adapter.samples.json").read_text())["quiz_eu"]
    without = run["samples"]["quiz_eu"]
    assert [s["filtered_resps"] for s in with_adapter] != [s["filtered_resps"] for s in without]


@pytest.mark.parametrize(("task", "expected"), [
    ("xnli_eu", ("xnli", "eu")), ("xnli_en", ("xnli", "en")),
    ("belebele_eus_Latn", ("belebele", "eu")), ("belebele_eng_Latn", ("belebele", "en")),
    ("eus_trivia", ("eus_trivia", "eu")), ("eus_exams_eu", ("eus_exams", "eu")),
    ("xstorycloze_en", ("xstorycloze", "en")), ("my_local_task", ("my_local_task", "eu")),
])
def test_task_names_map_to_benchmark_and_language(task, expected):
    assert benchmark_and_lang(task) == expected


def test_unknown_task_lists_close_matches(llm, task_dir, tmp_path):
    with pytest.raises(ValueError, match=r"unknown lm-eval task 'quiz_ue'.*quiz_eu"):
        main(["--model", llm, "--include_path", str(task_dir), "--tasks", "quiz_ue",
              "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()


def test_missing_model_folder_names_the_option(tmp_path):
    with pytest.raises(OptionError, match="--model"):
        main(["--model", str(tmp_path / "no_such_llm"), "--tasks", "xnli_eu",
              "--out", str(tmp_path / "x.json")])


def test_paper_preset_names_are_in_the_installed_harness(task_dir):
    from lightning_mllm.text_benchmarks import resolve_tasks, task_manager

    tasks = resolve_tasks("paper", task_manager(str(task_dir)))
    assert {"eus_exams_eu", "belebele_eus_Latn", "xnli_en", "belebele_eng_Latn"} <= set(tasks)
    assert resolve_tasks("basque_bench", task_manager(str(task_dir))) == ["basque_bench"]


def test_uncached_hub_id_fails_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OptionError, match="--model: no model folder"):
        main(["--model", "no-such-owner/no-such-llm", "--out", str(tmp_path / "x.json")])


HARNESS_RESULT = {"alias": "t", "acc,none": 0.5, "acc_stderr,none": 0.05, "acc_norm,none": 0.6,
                  "acc_norm_stderr,none": 0.05}


@pytest.mark.parametrize(("task", "expected"), [
    ("arc_challenge", "acc_norm"), ("arc_eu_challenge", "acc_norm"), ("arc_easy", "acc_norm"), ("piqa_eu", "acc_norm"),
    ("hellaswag", "acc_norm"), ("xnli_eu", "acc"), ("belebele_eus_Latn", "acc"), ("eus_exams_eu_opeosakiadmineu", "acc"),
])
def test_each_task_reports_its_standard_metric(task, expected):
    assert main_metric(HARNESS_RESULT, task) == (expected, f"{expected},none")
    # A generation task without accuracy keeps its own first metric.
    assert main_metric({"exact_match,strict-match": 0.2, "exact_match_stderr,strict-match": 0.1,
                        "exact_match,flexible-extract": 0.3}, "mgsm_direct_eu") == (
        "exact_match", "exact_match,strict-match")


def test_the_installed_harness_computes_every_standard_metric(task_dir):
    from lightning_mllm.text_benchmarks import STANDARD_METRICS, task_manager

    index = task_manager(str(task_dir)).task_index
    for task, metric in STANDARD_METRICS.items():
        path = Path(index[task]["yaml_path"] if isinstance(index[task], dict) else index[task].yaml_path)
        text = path.read_text()
        included = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("include:")),
                        None)
        if included:
            text += (path.parent / included).read_text()
        assert f"metric: {metric}" in text, f"{task}: the harness config {path} does not compute {metric}"


def test_results_are_labelled_with_the_training_runs_mixture(tmp_path):
    """With --checkpoint the run's config.yaml labels the text results as evaluate labels the
    multimodal ones, and a --basque_share that disagrees with it stops the command."""
    import argparse

    from lightning_mllm.text_benchmarks import write_outputs

    run = tmp_path / "runs" / "demo" / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(
        "data:\n  class_path: datamodules.MixtureDataModule\n  init_args:\n    train_sources:\n"
        "      - {name: en, patterns: [a.tar], weight: 0.8, lang: en}\n"
        "      - {name: eu, patterns: [b.tar], weight: 0.2, lang: eu}\n")
    checkpoint = str(run / "checkpoints" / "last.ckpt")
    args = argparse.Namespace(out=str(tmp_path / "text.json"), name="r", backbone="llama", basque_share=None,
                              checkpoint=checkpoint, target_lang=None, model="m", adapter=None)
    write_outputs(args, {}, [])
    labels = json.loads((tmp_path / "text.json").read_text())["run"]
    assert labels["basque_share"] == 20 and labels["target_lang"] == "eu" and labels["checkpoint"] == checkpoint
    assert labels["language_shares"] == pytest.approx({"en": 0.8, "eu": 0.2})
    with pytest.raises(SystemExit, match="disagrees with the run's mixture"):
        write_outputs(argparse.Namespace(**{**vars(args), "basque_share": 50}), {}, [])

