"""``OpenAIAssistant``: OpenAI's Assistants API (v2) through the official ``openai`` client.

One assistant per model identity (model, instructions, tools, endpoint) answers every
prompt in a thread of its own: the thread is created and run in one request, the run is
polled until it finishes, the assistant's reply is read and the thread deleted. The
assistant's id is kept in the workspace (``requests/openai_assistants.json``), so a rerun
after a restart reuses it instead of creating another; ``unload_model()`` deletes it.

Everything else is :class:`~dreamer_lab.llms.OpenAI`'s: key, concurrency, rate limits, the
retry policy, the cost budget and the request cache. A run that fails on the server with
``rate_limit_exceeded`` or ``server_error`` is retried like a 429 or a 5xx answer.

The ``openai`` client marks the Assistants API deprecated in favour of the Responses API;
it still has it, and so does this backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.errors import StepInputError
from dreamer_lab.llms.api_llm import Failure, MalformedResponse
from dreamer_lab.llms.base import LLMError
from dreamer_lab.llms.openai import OpenAI

_FINISHED = ("completed", "failed", "cancelled", "expired", "incomplete", "requires_action")


class _RunFailed(Exception):
    """A run ended without completing (``last_error`` code and message)."""

    def __init__(self, status: str, code: str | None, message: str):
        super().__init__(f"run {status}: {code or 'no code'}: {message}")
        self.status, self.code, self.message = status, code, message


class OpenAIAssistant(OpenAI):
    """An OpenAI assistant (DataDreamer's arguments).

    Args:
        model_name: e.g. ``"gpt-4o-mini"``.
        system_prompt: the assistant's instructions.
        tools: the assistant's tools (``[{"type": "file_search"}]`` ...); tools that need
            outputs from the caller (``function``) are not supported.
        organization, api_key, base_url, api_version, retry_on_fail, cache_folder_path:
            as for :class:`~dreamer_lab.llms.OpenAI`.
        poll_interval: seconds between polls of a run.
        **kwargs: more :class:`~dreamer_lab.llms.OpenAI` options (``max_concurrency``,
            ``max_retries``, ``max_cost`` ...).

    ``run()`` accepts ``max_new_tokens``, ``temperature`` and ``top_p``; ``n > 1``,
    ``stop``, ``logit_bias`` and ``repetition_penalty`` are not part of the Assistants API.
    """

    backend_name = "openai_assistant"
    extra_generation_kwargs = frozenset()

    def __init__(
        self,
        model_name: str,
        system_prompt: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        organization: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        poll_interval: float = 0.5,
        **kwargs: Any,
    ):
        if kwargs.get("use_batch_api"):
            raise StepInputError("OpenAIAssistant: the Batch API does not run assistants.")
        super().__init__(
            model_name,
            system_prompt,
            organization=organization,
            api_key=api_key,
            base_url=base_url,
            api_version=api_version,
            retry_on_fail=retry_on_fail,
            cache_folder_path=cache_folder_path,
            chat=True,
            **kwargs,
        )
        self.tools = list(tools or [])
        self.poll_interval = poll_interval
        self._assistant_id: str | None = None
        self._assistant_lock: asyncio.Lock | None = None

    def _identity(self) -> dict[str, Any]:
        tools = sorted(self.tools, key=lambda t: hash_value(t, label="an assistant tool"))
        return {**super()._identity(), "assistant_tools": tools}

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_assistant_lock"] = None
        return state

    # -- parameters -----------------------------------------------------------------------------
    def _validate_params(self, params: dict[str, Any]) -> None:
        unsupported = [
            name
            for name, given in (
                ("n > 1", params["n"] != 1),
                ("stop", bool(params["stop"])),
                ("logit_bias", bool(params.get("logit_bias"))),
                ("repetition_penalty", params.get("repetition_penalty") is not None),
            )
            if given
        ]
        if unsupported:
            raise StepInputError(
                f"{self!r}: the Assistants API does not support {', '.join(unsupported)}; "
                "drop them, or use OpenAI(...) (chat completions) for them."
            )

    # -- the assistant ------------------------------------------------------------------------
    def _state_path(self) -> Path:
        from dreamer_lab.core.workspace import current_workspace

        return current_workspace().path / "requests" / "openai_assistants.json"

    def _saved_ids(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._state_path().read_text()))
        except (OSError, ValueError):
            return {}

    def _save_id(self, assistant_id: str | None) -> None:
        path = self._state_path()
        ids = self._saved_ids()
        fp = self.__dreamer_fingerprint__()
        if assistant_id is None:
            ids.pop(fp, None)
        else:
            ids[fp] = assistant_id
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(ids, indent=1))
        os.replace(tmp, path)

    async def _ensure_assistant(self, client: Any) -> str:
        import openai

        if self._assistant_lock is None:
            self._assistant_lock = asyncio.Lock()
        async with self._assistant_lock:
            if self._assistant_id is not None:
                return self._assistant_id
            saved = self._saved_ids().get(self.__dreamer_fingerprint__())
            if saved is not None:
                try:
                    await client.beta.assistants.retrieve(saved)
                    self._assistant_id = saved
                    return saved
                except openai.NotFoundError:
                    pass  # deleted on the server: make a new one
            created = await client.beta.assistants.create(
                model=self.model_name,
                instructions=self.system_prompt,
                tools=self.tools,
                name=f"dreamer_lab assistant ({time.strftime('%Y-%m-%d %H:%M')})",
                description="Created by dreamer_lab; deleted by unload_model().",
                metadata={"dreamer_lab_identity": self.__dreamer_fingerprint__()[:32]},
            )
            self._assistant_id = created.id
            self._save_id(created.id)
            return created.id

    def unload_model(self) -> None:
        """Delete the assistant on the server (a later run creates a new one)."""
        from dreamer_lab.llms.api_llm import run_coroutine

        ids = {self._assistant_id, self._saved_ids().get(self.__dreamer_fingerprint__())}
        ids.discard(None)
        if not ids:
            return

        async def delete() -> None:
            import openai

            client = self._client()
            try:
                for aid in ids:
                    with contextlib.suppress(openai.NotFoundError):
                        await client.beta.assistants.delete(aid)
            finally:
                await client.close()

        run_coroutine(delete())
        self._assistant_id = None
        self._save_id(None)

    # -- one request ----------------------------------------------------------------------------
    async def _send(
        self, client: Any, prompt: str, params: dict[str, Any], seed: Any
    ) -> dict[str, Any]:
        """One prompt in a new thread (seeds only tell requests apart: the API has none)."""
        assistant_id = await self._ensure_assistant(client)
        options: dict[str, Any] = {}
        if params["max_new_tokens"] is not None:
            options["max_completion_tokens"] = params["max_new_tokens"]
        greedy = params["temperature"] == 0 or params["top_p"] == 0
        options["temperature"] = 0.0 if greedy else params["temperature"]
        if not greedy:
            options["top_p"] = params["top_p"]
        run = await client.beta.threads.create_and_run(
            assistant_id=assistant_id,
            thread={"messages": [{"role": "user", "content": str(prompt)}]},
            **options,
        )
        thread_id = getattr(run, "thread_id", None)
        if not thread_id or not getattr(run, "id", None):
            raise MalformedResponse("a run without an id or thread id")
        try:
            while run.status not in _FINISHED:
                await asyncio.sleep(self.poll_interval)
                run = await client.beta.threads.runs.retrieve(run.id, thread_id=thread_id)
            if run.status == "requires_action":
                raise LLMError(
                    f"{self._where()}: the assistant asked for tool outputs (requires_action); "
                    "OpenAIAssistant supports tools the API runs itself (file_search, "
                    "code_interpreter), not function tools."
                )
            if run.status != "completed":
                error = getattr(run, "last_error", None)
                raise _RunFailed(
                    run.status, getattr(error, "code", None), str(getattr(error, "message", ""))
                )
            page = await client.beta.threads.messages.list(thread_id, order="asc", run_id=run.id)
            texts = [
                part.text.value
                for m in page.data
                if m.role == "assistant"
                for part in m.content
                if getattr(part, "type", None) == "text"
            ]
            if not texts:
                raise MalformedResponse("the run completed without an assistant message")
            usage = getattr(run, "usage", None)
            return self._value(
                ["\n\n".join(t.strip() for t in texts)],
                prompt,
                getattr(usage, "prompt_tokens", None),
                getattr(usage, "completion_tokens", None),
            )
        finally:
            with contextlib.suppress(Exception):  # a leftover thread is harmless
                await client.beta.threads.delete(thread_id)

    def _classify(self, e: BaseException) -> Failure | None:
        if isinstance(e, _RunFailed):
            if e.code == "rate_limit_exceeded":
                return Failure("rate_limit", 429, error=f"run {e.status}")
            if e.code in (None, "server_error") or e.status == "expired":
                return Failure("server", 500, error=f"run {e.status}", detail=e.message)
            return Failure("bad_request", 400, detail=f"run {e.status}: {e.code}: {e.message}")
        return super()._classify(e)


__all__ = ["OpenAIAssistant"]
