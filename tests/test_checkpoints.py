"""Checkpoints: a save killed halfway keeps the last good one; a run killed at a random step and
resumed from its last checkpoint continues with the uninterrupted run's losses."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch
from helpers import tiny_fit_args

from lightning_mllm.checkpoint_io import AtomicCheckpointIO
from train import cli_main

ROOT = Path(__file__).resolve().parents[1]


def test_a_save_killed_halfway_keeps_the_last_good_checkpoint(tmp_path):
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1, "w": torch.ones(4)}, target)
    # A second save whose process dies after writing part of the new file.
    script = textwrap.dedent(f"""
        import os, torch
        from lightning_mllm.checkpoint_io import AtomicCheckpointIO
        os.fsync = lambda descriptor: os._exit(9)  # dies once the temporary file is written, before the rename
        AtomicCheckpointIO().save_checkpoint({{"step": 2, "w": torch.zeros(1000)}}, {str(target)!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 9
    state = torch.load(target, weights_only=True)
    assert state["step"] == 1 and torch.equal(state["w"], torch.ones(4))
    # The next save clears what the killed one left behind.
    AtomicCheckpointIO().save_checkpoint({"step": 3}, target)
    assert torch.load(target, weights_only=True)["step"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def _losses(log_dir: Path) -> dict[int, float]:
    with open(log_dir / "samples.rank0.jsonl", encoding="utf-8") as file:
        return {entry["step"]: entry["loss"] for entry in map(json.loads, file)}


def test_killed_at_a_random_step_and_resumed_gives_the_same_losses(tmp_path, tiny_paths, synthetic_root):
    common = ["--trainer.callbacks+=callbacks.SampleLedger", "--data.init_args.samples_per_epoch", "40",
              "--trainer.limit_val_batches", "0", "--trainer.max_epochs", "2"]
    full = cli_main(tiny_fit_args(tmp_path / "full", synthetic_root, *common))
    reference = _losses(Path(full.trainer.logger.log_dir))
    assert len(reference) == 20
    kill_after = random.Random(os.getpid()).randint(3, 16)
    every_step = ["--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
                  "--trainer.callbacks.every_n_train_steps=1", "--trainer.callbacks.save_top_k=-1"]
    args = tiny_fit_args(tmp_path / "killed", synthetic_root, *common, *every_step)
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = tmp_path / "killed" / "demo" / "version_0" / "samples.rank0.jsonl"
    deadline = time.time() + 300
    while process.poll() is None and time.time() < deadline:
        if ledger.exists() and len(ledger.read_text().splitlines()) >= kill_after:
            process.kill()
            break
        time.sleep(0.05)
    process.wait()
    assert process.returncode != 0, "the run finished before it could be killed"
    checkpoints = sorted(ledger.parent.glob("checkpoints/*.ckpt"), key=lambda p: int(p.stem.split("step=")[1]))
    last = checkpoints[-1]
    resumed = cli_main(tiny_fit_args(tmp_path / "resumed", synthetic_root, *common, "--ckpt_path", str(last)))
    after = _losses(Path(resumed.trainer.logger.log_dir))
    step = int(last.stem.split("step=")[1])
    assert sorted(after) == list(range(step + 1, 21))
    for s, loss in after.items():
        assert abs(loss - reference[s]) < 1e-5, (s, loss, reference[s])


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    import random

    import numpy as np

    from callbacks.rng_state import RNGState

    torch.manual_seed(1), random.seed(1), np.random.seed(1)
    saved = RNGState().state_dict()
    path = tmp_path / "rng.ckpt"
    AtomicCheckpointIO().save_checkpoint({"callbacks": {"RNGState": saved}}, path)
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(2), random.seed(2), np.random.seed(2)
    RNGState().load_state_dict(torch.load(path, weights_only=True)["callbacks"]["RNGState"])
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]
