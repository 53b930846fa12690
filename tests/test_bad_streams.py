"""Bad input on the stream side, each with its exact outcome: a 0-byte validation shard and a tar
truncated at a member boundary are counted skips naming the shard (and, for the truncation, the
manifest and the last key read); a NaN or infinite mixture weight fails when the datamodule is
built, naming the key."""

from __future__ import annotations

import json
import math
import os
import tarfile
from collections import Counter

import pytest
from stream_shards import text_record, tiny_processor, write_text_shards

from datamodules.mixture_datamodule import MixtureDataModule
from lightning_mllm.mixture_weights import Source
from datamodules.raw_formats import ConvertOptions
from datamodules.shards import convert_to_shards
from datamodules.validation_pass import ValidationPass


@pytest.fixture(scope="module")
def processor(tiny_paths):
    return tiny_processor(tiny_paths)


def _datamodule(root, processor, train, val=None, **overrides):
    settings = {"train_sources": train, "val_sources": val, "data_root": str(root), "batch_size": 4,
                "num_workers": 0, "samples_per_epoch": 8, "shuffle_buffer": 1, "group_batches": 1,
                "max_bad_fraction": 0.9}
    settings.update(overrides)
    dm = MixtureDataModule(**settings)
    dm.processor = processor
    dm.setup("fit")
    return dm


def _converted(tmp_path, samples: int = 20, per_shard: int = 10):
    """Shards written by the project's writer (``python -m datamodules.shards``), with a manifest."""
    raw = tmp_path / "raw.jsonl"
    raw.write_text("".join(json.dumps(text_record("t", i)) + "\n" for i in range(samples)), encoding="utf-8")
    options = ConvertOptions(format="text", source="alpaca", lang="eu")
    convert_to_shards([str(raw)], options, str(tmp_path / "shards"), max_samples=per_shard, progress=False)
    return tmp_path / "shards" / "alpaca-eu-000000.tar"


def _truncate_after(shard, samples: int) -> str:
    """Cuts ``shard`` right before the header of sample ``samples`` (a member boundary); returns
    the key of the last sample left."""
    with tarfile.open(shard) as tar:
        members = tar.getmembers()
    keys = list(dict.fromkeys(m.name.split(".")[0] for m in members))
    cut = next(m.offset for m in members if m.name.split(".")[0] == keys[samples])
    with open(shard, "r+b") as file:
        file.truncate(cut)
    with tarfile.open(shard) as tar:  # the cut file is still a readable tar: nothing else notices
        assert len({m.name.split(".")[0] for m in tar.getmembers()}) == samples
    return keys[samples - 1]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_nan_or_infinite_weight_fails_when_the_datamodule_is_built(value):
    with pytest.raises(ValueError, match=rf"data.train_sources\[1\].weight={value} is not a finite number"):
        MixtureDataModule(train_sources=[Source("en", ["x"]), Source("eu", ["y"], value)])
    with pytest.raises(ValueError, match=rf"data.weights\['eu'\]={value} is not a finite number"):
        MixtureDataModule(train_sources=[Source("en", ["x"]), Source("eu", ["y"])], weights={"eu": value})


def test_a_zero_byte_validation_shard_is_a_counted_skip(tmp_path, processor):
    keys = write_text_shards(tmp_path, "val", [5, 4])
    (tmp_path / "val-2.tar").write_bytes(b"")
    dm = _datamodule(tmp_path, processor, [Source("train", ["val-0.tar"])], [Source("val", ["val-*.tar"])])
    batches = list(dm.val_dataloader())
    assert sorted(i for b in batches for i in b["ids"]) == sorted(keys)
    skipped = [entry for b in batches for entry in b["skipped"]]
    assert len(skipped) == 1 and skipped[0][0] == "unreadable_shard"
    assert f"{tmp_path / 'val-2.tar'} after 0 samples" in skipped[0][1]
    # Split over three readers, one reader reports it, and the samples are still each read once.
    split = [list(ValidationPass(dm.val, processor, rank, 3)) for rank in range(3)]
    assert sorted(s["id"] for part in split for s in part) == sorted(keys)
    assert Counter(reason for part in split for s in part for reason, _ in s["skipped"]) == {"unreadable_shard": 1}


def test_a_training_shard_truncated_at_a_member_boundary_is_counted_from_its_manifest(tmp_path, processor):
    shard = _converted(tmp_path)
    last_key = _truncate_after(shard, 6)
    dm = _datamodule(tmp_path, processor, [Source("alpaca", ["shards/alpaca-eu-*.tar"])], samples_per_epoch=20)
    batches = list(dm.train_dataloader())
    ids = [i for b in batches for i in b["ids"]]  # in draw order (shuffle buffer of 1, no length groups)
    skipped = [entry for b in batches for entry in b["skipped"]]
    assert [reason for reason, _ in skipped] == ["truncated_shard"]
    where = skipped[0][1]
    manifest = os.path.join(tmp_path, "shards", "alpaca-eu.manifest.json")
    assert f"{shard} ended after 6 samples (last key {last_key})" in where
    assert f"its manifest {manifest} lists 10" in where
    # The first pass visits each of the 16 samples left once, then the next pass starts.
    assert len(set(ids[:16])) == 16 and set(ids[16:]) <= set(ids[:16])


def test_a_validation_shard_truncated_at_a_member_boundary_is_counted(tmp_path, processor):
    shard = _converted(tmp_path)
    _truncate_after(shard, 3)
    dm = _datamodule(tmp_path, processor, [Source("alpaca", ["shards/alpaca-eu-*.tar"])],
                     [Source("val", ["shards/alpaca-eu-*.tar"])])
    batches = list(dm.val_dataloader())
    assert len([i for b in batches for i in b["ids"]]) == 13
    skipped = [entry for b in batches for entry in b["skipped"]]
    assert [reason for reason, _ in skipped] == ["truncated_shard"]
    assert f"{shard} ended after 3 samples" in skipped[0][1] and "lists 10" in skipped[0][1]
