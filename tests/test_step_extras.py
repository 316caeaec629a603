"""DataDreamer's step extras: pickle()/unpickle() of values stored in rows (signed: tampered
or foreign values are refused, never executed), help, dataset_path and data_card()."""

from __future__ import annotations

import os
import pickle

import pytest

from dreamer_lab.errors import UntrustedObjectError
from dreamer_lab.steps import DataSource, Prompt, Step


class Point:
    def __init__(self, x: int, y: int):
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


class Pickles(Step):
    def setup(self):
        self.register_input("n", help="How many points.")
        self.register_arg("scale", required=False, default=1, help="Multiplier.")
        self.register_output("point", help="A pickled Point.")

    def run(self):
        return [self.pickle(Point(n * self.args["scale"], -n)) for n in self.inputs["n"]]


class Planted:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _points(workspace_step_input):
    return Pickles("points", inputs={"n": workspace_step_input}, args={"scale": 10})


def test_pickled_values_round_trip_through_the_store(workspace):
    src = DataSource("n", {"n": [1, 2]})
    step = _points(src.output["n"])
    raw = step.output.dataset["point"]  # what is stored: signed bytes
    assert all(isinstance(v, bytes) for v in raw)
    assert [step.unpickle(v) for v in raw] == [Point(10, -1), Point(20, -2)]
    assert step.output["point"].to_list() == [Point(10, -1), Point(20, -2)]  # read: values
    again = _points(src.output["n"])  # loaded from the cache: still readable
    assert again.cache_hit is True
    assert again.output["point"][1] == Point(20, -2)
    # Rows copied by an operation stay readable downstream.
    taken = step.select([1])
    assert taken.output["point"][0] == Point(20, -2)
    with pytest.raises(TypeError, match="already unpickled"):
        step.unpickle(step.output["point"][0])


def test_tampered_or_foreign_values_are_refused_never_executed(workspace, tmp_path):
    src = DataSource("n", {"n": [1]})
    step = _points(src.output["n"])
    good = step.output.dataset["point"][0]
    flipped = bytearray(good)
    flipped[-3] ^= 0x01
    with pytest.raises(UntrustedObjectError, match="signature does not match"):
        step.unpickle(bytes(flipped))
    marker = tmp_path / "executed"
    header, _, _ = good.rpartition(b"\x00")
    planted = header + b"\x00" + pickle.dumps(Planted(str(marker)))
    with pytest.raises(UntrustedObjectError, match="signature does not match"):
        step.unpickle(planted)
    with pytest.raises(UntrustedObjectError, match="did not make"):
        step.unpickle(pickle.dumps(Planted(str(marker))))
    assert not marker.exists()  # nothing was unpickled
    # A valid value from an unrelated step is not this step's to read.
    other = Pickles("other", inputs={"n": DataSource("m", {"n": [5]}).output["n"]})
    with pytest.raises(UntrustedObjectError, match="neither this step nor one of its ancestors"):
        step.unpickle(other.output.dataset["point"][0])
    with pytest.raises(TypeError, match="takes the bytes"):
        step.unpickle("text")  # type: ignore[arg-type]


def test_a_trusted_workspace_reads_values_signed_with_another_key(tmp_path, monkeypatch):
    from dreamer_lab import DataDreamer

    with DataDreamer(tmp_path / "ws"):
        value = _points(DataSource("n", {"n": [3]}).output["n"]).output.dataset["point"][0]
    monkeypatch.setenv("DREAMER_LAB_SIGNING_KEY_FILE", str(tmp_path / "other.key"))
    with DataDreamer(tmp_path / "ws"):
        step = _points(DataSource("n", {"n": [3]}).output["n"])
        with pytest.raises(UntrustedObjectError, match="another user"):
            step.unpickle(value)
    with DataDreamer(tmp_path / "ws", trust=True):
        step = _points(DataSource("n", {"n": [3]}).output["n"])
        assert step.unpickle(value) == Point(30, -3)


def test_help_describes_inputs_args_and_outputs():
    text = Pickles.help  # on the class: nothing runs
    assert text.splitlines()[0] == "Pickles("
    assert "'n': 'How many points.'" in text
    assert "'scale': 'Multiplier. (optional, defaults to 1)'" in text
    assert "'point': 'A pickled Point.'" in text
    assert text.index("inputs") < text.index("args") < text.index("outputs")
    prompt = Prompt.help
    assert "'prompts'" in prompt and "'llm'" in prompt and "'generations'" in prompt


def test_dataset_path_and_data_card(workspace, capsys):
    import datasets

    src = DataSource("rows", {"text": ["a", "b", "c"]})
    step = src.map(lambda row: {"text": row["text"].upper()}, name="upper")
    assert step.help.startswith(type(step).__name__ + "(")
    path = step.dataset_path
    assert os.path.isdir(path)
    assert datasets.load_from_disk(path)["text"] == ["A", "B", "C"]
    step.data_card()
    card = capsys.readouterr().out
    assert card.startswith("---\n") and "# Dataset card: upper" in card
    assert step.fingerprint in card and src.fingerprint in card  # the lineage is in it


class Streamed(Step):
    def setup(self):
        self.register_output("x")

    def run(self):
        from dreamer_lab.steps.lazy import LazyRows

        def rows():
            yield from ({"x": i} for i in range(3))

        return LazyRows(rows, total_num_rows=3)


def test_dataset_path_of_a_lazy_output_says_to_save_it_first(workspace):
    step = Streamed("streamed")
    with pytest.raises(RuntimeError, match=r"Use \.save\(\) on the step"):
        _ = step.dataset_path
