"""The WebDataset mixture datamodule: batches, bad samples skipped and counted, validation pass."""

import io
import json
from collections import Counter

import pytest
import torch
import webdataset as wds
from PIL import Image

from datamodules.mixture_datamodule import MixtureDataModule
from lightning_mllm.mixture_weights import Source
from callbacks.skipped_samples import SkippedSampleMonitor
from datamodules.validation_pass import ValidationPass
from lightning_mllm.chat_format import IMAGE_TOKEN_ID
from lightning_mllm.processor import MultimodalProcessor
from lightning_mllm.vision_tower import image_token_count
from transformers import AutoConfig


@pytest.fixture(scope="module")
def processor(tiny_paths):
    tokens = image_token_count(AutoConfig.from_pretrained(tiny_paths["vision"]), drop_cls=True)
    return MultimodalProcessor.from_pretrained(tiny_paths["llm"], tiny_paths["vision"], tokens, max_length=128)


def datamodule(root, processor, **overrides):
    settings = dict(
        data_root=str(root), batch_size=4, num_workers=0, samples_per_epoch=16, shuffle_buffer=8,
        train_sources=[Source("en", ["train/en-*.tar"], 0.5, "en"), Source("eu", ["train/eu-*.tar"], 0.5, "eu")],
        val_sources=[Source("val-en", ["eval/en-*.tar"], lang="en"), Source("val-eu", ["eval/eu-*.tar"], lang="eu")])
    settings.update(overrides)
    dm = MixtureDataModule(**settings)
    dm.processor = processor
    dm.setup("fit")
    return dm


def test_training_batches_carry_images_where_the_placeholders_are(synthetic_root, processor):
    batches = list(datamodule(synthetic_root, processor).train_dataloader())
    assert len(batches) == 4
    for batch in batches:
        images = int((batch["input_ids"] == IMAGE_TOKEN_ID).sum())
        assert images == batch["pixel_values"].shape[0] * processor.formatter.image_tokens
        assert batch["pixel_values"].shape[1:] == (3, 48, 48)
        # Right padding: each mask row is ones then zeros, and padded positions carry no label.
        mask = batch["attention_mask"]
        assert torch.equal(mask, mask.cummin(dim=1).values) and mask[:, 0].all()
        assert (batch["labels"][mask == 0] == -100).all()
    langs = [lang for b in batches for lang in b["lang"]]
    assert set(langs) == {"en", "eu"}


def test_mixture_follows_the_weights(synthetic_root, processor):
    dm = datamodule(synthetic_root, processor, samples_per_epoch=400,
                    train_sources=[Source("en", ["train/en-*.tar"], 0.8, "en"),
                                   Source("eu", ["train/eu-*.tar"], 0.2, "eu")])
    langs = [lang for b in dm.train_dataloader() for lang in b["lang"]]
    # Draws are planned in blocks of 100 with exact quotas (docs/design.md, "The mixture"): 400
    # draws at 0.8 / 0.2 are exactly 320 English and 80 Basque samples, not 0.2 give or take.
    assert Counter(langs) == {"en": 320, "eu": 80}


def test_validation_reads_every_sample_once(synthetic_root, processor):
    dm = datamodule(synthetic_root, processor)
    ids = [i for b in dm.val_dataloader() for i in b["ids"]]
    assert len(ids) == len(set(ids)) == 48
    # Split over two ranks, the union is the same set.
    split = [i for rank in (0, 1) for s in ValidationPass(dm.val, processor, rank, 2) for i in [s["id"]]]
    assert sorted(split) == sorted(ids)
    batch = next(iter(dm.val_dataloader()))
    assert batch["prompt_mask"][:, -1].all()  # left padded
    assert all(a.endswith(".") for a in batch["answers"])


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_mixed_shard(path, bad: bool = True) -> None:
    good = {"messages": [{"role": "user", "content": "<image>\nWhat colour?"},
                         {"role": "assistant", "content": "Red."}], "lang": "en"}
    two_placeholders = {"messages": [{"role": "user", "content": "<image><image>"},
                                     {"role": "assistant", "content": "x"}]}
    with wds.TarWriter(str(path)) as sink:
        for i in range(6):
            sink.write({"__key__": f"good{i}", "json": json.dumps(good).encode(), "png": _png()})
        if bad:
            sink.write({"__key__": "mismatch", "json": json.dumps(two_placeholders).encode(), "png": _png()})
            sink.write({"__key__": "broken-json", "json": b"{not json", "png": _png()})
            sink.write({"__key__": "broken-image", "json": json.dumps(good).encode(), "png": b"not a png"})
            sink.write({"__key__": "no-json", "png": _png()})


