"""A local OpenAI-compatible HTTP server for tests and benchmarks (a test double for a
paid service, used with the real ``openai`` client).

It listens on 127.0.0.1 only, answers ``/v1/chat/completions``, ``/v1/completions`` and
``/v1/models`` like the real API (``usage`` fields, ``n`` choices, OpenAI-style error
bodies, 401 on a wrong key, 404 on an unknown model), and can inject latency, 429s with
or without ``Retry-After``, 500s, malformed bodies and refusals. It counts every request
and stops by itself after ``idle_timeout`` seconds without requests.

``response_format`` works like the real API: ``json_schema`` replies are JSON that match
the schema (built by ``json_responder``), ``strict`` schemas must close every object
(``additionalProperties: false``, every property required) or get a 400, ``json_object``
needs the word "json" in the messages, and a reply cut by ``max_tokens`` ends with
``finish_reason: "length"`` (so cut JSON is invalid, as with the real API).

Run standalone: ``python tests/openai_server.py --latency 0.2`` prints ``PORT <n>``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fake_keys import fake_key

API_KEY = fake_key("local")


class _Server(ThreadingHTTPServer):
    # A listen backlog like a production server's (socketserver's default of 5 resets
    # connections as soon as more than a handful of clients connect at once).
    request_queue_size = 128


class FakeOpenAIServer:
    """``with FakeOpenAIServer(latency=0.05) as srv: OpenAI(..., base_url=srv.base_url)``."""

    def __init__(
        self,
        latency: float = 0.0,
        api_key: str | None = API_KEY,
        models: tuple[str, ...] = ("gpt-4o-mini", "local-model"),
        idle_timeout: float = 120.0,
        usage: bool = True,
        path_prefix: str = "",
        reject_fields: tuple[str, ...] = (),
    ):
        self.latency = latency
        # Served under ``{path_prefix}/v1`` (a provider's API root, e.g. "/together").
        self.path_prefix = path_prefix.rstrip("/")
        # Body fields answered with a 422 like a provider that does not accept them (e.g.
        # Mistral's API and ``max_completion_tokens``, ``seed`` or ``logit_bias``).
        self.reject_fields = set(reject_fields)
        self.api_key = api_key
        self.models = set(models)
        self.idle_timeout = idle_timeout
        self.usage = usage
        self.lock = threading.Lock()
        self.faults: list[tuple[str, dict[str, Any]]] = []
        self.prompt_faults: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.requests = 0  # every HTTP request to a completion route
        self.served = 0  # successful completions
        self.prompts: Counter[str] = Counter()  # successful completions per prompt
        self.statuses: Counter[int] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[dict[str, Any]] = []
        self.responder = self.reply_for  # (prompt, choice index) -> completion text
        # (prompt, JSON schema or None for json_object, choice index) -> a JSON value
        self.json_responder = sample_for_schema
        # Batch API: uploaded files, batches, and how long a batch takes to finish.
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_delay = 0.2
        self.batch_fail_prompts: set[str] = set()  # rows that fail (once) inside a batch
        self._last = time.monotonic()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path_prefix}/v1"

    # -- control ---------------------------------------------------------------------------
    def inject(self, kind: str, count: int = 1, **options: Any) -> None:
        """The next ``count`` requests fail with ``kind``: ``"429"`` (``retry_after=``
        seconds or None), ``"500"``, ``"malformed"`` (invalid JSON), ``"nochoices"`` or
        ``"refusal"`` (a structured-output refusal: ``content`` null, ``refusal`` text)."""
        with self.lock:
            self.faults.extend([(kind, options)] * count)

    def inject_for_prompt(self, prompt: str, kind: str, count: int = 1, **options: Any) -> None:
        """Like :meth:`inject`, for requests whose last message is ``prompt``."""
        with self.lock:
            self.prompt_faults.setdefault(prompt, []).extend([(kind, options)] * count)

    def start(self) -> FakeOpenAIServer:
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

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _finish_batch(self, bid: str) -> None:
        batch = self.batches[bid]
        lines = self.files[batch["input_file_id"]].decode().splitlines()
        out, err = [], []
        for line in lines:
            req = json.loads(line)
            body = req["body"]
            prompt = str(body["messages"][-1]["content"]) if "messages" in body else body["prompt"]
            if prompt in self.batch_fail_prompts:
                self.batch_fail_prompts.discard(prompt)
                err.append(
                    {
                        "id": f"r-{len(err)}",
                        "custom_id": req["custom_id"],
                        "response": {
                            "status_code": 500,
                            "body": {"error": {"message": "server error", "type": "server_error"}},
                        },
                        "error": None,
                    }
                )
                continue
            text = self.responder(prompt, 0)
            words = len(text.split())
            completion = {
                "id": f"cmpl-b{len(out)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "logprobs": None,
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": {
                    "prompt_tokens": len(prompt.split()),
                    "completion_tokens": words,
                    "total_tokens": len(prompt.split()) + words,
                },
            }
            out.append(
                {
                    "id": f"r-{len(out)}",
                    "custom_id": req["custom_id"],
                    "response": {"status_code": 200, "request_id": "x", "body": completion},
                    "error": None,
                }
            )
            with self.lock:
                self.prompts[prompt] += 1
        if out:
            fid = f"file-{len(self.files) + 1}"
            self.files[fid] = "\n".join(json.dumps(o) for o in out).encode()
            batch["output_file_id"] = fid
        if err:
            fid = f"file-{len(self.files) + 1}"
            self.files[fid] = "\n".join(json.dumps(o) for o in err).encode()
            batch["error_file_id"] = fid
        batch["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(err)}
        batch["status"] = "completed"

    @staticmethod
    def reply_for(prompt: str, i: int = 0) -> str:
        """The deterministic completion the server returns for ``prompt`` (choice ``i``)."""
        return f"echo: {prompt}" + (f" #{i}" if i else "")

    # -- HTTP ------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                with server.lock:
                    server.statuses[status] += 1

            def _error(
                self,
                status: int,
                message: str,
                etype: str,
                code: str | None = None,
                headers: dict[str, str] | None = None,
            ):
                self._send(
                    status,
                    {"error": {"message": message, "type": etype, "param": None, "code": code}},
                    headers,
                )

            def _authorized(self) -> bool:
                if server.api_key is None:
                    return True
                auth = self.headers.get("Authorization", "")
                if auth == f"Bearer {server.api_key}":
                    return True
                given = auth.removeprefix("Bearer ")
                self._error(
                    401,
                    f"Incorrect API key provided: {given[:3]}***{given[-4:]}.",
                    "invalid_request_error",
                    "invalid_api_key",
                )
                return False

            def _route(self) -> str:
                """The request path without the server's prefix ("" when it lacks it)."""
                path = self.path.rstrip("/")
                if not path.startswith(server.path_prefix):
                    return ""
                return path[len(server.path_prefix) :]

            def do_GET(self) -> None:
                server._last = time.monotonic()
                path = self._route()
                if path.startswith("/v1/batches/") or path.startswith("/v1/files/"):
                    if self._authorized():
                        self._batch_get(path)
                    return
                if path == "/v1/models" and self._authorized():
                    data = [{"id": m, "object": "model", "owned_by": "test"} for m in server.models]
                    self._send(200, {"object": "list", "data": data})
                elif not path.startswith("/v1/models"):
                    self._error(404, "Not found", "invalid_request_error")

            def do_POST(self) -> None:
                server._last = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                route = self._route()
                if route in ("/v1/files", "/v1/batches"):
                    if self._authorized():
                        self._batch_post(route, raw)
                    return
                if route not in ("/v1/chat/completions", "/v1/completions"):
                    self._error(404, f"Unknown route {self.path}", "invalid_request_error")
                    return
                with server.lock:
                    server.requests += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._complete(route, raw)
                finally:
                    with server.lock:
                        server.in_flight -= 1
                    server._last = time.monotonic()

            def _batch_post(self, route: str, raw: bytes) -> None:
                if route == "/v1/files":
                    content = _multipart_file(self.headers.get("Content-Type", ""), raw)
                    fid = f"file-{len(server.files) + 1}"
                    server.files[fid] = content
                    self._send(200, _file_object(fid, content))
                    return
                body = json.loads(raw)
                bid = f"batch_{len(server.batches) + 1}"
                batch = {
                    "id": bid,
                    "object": "batch",
                    "endpoint": body["endpoint"],
                    "input_file_id": body["input_file_id"],
                    "completion_window": body["completion_window"],
                    "status": "in_progress",
                    "created_at": int(time.time()),
                    "output_file_id": None,
                    "error_file_id": None,
                    "request_counts": {"total": 0, "completed": 0, "failed": 0},
                }
                server.batches[bid] = batch
                timer = threading.Timer(server.batch_delay, server._finish_batch, (bid,))
                timer.daemon = True
                timer.start()
                self._send(200, batch)

            def _batch_get(self, path: str) -> None:
                parts = path.split("/")
                if parts[2] == "batches" and parts[3] in server.batches:
                    self._send(200, server.batches[parts[3]])
                elif parts[2] == "files" and parts[3] in server.files:
                    if len(parts) > 4 and parts[4] == "content":
                        data = server.files[parts[3]]
                        self.send_response(200)
                        self.send_header("Content-Type", "application/octet-stream")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                    else:
                        self._send(200, _file_object(parts[3], server.files[parts[3]]))
                else:
                    self._error(404, f"No such object: {path}", "invalid_request_error")

            def _complete(self, route: str, raw: bytes) -> None:
                if server.latency:
                    time.sleep(server.latency)
                if not self._authorized():
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._error(400, "Invalid JSON body", "invalid_request_error")
                    return
                with server.lock:
                    server.bodies.append(body)
                rejected = sorted(server.reject_fields & set(body))
                if rejected:
                    self._send(
                        422,
                        {
                            "object": "error",
                            "message": f"Extra inputs are not permitted: {rejected}",
                            "type": "invalid_request_error",
                            "code": None,
                        },
                    )
                    return
                model = body.get("model")
                if model not in server.models:
                    self._error(
                        404,
                        f"The model `{model}` does not exist or you do not have access to it.",
                        "invalid_request_error",
                        "model_not_found",
                    )
                    return
                chat = route.endswith("chat/completions")
                if chat:
                    prompt = str(body["messages"][-1]["content"])
                else:
                    prompt = str(body.get("prompt"))
                with server.lock:
                    queue = server.prompt_faults.get(prompt)
                    fault = (
                        queue.pop(0) if queue else (server.faults.pop(0) if server.faults else None)
                    )
                if fault is not None:
                    kind, opts = fault
                    if kind == "429":
                        ra = opts.get("retry_after")
                        headers = {"retry-after": str(ra)} if ra is not None else {}
                        self._error(
                            429,
                            "Rate limit reached for requests",
                            "requests",
                            "rate_limit_exceeded",
                            headers,
                        )
                        return
                    if kind == "500":
                        self._error(500, "The server had an error", "server_error")
                        return
                    if kind == "malformed":
                        self._send(200, b'{"id": "x", "choices": [ {"mess')
                        return
                    if kind == "nochoices":
                        self._send(
                            200,
                            {"id": "x", "object": "chat.completion", "created": 0, "model": model},
                        )
                        return
                rf = body.get("response_format")
                if rf is not None:
                    problem = _response_format_problem(rf, body, chat)
                    if problem is not None:
                        self._error(400, problem[1], "invalid_request_error", None)
                        return
                refusal = fault is not None and fault[0] == "refusal"
                n = int(body.get("n") or 1)
                max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
                choices = []
                completion_tokens = 0
                for i in range(n):
                    if refusal:
                        text = "I'm sorry, I can't help with that request."
                    elif rf is not None and rf.get("type") in ("json_schema", "json_object"):
                        schema = (rf.get("json_schema") or {}).get("schema")
                        text = json.dumps(server.json_responder(prompt, schema, i))
                    else:
                        text = server.responder(prompt, i)
                    words = text.split()
                    finish = "stop"
                    if max_tokens and len(words) > int(max_tokens):
                        words = words[: int(max_tokens)]
                        text = " ".join(words)
                        finish = "length"
                    completion_tokens += len(words)
                    if chat:
                        message: dict[str, Any] = {"role": "assistant", "content": text}
                        if refusal:
                            message = {"role": "assistant", "content": None, "refusal": text}
                        choices.append(
                            {
                                "index": i,
                                "finish_reason": finish,
                                "logprobs": None,
                                "message": message,
                            }
                        )
                    else:
                        choices.append(
                            {"index": i, "finish_reason": finish, "logprobs": None, "text": text}
                        )
                prompt_tokens = (
                    sum(
                        len(str(m.get("content", "")).split()) + 4 for m in body.get("messages", [])
                    )
                    if chat
                    else len(prompt.split())
                )
                out: dict[str, Any] = {
                    "id": f"cmpl-{server.requests}",
                    "object": "chat.completion" if chat else "text_completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": choices,
                }
                if server.usage:
                    out["usage"] = {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    }
                with server.lock:
                    server.served += 1
                    server.prompts[prompt] += 1
                self._send(200, out)

        return Handler


