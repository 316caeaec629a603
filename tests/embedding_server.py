"""A local OpenAI-compatible ``POST /v1/embeddings`` server for tests and benchmarks.

It answers like the real API (``float`` and ``base64`` encodings, ``usage`` fields,
``dimensions``, 401 for a wrong key) with deterministic vectors derived from each
input's text, and can inject latency, 429s (with or without ``Retry-After``), 500s and
malformed bodies. It listens on 127.0.0.1 only and shuts itself down after
``max_lifetime`` seconds even if a test forgets to stop it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


def vector_for(text: str, dims: int) -> np.ndarray:
    """The server's embedding of ``text``: a unit vector seeded by the text's hash."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return v / np.linalg.norm(v)


class _Server(ThreadingHTTPServer):
    # A listen backlog like a production server's (socketserver's default of 5 resets
    # connections as soon as more than a handful of clients connect at once).
    request_queue_size = 128


class EmbeddingServer:
    """Start with ``with EmbeddingServer() as srv:``; ``srv.base_url`` ends in ``/v1``.

    ``faults`` is a queue of answers for the next requests: ``"429"``, ``"429-retry"``
    (with ``Retry-After``), ``"500"``, ``"malformed"``. Counters: ``requests`` (HTTP
    POSTs received), ``served_inputs`` (texts embedded in successful answers).
    """

    def __init__(
        self,
        *,
        dims: int = 16,
        latency: float = 0.0,
        api_key: str | None = None,
        max_lifetime: float = 300.0,
        retry_after: float = 0.1,
    ):
        self.dims = dims
        self.latency = latency
        self.api_key = api_key
        self.retry_after = retry_after
        self.faults: list[str] = []
        self.requests = 0
        self.served_inputs: list[str] = []
        self.prompt_tokens = 0
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._timer = threading.Timer(max_lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> EmbeddingServer:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._timer.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> EmbeddingServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- request handling --------------------------------------------------------------
    def _answer(self, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests += 1
            fault = self.faults.pop(0) if self.faults else None
        if self.latency:
            time.sleep(self.latency)
        if self.api_key is not None and headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {}, _error("Incorrect API key provided.", "invalid_api_key")
        if fault == "429":
            return 429, {}, _error("Rate limit reached.", "rate_limit_exceeded")
        if fault == "429-retry":
            return (
                429,
                {"Retry-After": str(self.retry_after)},
                _error("Rate limit reached.", "rate_limit_exceeded"),
            )
        if fault == "500":
            return 500, {}, _error("The server had an error.", "server_error")
        if fault == "malformed":
            return 200, {}, b'{"object": "list", "data": [{"embedd'
        try:
            req = json.loads(body)
            inputs = req["input"]
        except (ValueError, KeyError, TypeError):
            return 400, {}, _error("Invalid JSON body.", "invalid_request_error")
        if isinstance(inputs, str):
            inputs = [inputs]
        dims = int(req.get("dimensions") or self.dims)
        fmt = req.get("encoding_format", "float")
        data = []
        tokens = 0
        for i, text in enumerate(inputs):
            v = vector_for(text, dims)
            emb: Any = base64.b64encode(v.tobytes()).decode() if fmt == "base64" else v.tolist()
            data.append({"object": "embedding", "index": i, "embedding": emb})
            tokens += max(1, len(text.split()))
        with self._lock:
            self.served_inputs.extend(inputs)
            self.prompt_tokens += tokens
        out = {
            "object": "list",
            "data": data,
            "model": req.get("model", ""),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return 200, {}, json.dumps(out).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/embeddings":
                    status, headers, payload = 404, {}, _error("Not found.", "not_found")
                else:
                    status, headers, payload = server._answer(self.headers, body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (e.g. a killed test process)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _error(message: str, code: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": code, "code": code}}).encode()
