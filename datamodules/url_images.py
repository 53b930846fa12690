"""Images by URL into a local folder: bounded concurrency, timeouts, retries with backoff, sha256
checks, optional resize, resumable, every failure kept with its reason.

    python -m datamodules.url_images rows.parquet --url-column image_url \\
        --sha256-column image_sha256 --out $MLLM_DATA/images/pixmo --workers 16

Each URL's outcome is one line of ``{out}/downloads.jsonl`` (appended and flushed as it finishes),
the image itself ``{out}/{hh}/{sha1(url)}.{ext}`` (written under a temporary name, then renamed).
A rerun skips every URL the log already settles: a kill loses only the downloads in flight.
Failures that may pass (timeouts, refused connections, HTTP 429 and 5xx) are tried again by a
rerun; dead links, wrong checksums and replies that are not images are not, unless asked.

img2dataset is the field's tool for this, but its release pins ``webdataset<0.3`` (we pin 1.0.2)
and pulls wandb and OpenCV, so this module uses ``requests`` and reads img2dataset's output
instead (``datamodules/img2dataset_source.py``) for users who ran it elsewhere.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import requests
from PIL import Image, UnidentifiedImageError

from datamodules.column_rows import iter_rows, require_columns, row_files
from lightning_mllm.files import atomic_write, iter_jsonl

LOG = "downloads.jsonl"
OK = "ok"
# Reasons a rerun tries again: the server may answer next time.
TRANSIENT = ("download_timeout", "download_connection", "download_http_429", "download_http_5xx")
SAVED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


@dataclass
class DownloadSettings:
    """How URLs are fetched.

    Args:
        workers: Downloads in flight at once.
        timeout: Seconds to connect and between received bytes before a try fails.
        retries: Extra tries after a timeout, refused connection, HTTP 429 or 5xx.
        backoff: Seconds before the first retry; doubled for each next one.
        max_side: Shrink images whose longer side exceeds this (JPEG, quality 95); None keeps them.
        max_bytes: Largest reply accepted.
        retry_failed: Also try again URLs that failed for good (dead link, checksum, not an image).
        user_agent: The User-Agent header sent.
    """

    workers: int = 16
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    max_side: int | None = None
    max_bytes: int = 50 * 2**20
    retry_failed: bool = False
    user_agent: str = "lightning-mllm-data/1.0 (+image download for research)"


class UrlImageStore:
    """The download folder: which URLs are done, and where their images are."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def path_for(self, url: str, ext: str) -> Path:
        digest = hashlib.sha1(url.encode("utf-8")).hexdigest()
        return self.folder / digest[:2] / f"{digest}.{ext}"

    def outcomes(self) -> dict[str, dict]:
        """The last logged outcome of every URL (a line cut short by a kill is ignored)."""
        outcomes: dict[str, dict] = {}
        log = self.folder / LOG
        if log.exists():
            for _, entry in iter_jsonl(log, errors="yield"):
                if isinstance(entry, dict) and "url" in entry:  # not a line a kill cut short
                    outcomes[entry["url"]] = entry
        return outcomes


@dataclass
class DownloadSummary:
    """What one run did: URLs fetched now, skipped as already settled, and failures by reason."""

    fetched: int
    skipped: int
    failed: dict[str, int]
    seconds: float


