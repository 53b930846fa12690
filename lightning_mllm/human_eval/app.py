"""The rating web app: one blind pairwise item at a time, judgments saved as they are made.

Routes:
    GET  /                      the single page (``templates/index.html`` + ``static/``), no data
    GET  /api/next              the rater's progress and next unrated item (or ``done``)
    POST /api/judgments         ``{item_id, choice, comment}``; saves it, answers like /api/next
    GET  /images/<item_id>      the image of one item of the set, nothing else

Every ``/api`` and ``/images`` request needs ``Authorization: Bearer <token>`` with the token of
an active invite (``invites.py``); without one it gets 401 and nothing is read or written. The
rater is the invite's: a ``rater`` in the request body is ignored, so nobody can rate under
another's name. The page takes the token from its invite link's fragment (``#invite=...``), which
browsers never send to a server, so it stays out of access logs and Referer headers.

The judgments file is the only state: a rater's next item is the first item of the set, in set
order, that the file holds no judgment of theirs for, so a reload, a second browser or a restarted
server resumes at the right place. Model names and item keys never leave the server
(``rating_set.public_item``). Images are looked up by item id in the set, never by a path from the
request, so no other file can be reached.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from flask import Flask, abort, current_app, jsonify, render_template, request, send_file

from lightning_mllm.human_eval.invites import InviteError, invites_path, load_invites, rater_for
from lightning_mllm.human_eval.judgments_store import append_judgment, ensure_writable, make_judgment, rated_by
from lightning_mllm.human_eval.rating_set import load_rating_set, public_item

PACKAGE_DIR = Path(__file__).resolve().parent
MAX_REQUEST_BYTES = 64 * 1024  # a judgment is a few hundred bytes; a comment at most 4000 characters
# Answers are model output: the page renders them as text, and this policy stops any script or
# frame that is not the page's own even if one slipped through. blob: for the fetched images.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def bearer_token() -> str | None:
    """The token of the request's ``Authorization: Bearer`` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


class RatingSession:
    """The rating set in memory, the judgments file it writes to and the invites it admits."""

    def __init__(self, set_path: str | Path, judgments_path: str | Path) -> None:
        self.header, self.items = load_rating_set(set_path)
        self.by_id = {item["item_id"]: item for item in self.items}
        self.judgments_path = ensure_writable(judgments_path)
        self.invites_path = invites_path(self.judgments_path)
        load_invites(self.invites_path)  # a broken invites file fails at start, not on a rater
        # Serialises "already rated?" + append within this server; flock covers other processes.
        self.lock = threading.Lock()

    def rater(self) -> str:
        """The rater of the request's invite token; 401 without an active one."""
        token = bearer_token()
        if token is None:
            abort(401, description="an invite link is needed (ask the organiser for yours)")
        # Read on every request (a small file): invites and revocations apply without a restart.
        try:
            invites = load_invites(self.invites_path)
        except InviteError as err:  # hand-edited into a broken state while serving: refuse everyone
            current_app.logger.error("%s", err)
            abort(503, description="the server cannot read its invites file; tell the organiser")
        rater = rater_for(invites, token)
        if rater is None:
            abort(401, description="this invite link is not valid or has been revoked")
        return rater

    def state(self, rater: str) -> dict[str, Any]:
        """The rater's progress and next unrated item, as the page expects it."""
        rated = rated_by(self.judgments_path, rater) & self.by_id.keys()
        upcoming = next((item for item in self.items if item["item_id"] not in rated), None)
        state: dict[str, Any] = {"rater": rater, "rated": len(rated), "total": len(self.items),
                                 "done": upcoming is None, "item": None}
        if upcoming is not None:
            image = upcoming.get("image")
            state["item"] = dict(public_item(upcoming), image_url=f"images/{upcoming['item_id']}" if image else None)
        return state

    def submit(self, rater: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Saves one judgment of ``rater``; (state, HTTP status). 409 when they already judged the item."""
        item_id = body.get("item_id")
        if item_id not in self.by_id:
            abort(404, description="no such item in this rating set")
        try:
            judgment = make_judgment(item_id, rater, body.get("choice", ""), body.get("comment") or "")
        except (ValueError, AttributeError) as err:
            abort(400, description=str(err))
        with self.lock:
            if item_id in rated_by(self.judgments_path, rater):
                return self.state(rater), 409  # a second tab or a double click: keep the first
            append_judgment(self.judgments_path, judgment)
        return self.state(rater), 200


def create_app(set_path: str | Path, judgments_path: str | Path) -> Flask:
    """The Flask app serving ``set_path``, appending to ``judgments_path``, admitting its invites."""
    app = Flask(__name__, template_folder=str(PACKAGE_DIR / "templates"), static_folder=str(PACKAGE_DIR / "static"))
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    session = RatingSession(set_path, judgments_path)
    app.config["RATING_SESSION"] = session

    @app.get("/")
    def index():
        return render_template("index.html")

    @app.get("/api/next")
    def next_item():
        return jsonify(session.state(session.rater()))

    @app.post("/api/judgments")
    def judgments():
        rater = session.rater()  # before the body is even parsed
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400, description="expected a JSON object")
        state, status = session.submit(rater, body)
        return jsonify(state), status

    @app.get("/images/<item_id>")
    def image(item_id: str):
        session.rater()
        item = session.by_id.get(item_id)
        path = Path(item["image"]) if item and item.get("image") else None
        if path is None or not path.is_file():
            abort(404)
        response = send_file(path, max_age=3600)
        response.cache_control.public, response.cache_control.private = False, True  # for the rater only
        return response

    @app.after_request
    def headers(response):
        response.headers.update(SECURITY_HEADERS)
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(400)
    @app.errorhandler(401)
    @app.errorhandler(404)
    @app.errorhandler(413)
    @app.errorhandler(503)
    def error(err):
        response = jsonify(error=err.description)
        if err.code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="rating"'
        return response, err.code

    return app
