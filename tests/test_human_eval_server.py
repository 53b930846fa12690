"""The rating server's access control, through the real waitress server on 127.0.0.1: invites are
stored hashed, a missing, wrong or revoked token is refused and writes nothing, and a valid token
writes under its own rater whatever the request claims."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import stat
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import serve_rating_app
from PIL import Image

from lightning_mllm.human_eval.__main__ import main, parser, start_server
from lightning_mllm.human_eval.invites import invites_path
from lightning_mllm.human_eval.rating_set import SET_FORMAT, write_rating_set
from lightning_mllm.human_eval.server import is_loopback


@pytest.fixture
def rating_set(tmp_path) -> Path:
    """Two items, the first with an image."""
    image = tmp_path / "blue.png"
    Image.new("RGB", (8, 8), (20, 40, 200)).save(image)
    header = {"format": SET_FORMAT, "seed": 0, "models": ["m1", "m2"], "langs": ["en"], "per_cell": 2}
    items = [{"item_id": f"item{n}", "key": f"wild/en/{n}", "benchmark": "wild", "lang": "en", "id": str(n),
              "image": str(image) if n == 0 else None, "prompt": f"Prompt number {n}", "answer_a": "left",
              "answer_b": "right", "model_a": "m1", "model_b": "m2"} for n in range(2)]
    return write_rating_set(tmp_path / "set.jsonl", header, items)


def _invite(judgments: Path, rater: str, capsys) -> str:
    """The token of a new invite, taken from the link the command prints."""
    main(["invite", "--judgments", str(judgments), "--rater", rater, "--url", "http://raters.example:8000/"])
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://raters.example:8000/#invite=")
    return link.split("#invite=", 1)[1]


class Client:
    """Plain HTTP requests to a running server; answers (status, headers, body bytes)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def request(self, path: str, authorization: str | None = None, body: dict | None = None):
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def judge(self, token: str, **body):
        status, _, raw = self.request("api/judgments", f"Bearer {token}", {"comment": "", **body})
        return status, json.loads(raw)


@pytest.fixture
def served(rating_set, tmp_path):
    """The app behind waitress on a free 127.0.0.1 port; yields (client, judgments path)."""
    judgments = tmp_path / "judgments.jsonl"
    with serve_rating_app(rating_set, judgments) as url:
        yield Client(url), judgments


