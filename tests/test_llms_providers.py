"""The routing-library backends (Anthropic, Cohere, GoogleAIStudio, VertexAI, Bedrock,
AI21) with the real ``litellm`` client, over real HTTP, against local servers that speak
each provider's wire format (tests/provider_servers.py)."""

from __future__ import annotations

import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fake_keys import fake_key
from provider_servers import (
    AI21Server,
    AnthropicServer,
    BedrockServer,
    CohereServer,
    GeminiServer,
    service_account_file,
)

SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {
            "type": "object",
            "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
            "required": ["answer", "score"],
            "additionalProperties": False,
        },
    },
}


@dataclass
class Case:
    """One provider: its server, how to build the backend, and what it supports."""

    cls: str
    server: Callable[..., Any]
    model: str
    cache: str
    url: Callable[[Any], str] = lambda s: s.base_url
    honours_retry_after: bool = True
    structured: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def credentials(self, srv: Any, tmp: Path) -> dict[str, Any]:
        """Constructor arguments that authenticate against ``srv``."""
        if self.cls == "Bedrock":
            return {
                "aws_access_key_id": srv.access_key_id,
                "aws_secret_access_key": srv.secret_access_key,
            }
        if self.cls == "VertexAI":
            return {
                "vertex_project": srv.project,
                "vertex_credentials": str(service_account_file(srv, tmp)),
            }
        return {"api_key": srv.api_key}

    def wrong_credentials(self, srv: Any, tmp: Path) -> dict[str, Any]:
        if self.cls == "Bedrock":
            return {
                "aws_access_key_id": "AKIA" + fake_key("w")[-16:].upper(),
                "aws_secret_access_key": fake_key("wrong"),
            }
        if self.cls == "VertexAI":
            path = service_account_file(
                srv, tmp, email="intruder@elsewhere.iam.gserviceaccount.com"
            )
            return {"vertex_project": srv.project, "vertex_credentials": str(path)}
        return {"api_key": fake_key("wrong")}

    def env(self, srv: Any, tmp: Path) -> dict[str, str]:
        """Environment variables that authenticate a child process against ``srv``."""
        if self.cls == "Bedrock":
            return {
                "AWS_ACCESS_KEY_ID": srv.access_key_id,
                "AWS_SECRET_ACCESS_KEY": srv.secret_access_key,
            }
        if self.cls == "VertexAI":
            return {
                "GOOGLE_APPLICATION_CREDENTIALS": str(service_account_file(srv, tmp)),
                "VERTEXAI_PROJECT": srv.project,
            }
        names = {
            "Anthropic": "ANTHROPIC_API_KEY",
            "Cohere": "COHERE_API_KEY",
            "GoogleAIStudio": "GEMINI_API_KEY",
            "AI21": "AI21_API_KEY",
        }
        return {names[self.cls]: srv.api_key}

    def secrets(self, srv: Any, tmp: Path) -> list[str]:
        """Every credential that must never reach the workspace."""
        found = [srv.api_key]
        if self.cls == "Bedrock":
            found.append(srv.access_key_id)
        if self.cls == "VertexAI":
            found += sorted(srv.tokens)
            for f in tmp.glob("service-account-*.json"):
                key = json.loads(f.read_text())["private_key"]
                found.append(key.splitlines()[1])  # a line of the private key
        return found


CASES = {
    "anthropic": Case("Anthropic", AnthropicServer, "claude-3-5-haiku-20241022", "anthropic"),
    # litellm 1.110 drops Cohere's response headers from its errors: Retry-After is not
    # visible, so Cohere's 429s are retried with the exponential backoff.
    "cohere": Case(
        "Cohere",
        CohereServer,
        "command-r",
        "cohere",
        honours_retry_after=False,
        structured=False,
    ),
    "gemini": Case("GoogleAIStudio", GeminiServer, "gemini-2.0-flash", "google_ai_studio"),
    "vertex": Case(
        "VertexAI", GeminiServer, "gemini-2.0-flash", "vertex_ai", url=lambda s: s.vertex_base_url
    ),
    "bedrock": Case("Bedrock", BedrockServer, "anthropic.claude-3-haiku-20240307-v1:0", "bedrock"),
    "ai21": Case("AI21", AI21Server, "jamba-mini", "ai21"),
}


