"""Local test doubles of commercial LLM APIs, in their own wire formats, for the
routing-library backends (``dreamer_lab.llms.Anthropic`` and friends) used with the real
``litellm`` client.

* :class:`AnthropicServer`: Messages API, ``POST /v1/messages``, ``x-api-key``,
  ``usage.input_tokens/output_tokens``; structured output as a forced ``json_tool_call``
  tool use (what litellm sends for older models) or ``output_format``.
* :class:`CohereServer`: v2 chat, ``POST /v2/chat``, bearer key, ``usage.tokens`` and
  ``usage.billed_units``.
* :class:`GeminiServer`: ``POST /v1beta/models/{model}:generateContent`` (``x-goog-api-key``,
  ``usageMetadata``, ``candidateCount``, JSON schema via ``response_json_schema``) and
  the Vertex AI route ``POST /v1/projects/{p}/locations/{l}/publishers/google/models/
  {model}:generateContent`` with OAuth bearer tokens from its own ``POST /token``
  endpoint (service-account JWTs are accepted by issuer; see :func:`service_account_file`).
* :class:`BedrockServer`: Converse, ``POST /model/{modelId}/converse``; requests carry a
  SigV4 ``Authorization`` header whose access key id is checked (the signature is not);
  structured output as a forced ``json_tool_call`` tool use.
* :class:`AI21Server`: AI21's chat API is OpenAI's format: the OpenAI test double.

Like ``openai_server.FakeOpenAIServer``: 127.0.0.1 only, a 128-connection listen backlog,
configurable latency, injected 429s (with or without ``Retry-After``), 500s and malformed
bodies, usage fields, each provider's answer to a wrong key and an unknown model (401,
or what the real API answers: Gemini 400 ``API_KEY_INVALID``, Bedrock 403
``UnrecognizedClientException``), counters per prompt, and a stop after
``idle_timeout`` seconds without requests.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, unquote

from fake_keys import fake_key
from openai_server import FakeOpenAIServer
from provider_server_base import ProviderHandler, ProviderServer, _text_of, _words  # noqa: F401


class AnthropicServer(ProviderServer):
    """Anthropic's Messages API (``base_url`` is the root, like ``api.anthropic.com``)."""

    default_models = ("claude-3-5-haiku-20241022", "claude-sonnet-4-5-20250929")
    _TYPES = {
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
        500: "api_error",
        400: "invalid_request_error",
    }

    def route(self, path: str) -> str | None:
        return "" if path.rstrip("/") == "/v1/messages" else None

    def error(self, status: int, message: str, kind: str) -> tuple[int, Any, dict[str, str]]:
        etype = self._TYPES.get(status, "api_error")
        return status, {"type": "error", "error": {"type": etype, "message": message}}, {}

    def auth_error(self, path: str, headers: Any) -> tuple[int, Any, dict[str, str]] | None:
        if headers.get("x-api-key") == self.api_key:
            return None
        return self.error(401, "invalid x-api-key", "auth")

    def parse(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]
        schema, json_mode = None, False
        choice = body.get("tool_choice") or {}
        if choice.get("type") == "tool":
            tool = next(t for t in body.get("tools", []) if t["name"] == choice["name"])
            schema, json_mode = tool["input_schema"], True
        elif isinstance(body.get("output_format"), dict):
            schema, json_mode = body["output_format"].get("schema"), True
        return {
            "model": body.get("model"),
            "prompt": _text_of(last["content"]),
            "system": _text_of(body.get("system") or ""),
            "n": 1,
            "max_tokens": body.get("max_tokens"),
            "stop": body.get("stop_sequences"),
            "schema": schema,
            "json": json_mode,
            "tool": choice.get("name") if choice.get("type") == "tool" else None,
        }

    def render(self, req: dict[str, Any], texts: list[str], structured: Any) -> Any:
        if req["tool"]:
            content = [
                {"type": "tool_use", "id": "toolu_01", "name": req["tool"], "input": structured[0]}
            ]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": texts[0]}]
            stop = "end_turn"
        out: dict[str, Any] = {
            "id": f"msg_{self.requests}",
            "type": "message",
            "role": "assistant",
            "model": req["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
        }
        out["usage"] = {
            "input_tokens": _words(req["system"], req["prompt"]) if self.usage else 0,
            "output_tokens": _words(*texts) if self.usage else 0,
        }
        return out


class CohereServer(ProviderServer):
    """Cohere's v2 chat API (``base_url`` is the root, like ``api.cohere.com``)."""

    default_models = ("command-r", "command-r-plus-08-2024")

    def route(self, path: str) -> str | None:
        return "" if path.rstrip("/") == "/v2/chat" else None

    def error(self, status: int, message: str, kind: str) -> tuple[int, Any, dict[str, str]]:
        if kind == "not_found" and message.startswith("model: "):
            message = f"model '{message[7:]}' not found, make sure the correct model ID was used"
        return status, {"id": "err", "message": message}, {}

    def auth_error(self, path: str, headers: Any) -> tuple[int, Any, dict[str, str]] | None:
        if headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return self.error(401, "invalid api token", "auth")

    def parse(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        msgs = body["messages"]
        system = " ".join(_text_of(m["content"]) for m in msgs if m["role"] == "system")
        return {
            "model": body.get("model"),
            "prompt": _text_of(msgs[-1]["content"]),
            "system": system,
            "n": 1,
            "max_tokens": body.get("max_tokens"),
            "stop": body.get("stop_sequences"),
            "schema": None,
            "json": False,
        }

    def render(self, req: dict[str, Any], texts: list[str], structured: Any) -> Any:
        pt, ct = _words(req["system"], req["prompt"]), _words(*texts)
        out: dict[str, Any] = {
            "id": f"chat-{self.requests}",
            "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": texts[0]}]},
        }
        if self.usage:
            out["usage"] = {
                "billed_units": {"input_tokens": pt, "output_tokens": ct},
                "tokens": {"input_tokens": pt + 4, "output_tokens": ct},
            }
        else:
            out["usage"] = {}
        return out


