"""``%%dream`` / ``%dream`` driven through a real IPython shell."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from dreamer_lab.errors import DreamerError


@pytest.fixture(scope="module")
def shell():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "dreamer_lab")
    yield ip
    ip.run_line_magic("unload_ext", "dreamer_lab")


@pytest.fixture
def ip(shell, workspace):
    before = set(shell.user_ns)
    yield shell
    for name in set(shell.user_ns) - before:
        shell.user_ns.pop(name, None)


def run(ip, code: str):
    with capture_output() as cap:
        result = ip.run_cell(textwrap.dedent(code).strip("\n"))
    return result, cap


def ok(ip, code: str):
    result, cap = run(ip, code)
    assert result.error_in_exec is None and result.error_before_exec is None, cap.stdout
    return cap


def texts(cap) -> str:
    return cap.stdout + "\n".join(o.data.get("text/plain", "") for o in cap.outputs)


def stamps(cap) -> list[dict]:
    return [o.metadata.get("dreamer_lab") for o in cap.outputs if "dreamer_lab" in o.metadata]


def test_load_ext_does_not_import_heavy_libraries():
    code = (
        "import sys; from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance(); ip.run_line_magic('load_ext', 'dreamer_lab')\n"
        "assert 'dream' in ip.magics_manager.magics['cell']\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'openai', 'anywidget',"
        " 'trl', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_step_line_binds_a_step_and_stamps_the_output(ip):
    cap = ok(ip, '%dream src = DataSource(data={"q": ["a", "bb", "ccc"]})')
    src = ip.user_ns["src"]
    from dreamer_lab.steps import Step

    assert isinstance(src, Step)
    assert src.name == "src" and src.output["q"].to_list() == ["a", "bb", "ccc"]
    final = cap.outputs[-1]
    assert final.metadata["dreamer_lab"]["fingerprint"] == src.fingerprint
    assert final.metadata["dreamer_lab"]["step"] == "src"
    assert {"text/plain", "text/markdown", "application/vnd.jupyter.widget-view+json"} <= set(
        final.data
    )
    assert "3 rows" in final.data["text/plain"]


def test_rerunning_a_step_cell_is_a_cache_hit(ip):
    line = '%dream src = DataSource(data={"q": ["a", "b"]})'
    first = stamps(ok(ip, line))[-1]
    second = stamps(ok(ip, line))[-1]
    assert first["cache_hit"] is False and first["status"] == "computed"
    assert second["cache_hit"] is True and second["status"] == "loaded from cache"
    assert first["fingerprint"] == second["fingerprint"]


def test_cell_body_is_a_template_with_columns_and_variables(ip):
    ok(
        ip,
        """
        from dreamer_lab.steps import Step

        class Render(Step):
            def setup(self):
                self.register_input("text")
                self.register_arg("template")
                self.register_output("out")

            def run(self):
                t = self.args["template"]
                return {"out": [t.format(text=x) for x in self.inputs["text"]]}
        """,
    )
    ok(ip, '%dream words = DataSource(data={"text": ["cat", "dog"]})')
    ip.user_ns["tone"] = "angry"
    ok(ip, "%%dream shout = Render(words)\nSay {text} in an {tone} voice; {{literal}}.")
    out = ip.user_ns["shout"].output["out"].to_list()
    assert out == ["Say cat in an angry voice; {literal}.", "Say dog in an angry voice; {literal}."]
    # A changed variable changes the template, hence the fingerprint.
    ip.user_ns["tone"] = "calm"
    cap = ok(ip, "%%dream shout = Render(words)\nSay {text} in an {tone} voice; {{literal}}.")
    assert stamps(cap)[-1]["cache_hit"] is False
    assert ip.user_ns["shout"].output["out"][0] == "Say cat in an calm voice; {literal}."


def test_prompts_input_is_rendered_once_per_row(ip):
    ok(
        ip,
        """
        from dreamer_lab.steps import Step

        class Echo(Step):
            def setup(self):
                self.register_input("prompts")
                self.register_output("generations")

            def run(self):
                return {"generations": [p.upper() for p in self.inputs["prompts"]]}
        """,
    )
    ok(ip, '%dream qs = DataSource(data={"q": ["why", "how"], "lang": ["en", "fr"]})')
    ip.user_ns["style"] = "briefly"
    ok(ip, "%%dream ans = Echo(qs)\nAnswer {style} in {lang}: {q}")
    assert ip.user_ns["ans"].output["generations"].to_list() == [
        "ANSWER BRIEFLY IN EN: WHY",
        "ANSWER BRIEFLY IN FR: HOW",
    ]
    assert "qs" in [p.name for p in ip.user_ns["ans"].parents[0].parents]


def _error(ip, code: str) -> tuple[BaseException, str]:
    result, cap = run(ip, code)
    assert isinstance(result.error_in_exec, DreamerError), cap.stdout
    text = cap.stdout.strip()
    assert "Traceback" not in text and len(text.splitlines()) <= 2, text
    return result.error_in_exec, text


@pytest.mark.parametrize(
    ("code", "fragments"),
    [
        ('%dream x = DataSorce(data={"q": [1]})', ["Unknown step", "Did you mean DataSource"]),
        ('%dream x = DataSource(data={"q": [1]}', ["Malformed first line", "result = StepKind"]),
        ("%dream x = 3 + DataSource", ["must call a step"]),
        ('%dream x = DataSource(dta={"q": [1]})', ["no option 'dta'", "Did you mean data=?"]),
        ("%dream x = DataSource(data=undefined_var)", ["'undefined_var' is not defined"]),
        ("%dream nonsense", ["Unknown command", "%dream"]),
        (
            "%%dream x = Render(words)\nHello {nope}",
            ["StepInputError", "{nope}", "a column (text)"],
        ),
        ('%%dream x = DataSource(data={"q": [1]})\nHello', ["takes no template"]),
        ("%%dream x = Echo(words)\nQ: {text}", []),
        ("%%dream x = Echo(words)\nQ: {missing}", ["{missing}", "a column of 'words'"]),
        ("%%dream x = Echo()\nQ: {text}", ["pass the step whose rows fill"]),
        ('%%dream DataSource(data={"q": [1]})\nhi', ["Name the result"]),
        ("%%dream --bogus\nx = 1", ["Unknown flag", "[--force] [--quiet] [--name LABEL]"]),
        ("%%dream --name\nx = 1", ["--name: expected one argument"]),
        ("%dream status --bogus", ["unknown argument '--bogus'", "Usage: %dream status [-h]"]),
        ("%dream --bogus", ["unknown argument", "{status,ls,why,config,steps,help,wizard}"]),
        ("%dream help A B", ["unknown argument 'B'", "%dream help [-h] [KIND]"]),
    ],
)
def test_bad_input_gives_one_line_with_the_fix_and_loses_nothing(ip, workspace, code, fragments):
    ok(
        ip,
        """
        from dreamer_lab.steps import Step

        class Render(Step):
            def setup(self):
                self.register_input("text")
                self.register_arg("template")
                self.register_output("out")

            def run(self):
                return {"out": list(self.inputs["text"])}

        class Echo(Step):
            def setup(self):
                self.register_input("prompts")
                self.register_output("generations")

            def run(self):
                return {"generations": list(self.inputs["prompts"])}
        """,
    )
    ok(ip, '%dream words = DataSource(data={"text": ["a", "b"]})')
    stored = sorted((workspace / "steps").iterdir())
    if not fragments:  # the valid twin of the next case: proves the error is about the name
        ok(ip, code)
        return
    _err, text = _error(ip, code)
    for fragment in fragments:
        assert fragment in text
    assert sorted((workspace / "steps").iterdir()) == stored
    assert ip.user_ns["words"].output["text"].to_list() == ["a", "b"]


def test_a_failing_user_step_shows_a_short_error_and_the_users_frame(ip):
    ok(
        ip,
        """
        from dreamer_lab.steps import Step

        class Broken(Step):
            def setup(self):
                self.register_output("x")

            def run(self):
                return {"x": [1 / 0]}
        """,
    )
    result, cap = run(ip, "%dream b = Broken()")
    assert type(result.error_in_exec).__name__ == "StepFailedError"
    text = cap.stdout
    assert "ZeroDivisionError" in text and "In your code:" in text and "1 / 0" in text
    assert "dreamer_lab/steps/step.py" not in text and "core/memo.py" not in text


def test_help_everywhere_without_tracebacks(ip):
    for code, expected in [
        ("%dream --help", "Memoized code cells"),
        ("%dream", "Commands:"),
        ("%%dream --help\nbody", "Memoized code cells"),
        ("%dream help DataSource", "DataSource: Rows from memory"),
        ('%%dream x = DataSource(data={"a": [1]}) --help\nbody', "Options:"),
        ("%%dream DataSource -h\nbody", "Cell body: not used"),
        ("%dream status --help", "%dream status:"),
        ("%dream --help why", "%dream why:"),
        ("%dream config --help llm=x", "%dream config:"),
        ("%%dream --force --help\nbody", "Memoized code cells"),
    ]:
        cap = ok(ip, code)
        assert expected in cap.stdout, (code, cap.stdout)
    assert "x" not in ip.user_ns


def test_status_ls_why_and_config(ip, workspace):
    ok(ip, '%dream src = DataSource(data={"q": ["a"]})')
    ok(ip, '%dream src = DataSource(data={"q": ["a", "b"]})')
    status = ok(ip, "%dream status").outputs[-1].data["text/plain"]
    assert str(workspace.resolve()) in status and "steps: 2 stored" in status
    assert "cache sizes: steps" in status
    listing = ok(ip, "%dream ls").outputs[-1].data
    assert listing["text/plain"].count("src") == 2 and "| name |" in listing["text/markdown"]
    why = ok(ip, "%dream why src").outputs[-1].data["text/plain"]
    assert "differs from the previous run" in why and "data changed" in why
    ip.user_ns["smol"] = object()
    cfg = ok(ip, "%dream config llm=smol budget=2.5").outputs[-1].data["text/plain"]
    assert "llm: smol" in cfg and "budget: $2.5" in cfg
    _err, text = _error(ip, "%dream config llm=not_there")
    assert "no variable 'not_there'" in text
    ok(ip, "%dream config llm= budget=none")
    _err, text = _error(ip, "%dream why never_ran")
    assert "%dream ls" in text


def test_config_workspace_switches_the_workspace(ip, tmp_path):
    from dreamer_lab.core.workspace import current_workspace

    target = tmp_path / "other_ws"
    try:
        ok(ip, f"%dream config workspace={target}")
        assert current_workspace().path == target.resolve()
        ok(ip, '%dream s = DataSource(data={"q": [1]})')
        assert len(list((target / "steps").iterdir())) == 1
    finally:
        magics = ip.magics_manager.registry["DreamMagics"]
        magics._session.stop()
        magics._session = None


def test_unloading_the_extension_closes_the_session_config_opened(ip, tmp_path):
    from dreamer_lab.core.workspace import active_workspace

    before = active_workspace()
    ok(ip, f"%dream config workspace={tmp_path / 'config_ws'}")
    assert active_workspace().path == (tmp_path / "config_ws").resolve()
    ip.run_line_magic("unload_ext", "dreamer_lab")
    try:
        assert active_workspace() is before  # not left open for whatever runs next
    finally:
        ip.run_line_magic("load_ext", "dreamer_lab")


def test_config_shows_an_object_storage_workspace_by_its_url(ip, tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMER_LAB_REMOTE_CACHE", str(tmp_path / "cache"))
    try:
        text = texts(ok(ip, "%dream config workspace=memory://magics-test/team"))
        assert "workspace: memory://magics-test/team (read cache " in text
    finally:
        ip.run_line_magic("unload_ext", "dreamer_lab")
        ip.run_line_magic("load_ext", "dreamer_lab")


def test_memoized_code_cell_skips_on_hit_and_restores_variables(ip, tmp_path):
    marker = tmp_path / "runs.txt"
    ip.user_ns["marker"] = str(marker)
    ip.user_ns["factor"] = 3
    ok(
        ip,
        """
        def helper(v):
            return v * 2
        """,
    )
    cell = """%%dream
