"""A JSON-RPC proxy in front of anvil that loses what a bad network loses.

Each request (or batch) is forwarded unless a rule says to drop it: the connection is then
closed without an answer, as when a load balancer or a flaky link cuts it. Rules name JSON-RPC
methods; `drop_after_forwarding` forwards the call first and loses only the answer (the node did
the work, the client never hears of it), the worst case for anything that moves money.

`noise(...)` adds seeded random faults on top (the fault simulation, tests/simulation): delays,
JSON-RPC error answers, dropped connections, and transactions swallowed (a signed transaction
acknowledged with its hash but never given to the node, as a node that drops it from its pool).
The draws come from one `random.Random(seed)`, so the same seed gives the same sequence of
choices; which request gets which choice still depends on the order requests arrive in.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_utils.crypto import keccak

UPSTREAM_TIMEOUT_S = 30
SEND_METHOD = "eth_sendRawTransaction"


@dataclass(frozen=True)
class Noise:
    """Per-request probabilities of each random fault, and the longest added delay."""

    delay_s_max: float = 0.0
    delay_rate: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    drop_answer_rate: float = 0.0
    swallow_send_rate: float = 0.0

    @property
    def clean(self) -> bool:
        return not (
            self.delay_rate or self.error_rate or self.drop_rate or self.drop_answer_rate or self.swallow_send_rate
        )


@dataclass
class FaultCounts:
    dropped: int = 0
    errors: int = 0
    delays: int = 0
    swallowed: int = 0
    upstream_down: int = 0


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up or an upstream that is down is the point here, not news."""


class FlakyRpc:
    def __init__(self, upstream: str, seed: int = 0) -> None:
        self.upstream = upstream
        self.drop_methods: set[str] = set()
        self.drop_after_forwarding: set[str] = set()
        self.drop_first: dict[str, int] = {}  # method -> how many more requests naming it to drop
        self.down = False  # drop everything, as a node that is not there
        self.requests = 0  # HTTP requests received (a JSON-RPC batch is one)
        self.calls: Counter[str] = Counter()  # JSON-RPC calls received, by method
        self.noise = Noise()
        self.counts = FaultCounts()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
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
                fault = proxy._draw(methods)
                if fault == "drop":
                    proxy._drop(self)
                    return
                if fault == "error":
                    proxy.counts.errors += 1
                    self._answer(proxy._error_answer(body))
                    return
                if fault == "swallow":
                    proxy.counts.swallowed += 1
                    self._answer(proxy._swallowed_answer(body))
                    return
                try:
                    answer = proxy._forward(body)
                except OSError:
                    proxy.counts.upstream_down += 1
                    proxy._drop(self)
                    return
                if methods & proxy.drop_after_forwarding or fault == "drop_answer":
                    proxy._drop(self)
                    return
                self._answer(answer)

            def _answer(self, answer: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def dropped(self) -> int:
        return self.counts.dropped

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

    def _draw(self, methods: set[str]) -> str | None:
        """One seeded draw per request: which fault, if any, and a delay first."""
        noise = self.noise
        if noise.clean:
            return None
        with self._lock:
            delay_s = noise.delay_s_max * self._rng.random() if self._rng.random() < noise.delay_rate else 0.0
            roll = self._rng.random()
        if delay_s:
            self.counts.delays += 1
            time.sleep(delay_s)
        if SEND_METHOD in methods and roll < noise.swallow_send_rate:
            return "swallow"
        for name, rate in (
            ("drop", noise.drop_rate),
            ("error", noise.error_rate),
            ("drop_answer", noise.drop_answer_rate),
        ):
            if roll < rate:
                return name
            roll -= rate
        return None

    def _forward(self, body: bytes) -> bytes:
        request = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT_S) as response:
            answer: bytes = response.read()
        return answer

    @staticmethod
    def _calls(body: bytes) -> tuple[list[dict[str, Any]], bool]:
        try:
            parsed = json.loads(body)
        except ValueError:
            return [], False
        batch = isinstance(parsed, list)
        calls = parsed if batch else [parsed]
        return [c for c in calls if isinstance(c, dict)], batch

    def _error_answer(self, body: bytes) -> bytes:
        """What an overloaded node or gateway says: a JSON-RPC error for every call."""
        calls, batch = self._calls(body)
        answers = [
            {"jsonrpc": "2.0", "id": c.get("id"), "error": {"code": -32005, "message": "rate limited (flaky proxy)"}}
            for c in calls
        ]
        return json.dumps(answers if batch else (answers[0] if answers else {})).encode()

    def _swallowed_answer(self, body: bytes) -> bytes:
        """Send calls answered with their hash, as if accepted, but never given to the node;
        any other call in a batch is forwarded as usual."""
        calls, batch = self._calls(body)
        answers: list[dict[str, Any]] = []
        for call in calls:
            if call.get("method") == SEND_METHOD:
                raw = bytes.fromhex(str(call["params"][0])[2:])
                answers.append({"jsonrpc": "2.0", "id": call.get("id"), "result": "0x" + keccak(raw).hex()})
            else:
                try:
                    forwarded = json.loads(self._forward(json.dumps(call).encode()))
                except (OSError, ValueError):
                    forwarded = {"jsonrpc": "2.0", "id": call.get("id"), "error": {"code": -32603, "message": "down"}}
                answers.append(forwarded)
        return json.dumps(answers if batch else (answers[0] if answers else {})).encode()

    def _drop(self, handler: BaseHTTPRequestHandler) -> None:
        self.counts.dropped += 1
        handler.close_connection = True
        handler.connection.close()

    def heal(self) -> None:
        self.drop_methods.clear()
        self.drop_after_forwarding.clear()
        self.drop_first.clear()
        self.down = False
        self.noise = Noise()

    def __enter__(self) -> FlakyRpc:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
