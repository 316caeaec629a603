"""DataDreamer's operations and exports, each a memoized step."""

from __future__ import annotations

import json

import pytest
from IPython.core.interactiveshell import InteractiveShell

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps import DataSource, concat, zipped


@pytest.fixture
def src(workspace):
    return DataSource("src", {"n": [3, 1, 2, 5, 4, 6], "label": ["a", "b", "a", "b", "a", "b"]})


def col(step, name):
    return step.output[name].to_list()


def test_row_operations(src):
    assert col(src.select([0, 2]), "n") == [3, 2]
    assert src.select_columns("n").output.column_names == ["n"]
    assert col(src.take(2), "n") == [3, 1]
    assert col(src.skip(4), "n") == [4, 6]
    assert col(src.sort("n"), "n") == [1, 2, 3, 4, 5, 6]
    assert col(src.sort("n", reverse=True), "n") == [6, 5, 4, 3, 2, 1]
    assert col(src.reverse(), "n") == [6, 4, 5, 2, 1, 3]
    shuffled = src.shuffle(seed=1)
    assert sorted(col(shuffled, "n")) == [1, 2, 3, 4, 5, 6]
    assert col(src.shuffle(seed=1), "n") == col(shuffled, "n"), "seeded shuffle is reproducible"
    assert col(src.shard(2, 0, contiguous=True), "n") == [3, 1, 2]
    assert col(src.add_item({"n": 7, "label": "a"}), "n")[-1] == 7
    assert src.rename_column("n", "num").output.column_names == ["num", "label"]
    assert src.rename_columns({"n": "x", "label": "y"}).output.column_names == ["x", "y"]
    assert src.remove_columns(["label"]).output.column_names == ["n"]
    assert col(src.save("saved copy"), "n") == col(src, "n")
    assert col(src.copy(), "n") == col(src, "n")


def test_map_filter(src):
    doubled = src.map(lambda r: {"d": r["n"] * 2})
    assert col(doubled, "d") == [6, 2, 4, 10, 8, 12]
    batched = src.map(lambda b: {"d": [x + 1 for x in b["n"]]}, batched=True, batch_size=2)
    assert col(batched, "d") == [4, 2, 3, 6, 5, 7]
    evens = src.filter(lambda r: r["n"] % 2 == 0)
    assert col(evens, "n") == [2, 4, 6]
    only_n = src.map(lambda r: {"m": -r["n"]}, remove_columns=["n", "label"])
    assert only_n.output.column_names == ["m"]
    idx = src.map(lambda r, i: {"i": i}, with_indices=True)
    assert col(idx, "i") == list(range(6))


def test_map_misses_on_global_change_and_hits_on_comment(src):
    sh = InteractiveShell.instance()
    try:
        sh.user_ns["src"] = src
        sh.run_cell("OFFSET = 10\ndef shift(row):\n    return {'s': row['n'] + OFFSET}")
        sh.run_cell("a = src.map(shift)")
        a = sh.user_ns["a"]
        assert not a.cache_hit
        sh.run_cell("def shift(row):\n    # add the offset\n    return {'s': row['n'] + OFFSET}")
        sh.run_cell("b = src.map(shift)")
        assert sh.user_ns["b"].cache_hit, "a comment does not change the fingerprint"
        sh.run_cell("OFFSET = 20\nc = src.map(shift)")
        c = sh.user_ns["c"]
        assert not c.cache_hit and col(c, "s")[0] == 23
        sh.run_cell("OFFSET = 10\nd = src.map(shift)")
        d = sh.user_ns["d"]
        assert d.cache_hit and d.fingerprint == a.fingerprint, "reverting finds the earlier result"
    finally:
        sh.reset()


def test_splits_and_stratification(src):
    parts = src.splits(train_size=0.5, test_size=0.5, stratify_by_column="label")
    train, test = col(parts["train"], "label"), col(parts["test"], "label")
    assert len(train) == len(test) == 3
    assert sorted(train + test) == sorted(col(src, "label"))
    assert train.count("a") in (1, 2) and test.count("a") in (1, 2)
    with pytest.raises(StepInputError, match="add up to"):
        src.splits(train_size=0.8, test_size=0.5)
    with pytest.raises(StepInputError, match="mix fractions and row counts"):
        src.splits(train_size=0.5, test_size=2)


def test_concat_and_zipped(workspace):
    a = DataSource("a", {"x": [1, 2]})
    b = DataSource("b", {"x": [3]})
    c = DataSource("c", {"y": ["p", "q"]})
    assert col(concat(a, b), "x") == [1, 2, 3]
    z = zipped(a, c)
    assert z.export_to_list() == [{"x": 1, "y": "p"}, {"x": 2, "y": "q"}]
    # Columns some steps lack are None in their rows (DataDreamer's concat).
    assert concat(a, c).export_to_list() == [
        {"x": 1, "y": None},
        {"x": 2, "y": None},
        {"x": None, "y": "p"},
        {"x": None, "y": "q"},
    ]
    with pytest.raises(StepInputError, match="different row counts"):
        zipped(b, c)
    lineage_parents = set(z.record["parents"])
    assert lineage_parents == {a.fingerprint, c.fingerprint}


def test_exports(src, tmp_path):
    assert src.export_to_dict() == {
        "n": [3, 1, 2, 5, 4, 6],
        "label": ["a", "b", "a", "b", "a", "b"],
    }
    parts = src.export_to_dict(train_size=0.5, validation_size=0.5)
    assert sorted(parts) == ["train", "validation"] and len(parts["train"]["n"]) == 3
    rows = src.export_to_list()
    assert rows[0] == {"n": 3, "label": "a"}
    path = src.export_to_json(tmp_path / "out.jsonl")
    assert [json.loads(line)["n"] for line in path.read_text().splitlines()] == [3, 1, 2, 5, 4, 6]
    files = src.export_to_csv(tmp_path / "csvs", train_size=4, test_size=2)
    assert files["train"].read_text().splitlines()[0] == "n,label"
    assert len(files["test"].read_text().splitlines()) == 3
    dd = src.export_to_hf_dataset(tmp_path / "hf", train_size=0.5, test_size=0.5)
    import datasets

    loaded = datasets.load_from_disk(str(tmp_path / "hf"))
    assert loaded["train"].num_rows == dd["train"].num_rows == 3


def test_operations_are_operation_steps_with_stable_kinds(src):
    from dreamer_lab.steps import Step
    from dreamer_lab.steps.operation_step import OperationStep

    made = {
        "select": src.select([0]),
        "map": src.map(lambda r: {"m": r["n"]}),
        "filter": src.filter(lambda r: r["n"] > 2),
        "splits": src.splits(train_size=0.5, test_size=0.5)["train"],
        "concat": concat(src, src),
    }
    for op, step in made.items():
        assert isinstance(step, OperationStep) and isinstance(step, Step)
        assert step.op == op == step.kind_name() == step.record["kind"]
        # The kind is part of the fingerprint: renaming it would orphan stored results.
        assert step.record["components"]["kind"] == f"operation.{op}"
