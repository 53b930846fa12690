"""How many samples each shard holds, so a source can be read in exact passes.

The count comes from the manifest that ``python -m datamodules.shards`` writes next to its shards
(``<SOURCE>-<LANG>.manifest.json``, a ``shard_files`` list of ``{"path", "samples"}``); a shard that
no manifest lists is counted from its tar headers (no file contents are read). A manifest's count
is what the shard should hold: a shard that ends earlier was truncated, and the stream counts it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tarfile
from dataclasses import dataclass

from webdataset.tariterators import base_plus_ext

log = logging.getLogger(__name__)

# What WebDataset's tar reader leaves out (webdataset.tariterators.tar_file_iterator).
_META = re.compile(r"__[^/]*__($|/)")


@dataclass(frozen=True)
class ShardCount:
    """Samples in one shard and where the number comes from.

    Args:
        samples: Samples the shard holds (or should hold, per its manifest).
        manifest: The manifest that lists the shard, or None when counted from the tar.
        error: Why the tar could not be counted (the shard is then taken as empty).
    """

    samples: int
    manifest: str | None = None
    error: str | None = None


def _manifests(folder: str) -> dict[str, tuple[int, str]]:
    """Shard file name -> (samples, manifest path) for every manifest in ``folder``."""
    listed: dict[str, tuple[int, str]] = {}
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".manifest.json"))
    except OSError:
        return listed
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as file:
                shards = json.load(file).get("shard_files", [])
            for shard in shards:
                listed[os.path.basename(shard["path"])] = (int(shard["samples"]), path)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("ignoring manifest %s, which cannot be read: %s", path, error)
    return listed


def scan_tar(path: str) -> int:
    """Samples in a tar as WebDataset groups them (files sharing a key in a row), from headers."""
    samples, key = 0, None
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            name = member.name
            if not member.isreg() or _META.match(name) or (name.startswith("__") and name.endswith("__")):
                continue
            prefix, _ = base_plus_ext(name)
            if prefix is not None and prefix != key:
                samples, key = samples + 1, prefix
    return samples


def _listed(paths: list[str]) -> list[tuple[int, str] | None]:
    folders: dict[str, dict[str, tuple[int, str]]] = {}
    out = []
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in folders:
            folders[folder] = _manifests(folder)
        out.append(folders[folder].get(os.path.basename(path)))
    return out


def manifest_counts(paths: list[str]) -> list[ShardCount | None]:
    """Each shard's count as its manifest states it, or None where no manifest lists it."""
    return [None if listed is None else ShardCount(*listed) for listed in _listed(paths)]


def count_shards(paths: list[str]) -> list[ShardCount]:
    """Samples in each shard: its manifest's count, else a scan of its tar headers."""
    counts = []
    for path, listed in zip(paths, manifest_counts(paths)):
        if listed is not None:
            counts.append(listed)
            continue
        try:
            counts.append(ShardCount(scan_tar(path)))
        except (tarfile.TarError, OSError, EOFError) as error:
            counts.append(ShardCount(0, error=f"{type(error).__name__}: {error}"))
    return counts