@pytest.fixture(params=list(CASES))
def case(request):
    return CASES[request.param]


@pytest.fixture
def server(case):
    with case.server(idle_timeout=60) as srv:
        yield srv


def make(case: Case, srv: Any, tmp: Path, **kw: Any) -> Any:
    import dreamer_lab.llms as llms

    creds = kw.pop("credentials", None) or case.credentials(srv, tmp)
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("base_url", case.url(srv))
    return getattr(llms, case.cls)(kw.pop("model", case.model), **creds, **kw)


def test_generates_with_usage_and_cost_and_reruns_from_cache(case, server, workspace, tmp_path):
    llm = make(case, server, tmp_path, system_prompt="Be terse.")
    prompts = [f"question {i}" for i in range(10)]
    out = llm.run(prompts, max_new_tokens=50, verbose=False)
    assert out == [server.reply_for(p) for p in prompts]
    assert server.requests == 10
    u = llm.last_usage
    assert u.requests == 10 and not u.estimated_tokens
    assert u.completion_tokens == 10 * 3
    assert u.prompt_tokens >= 10 * 2
    price = llm._price_entry()
    assert price is not None, "every default test model has a list price"
    assert u.cost == pytest.approx(
        (u.prompt_tokens * price[0] + u.completion_tokens * price[1]) / 1e6
    )
    # The system prompt and max_new_tokens reach the provider in its own format.
    assert "Be terse." in json.dumps(server.bodies[0])
    # Rerun: nothing sent, nothing paid.
    assert llm.run(prompts, max_new_tokens=50, verbose=False) == out
    assert server.requests == 10
    assert llm.last_usage.cached == 10 and llm.last_usage.cost == 0


def test_429_with_retry_after_500_and_malformed_are_retried(case, server, workspace, tmp_path):
    llm = make(case, server, tmp_path, max_concurrency=2)
    server.inject("429", 1, retry_after=1)
    server.inject("429", 1)  # without Retry-After: jittered backoff
    server.inject("500", 2)
    server.inject("malformed", 1)
    prompts = [f"p{i}" for i in range(6)]
    t0 = time.monotonic()
    out = llm.run(prompts, verbose=False)
    elapsed = time.monotonic() - t0
    assert out == [server.reply_for(p) for p in prompts]
    assert server.requests == 6 + 5 and server.served == 6
    assert llm.last_usage.retries == 5 and llm.last_usage.requests == 6
    if case.honours_retry_after:
        assert elapsed >= 1.0  # the 429's Retry-After: 1 was waited for


def test_retries_are_bounded_and_finished_requests_kept(case, server, workspace, tmp_path):
    from dreamer_lab.llms import LLMError

    llm = make(case, server, tmp_path, max_retries=2, max_concurrency=1)
    server.inject_for_prompt("doomed", "500", 10)
    with pytest.raises(LLMError, match="server error 50[03] after 3 attempts"):
        llm.run(["ok 1", "ok 2", "doomed"], verbose=False)
    before = server.requests
    server.prompt_faults.clear()
    assert llm.run(["ok 1", "ok 2", "doomed"], verbose=False)[2] == server.reply_for("doomed")
    assert server.requests - before == 1


