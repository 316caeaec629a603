"""A lazy step (``LazyRows`` without ``save``) has no stored entry: ``head()`` streams only
the rows it shows, ``record`` describes the step from memory, ``path``/``load_object()`` say
to ``.save()`` first (DataDreamer's ``dataset_path`` wording), and ``background=True`` gives
the same lazy output after ``wait()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dreamer_lab.datasets import OutputDataset, OutputIterableDataset
from dreamer_lab.steps import DataSource, LazyRows, Step, wait

TOTAL = 1000


class Counted(Step):
    """Streams ``TOTAL`` rows ``{"i", "twice"}`` from its input's first value; counts the rows
    produced in this process (``produced``)."""

    produced: list[int] = []

    def setup(self) -> None:
        self.register_input("start")
        self.register_output("i")
        self.register_output("twice")

    def run(self) -> Any:
        start = next(iter(self.inputs["start"]))

        def rows() -> Any:
            for i in range(start, start + TOTAL):
                Counted.produced.append(i)
                yield {"i": i, "twice": 2 * i}

        return LazyRows(rows, total_num_rows=TOTAL)


def counted(name: str = "counted", **kwargs: Any) -> tuple[Step, Step]:
    src = DataSource("start", {"start": [10]})
    Counted.produced = []
    return src, Counted(name, inputs={"start": src.output["start"]}, **kwargs)


def stored_entries(ws: Path) -> int:
    return len(list((ws / "steps").glob("*"))) if (ws / "steps").exists() else 0


def test_head_streams_only_the_rows_it_shows(workspace):
    _, step = counted()
    assert isinstance(step.output, OutputIterableDataset)
    before = len(Counted.produced)
    frame = step.head(3)
    assert frame.to_dict("records") == [{"i": i, "twice": 2 * i} for i in (10, 11, 12)]
    assert len(Counted.produced) - before <= 4, "head(3) must not read the whole stream"
    shuffled = step.head(5, shuffle=True, seed=1, buffer_size=20)["i"].tolist()
    assert len(set(shuffled)) == 5 and set(shuffled) <= set(range(10, 30))
    assert step.head(5, shuffle=True, seed=1, buffer_size=20)["i"].tolist() == shuffled


def test_record_path_and_objects_of_a_lazy_step(workspace, capsys):
    src, step = counted()
    before = stored_entries(workspace)
    assert step.is_lazy
    record = step.record
    assert record["lazy"] is True and record["fingerprint"] == step.fingerprint
    assert record["rows"] == TOTAL and record["columns"] == ["i", "twice"]
    assert record["parents"] == [src.fingerprint] and record["name"] == "counted"
    assert record["inputs"]["start"] == {
        "step": src.fingerprint,
        "name": "start",
        "column": "start",
    }
    for read in (lambda: step.path, lambda: step.load_object("anything")):
        with pytest.raises(RuntimeError, match=r"lazy \(streamed, not stored\).*\.save\(\)"):
            read()
    with pytest.raises(RuntimeError, match=r"lazy \(streamed, not stored\).*\.save\(\)"):
        step.data_card()
    assert stored_entries(workspace) == before, "describing a lazy step stores nothing"
    assert "lazy" in repr(step) and "rows=1000" in repr(step)
    saved = step.save()
    assert not saved.is_lazy and isinstance(saved.output, OutputDataset)
    assert saved.path.is_dir() and saved.record["rows"] == TOTAL and "lazy" not in saved.record
    saved.data_card()
    assert "# Dataset card" in capsys.readouterr().out
    assert not src.is_lazy and src.record["rows"] == 1


def test_a_background_lazy_step_gives_its_stream_after_wait(workspace):
    _, step = counted("in background", background=True)
    wait(step)
    assert step.is_lazy and isinstance(step.output, OutputIterableDataset)
    assert step.output.num_rows == TOTAL
    assert step.head(2)["twice"].tolist() == [20, 22]
    assert sum(1 for _ in step.output) == TOTAL
    _, foreground = counted("in background")
    assert foreground.fingerprint == step.fingerprint  # same step, same address
    assert list(foreground.output)[:3] == list(step.output)[:3]