def _b64json(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


class GeminiServer(ProviderServer):
    """The Gemini API (``base_url`` = ``.../v1beta``) and Vertex AI's Gemini route
    (``vertex_base_url`` = the root) with an OAuth token endpoint (``token_uri``)."""

    default_models = ("gemini-2.0-flash", "gemini-2.5-flash")
    _STATUS = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
    }
    _GEMINI = re.compile(r"^/v1beta/models/([^/:]+):generateContent$")
    _VERTEX = re.compile(
        r"^/v1/projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/:]+)"
        r":generateContent$"
    )

    def __init__(
        self,
        *args: Any,
        service_account: str = "sa@test-project.iam.gserviceaccount.com",
        **kw: Any,
    ):
        super().__init__(*args, **kw)
        self.service_account = service_account
        self.project = "test-project"
        self.tokens: set[str] = set()
        self.token_requests = 0

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1beta"

    @property
    def vertex_base_url(self) -> str:
        return self.root

    @property
    def token_uri(self) -> str:
        return f"{self.root}/token"

    def route(self, path: str) -> str | None:
        m = self._GEMINI.match(path) or self._VERTEX.match(path)
        return unquote(m.groups()[-1]) if m else None

    def error(self, status: int, message: str, kind: str) -> tuple[int, Any, dict[str, str]]:
        if kind == "not_found" and message.startswith("model: "):
            message = (
                f"models/{message[7:]} is not found for API version v1beta, or is not "
                "supported for generateContent."
            )
        body = {
            "error": {
                "code": status,
                "message": message,
                "status": self._STATUS.get(status, "UNKNOWN"),
            }
        }
        return status, body, {}

    def auth_error(self, path: str, headers: Any) -> tuple[int, Any, dict[str, str]] | None:
        if path.startswith("/v1/projects/"):  # Vertex AI: an OAuth token from /token
            auth = headers.get("Authorization", "")
            project = path.split("/")[3]
            if auth.removeprefix("Bearer ") in self.tokens and project == self.project:
                return None
            return self.error(401, "Request had invalid authentication credentials.", "auth")
        key = headers.get("x-goog-api-key") or parse_qs(path.partition("?")[2]).get("key", [""])[0]
        if key == self.api_key:
            return None
        # What the real API answers to a wrong key.
        status, body, h = self.error(400, "API key not valid. Please pass a valid API key.", "auth")
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        ]
        return status, body, h

    def extra_post(self, handler: Any, path: str, raw: bytes) -> bool:
        if path != "/token":
            return False
        self.touch()
        form = parse_qs(raw.decode())
        try:
            claims = _b64json(form["assertion"][0].split(".")[1])
        except (KeyError, IndexError, ValueError):
            claims = {}
        with self.lock:
            self.token_requests += 1
        if claims.get("iss") != self.service_account:
            handler.send(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            )
            return True
        token = fake_key("vertex-token")
        with self.lock:
            self.tokens.add(token)
        handler.send(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})
        return True

    def parse(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        contents = body.get("contents") or []
        user = [c for c in contents if c.get("role", "user") == "user"]
        parts = user[-1]["parts"] if user else []
        system = body.get("system_instruction") or body.get("systemInstruction") or {}
        cfg = body.get("generationConfig") or body.get("generation_config") or {}

        def get(*names: str) -> Any:
            return next((cfg[n] for n in names if n in cfg), None)

        mime = get("response_mime_type", "responseMimeType")
        schema = get(
            "response_json_schema", "responseJsonSchema", "response_schema", "responseSchema"
        )
        return {
            "model": model,
            "prompt": parts[-1].get("text", "") if parts else "",
            "system": _text_of(system.get("parts", [])),
            "n": int(get("candidate_count", "candidateCount") or 1),
            "max_tokens": get("max_output_tokens", "maxOutputTokens"),
            "stop": get("stop_sequences", "stopSequences"),
            "schema": schema,
            "json": mime == "application/json",
        }

    def render(self, req: dict[str, Any], texts: list[str], structured: Any) -> Any:
        out: dict[str, Any] = {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": t}]},
                    "finishReason": "STOP",
                    "index": i,
                }
                for i, t in enumerate(texts)
            ],
            "modelVersion": req["model"],
        }
        if self.usage:
            pt, ct = _words(req["system"], req["prompt"]), _words(*texts)
            out["usageMetadata"] = {
                "promptTokenCount": pt,
                "candidatesTokenCount": ct,
                "totalTokenCount": pt + ct,
            }
        return out


