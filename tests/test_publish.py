"""Publishing to the Hugging Face Hub: ``step.publish_to_hf_hub`` and the trainers', against
a fake Hub on 127.0.0.1 (tests/hub_server.py) through the real ``huggingface_hub`` client.

Checked from what the server received: the files and splits, the card's front matter
(parsed by ``huggingface_hub`` and validated like the Hub does), no token or secret in any
uploaded byte, nothing uploaded again for unchanged data, the private flag and the branch.
"""

from __future__ import annotations

import io
import json
import secrets
from typing import Any

import pytest
from huggingface_hub import DatasetCard, ModelCard
from trainer_fixtures import tiny_bert  # noqa: F401

from dreamer_lab.errors import PublishError, StepInputError
from dreamer_lab.steps import DataCardType, DataSource, Step
from tests.hub_server import FakeHub, metadata_errors
from tests.workflow_fixtures import CITATION, SECRET, Generate

TOKEN = f"hf_{secrets.token_hex(16)}"  # made at run time: no token-shaped text is committed


@pytest.fixture
def hub(monkeypatch):
    """The fake Hub, with huggingface_hub pointed at it (``HF_ENDPOINT`` is read at import,
    so the constant is patched too) and online for this test only."""
    from huggingface_hub import constants

    server = FakeHub(tokens=(TOKEN,)).start()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", server.endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # uploads through the LFS API
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield server
    server.stop()


class WithKey(Step):
    """A step holding a credential argument: it must reach no uploaded file."""

    def setup(self) -> None:
        self.register_input("text")
        self.register_arg("api_key")
        self.register_output("text")

    def run(self) -> Any:
        return {"text": list(self.inputs["text"])}


def _generated(n: int = 10) -> Step:
    topics = DataSource("topics", {"topic": [f"topic {i}" for i in range(n)]})
    gen = Generate("generate", inputs={"topic": topics.output["topic"]})
    return WithKey("keyed", inputs={"text": gen.output["text"]}, args={"api_key": SECRET})


def _rows(data: bytes) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data)).to_pylist()


def test_publish_dataset_splits_card_and_no_secret(workspace, hub):
    step = _generated()
    url = step.publish_to_hf_hub("synth", token=TOKEN, private=True, train_size=0.8, test_size=0.2)
    assert url == f"{hub.endpoint}/datasets/tester/synth"  # a bare name goes to the user
    assert hub.repo("tester/synth").private is True
    files = hub.files("tester/synth")
    data = sorted(p for p in files if p.startswith("data/"))
    assert data == ["data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet"]
    assert set(files) - set(data) == {".gitattributes", "README.md", "datadreamer.json"}
    assert len(hub.commits) == 1  # one commit holds data, card and metadata
    # The rows are the step's, split exactly as the exports split them.
    expected = step.export_to_list(train_size=0.8, test_size=0.2)
    assert _rows(files["data/train-00000-of-00001.parquet"]) == expected["train"]
    assert _rows(files["data/test-00000-of-00001.parquet"]) == expected["test"]

    readme = files["README.md"].decode()
    assert metadata_errors(readme, "dataset") == []  # what the Hub validates
    meta = DatasetCard(readme).data.to_dict()
    assert meta["license"] == "apache-2.0" and meta["size_categories"] == ["n<1K"]
    assert {"synthetic", "datadreamer"} <= set(meta["tags"])
    assert "source_datasets" not in meta and "datasets" not in meta  # no free text there
    splits = {f["split"]: f["path"] for f in meta["configs"][0]["data_files"]}
    assert splits == {"train": ["data/train-00000-of-00001.parquet"],
                      "test": ["data/test-00000-of-00001.parquet"]}  # fmt: skip
    # The cards module's data card: lineage, licenses, citations.
    for section in ("## Lineage", "## Licenses", "## Citations", "## How the data was made"):
        assert section in readme
    assert "smith2021gen" in readme and step.fingerprint in readme
    card_json = json.loads(files["datadreamer.json"])
    assert [s["name"] for s in card_json["steps"]] == ["topics", "generate", "keyed"]
    for body in hub.bodies_seen:  # every byte the Hub received: commit, uploads, validation
        assert TOKEN.encode() not in body and SECRET.encode() not in body
    assert CITATION.split(",")[0] in readme


