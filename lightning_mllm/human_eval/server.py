"""Serves the rating app with waitress, a production WSGI server, on loopback and network alike.

Waitress serves every host, 127.0.0.1 included, rather than Werkzeug's development server locally
and waitress only on the network: with one server the tests exercise exactly what raters reach,
and waitress costs little (pure Python, no dependencies of its own, a pool of worker threads).
Werkzeug's server says of itself that it is not for production use. The host is 127.0.0.1 unless
``--host`` says otherwise; beyond loopback the command warns that plain HTTP is unencrypted.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from flask import Flask
from waitress import create_server, wasyncore

THREADS = 4  # a few raters at a time; judgments are serialised by the session's lock anyway


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class RatingServer:
    """A bound (listening) waitress server for ``app``; ``run`` serves until ``stop`` or Ctrl-C.

    Args:
        app: The rating app (``app.create_app``).
        host: Address to bind; 127.0.0.1 keeps it on this machine.
        port: Port to bind; 0 picks a free one (see ``address``).
        threads: Worker threads answering requests.
    """

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 8000, threads: int = THREADS) -> None:
        self.socket_map: dict[int, Any] = {}  # ours, so that ``stop`` can close every socket in it
        self.server = create_server(app, map=self.socket_map, host=host, port=port, threads=threads,
                                    ident="rating")
        self.host = host

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound; the first one when a name resolved to several addresses."""
        listen = getattr(self.server, "effective_listen", None)  # only when several sockets
        if listen:
            return str(listen[0][0]), int(listen[0][1])
        return str(self.server.effective_host), int(self.server.effective_port)

    @property
    def base_url(self) -> str:
        """The URL raters open (before ``#invite=``); a wildcard host becomes this machine's name."""
        host, port = self.address
        if host in ("0.0.0.0", "::"):
            host = socket.gethostname()  # no DNS look-up, which could hang on an offline machine
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def run(self) -> None:
        """Serves until ``stop`` is called from another thread or the process is interrupted."""
        self.server.run()

    def stop(self) -> None:
        """Stops accepting, closes every connection and ends ``run`` (called from another thread)."""
        self.server.task_dispatcher.shutdown()
        wasyncore.close_all(self.socket_map)