def test_bad_credentials_unknown_model_and_unreachable_endpoint(case, server, workspace, tmp_path):
    from dreamer_lab.llms import LLMError, UnknownModelError

    wrong = case.wrong_credentials(server, tmp_path)
    with pytest.raises(LLMError) as e:
        make(case, server, tmp_path, credentials=wrong).run(["hi"], verbose=False)
    msg = str(e.value)
    assert "rejected" in msg and "not shown" in msg
    if case.cls == "VertexAI":
        key = json.loads(Path(wrong["vertex_credentials"]).read_text())["private_key"]
        hidden = [key.splitlines()[1]]
    else:
        hidden = [v for k, v in wrong.items() if "key" in k]
    for secret in hidden:
        assert secret not in msg and secret[-6:] not in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__

    unknown = case.model.replace("-", "-nope-", 1)
    with pytest.raises(UnknownModelError, match="does not serve model .* Check the model name"):
        make(case, server, tmp_path, model=unknown).run(["hi"], verbose=False)

    dead = make(case, server, tmp_path, base_url="http://127.0.0.1:9", max_retries=1)
    with pytest.raises(LLMError, match="cannot reach the endpoint .* Check base_url"):
        dead.run(["hi"], verbose=False)


def test_missing_key_fails_before_any_request(case, server, workspace, tmp_path, monkeypatch):
    import dreamer_lab.llms as llms
    from dreamer_lab.llms import LLMError

    cls = getattr(llms, case.cls)
    if not cls.key_envs:
        pytest.skip(f"{case.cls} falls back to its cloud's credential chain")
    for name in cls.key_envs:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LLMError, match=f"no API key. Set the {cls.key_envs[0]}"):
        cls(case.model, base_url=case.url(server)).run(["hi"], verbose=False)
    assert server.requests == 0


def test_structured_output_is_sent_and_validated(case, server, workspace, tmp_path):
    from dreamer_lab.errors import StepInputError

    llm = make(case, server, tmp_path)
    if not case.structured:
        with pytest.raises(StepInputError, match="cannot constrain output"):
            llm.run(["json"], response_format=SCHEMA, verbose=False)
        assert server.requests == 0
        return
    out = llm.run(["give json"], response_format=SCHEMA, max_new_tokens=100, verbose=False)
    assert json.loads(out[0]) == {"answer": "give json", "score": 0}
    assert "answer" in json.dumps(server.bodies[-1])  # the schema went to the provider


def test_invalid_structured_output_is_reported(workspace, tmp_path):
    from dreamer_lab.llms import StructuredOutputError

    with AnthropicServer() as srv:
        # Newer Claude models get the schema as output_format and answer JSON text, which
        # max_new_tokens cuts: the validation names the cut rows.
        llm = make(CASES["anthropic"], srv, tmp_path, model="claude-sonnet-4-5-20250929")
        with pytest.raises(StructuredOutputError, match="raise max_new_tokens") as e:
            llm.run(["long answer " * 5], response_format=SCHEMA, max_new_tokens=3, verbose=False)
        assert "output_format" in srv.bodies[-1]
        assert e.value.errors[0] is not None


_CHILD = """
import sys
import dreamer_lab.llms as llms
from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataSource, Prompt

ws, cls, model, url = sys.argv[1:5]
with DataDreamer(ws):
    src = DataSource("prompts", {"p": [f"row {i}" for i in range(200)]})
    llm = getattr(llms, cls)(model, base_url=url, max_concurrency=8)
    Prompt("generate", inputs={"prompts": src.output["p"]}, args={"llm": llm})
"""