def test_republish_uploads_nothing_new_and_drops_stale_splits(workspace, hub):
    step = _generated()
    step.publish_to_hf_hub("me/data", token=TOKEN, train_size=0.5, validation_size=0.5)
    uploads, commits = len(hub.lfs_uploads), len(hub.commits)
    assert uploads == 2 and commits == 1
    before = hub.files("me/data")
    step.publish_to_hf_hub("me/data", token=TOKEN, train_size=0.5, validation_size=0.5)
    assert len(hub.lfs_uploads) == uploads and len(hub.commits) == commits
    assert hub.files("me/data") == before
    # Published again without splits: everything is `train`, the old validation file goes.
    step.publish_to_hf_hub("me/data", token=TOKEN)
    assert len(hub.commits) == commits + 1
    ops = dict((path, key) for key, path in hub.commits[-1]["ops"])
    assert ops["data/validation-00000-of-00001.parquet"] == "deletedFile"
    assert sorted(p for p in hub.files("me/data") if p.startswith("data/")) == [
        "data/train-00000-of-00001.parquet"
    ]
    assert len(_rows(hub.files("me/data")["data/train-00000-of-00001.parquet"])) == 10


def test_branch_is_created_and_main_left_alone(workspace, hub):
    step = _generated(4)
    url = step.publish_to_hf_hub(
        "me/branched",
        branch="v1",
        token=TOKEN,
        save_num_shards=2,
        save_num_proc=2,
        commit_message="first",
    )
    assert url.endswith("/datasets/me/branched/tree/v1")
    assert hub.repo("me/branched", "dataset").private is False
    assert set(hub.files("me/branched")) == {".gitattributes"}  # main untouched
    v1 = hub.files("me/branched", branch="v1")
    assert sorted(p for p in v1 if p.startswith("data/")) == [
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
    ]
    assert hub.commits[-1]["revision"] == "v1" and hub.commits[-1]["header"]["summary"] == "first"
    assert ("POST", "/api/datasets/me/branched/branch/v1") in hub.log
    step.publish_to_hf_hub("me/branched", branch="v1", token=TOKEN, save_num_shards=2)
    assert len(hub.commits) == 1  # the existing branch is reused, nothing new sent


def test_bad_input_is_refused_before_any_request(workspace, hub):
    step = _generated(4)
    hub.log.clear()
    with pytest.raises(StepInputError, match="not a Hub repository id"):
        step.publish_to_hf_hub("bad id/with space", token=TOKEN)
    with pytest.raises(StepInputError, match="unknown option.*max_shard_size"):
        step.publish_to_hf_hub("me/x", token=TOKEN, max_shard_size="1GB")
    with pytest.raises(StepInputError, match="save_num_shards must be at least 1"):
        step.publish_to_hf_hub("me/x", token=TOKEN, save_num_shards=0)
    with pytest.raises(StepInputError, match="save_num_proc must be a whole number"):
        step.publish_to_hf_hub("me/x", token=TOKEN, save_num_proc=0)
    with pytest.raises(StepInputError, match="add up"):
        step.publish_to_hf_hub("me/x", token=TOKEN, train_size=0.9, test_size=0.9)
    assert not [p for _, p in hub.log if "/api/" in p]


def test_refused_token_and_offline_mode_say_what_to_do(workspace, hub, monkeypatch):
    from huggingface_hub import constants

    step = _generated(4)
    wrong = f"hf_{secrets.token_hex(16)}"
    with pytest.raises(PublishError, match="token was refused") as err:
        step.publish_to_hf_hub("me/x", token=wrong)
    assert wrong not in str(err.value)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PublishError, match="offline mode is on.*HF_HUB_OFFLINE"):
        step.publish_to_hf_hub("me/x", token=TOKEN)


class FromHub(Step):
    """Stands for ``HFHubDataSource`` (which needs the real Hub): the same kind and card."""

    kind = "HFHubDataSource"

    def setup(self) -> None:
        self.register_output("text")

    def run(self) -> Any:
        self.register_data_card(DataCardType.DATASET_NAME, "org/source-data")
        return {"text": ["a", "b", "c", "d"]}


def test_hub_metadata_names_hub_datasets_only(workspace):
    from dreamer_lab.cards import data_card

    hub_rows = FromHub("hub rows")
    local = DataSource("local rows", {"text": ["e", "f"]})
    meta = DatasetCard(data_card(hub_rows).markdown).data.to_dict()
    assert meta["source_datasets"] == ["org/source-data"]
    assert "source_datasets" not in DatasetCard(data_card(local).markdown).data.to_dict()


