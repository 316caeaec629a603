"""Exports and ``splits()`` split as DataDreamer 0.46 does: sizes add up to 1.0 or to the row
count (else ``ValueError``), one split is the flat result, rows keep their order, split files
are named ``out.train.json``/``out.val.json``/``out.test.json``."""

from __future__ import annotations

import json

import pytest

from dreamer_lab.steps import DataSource, LazyRows, Step


@pytest.fixture
def src(workspace):
    return DataSource("src", {"n": list(range(10)), "label": ["a", "b"] * 5})


def test_one_split_is_the_flat_result(src):
    flat = src.export_to_dict()
    assert flat == {"n": list(range(10)), "label": ["a", "b"] * 5}
    assert src.export_to_dict(train_size=1.0) == flat
    assert src.export_to_list(train_size=10) == src.export_to_list()
    assert src.export_to_list(train_size=1.0, validation_size=0, test_size=None)[0] == {
        "n": 0,
        "label": "a",
    }


def test_splits_keep_row_order_and_round_like_train_test_split(src):
    parts = src.export_to_dict(train_size=0.7, validation_size=0.2, test_size=0.1)
    assert list(parts) == ["train", "validation", "test"]
    assert parts["train"]["n"] == list(range(7))
    assert parts["validation"]["n"] == [7, 8] and parts["test"]["n"] == [9]
    counts = src.export_to_list(train_size=6, test_size=4)
    assert [r["n"] for r in counts["test"]] == [6, 7, 8, 9]
    # the later split is cut first and rounded up: ceil(0.25 * 10) = 3 test rows
    odd = src.export_to_dict(train_size=0.75, test_size=0.25)
    assert len(odd["train"]["n"]) == 7 and len(odd["test"]["n"]) == 3
    steps = src.splits(train_size=0.8, test_size=0.2)
    assert steps["test"].output["n"].to_list() == [8, 9]


@pytest.mark.parametrize(
    "sizes",
    [
        {"train_size": 0.5},
        {"train_size": 0.8, "test_size": 0.5},
        {"train_size": 4, "test_size": 2},
        {"train_size": 0.5, "test_size": 5},
        {"train_size": -0.5, "test_size": 1.5},
        {"train_size": "half"},
    ],
)
def test_invalid_split_sizes_raise_value_error(src, sizes, tmp_path):
    for export in (
        src.export_to_dict,
        src.export_to_list,
        src.splits,
        lambda **kw: src.export_to_json(tmp_path / "x.json", **kw),
        lambda **kw: src.export_to_hf_dataset(tmp_path / "hf", **kw),
    ):
        with pytest.raises(ValueError):
            export(**sizes)


def test_file_exports_name_their_splits(src, tmp_path):
    paths = src.export_to_json(tmp_path / "out.json", train_size=0.8, validation_size=0.2)
    assert paths == {"train": tmp_path / "out.train.json", "validation": tmp_path / "out.val.json"}
    rows = [json.loads(line) for line in paths["validation"].read_text().splitlines()]
    assert [r["n"] for r in rows] == [8, 9]
    csvs = src.export_to_csv(tmp_path / "c.csv", sep=";", train_size=5, test_size=5)
    assert csvs["test"] == tmp_path / "c.test.csv"
    assert csvs["test"].read_text().splitlines()[:2] == ["n;label", "5;b"]
    single = src.export_to_json(tmp_path / "all.json", train_size=1.0)
    assert single == tmp_path / "all.json" and len(single.read_text().splitlines()) == 10


def test_hf_dataset_export_returns_what_it_wrote(src, tmp_path):
    import datasets

    one = src.export_to_hf_dataset(tmp_path / "one", save_num_shards=2)
    assert isinstance(one, datasets.Dataset) and one.num_rows == 10
    assert len(list((tmp_path / "one").glob("*.arrow"))) == 2
    dd = src.export_to_hf_dataset(tmp_path / "dd", train_size=0.5, test_size=0.5, save_num_shards=2)
    assert isinstance(dd, datasets.DatasetDict) and dd["test"]["n"] == [5, 6, 7, 8, 9]
    assert len(list((tmp_path / "dd" / "train").glob("*.arrow"))) == 2
    assert datasets.load_from_disk(str(tmp_path / "dd"))["train"].num_rows == 5


def test_stratify_seed_and_options(src, tmp_path):
    parts = src.export_to_dict(train_size=0.6, test_size=0.4, stratify_by_column="label")
    assert parts["train"]["label"].count("a") == 3 and parts["test"]["label"].count("a") == 2
    assert sorted(parts["train"]["n"] + parts["test"]["n"]) == list(range(10))
    again = src.export_to_dict(train_size=0.6, test_size=0.4, stratify_by_column="label")
    assert again == parts, "stratified splits are deterministic"
    seeded = src.export_to_dict(train_size=0.5, test_size=0.5, seed=1)
    assert seeded["train"]["n"] != list(range(5))
    with pytest.raises(ValueError, match="write no files; omit save_num_shards"):
        src.export_to_list(save_num_shards=2)
    with pytest.raises(ValueError, match="one file per split; omit save_num_shards"):
        src.export_to_csv(tmp_path / "x.csv", save_num_shards=3)
    path = src.export_to_json(tmp_path / "p.json", writer_batch_size=3, save_num_proc=2)
    assert len(path.read_text().splitlines()) == 10


def test_lazy_outputs_export_after_streaming(workspace):
    class Lazy(Step):
        def setup(self) -> None:
            self.register_output("i")

        def run(self):
            return LazyRows(lambda: ({"i": i} for i in range(4)), total_num_rows=4)

    step = Lazy("lazy")
    assert step.export_to_dict(train_size=0.5, test_size=0.5) == {
        "train": {"i": [0, 1]},
        "test": {"i": [2, 3]},
    }
    assert step.export_to_list(writer_batch_size=2) == [{"i": i} for i in range(4)]
