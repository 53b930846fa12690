"""What several test modules share: the tiny model and the tiny CLI run (fixtures stay in conftest.py)."""

from __future__ import annotations

from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEMO = str(CONFIGS / "demo.yaml")


def make_model(tiny_paths, **overrides):
    from lightning_mllm.model import MultimodalLM

    settings = dict(vision_tower=tiny_paths["vision"], llm=tiny_paths["llm"], llm_dtype="float32",
                    max_length=128, lora_rank=4, lora_alpha=8)
    settings.update(overrides)
    model = MultimodalLM(**settings)
    model.configure_model()
    return model


def tiny_fit_args(root: Path, synthetic_root: Path, *extra: str) -> list[str]:
    return ["fit", "--config", DEMO,
            "--data.init_args.data_root", str(synthetic_root), "--data.init_args.synthetic", "null",
            "--data.init_args.batch_size", "4", "--data.init_args.val_batch_size", "24",
            "--data.init_args.num_workers", "0",
            "--data.init_args.samples_per_epoch", "16",
            "--trainer.max_epochs", "1", "--trainer.val_check_interval", "1.0", "--trainer.limit_val_batches", "2",
            "--trainer.log_every_n_steps", "1", "--trainer.enable_progress_bar", "false",
            "--trainer.default_root_dir", str(root), "--trainer.logger.init_args.save_dir", str(root), *extra]
