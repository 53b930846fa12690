"""An existing VLM as the model: tiny random LLaVA and Qwen2-VL built from config objects and loaded
through ``AutoModelForImageTextToText``; labels against each model's own processor and template,
stages on its parts, stage-2 steps through the real CLI (loss falls, exact resume), benchmark
answering through ``train.py test``, export loaded back by transformers alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import CONFIGS, IMAGE_SIZE, fit_vlm_args, scene
from PIL import Image
from transformers import (
    AutoConfig,
    AutoModelForImageTextToText,
    AutoProcessor,
    LlamaConfig,
)

from datamodules.synthetic_benchmarks import write_synthetic_benchmarks
from lightning_mllm.chat_format import IGNORE_INDEX, IMAGE_TOKEN_ID, check_messages
from lightning_mllm.pretrained_vlm import PretrainedVLM
from lightning_mllm.tiny_vlms import ensure_tiny_vlm
from lightning_mllm.vlm_export import export_vlm, load_trained_vlm
from lightning_mllm.vlm_parts import load_vlm_config
from lightning_mllm.vlm_processor import VLMProcessor, structured
from train import cli_main

KINDS = ("llava", "qwen2_vl")
CONVERSATION = [{"role": "user", "content": "<image>\nWhat colour is the circle?"},
                {"role": "assistant", "content": "The circle is red."},
                {"role": "user", "content": "And the square?"},
                {"role": "assistant", "content": "Blue."}]


@pytest.fixture(scope="session")
def vlm_paths(cache_dir) -> dict[str, str]:
    return {kind: ensure_tiny_vlm(kind, cache_dir) for kind in IMAGE_SIZE}


@pytest.mark.parametrize("kind", list(IMAGE_SIZE))
def test_ids_pixels_and_labels_match_the_models_own_processor_and_template(kind, vlm_paths):
    hf = AutoProcessor.from_pretrained(vlm_paths[kind])
    ours = VLMProcessor(hf, AutoConfig.from_pretrained(vlm_paths[kind]), 256, IMAGE_SIZE[kind])
    encoded = ours.formatter.encode(CONVERSATION, has_image=True)
    # The processor expands the template's image token for the image it is given: the same image
    # our processor feeds the model (Qwen's resized to the fixed grid) must give the same ids.
    pixels = ours.pixel_values(scene())
    image = scene().resize((ours.side, ours.side), Image.Resampling.BICUBIC) if ours.side else scene()
    text = hf.apply_chat_template(structured(check_messages(CONVERSATION, True)), tokenize=False)
    reference = hf(text=[text], images=[image], return_tensors="pt")
    image_id = AutoConfig.from_pretrained(vlm_paths[kind]).image_token_id
    assert [image_id if t == IMAGE_TOKEN_ID else t for t in encoded.input_ids] == reference["input_ids"][0].tolist()
    assert torch.equal(pixels, reference["pixel_values"] if ours.grid is not None else reference["pixel_values"][0])
    # Labelled runs are exactly each assistant reply and the template's end-of-turn token.
    runs, current = [], []
    for token, label in zip(encoded.input_ids, encoded.labels):
        if label != IGNORE_INDEX:
            assert label == token
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    runs += [current] if current else []
    eot = hf.tokenizer.eos_token
    assert [hf.tokenizer.decode(run) for run in runs] == [m["content"] + eot for m in CONVERSATION[1::2]]


@pytest.mark.parametrize("kind", KINDS)
def test_transparency_is_composited_on_white_as_elsewhere_in_the_project(kind, vlm_paths):
    processor = VLMProcessor(AutoProcessor.from_pretrained(vlm_paths[kind]), AutoConfig.from_pretrained(vlm_paths[kind]),
                             256, IMAGE_SIZE[kind])
    clear = Image.new("RGBA", (48, 48), (0, 0, 0, 0))  # transparent black: white, not black
    clear.paste((220, 20, 20, 255), (8, 8, 30, 30))
    white = Image.new("RGB", (48, 48), (255, 255, 255))
    white.paste((220, 20, 20), (8, 8, 30, 30))
    assert torch.equal(processor.pixel_values(clear), processor.pixel_values(white))
    palette = Image.new("P", (48, 48), 0)  # index 0 black, marked transparent: white, not black
    palette.putpalette([0, 0, 0, 220, 20, 20])
    palette.paste(1, (8, 8, 30, 30))
    palette.info["transparency"] = 0
    assert torch.equal(processor.pixel_values(palette), processor.pixel_values(white))


def test_an_unsupported_architecture_or_missing_folder_is_named(tmp_path):
    LlamaConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"model.init_from: architecture 'llama' is not supported"):
        load_vlm_config(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"model.init_from: folder .* does not exist"):
        load_vlm_config(str(tmp_path / "missing"))


def test_stages_train_the_connector_lora_on_the_language_model_or_all_of_it(vlm_paths):
    def trainable(stage: str) -> list[str]:
        model = PretrainedVLM(init_from=vlm_paths["qwen2_vl"], stage=stage, dtype="float32", image_size=48,
                              lora_rank=4, lora_alpha=8)
        model.configure_model()
        return [n for n, p in model.named_parameters() if p.requires_grad]

    stage1, stage2, full = trainable("stage1"), trainable("stage2"), trainable("full")
    assert stage1 and all(".visual.merger." in n for n in stage1)
    lora = [n for n in stage2 if "lora_" in n]
    assert lora and all(".language_model." in n for n in lora)
    assert all("lora_" in n or ".visual.merger.modules_to_save." in n for n in stage2)
    assert any(".visual.merger." in n for n in stage2)
    assert not any(".visual." in n and ".merger." not in n for n in stage1 + stage2 + full)
    assert any("lm_head" in n for n in full) and any(".language_model.layers.0." in n for n in full)


def _one_sample_batch(processor) -> tuple[dict, object]:
    """The test conversation about one scene as a training batch of one row, and its encoding."""
    encoded = processor.formatter.encode(CONVERSATION, has_image=True)
    return {"input_ids": torch.tensor([encoded.input_ids]), "labels": torch.tensor([encoded.labels]),
            "attention_mask": torch.ones(1, len(encoded.input_ids), dtype=torch.long),
            "pixel_values": processor.pixel_values(scene())[None]}, encoded


def test_qwen2_5_vl_trains_and_generates_through_the_same_path(vlm_paths):
    model = PretrainedVLM(init_from=vlm_paths["qwen2_5_vl"], stage="stage2", dtype="float32", image_size=48,
                          max_length=128, lora_rank=4, lora_alpha=8)
    model.configure_model()
    processor = model.processor
    batch, encoded = _one_sample_batch(processor)
    losses, _ = model.token_losses(batch)
    losses.mean().backward()
    assert torch.isfinite(losses).all() and len(losses) == sum(label != IGNORE_INDEX for label in encoded.labels)
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad)
    prompt, _ = processor.formatter.encode_prompt(CONVERSATION[:2], has_image=True)
    ids = torch.tensor([prompt])
    assert len(model.generate(ids, torch.ones_like(ids), batch["pixel_values"], max_new_tokens=3)) == 1


def test_gradient_checkpointing_gives_the_same_gradients(vlm_paths):
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)  # the same LoRA initialisation both times
        model = PretrainedVLM(init_from=vlm_paths["qwen2_vl"], stage="stage2", dtype="float32", image_size=48,
                              max_length=128, lora_rank=4, lora_alpha=8, gradient_checkpointing=checkpointing)
        model.configure_model()
        assert any(getattr(m, "gradient_checkpointing", False) for m in model.modules()) == checkpointing
        batch, _ = _one_sample_batch(model.processor)
        losses, _ = model.token_losses(batch)
        losses.mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and any(g.abs().sum() > 0 for g in grads[0].values())
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], msg=name)


def ledger(cli) -> list[dict]:
    path = Path(cli.trainer.logger.log_dir) / "samples.rank0.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def checkpoint_at(cli, step: int) -> Path:
    return next(Path(cli.trainer.logger.log_dir).glob(f"checkpoints/*step={step}.ckpt"))


@pytest.fixture(scope="module", params=KINDS)
def fitted(request, tmp_path_factory, vlm_paths, synthetic_root):
    """Ten stage-2 steps through train.py (checkpoints at steps 4 and 8), and the same run resumed
    from its step-4 checkpoint."""
    kind = request.param
    root = tmp_path_factory.mktemp(f"fit-{kind}")
    args = (synthetic_root, vlm_paths[kind], IMAGE_SIZE[kind])
    checkpointing = ["--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
                     "--trainer.callbacks.every_n_train_steps=4", "--trainer.callbacks.save_top_k=-1"]
    full = cli_main(fit_vlm_args(root / "full", *args, *checkpointing))
    resumed = cli_main(fit_vlm_args(root / "resumed", *args, "--ckpt_path", str(checkpoint_at(full, 4))))
    return {"kind": kind, "full": full, "resumed": resumed, "last": checkpoint_at(full, 8)}


@pytest.mark.slow  # two CPU fits through train.py per family (the fixture)
def test_stage2_steps_through_train_py_lower_the_loss_and_resume_exactly(fitted):
    full, resumed = fitted["full"], fitted["resumed"]
    assert isinstance(full.model, PretrainedVLM) and full.trainer.global_step == 10
    reference = ledger(full)
    losses = [entry["loss"] for entry in reference]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.15, losses
    # The resumed run sees the uninterrupted run's batches from step 4, with the same weights,
    # optimizer state and schedule: the same losses.
    after = ledger(resumed)
    assert resumed.trainer.global_step == 10
    assert [e["ids"] for e in after] == [e["ids"] for e in reference[4:]]
    assert [e["loss"] for e in after] == pytest.approx(losses[4:], rel=1e-4)
    # Only the trained weights are in the checkpoint: LoRA and the connector, no frozen tower.
    state = torch.load(fitted["last"], weights_only=True, map_location="cpu")["state_dict"]
    assert state and set(state) == {n for n, p in full.model.named_parameters() if p.requires_grad}


@pytest.mark.slow  # two CPU fits through train.py per family (the fixture)
def test_train_py_test_answers_the_benchmarks_per_language(fitted, tmp_path):
    checkpoint = fitted["last"]
    bench = write_synthetic_benchmarks(tmp_path / "bench", per_language=4)
    specs = [{"name": "shapes-mc", "lang": lang, "format": "mc", "path": str(bench / f"mc-{lang}.jsonl"),
              "answer_format": False} for lang in ("en", "eu")]
    model = fitted["full"].model
    cli_main(["test", "--config", str(CONFIGS / "demo-vlm.yaml"),
              "--model.init_from", model.hparams.init_from, "--model.image_size", str(model.hparams.image_size or "null"),
              "--model.stage", "stage2", "--model.lora_rank", "8", "--model.lora_alpha", "16",
              "--data", "datamodules.BenchmarkDataModule", "--data.benchmarks", json.dumps(specs),
              "--data.out", str(tmp_path / "test"), "--data.num_workers", "0", "--data.batch_size", "3",
              "--trainer.default_root_dir", str(tmp_path), "--trainer.logger.init_args.save_dir", str(tmp_path),
              "--trainer.enable_progress_bar", "false", "--ckpt_path", str(checkpoint)])
    results = json.loads((tmp_path / "test" / "results.json").read_text())["results"]
    assert {(r["benchmark"], r["lang"], r["count"]) for r in results} == {("shapes-mc", "en", 4), ("shapes-mc", "eu", 4)}
    predictions = [json.loads(line) for line in (tmp_path / "test" / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 8 and all(p["prediction"] is not None for p in predictions)


@pytest.mark.slow  # two CPU fits through train.py per family (the fixture)
def test_export_loads_with_transformers_alone_and_answers_as_the_checkpoint(fitted, tmp_path):
    checkpoint = fitted["last"]
    trained = load_trained_vlm(str(checkpoint))
    processor = trained.processor
    prompt, _ = processor.formatter.encode_prompt(CONVERSATION[:2], has_image=True)
    ids = torch.tensor([prompt])
    expected = trained.generate(ids, torch.ones_like(ids), processor.pixel_values(scene())[None], max_new_tokens=6)
    folder = export_vlm(trained, tmp_path / "exported")
    assert (folder / "adapter" / "adapter_config.json").is_file()
    with pytest.raises(FileExistsError, match="exists"):
        export_vlm(trained, folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    hf = AutoProcessor.from_pretrained(folder)
    image = scene().resize((processor.side, processor.side)) if processor.side else scene()
    text = hf.apply_chat_template(structured(CONVERSATION[:1]), tokenize=False, add_generation_prompt=True)
    inputs = hf(text=[text], images=[image], return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    answer = hf.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert answer == expected[0]
    # The merged weights differ from the original model's: the training is in them.
    original = AutoModelForImageTextToText.from_pretrained(trained.hparams.init_from).state_dict()
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, original[n])]
    assert any("language_model" in n for n in changed) and not any(".visual.blocks" in n or "vision_tower" in n
                                                                       for n in changed)


def test_packing_is_refused_naming_the_setting(tmp_path, vlm_paths, synthetic_root):
    with pytest.raises(ValueError, match=r"data.pack_length=256 cannot be used with model.init_from"):
        cli_main(fit_vlm_args(tmp_path, synthetic_root, vlm_paths["qwen2_vl"], 48, "--data.init_args.pack_length", "256"))
