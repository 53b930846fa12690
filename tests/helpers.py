"""What several test modules share: the tiny model and the tiny CLI run (fixtures stay in conftest.py)."""

from __future__ import annotations

import base64
import contextlib
import csv
import json
import threading
from pathlib import Path

import lightning as L
import torch
from PIL import Image

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


# Benchmark files as the published data sets write them (test_benchmark_formats, test_published_readers).
MMBENCH_HEADER = ["index", "question", "hint", "A", "B", "C", "D", "answer", "image", "category", "l2-category"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_tsv(path: Path, header: list[str], rows: list[list]) -> str:
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter="\t")
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def write_jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return str(path)


class BatchRecorder(L.LightningModule):
    """Records the sample ids of every training batch; one weight makes it trainable
    (test_epoch_resume and the two-rank resume script ranks_resume_run)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[list[str]] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(list(batch["ids"]))
        return self.weight * batch["labels"].float().mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


# The tiny adapted VLMs (test_pretrained_vlm, test_vlm_cli): each kind's fixed image side (None: its own).
IMAGE_SIZE = {"llava": None, "qwen2_vl": 48, "qwen2_5_vl": 48}


def scene() -> Image.Image:
    """A small picture with a red square, for the VLM tests."""
    image = Image.new("RGB", (64, 40), (250, 250, 250))
    image.paste((220, 20, 20), (8, 8, 30, 30))
    return image


def fit_vlm_args(root: Path, synthetic_root: Path, init_from: str, image_size: int | None, *extra: str) -> list[str]:
    """A short stage-2 run of ``configs/demo-vlm.yaml`` from the VLM at ``init_from``."""
    return ["fit", "--config", str(CONFIGS / "demo-vlm.yaml"),
            "--model.init_from", init_from, "--model.image_size", str(image_size or "null"),
            "--model.stage", "stage2", "--model.lora_rank", "8", "--model.lora_alpha", "16",
            "--model.llm_lr", "5e-3", "--model.connector_lr", "5e-3", "--model.warmup_ratio", "0",
            "--data.init_args.data_root", str(synthetic_root), "--data.init_args.synthetic", "null",
            "--data.init_args.batch_size", "4", "--data.init_args.num_workers", "0",
            "--data.init_args.samples_per_epoch", "40", "--data.init_args.group_batches", "2",
            "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "0", "--trainer.log_every_n_steps", "1",
            "--trainer.enable_progress_bar", "false", "--trainer.callbacks+=callbacks.SampleLedger",
            "--trainer.default_root_dir", str(root), "--trainer.logger.init_args.save_dir", str(root), *extra]


@contextlib.contextmanager
def serve_rating_app(rating_set, judgments: Path):
    """The human-evaluation app behind waitress on a free 127.0.0.1 port in a background thread;
    yields its base URL and checks the server thread ends when the block does."""
    from lightning_mllm.human_eval.app import create_app
    from lightning_mllm.human_eval.server import RatingServer

    server = RatingServer(create_app(rating_set, judgments), "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.base_url
    finally:
        server.stop()
        thread.join(10)
    assert not thread.is_alive()
