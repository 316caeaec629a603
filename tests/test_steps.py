"""The Step protocol: authoring model, memoization, validation, security, recovery."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import datasets
import pytest
from fake_keys import fake_key

from dreamer_lab import DataDreamer
from dreamer_lab.core.signing import UntrustedObjectError
from dreamer_lab.core.store import CorruptEntryWarning
from dreamer_lab.errors import StepFailedError, StepInputError, WorkspaceError
from dreamer_lab.steps import DataSource, Step

CALLS: list[str] = []


class Upper(Step):
    """Upper-cases a text column; counts its runs in CALLS."""

    def setup(self):
        self.register_input("text")
        self.register_arg("suffix", default="")
        self.register_output("upper")

    def run(self):
        CALLS.append(self.name)
        return {"upper": [t.upper() + self.args["suffix"] for t in self.inputs["text"]]}


@pytest.fixture
def src(workspace):
    return DataSource("src", {"text": ["a", "b", "c"], "n": [1, 2, 3]})


def test_run_then_cache_hit(src):
    CALLS.clear()
    a = Upper("up", inputs={"text": src.output["text"]}, args={"suffix": "!"})
    assert a.output["upper"].to_list() == ["A!", "B!", "C!"]
    assert a.cache_hit is False
    b = Upper("up renamed", inputs={"text": src.output["text"]}, args={"suffix": "!"})
    assert b.cache_hit is True, "steps are addressed by fingerprint, not name"
    assert CALLS == ["up"]
    c = Upper("up", inputs={"text": src.output["text"]}, args={"suffix": "?"})
    assert c.cache_hit is False and c.fingerprint != a.fingerprint


def test_force_recomputes(src):
    CALLS.clear()
    Upper("up", inputs={"text": src.output["text"]})
    Upper("up", inputs={"text": src.output["text"]}, force=True)
    assert CALLS == ["up", "up"]


@pytest.mark.parametrize(
    "result",
    [
        {"x": [1, 2], "y": ["a", "b"]},
        [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}],
        [(1, "a"), (2, "b")],
        "generator",
        "dataset",
    ],
)
def test_run_return_shapes(workspace, result):
    class Shapes(Step):
        def setup(self):
            self.register_output("x")
            self.register_output("y")

        def run(self):
            if result == "generator":
                return ({"x": i, "y": s} for i, s in [(1, "a"), (2, "b")])
            if result == "dataset":
                return datasets.Dataset.from_dict({"y": ["a", "b"], "x": [1, 2]})
            return result

    s = Shapes("shapes")
    assert s.output.column_names == ["x", "y"]
    assert s.export_to_list() == [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}]
    assert list(s.head()["y"]) == ["a", "b"]


def test_output_renaming(src):
    s = Upper("up", inputs={"text": src.output["text"]}, outputs={"upper": "shout"})
    assert s.output.column_names == ["shout"]


def test_validation_errors_name_the_fix(src):
    with pytest.raises(
        StepInputError, match=r"unknown input\(s\) \['txt'\].*inputs are \['text'\]"
    ):
        Upper("up", inputs={"txt": src.output["text"]})
    with pytest.raises(StepInputError, match="missing required input"):
        Upper("up")
    with pytest.raises(StepInputError, match=r"unknown argument\(s\) \['sufix'\]"):
        Upper("up", inputs={"text": src.output["text"]}, args={"sufix": "!"})
    with pytest.raises(StepInputError, match="pass one of its columns"):
        Upper("up", inputs={"text": src})
    with pytest.raises(KeyError, match=r"no column 'txt'; its columns are \['text', 'n'\]"):
        src.output["txt"]
    with pytest.raises(StepInputError, match=r"unknown column\(s\) \['nope'\]"):
        src.select_columns(["nope"])


def test_bad_data_errors(workspace):
    with pytest.raises(StepInputError, match=r"different lengths \('a' has 2, 'b' has 1\)"):
        DataSource("bad", {"a": [1, 2], "b": [1]})
    with pytest.raises(StepInputError, match="empty"):
        DataSource("empty", {"a": []})
    with pytest.raises(
        StepInputError, match=r"column 'obj' holds a value of type .*object.*Convert"
    ):
        DataSource("objs", {"obj": [object(), object()]})
    with pytest.raises(StepInputError, match="dict of lists"):
        DataSource("str", "just a string")


def test_run_returning_wrong_columns(workspace):
    class Wrong(Step):
        def setup(self):
            self.register_output("a")

        def run(self):
            return {"b": [1]}

    with pytest.raises(StepInputError, match=r"missing \['a'\]; unexpected \['b'\]"):
        Wrong("wrong")


def test_failure_in_run_is_reported_and_nothing_is_stored(workspace):
    class Boom(Step):
        def setup(self):
            self.register_output("a")

        def run(self):
            raise ValueError("model exploded")

    with pytest.raises(StepFailedError, match="Boom.*ValueError: model exploded"):
        Boom("boom")
    assert list((workspace / "steps").iterdir()) == [] or all(
        (p / "record.json").exists() for p in (workspace / "steps").iterdir()
    )
    from dreamer_lab import lineage

    node = lineage().node("boom")
    assert node["status"] == "failed"


def test_unwritable_workspace(tmp_path):
    # chmod does not stop root (CI runs as root), so put the workspace under a file.
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    with pytest.raises(WorkspaceError, match="Cannot use .*Choose a folder you can write to"):
        DataDreamer(blocker / "ws").start()


def test_several_workspaces_one_after_another(tmp_path):
    with DataDreamer(tmp_path / "one"):
        a = DataSource("s", {"x": [1]})
    with DataDreamer(tmp_path / "two"):
        b = DataSource("s", {"x": [1]})
    assert a.cache_hit is False and b.cache_hit is False
    assert (tmp_path / "one" / "steps" / a.fingerprint).is_dir()
    assert (tmp_path / "two" / "steps" / b.fingerprint).is_dir()


def test_default_workspace_without_with_block(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMER_LAB_WORKSPACE", str(tmp_path / "default_ws"))
    s = DataSource("s", {"x": [1, 2]})
    assert (tmp_path / "default_ws" / "steps" / s.fingerprint / "record.json").is_file()


def test_record_contents_and_redaction(workspace):
    class WithKey(Step):
        def setup(self):
            self.register_arg("api_key")
            self.register_arg("temperature", default=0.7)
            self.register_output("a")

        def run(self):
            return {"a": [1]}

    key = fake_key("one")
    s1 = WithKey("keyed", args={"api_key": key})
    s2 = WithKey("keyed", args={"api_key": fake_key("two")})
    assert s1.fingerprint == s2.fingerprint, "a key never enters the fingerprint"
    text = (s1.path / "record.json").read_text()
    assert key not in text and "REDACTED" in text
    rec = s1.record
    for field in (
        "kind",
        "name",
        "fingerprint",
        "parents",
        "args",
        "rows",
        "columns",
        "timings",
        "versions",
    ):
        assert field in rec
    assert rec["rows"] == 1 and rec["columns"] == ["a"] and rec["args"]["temperature"] == 0.7


def test_objects_are_signed_and_tampering_is_refused(workspace, tmp_path):
    class WithObject(Step):
        def setup(self):
            self.register_output("a")

        def run(self):
            self.objects["model"] = {"weights": [1, 2, 3]}
            return {"a": [1]}

    s = WithObject("obj")
    assert s.load_object("model") == {"weights": [1, 2, 3]}
    target = s.path / "objects" / "model.joblib"
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.write_text, (sentinel, "owned"))

    target.chmod(0o644)
    target.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(UntrustedObjectError, match="signature does not match"):
        s.load_object("model")
    (s.path / "objects" / "model.joblib.sig").unlink()
    with pytest.raises(UntrustedObjectError, match="no signature"):
        s.load_object("model")
    assert not sentinel.exists(), "the planted pickle never ran"


def test_corrupt_entry_is_quarantined_and_recomputed(workspace):
    s = DataSource("s", {"x": [1, 2, 3]})
    arrow = next((s.path / "data").glob("*.arrow"))
    arrow.write_bytes(b"garbage")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = DataSource("s", {"x": [1, 2, 3]})
    assert any(issubclass(w.category, CorruptEntryWarning) for w in caught)
    assert again.cache_hit is False
    assert again.output["x"].to_list() == [1, 2, 3]
    assert list((workspace / "quarantine").iterdir())


def test_explain_names_the_changed_input(src):
    Upper("up", inputs={"text": src.output["text"]}, args={"suffix": "!"})
    changed = Upper("up", inputs={"text": src.output["text"]}, args={"suffix": "?"})
    why = changed.explain()
    assert "argument 'suffix' changed" in str(why)
    same = Upper("up", inputs={"text": src.output["text"]}, args={"suffix": "?"})
    assert "cache hit" in str(same.explain())


def test_background_step(src):
    s = Upper("bg", inputs={"text": src.output["text"]}, background=True)
    assert s.wait().output["upper"].to_list() == ["A", "B", "C"]
    assert s.progress == 1.0


def test_progress_reported_by_run(workspace):
    seen = []

    class Slow(Step):
        def setup(self):
            self.register_output("i")

        def run(self):
            for i in range(4):
                self.progress = (i + 1) / 4
                seen.append(self.progress)
            return {"i": list(range(4))}

    s = Slow("slow")
    assert seen == [0.25, 0.5, 0.75, 1.0]
    assert s.progress == 1.0
