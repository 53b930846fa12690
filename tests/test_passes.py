"""Every sample once per pass: an epoch sized to the data reads each sample exactly once over
2 ranks x 2 loader workers, uneven shards and fewer shards than readers included, and the next
pass reads them all again in another order."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
from stream_shards import tiny_processor, write_text_shards

from datamodules.mixture_datamodule import MixtureDataModule
from lightning_mllm.mixture_weights import Source
from datamodules.pass_plan import pass_segments


@pytest.fixture(scope="module")
def processor(tiny_paths):
    return tiny_processor(tiny_paths)


def _epochs(root, processor, sources, samples_per_epoch, epochs, workers=2, ranks=2):
    """Sample ids of each epoch, over all simulated ranks (each rank its own loader), and the
    pass progress each batch reported per source."""
    seen = [[] for _ in range(epochs)]
    progress = []
    for rank in range(ranks):
        dm = MixtureDataModule(train_sources=sources, data_root=str(root), batch_size=4, num_workers=workers,
                               samples_per_epoch=samples_per_epoch, shuffle_buffer=6, group_batches=2, seed=5)
        dm.processor = processor
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=ranks)  # what _rank() reads
        dm.setup("fit")
        loader = dm.train_dataloader()
        for epoch in range(epochs):
            for batch in loader:
                seen[epoch] += batch["ids"]
                progress += list(zip([epoch] * len(batch["ids"]), batch["sources"], batch["passes"]))
    return seen, progress


def test_pass_segments_cover_every_sample_once_for_any_reader_count():
    counts = [13, 0, 7, 35, 25]
    for shares in ([1], [1, 1, 1, 1], [3, 2, 3, 2], [1] * 7, [2, 0, 1]):
        for pass_index in range(3):
            covered = Counter()
            for reader in range(len(shares)):
                for segment in pass_segments(counts, "s", pass_index, shares, reader):
                    covered.update((segment.shard, i) for i in range(segment.start, segment.end))
            assert set(covered.values()) == {1} and len(covered) == sum(counts), (shares, pass_index)
    # The shard order changes from pass to pass.
    orders = {tuple(s.shard for s in pass_segments(counts, "s", p, [1], 0)) for p in range(4)}
    assert len(orders) > 1


def test_an_epoch_sized_to_the_data_reads_each_sample_once_over_two_ranks_and_two_workers(tmp_path, processor):
    keys = write_text_shards(tmp_path, "uneven", [13, 7, 35, 25])  # 80 samples, shards of uneven size
    seen, progress = _epochs(tmp_path, processor, [Source("uneven", ["uneven-*.tar"])], 80, 2)
    for epoch in seen:
        assert len(epoch) == 80 and Counter(epoch) == Counter(keys)
    assert seen[0] != seen[1]  # the second pass is in a new order
    # The monitor's pass counter: the first epoch reaches exactly one pass, the second two.
    assert max(p for e, _, p in progress if e == 0) == pytest.approx(1.0)
    assert max(p for e, _, p in progress if e == 1) == pytest.approx(2.0)
    assert min(p for e, _, p in progress if e == 1) > 1.0


def test_weighted_sources_with_fewer_shards_than_readers_are_each_read_once(tmp_path, processor):
    keys = {"a": write_text_shards(tmp_path, "a", [13, 7, 20]),  # three shards, four readers
            "b": write_text_shards(tmp_path, "b", [24]),  # one shard, four readers
            "c": write_text_shards(tmp_path, "c", [5, 11])}
    sources = [Source(name, [f"{name}-*.tar"], len(k)) for name, k in keys.items()]  # weights = sizes
    seen, _ = _epochs(tmp_path, processor, sources, 80, 1)
    assert Counter(seen[0]) == Counter(k for ks in keys.values() for k in ks)
