"""``Together`` and ``MistralAI`` with the real ``openai`` client against the local
OpenAI-compatible test server, served under each provider's own path and (for Mistral)
refusing the OpenAI-only fields the real API refuses."""

from __future__ import annotations

import pytest
from fake_keys import fake_key
from openai_server import FakeOpenAIServer
from resume_harness import kill_resume_rerun

LLAMA = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
MISTRAL_ONLY_REJECTS = ("max_completion_tokens", "seed", "logit_bias")


@pytest.fixture
def together_key(monkeypatch):
    key = fake_key("together")
    monkeypatch.setenv("TOGETHER_API_KEY", key)
    return key


@pytest.fixture
def mistral_key(monkeypatch):
    key = fake_key("mistral")
    monkeypatch.setenv("MISTRAL_API_KEY", key)
    return key


@pytest.fixture
def together_server(together_key):
    with FakeOpenAIServer(
        api_key=together_key, models=(LLAMA,), path_prefix="/together", idle_timeout=60
    ) as srv:
        yield srv


@pytest.fixture
def mistral_server(mistral_key):
    with FakeOpenAIServer(
        api_key=mistral_key,
        models=("mistral-small-latest",),
        path_prefix="/mistral",
        reject_fields=MISTRAL_ONLY_REJECTS,
        idle_timeout=60,
    ) as srv:
        yield srv


def test_together_defaults_and_identity(together_key):
    from dreamer_lab.llms import Together

    llm = Together(LLAMA)
    assert llm.base_url == "https://api.together.xyz/v1"
    assert llm._identity()["endpoint"] == "https://api.together.xyz/v1"
    assert llm.get_max_context_length(100) == 131072 - 100
    assert llm._price(1_000_000, 1_000_000) == pytest.approx(0.88 * 2)
    assert llm.model_card and "together" in llm.license
    assert Together(LLAMA, max_context_length=4096).get_max_context_length(0) == 4096
    # The key is read from TOGETHER_API_KEY, never part of the identity or a pickle.
    assert llm._key() == together_key
    other = Together(LLAMA, api_key=fake_key("other"))
    assert other.__dreamer_fingerprint__() == llm.__dreamer_fingerprint__()
    # A different endpoint or template is a different model identity.
    assert Together(LLAMA, base_url="http://x/v1").__dreamer_fingerprint__() != (
        llm.__dreamer_fingerprint__()
    )
    assert Together(LLAMA, chat_prompt_template="[INST] {{prompt}} [/INST]")._identity() != (
        llm._identity()
    )


def test_together_generates_with_its_own_fields_retries_and_caches(workspace, together_server):
    from dreamer_lab.llms import Together

    srv = together_server
    srv.latency = 0.02
    srv.inject("429", 1, retry_after=0.2)
    srv.inject("500", 1)
    llm = Together(LLAMA, base_url=srv.base_url, backoff_base=0.01, system_prompt="Be brief.")
    assert srv.base_url.endswith("/together/v1")
    prompts = [f"q{i}" for i in range(6)]
    out = llm.run(
        prompts,
        max_new_tokens=20,
        temperature=0.7,
        top_p=0.9,
        repetition_penalty=1.1,
        top_k=40,
        min_p=0.05,
        verbose=False,
    )
    assert out == [srv.reply_for(p) for p in prompts]
    assert srv.statuses[429] == 1 and srv.statuses[500] == 1 and llm.last_usage.retries == 2
    body = srv.bodies[-1]
    assert body["max_tokens"] == 20 and "max_completion_tokens" not in body
    assert body["repetition_penalty"] == 1.1 and "frequency_penalty" not in body
    assert (body["top_k"], body["min_p"]) == (40, 0.05)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    u = llm.last_usage
    assert u.requests == 6 and not u.estimated_tokens
    assert u.cost == pytest.approx((u.prompt_tokens + u.completion_tokens) * 0.88 / 1e6)
    sent = srv.requests
    assert llm.run(prompts, max_new_tokens=20, temperature=0.7, top_p=0.9,
                   repetition_penalty=1.1, top_k=40, min_p=0.05, verbose=False) == out  # fmt: skip
    assert srv.requests == sent and llm.last_usage.cached == 6


def test_together_raw_prompts_and_templates_use_the_completions_api(workspace, together_server):
    from dreamer_lab.llms import Together

    srv = together_server
    raw = Together(LLAMA, chat_prompt_template=None, base_url=srv.base_url)
    assert raw.run(["tell me"], max_new_tokens=5, verbose=False) == ["echo: tell me"]
    assert srv.bodies[-1]["prompt"] == "tell me" and srv.bodies[-1]["max_tokens"] == 5
    templated = Together(
        LLAMA,
        chat_prompt_template="<s>[INST] {{system_prompt}} {{prompt}} [/INST]",
        system_prompt="Be kind.",
        base_url=srv.base_url,
    )
    out = templated.run(["hi"], verbose=False)
    assert srv.bodies[-1]["prompt"] == "<s>[INST] Be kind. hi [/INST]"
    assert out == [srv.reply_for("<s>[INST] Be kind. hi [/INST]")]