def test_kill_halfway_then_resume_and_rerun_and_no_key_on_disk(case, tmp_path):
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource, Prompt

    ws = tmp_path / "ws"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(_CHILD))
    with case.server(latency=0.03, idle_timeout=90) as srv:
        env = {**os.environ, **case.env(srv, tmp_path)}
        child = subprocess.Popen(
            [sys.executable, str(script), str(ws), case.cls, case.model, case.url(srv)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp_path,
        )
        deadline = time.monotonic() + 120
        while srv.served < 100 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)  # while the server holds requests in flight
        child.wait()
        assert child.returncode == -signal.SIGKILL
        srv.settle()  # the killed child's requests still on their way reach the server first
        first_run = srv.requests
        assert 100 <= first_run < 200

        db = sqlite3.connect(ws / "requests" / f"{case.cache}.sqlite")
        cached = db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        db.close()
        assert cached >= first_run - 8 - 16 - 8  # one batch and the requests in flight

        prompts = [f"row {i}" for i in range(200)]
        with DataDreamer(ws):
            src = DataSource("prompts", {"p": prompts})
            llm = make(case, srv, tmp_path, max_concurrency=8)
            step = Prompt("generate", inputs={"prompts": src.output["p"]}, args={"llm": llm})
            gens = step.output["generations"].to_list()
            # Only the missing ones are sent (plus any retry of a transient failure).
            assert llm.last_usage.requests == 200 - cached
            assert srv.requests - first_run == 200 - cached + llm.last_usage.retries
            assert llm.last_usage.retries <= 2
            assert gens == [srv.reply_for(p) for p in prompts]
            assert sum(srv.prompts.values()) - 200 <= 8 + 16  # paid twice at most
            # A rerun is a cache hit: the step's and the requests'.
            before = srv.requests
            again = Prompt("generate", inputs={"prompts": src.output["p"]}, args={"llm": llm})
            assert again.output["generations"].to_list() == gens
            assert llm.run(prompts, verbose=False) == gens
            assert llm.last_usage.cached == 200 and srv.requests == before
        secrets = case.secrets(srv, tmp_path)
    assert json.loads((step.path / "record.json").read_text())["rows"] == 200
    for path in ws.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"a credential is in {path}"


def test_keys_stay_out_of_pickles_and_fingerprints(case, server, workspace, tmp_path):
    a = make(case, server, tmp_path)
    b = make(case, server, tmp_path, credentials=case.wrong_credentials(server, tmp_path))
    assert a.__dreamer_fingerprint__() == b.__dreamer_fingerprint__()
    data = pickle.dumps(a)
    for secret in case.secrets(server, tmp_path):
        assert secret.encode() not in data
    # Unpickled in the same process, the copy still works.
    assert pickle.loads(data).run(["after pickle"], verbose=False) == ["echo: after pickle"]


def test_unsupported_parameters_fail_before_any_request(workspace, tmp_path):
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.llms import AI21, Anthropic, Bedrock, GoogleAIStudio

    key = fake_key("unused")
    with pytest.raises(StepInputError, match="one generation per request"):
        Anthropic("claude-3-5-haiku-20241022", api_key=key).run(["x"], n=2, verbose=False)
    with pytest.raises(StepInputError, match="logit_bias"):
        GoogleAIStudio("gemini-2.0-flash", api_key=key).run(
            ["x"], logit_bias={1: 1.0}, verbose=False
        )
    with pytest.raises(StepInputError, match="no repetition penalty"):
        Bedrock("meta.llama3-8b-instruct-v1:0").run(["x"], repetition_penalty=1.2, verbose=False)
    with pytest.raises(StepInputError, match="does not accept top_p"):
        AI21("jamba-mini", api_key=key).run(["x"], temperature=0.7, top_p=0.5, verbose=False)
    with pytest.raises(StepInputError, match="unknown argument"):
        Anthropic("claude-3-5-haiku-20241022", aws_session_token=key)
    with pytest.raises(StepInputError, match="chat_prompt_template applies to local models"):
        Anthropic("claude-3-5-haiku-20241022", chat_prompt_template="{{prompt}}")


def test_n_choices_where_supported(workspace, tmp_path):
    with GeminiServer() as srv:
        llm = make(CASES["gemini"], srv, tmp_path)
        out = llm.run(["hi"], n=3, temperature=1.0, top_p=1.0, verbose=False)
    assert out == [["echo: hi", "echo: hi #1", "echo: hi #2"]]


