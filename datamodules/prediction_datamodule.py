"""Image + question pairs from a JSONL file, for ``train.py predict``.

    python train.py predict --config configs/demo.yaml --config configs/predict/demo.yaml --ckpt_path <ckpt>

One JSON object per line: ``{"id": ..., "image": "images/0.png", "question": "..."}``. ``prompt``
may stand for ``question``; ``image`` (a path relative to the file, or to ``image_root``) may be
absent or null for a text-only question; ``id`` defaults to the line number; any other fields are
carried to the output by ``callbacks.PredictionWriter``. A line that is not a JSON object or has
no question stops the run before any answer, naming the file and line. A row whose image does not
read is not dropped: it passes through the batch as an error, and its answer is null.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset

from lightning_mllm.chat_format import SampleError
from lightning_mllm.conversation import open_image, prompt_ids
from lightning_mllm.evaluation.encoding import PromptCollator
from lightning_mllm.evaluation.items import ImageDecodeError
from lightning_mllm.files import iter_jsonl
from lightning_mllm.processor import MultimodalProcessor


def read_records(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file, each with its ``id`` set; blank lines are skipped."""
    records = []
    for number, record in iter_jsonl(path):
        question = record.get("question", record.get("prompt"))
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"{path}:{number}: no question (a non-empty \"question\" or \"prompt\" string)")
        image = record.get("image")
        if image is not None and not isinstance(image, str):
            raise ValueError(f"{path}:{number}: \"image\" must be a path string or null")
        records.append({"id": number, **record})
    return records


class PredictionItems(Dataset):
    """Rows encoded on access (in loader workers when there are any).

    Args:
        records: The rows as read from the file.
        processor: The model's processor (tokenizer, chat template, image transform).
        image_root: The folder relative image paths start from.
    """

    def __init__(self, records: list[dict[str, Any]], processor: MultimodalProcessor, image_root: Path):
        self.records = records
        self.processor = processor
        self.image_root = image_root

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        question = record.get("question", record.get("prompt"))
        base = {"key": index, "record": record, "prompt_ids": None, "pixel_values": None, "error": None}
        try:
            image = open_image(self.image_root / record["image"]) if record.get("image") is not None else None
            ids = prompt_ids(self.processor, [{"role": "user", "content": question}], has_image=image is not None)
        except ImageDecodeError as error:
            return {**base, "error": ("image_error", str(error))}
        except SampleError as error:
            return {**base, "error": (error.reason, str(error))}
        pixels = self.processor.pixel_values(image) if image is not None else None
        return {**base, "prompt_ids": ids, "pixel_values": pixels}


class PredictionCollator(PromptCollator):
    """``PromptCollator``'s left-padded batch plus every row's index, record and the answer length."""

    def __call__(self, encoded: list[dict[str, Any]]) -> dict[str, Any]:
        return {**super().__call__(encoded), "order": [e["key"] for e in encoded],
                "records": [e["record"] for e in encoded]}


class PredictionDataModule(L.LightningDataModule):
    """Questions about images from a JSONL file, answered by ``train.py predict``.

    Args:
        path: The JSONL file of ``{"id", "image", "question"|"prompt", ...}`` rows.
        image_root: Folder that relative image paths start from (default: the file's folder).
        batch_size: Prompts per generation call.
        num_workers: Loader processes that decode images and tokenize prompts.
        max_new_tokens: Longest answer in tokens.
    """

    def __init__(self, path: str, image_root: str | None = None, batch_size: int = 16, num_workers: int = 2,
                 max_new_tokens: int = 128):
        super().__init__()
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(f"data.batch_size and data.max_new_tokens must be >= 1, "
                             f"got {batch_size} and {max_new_tokens}")
        self.path = path
        self.image_root = image_root
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.max_new_tokens = max_new_tokens
        self.records: list[dict[str, Any]] = []

    def setup(self, stage: str) -> None:
        if stage != "predict":
            raise ValueError(f"PredictionDataModule serves `predict` only, not {stage!r}")
        path = Path(self.path)
        if not path.is_file():
            raise FileNotFoundError(f"data.path: {self.path!r} is not a file")
        if self.image_root is not None and not Path(self.image_root).is_dir():
            raise FileNotFoundError(f"data.image_root: {self.image_root!r} is not a folder")
        self.records = read_records(path)

    def predict_dataloader(self) -> DataLoader:
        processor = self.trainer.lightning_module.processor
        root = Path(self.image_root) if self.image_root is not None else Path(self.path).parent
        return DataLoader(PredictionItems(self.records, processor, root), batch_size=self.batch_size,
                          num_workers=self.num_workers,
                          collate_fn=PredictionCollator(processor.pad_token_id, self.max_new_tokens))
