"""The real LightningCLI: every config parses, and a few fit steps on the tiny demo config."""

from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers import CONFIGS, DEMO, make_model, tiny_fit_args
from train import cli_main


# configs/eval/ holds the evaluate command's configs, parsed by tests/test_evaluation.py.
@pytest.mark.parametrize("config", sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.yaml")
                                          if p.parent.name != "eval"))
def test_every_config_parses(config, cache_dir, capsys):
    # Stacked on the demo so that partial files (a stage, a backbone) form a whole config.
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", DEMO, "--config", str(CONFIGS / config), "--print_config"])
    assert exit_info.value.code in (None, 0)
    assert "model:" in capsys.readouterr().out


def test_grid_files_set_the_basque_share_on_the_bilingual_data(cache_dir, capsys):
    with pytest.raises(SystemExit):
        cli_main(["fit", "--config", DEMO, "--config", str(CONFIGS / "data" / "bilingual.yaml"),
                  "--config", str(CONFIGS / "data" / "grid" / "basque-50.yaml"), "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)["data"]["init_args"]
    assert printed["mixture"] == {"target_share": 0.5, "text_share": 0.1, "target_lang": "eu"}
    assert [s["name"] for s in printed["train_sources"]] == ["instruct-en", "instruct-eu", "text-en", "text-eu"]


def test_fit_through_the_cli_logs_the_promised_metrics(tmp_path, tiny_paths, synthetic_root):
    cli = cli_main(tiny_fit_args(tmp_path, synthetic_root))
    assert cli.trainer.global_step == 4
    events = EventAccumulator(cli.trainer.logger.log_dir)
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for tag in ["train/loss", "train/loss_en", "train/loss_eu", "val/loss", "val/acc_en", "val/acc_eu",
                "val/blind_acc_en", "val/blind_acc_eu", "lr-AdamW/connector", "lr-AdamW/llm",
                "data/skipped", "data/truncated", "mixture/share/synthetic-en", "mixture/share/synthetic-eu",
                "mixture/configured_share/synthetic-eu", "mixture/tokens_per_word/en",
                "mixture/tokens_per_word/eu", "mixture/lang_token_share/eu", "mixture/text_only_share"]:
        assert tag in tags, tag
    # The checkpoint holds the trained weights only; the frozen vision tower is reloaded from its folder.
    checkpoint = next(Path(cli.trainer.logger.log_dir).glob("checkpoints/*.ckpt"))
    state = torch.load(checkpoint, weights_only=True, map_location="cpu")["state_dict"]
    assert state and not any(k.startswith("vision.") for k in state)
    trained = {n for n, p in cli.model.named_parameters() if p.requires_grad}
    assert set(state) == trained


def test_stage1_fit_then_validate_from_the_checkpoint(tmp_path, tiny_paths, synthetic_root):
    cli = cli_main(tiny_fit_args(tmp_path, synthetic_root, "--model.stage", "stage1"))
    checkpoint = next(Path(cli.trainer.logger.log_dir).glob("checkpoints/*.ckpt"))
    connector = cli.model.connector.layers[0].weight.detach().clone()
    again = cli_main(["validate", "--config", DEMO, "--model.stage", "stage1",
                      "--data.init_args.data_root", str(synthetic_root), "--data.init_args.synthetic", "null",
                      "--data.init_args.num_workers", "0", "--trainer.limit_val_batches", "1",
                      "--trainer.default_root_dir", str(tmp_path), "--trainer.logger.init_args.save_dir",
                      str(tmp_path), "--ckpt_path", str(checkpoint)])
    assert torch.equal(again.model.connector.layers[0].weight, connector)
    # Stage handoff: a stage-2 model starts from the stage-1 connector.
    stage2 = make_model(tiny_paths, stage="stage2", connector="mlp2x_gelu", connector_init=str(checkpoint))
    assert torch.equal(stage2.connector.layers[0].weight, connector)
    with pytest.raises(ValueError, match=r"model.connector_init=.*another connector type"):
        make_model(tiny_paths, stage="stage2", connector="linear", connector_init=str(checkpoint))
    with pytest.raises(FileNotFoundError, match=r"model.connector_init='missing.ckpt'"):
        make_model(tiny_paths, stage="stage2", connector_init="missing.ckpt")
