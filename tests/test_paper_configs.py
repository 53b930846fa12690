"""The paper stacks resolve through the real CLI with the values of their sources (docs/sources.md
"Training"), every value of the paper configs names its source, and the global batch of each
stage divides on the hardware the configs are meant for."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from callbacks.global_batch import accumulation_steps

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
BACKBONES = {"llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
             "latxa-llama-3.1-8b-instruct": "HiTZ/Latxa-Llama-3.1-8B-Instruct"}
# stage -> (stage configs, trainer config, data config)
STACKS = {"stage1": (["stage/stage1.yaml"], "trainer/fsdp.yaml", "data/captions.yaml"),
          "lora": (["stage/stage2.yaml"], "trainer/fsdp.yaml", "data/bilingual.yaml"),
          "full": (["stage/stage2-full.yaml"], "trainer/fsdp.yaml", "data/bilingual.yaml"),
          "qlora": (["stage/stage2.yaml", "stage/stage2-qlora.yaml"], "trainer/gpu.yaml", "data/bilingual.yaml")}
SOURCE = re.compile(r"\((paper|model card|LLaVA-1\.5 [^)]+|HF Trainer default|assumed)[^)]*\)")


@pytest.fixture(scope="module")
def grid():
    spec = importlib.util.spec_from_file_location("slurm_grid", ROOT / "slurm" / "grid.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["slurm_grid"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def resolved(grid):
    """Every paper stack (both backbones x stage 1, LoRA, full, QLoRA), resolved once."""
    configs = {}
    for backbone in BACKBONES:
        for stage, (stage_files, trainer, data) in STACKS.items():
            files = ["paper/base.yaml", trainer, f"backbone/{backbone}.yaml", *stage_files, data]
            args = [part for f in files for part in ("--config", f"configs/{f}")]
            configs[backbone, stage] = grid.resolved_config(args)
    return configs


def _global_batch(config: dict) -> int:
    found = [c["init_args"]["samples"] for c in config["trainer"]["callbacks"]
             if c["class_path"] == "callbacks.GlobalBatchSize"]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_paper_stacks_resolve_with_their_sources_values(grid, resolved, backbone):
    stacks = {stage: resolved[backbone, stage] for stage in STACKS}
    for stage, config in stacks.items():
        model, trainer = grid.model_settings(config), config["trainer"]
        assert model["llm"] == BACKBONES[backbone] and model["vision_tower"] == "openai/clip-vit-large-patch14-336"
        assert (model["max_length"], model["warmup_ratio"], model["weight_decay"]) == (2048, 0.03, 0.0), stage
        assert (trainer["gradient_clip_val"], trainer["max_epochs"]) == (1.0, 1), stage
        assert trainer["accumulate_grad_batches"] == 1  # derived by GlobalBatchSize, never set by hand
        assert (model["gradient_checkpointing"], model["image_aspect"]) == (True, "pad"), stage
    models = {stage: grid.model_settings(config) for stage, config in stacks.items()}
    assert models["stage1"]["stage"] == "stage1" and models["stage1"]["connector_lr"] == 1e-3
    assert stacks["stage1"]["data"]["init_args"]["mixture"]["target_share"] == 0.8  # model card: 80% Basque
    lora = models["lora"]
    assert (lora["stage"], lora["connector_lr"], lora["llm_lr"]) == ("stage2", 2e-5, 2e-4)
    assert (lora["lora_rank"], lora["lora_alpha"], lora["lora_dropout"]) == (128, 256, 0.05)
    full = models["full"]
    assert (full["stage"], full["connector_lr"], full["llm_lr"]) == ("full", 2e-5, 2e-5)
    strategy = stacks["full"]["trainer"]["strategy"]
    assert strategy["class_path"] == "lightning_mllm.fsdp.MultimodalFSDPStrategy"
    assert strategy["init_args"]["activation_checkpointing"] is True
    qlora = models["qlora"]
    assert qlora["load_in_4bit"] is True and qlora["lora_dropout"] == 0.05 and qlora["connector_lr"] == 2e-5
    assert [_global_batch(stacks[s]) for s in STACKS] == [256, 128, 128, 128]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_global_batches_divide_on_the_clusters_they_are_for(resolved, backbone):
    """Accumulation = global batch / (data.batch_size x GPUs x nodes), as GlobalBatchSize derives it."""
    def steps(stage, gpus, nodes, micro=None):
        config = resolved[backbone, stage]
        micro = micro or config["data"]["init_args"]["batch_size"]
        return accumulation_steps(_global_batch(config), micro, gpus * nodes)

    assert steps("stage1", 8, 1) == 1          # 32 per GPU x 8, as LLaVA-1.5's pretrain.sh
    assert steps("lora", 8, 1) == 4 and steps("full", 8, 1) == 4   # 4 per GPU x 8 x 4 = 128
    assert steps("lora", 8, 2) == 2 and steps("full", 8, 2) == 2   # two nodes of 8 GPUs
    assert steps("qlora", 1, 1, micro=2) == 64                     # one 24 GiB GPU at micro-batch 2
    with pytest.raises(ValueError, match=r"samples=256\) is not a whole multiple of data.batch_size=32 x 16"):
        steps("stage1", 8, 2)                  # 512 per pass: stage 1 on two nodes needs data.batch_size 16
    assert steps("stage1", 8, 2, micro=16) == 1


def test_every_paper_config_value_names_its_source():
    files = [*CONFIGS.glob("paper/*.yaml"), *CONFIGS.glob("stage/*.yaml"), CONFIGS / "data" / "captions.yaml",
             *(CONFIGS / "backbone" / f"{backbone}.yaml" for backbone in BACKBONES)]
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            # a line that sets a value (key: value), not a block, a list item, a component or a path
            if re.match(r"^\s*[\w+]+:\s*\S", code) and not re.match(r"^\s*(class_path|init_args|data_root):", code):
                assert SOURCE.search(line), f"{path.relative_to(ROOT)}:{number} has no source: {line.strip()}"
