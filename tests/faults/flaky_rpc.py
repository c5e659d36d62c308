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
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FlakyRpc:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.drop_methods: set[str] = set()
        self.drop_after_forwarding: set[str] = set()
        self.drop_first: dict[str, int] = {}  # method -> how many more requests naming it to drop
        self.down = False  # drop everything, as a node that is not there
        self.dropped = 0
        self.requests = 0  # HTTP requests received (a JSON-RPC batch is one)
        self.calls: Counter[str] = Counter()  # JSON-RPC calls received, by method
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                methods = proxy._methods(body)
                with proxy._lock:
                    proxy.requests += 1
                    proxy.calls.update(proxy._method_list(body))
                    drop_first = [m for m in methods if proxy.drop_first.get(m, 0) > 0]
                    for method in drop_first:
                        proxy.drop_first[method] -= 1
                if proxy.down or drop_first or methods & proxy.drop_methods:
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

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _methods(self, body: bytes) -> set[str]:
        return set(self._method_list(body))

    @staticmethod
    def _method_list(body: bytes) -> list[str]:
        try:
            parsed = json.loads(body)
        except ValueError:
            return []
        calls = parsed if isinstance(parsed, list) else [parsed]
        return [str(c.get("method")) for c in calls if isinstance(c, dict)]

    def drop_next(self, method: str, times: int = 1) -> None:
        """Lose the next `times` calls of `method` before they reach the node, then forward again."""
        with self._lock:
            self.drop_first[method] = times

    def _drop(self, handler: BaseHTTPRequestHandler) -> None:
        self.dropped += 1
        handler.close_connection = True
        handler.connection.close()

    def heal(self) -> None:
        self.drop_methods.clear()
        self.drop_after_forwarding.clear()
        self.drop_first.clear()
        self.down = False

    def __enter__(self) -> FlakyRpc:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
