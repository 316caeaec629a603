"""The machinery every fake API server in tests/ shares: a threaded HTTP server on
127.0.0.1 with a production-like listen backlog, start/stop (also as a context manager),
an idle watchdog that stops it after ``idle_timeout`` seconds without requests, latency,
counters (requests, in flight, statuses, prompts) and injected faults (429s, 500s,
malformed bodies), and a request-handler base that sends JSON and counts statuses.

A fake server subclasses :class:`FakeHTTPServer` and sets ``handler_class`` to a
:class:`FakeHandler` subclass; the handler reaches its fake server as ``self.fake``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Fault = tuple[str, dict[str, Any]]


class _Server(ThreadingHTTPServer):
    # A listen backlog like a production server's (socketserver's default of 5 resets
    # connections as soon as more than a handful of clients connect at once).
    request_queue_size = 128
    daemon_threads = True
    fake: FakeHTTPServer


class FakeHandler(BaseHTTPRequestHandler):
    """Request handler of a :class:`FakeHTTPServer`: JSON replies, statuses counted."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    @property
    def fake(self) -> Any:
        return self.server.fake

    def log_message(self, *args: Any) -> None:
        pass

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """``body`` as JSON (or raw bytes), with ``headers``."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        with self.fake.lock:
            self.fake.statuses[status] += 1


class FakeHTTPServer:
    """Lifetime, latency, counters and injected faults of a fake API server."""

    handler_class: type[BaseHTTPRequestHandler] = FakeHandler

    def __init__(self, latency: float = 0.0, idle_timeout: float = 120.0):
        self.latency = latency
        self.idle_timeout = idle_timeout
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.prompt_faults: dict[str, list[Fault]] = {}
        self.requests = 0  # every request to a generation route
        self.served = 0  # successful generations
        self.prompts: Counter[str] = Counter()  # successful generations per prompt
        self.statuses: Counter[int] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[dict[str, Any]] = []
        self._last = time.monotonic()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._httpd.fake = self
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._stopped = threading.Event()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return self.handler_class

    @staticmethod
    def reply_for(prompt: str, i: int = 0) -> str:
        """The deterministic completion the server returns for ``prompt`` (choice ``i``)."""
        return f"echo: {prompt}" + (f" #{i}" if i else "")

    # -- faults ----------------------------------------------------------------------------
    def inject(self, kind: str, count: int = 1, **options: Any) -> None:
        """The next ``count`` generation requests fail with ``kind``: ``"429"``
        (``retry_after=`` seconds or None), ``"500"``, ``"malformed"`` (invalid JSON), or a
        kind of the server's own (e.g. the OpenAI server's ``"nochoices"``, ``"refusal"``)."""
        with self.lock:
            self.faults.extend([(kind, options)] * count)

    def inject_for_prompt(self, prompt: str, kind: str, count: int = 1, **options: Any) -> None:
        """Like :meth:`inject`, for requests whose prompt is ``prompt``."""
        with self.lock:
            self.prompt_faults.setdefault(prompt, []).extend([(kind, options)] * count)

    def next_fault(self, prompt: str) -> Fault | None:
        """The fault injected for this request, if any (the prompt's own first)."""
        with self.lock:
            queue = self.prompt_faults.get(prompt)
            return queue.pop(0) if queue else (self.faults.pop(0) if self.faults else None)

    # -- requests --------------------------------------------------------------------------
    def touch(self) -> None:
        """A request arrived or finished: the idle watchdog starts over."""
        self._last = time.monotonic()

    @contextlib.contextmanager
    def counted(self) -> Iterator[None]:
        """A generation request in flight (counted; the latency applies inside)."""
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self.lock:
                self.in_flight -= 1
            self.touch()

    def settle(self, quiet: float = 0.5, timeout: float = 15.0) -> None:
        """Wait until no request is in flight and none arrived for ``quiet`` seconds.

        A killed client's requests can still reach (or finish on) the server after the
        kill: tests that take stock after a kill wait for them first."""
        deadline = time.monotonic() + timeout
        last, since = self.requests, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if self.requests != last or self.in_flight:
                last, since = self.requests, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def delay(self) -> None:
        if self.latency:
            time.sleep(self.latency)

    # -- lifetime --------------------------------------------------------------------------
    def start(self) -> Any:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self._watchdog = threading.Thread(target=self._watch, daemon=True)
        self._watchdog.start()
        return self

    def _watch(self) -> None:
        while not self._stopped.wait(0.5):
            if time.monotonic() - self._last > self.idle_timeout:
                self.stop()

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
