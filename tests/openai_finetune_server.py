"""A local test double of the OpenAI fine-tuning API (a paid service), for the real client.

It extends :class:`openai_server.FakeOpenAIServer` (127.0.0.1 only, API-key check with the
real 401 body, latency, injected 429/500, stops by itself when idle) with:

* ``POST /v1/files`` (multipart, ``purpose``) and ``GET /v1/files/{id}``;
* ``POST /v1/fine_tuning/jobs``: validates like the API (the file exists and has purpose
  ``fine-tune``, every line is a chat example ending with an assistant message, at least
  10 examples, a known base model) and answers 400/404 with OpenAI-style error bodies;
* ``GET /v1/fine_tuning/jobs/{id}``: the job moves ``validating_files -> queued -> running ->
  succeeded`` on a clock (``phases`` seconds each); ``fail_next_job`` makes the next job end
  ``failed`` with an error object; on success ``fine_tuned_model`` is ``ft:<model>:...`` and
  that model is then served by ``/v1/chat/completions``;
* ``GET /v1/fine_tuning/jobs`` (newest first, ``limit``, ``after``, ``metadata[k]=v``
  filters); jobs keep the ``metadata`` they were created with; ``create_delay`` holds the
  reply to a job creation after the job exists (a client killed meanwhile never sees its id);
* ``GET /v1/fine_tuning/jobs/{id}/events``: message and metrics events, newest first (as the
  API lists them), with ``has_more``; ``POST .../cancel``.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from openai_server import API_KEY, FakeOpenAIServer, OpenAIHandler

__all__ = ["API_KEY", "FakeFineTuneServer"]

BASE_MODELS = ("gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14", "gpt-3.5-turbo")


class FineTuneHandler(OpenAIHandler):
    """The request handler of :class:`FakeFineTuneServer`."""

    def _ft_fault(self) -> bool:
        with self.fake.lock:
            status = self.fake.ft_faults.pop(0) if self.fake.ft_faults else None
        if status == 429:
            self._error(
                429,
                "Rate limit reached for requests",
                "requests",
                "rate_limit_exceeded",
                {"retry-after": "0"},
            )
        elif status is not None:
            self._error(status, "The server had an error", "server_error")
        return status is not None

    def _ft_route(self, path: str) -> bool:
        return path.startswith("/v1/fine_tuning") or path.startswith("/v1/files")

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if not self._ft_route(path):
            return super().do_GET()
        self.fake.touch()
        self.fake.auth_headers.append(self.headers.get("Authorization", ""))
        self.fake.delay()
        if not self._authorized() or self._ft_fault():
            return None
        parts = path.split("/")
        if path == "/v1/fine_tuning/jobs":
            return self._list_jobs(parse_qs(urlsplit(self.path).query))
        if parts[2] == "files" and len(parts) == 4 and parts[3] in self.fake.file_meta:
            return self.send(200, self.fake.file_meta[parts[3]])
        if parts[2] == "fine_tuning" and len(parts) >= 5 and parts[4] in self.fake.jobs:
            job = self.fake.jobs[parts[4]]
            with self.fake.lock:
                self.fake._advance(job)
            if len(parts) == 5:
                self.fake.retrieves += 1
                return self.send(200, self.fake.public(job))
            if parts[5] == "events":
                q = parse_qs(urlsplit(self.path).query)
                limit = int(q.get("limit", ["20"])[0])
                events = list(reversed(job["_events"]))  # newest first
                if "after" in q:
                    ids = [e["id"] for e in events]
                    after = q["after"][0]
                    events = events[ids.index(after) + 1 :] if after in ids else []
                page = events[:limit]
                return self.send(
                    200,
                    {"object": "list", "data": page, "has_more": len(events) > limit},
                )
        return self._error(404, f"No such object: {path}", "invalid_request_error")

    def _list_jobs(self, q: dict[str, list[str]]) -> None:
        wanted = {
            k[len("metadata[") : -1]: v[0]
            for k, v in q.items()
            if k.startswith("metadata[") and k.endswith("]")
        }
        with self.fake.lock:
            self.fake.lists += 1
            jobs = sorted(self.fake.jobs.values(), key=lambda j: j["id"], reverse=True)
            for job in jobs:
                self.fake._advance(job)
        jobs = [
            j for j in jobs if all((j.get("metadata") or {}).get(k) == v for k, v in wanted.items())
        ]
        if "after" in q:
            ids = [j["id"] for j in jobs]
            after = q["after"][0]
            jobs = jobs[ids.index(after) + 1 :] if after in ids else []
        limit = int(q.get("limit", ["20"])[0])
        page = [self.fake.public(j) for j in jobs[:limit]]
        return self.send(200, {"object": "list", "data": page, "has_more": len(jobs) > limit})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if not self._ft_route(path):
            return super().do_POST()
        self.fake.touch()
        raw = self.read_body()
        self.fake.auth_headers.append(self.headers.get("Authorization", ""))
        self.fake.delay()
        if not self._authorized() or self._ft_fault():
            return None
        if path == "/v1/files":
            fields = _multipart_fields(self.headers.get("Content-Type", ""), raw)
            if "file" not in fields or "purpose" not in fields:
                return self._error(400, "Missing file or purpose", "invalid_request_error")
            with self.fake.lock:
                self.fake.uploads += 1
                fid = self.fake._add_file(
                    fields["file"], fields["purpose"].decode(), "upload.jsonl"
                )
            return self.send(200, self.fake.file_meta[fid])
        if path == "/v1/fine_tuning/jobs":
            return self._create(json.loads(raw or b"{}"))
        parts = path.split("/")
        if len(parts) == 6 and parts[5] == "cancel" and parts[4] in self.fake.jobs:
            job = self.fake.jobs[parts[4]]
            with self.fake.lock:
                self.fake._advance(job)
                if job["status"] not in ("succeeded", "failed"):
                    job.update(status="cancelled", finished_at=int(time.time()))
            return self.send(200, self.fake.public(job))
        return self._error(404, f"Unknown route {path}", "invalid_request_error")

    def _training_examples(self, body: dict[str, Any]) -> tuple[int, int] | None:
        """``(examples, tokens)`` of the training file, or None once a 400 has been sent
        (a missing file, a file of another purpose, a line that is not a chat example,
        fewer than 10 examples)."""
        problems = []
        examples = 0
        tokens = 0
        for key in ("training_file", "validation_file"):
            fid = body.get(key)
            if fid is None and key == "validation_file":
                continue
            meta = self.fake.file_meta.get(fid or "")
            if meta is None:
                self._error(400, f"File {fid} not found.", "invalid_request_error", key)
                return None
            if meta["purpose"] != "fine-tune":
                problems.append(f"{fid} has purpose {meta['purpose']}, not fine-tune")
            for n, line in enumerate(self.fake.files[fid].decode().splitlines(), 1):
                try:
                    msgs = json.loads(line)["messages"]
                    assert msgs[-1]["role"] == "assistant"
                    assert all(isinstance(m["content"], str) for m in msgs)
                except (ValueError, KeyError, IndexError, AssertionError, TypeError):
                    problems.append(f"line {n} of {fid} is not a chat example")
                    break
                if key == "training_file":
                    examples += 1
                    tokens += sum(len(m["content"].split()) + 4 for m in msgs)
        if problems:
            self._error(400, "Invalid file: " + "; ".join(problems), "invalid_request_error")
            return None
        if examples < 10:
            self._error(
                400,
                f"Training file has {examples} example(s), but must have at least 10.",
                "invalid_request_error",
                "invalid_n_examples",
            )
            return None
        return examples, tokens

    def _create(self, body: dict[str, Any]) -> None:
        model = body.get("model")
        if model not in BASE_MODELS:
            return self._error(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                "invalid_request_error",
                "model_not_available",
            )
        counted = self._training_examples(body)
        if counted is None:
            return None
        examples, tokens = counted
        method = body.get("method") or {"type": "supervised"}
        hp = (method.get(method["type"]) or {}).get("hyperparameters") or {}
        epochs = hp.get("n_epochs", "auto")
        with self.fake.lock:
            self.fake.job_creates += 1
            jid = f"ftjob-{self.fake.job_creates:04d}{int(time.time() * 1000) % 10**6:06d}"
            job = {
                "id": jid,
                "object": "fine_tuning.job",
                "created_at": int(time.time()),
                "error": None,
                "fine_tuned_model": None,
                "finished_at": None,
                "hyperparameters": {
                    "n_epochs": 3 if epochs == "auto" else epochs,
                    "batch_size": hp.get("batch_size", 1),
                    "learning_rate_multiplier": hp.get("learning_rate_multiplier", 1.8),
                },
                "model": model,
                "organization_id": "org-test",
                "result_files": [],
                "seed": body.get("seed") or 0,
                "status": "validating_files",
                "trained_tokens": None,
                "training_file": body["training_file"],
                "validation_file": body.get("validation_file"),
                "method": method,
                "suffix": body.get("suffix"),
                "metadata": body.get("metadata"),
                "_started": time.time(),
                "_events": [],
                "_steps": 0,
                "_examples": examples,
                "_tokens": tokens * (3 if epochs == "auto" else int(epochs)),
                "_fail": self.fake.fail_next_job,
            }
            self.fake.fail_next_job = None
            job["_events"].append(
                {
                    "id": f"ftevent-{jid}-0",
                    "object": "fine_tuning.job.event",
                    "created_at": job["created_at"],
                    "level": "info",
                    "message": f"Created fine-tuning job: {jid}",
                    "type": "message",
                    "data": {},
                }
            )
            self.fake.jobs[jid] = job
        if self.fake.create_delay:
            time.sleep(self.fake.create_delay)
        return self.send(200, self.fake.public(job))


class FakeFineTuneServer(FakeOpenAIServer):
    """``with FakeFineTuneServer(phases=(0.1, 0.1, 0.3)) as srv: ...``."""

    handler_class = FineTuneHandler

    def __init__(
        self,
        phases: tuple[float, float, float] = (0.1, 0.1, 0.3),
        steps: int = 3,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.phases = phases
        self.steps = steps
        self.file_meta: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.uploads = 0
        self.job_creates = 0
        self.retrieves = 0
        self.fail_next_job: str | None = None  # an error message for the next job
        self.ft_faults: list[int] = []  # statuses (429/500) for the next fine-tuning requests
        self.create_delay = 0.0  # seconds between creating a job and answering with it
        self.lists = 0
        self.auth_headers: list[str] = []

    # -- the job clock ---------------------------------------------------------------------
    def _advance(self, job: dict[str, Any]) -> None:
        """Move ``job`` to the state its age implies and add the events of each step."""
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return
        age = time.time() - job["_started"]
        v, q, r = self.phases
        ev = job["_events"]

        def event(msg: str, kind: str = "message", data: Any = None, level: str = "info"):
            ev.append(
                {
                    "id": f"ftevent-{job['id']}-{len(ev)}",
                    "object": "fine_tuning.job.event",
                    "created_at": int(job["_started"]) + len(ev),
                    "level": level,
                    "message": msg,
                    "type": kind,
                    "data": data or {},
                }
            )

        if age >= v and job["status"] == "validating_files":
            if job["_fail"]:
                job.update(
                    status="failed",
                    finished_at=int(time.time()),
                    error={"code": "invalid_training_file", "message": job["_fail"], "param": None},
                )
                event(job["_fail"], level="error")
                return
            job["status"] = "queued"
            event("Files validated, moving job to queued state")
        if age >= v + q and job["status"] == "queued":
            job["status"] = "running"
            event(f"Fine-tuning job started: {job['_examples']} examples")
        if job["status"] == "running":
            done = min(self.steps, int((age - v - q) / max(r, 1e-9) * self.steps))
            while job["_steps"] < done:
                job["_steps"] += 1
                s = job["_steps"]
                loss = round(2.0 / (s + 1), 4)
                event(
                    f"Step {s}/{self.steps}: training loss={loss}",
                    "metrics",
                    {"step": s, "train_loss": loss, "total_steps": self.steps},
                )
        if age >= v + q + r and job["status"] == "running":
            name = f"ft:{job['model']}:dreamer-lab:{job['suffix'] or 'model'}:{job['id'][-8:]}"
            job.update(
                status="succeeded",
                fine_tuned_model=name,
                finished_at=int(time.time()),
                trained_tokens=job["_tokens"],
                result_files=[self._add_file(b"step,train_loss\n", "fine-tune-results")],
            )
            self.models.add(name)
            event(f"New fine-tuned model created: {name}")
            event("The job has successfully completed")

    def _add_file(self, content: bytes, purpose: str, filename: str = "results.csv") -> str:
        fid = f"file-{len(self.files) + 1}"
        self.files[fid] = content
        self.file_meta[fid] = {
            "id": fid,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        return fid

    @staticmethod
    def public(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    # -- HTTP ------------------------------------------------------------------------------


def _multipart_fields(content_type: str, raw: bytes) -> dict[str, bytes]:
    """The named parts of a multipart/form-data body."""
    from email.parser import BytesParser
    from email.policy import HTTP

    msg = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    out = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            out[name] = part.get_payload(decode=True)
    return out


def main() -> None:  # pragma: no cover - manual use
    srv = FakeFineTuneServer(idle_timeout=60.0).start()
    print(f"PORT {srv.port}", flush=True)
    srv._stopped.wait()


if __name__ == "__main__":
    main()
