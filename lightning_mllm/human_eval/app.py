"""The rating web app: one blind pairwise item at a time, judgments saved as they are made.

Routes:
    GET  /                      the single page (``templates/index.html`` + ``static/``)
    GET  /api/next?rater=NAME   the rater's progress and next unrated item (or ``done``)
    POST /api/judgments         ``{rater, item_id, choice, comment}``; saves it, answers like /api/next
    GET  /images/<item_id>      the image of one item of the set, nothing else

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

from flask import Flask, abort, jsonify, render_template, request, send_file

from lightning_mllm.human_eval.judgments_store import (
    MAX_RATER_CHARS,
    append_judgment,
    ensure_writable,
    make_judgment,
    rated_by,
)
from lightning_mllm.human_eval.rating_set import load_rating_set, public_item

PACKAGE_DIR = Path(__file__).resolve().parent


def _rater(value: Any) -> str:
    rater = value.strip() if isinstance(value, str) else ""
    if not rater or len(rater) > MAX_RATER_CHARS:
        abort(400, description=f"a rater name of 1 to {MAX_RATER_CHARS} characters is required")
    return rater


class RatingSession:
    """The rating set in memory and the judgments file it writes to."""

    def __init__(self, set_path: str | Path, judgments_path: str | Path) -> None:
        self.header, self.items = load_rating_set(set_path)
        self.by_id = {item["item_id"]: item for item in self.items}
        self.judgments_path = ensure_writable(judgments_path)
        # Serialises "already rated?" + append within this server; flock covers other processes.
        self.lock = threading.Lock()

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

    def submit(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Saves one judgment; (state, HTTP status). 409 when the rater already judged that item."""
        rater = _rater(body.get("rater"))
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
    """The Flask app serving ``set_path`` and appending to ``judgments_path``."""
    app = Flask(__name__, template_folder=str(PACKAGE_DIR / "templates"), static_folder=str(PACKAGE_DIR / "static"))
    session = RatingSession(set_path, judgments_path)
    app.config["RATING_SESSION"] = session

    @app.get("/")
    def index():
        return render_template("index.html", total=len(session.items))

    @app.get("/api/next")
    def next_item():
        return jsonify(session.state(_rater(request.args.get("rater"))))

    @app.post("/api/judgments")
    def judgments():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400, description="expected a JSON object")
        state, status = session.submit(body)
        return jsonify(state), status

    @app.get("/images/<item_id>")
    def image(item_id: str):
        item = session.by_id.get(item_id)
        path = Path(item["image"]) if item and item.get("image") else None
        if path is None or not path.is_file():
            abort(404)
        return send_file(path, max_age=3600)

    @app.errorhandler(400)
    @app.errorhandler(404)
    def error(err):
        return jsonify(error=err.description), err.code

    return app


def serve(set_path: str, judgments_path: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Runs the app with Werkzeug's threaded server (a few raters on a local network)."""
    app = create_app(set_path, judgments_path)
    print(f"rating {len(app.config['RATING_SESSION'].items)} items; judgments go to {judgments_path}; "
          f"open http://{host}:{port}/")
    app.run(host=host, port=port, threaded=True)