def download(urls: Iterable[tuple[str, str | None]], folder: str | os.PathLike,
             settings: DownloadSettings | None = None) -> DownloadSummary:
    """Fetches ``(url, expected sha256 or None)`` pairs into ``folder``; see the module docstring."""
    settings = settings or DownloadSettings()
    store = UrlImageStore(folder)
    store.folder.mkdir(parents=True, exist_ok=True)
    settled = store.outcomes()
    pending, skipped = [], 0
    for url, sha in dict(urls).items():  # each URL once, in first-seen order
        previous = settled.get(url)
        if previous and (previous["status"] == OK or (previous["status"] not in TRANSIENT
                                                      and not settings.retry_failed)):
            skipped += 1
            continue
        pending.append((url, sha))
    started, failed, fetched = time.monotonic(), Counter(), 0
    local = threading.local()
    with open(store.folder / LOG, "a", encoding="utf-8") as log:
        if log.tell() and not _ends_with_newline(store.folder / LOG):
            log.write("\n")  # a kill cut the last line short: start the next one on its own line
        for entry in _run(pending, lambda pair: _fetch(pair, store, settings, local), settings.workers):
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")
            log.flush()
            if entry["status"] == OK:
                fetched += 1
            else:
                failed[entry["status"]] += 1
    return DownloadSummary(fetched, skipped, dict(sorted(failed.items())), time.monotonic() - started)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def _run(items: list, job, workers: int) -> Iterator[dict]:
    """``job`` over ``items`` in ``workers`` threads with at most ``2 * workers`` queued, so a
    list of millions never becomes millions of futures."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        running = set()
        for item in items:
            if len(running) >= 2 * workers:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
            running.add(pool.submit(job, item))
        for future in running:
            yield future.result()


class _Failure(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _fetch(pair: tuple[str, str | None], store: UrlImageStore, settings: DownloadSettings, local) -> dict:
    url, expected = pair
    try:
        data = _get_with_retries(url, settings, local)
        got = hashlib.sha256(data).hexdigest()
        if expected and got != expected.lower():
            raise _Failure("download_checksum", f"sha256 {got} but the data gives {expected}")
        data, ext = _checked_image(data, settings.max_side)
        path = store.path_for(url, ext)
        atomic_write(path, data)  # a unique temporary name per call: threads never share one
        return {"url": url, "status": OK, "file": str(path.relative_to(store.folder)), "sha256": got}
    except _Failure as failure:
        return {"url": url, "status": failure.reason, "detail": failure.detail[:300]}


def _get_with_retries(url: str, settings: DownloadSettings, local) -> bytes:
    if not hasattr(local, "session"):
        local.session = requests.Session()
        local.session.headers["User-Agent"] = settings.user_agent
    for attempt in range(settings.retries + 1):
        try:
            return _get(local.session, url, settings)
        except _Failure as failure:
            if failure.reason not in TRANSIENT or attempt == settings.retries:
                raise
            time.sleep(settings.backoff * 2**attempt)
    raise AssertionError("unreachable")


def _get(session: requests.Session, url: str, settings: DownloadSettings) -> bytes:
    try:
        with session.get(url, timeout=settings.timeout, stream=True) as reply:
            if reply.status_code != 200:
                code = reply.status_code
                raise _Failure(f"download_http_{'5xx' if code >= 500 else code}", f"HTTP {code} from {url}")
            chunks, size = [], 0
            for chunk in reply.iter_content(65536):
                size += len(chunk)
                if size > settings.max_bytes:
                    raise _Failure("download_too_large", f"more than {settings.max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.Timeout as error:
        raise _Failure("download_timeout", f"no reply within {settings.timeout}s ({error})") from error
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
        raise _Failure("download_connection", str(error)) from error
    except requests.RequestException as error:
        raise _Failure("download_bad_url", str(error)) from error


def _checked_image(data: bytes, max_side: int | None) -> tuple[bytes, str]:
    """Decodes the reply fully; shrinks it when asked; returns the bytes to keep and their extension."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            ext = SAVED_FORMATS.get(image.format or "", "png")
            if max_side is None or max(image.size) <= max_side:
                if ext == "png" and image.format != "PNG":
                    return _encode(image, "PNG"), "png"
                return data, ext
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            return _encode(image.convert("RGB"), "JPEG"), "jpg"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise _Failure("download_undecodable", f"the reply is not an image ({error})") from error


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def urls_of(paths: list[str], url_column: str, sha256_column: str | None = None,
            url_setting: str = "--url-column", sha_setting: str = "--sha256-column") -> Iterator[tuple[str, str | None]]:
    """``(url, sha256)`` of every row of the row files under ``paths``."""
    for path in (f for p in paths for f in row_files(p)):
        require_columns(path, {url_setting: url_column, sha_setting: sha256_column})
        columns = [c for c in (url_column, sha256_column) if c]
        for _, row in iter_rows(path, columns):
            if row.get(url_column):
                yield str(row[url_column]), (row.get(sha256_column) if sha256_column else None)


def main(argv: list[str] | None = None) -> DownloadSummary:
    parser = argparse.ArgumentParser(prog="python -m datamodules.url_images", description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", help="row files or folders (Parquet, Arrow, JSONL, JSON, CSV)")
    parser.add_argument("--out", required=True, help="download folder")
    parser.add_argument("--url-column", default="image_url", help="column with the image URL")
    parser.add_argument("--sha256-column", help="column with the expected sha256 of the image bytes")
    for name, value in vars(DownloadSettings()).items():
        kind = type(value) if value is not None else int
        if kind is bool:
            parser.add_argument(f"--{name.replace('_', '-')}", action="store_true")
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value)
    args = parser.parse_args(argv)
    settings = DownloadSettings(**{k: getattr(args, k) for k in vars(DownloadSettings())})
    summary = download(urls_of(args.inputs, args.url_column, args.sha256_column), args.out, settings)
    print(f"fetched {summary.fetched}, already settled {summary.skipped}, failed {sum(summary.failed.values())} "
          f"{summary.failed or ''} in {summary.seconds:.1f}s; log {Path(args.out) / LOG}")
    return summary


if __name__ == "__main__":
    main()
