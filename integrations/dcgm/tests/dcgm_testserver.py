"""A loopback HTTP server serving recorded exporter payloads, for the DCGM tests.

Binds 127.0.0.1 on a free port, serves from a daemon thread, and shuts down on
exit of its ``with`` block. The test sets ``server.routes[path] = body`` to
change what the next request sees.
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "dcgm_payloads"


def payload(name: str) -> str:
    return (PAYLOADS / name).read_text(encoding="utf-8")


class PayloadServer:
    """``with PayloadServer() as srv: srv.routes["/metrics"] = text; srv.url("/metrics")``."""

    def __init__(self) -> None:
        self.routes: dict[str, str] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                outer.requests.append((parsed.path, urllib.parse.parse_qs(parsed.query)))
                body = outer.routes.get(parsed.path)
                if body is None:
                    self.send_error(404, "no such route")
                    return
                data = body.encode("utf-8")
                kind = "application/json" if body.lstrip().startswith("{") else "text/plain"
                self.send_response(200)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.timeout = 2.0
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> PayloadServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def closed_port_url(path: str = "/metrics") -> str:
    """A loopback URL on a port nothing listens on (connection refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
