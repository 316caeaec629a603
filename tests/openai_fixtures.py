"""The local OpenAI-compatible server, an ``OpenAI`` LLM pointed at it, and a one-line data
source: shared by the prompting-step tests (import the fixtures by name, ``# noqa: F811`` on
the tests that take them)."""

from __future__ import annotations

import pytest
from openai_server import API_KEY, FakeOpenAIServer


@pytest.fixture
def server():
    with FakeOpenAIServer(idle_timeout=60) as srv:
        yield srv


@pytest.fixture
def llm(server):
    from dreamer_lab.llms import OpenAI

    return OpenAI("gpt-4o-mini", base_url=server.base_url, api_key=API_KEY, backoff_base=0.01)


def source(name="data", **columns):
    """A ``DataSource`` with these columns (named "data" unless named)."""
    from dreamer_lab.steps import DataSource

    return DataSource(name, columns)
