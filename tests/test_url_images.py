"""Images by URL against a real HTTP server on 127.0.0.1: good images, dead links, slow replies,
wrong bytes and bad checksums are each counted with their reason; a rerun after a kill fetches
only what is missing; a 503 is retried; large images are shrunk."""

from __future__ import annotations

import json

from PIL import Image
from data_fixtures import ImageServer, distinct_image, sha256

from datamodules.url_images import LOG, DownloadSettings, UrlImageStore, download, main

FAST = dict(workers=4, timeout=1.0, retries=1, backoff=0.05)


def _urls(server: ImageServer) -> list[tuple[str, str | None]]:
    good = [(f"{server.url}/img/{i}.jpg", sha256(distinct_image(i))) for i in range(6)]
    return good + [(f"{server.url}/dead/1.jpg", None), (f"{server.url}/slow/2.jpg", None),
                   (f"{server.url}/junk/3.jpg", None), (f"{server.url}/img/7.jpg", "0" * 64)]


def test_each_failure_is_counted_with_its_reason(tmp_path):
    with ImageServer() as server:
        summary = download(_urls(server), tmp_path, DownloadSettings(**FAST))
        outcomes = UrlImageStore(tmp_path).outcomes()
        slow_hits = server.hits["/slow/2.jpg"]
    assert summary.fetched == 6
    assert summary.failed == {"download_checksum": 1, "download_http_404": 1, "download_timeout": 1,
                              "download_undecodable": 1}
    assert slow_hits == 2  # one try and one retry, then given up
    for i in range(6):
        entry = outcomes[f"{server.url}/img/{i}.jpg"]
        stored = (tmp_path / entry["file"]).read_bytes()
        assert stored == distinct_image(i) and entry["sha256"] == sha256(stored)
    assert not list(tmp_path.rglob("*.partial"))


def test_rerun_after_a_kill_fetches_only_what_is_missing(tmp_path):
    with ImageServer() as server:
        urls = _urls(server)
        download(urls, tmp_path, DownloadSettings(**FAST))
        # A kill mid-run: the log holds the first three outcomes and half a line.
        log = tmp_path / LOG
        lines = log.read_text().splitlines(keepends=True)
        kept = {json.loads(line)["url"] for line in lines[:3]}
        log.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
        server.hits.clear()
        rerun = download(urls, tmp_path, DownloadSettings(**FAST))
        hits = set(server.hits)
        # A third run: dead links, bad checksums and junk are settled; only the timeout is tried again.
        server.hits.clear()
        third = download(urls, tmp_path, DownloadSettings(**FAST))
        third_hits = set(server.hits)
    assert rerun.skipped == 3
    # Exactly what was not settled before the kill was fetched again.
    assert hits == {u.removeprefix(server.url) for u, _ in urls if u not in kept}
    assert third_hits == {"/slow/2.jpg"}
    assert third.skipped == len(urls) - 1 and third.failed == {"download_timeout": 1}


def test_a_503_is_retried_and_big_images_are_shrunk(tmp_path):
    with ImageServer() as server:
        urls = [(f"{server.url}/flaky/3.jpg", None), (f"{server.url}/big/4.jpg", None)]
        summary = download(urls, tmp_path, DownloadSettings(**FAST, max_side=100))
        assert server.hits["/flaky/3.jpg"] == 2
    assert summary.fetched == 2 and not summary.failed
    outcomes = UrlImageStore(tmp_path).outcomes()
    with Image.open(tmp_path / outcomes[urls[1][0]]["file"]) as big:
        assert max(big.size) == 100 and big.size == (100, 75)
    with Image.open(tmp_path / outcomes[urls[0][0]]["file"]) as small:
        assert small.size == (64, 48)  # under the bound: kept as served


def test_command_line_reads_urls_from_rows(tmp_path, capsys):
    with ImageServer() as server:
        rows = tmp_path / "rows.jsonl"
        rows.write_text("".join(json.dumps({"image_url": f"{server.url}/img/{i}.jpg",
                                            "image_sha256": sha256(distinct_image(i))}) + "\n" for i in range(3)))
        summary = main([str(rows), "--out", str(tmp_path / "images"), "--sha256-column", "image_sha256",
                        "--workers", "2", "--timeout", "2"])
    assert summary.fetched == 3 and "fetched 3" in capsys.readouterr().out
