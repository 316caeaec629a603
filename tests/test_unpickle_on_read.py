"""Values stored with ``step.pickle(value)`` read back as the values wherever a step's output
is read (rows, columns, iteration, head, exports), as in DataDreamer, and only after their
signature and origin are checked: a tampered or foreign value is refused on read, and bytes
that ``step.pickle()`` did not make stay bytes (never unpickled)."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from dreamer_lab.errors import StepInputError, UntrustedObjectError
from dreamer_lab.steps import DataSource, LazyRows, Step


class Box:
    def __init__(self, label: str):
        self.label = label

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.label == self.label


class Planted:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def boxes(name: str, labels: list[str], make: Any = None, lazy: bool = False) -> Step:
    """A step with a plain column ``label`` and a pickled column ``box``; ``make(step,
    label)`` gives the stored value (default: ``step.pickle(Box(label))``)."""

    class Boxes(Step):
        def setup(self) -> None:
            self.register_arg("labels")
            self.register_output("label")
            self.register_output("box")

        def run(self) -> Any:
            value = make or (lambda step, label: step.pickle(Box(label)))
            if lazy:
                rows = lambda: ({"label": x, "box": value(self, x)} for x in self.args["labels"])  # noqa: E731
                return LazyRows(rows, total_num_rows=len(labels))
            return {
                "label": self.args["labels"],
                "box": [value(self, x) for x in self.args["labels"]],
            }

    return Boxes(name, args={"labels": labels})


def test_rows_columns_iteration_head_and_exports_give_the_values(workspace, tmp_path):
    step = boxes("boxes", ["a", "b", "c"])
    out, want = step.output, [Box("a"), Box("b"), Box("c")]
    assert all(isinstance(v, bytes) for v in out.dataset["box"])  # stored: signed bytes
    assert out[0] == {"label": "a", "box": Box("a")}
    assert out[1:3] == {"label": ["b", "c"], "box": want[1:]}
    assert [r["box"] for r in out] == want
    assert list(out["box"]) == want and out["box"].to_list() == want
    assert out["box"][2] == Box("c") and out["box"][0:2] == want[:2]
    assert out["box"]["box"] == want
    assert out["label"].to_list() == ["a", "b", "c"]  # plain columns untouched
    assert step.head(2)["box"].tolist() == want[:2]
    assert step.export_to_dict() == {"label": ["a", "b", "c"], "box": want}
    assert step.export_to_list()[1] == {"label": "b", "box": Box("b")}
    splits = step.export_to_list(train_size=2, test_size=1)
    assert sorted(r["box"].label for part in splits.values() for r in part) == ["a", "b", "c"]
    exported = step.export_to_hf_dataset(str(tmp_path / "hf"))
    assert exported["box"] == want and exported[0]["box"] == Box("a")
    # JSON cannot hold the bytes: a clear error names the column and the fix.
    with pytest.raises(StepInputError, match=r"column 'box'.*remove_columns\(\['box'\]\)"):
        step.export_to_json(tmp_path / "out.json")
    path = step.remove_columns(["box"]).export_to_json(tmp_path / "out.json")
    assert [json.loads(line)["label"] for line in path.read_text().splitlines()] == ["a", "b", "c"]
    # Cached, copied downstream (an operation's own output): still read as values.
    again = boxes("boxes", ["a", "b", "c"])
    assert again.cache_hit is True and again.output["box"].to_list() == want
    assert step.select([2, 0]).output["box"].to_list() == [Box("c"), Box("a")]
    assert step.map(lambda r: r).output[1]["box"] == Box("b")


def test_a_lazy_output_streams_the_values(workspace):
    step = boxes("lazy boxes", ["x", "y"], lazy=True)
    assert [r["box"] for r in step.output] == [Box("x"), Box("y")]
    assert list(step.output["box"]) == [Box("x"), Box("y")]
    assert step.export_to_dict()["box"] == [Box("x"), Box("y")]


def _tampered(step: Step, label: str) -> bytes:
    value = bytearray(step.pickle(Box(label)))
    value[-3] ^= 0x01
    return bytes(value)


def test_a_tampered_value_is_refused_on_read(workspace):
    step = boxes("tampered", ["a"], make=_tampered)
    for read in (
        lambda: step.output[0],
        lambda: list(step.output),
        lambda: step.output["box"].to_list(),
        lambda: step.output["box"][0],
        lambda: step.head(),
        lambda: step.export_to_list(),
    ):
        with pytest.raises(UntrustedObjectError, match="signature does not match"):
            read()
    assert step.output["label"].to_list() == ["a"]  # the plain column stays readable


def test_a_value_pickled_by_an_unrelated_step_is_refused_on_read(workspace):
    other = boxes("other", ["z"])
    foreign = other.output.dataset["box"][0]
    step = boxes("copier", ["a"], make=lambda step, label: foreign)
    with pytest.raises(UntrustedObjectError, match="neither this step nor one of its ancestors"):
        step.output["box"].to_list()
    with pytest.raises(UntrustedObjectError, match="neither this step nor one of its ancestors"):
        step.export_to_dict()


def test_bytes_not_made_by_step_pickle_stay_bytes_and_never_run(workspace, tmp_path):
    marker = tmp_path / "executed"
    planted = pickle.dumps(Planted(str(marker)))
    step = boxes("raw", ["a"], make=lambda step, label: planted)
    assert step.output["box"].to_list() == [planted]
    assert step.output[0]["box"] == planted and step.export_to_dict()["box"] == [planted]
    assert not marker.exists()


def test_a_step_reading_a_pickled_column_gets_the_values(workspace):
    src = boxes("src", ["p", "q"])

    class Labels(Step):
        def setup(self) -> None:
            self.register_input("boxes")
            self.register_output("upper")

        def run(self) -> Any:
            return [box.label.upper() for box in self.inputs["boxes"]]

    step = Labels("labels", inputs={"boxes": src.output["box"]})
    assert step.output["upper"].to_list() == ["P", "Q"]
    assert DataSource("plain", {"n": [1]}).output[0] == {"n": 1}
