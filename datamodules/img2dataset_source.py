"""img2dataset's WebDataset output (``00000.tar`` holding ``{key}.jpg``, ``{key}.txt`` caption,
``{key}.json`` metadata with ``url``, ``caption``, ``sha256``, ``status``..., next to ``00000.parquet``
listing every URL of the shard with its ``status`` and ``error_message``) as input.

Two uses: CC3M's tars become caption conversations directly (the image bytes are copied, never
re-encoded), and ``Img2datasetIndex`` joins rows that name images by URL (CC3M-eu captions, PixMo
rows downloaded with img2dataset) to the images in the tars. URLs img2dataset could not fetch are
counted as rejects with its status (``img2dataset_failed_to_download``, ...).
"""

from __future__ import annotations

import glob
import json
import os
import tarfile
from collections.abc import Iterator
from typing import Any

from datamodules.caption_prompts import caption_prompt
from datamodules.raw_formats import ConvertOptions, RawRecord, Reject

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
SUCCESS = "success"


def tar_files(folder: str) -> list[str]:
    """img2dataset's shard tars under ``folder``, sorted."""
    files = sorted(glob.glob(os.path.join(folder, "**", "*.tar"), recursive=True))
    if not files:
        raise FileNotFoundError(f"{folder} holds no .tar files (img2dataset --output_format webdataset output)")
    return files


def tar_samples(path: str) -> Iterator[tuple[str, dict[str, tarfile.TarInfo], tarfile.TarFile]]:
    """``(key, {extension: member}, tar)`` per sample, in tar order (img2dataset writes a
    sample's files together)."""
    with tarfile.open(path) as tar:
        key, members = None, {}
        for member in tar:
            if not member.isfile():
                continue
            name = os.path.basename(member.name)
            stem, _, ext = name.partition(".")
            if stem != key and members:
                yield key, members, tar
                members = {}
            key = stem
            members[ext.lower()] = member
        if members:
            yield key, members, tar


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    file = tar.extractfile(member)
    assert file is not None
    return file.read()


def failed_urls(tar_path: str) -> Iterator[tuple[str, str, str]]:
    """``(url, status, error_message)`` of the URLs img2dataset could not fetch for this shard,
    from the Parquet file it writes next to the tar (nothing when that file is absent)."""
    parquet = os.path.splitext(tar_path)[0] + ".parquet"
    if not os.path.isfile(parquet):
        return
    import pyarrow.parquet as pq

    names = set(pq.read_schema(parquet).names)
    if not {"url", "status"} <= names:
        return
    columns = ["url", "status"] + (["error_message"] if "error_message" in names else [])
    for row in pq.read_table(parquet, columns=columns).to_pylist():
        if row["status"] != SUCCESS:
            yield row["url"], str(row["status"]), str(row.get("error_message") or "")


def read_img2dataset_records(path: str, options: ConvertOptions) -> Iterator[RawRecord]:
    """Caption conversations of one img2dataset tar; the caption is the ``txt`` file, or the
    metadata key named by ``options.caption_column`` when that is not ``txt``."""
    caption_key = getattr(options, "caption_column", None) or "txt"
    for url, status, error in failed_urls(path):
        yield RawRecord(f"{path}:{url}", error=Reject(f"img2dataset_{status}", error[:300]))
    for key, members, tar in tar_samples(path):
        where = f"{path}:{key}"
        try:
            meta = json.loads(_read(tar, members["json"])) if "json" in members else {}
            caption = _caption(tar, members, meta, caption_key, where)
            image_ext = next((e for e in IMAGE_EXTENSIONS if e in members), None)
            if image_ext is None:
                raise Reject("missing_image", f"{where} has no image file")
            image = _read(tar, members[image_ext])
        except Reject as reject:
            yield RawRecord(where, error=reject)
            continue
        messages = [{"role": "user", "content": caption_prompt(options.lang, f"{os.path.basename(path)}:{key}")},
                    {"role": "assistant", "content": caption}]
        yield RawRecord(where, {"messages": messages, "image": image, "lang": options.lang,
                                "id": str(meta.get("key") or key)})


def _caption(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], meta: dict[str, Any], key: str,
             where: str) -> str:
    if key == "txt":
        text = _read(tar, members["txt"]).decode("utf-8", errors="replace") if "txt" in members else ""
    else:
        text = meta.get(key) or ""
    if not isinstance(text, str) or not text.strip():
        raise Reject("no_assistant_turn", f"{where}: no caption in {key!r}")
    return text.strip()


class Img2datasetIndex:
    """URL -> image bytes over a folder of img2dataset tars (offsets kept, bytes read on demand).

    Args:
        folder: The img2dataset output folder.
    """

    def __init__(self, folder: str):
        self.images: dict[str, tuple[str, int, int]] = {}
        self.failures: dict[str, tuple[str, str]] = {}
        for path in tar_files(folder):
            for url, status, error in failed_urls(path):
                self.failures[url] = (status, error)
            for key, members, tar in tar_samples(path):
                image_ext = next((e for e in IMAGE_EXTENSIONS if e in members), None)
                if "json" not in members or image_ext is None:
                    continue
                url = json.loads(_read(tar, members["json"])).get("url")
                if url:
                    member = members[image_ext]
                    self.images[url] = (path, member.offset_data, member.size)

    def image(self, url: str) -> bytes:
        """The bytes of ``url``'s image; ``Reject`` with img2dataset's status when it has none."""
        if url in self.images:
            path, offset, size = self.images[url]
            with open(path, "rb") as file:
                file.seek(offset)
                return file.read(size)
        if url in self.failures:
            status, error = self.failures[url]
            raise Reject(f"img2dataset_{status}", f"{url}: {error[:300]}")
        raise Reject("image_not_downloaded", f"{url} is in no img2dataset tar")