def sample_for_schema(prompt: str, schema: dict[str, Any] | None, i: int = 0) -> Any:
    """A deterministic JSON value that matches ``schema`` (strings echo the prompt), as
    constrained decoding would produce; ``{"echo": prompt}`` for JSON mode."""
    if schema is None:
        return {"echo": prompt}
    defs = schema.get("$defs") or schema.get("definitions") or {}

    def build(node: dict[str, Any]) -> Any:
        if "$ref" in node:
            return build(defs[node["$ref"].rsplit("/", 1)[-1]])
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return node["enum"][i % len(node["enum"])]
        for key in ("anyOf", "oneOf"):
            if key in node:
                return build(node[key][0])
        kind = node.get("type", "object")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object":
            props = node.get("properties", {})
            return {k: build(v) for k, v in props.items()}
        if kind == "array":
            return [build(node.get("items", {"type": "string"}))] * max(1, node.get("minItems", 1))
        if kind == "string":
            return prompt + (f" #{i}" if i else "")
        if kind == "integer":
            return int(node.get("minimum", 0)) + i
        if kind == "number":
            return float(node.get("minimum", 0)) + i / 2
        if kind == "boolean":
            return i % 2 == 0
        return None

    return build(schema)


def _strict_problem(node: Any, context: tuple[str, ...] = ()) -> str | None:
    """What OpenAI's strict mode rejects: objects that are not closed or not all-required."""
    if isinstance(node, list):
        for item in node:
            found = _strict_problem(item, context)
            if found:
                return found
        return None
    if not isinstance(node, dict):
        return None
    where = f"In context={context}"
    if node.get("type") == "object" or "properties" in node:
        if node.get("additionalProperties") is not False:
            return f"{where}, 'additionalProperties' is required to be supplied and to be false."
        props = list(node.get("properties", {}))
        missing = [p for p in props if p not in node.get("required", [])]
        if missing:
            return (
                f"{where}, 'required' is required to be supplied and to be an array including "
                f"every key in properties. Missing '{missing[0]}'."
            )
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            for name, sub in value.items():
                found = _strict_problem(sub, (*context, key, name))
                if found:
                    return found
        elif key in ("items", "anyOf", "oneOf", "allOf"):
            found = _strict_problem(value, (*context, key))
            if found:
                return found
    return None