def test_trainer_publishes_the_cards_model_card(workspace, hub, tiny_bert):  # noqa: F811
    from dreamer_lab.cards import model_card
    from dreamer_lab.trainers import TrainHFClassifier

    rows = FromHub("reviews")
    labels = rows.map(lambda r: {"label": "pos" if r["text"] in "ab" else "neg"}, name="labels")
    clf = TrainHFClassifier("clf", model_name=str(tiny_bert)).train(
        train_input=labels.output["text"], train_output=labels.output["label"],
        validation_input=labels.output["text"], validation_output=labels.output["label"],
        epochs=1, batch_size=4,
    )  # fmt: skip
    url = clf.publish_to_hf_hub("me/clf", token=TOKEN, private=True, limitations="Toy model.")
    assert url == f"{hub.endpoint}/me/clf" and hub.repo("me/clf", "model").private is True
    files = hub.files("me/clf", "model")
    assert "config.json" in files and any(p.endswith(".safetensors") for p in files)
    readme = files["README.md"].decode()
    assert readme == model_card(clf, synthetic=True, limitations="Toy model.").markdown
    meta = ModelCard(readme).data.to_dict()
    assert metadata_errors(readme, "model") == []
    assert meta["datasets"] == ["org/source-data"]  # repo ids from the lineage, not labels
    assert "## Lineage" in readme and "Toy model." in readme
    for body in hub.bodies_seen:
        assert TOKEN.encode() not in body
    clf.publish_to_hf_hub("me/clf", token=TOKEN, private=True, limitations="Toy model.")
    assert len(hub.commits) == 1  # unchanged: nothing new


def test_card_widget_publish_button(workspace, hub, monkeypatch):
    """The card widget's "Publish to Hub" (the front end sends ``{"event": "publish"}``)."""
    from dreamer_lab.notebook import card

    step = _generated(4)
    w = card(ns={"keyed": step}, target="keyed", limitations="Made <here>")
    w._on_msg(w, {"event": "publish"}, [])  # no repository yet: an error, no request
    assert "Enter a Hub repository id" in w.publish_error and not w.published
    assert not [p for _, p in hub.log if "/api/" in p]
    w.set(repo_id="me/from-widget")
    assert (
        "keyed.publish_to_hf_hub('me/from-widget', private=True, limitations='Made <here>')"
        in w.code
    )  # the same call, as code for the notebook
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    w._on_msg(w, {"event": "publish"}, [])
    assert w.publish_error == "" and w.published == f"{hub.endpoint}/datasets/me/from-widget"
    assert hub.repo("me/from-widget").private is True and not w.publishing
    readme = hub.files("me/from-widget")["README.md"].decode()
    assert "Made &lt;here&gt;" in readme and "Made <here>" not in readme  # the edited section
    wrong = f"hf_{secrets.token_hex(16)}"
    monkeypatch.setenv("HF_TOKEN", wrong)
    w.set(repo_id="me/other", private=False)
    w._on_msg(w, {"event": "publish"}, [])
    assert w.publish_error.startswith("PublishError:") and "token was refused" in w.publish_error
    assert wrong not in w.publish_error and not w.published
    gone = card(ns={}, target="keyed", repo_id="me/x")  # the step is not in this notebook
    with pytest.raises(StepInputError, match="run the cell that makes it"):
        gone.publish()
    assert "not a step or Hugging Face trained model" in gone.publish_error


class Streamed(Step):
    """A lazy step (DataDreamer's ``LazyRows``): its rows are streamed, not stored."""

    def setup(self) -> None:
        self.register_output("n")

    def run(self) -> Any:
        from dreamer_lab.steps import LazyRows

        return LazyRows(lambda: ({"n": i} for i in range(6)), total_num_rows=6)


def test_lazy_output_is_written_then_published(workspace, hub):
    url = Streamed("streamed").publish_to_hf_hub("me/lazy", token=TOKEN, test_size=2, train_size=4)
    assert url.endswith("/datasets/me/lazy")
    files = hub.files("me/lazy")
    assert [r["n"] for r in _rows(files["data/train-00000-of-00001.parquet"])] + [
        r["n"] for r in _rows(files["data/test-00000-of-00001.parquet"])
    ] == list(range(6))
    assert metadata_errors(files["README.md"].decode(), "dataset") == []