def service_account_file(server: GeminiServer, folder: Any, email: str | None = None) -> Any:
    """A service-account key file whose ``token_uri`` is ``server``'s token endpoint,
    with a fresh RSA key (made here, never committed); returns its path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": server.project,
        "private_key_id": "test-key-1",
        "private_key": pem,
        "client_email": email or server.service_account,
        "client_id": "1",
        "token_uri": server.token_uri,
    }
    path = folder / f"service-account-{int(time.time() * 1e6)}.json"
    path.write_text(json.dumps(info))
    return path


class BedrockServer(ProviderServer):
    """Amazon Bedrock's Converse API (``base_url`` = the runtime endpoint)."""

    default_models = ("anthropic.claude-3-haiku-20240307-v1:0", "meta.llama3-8b-instruct-v1:0")
    _PATH = re.compile(r"^/model/([^/]+)/converse$")
    _TYPES = {
        400: "ValidationException",
        403: "AccessDeniedException",
        404: "ResourceNotFoundException",
        429: "ThrottlingException",
        500: "InternalServerException",
    }

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        # An access key id of the real shape (AKIA + 16), made at run time.
        self.access_key_id = "AKIA" + fake_key("x")[-16:].upper()
        self.secret_access_key = self.api_key

    def route(self, path: str) -> str | None:
        m = self._PATH.match(path)
        return unquote(m.group(1)) if m else None

    def error(self, status: int, message: str, kind: str) -> tuple[int, Any, dict[str, str]]:
        etype = self._TYPES.get(status, "InternalServerException")
        if kind == "not_found" and message.startswith("model: "):
            message = "Could not resolve the foundation model from the provided model identifier."
        return (
            status,
            {"message": message},
            {"x-amzn-ErrorType": f"{etype}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
        )

    def auth_error(self, path: str, headers: Any) -> tuple[int, Any, dict[str, str]] | None:
        auth = headers.get("Authorization", "")
        m = re.search(r"Credential=([^/]+)/", auth)
        signed = auth.startswith("AWS4-HMAC-SHA256 ") and "Signature=" in auth
        if signed and m and m.group(1) == self.access_key_id:
            return None
        status, body, _ = self.error(
            403, "The security token included in the request is invalid.", "auth"
        )
        return (
            status,
            body,
            {
                "x-amzn-ErrorType": "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/"
            },
        )

    def parse(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]
        cfg = body.get("inferenceConfig") or {}
        schema, tool = None, None
        tools = (body.get("toolConfig") or {}).get("tools") or []
        if tools:
            spec = tools[0]["toolSpec"]
            tool, schema = spec["name"], spec["inputSchema"]["json"]
        return {
            "model": model,
            "prompt": _text_of(last["content"]),
            "system": _text_of(body.get("system") or []),
            "n": 1,
            "max_tokens": cfg.get("maxTokens"),
            "stop": cfg.get("stopSequences"),
            "schema": schema,
            "json": tool is not None,
            "tool": tool,
        }

    def render(self, req: dict[str, Any], texts: list[str], structured: Any) -> Any:
        if req["tool"]:
            content = [
                {"toolUse": {"toolUseId": "tooluse_1", "name": req["tool"], "input": structured[0]}}
            ]
            stop = "tool_use"
        else:
            content = [{"text": texts[0]}]
            stop = "end_turn"
        out: dict[str, Any] = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "metrics": {"latencyMs": int(self.latency * 1000)},
        }
        pt, ct = _words(req["system"], req["prompt"]), _words(*texts)
        out["usage"] = {"inputTokens": pt, "outputTokens": ct, "totalTokens": pt + ct}
        return out


