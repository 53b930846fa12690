"""Fixtures for the published-data tests: distinct images, a real HTTP server on 127.0.0.1 that
serves good images, dead links, slow replies, wrong bytes and a flaky 503, and a check that
shards stream through the mixture datamodule with labels on the assistant replies only."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image, ImageDraw

SLOW_SECONDS = 3.0


def distinct_image(seed: int, size: tuple[int, int] = (64, 48), fmt: str = "JPEG") -> bytes:
    """A picture no other seed gives: random coloured shapes over smoothed noise."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (size[1] // 8 + 1, size[0] // 8 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(noise).resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x0, y0 = int(rng.integers(0, size[0] - 8)), int(rng.integers(0, size[1] - 8))
        x1, y1 = x0 + int(rng.integers(6, size[0] // 2)), y0 + int(rng.integers(6, size[1] // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ImageServer:
    """``/img/{n}.jpg`` a distinct image, ``/big/{n}.jpg`` a 400x300 one, ``/dead/...`` 404,
    ``/slow/...`` a reply after ``SLOW_SECONDS``, ``/junk/...`` bytes that are no image,
    ``/flaky/{n}.jpg`` 503 on the first request then the image. ``hits`` counts requests per path."""

    def __init__(self):
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.hits[self.path] += 1
                kind, _, name = self.path.strip("/").partition("/")
                seed = int(name.split(".")[0]) if name.split(".")[0].isdigit() else 0
                if kind == "dead":
                    return self._reply(404, b"not found")
                if kind == "slow":
                    time.sleep(SLOW_SECONDS)
                if kind == "junk":
                    return self._reply(200, b"<html>this is not an image</html>", "text/html")
                if kind == "flaky" and server.hits[self.path] == 1:
                    return self._reply(503, b"busy")
                size = (400, 300) if kind == "big" else (64, 48)
                return self._reply(200, distinct_image(seed, size), "image/jpeg")

            def _reply(self, code: int, body: bytes, kind: str = "text/plain"):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a slow reply

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ImageServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def write_img2dataset_shard(folder, shard: int, entries: list[tuple[str, str, bytes]],
                            failures: list[tuple[str, str]] = ()) -> str:
    """An img2dataset webdataset shard: ``{shard:05d}.tar`` with jpg/txt/json per key and
    ``{shard:05d}.parquet`` listing successes and failures, as img2dataset writes them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / f"{shard:05d}.tar"
    rows = []
    with tarfile.open(path, "w") as tar:
        for i, (url, caption, image) in enumerate(entries):
            key = f"{shard:05d}{i:04d}"
            meta = {"url": url, "caption": caption, "key": key, "status": "success", "error_message": None,
                    "width": 64, "height": 48, "sha256": sha256(image)}
            for ext, data in (("jpg", image), ("txt", caption.encode()), ("json", json.dumps(meta).encode())):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            rows.append({"url": url, "caption": caption, "key": key, "status": "success", "error_message": None})
    for j, (url, error) in enumerate(failures):
        rows.append({"url": url, "caption": "", "key": f"{shard:05d}9{j:03d}", "status": "failed_to_download",
                     "error_message": error})
    pq.write_table(pa.Table.from_pylist(rows), folder / f"{shard:05d}.parquet")
    return str(path)


def tiny_processor(folder, max_length: int = 256):
    """The tests' tiny LLM tokenizer and tiny CLIP image processor (``lightning_mllm.tiny_backbones``)
    behind the real ``MultimodalProcessor``. The vision folder skips the tower's pretraining on
    scenes: the processor reads only its config and image processor, and streaming never runs it."""
    from transformers import AutoConfig, CLIPImageProcessor

    from lightning_mllm.processor import MultimodalProcessor
    from lightning_mllm.tiny_backbones import build_vision, ensure_tiny_backbone
    from lightning_mllm.vision_tower import image_token_count

    llm = ensure_tiny_backbone("llm", folder)
    vision = folder / "vision-untrained"
    model = build_vision()
    model.save_pretrained(vision)
    size = model.config.image_size
    CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}).save_pretrained(vision)
    tokens = image_token_count(AutoConfig.from_pretrained(vision), drop_cls=True)
    return MultimodalProcessor.from_pretrained(llm, str(vision), tokens, max_length=max_length)


def shard_records(folder) -> dict[str, dict]:
    """Every sample record of the shards in ``folder`` by id."""
    from datamodules.samples import read_shard

    records = {}
    for shard in sorted(folder.glob("*.tar")):
        for raw in read_shard(str(shard)):
            record = json.loads(raw["json"])
            records[record["id"]] = {**record, "has_image": any(e in raw for e in ("jpg", "png", "webp"))}
    return records


def check_streams_with_labels(folder, processor, name: str, lang: str, batches: int = 2) -> int:
    """Streams ``folder``'s shards through ``MixtureDataModule`` and checks, on every sample
    drawn, that the labelled tokens are the assistant replies and nothing of the user turns.
    Returns the number of samples checked."""
    import torch

    from datamodules.mixture_datamodule import MixtureDataModule
    from lightning_mllm.mixture_weights import Source
    from lightning_mllm.chat_format import IGNORE_INDEX, IMAGE_TOKEN_ID

    records = shard_records(folder)
    dm = MixtureDataModule(train_sources=[Source(name, ["*.tar"], 1.0, lang)], data_root=str(folder), batch_size=2,
                           num_workers=0, samples_per_epoch=2 * batches, shuffle_buffer=4, max_bad_fraction=0.0)
    dm.processor = processor
    dm.setup("fit")
    tokenizer, checked = processor.tokenizer, 0
    for batch in dm.train_dataloader():
        images = int((batch["input_ids"] == IMAGE_TOKEN_ID).sum())
        n_pixels = 0 if batch.get("pixel_values") is None else batch["pixel_values"].shape[0]
        assert images == n_pixels * processor.formatter.image_tokens
        for row, ident in enumerate(batch["ids"]):
            record = records[ident]
            labels = batch["labels"][row]
            labelled = tokenizer.decode(batch["input_ids"][row][labels != IGNORE_INDEX])
            replies = [m["content"] for m in record["messages"] if m["role"] == "assistant"]
            position = 0
            for reply in replies:
                found = labelled.find(reply, position)
                assert found >= 0, f"{ident}: reply {reply!r} not labelled in {labelled!r}"
                position = found + len(reply)
            for message in record["messages"]:
                if message["role"] == "user":
                    question = message["content"].replace("<image>", "").strip().split("\n")[0]
                    assert question not in labelled, f"{ident}: user text {question!r} is labelled"
            assert torch.all(labels[batch["attention_mask"][row] == 0] == IGNORE_INDEX)
            checked += 1
    return checked
