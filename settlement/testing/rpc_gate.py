"""A JSON-RPC pass-through in front of anvil that a test can close and open again.

The harness's service talks to anvil through it, so `down()` makes the node unreachable to the
service (every connection is cut without an answer, as when a node or its load balancer dies)
while the test itself still reaches anvil directly, and the chain keeps its state and snapshots.
"""

from __future__ import annotations

import contextlib
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

UPSTREAM_TIMEOUT_S = 30.0
SHUTDOWN_POLL_S = 0.05  # serve_forever's default 0.5 s would be added to every test's teardown
BODY_MAX_BYTES = 8 * 1024 * 1024  # a JSON-RPC batch of a few thousand calls fits easily


class RpcGate:
    """Forwards JSON-RPC POSTs to `upstream` on a free loopback port until closed."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.is_down = False
        self.refused = 0
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                if gate.is_down or length > BODY_MAX_BYTES:
                    gate.refused += 1
                    self.close_connection = True
                    self.connection.close()
                    return
                body = self.rfile.read(length)
                request = urllib.request.Request(gate.upstream, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT_S) as response:
                    answer = response.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_S,), name="rpc-gate", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The RPC is unreachable inside the block and answers again after it (even on error)."""
        self.is_down = True
        try:
            yield
        finally:
            self.is_down = False

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
