"""A JSON-RPC proxy in front of anvil that loses what a bad network loses.

Each request (or batch) is forwarded unless a rule says to drop it: the connection is then
closed without an answer, as when a load balancer or a flaky link cuts it. Rules name JSON-RPC
methods; `drop_after_forwarding` forwards the call first and loses only the answer (the node did
the work, the client never hears of it), the worst case for anything that moves money.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FlakyRpc:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.drop_methods: set[str] = set()
        self.drop_after_forwarding: set[str] = set()
        self.drops_left: dict[str, int] = {}  # drop only the next n calls of a method (before forwarding)
        self.dropped = 0
        self._guard = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                methods = proxy._methods(body)
                if methods & proxy.drop_methods or proxy._take_counted_drop(methods):
                    proxy._drop(self)
                    return
                request = urllib.request.Request(
                    proxy.upstream, data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = response.read()
                if methods & proxy.drop_after_forwarding:
                    proxy._drop(self)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _methods(self, body: bytes) -> set[str]:
        try:
            parsed = json.loads(body)
        except ValueError:
            return set()
        calls = parsed if isinstance(parsed, list) else [parsed]
        return {str(c.get("method")) for c in calls if isinstance(c, dict)}

    def drop_next(self, method: str, times: int = 1) -> None:
        """Lose the next `times` calls of `method` before they reach the node, then forward again."""
        with self._guard:
            self.drops_left[method] = times

    def _take_counted_drop(self, methods: set[str]) -> bool:
        with self._guard:
            for method in methods:
                if self.drops_left.get(method, 0) > 0:
                    self.drops_left[method] -= 1
                    return True
        return False

    def _drop(self, handler: BaseHTTPRequestHandler) -> None:
        self.dropped += 1
        handler.close_connection = True
        handler.connection.close()

    def heal(self) -> None:
        self.drop_methods.clear()
        self.drop_after_forwarding.clear()
        with self._guard:
            self.drops_left.clear()

    def __enter__(self) -> FlakyRpc:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
