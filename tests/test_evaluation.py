"""Evaluation: circular MC, scoring on hand-computed fixtures, the evaluate command, `train.py test`,
evaluation during training and the LLM judge, all on the tiny model and local files."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from datamodules.synthetic_benchmarks import write_synthetic_benchmarks
from lightning_mllm.evaluate import main as evaluate_main
from lightning_mllm.evaluation.circular import rotations
from lightning_mllm.evaluation.items import BenchItem
from lightning_mllm.evaluation.judge import LLMJudge, parse_rating
from lightning_mllm.evaluation.scoring import score
from lightning_mllm.trained_model import load_trained
from helpers import DEMO, tiny_fit_args
from train import cli_main


@pytest.mark.parametrize("config", sorted(p.name for p in (Path(DEMO).parent / "eval").glob("*.yaml")))
def test_every_evaluation_config_parses(config, capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main(["--config", str(Path(DEMO).parent / "eval" / config), "--checkpoint", "x.ckpt", "--print_config"])
    assert exit_info.value.code in (None, 0)
    assert "benchmarks:" in capsys.readouterr().out


def mc(item_id, answer="B", lang="en", **kw):
    return BenchItem("quiz", lang, item_id, "mc", "Which?", {"A": "red", "B": "blue", "C": "green"}, answer, **kw)


def test_circular_rotations_move_the_answer_with_its_option():
    rotated = rotations(mc("7", answer="B"))
    assert [r.options for r in rotated] == [{"A": "red", "B": "blue", "C": "green"},
                                            {"A": "blue", "B": "green", "C": "red"},
                                            {"A": "green", "B": "red", "C": "blue"}]
    assert [r.answer for r in rotated] == ["B", "A", "C"]
    assert {r.meta["circular_of"] for r in rotated} == {"7"} and len({r.id for r in rotated}) == 3


def test_scores_match_hand_computed_values():
    items = [mc("1"), mc("2"), mc("3"), mc("4", answer="A"),
             BenchItem("vqa", "eu", "1", "vqa", "Zer?", answers=["bi"] * 2 + ["hiru"] * 8),
             BenchItem("vqa", "eu", "2", "vqa", "Zer?", answers=["2"] * 10),
             *rotations(BenchItem("circ", "en", "1", "mc", "Q", {"A": "x", "B": "y"}, "A")),
             *rotations(BenchItem("circ", "en", "2", "mc", "Q", {"A": "x", "B": "y"}, "B"))]
    answers = {"quiz/en/1": "B", "quiz/en/2": "The answer is blue.", "quiz/en/3": "I cannot tell.",
               "vqa/eu/1": "bi", "vqa/eu/2": "Bi.",
               # item 1 right under both rotations; item 2 right only under the first
               "circ/en/1#rot0": "A", "circ/en/1#rot1": "B", "circ/en/2#rot0": "B", "circ/en/2#rot1": "B"}
    answers = {k: {"prediction": v, "error": None} for k, v in answers.items()}
    answers["quiz/en/4"] = {"prediction": None, "error": "image_error", "error_message": "broken"}
    rows, records = score(items, answers)
    by = {(r["benchmark"], r["lang"]): r for r in rows}
    quiz = by[("quiz", "en")]
    # 2 right of 4: the unparseable reply and the broken image stay in the denominator.
    assert (quiz["score"], quiz["count"], quiz["unparseable"], quiz["image_errors"]) == (0.5, 4, 1, 1)
    # VQA soft accuracy: 2 matching humans of 10 -> 0.6; Basque "Bi." normalises to "2" -> 1.0.
    assert by[("vqa", "eu")]["score"] == pytest.approx((0.6 + 1.0) / 2)
    circ = by[("circ", "en")]
    assert (circ["metric"], circ["score"], circ["count"], circ["replies"]) == ("circular_accuracy", 0.5, 2, 4)
    assert len(records) == len(items) and records[0]["parsed"] == "B"


def test_an_item_without_an_answer_is_a_loud_error():
    with pytest.raises(KeyError, match="never answered"):
        score([mc("1")], {})


@pytest.mark.parametrize("reply, rating", [("Good. Rating: [[8]]", 8), ("Rating: [[10]]", 10), ("[[ 3 ]]", 3),
                                           ("Rating: [[8.5]]", 8.5), ("I give it 8/10.", 8), ("Score: 7.5 / 10", 7.5),
                                           ("[[9]] (I would say 6/10 at first)", 9), ("Rating: 8", None),
                                           ("[[8]] or maybe [[6]]", None), ("8/10 or 6/10", None), ("18/10", None),
                                           ("Rating: [[0]]", None), ("Rating: [[11]]", None), ("", None)])
def test_judge_ratings_are_parsed_or_counted_as_unparseable(reply, rating):
    assert parse_rating(reply) == rating


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_paths, synthetic_root):
    """A checkpoint of a few demo steps and small synthetic benchmark files (one broken image)."""
    root = tmp_path_factory.mktemp("trained")
    cli = cli_main(tiny_fit_args(root, synthetic_root, "--trainer.limit_val_batches", "0"))
    checkpoint = next(Path(cli.trainer.logger.log_dir).glob("checkpoints/*.ckpt"))
    bench = write_synthetic_benchmarks(root / "bench", per_language=6)
    (bench / "images" / "00003.png").write_bytes(b"not a png")
    return checkpoint, bench


def bench_args(bench: Path) -> list[str]:
    specs = [{"name": "shapes-mc", "lang": lang, "format": "mc", "path": str(bench / f"mc-{lang}.jsonl")}
             for lang in ("en", "eu")]
    specs += [{"name": "shapes-vqa", "lang": "eu", "format": "vqa", "path": str(bench / "vqa-eu.jsonl")},
              {"name": "shapes-caption", "lang": "en", "format": "open", "path": str(bench / "open-en.jsonl"),
               "max_new_tokens": 12}]
    return ["--benchmarks", json.dumps(specs)]


def test_evaluate_reports_per_language_and_batching_does_not_change_answers(trained, tmp_path):
    checkpoint, bench = trained
    outputs = {}
    for batch_size in (1, 5):
        out = tmp_path / f"b{batch_size}"
        evaluate_main(["--checkpoint", str(checkpoint), *bench_args(bench), "--out", str(out), "--num_workers", "0",
                       "--batch_size", str(batch_size), "--progress", "false", "--basque_share", "50"])
        outputs[batch_size] = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    # Left padding and the KV cache: a batch of 5 answers exactly as one prompt at a time.
    assert [r["prediction"] for r in outputs[1]] == [r["prediction"] for r in outputs[5]]
    results = json.loads((tmp_path / "b5" / "results.json").read_text())
    assert results["format"] == "lightning-mllm-eval/1" and results["run"]["basque_share"] == 50
    rows = {(r["benchmark"], r["lang"]): r for r in results["results"]}
    assert set(rows) == {("shapes-mc", "en"), ("shapes-mc", "eu"), ("shapes-vqa", "eu"), ("shapes-caption", "en")}
    # The broken image is counted as wrong in every benchmark that uses it, not dropped.
    for row in rows.values():
        assert row["count"] == 6 and row["image_errors"] == 1
    records = outputs[5]
    assert len(records) == 24 and sum(r["error"] == "image_error" for r in records) == 4
    mc_en = [r for r in records if r["benchmark"] == "shapes-mc" and r["lang"] == "en"]
    assert rows[("shapes-mc", "en")]["score"] == pytest.approx(sum(r["score"] for r in mc_en) / 6)
    assert "| shapes-mc | accuracy |" in (tmp_path / "b5" / "results.md").read_text()


def test_train_py_test_scores_like_the_evaluate_command(trained, tmp_path):
    checkpoint, bench = trained
    specs = json.loads(bench_args(bench)[1])
    cli_main(["test", "--config", DEMO, "--data", "datamodules.BenchmarkDataModule",
              "--data.benchmarks", json.dumps(specs), "--data.out", str(tmp_path / "test"), "--data.num_workers", "0",
              "--trainer.default_root_dir", str(tmp_path), "--trainer.logger.init_args.save_dir", str(tmp_path),
              "--trainer.enable_progress_bar", "false", "--ckpt_path", str(checkpoint)])
    evaluate_main(["--checkpoint", str(checkpoint), *bench_args(bench), "--out", str(tmp_path / "eval"),
                   "--num_workers", "0", "--progress", "false"])
    tested, evaluated = (json.loads((tmp_path / d / "results.json").read_text())["results"] for d in ("test", "eval"))
    assert [(r["benchmark"], r["lang"], r["score"]) for r in tested] == \
           [(r["benchmark"], r["lang"], r["score"]) for r in evaluated]


def test_a_missing_checkpoint_weight_or_file_is_named(trained, tmp_path, tiny_paths):
    checkpoint, _ = trained
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load_trained(str(tmp_path / "missing.ckpt"))
    state = torch.load(checkpoint, weights_only=True)
    state["state_dict"].pop(next(k for k in state["state_dict"] if k.startswith("connector.")))
    torch.save(state, tmp_path / "partial.ckpt")
    with pytest.raises(KeyError, match="lacks 1 trainable weight"):
        load_trained(str(tmp_path / "partial.ckpt"))


def test_benchmark_eval_logs_scores_images_and_answers_during_training(trained, tmp_path, synthetic_root):
    _, bench = trained
    specs = json.loads(bench_args(bench)[1])[:3]
    callback = json.dumps([{"class_path": "callbacks.BenchmarkEval",
                            "init_args": {"every_n_steps": 2, "limit": 4, "show": 2, "benchmarks": specs}}])
    cli = cli_main(tiny_fit_args(tmp_path, synthetic_root, "--trainer.limit_val_batches", "0",
                                 "--trainer.callbacks+", callback))
    events = EventAccumulator(cli.trainer.logger.log_dir, size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    steps = [e.step for e in events.Scalars("bench/shapes-mc_eu")]
    assert steps == [2, 4]  # every 2 steps of 4; the end of training adds no duplicate
    assert {"bench/shapes-mc_en", "bench/shapes-vqa_eu"} <= set(events.Tags()["scalars"])
    assert "bench_images/shapes-mc/00000/image/0" in events.Tags()["images"] or \
        any(t.startswith("bench_images/shapes-mc/") for t in events.Tags()["images"])
    texts = [t for t in events.Tags()["tensors"] if t.startswith("bench_answers/shapes-mc/")]
    assert len(texts) == 2


def test_llm_judge_rates_or_counts_every_answer(tiny_paths):
    judge = LLMJudge(tiny_paths["llm"], dtype="float32", device="cpu", batch_size=2, max_new_tokens=6)
    cases = [("What colour?", "Red.", "Red."), ("Zer kolore?", "Gorria.", ""), ("Where?", "Left.", "")]
    rated = judge.rate(cases, progress=False)
    assert len(rated) == 3
    # A random tiny judge's replies hold no "[[n]]" or "n/10": unparseable, and counted below.
    assert [(rating, error) for rating, _, error in rated] == [(None, None)] * 3
    assert all(isinstance(reply, str) for _, reply, _ in rated)
    items = [BenchItem("open", "en", str(i), "open", q, answer=r) for i, (q, _, r) in enumerate(cases)]
    answers = {it.key: {"prediction": a, "error": None, "rating": rt, "judge_reply": rp, "judge_error": er}
               for it, (_, a, _), (rt, rp, er) in zip(items, cases, rated)}
    (row,), _ = score(items, answers)
    assert row["metric"] == "judge_rating"
    assert row["judge_unparseable"] == 3 and row["score"] is None


def test_test_and_callback_configs_reuse_the_evaluation_list(tmp_path):
    from lightning_mllm.evaluation.spec import BenchmarkSpec, benchmarks_from

    root = Path(__file__).resolve().parents[1]
    listed = yaml.safe_load((root / "configs" / "eval" / "demo.yaml").read_text())["benchmarks"]
    for config, key in (("test/demo.yaml", ("data", "init_args")), ("callbacks/bench-demo.yaml", None)):
        settings = yaml.safe_load((root / "configs" / config).read_text())
        args = settings["data"]["init_args"] if key else settings["trainer"]["callbacks+"][0]["init_args"]
        specs = benchmarks_from(args["benchmarks"], args["only"])
        assert specs == [BenchmarkSpec(**e) for e in listed if e["name"] in args["only"]] and len(specs) == 4
    with pytest.raises(ValueError, match="shapes-nothing"):
        benchmarks_from(str(root / "configs" / "eval" / "demo.yaml"), ["shapes-nothing"])
    (tmp_path / "empty.yaml").write_text("out: x\n")
    with pytest.raises(ValueError, match="no `benchmarks:` list"):
        benchmarks_from(str(tmp_path / "empty.yaml"))
