"""Lazy outputs (DataDreamer's ``LazyRows``/``LazyRowBatches`` and ``lazy=True``): streamed,
never written unless saved, content-addressed like every output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dreamer_lab.datasets import (
    OutputDataset,
    OutputIterableDataset,
    OutputIterableDatasetColumn,
)
from dreamer_lab.errors import StepInputError, StepOutputError, StepOutputTypeError
from dreamer_lab.steps import DataSource, LazyRowBatches, LazyRows, Step


def stored_entries(ws: Path) -> int:
    return len(list((ws / "steps").glob("*"))) if (ws / "steps").exists() else 0


def arrow_files(ws: Path) -> list[Path]:
    return list(ws.rglob("*.arrow"))


def lazy_step(outputs: list[str], make: Any, name: str = "lazy", **kwargs: Any) -> Step:
    class Lazy(Step):
        def setup(self) -> None:
            for o in outputs:
                self.register_output(o)

        def run(self) -> Any:
            return make()

    return Lazy(name, force=True, **kwargs)


def test_lazy_rows_stream_and_are_not_stored(workspace):
    calls: list[int] = []

    def rows():
        calls.append(1)
        for i in range(4):
            yield {"n": i, "s": str(i)}

    before = stored_entries(workspace)
    step = lazy_step(["n", "s"], lambda: LazyRows(rows, total_num_rows=4))
    assert isinstance(step.output, OutputIterableDataset)
    assert step.output.num_rows == 4 and step.output.column_names == ["n", "s"]
    assert len(calls) == 1  # one row was read to learn the columns' types, nothing more
    first, second = list(step.output), list(step.output)
    assert first == second == [{"n": i, "s": str(i)} for i in range(4)]
    column = step.output["s"]
    assert isinstance(column, OutputIterableDatasetColumn) and list(column) == ["0", "1", "2", "3"]
    assert stored_entries(workspace) == before, "a lazy output writes no entry"
    assert step.output.head(2).to_dict("records") == first[:2]
    with pytest.raises(TypeError, match="lazy output, which cannot be indexed"):
        step.output[0]


@pytest.mark.parametrize(
    "make",
    [
        lambda: LazyRows(lambda: iter([(1, "a"), (2, "b")]), auto_progress=False),
        lambda: LazyRows({"n": lambda: iter([1, 2]), "s": ["a", "b"]}, auto_progress=False),
        lambda: LazyRows((lambda: iter([1, 2]), lambda: iter("ab")), auto_progress=False),
        lambda: LazyRowBatches(
            lambda: iter([{"n": [1], "s": ["a"]}, {"n": [2], "s": ["b"]}]), auto_progress=False
        ),
        lambda: LazyRowBatches(lambda: iter([([1, 2], ["a", "b"])]), auto_progress=False),
        lambda: LazyRowBatches(lambda: iter([[(1, "a")], [(2, "b")]]), auto_progress=False),
    ],
)
def test_lazy_shapes(workspace, make):
    step = lazy_step(["n", "s"], make)
    assert isinstance(step.output, OutputIterableDataset)
    assert list(step.output) == [{"n": 1, "s": "a"}, {"n": 2, "s": "b"}]


def test_one_output_lazy_rows_and_untupling(workspace):
    step = lazy_step(["out"], lambda: LazyRows(lambda: iter([("x",), ("y",)]), auto_progress=False))
    assert list(step.output["out"]) == ["x", "y"]
    batches = lazy_step(
        ["out"], lambda: LazyRowBatches(lambda: iter([[1, 2], [3]]), total_num_rows=3)
    )
    assert list(batches.output["out"]) == [1, 2, 3] and batches.output.num_rows == 3


def test_lazy_rows_errors(workspace):
    with pytest.raises(StepOutputError, match="dict keys from the generator function"):
        lazy_step(["n"], lambda: LazyRows(lambda: iter([{"m": 1}]), auto_progress=False))
    with pytest.raises(StepOutputError, match=r"expected 2 outputs"):
        lazy_step(["a", "b"], lambda: LazyRows(lambda: iter([(1, 2, 3)]), auto_progress=False))
    with pytest.raises(StepOutputError, match="as dict keys instead of"):
        lazy_step(["a"], lambda: LazyRows({"b": lambda: iter([1])}, auto_progress=False))
    mixed = lazy_step(["v"], lambda: LazyRows(lambda: iter([1, "two"]), auto_progress=False))
    with pytest.raises(StepOutputTypeError, match="Expected <class 'int'> got <class 'str'>"):
        list(mixed.output)
    with pytest.warns(UserWarning, match="did not specify `total_num_rows`"):
        LazyRows(lambda: iter([]))


def test_lazy_rows_over_a_list_are_stored(workspace):
    # As in DataDreamer: only generator functions (and lazy columns) stay lazy.
    step = lazy_step(["v"], lambda: LazyRows([1, 2], auto_progress=False))
    assert isinstance(step.output, OutputDataset) and step.output["v"].to_list() == [1, 2]


def test_saving_a_lazy_output_writes_a_normal_entry(workspace):
    def make():
        return LazyRows(
            lambda: ({"i": i} for i in range(5)), total_num_rows=5, save=True, save_num_shards=2
        )

    class Saved(Step):
        def setup(self) -> None:
            self.register_output("i")

        def run(self) -> Any:
            return make()

    step = Saved("saved")
    assert isinstance(step.output, OutputDataset) and step.output["i"].to_list() == list(range(5))
    assert len(list((step.path / "data").glob("*.arrow"))) == 2
    again = Saved("saved")
    assert again.cache_hit and again.output["i"].to_list() == list(range(5))


def test_lazy_operations_chain_does_not_materialize(workspace):
    n = 200_000
    src = DataSource("big", {"n": list(range(n))})
    mapped: list[int] = []

    def square(row):
        mapped.append(row["n"])
        return {"sq": row["n"] * row["n"]}

    before_entries, before_arrow = stored_entries(workspace), len(arrow_files(workspace))
    chain = src.map(square, lazy=True, total_num_rows=n).filter(
        lambda r: r["n"] % 2 == 0, lazy=True, auto_progress=False
    )
    head = chain.take(3, lazy=True)
    assert isinstance(head.output, OutputIterableDataset)
    assert list(head.output) == [{"n": 0, "sq": 0}, {"n": 2, "sq": 4}, {"n": 4, "sq": 16}]
    assert len(mapped) < 100, f"the map function ran {len(mapped)} times for 3 rows"
    assert stored_entries(workspace) == before_entries
    assert len(arrow_files(workspace)) == before_arrow, "no Arrow file was written"
    assert src.map(square, lazy=True, total_num_rows=n).output.num_rows == n


def test_lazy_outputs_are_content_addressed(workspace):
    src = DataSource("src", {"n": list(range(10)), "t": list("abcdefghij")})

    def chain(add: int) -> Step:
        return (
            src.map(lambda r: {"m": r["n"] + add}, lazy=True, auto_progress=False)
            .select_columns(["m", "t"], lazy=True)
            .rename_column("t", "text", lazy=True)
            .skip(2, lazy=True)
        )

    a, b, c = chain(1), chain(1), chain(2)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert list(a.output) == list(b.output) == list(a.output)
    eager = src.map(lambda r: {"m": r["n"] + 1})
    assert eager.fingerprint != src.map(lambda r: {"m": r["n"] + 1}, lazy=True).fingerprint
    saved = a.save()
    assert isinstance(saved.output, OutputDataset) and not saved.cache_hit
    assert saved.output.dataset.to_list() == list(a.output)
    assert chain(1).save().cache_hit, "the same lazy chain saved again is found by fingerprint"


def test_other_lazy_operations(workspace):
    src = DataSource("src", {"n": [1, 2, 3]})
    assert src.shuffle(seed=3, buffer_size=2, lazy=True).output.num_rows == 3
    shuffled = src.shuffle(seed=3, buffer_size=2, lazy=True)
    assert list(shuffled.output) == list(shuffled.output)
    assert sorted(r["n"] for r in shuffled.output) == [1, 2, 3]
    added = src.add_item({"n": 9}, lazy=True)
    assert [r["n"] for r in added.output] == [1, 2, 3, 9] and added.output.num_rows == 4
    assert [r["n"] for r in src.copy(lazy=True).output] == [1, 2, 3]
    assert list(src.remove_columns("n", lazy=True).output.column_names) == []
    with pytest.raises(StepInputError, match="needs random access"):
        src.select([0], lazy=True)
    with pytest.raises(TypeError):
        src.sort("n", lazy=True)  # DataDreamer's sort has no lazy= either


def test_stored_operations_and_steps_read_lazy_parents(workspace):
    lazy = lazy_step(["n"], lambda: LazyRows(lambda: iter(range(5)), total_num_rows=5))
    stored = lazy.filter(lambda r: r["n"] > 2)
    assert isinstance(stored.output, OutputDataset) and stored.output["n"].to_list() == [3, 4]
    assert lazy.export_to_list() == [{"n": i} for i in range(5)]

    class Double(Step):
        def setup(self) -> None:
            self.register_input("n")
            self.register_output("d")

        def run(self) -> Any:
            return [2 * v for v in self.inputs["n"]]

    assert Double("double", inputs={"n": lazy.output["n"]}).output["d"].to_list() == [0, 2, 4, 6, 8]


def test_lazy_embed_runs_the_model_as_rows_are_read(workspace):
    import numpy as np

    from dreamer_lab.embedders import Embedder
    from dreamer_lab.steps import Embed

    class LengthEmbedder(Embedder):
        backend_name = "length_embedder"

        def __init__(self) -> None:
            super().__init__("length")
            self.batches: list[list[str]] = []

        def _identity(self) -> dict[str, Any]:
            return {"name": self.model_name}

        @property
        def model_max_length(self) -> int | None:
            return None

        @property
        def dims(self) -> int:
            return 2

        def _embed_batch(self, texts, truncate, **kwargs):
            self.batches.append(list(texts))
            return [np.array([len(t), 1.0], dtype=np.float32) for t in texts]

    texts = [f"text {i}" * (i % 3 + 1) for i in range(300)]
    src = DataSource("texts", {"text": texts})
    emb = LengthEmbedder()
    step = Embed(
        "embed", inputs={"texts": src.output["text"]}, args={"embedder": emb, "lazy": True}
    )
    assert isinstance(step.output, OutputIterableDataset) and step.output.num_rows == 300
    embedded = sum(len(b) for b in emb.batches)
    assert embedded <= 64, f"{embedded} texts embedded before any row was read"
    first = list(step.take(3, lazy=True).output)
    assert [r["texts"] for r in first] == texts[:3]
    assert [r["embeddings"][0] for r in first] == [float(len(t)) for t in texts[:3]]
    assert sum(len(b) for b in emb.batches) <= 64, "reading 3 rows embeds one chunk at most"
    rows = list(step.output)
    assert len(rows) == 300 and rows[-1]["texts"] == texts[-1]
    calls = sum(len(b) for b in emb.batches)
    assert list(step.output) == rows and sum(len(b) for b in emb.batches) == calls, (
        "a second pass is served by the request cache"
    )
