"""Images of rows that name them by URL: from a ``url_images`` download folder or from img2dataset
tars, joined by URL. A URL that failed to download becomes a reject with the download's reason."""

from __future__ import annotations

import os
from typing import Any

from datamodules.img2dataset_source import Img2datasetIndex
from datamodules.raw_formats import Reject
from datamodules.url_images import OK, UrlImageStore


class ImageLookup:
    """Image of a URL as ``{"path": ...}`` (the worker reads it) or bytes; ``Reject`` otherwise.

    Args:
        image_folder: A ``python -m datamodules.url_images`` output folder (or None).
        image_tars: A folder of img2dataset WebDataset tars (or None).
    """

    def __init__(self, image_folder: str | None, image_tars: str | None):
        self.image_folder, self.image_tars = image_folder, image_tars
        self._outcomes: dict[str, dict] | None = None
        self._index: Img2datasetIndex | None = None

    def get(self, url: str) -> Any:
        if self.image_folder:
            return self._from_folder(url)
        if self.image_tars:
            if self._index is None:
                self._index = Img2datasetIndex(self.image_tars)
            return self._index.image(url)
        raise Reject("image_not_downloaded", f"{url}: no image folder or img2dataset tars given "
                                             f"(prepare with --fetch-images, --images or --image-tars)")

    def _from_folder(self, url: str) -> dict[str, str]:
        if self._outcomes is None:
            self._outcomes = UrlImageStore(self.image_folder).outcomes()
        outcome = self._outcomes.get(url)
        if outcome is None:
            raise Reject("image_not_downloaded", f"{url} is not in {self.image_folder}/downloads.jsonl "
                                                 f"(run python -m datamodules.url_images, or prepare with --fetch-images)")
        if outcome["status"] != OK:
            raise Reject(outcome["status"], f"{url}: {outcome.get('detail', '')}")
        # The download folder is the root its files are checked against (not image_root).
        return {"path": outcome["file"], "root": self.image_folder}
