"""Writes samples into numbered tar shards bounded in sample count and bytes, atomically.

Each shard is written under a temporary name and renamed when complete, so a crash never leaves
a half-written ``.tar`` that a training run would read. Tar headers carry fixed metadata, so the
same samples always give byte-identical shards.
"""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

TAR_BLOCK = 512
TAR_RECORD = 20 * TAR_BLOCK  # tarfile pads the closed archive to whole records


@dataclass
class ShardInfo:
    """One finished shard."""

    path: str
    samples: int
    bytes: int


def _entry_size(data: bytes) -> int:
    # A header block plus the data padded to whole blocks.
    return TAR_BLOCK + -(-len(data) // TAR_BLOCK) * TAR_BLOCK


def _file_size(entries: int) -> int:
    # What the closed archive weighs: entries, two end-of-archive blocks, padding to a record.
    return -(-(entries + 2 * TAR_BLOCK) // TAR_RECORD) * TAR_RECORD


class TarShardSink:
    """Appends samples to ``{folder}/{prefix}-{n:06d}.tar``, starting a new shard when the next
    sample would pass ``max_samples`` or ``max_bytes``.

    Args:
        folder: Output folder (created when missing).
        prefix: Shard name prefix, e.g. ``pixmo-eu``.
        max_samples: Samples per shard at most.
        max_bytes: Bytes per shard file at most; a single larger sample gets a shard of its own.
    """

    def __init__(self, folder: str | os.PathLike, prefix: str, max_samples: int, max_bytes: int):
        if max_samples < 1 or max_bytes < 1:
            raise ValueError(f"max_samples={max_samples} and max_bytes={max_bytes} must be positive")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.max_samples = max_samples
        self.max_bytes = max_bytes
        self.shards: list[ShardInfo] = []
        self._tar: tarfile.TarFile | None = None
        self._samples = 0
        self._bytes = 0

    def _path(self, number: int) -> Path:
        return self.folder / f"{self.prefix}-{number:06d}.tar"

    def add(self, key: str, files: dict[str, bytes]) -> None:
        """Writes one sample: ``files`` maps extensions (``json``, ``jpg``, ...) to bytes."""
        if "." in key or "/" in key or len(key) > 90:
            raise ValueError(f"sample key {key!r} must be at most 90 characters without '.' or '/' "
                             f"(WebDataset splits keys on them; plain tar names hold 100)")
        size = sum(_entry_size(data) for data in files.values())
        full = self._samples >= self.max_samples or _file_size(self._bytes + size) > self.max_bytes
        if self._tar is not None and full:
            self._finish()
        if self._tar is None:
            self._tar = tarfile.open(self._path(len(self.shards)).with_suffix(".tar.partial"), "w",
                                     format=tarfile.USTAR_FORMAT)
        for ext, data in files.items():
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), 0, 0o444
            self._tar.addfile(info, io.BytesIO(data))
        self._samples += 1
        self._bytes += size

    def _finish(self) -> None:
        assert self._tar is not None
        partial = Path(self._tar.name)
        self._tar.close()
        final = self._path(len(self.shards))
        os.replace(partial, final)
        self.shards.append(ShardInfo(str(final), self._samples, final.stat().st_size))
        self._tar, self._samples, self._bytes = None, 0, 0

    def close(self) -> list[ShardInfo]:
        """Finishes the open shard and returns every shard written."""
        if self._tar is not None:
            self._finish()
        return self.shards

    def abort(self) -> None:
        """Drops the unfinished shard (after an error); finished shards stay."""
        if self._tar is not None:
            partial = Path(self._tar.name)
            self._tar.close()
            partial.unlink(missing_ok=True)
            self._tar = None