def test_bad_samples_and_unreadable_shards_are_skipped_and_counted(tmp_path, processor):
    (tmp_path / "train").mkdir()
    _write_mixed_shard(tmp_path / "train" / "mixed.tar")
    _write_mixed_shard(tmp_path / "train" / "clean.tar", bad=False)
    (tmp_path / "train" / "corrupt.tar").write_bytes(b"this is not a tar archive" * 40)
    dm = datamodule(tmp_path, processor, train_sources=[Source("mixed", ["train/*.tar"])], val_sources=[],
                    samples_per_epoch=40, shuffle_buffer=1, max_bad_fraction=0.9)
    skipped = [entry for b in dm.train_dataloader() for entry in b["skipped"]]
    reasons = Counter(reason for reason, _ in skipped)
    assert set(reasons) == {"image_mismatch", "bad_json", "bad_image", "missing_json", "unreadable_shard"}
    where = {reason: w for reason, w in skipped}
    assert "mixed.tar:broken-image" in where["bad_image"]  # the shard and the key
    assert "corrupt.tar" in where["unreadable_shard"]


def test_too_many_bad_samples_stop_training(tmp_path, processor):
    (tmp_path / "train").mkdir()
    _write_mixed_shard(tmp_path / "train" / "mixed.tar")
    dm = datamodule(tmp_path, processor, train_sources=[Source("mixed", ["train/mixed.tar"])], val_sources=[],
                    samples_per_epoch=400, shuffle_buffer=1, max_bad_fraction=0.01)
    with pytest.raises(RuntimeError, match="data.max_bad_fraction=0.01"):
        list(dm.train_dataloader())


def test_missing_shards_fail_naming_the_key(tmp_path, processor):
    with wds.TarWriter(str(tmp_path / "a.tar")) as sink:
        sink.write({"__key__": "k", "json": b"{}"})
    with pytest.raises(FileNotFoundError, match=r"data.train_sources\[1\].patterns.*x-2.tar"):
        datamodule(tmp_path, processor, val_sources=[],
                   train_sources=[Source("a", ["a.tar"]), Source("b", ["a.tar", "x-{2..3}.tar"])])


def test_skip_monitor_state_survives_a_checkpoint():

    monitor = SkippedSampleMonitor()
    monitor.skipped.update({"bad_image": 2, "image_mismatch": 1})
    monitor.truncated = 5
    restored = SkippedSampleMonitor()
    restored.load_state_dict(monitor.state_dict())
    assert restored.skipped == Counter({"bad_image": 2, "image_mismatch": 1}) and restored.truncated == 5


def test_mixture_monitor_counts_survive_a_checkpoint():
    from callbacks.mixture_monitor import MixtureMonitor

    monitor = MixtureMonitor()
    monitor.sources, monitor.langs = ["en", "eu"], ["en", "eu", "other"]
    monitor.by_source = torch.tensor([[3.0, 30, 9, 12, 0], [1, 14, 2, 5, 1]], dtype=torch.float64)
    monitor.by_lang = torch.tensor([[3.0, 30, 9, 12, 0], [1, 14, 2, 5, 1], [0, 0, 0, 0, 0]], dtype=torch.float64)
    restored = MixtureMonitor()
    restored.load_state_dict(monitor.state_dict())
    assert restored.sources == ["en", "eu"] and torch.equal(restored.by_lang, monitor.by_lang)
    # Rows follow the names when the source list changes between runs.
    moved = MixtureMonitor._carry(restored.by_source, ["en", "eu"], ["eu", "new", "en"])
    assert moved[0].tolist() == [1, 14, 2, 5, 1] and moved[1].sum() == 0 and moved[2][0] == 3