class AI21Server(FakeOpenAIServer):
    """AI21's chat API speaks OpenAI's format (``base_url`` = ``.../v1``, like
    ``api.ai21.com/studio/v1``)."""

    def __init__(self, latency: float = 0.0, idle_timeout: float = 120.0, **kw: Any):
        kw.setdefault("api_key", fake_key("ai21"))
        kw.setdefault("models", ("jamba-mini", "jamba-large"))
        super().__init__(latency=latency, idle_timeout=idle_timeout, **kw)


SERVERS = {
    "anthropic": AnthropicServer,
    "cohere": CohereServer,
    "gemini": GeminiServer,
    "bedrock": BedrockServer,
}


def main() -> None:
    """``python tests/provider_servers.py anthropic --latency 0.2 --api-key KEY`` serves
    one wire format in this process (for benchmarks) and prints ``PORT <n>``."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("provider", choices=sorted(SERVERS))
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--idle-timeout", type=float, default=60.0)
    ap.add_argument("--api-key", required=True, help="the key clients must send")
    ap.add_argument("--access-key-id", help="Bedrock: the AWS access key id clients sign with")
    args = ap.parse_args()
    srv = SERVERS[args.provider](
        latency=args.latency, idle_timeout=args.idle_timeout, api_key=args.api_key
    )
    if args.access_key_id:
        srv.access_key_id = args.access_key_id
    srv.start()
    print(f"PORT {srv.port}", flush=True)
    srv._stopped.wait()


if __name__ == "__main__":
    main()
