"""One DDP fit (2 CPU processes) of the batch recorder for tests/test_epoch_resume.py; each rank
writes the sample ids of its batches to ``OUT/seen.rank<N>.json``.

    python tests/ranks_resume_run.py OUT DATA LLM VISION MAX_EPOCHS [CKPT]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from helpers import BatchRecorder
from stream_shards import tiny_processor

from datamodules.mixture_datamodule import MixtureDataModule
from lightning_mllm.mixture_weights import Source


def main(out: str, data: str, llm: str, vision: str, max_epochs: str, ckpt_path: str | None = None) -> None:
    processor = tiny_processor({"llm": llm, "vision": vision})
    dm = MixtureDataModule(train_sources=[Source("a", ["a-*.tar"], 0.6), Source("b", ["b-*.tar"], 0.4)],
                           data_root=data, batch_size=2, num_workers=0, samples_per_epoch=16, shuffle_buffer=4,
                           group_batches=2, seed=7)
    dm.processor = processor
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=int(max_epochs), logger=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        callbacks=[ModelCheckpoint(dirpath=out, save_top_k=-1)], default_root_dir=out)
    model = BatchRecorder()
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    Path(out, f"seen.rank{trainer.global_rank}.json").write_text(json.dumps(model.seen))


if __name__ == "__main__":
    main(*sys.argv[1:])
