"""README's "What makes a step hit or miss", claim by claim, through real steps."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from dreamer_lab import DataDreamer
from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.steps import DataSource, Step


@pytest.fixture
def shell():
    sh = InteractiveShell.instance()
    yield sh
    sh.reset()


def test_docstrings_do_not_count_but_defaults_do(shell):
    shell.run_cell("def f(row, k=2):\n    return {'y': row['x'] * k}\n")
    before = hash_value(shell.user_ns["f"])
    shell.run_cell("def f(row, k=2):\n    '''Doubles x, as in the paper.'''\n    return {'y': row['x'] * k}\n")  # fmt: skip
    assert hash_value(shell.user_ns["f"]) == before
    shell.run_cell("def f(row, k=3):\n    return {'y': row['x'] * k}\n")
    assert hash_value(shell.user_ns["f"]) != before


def test_reverting_a_code_edit_finds_the_earlier_result(shell, tmp_path):
    shell.run_cell(f"from dreamer_lab import DataDreamer\nWS = {str(tmp_path / 'ws')!r}")
    shell.run_cell("from dreamer_lab.steps import DataSource")
    run = (
        "with DataDreamer(WS):\n"
        "    out = DataSource('src', {'x': [1, 2]}).map(f, name='m')\n"
    )  # fmt: skip
    shell.run_cell("def f(row):\n    return {'y': row['x'] * 2}\n")
    shell.run_cell(run)
    first = shell.user_ns["out"]
    assert not first.cache_hit
    shell.run_cell("def f(row):\n    return {'y': row['x'] * 5}\n")
    shell.run_cell(run)
    edited = shell.user_ns["out"]
    assert not edited.cache_hit and edited.fingerprint != first.fingerprint
    shell.run_cell("def f(row):\n    return {'y': row['x'] * 2}\n")
    shell.run_cell(run)
    reverted = shell.user_ns["out"]
    assert reverted.cache_hit and reverted.fingerprint == first.fingerprint
    assert list(reverted.output["y"]) == [2, 4]


class _Copy(Step):
    def setup(self):
        self.register_input("x")
        self.register_output("x")

    def run(self):
        return {"x": list(self.inputs["x"])}


class _OtherKind(_Copy):
    pass


class _NewVersion(_Copy):
    version = "2"


def test_step_kind_and_implementation_version_count(tmp_path):
    with DataDreamer(tmp_path / "ws"):
        src = DataSource("src", {"x": [1, 2]})
        fps = {
            cls.__name__: cls("copy", inputs={"x": src.output["x"]}).fingerprint
            for cls in (_Copy, _OtherKind, _NewVersion)
        }
        again = _Copy("copy", inputs={"x": src.output["x"]})
    assert len(set(fps.values())) == 3
    assert again.cache_hit and again.fingerprint == fps["_Copy"]
