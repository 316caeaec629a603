"""A local server speaking Text Generation Inference's wire format, for tests of
``HFAPIEndpoint`` through ``huggingface_hub``'s ``InferenceClient``.

``InferenceClient(base_url=URL)`` sends ``text_generation`` to ``POST URL`` (TGI's
compat route: ``{"inputs", "parameters", "stream"}``, answered with ``[{"generated_text",
"details"}]``; ``/generate`` answers the object itself) and ``chat_completion`` to
``POST URL/v1/chat/completions`` (TGI's Messages API, OpenAI's format, which the
OpenAI test server already speaks). Errors use TGI's ``{"error", "error_type"}`` bodies;
``inject("429", retry_after=...)``, ``"500"``, ``"503"`` (model loading) and
``"malformed"`` work as in :class:`FakeOpenAIServer`, whose counters (``requests``,
``served``, ``prompts``, ``bodies``, ``statuses``) count both routes. It listens on
127.0.0.1 only and stops by itself after ``idle_timeout`` seconds without requests.
"""

from __future__ import annotations

import json
from typing import Any

from openai_server import FakeOpenAIServer, OpenAIHandler


class TGIHandler(OpenAIHandler):
    """The request handler of :class:`FakeTGIServer`."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/info":
            self.fake.touch()
            self.send(200, {"model_id": "tgi", "max_total_tokens": 4096})
            return
        super().do_GET()

    def do_POST(self) -> None:
        route = self.path.rstrip("/")
        if route not in ("", "/generate"):
            super().do_POST()  # /v1/chat/completions: TGI's Messages API
            return
        self.fake.touch()
        raw = self.read_body()
        with self.fake.counted():
            self._generate(route, raw)

    def _tgi_error(self, status: int, message: str, kind: str, headers=None) -> None:
        self.send(status, {"error": message, "error_type": kind}, headers)

    def _generate(self, route: str, raw: bytes) -> None:
        self.fake.delay()
        if not self._authorized():
            return
        try:
            body = json.loads(raw)
            prompt = body["inputs"]
        except (ValueError, KeyError):
            self._tgi_error(422, "Failed to deserialize the JSON body", "validation")
            return
        with self.fake.lock:
            self.fake.bodies.append(body)
        fault = self.fake.next_fault(prompt)
        if fault is not None:
            kind, opts = fault
            if kind == "429":
                ra = opts.get("retry_after")
                headers = {"retry-after": str(ra)} if ra is not None else {}
                self._tgi_error(429, "Model is overloaded", "overloaded", headers)
                return
            if kind == "500":
                self._tgi_error(500, "Request failed during generation", "generation")
                return
            if kind == "503":
                self._tgi_error(503, "Model is currently loading", "loading")
                return
            if kind == "malformed":
                self.send(200, b'[{"generated_te')
                return
        params = body.get("parameters") or {}
        text = self.fake.responder(prompt, 0)
        words = text.split()
        finish = "eos_token"
        limit = params.get("max_new_tokens")
        if limit and len(words) > int(limit):
            words, finish = words[: int(limit)], "length"
        text = " ".join(words)
        for s in params.get("stop") or []:
            if s and s in text:
                text, finish = text[: text.index(s) + len(s)], "stop_sequence"
        out: dict[str, Any] = {"generated_text": text}
        if params.get("details"):
            out["details"] = {
                "finish_reason": finish,
                "generated_tokens": len(text.split()),
                "seed": params.get("seed"),
                "prefill": [],
                "tokens": [
                    {"id": i, "text": w, "logprob": -0.5, "special": False}
                    for i, w in enumerate(text.split())
                ],
            }
        with self.fake.lock:
            self.fake.served += 1
            self.fake.prompts[prompt] += 1
        self.send(200, out if route == "/generate" else [out])


class FakeTGIServer(FakeOpenAIServer):
    """``with FakeTGIServer() as srv: HFAPIEndpoint(srv.base_url, "model-name")``."""

    handler_class = TGIHandler

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("api_key", None)  # a local TGI needs no token
        kwargs.setdefault("models", ("tgi",))
        super().__init__(**kwargs)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
