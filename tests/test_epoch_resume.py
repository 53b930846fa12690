"""Exact resume from any checkpoint: a 3-epoch run killed after a checkpoint and resumed (again and
again) trains on the uninterrupted run's batches, from end-of-epoch checkpoints (what
``ModelCheckpoint`` writes by default, with and without validation) and from mid-epoch ones, with
0 and 2 loader workers. The real Trainer, fit loop, checkpoint and datamodule run; the model is a
single weight, since only the order of the batches is under test. Two DDP processes each resume
their own stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.callbacks import ModelCheckpoint
from helpers import BatchRecorder
from stream_shards import tiny_processor, write_text_shards

from datamodules.mixture_datamodule import MixtureDataModule
from lightning_mllm.mixture_weights import Source

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3
BATCHES = 5  # per epoch: 20 samples of 26, so passes end inside epochs


class ValidatingRecorder(BatchRecorder):
    """With a validation loop at each epoch's end, ``ModelCheckpoint`` saves after validation,
    inside the epoch, where Lightning restores the loader itself."""

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.weight.detach(), batch_size=len(batch["ids"]))


@pytest.fixture(scope="module")
def processor(tiny_paths):
    return tiny_processor(tiny_paths)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("resume")
    write_text_shards(root, "a", [9, 7])  # 16 samples, uneven shards
    write_text_shards(root, "b", [10])
    return root


def _fit(tmp: Path, processor, data_root, workers: int, validate: bool, max_epochs: int = EPOCHS,
         max_steps: int = -1, ckpt_path: str | None = None, every_n_steps: int | None = None) -> list[list[str]]:
    dm = MixtureDataModule(train_sources=[Source("a", ["a-*.tar"], 0.6), Source("b", ["b-*.tar"], 0.4)],
                           val_sources=[Source("val", ["b-*.tar"])] if validate else None, data_root=str(data_root),
                           batch_size=4, num_workers=workers, samples_per_epoch=4 * BATCHES, shuffle_buffer=4,
                           group_batches=2, seed=7)
    dm.processor = processor
    # save_top_k=-1 keeps every checkpoint; otherwise what Lightning writes by default.
    checkpoint = ModelCheckpoint(dirpath=tmp, save_top_k=-1, every_n_train_steps=every_n_steps)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=max_epochs, max_steps=max_steps, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[checkpoint],
                        limit_val_batches=1 if validate else 0, num_sanity_val_steps=0, default_root_dir=tmp)
    model = ValidatingRecorder() if validate else BatchRecorder()
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return model.seen


def _chain(tmp_path, processor, data_root, workers, validate, stops: list[int]) -> list[list[str]]:
    """Runs that each stop after ``stops[i]`` steps (at an epoch's end or inside one), each resumed
    from the checkpoint the previous one wrote last, then a run to the end."""
    seen, checkpoint = [], None
    for i, stop in enumerate(stops):
        at_epoch_end = stop % BATCHES == 0
        folder = tmp_path / f"run{i}"
        seen += _fit(folder, processor, data_root, workers, validate, max_epochs=stop // BATCHES if at_epoch_end else EPOCHS,
                     max_steps=-1 if at_epoch_end else stop, ckpt_path=checkpoint,
                     every_n_steps=None if at_epoch_end else stop)
        checkpoint = str(next(folder.glob(f"*step={stop}.ckpt")))
    return seen + _fit(tmp_path / "last", processor, data_root, workers, validate, ckpt_path=checkpoint)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("validate", [False, True], ids=["no-val", "val"])
def test_killed_after_each_epoch_end_checkpoint_resumes_exactly(tmp_path, processor, data_root, workers, validate):
    reference = _fit(tmp_path / "full", processor, data_root, workers, validate)
    assert len(reference) == EPOCHS * BATCHES
    assert _chain(tmp_path, processor, data_root, workers, validate, [BATCHES, 2 * BATCHES]) == reference


@pytest.mark.parametrize("workers", [0, 2])
def test_killed_mid_epoch_resumes_exactly(tmp_path, processor, data_root, workers):
    reference = _fit(tmp_path / "full", processor, data_root, workers, False)
    assert _chain(tmp_path, processor, data_root, workers, False, [3, 8, 12]) == reference


@pytest.mark.slow
def test_two_ddp_ranks_each_resume_their_own_stream(tmp_path, tiny_paths, data_root):
    """Lightning saves rank 0's loader state only; each rank must still resume its own stream."""
    def run(name: str, epochs: int, *ckpt: str) -> list[list[list[str]]]:
        out = tmp_path / name
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
        done = subprocess.run([sys.executable, str(ROOT / "tests" / "ranks_resume_run.py"), str(out), str(data_root),
                               tiny_paths["llm"], tiny_paths["vision"], str(epochs), *ckpt],
                              check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        return [json.loads((out / f"seen.rank{rank}.json").read_text()) for rank in (0, 1)]

    full = run("full", 2)
    assert all(len(seen) == 8 for seen in full)
    # The first epoch (16 draws of the sources' 26 samples) stays within one pass: no overlap.
    assert not {i for b in full[0][:4] for i in b} & {i for b in full[1][:4] for i in b}
    first = run("first", 1)
    resumed = run("resumed", 2, str(next((tmp_path / "first").glob("*step=4.ckpt"))))
    assert [a + b for a, b in zip(first, resumed)] == full
