"""The evaluate, chat and export commands on a checkpoint of an adapted existing VLM
(``lightning_mllm.PretrainedVLM``, ``configs/demo-vlm.yaml``), each through its real entry point, and
the run's language mixture read from its saved config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import IMAGE_SIZE, fit_vlm_args, scene
from transformers import AutoModelForImageTextToText, AutoProcessor

from datamodules.synthetic_benchmarks import write_synthetic_benchmarks
from lightning_mllm import chat, evaluate, export
from lightning_mllm.chat_format import IMAGE_TOKEN_ID
from lightning_mllm.pretrained_vlm import PretrainedVLM
from lightning_mllm.run_mixture import RunConfigError, read_run_mixture
from lightning_mllm.tiny_vlms import ensure_tiny_vlm
from lightning_mllm.trained_model import load_trained
from lightning_mllm.vlm_processor import structured
from train import cli_main

QUESTION = "What colour is the circle?"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, cache_dir, synthetic_root) -> Path:
    """Two stage-2 steps of the tiny Qwen2-VL through train.py, with an 80/20 English/Basque mixture."""
    root = tmp_path_factory.mktemp("vlm-cli")
    cli = cli_main(fit_vlm_args(root, synthetic_root, ensure_tiny_vlm("qwen2_vl", cache_dir), IMAGE_SIZE["qwen2_vl"],
                            "--data.init_args.samples_per_epoch", "8",
                            "--data.init_args.weights", '{"synthetic-en": 4, "synthetic-eu": 1}',
                            # A small rate: two steps at 5e-3 taught the random model little but the
                            # end-of-turn token, and its greedy answers came out empty.
                            "--model.llm_lr", "1e-4", "--model.connector_lr", "1e-4"))
    return next(Path(cli.trainer.logger.log_dir).glob("checkpoints/*.ckpt"))


def test_load_trained_rebuilds_the_pretrained_vlm_from_the_saved_class_path(checkpoint):
    model = load_trained(str(checkpoint))
    assert isinstance(model, PretrainedVLM) and not model.training
    state = torch.load(checkpoint, weights_only=True, map_location="cpu")["state_dict"]
    for name, value in state.items():
        torch.testing.assert_close(model.state_dict()[name], value, msg=name)
    with pytest.raises(KeyError, match=r"model overrides \['llm'\] are not settings of PretrainedVLM"):
        load_trained(str(checkpoint), {"llm": "x"})


def test_evaluate_answers_per_language_and_labels_with_the_runs_share(checkpoint, tmp_path, monkeypatch):
    bench = write_synthetic_benchmarks(tmp_path / "bench", per_language=3)
    specs = json.dumps([{"name": "shapes-mc", "lang": lang, "format": "mc", "path": str(bench / f"mc-{lang}.jsonl"),
                         "answer_format": False} for lang in ("en", "eu")])
    common = ["--checkpoint", str(checkpoint), "--benchmarks", specs, "--num_workers", "0", "--device", "cpu",
              "--progress", "false", "--backbone", "tiny-qwen2-vl"]
    with pytest.raises(SystemExit, match=r"--basque_share 50 disagrees with the run's mixture .* 'eu' is 20%"):
        evaluate.main([*common, "--out", str(tmp_path / "bad"), "--basque_share", "50"])
    evaluate.main([*common, "--out", str(tmp_path / "eval"), "--basque_share", "20"])
    report = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert report["run"]["basque_share"] == pytest.approx(20.0) and report["run"]["target_lang"] == "eu"
    assert report["run"]["language_shares"] == pytest.approx({"en": 0.8, "eu": 0.2})
    assert {(r["benchmark"], r["lang"], r["count"]) for r in report["results"]} == {("shapes-mc", "en", 3),
                                                                                     ("shapes-mc", "eu", 3)}
    # Without the option the share comes from the run; another target language is labelled too.
    evaluate.main([*common, "--out", str(tmp_path / "en"), "--target_lang", "en"])
    run = json.loads((tmp_path / "en" / "results.json").read_text())["run"]
    assert run["basque_share"] == pytest.approx(80.0) and run["target_lang"] == "en"


def test_chat_answers_one_turn_as_the_model_generates(checkpoint, tmp_path, capsys):
    image = tmp_path / "scene.png"
    scene().save(image)
    conversation = chat.main(["--checkpoint", str(checkpoint), "--image", str(image), "--device", "cpu",
                              "--max_new_tokens", "5", QUESTION])
    printed = capsys.readouterr().out
    assert [m["role"] for m in conversation.messages] == ["user", "assistant"]
    answer = conversation.messages[1]["content"]
    model = load_trained(str(checkpoint))
    ids, _ = model.processor.formatter.encode_prompt([{"role": "user", "content": QUESTION},
                                                      {"role": "assistant", "content": ""}], has_image=True)
    prompt = torch.tensor([ids])
    expected = model.generate(prompt, torch.ones_like(prompt), conversation.pixel_values[None], max_new_tokens=5)
    assert answer == expected[0] and printed.strip() == answer.strip() and answer.strip()


def test_export_writes_the_models_own_format_that_transformers_loads(checkpoint, tmp_path):
    out = export.main(["--checkpoint", str(checkpoint), "--out", str(tmp_path / "exported"), "--dtype", "float32"])
    assert (out / "adapter" / "adapter_config.json").is_file()
    model = AutoModelForImageTextToText.from_pretrained(out).eval()
    assert model.config.model_type == "qwen2_vl" and model.dtype == torch.float32
    hf = AutoProcessor.from_pretrained(out)
    trained = load_trained(str(checkpoint))
    side = trained.processor.side
    text = hf.apply_chat_template(structured([{"role": "user", "content": f"<image>\n{QUESTION}"}]), tokenize=False,
                                  add_generation_prompt=True)
    inputs = hf(text=[text], images=[scene().resize((side, side))], return_tensors="pt")
    generated = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    ids = inputs["input_ids"]
    prompt = ids.masked_fill(ids == model.config.image_token_id, IMAGE_TOKEN_ID)  # the project's image placeholder
    expected = trained.generate(prompt, torch.ones_like(prompt), trained.processor.pixel_values(scene())[None],
                                max_new_tokens=5)
    assert hf.tokenizer.decode(generated[0, ids.shape[1]:], skip_special_tokens=True) == expected[0]
    adapter_only = export.main(["--checkpoint", str(checkpoint), "--out", str(tmp_path / "adapter"), "--adapter_only"])
    assert sorted(p.name for p in adapter_only.iterdir()) == ["adapter"]
    with pytest.raises(SystemExit, match="already exists"):
        export.main(["--checkpoint", str(checkpoint), "--out", str(out)])


def test_the_mixture_comes_from_the_run_config(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    checkpoint = run / "checkpoints" / "last.ckpt"
    assert read_run_mixture(checkpoint) is None
    sources = [{"name": "en", "lang": "en", "weight": 1.0}, {"name": "eu", "lang": "eu", "weight": 1.0},
               {"name": "gl", "lang": "gl", "weight": 2.0}, {"name": "text", "lang": "eu", "modality": "text"}]
    config = {"data": {"class_path": "datamodules.MixtureDataModule", "init_args": {"train_sources": sources}}}
    (run / "config.yaml").write_text(json.dumps(config))
    mixture = read_run_mixture(checkpoint)
    assert mixture.target_lang == "eu" and mixture.shares == pytest.approx({"en": 0.25, "eu": 0.25, "gl": 0.5})
    # data.mixture fixes the target's share; the weights split the rest among the other languages.
    config["data"]["init_args"]["mixture"] = {"target_share": 0.2, "target_lang": "gl"}
    (run / "config.yaml").write_text(json.dumps(config))
    mixture = read_run_mixture(checkpoint)
    assert mixture.target_lang == "gl" and mixture.shares == pytest.approx({"en": 0.4, "eu": 0.4, "gl": 0.2})
    sources[0].pop("lang")
    (run / "config.yaml").write_text(json.dumps(config))
    with pytest.raises(RunConfigError, match=r"config.yaml: a multimodal source without 'lang'"):
        read_run_mixture(checkpoint)