def test_invites_are_stored_hashed_private_and_one_active_per_rater(tmp_path, capsys):
    judgments = tmp_path / "human" / "judgments.jsonl"
    token = _invite(judgments, " Ane ", capsys)
    path = invites_path(judgments)
    assert path == tmp_path / "human" / "judgments.invites.json"
    stored = path.read_text()
    assert len(token) >= 43 and token not in stored  # 32 random bytes, never written in clear
    entry = json.loads(stored)["invites"][0]
    assert entry["rater"] == "Ane" and entry["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".partial")]  # atomic: no leftovers
    with pytest.raises(SystemExit, match="already has an active invite"):
        _invite(judgments, "Ane", capsys)
    for bad in ("", "x" * 81, "Ane\x1b[2J"):
        with pytest.raises(SystemExit, match="rater name"):
            main(["invite", "--judgments", str(judgments), "--rater", bad])
    with pytest.raises(SystemExit, match="no active invite for 'Bob'"):
        main(["revoke", "--judgments", str(judgments), "--rater", "Bob"])
    path.write_text('{"format": "something else"}')
    with pytest.raises(SystemExit, match="not an invites file"):
        _invite(judgments, "Bob", capsys)


def test_missing_or_wrong_tokens_are_refused_and_write_nothing(served, capsys):
    client, judgments = served
    token = _invite(judgments, "Ane", capsys)
    stored_hash = hashlib.sha256(token.encode()).hexdigest()
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    refused = [None, "", "Bearer", "Bearer ", f"Basic {token}", token, f"Bearer {secrets.token_urlsafe(32)}",
               f"Bearer {flipped}", f"Bearer {token[:20]}", f"Bearer {token}x", f"Bearer {stored_hash}",
               "Bearer " + "a" * 5000]
    body = {"item_id": "item0", "choice": "A", "comment": "", "rater": "Ane"}
    for authorization in refused:
        for path, payload in (("api/judgments", body), ("api/next", None), ("images/item0", None)):
            status, headers, raw = client.request(path, authorization, payload)
            assert status == 401, (authorization, path)
            assert headers["WWW-Authenticate"].startswith("Bearer") and b"Prompt number" not in raw
    assert judgments.read_bytes() == b""
    # The page itself is open (it holds no data) and says nothing about the set.
    status, headers, page = client.request("")
    assert status == 200 and b"Prompt number" not in page and "script-src" not in headers["Content-Security-Policy"]
    # The right token works on the same server (so the refusals above were about the tokens).
    assert client.judge(token, item_id="item0", choice="A")[0] == 200


def test_a_valid_token_writes_under_its_own_rater_only(served, capsys):
    client, judgments = served
    ane, bob = _invite(judgments, "Ane", capsys), _invite(judgments, "Bob", capsys)
    status, state = client.judge(ane, item_id="item0", choice="B", rater="Bob", comment="mine")
    assert status == 200 and state["rater"] == "Ane" and state["rated"] == 1
    saved = [json.loads(line) for line in judgments.read_text().splitlines()]
    assert [(j["rater"], j["item_id"], j["choice"], j["comment"]) for j in saved] == [("Ane", "item0", "B", "mine")]
    status, _, raw = client.request("api/next", f"Bearer {bob}")
    assert status == 200 and json.loads(raw)["rated"] == 0 and json.loads(raw)["rater"] == "Bob"
    status, headers, raw = client.request("images/item0", f"Bearer {bob}")
    assert status == 200 and raw[:4] == b"\x89PNG" and "private" in headers["Cache-Control"]
    # A repeat by the same rater is refused (409) and writes nothing more.
    assert client.judge(ane, item_id="item0", choice="A")[0] == 409
    assert len(judgments.read_text().splitlines()) == 1


def test_revoking_takes_effect_on_the_running_server(served, capsys):
    client, judgments = served
    ane, bob = _invite(judgments, "Ane", capsys), _invite(judgments, "Bob", capsys)
    assert client.judge(ane, item_id="item0", choice="tie")[0] == 200
    main(["revoke", "--judgments", str(judgments), "--rater", "Ane"])
    assert "revoked 1 invite" in capsys.readouterr().out
    assert client.judge(ane, item_id="item1", choice="A")[0] == 401
    assert client.judge(bob, item_id="item1", choice="A")[0] == 200
    new_ane = _invite(judgments, "Ane", capsys)  # a replacement link; the old one stays refused
    assert client.judge(ane, item_id="item1", choice="A")[0] == 401
    status, state = client.judge(new_ane, item_id="item1", choice="B")
    assert status == 200 and state["done"] and state["rated"] == 2  # her earlier judgment still counts
    main(["raters", "--judgments", str(judgments)])
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["Ane", "Bob", "Ane"]
    assert listed[0].split("\t")[1].startswith("revoked ") and listed[2].endswith("2 judgments")
    assert listed[1].split("\t")[1] == "active" and not any(ane in line or new_ane in line for line in listed)
    # An invites file broken while serving refuses everyone (503) rather than letting anyone in.
    invites_path(judgments).write_text("{not json")
    assert client.judge(bob, item_id="item0", choice="A")[0] == 503
    assert len(judgments.read_text().splitlines()) == 3


def test_serve_command_binds_loopback_only_with_waitress(rating_set, tmp_path, capsys):
    judgments = tmp_path / "judgments.jsonl"
    token = _invite(judgments, "Ane", capsys)
    args = parser().parse_args(["serve", "--set", str(rating_set), "--judgments", str(judgments), "--port", "0"])
    server = start_server(args)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        printed = capsys.readouterr().out
        host, port = server.address
        assert host == "127.0.0.1" and f"serving with waitress at http://127.0.0.1:{port}/" in printed
        assert f"http://127.0.0.1:{port}/#invite=<their token>" in printed and "1 active: Ane" in printed
        status, headers, _ = Client(server.base_url).request("api/next", f"Bearer {token}")
        assert status == 200 and headers["Server"] == "rating"  # waitress's ident; Werkzeug names itself
        # Bound to 127.0.0.1 itself, not every address: another loopback address finds nobody there.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.2", port), timeout=5).close()
    finally:
        server.stop()
        thread.join(10)


def test_loopback_hosts():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "raters.example"))
