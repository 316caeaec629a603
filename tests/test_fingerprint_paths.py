"""Fingerprints do not depend on the folder a workflow runs in.

Local model folders (a model passed to ``HFTransformers``, a PEFT adapter, a trained model
in the workspace, a sentence-transformers folder, a ``Path`` argument) count by content,
or by their workspace entry's fingerprint, never by their absolute path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tiny_models import build_tiny_llama
from trainer_fixtures import build_tiny_bert

from dreamer_lab.core.fingerprint import folder_identity, hash_value, portable_path

ROOT = Path(__file__).resolve().parents[1]

# A small workflow: a DataSource, an LLM step on a local model folder, an LLM step on a
# local LoRA adapter (whose config names its base model by absolute path), a classifier
# trained in the workspace and run as a task model from models/<fp>/.
WORKFLOW = textwrap.dedent(
    """
    import json
    import sys
    from pathlib import Path

    from dreamer_lab import DataDreamer
    from dreamer_lab.llms import HFTransformers
    from dreamer_lab.steps import DataSource, Prompt, RunTaskModel
    from dreamer_lab.task_models import HFClassificationTaskModel
    from dreamer_lab.trainers import TrainHFClassifier

    here = Path.cwd()
    with DataDreamer("dreamer_workspace"):
        src = DataSource("prompts", {"q": ["the cat", "a dog", "one bird", "two fish"]})
        llm = HFTransformers(str(here / "models" / "tiny-llama"))
        gen = Prompt(
            "generate",
            inputs={"prompts": src.output["q"]},
            args={"llm": llm, "max_new_tokens": 2},
        )
        fps = {"prompts": src.fingerprint, "generate": gen.fingerprint}
        if sys.argv[1] == "all":
            lora = HFTransformers(str(here / "models" / "tiny-adapter"))
            with_adapter = Prompt(
                "generate with adapter",
                inputs={"prompts": src.output["q"]},
                args={"llm": lora, "max_new_tokens": 2},
            )
            labels = ["good", "bad", "good", "bad"]
            labeled = DataSource("labeled", {"text": src.output["q"].to_list(), "label": labels})
            trainer = TrainHFClassifier(
                "classifier", model_name=str(here / "models" / "tiny-bert")
            ).train(
                train_input=labeled.output["text"],
                train_output=labeled.output["label"],
                epochs=1,
                batch_size=4,
            )
            predictions = RunTaskModel(
                "predictions",
                args={"model": HFClassificationTaskModel(trainer.model_path)},
                inputs={"texts": src.output["q"]},
            )
            fps.update(
                {
                    "generate with adapter": with_adapter.fingerprint,
                    "labeled": labeled.fingerprint,
                    "classifier": trainer.fingerprint,
                    "predictions": predictions.fingerprint,
                }
            )
    print(json.dumps(fps))
    """
)


def _build_adapter(base: Path, out: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base))
    get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"])).save_pretrained(
        str(out)
    )
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("source_models")
    build_tiny_llama(root / "tiny-llama")
    build_tiny_bert(root / "tiny-bert")
    _build_adapter(root / "tiny-llama", root / "tiny-adapter")
    return root


def make_project(folder: Path, models: Path) -> Path:
    """A project folder with its own copy of the models and of the workflow script.

    The adapter's config names its base model by absolute path, as a saved adapter does:
    here the copy of the base model in this project."""
    folder.mkdir(parents=True)
    shutil.copytree(models, folder / "models")
    config_file = folder / "models" / "tiny-adapter" / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = str(folder / "models" / "tiny-llama")
    config_file.write_text(json.dumps(config))
    (folder / "workflow.py").write_text(WORKFLOW)
    return folder


def run_project(folder: Path, mode: str = "all") -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DREAMER_LAB_WORKSPACE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    out = subprocess.run(
        [sys.executable, "workflow.py", mode],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_same_workflow_in_two_folders_has_the_same_fingerprints(tmp_path, models):
    first = run_project(make_project(tmp_path / "one" / "project", models))
    second = run_project(make_project(tmp_path / "somewhere" / "else" / "copy", models))
    assert set(first) == {
        "prompts",
        "generate",
        "generate with adapter",
        "labeled",
        "classifier",
        "predictions",
    }
    assert first == second
    # One byte of the local model's weights changed: the LLM step is another step.
    third = make_project(tmp_path / "three", models)
    weights = third / "models" / "tiny-llama" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    changed = run_project(third, mode="llm")
    assert changed["prompts"] == first["prompts"]
    assert changed["generate"] != first["generate"]


def test_local_model_identities_ignore_the_folder(tmp_path, models):
    from dreamer_lab.core.hf_source import resolve_model
    from dreamer_lab.embedders import SentenceTransformersEmbedder
    from dreamer_lab.llms import HFTransformers

    a = make_project(tmp_path / "a", models) / "models"
    b = make_project(tmp_path / "b" / "nested", models) / "models"

    def llm_fp(folder: Path, **kwargs) -> str:
        return HFTransformers(str(folder), **kwargs).__dreamer_fingerprint__()

    assert llm_fp(a / "tiny-llama") == llm_fp(b / "tiny-llama")
    # A LoRA adapter folder (its base model read from adapter_config.json), and the same
    # adapter passed with its base model.
    assert llm_fp(a / "tiny-adapter") == llm_fp(b / "tiny-adapter")
    assert llm_fp(a / "tiny-llama", adapter_name=str(a / "tiny-adapter")) == llm_fp(
        b / "tiny-llama", adapter_name=str(b / "tiny-adapter")
    )
    assert llm_fp(a / "tiny-adapter") != llm_fp(a / "tiny-llama")
    # Another adapter (its weights changed by one byte) is another model.
    weights = b / "tiny-adapter" / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    assert llm_fp(a / "tiny-adapter") != llm_fp(b / "tiny-adapter")
    # Task models and embedders on local folders (sentence-transformers folders included).
    assert (
        resolve_model(str(a / "tiny-bert")).identity()
        == resolve_model(str(b / "tiny-bert")).identity()
    )
    emb_a = SentenceTransformersEmbedder(str(a / "tiny-bert")).__dreamer_fingerprint__()
    emb_b = SentenceTransformersEmbedder(str(b / "tiny-bert")).__dreamer_fingerprint__()
    assert emb_a == emb_b


def test_path_arguments_count_by_content_not_location(tmp_path, monkeypatch):
    for sub in ("x", "y/z"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "data.txt").write_text("same")
    a, b = tmp_path / "x" / "data.txt", tmp_path / "y" / "z" / "data.txt"
    assert hash_value(a) == hash_value(b)
    assert hash_value(a.parent) != hash_value(b.parent.parent)
    b.write_text("other")
    assert hash_value(a) != hash_value(b)
    # A path that does not exist yet (an output) is written relative to the working folder.
    monkeypatch.chdir(tmp_path / "x")
    assert portable_path(tmp_path / "x" / "out" / "file.json") == "out/file.json"
    first = hash_value(Path.cwd() / "out")
    monkeypatch.chdir(tmp_path / "y")
    assert hash_value(Path.cwd() / "out") == first
    assert portable_path("/elsewhere/out") == "/elsewhere/out"


def test_workspace_entries_count_by_their_fingerprint(tmp_path):
    fp = "0123456789abcdef0123456789abcdef"
    for root in (tmp_path / "ws1", tmp_path / "ws2"):
        model = root / "models" / fp / "model"
        model.mkdir(parents=True)
        (root / "models" / fp / "record.json").write_text("{}")
        (model / "weights.bin").write_bytes(os.urandom(16))  # e.g. a nondeterministic run
    ident = folder_identity(tmp_path / "ws1" / "models" / fp / "model")
    assert ident == {"entry": fp, "path": "model"}
    assert ident == folder_identity(tmp_path / "ws2" / "models" / fp / "model")
    # Outside an entry: the content digest.
    assert set(folder_identity(tmp_path / "ws1" / "models")) == {"digest"}


def test_trainer_base_model_identity_ignores_where_the_folder_lives(tmp_path):
    """A trainer's base model: a workspace entry by fingerprint, an adapter without its
    base model's absolute path, wherever the workspace or the folder is."""
    import json

    from dreamer_lab.trainers.hf_base import model_identity

    fp = "0123456789abcdef0123456789abcdef"
    ids = []
    for where in ("a", "b/deeper"):
        entry = tmp_path / where / "ws" / "models" / fp
        (entry / "model").mkdir(parents=True)
        (entry / "record.json").write_text("{}")
        (entry / "model" / "config.json").write_text('{"model_type": "bert"}')
        adapter = tmp_path / where / "adapter"
        adapter.mkdir()
        config = {"peft_type": "LORA", "base_model_name_or_path": str(tmp_path / where / "base")}
        (adapter / "adapter_config.json").write_text(json.dumps(config))
        (adapter / "adapter_model.safetensors").write_bytes(b"weights")
        ids.append(
            (
                model_identity(str(entry / "model"), None, "test"),
                model_identity(str(adapter), None, "test"),
            )
        )
    assert ids[0] == ids[1]
    assert ids[0][0]["entry"] == fp
    changed = tmp_path / "a" / "adapter" / "adapter_model.safetensors"
    changed.write_bytes(b"weightz")
    assert model_identity(str(changed.parent), None, "test") != ids[0][1]


def test_local_hub_data_source_counts_content_not_location(tmp_path):
    """HFHubDataSource over a local data folder: same files in two places, same step."""
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import HFHubDataSource

    fps = []
    for where in ("a", "b/deeper"):
        folder = tmp_path / where / "data"
        folder.mkdir(parents=True)
        (folder / "train.jsonl").write_text('{"x": 1}\n{"x": 2}\n')
        with DataDreamer(tmp_path / where / "ws"):
            fps.append(HFHubDataSource("local", str(folder), split="train").fingerprint)
    assert fps[0] == fps[1]
