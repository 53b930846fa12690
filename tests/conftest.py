"""Shared fixtures: tiny backbones and tiny synthetic shards in temporary folders, no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # pyproject.toml runs one worker per core: a worker's torch (and the subprocesses it starts)
    # then gets one thread, since OpenMP threads spinning on a shared core slowed steps tenfold.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config) -> None:
    # `-m "not slow"` leaves out the tests that take more than about 20 s on a CPU.
    config.addinivalue_line("markers", "slow: takes more than about 20 s on a CPU")


# The tiny backbones are cached across runs in the checkout's ignored .cache/ folder (their folder
# names carry a hash of the code that builds them, so a code change rebuilds them). Set here,
# before any project module reads it, so the CLI's ${tiny_backbone:...} resolver uses the same folders.
TEST_CACHE = Path(os.environ.get("LIGHTNING_MLLM_TEST_CACHE", Path(__file__).resolve().parents[1] / ".cache" / "tests"))
os.environ["LIGHTNING_MLLM_CACHE"] = str(TEST_CACHE)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    return TEST_CACHE


@pytest.fixture(scope="session")
def tiny_paths(cache_dir) -> dict[str, str]:
    from lightning_mllm.tiny_backbones import ensure_tiny_backbone

    return {"llm": ensure_tiny_backbone("llm", cache_dir), "vision": ensure_tiny_backbone("vision", cache_dir)}


@pytest.fixture(scope="session")
def tokenizer(tiny_paths):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_paths["llm"])


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    from datamodules.synthetic_shards import SyntheticSpec, write_synthetic_shards

    root = tmp_path_factory.mktemp("data") / "synthetic"
    spec = SyntheticSpec(train_per_language=96, eval_per_language=24, samples_per_shard=32)
    return write_synthetic_shards(spec, root)
