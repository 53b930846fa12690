"""Conversion speed of the URL recipe path against a local HTTP server (no network):

    python -m datamodules.recipes.bench --images 200 --rows-per-image 3

serves photo-like 640x480 JPEGs from 127.0.0.1, writes PixMo-shaped rows (``image_url``,
``image_sha256``, ``question``, ``answer``), then times the download (images/s, and per download
thread) and the conversion to shards (rows/s and images/s per worker process).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from datamodules.row_conversations import RowOptions
from datamodules.shards import convert_to_shards
from datamodules.url_images import DownloadSettings, download


def photo(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG with a photo's smooth gradients and noise (compresses like a photo, not a flat fill)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    base = np.stack([(x * rng.uniform(0.1, 0.5) + y * rng.uniform(0.1, 0.5)) % 256 for _ in range(3)], -1)
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def serve(images: dict[str, bytes]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = images.get(self.path.lstrip("/"))
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m datamodules.recipes.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200, help="distinct images served")
    parser.add_argument("--rows-per-image", type=int, default=3, help="question/answer rows per image")
    parser.add_argument("--download-workers", type=int, default=8, help="download threads")
    parser.add_argument("--workers", type=int, default=1, help="conversion processes")
    args = parser.parse_args(argv)
    images = {f"{i}.jpg": photo(i) for i in range(args.images)}
    server, url = serve(images)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = [{"image_url": f"{url}/{name}", "image_sha256": hashlib.sha256(data).hexdigest(),
                 "question": f"What is in image {name}, question {k}?", "answer": f"Answer {k} about {name}."}
                for name, data in images.items() for k in range(args.rows_per_image)]
        pq.write_table(pa.Table.from_pylist(rows), folder / "rows.parquet")
        started = time.perf_counter()
        fetched = download(((r["image_url"], r["image_sha256"]) for r in rows), folder / "images",
                           DownloadSettings(workers=args.download_workers))
        fetch_s = time.perf_counter() - started
        options = RowOptions(format="rows", source="bench", lang="en", url_column="image_url",
                             sha256_column="image_sha256", image_folder=str(folder / "images"))
        started = time.perf_counter()
        summary = convert_to_shards([str(folder / "rows.parquet")], options, str(folder / "shards"),
                                    workers=args.workers, progress=False)
        convert_s = time.perf_counter() - started
    server.shutdown()
    result = {"images_per_s_download": fetched.fetched / fetch_s,
              "images_per_s_download_per_thread": fetched.fetched / fetch_s / args.download_workers,
              "rows_per_s_convert_per_worker": len(rows) / convert_s / args.workers,
              "images_per_s_convert_per_worker": summary.with_image / convert_s / args.workers,
              "mean_image_kb": sum(map(len, images.values())) / len(images) / 1024}
    print(f"{len(rows)} rows, {fetched.fetched} images fetched ({fetched.failed or 'no failures'}), "
          f"{summary.samples} samples; " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()))
    return result


if __name__ == "__main__":
    main()
