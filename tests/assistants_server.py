"""OpenAI's Assistants API (v2) on the local OpenAI test server, for ``OpenAIAssistant``
with the real ``openai`` client.

Routes: ``POST/GET/DELETE /v1/assistants[/{id}]``, ``POST /v1/threads/runs`` (create a
thread with its messages and run it), ``GET /v1/threads/{thread}/runs/{run}`` (a run is
``queued``, then ``in_progress``, then ``completed`` once ``run_delay`` seconds have
passed), ``GET /v1/threads/{thread}/messages`` and ``DELETE /v1/threads/{thread}``.
``inject("429" | "500" | "malformed")`` fails the next run creation over HTTP like the
chat routes; ``inject("run_failed", code="rate_limit_exceeded" | "server_error" | ...)``
lets the run itself end ``failed`` with that ``last_error``. Counters: ``requests`` (run
creations), ``served`` (completed runs), ``prompts``, ``threads`` (alive), ``assistants``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from openai_server import FakeOpenAIServer, OpenAIHandler


class AssistantsHandler(OpenAIHandler):
    """The request handler of :class:`FakeAssistantsServer`."""

    def _parts(self) -> list[str]:
        return self._route().split("?", 1)[0].strip("/").split("/")

    def do_GET(self) -> None:
        parts = self._parts()
        if parts[:2] not in (["v1", "assistants"], ["v1", "threads"]):
            super().do_GET()
            return
        self.fake.touch()
        if not self._authorized():
            return
        with self.fake.lock:
            if parts[1] == "assistants" and len(parts) == 3:
                found = self.fake.assistants.get(parts[2])
                self._found(found, f"No assistant found with id '{parts[2]}'.")
            elif len(parts) == 5 and parts[3] == "runs":
                run = self.fake.runs.get(parts[4])
                self.fake.polls += 1
                self._found(run and self.fake._run_view(run), "No run found.")
            elif len(parts) == 4 and parts[3] == "messages":
                messages = self.fake.threads.get(parts[2])
                if messages is None:
                    self._found(None, f"No thread found with id '{parts[2]}'.")
                else:
                    data = list(messages)
                    if "order=asc" not in self.path:
                        data.reverse()
                    self.send(200, _page(data))
            else:
                self._found(None, "Not found.")

    def do_DELETE(self) -> None:
        self.fake.touch()
        parts = self._parts()
        if not self._authorized():
            return
        with self.fake.lock:
            table = {"assistants": self.fake.assistants, "threads": self.fake.threads}.get(
                parts[1] if len(parts) == 3 else ""
            )
            if table is None or table.pop(parts[2], None) is None:
                self._found(None, "Not found.")
                return
        obj = "assistant.deleted" if parts[1] == "assistants" else "thread.deleted"
        self.send(200, {"id": parts[2], "object": obj, "deleted": True})

    def do_POST(self) -> None:
        parts = self._parts()
        if parts[:2] not in (["v1", "assistants"], ["v1", "threads"]):
            super().do_POST()
            return
        self.fake.touch()
        raw = self.read_body()
        if not self._authorized():
            return
        body = json.loads(raw or b"{}")
        with self.fake.lock:
            self.fake.bodies.append(body)
        if parts == ["v1", "assistants"]:
            self._create_assistant(body)
        elif parts == ["v1", "threads", "runs"]:
            with self.fake.lock:
                self.fake.requests += 1
            self.fake.delay()
            self._create_and_run(body)
        else:
            self._found(None, f"Unknown route {self.path}")

    def _found(self, obj: Any, message: str) -> None:
        if obj is None:
            self._error(404, message, "invalid_request_error")
        else:
            self.send(200, obj)

    def _create_assistant(self, body: dict[str, Any]) -> None:
        if body.get("model") not in self.fake.models:
            self._error(404, f"The model '{body.get('model')}' does not exist",
                        "invalid_request_error", "model_not_found")  # fmt: skip
            return
        aid = f"asst_{len(self.fake.assistants) + 1}_{int(time.time() * 1000)}"
        assistant = {
            "id": aid,
            "object": "assistant",
            "created_at": int(time.time()),
            "model": body["model"],
            "name": body.get("name"),
            "description": body.get("description"),
            "instructions": body.get("instructions"),
            "tools": body.get("tools") or [],
            "metadata": body.get("metadata") or {},
        }
        with self.fake.lock:
            self.fake.assistants[aid] = assistant
        self.send(200, assistant)

    def _create_and_run(self, body: dict[str, Any]) -> None:
        with self.fake.lock:
            fault = self.fake.faults.pop(0) if self.fake.faults else None
        if fault is not None and fault[0] == "429":
            ra = fault[1].get("retry_after")
            headers = {"retry-after": str(ra)} if ra is not None else {}
            self._error(429, "Rate limit reached", "requests", "rate_limit_exceeded",
                        headers)  # fmt: skip
            return
        if fault is not None and fault[0] == "500":
            self._error(500, "The server had an error", "server_error")
            return
        if fault is not None and fault[0] == "malformed":
            self.send(200, b'{"id": "run_x", "status": ')
            return
        aid = body.get("assistant_id")
        if aid not in self.fake.assistants:
            self._error(404, f"No assistant found with id '{aid}'.",
                        "invalid_request_error")  # fmt: skip
            return
        messages = (body.get("thread") or {}).get("messages") or []
        prompt = str(messages[-1]["content"]) if messages else ""
        with self.fake.lock:
            tid = f"thread_{len(self.fake.runs) + 1}_{int(time.time() * 1000)}"
            rid = f"run_{len(self.fake.runs) + 1}_{int(time.time() * 1000)}"
            self.fake.threads[tid] = [_message(tid, "user", prompt)]
            run = {
                "id": rid,
                "object": "thread.run",
                "created_at": int(time.time()),
                "thread_id": tid,
                "assistant_id": aid,
                "status": "queued",
                "model": self.fake.assistants[aid]["model"],
                "instructions": self.fake.assistants[aid].get("instructions") or "",
                "tools": [],
                "last_error": None,
                "usage": None,
                "max_completion_tokens": body.get("max_completion_tokens"),
                "temperature": body.get("temperature"),
                "top_p": body.get("top_p"),
                "_started": time.monotonic(),
                "_prompt": prompt,
                "_fault": fault[1] if fault and fault[0] == "run_failed" else None,
            }
            self.fake.runs[rid] = run
            view = self.fake._run_view(run)
        self.send(200, view)


class FakeAssistantsServer(FakeOpenAIServer):
    """``with FakeAssistantsServer() as srv: OpenAIAssistant(..., base_url=srv.base_url)``."""

    handler_class = AssistantsHandler

    def __init__(self, run_delay: float = 0.05, **kwargs: Any):
        super().__init__(**kwargs)
        self.lock = threading.RLock()  # routes answer while holding it
        self.run_delay = run_delay
        self.assistants: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, list[dict[str, Any]]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.polls = 0

    def _run_view(self, run: dict[str, Any]) -> dict[str, Any]:
        """The run as the API shows it now (its status advances with time)."""
        age = time.monotonic() - run["_started"]
        if run["status"] in ("queued", "in_progress"):
            if age >= self.run_delay:
                self._finish(run)
            elif age >= self.run_delay / 2:
                run["status"] = "in_progress"
        return {k: v for k, v in run.items() if not k.startswith("_")}

    def _finish(self, run: dict[str, Any]) -> None:
        fault = run["_fault"]
        if fault is not None:
            run["status"] = "failed"
            code = fault.get("code", "server_error")
            run["last_error"] = {"code": code, "message": f"Run failed: {code}"}
            return
        prompt = run["_prompt"]
        text = self.responder(prompt, 0)
        words = text.split()
        limit = run.get("max_completion_tokens")
        if limit and len(words) > limit:
            words = words[:limit]
            text = " ".join(words)
        self.threads[run["thread_id"]].append(
            _message(run["thread_id"], "assistant", text, run["id"], run["assistant_id"])
        )
        instructions = self.assistants[run["assistant_id"]].get("instructions") or ""
        pt = len(prompt.split()) + len(instructions.split()) + 4
        run["status"] = "completed"
        run["completed_at"] = int(time.time())
        run["usage"] = {
            "prompt_tokens": pt,
            "completion_tokens": len(words),
            "total_tokens": pt + len(words),
        }
        with self.lock:
            self.served += 1
            self.prompts[prompt] += 1


def _message(
    tid: str, role: str, text: str, run_id: str | None = None, aid: str | None = None
) -> dict[str, Any]:
    return {
        "id": f"msg_{tid}_{role}",
        "object": "thread.message",
        "created_at": int(time.time()),
        "thread_id": tid,
        "role": role,
        "status": "completed",
        "run_id": run_id,
        "assistant_id": aid,
        "attachments": [],
        "metadata": {},
        "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
    }


def _page(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": False,
    }