def _response_format_problem(rf: Any, body: dict[str, Any], chat: bool) -> tuple[str, str] | None:
    """``(param, message)`` of the 400 the real API answers to a bad ``response_format``."""
    kind = rf.get("type") if isinstance(rf, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        return (
            "response_format",
            f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', "
            "and 'text'.",
        )
    if kind == "json_object":
        text = json.dumps(body.get("messages") if chat else body.get("prompt"))
        if "json" not in text.lower():
            return (
                "messages",
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
            )
    if kind == "json_schema":
        spec = rf.get("json_schema") or {}
        if "name" not in spec:
            return ("response_format.json_schema.name", "Missing required parameter: 'name'.")
        if spec.get("strict"):
            found = _strict_problem(spec.get("schema") or {})
            if found:
                return (
                    "response_format",
                    f"Invalid schema for response_format '{spec['name']}': {found}",
                )
    return None


def _file_object(fid: str, content: bytes) -> dict[str, Any]:
    return {
        "id": fid,
        "object": "file",
        "bytes": len(content),
        "created_at": int(time.time()),
        "filename": "batch.jsonl",
        "purpose": "batch",
        "status": "processed",
    }


def _multipart_file(content_type: str, raw: bytes) -> bytes:
    """The ``file`` part of a multipart/form-data body."""
    from email.parser import BytesParser
    from email.policy import HTTP

    msg = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    for part in msg.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_payload(decode=True)
    raise ValueError("no file part in the upload")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--idle-timeout", type=float, default=60.0)
    ap.add_argument("--api-key", default=API_KEY, help="the key clients must send")
    args = ap.parse_args()
    srv = FakeOpenAIServer(
        latency=args.latency, idle_timeout=args.idle_timeout, api_key=args.api_key
    ).start()
    print(f"PORT {srv.port}", flush=True)
    srv._stopped.wait()


if __name__ == "__main__":
    main()
