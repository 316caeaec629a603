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
from typing import Any

from fake_keys import fake_key
from http_test_server import FakeHandler, FakeHTTPServer, _Server  # noqa: F401 - re-exported
from openai_schemas import _response_format_problem, _strict_problem, sample_for_schema  # noqa: F401

API_KEY = fake_key("local")


class OpenAIHandler(FakeHandler):
    """The OpenAI routes: completions, models, files and batches."""

    def _error(
        self,
        status: int,
        message: str,
        etype: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.send(
            status,
            {"error": {"message": message, "type": etype, "param": None, "code": code}},
            headers,
        )

    def _authorized(self) -> bool:
        if self.fake.api_key is None:
            return True
        auth = self.headers.get("Authorization", "")
        if auth == f"Bearer {self.fake.api_key}":
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
        if not path.startswith(self.fake.path_prefix):
            return ""
        return path[len(self.fake.path_prefix) :]

    def do_GET(self) -> None:
        self.fake.touch()
        path = self._route()
        if path.startswith("/v1/batches/") or path.startswith("/v1/files/"):
            if self._authorized() and not self._batch_fault():
                self._batch_get(path)
            return
        if path == "/v1/models" and self._authorized():
            data = [{"id": m, "object": "model", "owned_by": "test"} for m in self.fake.models]
            self.send(200, {"object": "list", "data": data})
        elif not path.startswith("/v1/models"):
            self._error(404, "Not found", "invalid_request_error")

    def do_POST(self) -> None:
        self.fake.touch()
        raw = self.read_body()
        route = self._route()
        if route in ("/v1/files", "/v1/batches"):
            if self._authorized() and not self._batch_fault():
                self._batch_post(route, raw)
            return
        if route not in ("/v1/chat/completions", "/v1/completions"):
            self._error(404, f"Unknown route {self.path}", "invalid_request_error")
            return
        with self.fake.counted():
            self._complete(route, raw)

    def _batch_fault(self) -> bool:
        """Answer a files/batches request with an injected fault (429, 500), if one waits."""
        fault = self.fake.next_fault("")
        return fault is not None and self._send_fault(fault, None)

    def _batch_post(self, route: str, raw: bytes) -> None:
        if route == "/v1/files":
            content = _multipart_file(self.headers.get("Content-Type", ""), raw)
            fid = f"file-{len(self.fake.files) + 1}"
            self.fake.files[fid] = content
            self.send(200, _file_object(fid, content))
            return
        body = json.loads(raw)
        bid = f"batch_{len(self.fake.batches) + 1}"
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
        self.fake.batches[bid] = batch
        timer = threading.Timer(self.fake.batch_delay, self.fake._finish_batch, (bid,))
        timer.daemon = True
        timer.start()
        self.send(200, batch)

    def _batch_get(self, path: str) -> None:
        parts = path.split("/")
        if parts[2] == "batches" and parts[3] in self.fake.batches:
            self.send(200, self.fake.batches[parts[3]])
        elif parts[2] == "files" and parts[3] in self.fake.files:
            if len(parts) > 4 and parts[4] == "content":
                data = self.fake.files[parts[3]]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self.send(200, _file_object(parts[3], self.fake.files[parts[3]]))
        else:
            self._error(404, f"No such object: {path}", "invalid_request_error")

    def _complete(self, route: str, raw: bytes) -> None:
        self.fake.delay()
        body = self._accepted_body(raw)
        if body is None:
            return
        model = body["model"]
        chat = route.endswith("chat/completions")
        if chat:
            prompt = str(body["messages"][-1]["content"])
        else:
            prompt = str(body.get("prompt"))
        fault = self.fake.next_fault(prompt)
        if fault is not None and self._send_fault(fault, model):
            return
        rf = body.get("response_format")
        if rf is not None:
            problem = _response_format_problem(rf, body, chat)
            if problem is not None:
                self._error(400, problem[1], "invalid_request_error", None)
                return
        refusal = fault is not None and fault[0] == "refusal"
        choices, completion_tokens = self._choices(body, prompt, chat, refusal)
        prompt_tokens = (
            sum(len(str(m.get("content", "")).split()) + 4 for m in body.get("messages", []))
            if chat
            else len(prompt.split())
        )
        out: dict[str, Any] = {
            "id": f"cmpl-{self.fake.requests}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
        }
        if self.fake.usage:
            out["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        with self.fake.lock:
            self.fake.served += 1
            self.fake.prompts[prompt] += 1
        self.send(200, out)

    def _accepted_body(self, raw: bytes) -> dict[str, Any] | None:
        """The request body, or None once an error (401, 400, 422, 404) has been sent."""
        if not self._authorized():
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "Invalid JSON body", "invalid_request_error")
            return None
        with self.fake.lock:
            self.fake.bodies.append(body)
        rejected = sorted(self.fake.reject_fields & set(body))
        if rejected:
            self.send(
                422,
                {
                    "object": "error",
                    "message": f"Extra inputs are not permitted: {rejected}",
                    "type": "invalid_request_error",
                    "code": None,
                },
            )
            return None
        model = body.get("model")
        if model not in self.fake.models:
            self._error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
            return None
        return body

    def _send_fault(self, fault: tuple[str, dict[str, Any]], model: Any) -> bool:
        """Answer with an injected fault; False for a fault that shapes the reply instead
        (``"refusal"``)."""
        kind, opts = fault
        if kind == "429":
            ra = opts.get("retry_after")
            headers = {"retry-after": str(ra)} if ra is not None else {}
            self._error(
                429, "Rate limit reached for requests", "requests", "rate_limit_exceeded", headers
            )
        elif kind == "500":
            self._error(500, "The server had an error", "server_error")
        elif kind == "malformed":
            self.send(200, b'{"id": "x", "choices": [ {"mess')
        elif kind == "nochoices":
            self.send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": model})
        else:
            return False
        return True

    def _choices(
        self, body: dict[str, Any], prompt: str, chat: bool, refusal: bool
    ) -> tuple[list[dict[str, Any]], int]:
        """The ``n`` choices of a completion, and their completion tokens (words)."""
        rf = body.get("response_format")
        n = int(body.get("n") or 1)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        choices = []
        completion_tokens = 0
        for i in range(n):
            if refusal:
                text = "I'm sorry, I can't help with that request."
            elif rf is not None and rf.get("type") in ("json_schema", "json_object"):
                schema = (rf.get("json_schema") or {}).get("schema")
                text = json.dumps(self.fake.json_responder(prompt, schema, i))
            else:
                text = self.fake.responder(prompt, i)
            words = text.split()
            finish = "stop"
            if max_tokens and len(words) > int(max_tokens):
                words = words[: int(max_tokens)]
                text = " ".join(words)
                finish = "length"
            completion_tokens += len(words)
            if not chat:
                choices.append(
                    {"index": i, "finish_reason": finish, "logprobs": None, "text": text}
                )
                continue
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if refusal:
                message = {"role": "assistant", "content": None, "refusal": text}
            choices.append(
                {"index": i, "finish_reason": finish, "logprobs": None, "message": message}
            )
        return choices, completion_tokens


class FakeOpenAIServer(FakeHTTPServer):
    """``with FakeOpenAIServer(latency=0.05) as srv: OpenAI(..., base_url=srv.base_url)``."""

    handler_class = OpenAIHandler

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
        super().__init__(latency=latency, idle_timeout=idle_timeout)
        # Served under ``{path_prefix}/v1`` (a provider's API root, e.g. "/together").
        self.path_prefix = path_prefix.rstrip("/")
        # Body fields answered with a 422 like a provider that does not accept them (e.g.
        # Mistral's API and ``max_completion_tokens``, ``seed`` or ``logit_bias``).
        self.reject_fields = set(reject_fields)
        self.api_key = api_key
        self.models = set(models)
        self.usage = usage
        self.responder = self.reply_for  # (prompt, choice index) -> completion text
        # (prompt, JSON schema or None for json_object, choice index) -> a JSON value
        self.json_responder = sample_for_schema
        # Batch API: uploaded files, batches, and how long a batch takes to finish.
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_delay = 0.2
        self.batch_fail_prompts: set[str] = set()  # rows that fail (once) inside a batch

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path_prefix}/v1"

    # -- control ---------------------------------------------------------------------------
    def inject(self, kind: str, count: int = 1, **options: Any) -> None:
        """The next ``count`` requests fail with ``kind``: ``"429"`` (``retry_after=``
        seconds or None), ``"500"``, ``"malformed"`` (invalid JSON), ``"nochoices"`` or
        ``"refusal"`` (a structured-output refusal: ``content`` null, ``refusal`` text)."""
        super().inject(kind, count, **options)

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
