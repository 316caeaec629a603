"""The shared part of the provider wire-format servers (:mod:`provider_servers`): a
:class:`ProviderServer` on the common fake-server base (:mod:`http_test_server`) with one
request flow (auth, body, model, injected faults, generation, usage) that each wire format
fills in (``route``, ``auth_error``, ``error``, ``parse``, ``render``)."""

from __future__ import annotations

import json
from typing import Any

from fake_keys import fake_key
from http_test_server import FakeHandler, FakeHTTPServer
from openai_schemas import sample_for_schema


class ProviderHandler(FakeHandler):
    """The request flow shared by the wire formats of :class:`ProviderServer`."""

    def do_POST(self) -> None:
        self.fake.touch()
        raw = self.read_body()
        path = self.path.split("?", 1)[0]
        if self.fake.extra_post(self, path, raw):
            return
        model = self.fake.route(path)
        if model is None:
            self.send(*self.fake.error(404, f"Unknown route {path}", "not_found"))
            return
        with self.fake.counted():
            self._generate(model, path, raw)

    def _generate(self, model: str, path: str, raw: bytes) -> None:
        self.fake.delay()
        with self.fake.lock:
            self.fake.headers.append(dict(self.headers))
        denied = self.fake.auth_error(self.path, self.headers)
        if denied is not None:
            self.send(*denied)
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self.send(*self.fake.error(400, "Invalid JSON body", "invalid_request"))
            return
        with self.fake.lock:
            self.fake.bodies.append(body)
        req = self.fake.parse(model, body)
        if req["model"] not in self.fake.models:
            self.send(*self.fake.error(404, f"model: {req['model']}", "not_found"))
            return
        fault = self.fake.next_fault(req["prompt"])
        if fault is not None:
            kind, opts = fault
            if kind == "429":
                status, err, headers = self.fake.error(429, "Rate limited", "rate_limit")
                ra = opts.get("retry_after")
                if ra is not None:
                    headers = {**headers, "retry-after": str(ra)}
                self.send(status, err, headers)
                return
            if kind == "500":
                self.send(*self.fake.error(500, "Internal server error", "server"))
                return
            if kind == "malformed":
                self.send(200, b'{"id": "x", "content": [ {"te')
                return
        texts, structured = self.fake._generate(req)
        out = self.fake.render(req, texts, structured)
        with self.fake.lock:
            self.fake.served += 1
            self.fake.prompts[req["prompt"]] += 1
        self.send(200, out)


class ProviderServer(FakeHTTPServer):
    """Machinery shared by the wire formats; subclasses implement the routes."""

    handler_class = ProviderHandler

    #: The models the server knows.
    default_models: tuple[str, ...] = ()

    def __init__(
        self,
        latency: float = 0.0,
        api_key: str | None = None,
        models: tuple[str, ...] | None = None,
        idle_timeout: float = 120.0,
        usage: bool = True,
    ):
        super().__init__(latency=latency, idle_timeout=idle_timeout)
        self.api_key = api_key if api_key is not None else fake_key(type(self).__name__.lower())
        self.models = set(models or self.default_models)
        self.usage = usage
        self.headers: list[dict[str, str]] = []
        self.responder = self.reply_for

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What the backend's ``base_url=`` takes."""
        return self.root

    # -- the wire format (subclasses) ------------------------------------------------------
    def route(self, path: str) -> str | None:
        """The model a generation path addresses, ``""`` when the body names it, or None
        for a path that is not a generation route."""
        raise NotImplementedError

    def auth_error(self, path: str, headers: Any) -> tuple[int, Any, dict[str, str]] | None:
        raise NotImplementedError

    def error(
        self, status: int, message: str, kind: str
    ) -> tuple[int, Any, dict[str, str]]:  # pragma: no cover - per format
        raise NotImplementedError

    def parse(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        """``{"model", "prompt", "system", "n", "max_tokens", "stop", "schema", "json"}``."""
        raise NotImplementedError

    def render(self, req: dict[str, Any], texts: list[str], structured: Any) -> Any:
        raise NotImplementedError

    def extra_post(self, handler: Any, path: str, raw: bytes) -> bool:
        """Non-generation POST routes (e.g. an OAuth token endpoint); True if handled."""
        return False

    # -- shared request flow ---------------------------------------------------------------
    def _generate(self, req: dict[str, Any]) -> tuple[list[str], list[Any] | None]:
        texts, values = [], None
        if req.get("schema") is not None or req.get("json"):
            values = [
                sample_for_schema(req["prompt"], req.get("schema"), i) for i in range(req["n"])
            ]
            texts = [json.dumps(v) for v in values]
        else:
            texts = [self.responder(req["prompt"], i) for i in range(req["n"])]
        out = []
        for text in texts:
            for s in req.get("stop") or []:
                if s and s in text:
                    text = text[: text.index(s)]
            if req.get("max_tokens") and len(text.split()) > int(req["max_tokens"]):
                text = " ".join(text.split()[: int(req["max_tokens"])])
            out.append(text)
        return out, values


def _words(*texts: Any) -> int:
    return sum(len(str(t or "").split()) for t in texts)


def _text_of(content: Any, key: str = "text") -> str:
    """The text of a message's content: a string or a list of text blocks."""
    if isinstance(content, str):
        return content
    parts = [b.get(key, "") for b in content or [] if isinstance(b, dict) and key in b]
    return "".join(parts)