def test_context_lengths_from_the_table_and_overrides(workspace, tmp_path):
    from dreamer_lab.llms import Anthropic, Bedrock, GoogleAIStudio, PromptTooLongError

    key = fake_key("unused")
    assert Anthropic("claude-3-5-haiku-20241022", api_key=key).get_max_context_length(0) == 200_000
    assert GoogleAIStudio("gemini-1.5-pro-002", api_key=key).get_max_context_length(0) == 2_097_152
    assert (
        Bedrock("us.anthropic.claude-3-5-haiku-20241022-v1:0").get_max_context_length(0) == 200_000
    )
    assert Anthropic("claude-unknown", api_key=key).get_max_context_length(0) is None
    with AnthropicServer() as srv:
        llm = make(CASES["anthropic"], srv, tmp_path, max_context_length=50)
        assert llm.get_max_context_length(10) == 40
        with pytest.raises(PromptTooLongError, match="Prompt 0"):
            llm.run(["word " * 100], max_new_tokens=10, verbose=False)
        assert srv.requests == 0
        # Users extend a provider's tables.
        Anthropic.CONTEXT_LENGTHS["claude-next"] = 1_000
        try:
            assert Anthropic("claude-next-1", api_key=key).get_max_context_length(0) == 1_000
        finally:
            del Anthropic.CONTEXT_LENGTHS["claude-next"]


def test_budget_concurrency_and_rate_limit_are_shared_machinery(workspace, tmp_path, monkeypatch):
    from dreamer_lab.llms import Anthropic, CostBudgetExceededError

    monkeypatch.setitem(Anthropic.PRICES, "claude-3-5-haiku", (1000.0, 1000.0))
    with AnthropicServer(latency=0.05) as srv:
        llm = make(CASES["anthropic"], srv, tmp_path, max_cost=0.05, max_concurrency=1)
        with pytest.raises(CostBudgetExceededError, match="max_cost"):
            llm.run([f"budget {i}" for i in range(20)], max_new_tokens=3, verbose=False)
        assert 0 < srv.served < 20 and llm.spent <= 0.05
        bounded = make(CASES["anthropic"], srv, tmp_path, max_concurrency=4)
        bounded.run([f"c{i}" for i in range(16)], verbose=False)
        assert srv.max_in_flight == 4


def test_missing_routing_library_names_the_extra(workspace, monkeypatch):
    import importlib.util

    from dreamer_lab.llms import Bedrock, Cohere, LLMError

    real = importlib.util.find_spec
    monkeypatch.setattr("dreamer_lab.llms.litellm_base._LITELLM", None)
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "litellm" else real(name, *a)
    )
    monkeypatch.setenv("COHERE_API_KEY", fake_key("co"))
    with pytest.raises(LLMError, match=r'pip install "dreamer-lab\[cohere\]"'):
        Cohere("command-r").run(["x"], verbose=False)
    with pytest.raises(LLMError, match=r'pip install "dreamer-lab\[bedrock\]"'):
        Bedrock("amazon.nova-lite-v1:0").run(["x"], verbose=False)


