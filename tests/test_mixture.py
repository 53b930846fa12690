"""The training mixture: weights from the paper's grid, realised ratio, disjoint slots, length
grouping, and exact resumption of the stream from its state."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import webdataset as wds
from transformers import AutoConfig

from datamodules.mixture_datamodule import MixtureDataModule
from lightning_mllm.mixture_weights import MixtureShares, Source, source_weights
from datamodules.shard_streams import MixtureStream
from lightning_mllm.processor import MultimodalProcessor
from lightning_mllm.vision_tower import image_token_count


@pytest.fixture(scope="module")
def processor(tiny_paths):
    tokens = image_token_count(AutoConfig.from_pretrained(tiny_paths["vision"]), drop_cls=True)
    return MultimodalProcessor.from_pretrained(tiny_paths["llm"], tiny_paths["vision"], tokens, max_length=128)


@pytest.fixture(scope="module")
def text_root(tmp_path_factory):
    """Three text-only sources (cheap to decode) with answers of varied length."""
    root = tmp_path_factory.mktemp("text")
    for name in ("a", "b", "c"):
        for shard in range(4):
            with wds.TarWriter(str(root / f"{name}-{shard}.tar")) as sink:
                for i in range(50):
                    answer = " ".join(["word"] * (1 + (i * 7 + shard) % 23))
                    record = {"messages": [{"role": "user", "content": f"Question {i}?"},
                                           {"role": "assistant", "content": answer}], "lang": "en"}
                    sink.write({"__key__": f"{name}{shard}-{i:03d}", "json": json.dumps(record).encode()})
    return root


def _datamodule(root, processor, **overrides) -> MixtureDataModule:
    settings = dict(data_root=str(root), batch_size=8, num_workers=0, samples_per_epoch=96, shuffle_buffer=16,
                    train_sources=[Source("a", ["a-*.tar"], 0.5, "en"), Source("b", ["b-*.tar"], 0.3, "en"),
                                   Source("c", ["c-*.tar"], 0.2, "eu")], seed=3)
    settings.update(overrides)
    dm = MixtureDataModule(**settings)
    dm.processor = processor
    dm.setup("fit")
    return dm


def test_paper_grid_sets_the_weights():
    sources = [Source("llava-en", ["x"], 2.0, "en"), Source("pixmo-en", ["x"], 1.0, "en"),
               Source("pixmo-eu", ["x"], 1.0, "eu"), Source("alpaca-eu", ["x"], 1.0, "eu", modality="text")]
    weights = source_weights(sources, MixtureShares(target_share=0.2, text_share=0.1))
    assert weights == pytest.approx([0.9 * 0.8 * 2 / 3, 0.9 * 0.8 / 3, 0.9 * 0.2, 0.1])
    no_basque = source_weights(sources, MixtureShares(target_share=0.0))
    assert no_basque == pytest.approx([2 / 3, 1 / 3, 0.0, 0.0])
    assert source_weights(sources, overrides={"pixmo-eu": 5.0}) == pytest.approx([2 / 9, 1 / 9, 5 / 9, 1 / 9])


@pytest.mark.parametrize("sources, shares, overrides, message", [
    ([Source("a", ["x"], -1.0)], None, None, r"data.train_sources\[0\].weight=-1.0 is negative"),
    ([Source("a", ["x"], 0.0), Source("b", ["x"], 0.0)], None, None, "every weight is zero"),
    ([Source("a", ["x"])], None, {"b": 1.0}, "data.weights: unknown source name 'b'"),
    ([Source("a", ["x"]), Source("a", ["y"])], None, None, "the name 'a' is used twice"),
    ([Source("a", ["x"], lang="en")], MixtureShares(target_share=0.2), None, "lang 'eu'"),
    ([Source("a", ["x"], lang="eu")], MixtureShares(target_share=1.5), None, "target_share=1.5"),
    ([Source("a", ["x"], lang="eu")], MixtureShares(text_share=0.1), None, "text-only source"),
])
def test_bad_weights_fail_naming_the_key(sources, shares, overrides, message):
    with pytest.raises(ValueError, match=message):
        MixtureDataModule(train_sources=sources, mixture=shares, weights=overrides)


def test_realised_ratio_matches_over_ten_thousand_draws(text_root, processor):
    dm = _datamodule(text_root, processor, batch_size=100, samples_per_epoch=10000, group_batches=1)
    sources = Counter(s for batch in dm.train_dataloader() for s in batch["sources"])
    assert sum(sources.values()) == 10000
    for name, configured in dm.configured_shares().items():
        assert abs(sources[name] / 10000 - configured) < 0.01, (name, sources[name])


def test_slots_never_share_a_sample(text_root, processor):
    dm = _datamodule(text_root, processor)
    ids = []
    for rank in (0, 1):
        stream = MixtureStream(dm.train, processor, 8, 20, 3, rank, 2, 16)
        ids.append({i for batch in stream for i in (s["id"] for s in batch)})
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    # One shard per source: the two ranks split each shard by sample index instead.
    dm_one = _datamodule(text_root, processor, train_sources=[Source("a", ["a-0.tar"])])
    one = [{s["id"] for b in MixtureStream(dm_one.train, processor, 5, 4, 3, r, 2, 8) for s in b} for r in (0, 1)]
    assert len(one[0]) == len(one[1]) == 20 and not one[0] & one[1]


def _padding(batches) -> float:
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    return 1 - real / sum(b["attention_mask"].numel() for b in batches)


def test_length_grouping_cuts_padding(text_root, processor):
    plain = list(_datamodule(text_root, processor, group_batches=1).train_dataloader())
    grouped = list(_datamodule(text_root, processor, group_batches=6).train_dataloader())
    assert len(plain) == len(grouped) == 12
    assert _padding(grouped) < 0.5 * _padding(plain)


@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_stream_sees_the_same_batches(text_root, processor, workers):
    def loader():
        return _datamodule(text_root, processor, num_workers=workers, group_batches=3).train_dataloader()

    def ids(batches):
        return [b["ids"] for b in batches]

    full = loader()
    reference = ids(full) + ids(full)  # two epochs: the second continues the streams
    interrupted = loader()
    iterator = iter(interrupted)
    first = [next(iterator) for _ in range(5)]  # stop inside a length group, mid-epoch
    state = interrupted.state_dict()
    del iterator, interrupted
    resumed = loader()
    resumed.load_state_dict(state)
    rest = ids(resumed)
    assert ids(first) + rest + ids(resumed) == reference
    assert reference[:12] != reference[12:]