def test_together_key_errors_name_its_variable(workspace, together_server, monkeypatch):
    from dreamer_lab.llms import LLMError, Together

    monkeypatch.delenv("TOGETHER_API_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", together_server.api_key)  # not Together's variable
    with pytest.raises(LLMError, match="Set the TOGETHER_API_KEY environment variable"):
        Together(LLAMA, base_url=together_server.base_url).run(["hi"], verbose=False)
    assert together_server.requests == 0
    wrong = fake_key("wrong")
    with pytest.raises(LLMError, match="rejected \\(401\\). Check TOGETHER_API_KEY") as e:
        Together(LLAMA, base_url=together_server.base_url, api_key=wrong).run(["hi"], verbose=False)
    assert wrong not in str(e.value) and wrong[-4:] not in str(e.value)


def test_together_budget_uses_its_price_table(workspace, together_server):
    from dreamer_lab.llms import CostBudgetExceededError, Together

    # (0.88 + 0.88) $/1M tokens: 20 requests of ~20 tokens fit in 1e-4 $, not in 1e-5 $.
    llm = Together(LLAMA, base_url=together_server.base_url, max_cost=1e-5, max_concurrency=1)
    with pytest.raises(CostBudgetExceededError):
        llm.run([f"b{i}" for i in range(20)], max_new_tokens=3, verbose=False)
    assert 0 < together_server.served < 20


def test_together_kill_resume_rerun(tmp_path, together_key):
    with FakeOpenAIServer(
        api_key=together_key, models=(LLAMA,), path_prefix="/together", latency=0.03
    ) as srv:
        kill_resume_rerun(
            tmp_path,
            f"""
            from dreamer_lab.llms import Together

            def make(url):
                return Together({LLAMA!r}, base_url=url, max_concurrency=8)
            """,
            srv.base_url,
            answered=lambda: srv.served,
            cache_file="together",
            expected=lambda out: out == [f"echo: row {i}" for i in range(200)],
            secrets=[together_key],
            env={"TOGETHER_API_KEY": together_key},
        )


def test_mistral_sends_its_own_field_names(workspace, mistral_server):
    from dreamer_lab.llms import MistralAI

    srv = mistral_server
    llm = MistralAI("mistral-small-latest", base_url=srv.base_url, backoff_base=0.01)
    assert MistralAI("mistral-small-latest").base_url == "https://api.mistral.ai/v1"
    srv.inject("429", 2, retry_after=0)
    out = llm.run(
        ["un", "deux"],
        max_new_tokens=8,
        seed=3,
        temperature=0.5,
        top_p=1.0,
        safe_prompt=True,
        verbose=False,
    )
    assert out == ["echo: un", "echo: deux"]
    body = srv.bodies[-1]
    assert body["max_tokens"] == 8 and isinstance(body["random_seed"], int)
    assert body["safe_prompt"] is True
    assert not set(MISTRAL_ONLY_REJECTS) & set(body)
    assert llm.last_usage.retries == 2
    u = llm.last_usage
    assert u.cost == pytest.approx((u.prompt_tokens * 0.10 + u.completion_tokens * 0.30) / 1e6)
    assert llm.get_max_context_length(0) == 131072
    assert "jiang2023mistral" in llm.citation[0]


def test_mistral_refuses_logit_bias_before_sending(workspace, mistral_server):
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.llms import MistralAI

    llm = MistralAI("mistral-small-latest", base_url=mistral_server.base_url)
    with pytest.raises(StepInputError, match="does not support logit_bias"):
        llm.run(["x"], logit_bias={1: 5.0}, verbose=False)
    assert mistral_server.requests == 0


def test_mistral_server_would_reject_openai_only_fields(workspace, mistral_server):
    """The test server really refuses them: plain OpenAI() against it fails (422)."""
    from dreamer_lab.llms import LLMError, OpenAI

    plain = OpenAI(
        "mistral-small-latest", base_url=mistral_server.base_url, api_key=mistral_server.api_key
    )
    with pytest.raises(LLMError, match="422.*max_completion_tokens"):
        plain.run(["x"], max_new_tokens=4, verbose=False)


def test_mistral_kill_resume_rerun(tmp_path, mistral_key):
    with FakeOpenAIServer(
        api_key=mistral_key,
        models=("mistral-small-latest",),
        path_prefix="/mistral",
        reject_fields=MISTRAL_ONLY_REJECTS,
        latency=0.03,
    ) as srv:
        kill_resume_rerun(
            tmp_path,
            """
            from dreamer_lab.llms import MistralAI

            def make(url):
                return MistralAI("mistral-small-latest", base_url=url, max_concurrency=8)
            """,
            srv.base_url,
            answered=lambda: srv.served,
            cache_file="mistral_ai",
            expected=lambda out: out == [f"echo: row {i}" for i in range(200)],
            secrets=[mistral_key],
            env={"MISTRAL_API_KEY": mistral_key},
        )