import math
with open(marker, "a") as f:
    f.write("ran\\n")
def local_fn(v):
    return v + 1
values = [helper(i) * factor for i in range(5)]  # a comment
total = sum(values)
print("total is", total)
total
"""
    cap = ok(ip, cell)
    assert marker.read_text() == "ran\n" and "total is 60" in cap.stdout
    assert stamps(cap)[-1]["cache_hit"] is False
    for name in ("values", "total", "local_fn", "math"):
        del ip.user_ns[name]
    # Same code modulo comments and blank lines: skipped, variables restored, output replayed.
    result, cap = run(ip, cell.replace("  # a comment", "") + "\n\n# trailing comment\n")
    assert result.error_in_exec is None and result.result == 60  # the last expression
    assert marker.read_text() == "ran\n"
    assert ip.user_ns["total"] == 60 and ip.user_ns["values"] == [0, 6, 12, 18, 24]
    assert ip.user_ns["local_fn"](1) == 2 and ip.user_ns["math"].pi > 3
    assert "total is 60" in cap.stdout and stamps(cap)[-1]["cache_hit"] is True
    # A changed variable it reads misses.
    ip.user_ns["factor"] = 4
    ok(ip, cell)
    assert marker.read_text() == "ran\nran\n" and ip.user_ns["total"] == 80
    # A changed helper defined in another cell misses too.
    ok(ip, "def helper(v):\n    return v * 10")
    ok(ip, cell)
    assert marker.read_text().count("ran") == 3 and ip.user_ns["total"] == 400
    why = ok(ip, "%dream why 'cell: f, local_fn, values, total'").outputs[-1].data["text/plain"]
    assert "variable 'helper' changed" in why


def test_memoized_cell_errors_show_the_users_code_and_store_nothing(ip, workspace):
    before = sorted((workspace / "steps").iterdir())
    result, cap = run(ip, "%%dream\ny = 1\nz = y / 0")
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    assert sorted((workspace / "steps").iterdir()) == before
    assert ip.user_ns["y"] == 1  # what the cell did before failing is kept
    cap = ok(ip, "%%dream\nimport threading\nlock = threading.Lock()\nn = 5")
    assert "not saved (cannot be pickled" in texts(cap) and ": lock" in texts(cap)
    del ip.user_ns["n"]
    cap = ok(ip, "%%dream\nimport threading\nlock = threading.Lock()\nn = 5")
    assert stamps(cap)[-1]["cache_hit"] is True and ip.user_ns["n"] == 5
    assert "missing after a cache hit): lock" in texts(cap)


def test_memoized_cell_reading_an_unhashable_value_names_it(ip):
    import threading

    ip.user_ns["handle"] = threading.Lock()
    result, cap = run(ip, "%%dream\nz = handle")
    assert type(result.error_in_exec).__name__ == "UnhashableValueError"
    assert "variable 'handle'" in cap.stdout and "Traceback" not in cap.stdout


def _complete(ip, text: str) -> list[str]:
    with provisionalcompleter():
        return [c.text for c in ip.Completer.completions(text, len(text))]


def test_tab_completion_of_commands_kinds_and_options(ip):
    assert {"status", "steps"} <= set(_complete(ip, "%dream st"))
    assert "DataSource" in _complete(ip, "%%dream src = DataSo")
    assert "data=" in _complete(ip, "%%dream src = DataSource(da")
    assert "force=" in _complete(ip, '%%dream src = DataSource(data={"a": [1]}, fo')
    assert "DataSource" in _complete(ip, "%dream help Data")


def test_memoized_cell_never_saves_secrets_and_recreates_them_on_a_hit(ip, workspace, monkeypatch):
    import secrets

    from fake_keys import fake_key

    key, other = fake_key("memo"), fake_key("memo2")
    plain = "plain-" + secrets.token_hex(8)  # not key-shaped, known to nothing
    monkeypatch.setenv("MEMO_INPUT", key)
    monkeypatch.setenv("MEMO_PLAIN", plain)
    cell = (
        "%%dream\nimport os\nhf_token = os.environ['MEMO_INPUT']\nalias = hf_token\n"
        "n = len(alias)\nprint('got', alias)\n"
        "class Holder:\n    def __init__(self, key):\n        self.api_key = key\n"
        "holder = Holder(os.environ['MEMO_PLAIN'])"
    )
    ok(ip, cell)
    for p in workspace.rglob("*"):
        if p.is_file():
            assert key.encode() not in p.read_bytes() and plain.encode() not in p.read_bytes()
    for name in ("hf_token", "alias", "n", "holder", "Holder"):
        del ip.user_ns[name]
    cap = ok(ip, cell)
    assert stamps(cap)[-1]["cache_hit"] is True
    assert ip.user_ns["hf_token"] == ip.user_ns["alias"] == key and ip.user_ns["n"] == len(key)
    assert ip.user_ns["holder"].api_key == plain
    assert "got ***REDACTED***" in cap.stdout  # the replayed output was scrubbed
    # On a hit the secret is read again the way the cell reads it.
    monkeypatch.setenv("MEMO_INPUT", other)
    assert stamps(ok(ip, cell))[-1]["cache_hit"] is True
    assert ip.user_ns["alias"] == other


def test_first_line_flags_split_outside_strings_and_brackets():
    from dreamer_lab.notebook.parser import CodeLine, HelpLine, StepLine, parse_first_line

    line = parse_first_line("x = K(a='b --force', c=[1 -2], d=f\"{y} -h\") --quiet --force")
    assert isinstance(line, StepLine) and set(line.options) == {"a", "c", "d"}
    assert line.flags.quiet and line.flags.force and not line.flags.help
    code = parse_first_line("--name 'clean rows' --force")
    assert isinstance(code, CodeLine) and code.flags.name == "clean rows" and code.flags.force
    assert parse_first_line("K --help") == HelpLine("K")