def test_importing_dreamer_lab_does_not_import_litellm():
    code = (
        "import sys, dreamer_lab, dreamer_lab.llms as l\n"
        "l.Anthropic, l.Cohere, l.GoogleAIStudio, l.VertexAI, l.Bedrock, l.AI21\n"
        "l.Anthropic('claude-3-5-haiku-20241022', api_key='x' * 20).count_tokens('hello')\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_supported_features_match_litellm():
    """Each backend's ``supports`` table claims only what litellm sends for it."""
    import dreamer_lab.llms as llms
    from dreamer_lab.llms.litellm_base import load_litellm

    litellm = load_litellm("litellm", "test")
    openai_names = {"n", "stop", "top_p", "seed", "response_format"}
    for case in CASES.values():
        cls = getattr(llms, case.cls)
        provider = cls.provider.split("/")[0]
        params = set(
            litellm.get_supported_openai_params(model=case.model, custom_llm_provider=provider)
        )
        claimed = cls.supports & openai_names
        assert claimed <= params, f"{case.cls} claims {claimed - params}"
        if "repetition_penalty" in cls.supports:
            assert "frequency_penalty" in params


def test_the_docs_example_builds_what_it_says(monkeypatch):
    """docs/providers.md's litellm example runs as written (construction only: no keys)."""
    import re

    from dreamer_lab.llms import Anthropic, Bedrock, GoogleAIStudio

    text = (Path(__file__).resolve().parents[1] / "docs" / "providers.md").read_text()
    start = text.index("## Commercial providers through litellm")
    source = re.search(r"```python\n(.*?)```", text[start:], re.DOTALL).group(1)
    scope: dict[str, Any] = {}
    exec(source, scope)
    assert isinstance(scope["claude"], Anthropic) and isinstance(scope["nova"], Bedrock)
    assert isinstance(scope["gemini"], GoogleAIStudio) and scope["gemini"].max_cost == 5.0
    assert scope["proxied"]._endpoint() == "http://127.0.0.1:4000"
    assert scope["nova"]._endpoint() == "https://bedrock-runtime.eu-west-1.amazonaws.com"


def test_credentials_in_litellm_kwargs_stay_out_of_identity_and_pickles(workspace, tmp_path):
    token = fake_key("gateway")
    with AnthropicServer() as srv:
        kw = {"extra_headers": {"Authorization": f"Bearer {token}", "X-Team": "blue"}}
        llm = make(CASES["anthropic"], srv, tmp_path, litellm_kwargs=kw)
        assert llm.run(["via gateway"], verbose=False) == ["echo: via gateway"]
        sent = {k.lower(): v for k, v in srv.headers[-1].items()}
        assert sent["authorization"] == f"Bearer {token}" and sent["x-team"] == "blue"
        ident = json.dumps(llm._identity())
        assert token not in ident and "blue" in ident  # what shapes requests keys the cache
        plain = make(CASES["anthropic"], srv, tmp_path)
        assert plain.__dreamer_fingerprint__() != llm.__dreamer_fingerprint__()
        data = pickle.dumps(llm)
        assert token.encode() not in data
        assert pickle.loads(data).litellm_kwargs == kw  # same process: restored
    for path in workspace.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes()


def test_tokenizer_model_name_counts_exactly(tmp_path):
    from tiny_models import build_tokenizer

    from dreamer_lab.llms import Anthropic

    folder = tmp_path / "tok"
    tok = build_tokenizer()
    tok.save_pretrained(folder)
    llm = Anthropic(
        "claude-3-5-haiku-20241022", api_key=fake_key("x"), tokenizer_model_name=str(folder)
    )
    text = "the quick brown fox jumps over the lazy dog"
    assert llm.count_tokens(text) == len(tok.encode(text, add_special_tokens=False))


def test_requests_per_minute_spaces_litellm_requests(workspace, tmp_path, monkeypatch):
    from dreamer_lab.llms import api_llm

    class ShortWindow(api_llm.RateLimiter):
        def __init__(self, rpm, tpm, window=0.5):
            super().__init__(rpm, tpm, window=0.5)

    monkeypatch.setattr(api_llm, "RateLimiter", ShortWindow)
    with GeminiServer() as srv:
        llm = make(CASES["gemini"], srv, tmp_path, requests_per_minute=2, max_concurrency=8)
        t0 = time.monotonic()
        llm.run([f"q{i}" for i in range(5)], verbose=False)
        assert time.monotonic() - t0 >= 1.0  # 2 per window: the 5th starts in the third
        assert srv.requests == 5


def test_no_cloud_credentials_found_says_how_to_set_them(workspace, tmp_path, monkeypatch):
    from dreamer_lab.llms import Bedrock, LLMError, VertexAI

    for name in list(os.environ):
        if name.startswith(("AWS_", "GOOGLE_", "CLOUDSDK_")):
            monkeypatch.delenv(name)
    # No shared files, no instance metadata (unreachable here anyway): fail fast.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    with BedrockServer() as b, GeminiServer() as g:
        with pytest.raises(LLMError, match="found no credentials .* AWS_ACCESS_KEY_ID"):
            Bedrock("meta.llama3-8b-instruct-v1:0", base_url=b.base_url).run(["x"], verbose=False)
        with pytest.raises(
            LLMError, match="found no credentials .* GOOGLE_APPLICATION_CREDENTIALS"
        ):
            VertexAI("gemini-2.0-flash", vertex_project=g.project, base_url=g.vertex_base_url).run(
                ["x"], verbose=False
            )
        assert b.requests == 0 and g.requests == 0
