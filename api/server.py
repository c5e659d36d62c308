"""Running the app under uvicorn: in the foreground (`python -m settlement.api`) or in a background thread
(the pytest plugin, the demo, the API tests), always with a clean, bounded shutdown.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG

STARTUP_TIMEOUT_S = 30.0
GRACEFUL_SHUTDOWN_S = 3


class ApiServer(uvicorn.Server):
    """uvicorn, ending open event streams first so shutdown never waits on a listening client."""

    def __init__(self, app: FastAPI, host: str, port: int, *, log_level: str = "warning", quiet: bool = True) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            log_config=None if quiet else LOGGING_CONFIG,
            access_log=not quiet,
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub = getattr(self.app.state, "events", None)
        if hub is not None:
            hub.close()
        await super().shutdown(sockets=sockets)


class ServerThread:
    """The app on a loopback port in a daemon thread. The socket is bound before the thread
    starts, so the port is known at once and nobody else can take it in between."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port = int(self._socket.getsockname()[1])
        self.server = ApiServer(app, host, self.port)
        self._thread = threading.Thread(target=self._run, name=f"api-{self.port}", daemon=True)
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self._socket])
        except BaseException as exc:  # SystemExit on a failed lifespan startup, among others
            self._error = exc

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self.server.started:
            if not self._thread.is_alive():
                self._socket.close()
                raise RuntimeError(f"the API failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the API did not start within {STARTUP_TIMEOUT_S}s")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        with contextlib.suppress(OSError):
            self._socket.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
