"""What trains in each stage, LoRA placement, QLoRA layers and configuration errors."""

import pytest
import torch

from helpers import make_model


def trainable_names(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_stage1_trains_only_the_connector(tiny_paths):
    model = make_model(tiny_paths, stage="stage1")
    names = trainable_names(model)
    assert names and all(n.startswith("connector.") for n in names)
    assert len(names) == len(list(model.connector.parameters()))


def test_stage2_trains_connector_and_lora_only(tiny_paths):
    model = make_model(tiny_paths, stage="stage2")
    names = trainable_names(model)
    llm_names = {n for n in names if n.startswith("llm.")}
    assert llm_names and all(".lora_" in n for n in llm_names)
    assert {n for n in names if not n.startswith("llm.")} == {n for n, _ in model.connector.named_parameters(prefix="connector")}
    assert not any(p.requires_grad for p in model.vision.parameters())


def test_full_trains_connector_and_every_llm_weight(tiny_paths):
    model = make_model(tiny_paths, stage="full")
    assert all(p.requires_grad for p in model.llm.parameters())
    assert all(p.requires_grad for p in model.connector.parameters())
    assert not any(p.requires_grad for p in model.vision.parameters())


def test_default_lora_adapts_every_linear_layer_but_the_head(tiny_paths):
    model = make_model(tiny_paths, stage="stage2")
    adapted = {n.split(".")[-1] for n, m in model.llm.named_modules() if hasattr(m, "lora_A")}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_lora_on_configured_modules(tiny_paths):
    model = make_model(tiny_paths, stage="stage2", lora_target_modules=["q_proj", "v_proj"], lora_rank=2)
    adapted = {n.split(".")[-1] for n, m in model.llm.named_modules() if hasattr(m, "lora_A")}
    assert adapted == {"q_proj", "v_proj"}
    ranks = {m.lora_A["default"].out_features for m in model.llm.modules() if hasattr(m, "lora_A")}
    assert ranks == {2}


def test_qlora_builds_4bit_layers_and_runs(tiny_paths):
    import bitsandbytes as bnb

    model = make_model(tiny_paths, stage="stage2", load_in_4bit=True)
    four_bit = [m for m in model.llm.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(four_bit) == 7 * model.llm_config.num_hidden_layers
    assert four_bit[0].weight.quant_state.quant_type == "nf4"
    # bitsandbytes places 4-bit weights on the GPU where there is one.
    device = model.llm.get_input_embeddings().weight.device
    ids = torch.tensor([[1, 2, 3, 4]], device=device)
    labels = torch.tensor([[-100, 2, 3, 4]], device=device)
    losses, _ = model.token_losses({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    assert torch.isfinite(losses).all()
    losses.mean().backward()
    assert any(p.grad is not None for n, p in model.llm.named_parameters() if ".lora_" in n)


def test_4bit_weights_are_counted_at_their_unpacked_size(tiny_paths):
    from lightning_mllm.stages import count_parameters

    plain = make_model(tiny_paths, stage="stage2")
    for dtype in ("bfloat16", "float32"):  # the 4-bit storage dtype follows llm_dtype
        quantised = make_model(tiny_paths, stage="stage2", load_in_4bit=True, llm_dtype=dtype)
        assert count_parameters(quantised.llm) == count_parameters(plain.llm)


def test_wrong_settings_fail_naming_the_key(tiny_paths, tmp_path):
    from lightning_mllm.model import MultimodalLM

    with pytest.raises(FileNotFoundError, match="model.llm"):
        MultimodalLM(vision_tower=tiny_paths["vision"], llm=str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="model.vision_tower"):
        MultimodalLM(vision_tower="./no/such/tower", llm=tiny_paths["llm"])
    with pytest.raises(ValueError, match="model.stage"):
        MultimodalLM(vision_tower=tiny_paths["vision"], llm=tiny_paths["llm"], stage="stage3")
    with pytest.raises(ValueError, match="model.connector"):
        make_model(tiny_paths, connector="qformer")


@pytest.mark.parametrize("connector", ["linear", "mlp2x_gelu"])
def test_images_reach_the_loss_through_the_connector(tiny_paths, connector):
    model = make_model(tiny_paths, stage="stage1", connector=connector)
    fmt = model.processor.formatter
    encoded = fmt.encode([{"role": "user", "content": "<image>\nWhat colour is the circle?"},
                          {"role": "assistant", "content": "Red."}], has_image=True)
    ids = torch.tensor([encoded.input_ids])
    size = model.vision.model.config.image_size
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([encoded.labels]),
             "pixel_values": torch.randn(1, 3, size, size)}
    losses, _ = model.token_losses(batch)
    losses.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.connector.parameters())
    other = dict(batch, pixel_values=torch.randn(1, 3, size, size))
    assert not torch.allclose(model.token_losses(other)[0], losses)


def _text_batch(model, device="cpu"):
    fmt = model.processor.formatter
    encoded = fmt.encode([{"role": "user", "content": "Zein da Euskal Herriko hiriburua?"},
                          {"role": "assistant", "content": "Ez dago bakarra."}], has_image=False)
    ids = torch.tensor([encoded.input_ids], device=device)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([encoded.labels], device=device)}


def _image_batch(model):
    fmt = model.processor.formatter
    encoded = fmt.encode([{"role": "user", "content": "<image>\nWhat is in the picture?"},
                          {"role": "assistant", "content": "A red circle."}], has_image=True)
    ids = torch.tensor([encoded.input_ids])
    size = model.vision.model.config.image_size
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([encoded.labels]),
            "pixel_values": torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))}


