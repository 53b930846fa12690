"""Export to a Hugging Face LLaVA folder: same logits and answers as the project model, the folder's
own processor builds the same inputs, the LoRA adapter loads with peft, bad input is named."""

import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from PIL import Image
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoProcessor, LlavaForConditionalGeneration

from helpers import make_model
from datamodules.synthetic_benchmarks import write_synthetic_benchmarks
from lightning_mllm.chat_format import IMAGE_TOKEN_ID
from lightning_mllm.evaluate import main as evaluate_main
from lightning_mllm.export import ExportError, export, main as export_main
from lightning_mllm.exported_model import ExportedLlava
from lightning_mllm.padding import mask, pad
from lightning_mllm.trained_model import load_trained
from helpers import tiny_fit_args
from train import cli_main

QUESTION = "What shape is on the left?"
# Checkpoint name -> (stage, connector): both connectors with a LoRA merge, and a fully trained LLM.
RUNS = {"linear": ("stage2", "linear"), "mlp2x_gelu": ("stage2", "mlp2x_gelu"), "full": ("full", "linear")}


def save_checkpoint(model, path: Path) -> Path:
    """A checkpoint as train.py writes it: settings and the trainable weights only."""
    checkpoint = {"state_dict": model.state_dict()}
    model.on_save_checkpoint(checkpoint)
    torch.save({"hyper_parameters": dict(model.hparams), **checkpoint}, path)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny_paths, synthetic_root) -> dict[str, Path]:
    """Stage-2 LoRA checkpoints, one per connector: a real run of a few steps (linear) and a built
    model whose LoRA B matrices are perturbed (mlp2x_gelu), so the merge has an update to fold in;
    and a ``full`` checkpoint whose LLM weights differ from the backbone folder's."""
    root = tmp_path_factory.mktemp("export")
    cli = cli_main(tiny_fit_args(root, synthetic_root, "--trainer.limit_val_batches", "0",
                                 "--model.stage", "stage2", "--model.connector", "linear"))
    linear = next(Path(cli.trainer.logger.log_dir).glob("checkpoints/*.ckpt"))
    torch.manual_seed(0)
    model = make_model(tiny_paths, stage="stage2", connector="mlp2x_gelu")
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05)
    mlp = save_checkpoint(model, root / "mlp.ckpt")
    model = make_model(tiny_paths, stage="full", connector="linear")
    with torch.no_grad():
        for parameter in model.llm.parameters():
            parameter.add_(torch.randn_like(parameter), alpha=0.02)
    full = save_checkpoint(model, root / "full.ckpt")
    for path in (linear, mlp):
        lora_b = [v for k, v in torch.load(path, weights_only=True)["state_dict"].items() if "lora_B" in k]
        assert lora_b and all(v.abs().max() > 0 for v in lora_b), "an all-zero LoRA would not test the merge"
    return {"linear": linear, "mlp2x_gelu": mlp, "full": full}


