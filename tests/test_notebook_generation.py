"""%%dream cells take every generation option of the Python API, cap generation by default,
and end interrupts and bad options in one readable line (a real IPython shell, a real
OpenAI client over HTTP to the local test server)."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell
from openai_server import API_KEY, FakeOpenAIServer

from tests.test_magics import ok, run


@pytest.fixture(scope="module")
def shell():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "dreamer_lab")
    yield ip
    ip.run_line_magic("unload_ext", "dreamer_lab")


@pytest.fixture
def server():
    with FakeOpenAIServer(idle_timeout=60) as srv:
        yield srv


@pytest.fixture
def ip(shell, workspace, server):
    from dreamer_lab.llms import OpenAI

    before = set(shell.user_ns)
    shell.user_ns["llm"] = OpenAI(
        "gpt-4o-mini", base_url=server.base_url, api_key=API_KEY, backoff_base=0.01
    )
    magics = shell.magics_manager.registry["DreamMagics"]
    yield shell
    magics.max_new_tokens = 256
    for name in set(shell.user_ns) - before:
        shell.user_ns.pop(name, None)


def error_text(ip, code: str) -> str:
    result, cap = run(ip, code)
    assert result.error_in_exec is not None or result.error_before_exec is not None
    return cap.stdout + cap.stderr


def stamps(cap) -> list[dict]:
    return [o.metadata["dreamer_lab"] for o in cap.outputs if "dreamer_lab" in o.metadata]


def test_every_generation_option_reaches_the_model_as_in_the_python_api(ip, server):
    from dreamer_lab.steps import Prompt

    ok(ip, '%dream q = DataSource(data={"q": ["hi", "there"]})')
    ok(
        ip,
        '%dream out = Prompt(prompts=q.output["q"], llm=llm, max_new_tokens=7, '
        'temperature=0.5, top_p=0.9, seed=3, stop=["\\n\\n"], batch_size=1)',
    )
    body = server.bodies[-1]
    assert body["max_completion_tokens"] == 7 and body["temperature"] == 0.5
    assert body["top_p"] == 0.9 and "seed" in body and body["stop"] == ["\n\n"]
    out = ip.user_ns["out"]
    assert out.output["generations"].to_list() == ["echo: hi", "echo: there"]
    # The same call through the Python API is the same step (a cache hit, no request).
    sent = len(server.bodies)
    same = Prompt(
        "out",
        inputs={"prompts": ip.user_ns["q"].output["q"]},
        args={
            "llm": ip.user_ns["llm"],
            "max_new_tokens": 7,
            "temperature": 0.5,
            "top_p": 0.9,
            "seed": 3,
            "stop": ["\n\n"],
            "batch_size": 1,
        },
    )
    assert same.fingerprint == out.fingerprint and same.cache_hit and len(server.bodies) == sent


def test_generation_is_capped_by_default_and_the_cap_is_configurable(ip, server):
    ok(ip, '%dream q = DataSource(data={"q": ["a"]})')
    ok(ip, '%dream capped = Prompt(prompts=q.output["q"], llm=llm)')
    assert server.bodies[-1]["max_completion_tokens"] == 256
    ok(ip, "%%dream n2 = DataFromPrompt(llm=llm, n=1)\nWrite one word.")
    assert server.bodies[-1]["max_completion_tokens"] == 256
    cap = ok(ip, "%dream config max_new_tokens=none")
    assert "max_new_tokens: none" in cap.outputs[-1].data["text/plain"]
    ok(ip, '%dream uncapped = Prompt(prompts=q.output["q"], llm=llm)')
    assert "max_completion_tokens" not in server.bodies[-1]
    assert "max_new_tokens" in error_text(ip, "%dream config max_new_tokens=-3")


def test_an_unknown_option_lists_the_user_options_only(ip):
    ok(ip, '%dream q = DataSource(data={"q": ["a"]})')
    text = error_text(ip, '%dream bad = Prompt(prompts=q.output["q"], llm=llm, max_tokens=5)')
    assert "has no option 'max_tokens'" in text and "max_new_tokens" in text
    for internal in ("save_num_shards", "save_num_proc", "background", "lazy"):
        assert internal not in text
    assert "Traceback" not in text


def test_an_interrupted_step_shows_interrupted_in_one_line(ip):
    ok(
        ip,
        """
        from dreamer_lab.steps import Step

        class Slow(Step):
            def setup(self):
                self.register_output("x")

            def run(self):
                raise KeyboardInterrupt
        """,
    )
    result, cap = run(ip, "%dream s = Slow()")
    assert result.error_in_exec is not None
    text = cap.stdout + cap.stderr
    assert "StepInterrupted" in text and "run the cell again to resume" in text
    assert "Traceback" not in text and "dreamer_lab/" not in text
    assert stamps(cap)[-1]["status"] == "interrupted"


def test_help_and_status_read_well_in_a_cell(ip):
    cap = ok(ip, "%dream --help")
    lines = cap.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "max_new_tokens" in cap.stdout and "%dream wizard" in cap.stdout
    cap = ok(ip, "%dream status")
    assert "default llm: the embedded SmolLM2-135M-Instruct" in cap.outputs[-1].data["text/plain"]
    help_text = ok(ip, "%dream help Prompt").stdout
    assert "Generation options" in help_text and "max_new_tokens" in help_text
    assert max(len(line) for line in help_text.splitlines()) <= 100


def test_dream_wizard_shows_the_wizards(ip):
    from dreamer_lab.notebook.wizards import CardWidget, GenerationWizard, TrainingWizard

    for line, cls in (
        ("%dream wizard", GenerationWizard),
        ("%dream wizard train", TrainingWizard),
        ("%dream wizard card", CardWidget),
    ):
        cap = ok(ip, line)
        assert cap.outputs, line
        assert "application/vnd.jupyter.widget-view+json" in cap.outputs[-1].data
        assert cls.__name__ in cap.outputs[-1].data["text/plain"]


def test_a_plain_cell_ending_with_a_step_shows_the_step_view(ip):
    ok(
        ip,
        'from dreamer_lab.steps import DataSource\nplain = DataSource("plain", data={"t": ["a"]})',
    )
    data, _meta = ip.display_formatter.format(ip.user_ns["plain"])  # what Out[] shows
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/plain"].startswith("plain (DataSource): computed, 1 rows")


def test_views_and_the_lineage_payload_share_one_status_vocabulary(ip):
    import json

    from dreamer_lab.api import lineage
    from dreamer_lab.core.status import Status
    from dreamer_lab.server.schema import __file__ as schema_init

    schema = json.loads(
        (__import__("pathlib").Path(schema_init).parent / "lineage.json").read_text()
    )
    assert schema["$defs"]["StepState"]["enum"] == [s.value for s in Status]
    first = stamps(ok(ip, '%dream v = DataSource(data={"q": ["a"]})'))[-1]
    states = {n["name"]: n["state"] for n in lineage().nodes}
    assert first["status"] == states["v"] == "computed"
    again = stamps(ok(ip, '%dream v = DataSource(data={"q": ["a"]})'))[-1]
    states = {n["name"]: n["state"] for n in lineage().nodes}
    assert again["status"] == states["v"] == "loaded from cache"