def test_mixture_monitor_adds_each_row_to_its_source_and_language():
    from types import SimpleNamespace

    from callbacks.mixture_monitor import MixtureMonitor

    monitor = MixtureMonitor(log_every_n_steps=1000)
    monitor.sources, monitor.langs = ["en", "eu"], ["en", "eu", "other"]
    monitor.by_source, monitor.by_lang = torch.zeros(2, 5, dtype=torch.float64), torch.zeros(3, 5, dtype=torch.float64)
    batch = {"sources": ["eu", "en", "eu", "gone"], "lang": ["eu", "en", "fr", "en"], "tokens": [10, 20, 30, 40],
             "words": [2, 5, 3, 1], "text_tokens": [4, 6, 7, 1], "has_image": [True, True, False, True]}
    monitor.on_train_batch_end(SimpleNamespace(global_step=1, log_every_n_steps=1000), None, None, batch, 0)
    assert monitor.by_source.tolist() == [[1, 20, 5, 6, 0], [2, 40, 5, 11, 1]]
    assert monitor.by_lang.tolist() == [[2, 60, 6, 7, 0], [1, 10, 2, 4, 0], [1, 30, 3, 7, 1]]


def test_mixture_monitor_logs_the_furthest_pass_per_source():
    from types import SimpleNamespace

    from callbacks.mixture_monitor import MixtureMonitor

    class Strategy:
        root_device = torch.device("cpu")

        def reduce(self, tensor, reduce_op):
            return tensor

    class Logger:
        def __init__(self):
            self.logged = {}

        def log_metrics(self, metrics, step):
            self.logged.update(metrics)

    monitor = MixtureMonitor(log_every_n_steps=1)
    monitor.sources, monitor.langs = ["en", "eu"], ["en", "eu", "other"]
    monitor.by_source, monitor.by_lang = torch.zeros(2, 5, dtype=torch.float64), torch.zeros(3, 5, dtype=torch.float64)
    monitor.passes = torch.zeros(2, dtype=torch.float64)
    logger = Logger()
    trainer = SimpleNamespace(global_step=1, log_every_n_steps=1, strategy=Strategy(), is_global_zero=True,
                              loggers=[logger])
    for passes in ([0.5, 2.25, 2.5], [0.75, 2.0, 2.25]):  # a later batch from a worker that is behind
        batch = {"sources": ["en", "eu", "eu"], "lang": ["en", "eu", "eu"], "tokens": [1, 1, 1], "words": [1, 1, 1],
                 "text_tokens": [1, 1, 1], "has_image": [True, True, True], "passes": passes}
        monitor.on_train_batch_end(trainer, None, None, batch, 0)
    assert logger.logged["mixture/passes/en"] == 0.75 and logger.logged["mixture/passes/eu"] == 2.5
    restored = MixtureMonitor()
    restored.load_state_dict(monitor.state_dict())
    assert restored.passes.tolist() == [0.75, 2.5]


def test_skip_monitor_counts_validation_skips_per_run(tmp_path):
    from types import SimpleNamespace

    logged = {}
    module = SimpleNamespace(log=lambda name, value, **kwargs: logged.__setitem__(name, value))
    trainer = SimpleNamespace(log_dir=str(tmp_path), default_root_dir=str(tmp_path), global_rank=0, global_step=7,
                              sanity_checking=False)
    monitor = SkippedSampleMonitor()
    for _ in range(2):  # two validation runs: counts are per run
        monitor.on_validation_epoch_start(trainer, module)
        monitor.on_validation_batch_end(trainer, module, None, {"skipped": [("unreadable_shard", "v.tar after 0")]}, 0)
        monitor.on_validation_batch_end(trainer, module, None, {"skipped": []}, 1)
        monitor.on_validation_epoch_end(trainer, module)
    assert logged == {"data/val_skipped": 1.0, "data/val_skipped_unreadable_shard": 1.0}
    listed = [json.loads(line) for line in (tmp_path / "skipped_samples.rank0.jsonl").read_text().splitlines()]
    assert listed[0] == {"step": 7, "stage": "validate", "reason": "unreadable_shard", "where": "v.tar after 0"}
    assert len(listed) == 2 and not monitor.skipped  # training counts untouched