@pytest.fixture(scope="module")
def exported(checkpoints, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exported")
    return {kind: export(str(path), str(root / kind), dtype="float32") for kind, path in checkpoints.items()}


def image() -> Image.Image:
    picture = Image.new("RGB", (64, 52), (30, 160, 40))
    picture.paste((200, 20, 20), (4, 10, 24, 30))
    return picture


@pytest.mark.parametrize("kind", sorted(RUNS))
def test_exported_llava_gives_the_project_models_logits(kind, checkpoints, exported):
    ours = load_trained(str(checkpoints[kind]))
    assert (ours.hparams.stage, ours.hparams.connector) == RUNS[kind]
    assert (exported[kind] / "adapter").is_dir() == (ours.hparams.stage == "stage2")
    messages = [{"role": "user", "content": f"<image>\n{QUESTION}"}, {"role": "assistant", "content": "-"}]
    ids, _ = ours.processor.formatter.encode_prompt(messages, has_image=True)
    ids = torch.tensor([ids])
    pixels = ours.processor.pixel_values(image())[None]
    with torch.no_grad():
        expected = ours.llm(inputs_embeds=ours.embed(ids, pixels)).logits
    llava = LlavaForConditionalGeneration.from_pretrained(exported[kind]).eval()
    llava_ids = ids.masked_fill(ids == IMAGE_TOKEN_ID, llava.config.image_token_index)
    with torch.no_grad():
        logits = llava(input_ids=llava_ids, pixel_values=pixels).logits
    vocabulary = expected.shape[-1]
    assert logits.shape[-1] == vocabulary + 1  # the added <image> token
    text = ids[0] != IMAGE_TOKEN_ID
    torch.testing.assert_close(logits[0, text, :vocabulary], expected[0, text], rtol=1e-5, atol=1e-5)
    # The exported folder's own processor and chat template build the same ids and pixels.
    processor = AutoProcessor.from_pretrained(exported[kind])
    conversation = [{"role": "user", "content": [{"type": "image", "image": image()},
                                                 {"type": "text", "text": QUESTION}]}]
    inputs = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt")
    assert inputs["input_ids"].tolist() == llava_ids.tolist()
    assert int((inputs["input_ids"] == llava.config.image_token_index).sum()) == ours.image_tokens
    torch.testing.assert_close(inputs["pixel_values"], pixels, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["linear", "mlp2x_gelu"])
def test_adapter_loads_with_peft_and_matches_the_merged_llm(kind, checkpoints, exported, tiny_paths):
    adapter = exported[kind] / "adapter"
    assert {"adapter_config.json", "adapter_model.safetensors", "connector.safetensors",
            "connector.json"} <= {p.name for p in adapter.iterdir()}
    ids = torch.tensor([[5, 17, 42, 99, 7, 230]])
    base = AutoModelForCausalLM.from_pretrained(tiny_paths["llm"], dtype=torch.float32).eval()
    with torch.no_grad():
        plain = base(input_ids=ids).logits
        adapted = PeftModel.from_pretrained(base, str(adapter)).eval()(input_ids=ids).logits
        llava = LlavaForConditionalGeneration.from_pretrained(exported[kind]).eval()
        merged = llava(input_ids=ids).logits[..., :plain.shape[-1]]
    assert (adapted - plain).abs().max() > 1e-4  # the adapter changes the LLM...
    torch.testing.assert_close(merged, adapted, rtol=1e-5, atol=1e-5)  # ...exactly as the merge did
    meta = json.loads((adapter / "connector.json").read_text())
    assert (meta["kind"], meta["llm_size"]) == (kind, llava.config.text_config.hidden_size)
    trained = torch.load(checkpoints[kind], weights_only=True)["state_dict"]
    with safe_open(str(adapter / "connector.safetensors"), "pt") as weights:
        for key in weights.keys():
            assert torch.equal(weights.get_tensor(key), trained[f"connector.{key}"])


def test_exported_model_generates_like_the_checkpoint_with_and_without_images(checkpoints, exported):
    ours = load_trained(str(checkpoints["linear"]))
    theirs = ExportedLlava(str(exported["linear"]))
    prompts = [ours.processor.formatter.encode_prompt(conversation, has_image=has_image)[0]
               for conversation, has_image in [
                   ([{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "-"}], False),
                   ([{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "-"}], True)]]
    ids, prompt_mask = pad(prompts, ours.processor.pad_token_id, left=True), mask(prompts, left=True)
    pixels = ours.processor.pixel_values(image())[None]
    for batch, images in [(slice(0, 1), None), (slice(0, 2), pixels)]:  # text only; text and image rows mixed
        expected = ours.generate(ids[batch], prompt_mask[batch], images, max_new_tokens=12)
        assert theirs.generate(ids[batch], prompt_mask[batch], images, max_new_tokens=12) == expected


def test_evaluating_the_exported_folder_answers_like_the_checkpoint(checkpoints, exported, tmp_path):
    bench = write_synthetic_benchmarks(tmp_path / "bench", per_language=4)
    specs = [{"name": "shapes-mc", "lang": "en", "format": "mc", "path": str(bench / "mc-en.jsonl")},
             {"name": "shapes-vqa", "lang": "eu", "format": "vqa", "path": str(bench / "vqa-eu.jsonl")},
             {"name": "shapes-caption", "lang": "en", "format": "open", "path": str(bench / "open-en.jsonl"),
              "max_new_tokens": 10}]
    common = ["--benchmarks", json.dumps(specs), "--num_workers", "0", "--batch_size", "3", "--progress", "false"]
    evaluate_main(["--checkpoint", str(checkpoints["linear"]), "--out", str(tmp_path / "ckpt"), *common])
    evaluate_main(["--model_dir", str(exported["linear"]), "--out", str(tmp_path / "hf"), *common])
    ckpt, hf = ([json.loads(line) for line in (tmp_path / d / "predictions.jsonl").read_text().splitlines()]
                for d in ("ckpt", "hf"))
    assert len(hf) == 12 and all(r["error"] is None for r in hf)
    assert [r["prediction"] for r in hf] == [r["prediction"] for r in ckpt]
    run = json.loads((tmp_path / "hf" / "results.json").read_text())["run"]
    assert (run["model"], run["checkpoint"], run["name"]) == (str(exported["linear"]), None, "linear")
    with pytest.raises(SystemExit, match="exactly one of"):
        evaluate_main(["--checkpoint", str(checkpoints["linear"]), "--model_dir", str(exported["linear"]),
                       "--out", str(tmp_path / "both"), *common])


def test_cli_writes_bf16_safetensors_only_and_adapter_only_writes_just_the_adapter(checkpoints, tmp_path):
    out = export_main(["--checkpoint", str(checkpoints["mlp2x_gelu"]), "--out", str(tmp_path / "bf16")])
    files = {p.name for p in out.iterdir()}
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt", ".pth")) for f in files)
    assert not (tmp_path / "bf16.partial").exists()
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        assert {weights.get_slice(k).get_dtype() for k in weights.keys()} == {"BF16"}
    only = export_main(["--checkpoint", str(checkpoints["mlp2x_gelu"]), "--out", str(tmp_path / "only"),
                        "--adapter_only"])
    assert [p.name for p in only.iterdir()] == ["adapter"]
    with pytest.raises(SystemExit, match="already exists"):
        export_main(["--checkpoint", str(checkpoints["mlp2x_gelu"]), "--out", str(only)])


def test_bad_checkpoints_fail_with_what_is_missing(checkpoints, tiny_paths, tmp_path):
    state = torch.load(checkpoints["mlp2x_gelu"], weights_only=True)
    weights = state["state_dict"]
    cases = {"no-connector": ({k: v for k, v in weights.items() if not k.startswith("connector.")},
                              r"\(stage 'stage2'\) holds no connector weights"),
             "no-lora": ({k: v for k, v in weights.items() if "lora_" not in k},
                         r"\(stage 'stage2'\) holds no LoRA adapter weights"),
             "one-missing": ({k: v for k, v in weights.items() if k != "connector.layers.2.bias"},
                             r"cannot export .*one-missing.ckpt \(stage 'stage2'\): checkpoint lacks 1 trainable "
                             r"weight.*connector.layers.2.bias")}
    for name, (partial, message) in cases.items():
        torch.save({**state, "state_dict": partial}, tmp_path / f"{name}.ckpt")
        with pytest.raises(ExportError, match=message):
            export(str(tmp_path / f"{name}.ckpt"), str(tmp_path / name))
        assert not (tmp_path / name).exists() and not (tmp_path / f"{name}.partial").exists()
    (tmp_path / "sharded.ckpt").mkdir()
    with pytest.raises(SystemExit, match="consolidate_checkpoint"):
        export_main(["--checkpoint", str(tmp_path / "sharded.ckpt"), "--out", str(tmp_path / "x")])
    for stage in ("stage1", "full"):
        path = save_checkpoint(make_model(tiny_paths, stage=stage), tmp_path / f"{stage}.ckpt")
        with pytest.raises(SystemExit, match=f"'{stage}' run, which has no LoRA adapter"):
            export_main(["--checkpoint", str(path), "--out", str(tmp_path / stage), "--adapter_only"])


@pytest.mark.parametrize("aspect", ["pad", "crop", "resize"])
def test_exported_processor_preprocesses_as_training_did(aspect, tiny_paths, tmp_path):
    """Each image_aspect mode on a non-square image: the exported folder's own processor gives the
    training pixels within 1e-5 (the same torchvision resize on both sides)."""
    model = make_model(tiny_paths, stage="stage1", image_aspect=aspect)
    folder = export(str(save_checkpoint(model, tmp_path / "stage1.ckpt")), str(tmp_path / "out"), dtype="float32")
    wide = Image.new("RGB", (96, 40), (30, 160, 40))
    wide.paste((200, 20, 20), (0, 0, 20, 40))  # a red band at the left edge, which a centre crop loses
    trained = load_trained(str(tmp_path / "stage1.ckpt")).processor.pixel_values(wide)
    processor = AutoProcessor.from_pretrained(folder)
    exported = processor(images=wide, text="<image>", return_tensors="pt")["pixel_values"][0]
    torch.testing.assert_close(exported, trained, rtol=0, atol=1e-5)
    config = json.loads((folder / "preprocessor_config.json").read_text())
    assert config.get("do_pad", False) == (aspect == "pad")
    # The modes really differ: crop loses the red band, pad and resize keep it.
    red = trained[0] - trained[1]  # red minus green, per pixel
    assert (red.max() > 1.0) == (aspect != "crop")