@pytest.mark.parametrize("stage", ["stage2", "full"])
def test_gradient_checkpointing_gives_the_same_gradients(tiny_paths, stage):
    gradients = {}
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = make_model(tiny_paths, stage=stage, gradient_checkpointing=checkpointing)
        for name, param in model.llm.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(param, std=0.02, generator=torch.Generator().manual_seed(1))
        layers = model.llm.get_base_model().model.layers if stage == "stage2" else model.llm.model.layers
        assert all(layer.gradient_checkpointing == checkpointing for layer in layers)
        for batch in (_image_batch(model), _text_batch(model)):
            model.token_losses(batch)[0].mean().backward()
        gradients[checkpointing] = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert gradients[True].keys() == gradients[False].keys() and len(gradients[True]) > 10
    for name, gradient in gradients[False].items():
        torch.testing.assert_close(gradients[True][name], gradient, rtol=1e-5, atol=1e-7, msg=name)


def test_qlora_with_checkpointing_trains_a_step(tiny_paths):
    model = make_model(tiny_paths, stage="stage2", load_in_4bit=True, llm_dtype="bfloat16",
                       gradient_checkpointing=True)
    base = model.llm.get_base_model()
    assert all(layer.gradient_checkpointing for layer in base.model.layers)
    # Norms upcast (k-bit preparation); embeddings and LM head keep the storage dtype (peft would upcast them).
    assert all(p.dtype == torch.float32 for n, p in base.named_parameters() if "norm" in n)
    assert base.get_input_embeddings().weight.dtype == torch.bfloat16
    assert base.get_output_embeddings().weight.dtype == torch.bfloat16
    device = base.get_input_embeddings().weight.device
    optimizer = model.configure_optimizers()["optimizer"]
    for group in optimizer.param_groups:  # the schedule starts at 0 (warm-up); take the peak rate
        group["lr"] = 1e-3
    lora = {n: p.detach().float().clone() for n, p in model.llm.named_parameters() if "lora_B" in n}
    losses, _ = model.token_losses(_text_batch(model, device))
    assert torch.isfinite(losses).all()
    losses.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.llm.named_parameters() if "lora_B" in n)
    optimizer.step()
    after = {n: p.detach().float() for n, p in model.llm.named_parameters() if "lora_B" in n}
    assert all(not torch.equal(after[n], lora[n]) for n in lora)
