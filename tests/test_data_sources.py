"""Data sources: memory, files, saved datasets, hub-style folders."""

from __future__ import annotations

import json

import datasets
import pandas as pd
import pytest

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps import (
    CSVDataSource,
    DataSource,
    HFDatasetDataSource,
    HFHubDataSource,
    JSONDataSource,
    TextDataSource,
)


def test_in_memory_forms_agree(workspace):
    a = DataSource("a", {"x": [1, 2], "y": ["p", "q"]})
    b = DataSource("b", [{"x": 1, "y": "p"}, {"x": 2, "y": "q"}])
    c = DataSource("c", datasets.Dataset.from_dict({"x": [1, 2], "y": ["p", "q"]}))
    d = DataSource("d", pd.DataFrame({"x": [1, 2], "y": ["p", "q"]}))
    assert a.fingerprint == b.fingerprint == c.fingerprint == d.fingerprint
    assert b.cache_hit and c.cache_hit and d.cache_hit


def test_generator_function_source_streams_and_saves_once(workspace, tmp_path):
    # (A counter list captured by the function would itself be part of its fingerprint.)
    log = str(tmp_path / "calls.txt")  # a Path would be hashed by its (changing) content

    def rows():
        for i in range(5):
            with open(log, "a") as f:
                f.write("x")  # one per row produced
            yield {"i": i, "sq": i * i}

    s = DataSource("gen", rows, total_num_rows=5)  # streamed, as in DataDreamer
    assert list(s.output["sq"]) == [0, 1, 4, 9, 16]
    saved = s.save()
    assert saved.output["sq"].to_list() == [0, 1, 4, 9, 16] and not saved.cache_hit
    with open(log) as f:
        calls = len(f.read())
    again = DataSource("gen", rows, total_num_rows=5).save()
    assert again.cache_hit and again.fingerprint == saved.fingerprint
    with open(log) as f:
        assert len(f.read()) - calls < 5  # not a pass over the rows (a peek at the first)


def test_json_csv_text_sources(workspace, tmp_path):
    jl = tmp_path / "d.jsonl"
    jl.write_text("\n".join(json.dumps({"q": f"q{i}", "a": i}) for i in range(3)))
    j = JSONDataSource("json", data_files=str(jl))
    assert j.output["q"].to_list() == ["q0", "q1", "q2"]

    csv = tmp_path / "d.csv"
    csv.write_text("name;score\nann;1\nbob;2\n")
    c = CSVDataSource("csv", data_files=str(csv), sep=";")
    assert c.output["name"].to_list() == ["ann", "bob"]

    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("line one\nline two\n")
    t = TextDataSource("text", data_folder=str(folder))
    assert t.output["text"].to_list() == ["line one", "line two"]

    # Changing a file's content is a miss; an unchanged file is a hit.
    assert JSONDataSource("json", data_files=str(jl)).cache_hit
    jl.write_text(json.dumps({"q": "new", "a": 9}))
    j2 = JSONDataSource("json", data_files=str(jl))
    assert not j2.cache_hit and j2.output["q"].to_list() == ["new"]


def test_file_source_errors(workspace, tmp_path):
    with pytest.raises(StepInputError, match="not found"):
        JSONDataSource("missing", data_files=str(tmp_path / "nope.json"))
    with pytest.raises(StepInputError, match="data_folder= or data_files="):
        CSVDataSource("none")
    with pytest.raises(StepInputError, match="dict of splits"):
        JSONDataSource("splits", data_files={"train": "a.json"})


def test_hf_dataset_and_local_hub_sources(workspace, tmp_path):
    saved = tmp_path / "saved"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"t": ["a", "b"]}),
            "test": datasets.Dataset.from_dict({"t": ["c"]}),
        }
    ).save_to_disk(str(saved))
    with pytest.raises(StepInputError, match=r"splits \['train', 'test'\]; choose one"):
        HFDatasetDataSource("saved", str(saved))
    s = HFDatasetDataSource("saved", str(saved), split="test")
    assert s.output["t"].to_list() == ["c"]

    repo = tmp_path / "hub_repo"
    repo.mkdir()
    (repo / "train.csv").write_text("text,label\nhi,1\nbye,0\n")
    h = HFHubDataSource("hub", str(repo), split="train")
    assert h.output["text"].to_list() == ["hi", "bye"]
