"""Secrets: redaction removes real secrets and nothing else; nothing a workflow writes
(workspace, executed notebook, report, cards, exported script, logs) holds an API key."""

from __future__ import annotations

import json
import os
import pickle
import secrets
import string
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fake_keys import fake_key

from dreamer_lab.core.secrets import (
    REDACTED,
    contains_secret,
    is_secret_name,
    redact,
    register_secret,
    scrub_text,
)

ROOT = Path(__file__).resolve().parents[1]


def _random(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    """Random characters with both letters and digits (as real keys have)."""
    while True:
        s = "".join(secrets.choice(alphabet) for _ in range(n))
        if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
            return s


def _jsonable(value: Any) -> Any:
    """What redact() returns for a value with nothing to redact (a JSON-safe copy)."""
    return json.loads(json.dumps(value, default=lambda o: f"<{type(o).__qualname__}>"))


# -- names --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["token", "hf_token", "HF_TOKEN", "api_key", "apiKey", "OPENAI_API_KEY", "_api_key",
     "auth_token", "access_token", "hub_token", "push_to_hub_token", "secret", "client_secret",
     "password", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "private_key", "credentials",
     "Authorization", "api_key_2", "_OpenAIEmbedder__api_key", "use_auth_token"],
)  # fmt: skip
def test_credential_names_are_secret(name):
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["trainable_token_indices", "max_new_tokens", "pad_token_id", "token_type_ids",
     "tokenizer_name", "tokenizer_kwargs", "pad_token", "eos_token", "bos_token",
     "additional_special_tokens", "TOKENIZERS_PARALLELISM", "max_tokens", "num_tokens",
     "sort_key", "cache_key", "key", "api_key_env", "secret_name", "PWD", "passage",
     "tokens", "forced_bos_token_id", "image_token_index", "PASSWORD_STORE_DIR"],
)  # fmt: skip
def test_config_names_are_not_secret(name):
    assert not is_secret_name(name)


# -- a corpus of real content passes through unchanged -------------------------------------------
def _citations() -> list[str]:
    from dreamer_lab.cards.bibtex import DATADREAMER_CITATION
    from dreamer_lab.cards.known_models import KNOWN_CITATIONS, MINILM_CITATION
    from dreamer_lab.trainers.hf_base import CITATIONS

    out = [MINILM_CITATION, DATADREAMER_CITATION.to_bibtex()]
    out += [c for cs in KNOWN_CITATIONS.values() for c in cs]
    out += [c for c in CITATIONS.values() if isinstance(c, str)]
    return out


def _configs() -> dict[str, Any]:
    from datasets import DatasetInfo, Features, Value
    from peft import LoraConfig
    from transformers import LlamaConfig, TrainingArguments

    from dreamer_lab.cards.known_models import MINILM_CITATION

    info = DatasetInfo(
        description="Sentence pairs", citation=MINILM_CITATION, license="apache-2.0",
        features=Features({"text": Value("string"), "label": Value("int64")}),
    )  # fmt: skip
    return {
        "lora": LoraConfig(r=8, target_modules=["q_proj", "v_proj"]).to_dict(),
        "lora_tokens": LoraConfig(trainable_token_indices=[0, 1, 2]).to_dict(),
        "lora_token_map": LoraConfig(trainable_token_indices={"embed_tokens": [3, 4]}).to_dict(),
        "training_args": TrainingArguments(output_dir="out", report_to=[]).to_dict(),
        "llama": LlamaConfig().to_dict(),
        "dataset_info": info._to_yaml_dict() | {"citation": info.citation},
        "tokenizer": {"pad_token": "<pad>", "eos_token": "</s>", "bos_token": "<s>",
                      "unk_token": "<unk>", "model_max_length": 512, "use_auth_token": True},
        "generation": {"max_new_tokens": 20, "pad_token_id": 0, "forced_bos_token_id": None},
    }  # fmt: skip


def test_real_citations_pass_through_unchanged():
    for text in _citations():
        assert scrub_text(text) == text
        assert redact({"citation": text}) == {"citation": text}
    assert "Task-Agnostic" in scrub_text(_citations()[0])


def test_real_configs_pass_through_unchanged():
    configs = _configs()
    assert configs["lora_tokens"]["trainable_token_indices"] == [0, 1, 2]
    for name, config in configs.items():
        assert redact(config) == _jsonable(config), name
        assert redact(config, name) == _jsonable(config), name
        text = json.dumps(_jsonable(config), indent=2, sort_keys=True)
        assert scrub_text(text) == text, name


def test_ordinary_words_and_code_are_not_keys():
    for text in (
        "Task-Agnostic Compression", "ask-me-anything-about-transformers-2024", "risk-free",
        "the bearer instrument", "Authorization: required for every request",
        "max_new_tokens='12345678'", 'token = tokens[0]', "hf_hub_download(repo_id)",
        "desk-lamp-with-usb-c-port-and-ten-year-warranty-2024", "xoxo, Gossip Girl",
        "hub_token='<HUB_TOKEN>'", "api_key='${OPENAI_API_KEY}'",
    ):  # fmt: skip
        assert scrub_text(text) == text, text


# -- real secrets are removed -------------------------------------------------------------------
def test_secrets_in_free_text_are_removed(monkeypatch):
    registered = "canary-" + secrets.token_hex(12)  # not key-shaped: known by registration
    register_secret(registered)
    env_value = "env-" + secrets.token_hex(12)
    monkeypatch.setenv("HF_TOKEN", env_value)
    shaped = {
        "openai": fake_key("text"),
        "hf": "hf_" + _random(34),
        "hf_letters": "hf_" + "".join(secrets.choice("abcdefghXYZ") for _ in range(33)) + "Q",
        "github": "ghp_" + _random(36),
        "slack": "xoxb-" + _random(12) + "-" + _random(24),
    }
    bearer = _random(40, string.ascii_letters + string.digits + "._-")
    named = _random(16)
    samples = {
        "registered": f"the key is {registered}.",
        "env": f"token={env_value}",
        **{k: f"use {v} now" for k, v in shaped.items()},
        "quoted": f"OpenAI(api_key='{shaped['openai']}')",
        "bearer": f"Authorization: Bearer {bearer}",
        "header": f'{{"authorization": "{bearer}"}}',
        "assignment": f'password = "{named}"',
        "json": f'{{"hf_token": "{named}"}}',
    }
    values = [registered, env_value, bearer, named, *shaped.values()]
    for label, text in samples.items():
        out = scrub_text(text)
        assert REDACTED in out, label
        assert not any(v in out for v in values), (label, out)
        assert contains_secret(text), label
    assert scrub_text(samples["bearer"]) == "Authorization: Bearer " + REDACTED


def test_redact_replaces_secret_named_entries_and_keeps_placeholders():
    key = _random(24)
    record = {
        "api_key": key, "hf_token": key, "nested": {"password": 1234, "client_secret": [key]},
        "hub_token": None, "use_auth_token": True, "push_to_hub_token": "<PUSH_TO_HUB_TOKEN>",
        "trainable_token_indices": [1, 2], "text": f"Bearer {key}",
    }  # fmt: skip
    out = redact(record)
    assert key not in json.dumps(out)
    assert out["api_key"] == out["hf_token"] == out["nested"]["password"] == REDACTED
    assert out["nested"]["client_secret"] == REDACTED
    assert out["hub_token"] is None and out["use_auth_token"] is True
    assert out["push_to_hub_token"] == "<PUSH_TO_HUB_TOKEN>"
    assert out["trainable_token_indices"] == [1, 2]


def test_pickles_holding_key_shapes_are_found_and_words_are_not():
    import numpy as np

    for n in (20, 95, 108, 300):  # length bytes that read as letters or digits included
        key = "sk-" + _random(n)
        assert contains_secret(pickle.dumps([key])), n
        assert contains_secret(pickle.dumps({"k": key.encode()})), n
        assert contains_secret(pickle.dumps(f"the key: {key}")), n
    words = ["https://github.com/org/task-force-2024-benchmark-v2", "Task-Agnostic models"]
    assert not contains_secret(pickle.dumps(words))
    known = "known-" + secrets.token_hex(10)
    register_secret(known)
    assert contains_secret(pickle.dumps(np.array([known])))  # UTF-32 in numpy arrays


def test_credential_dicts_are_held_by_reference_and_their_secrets_redacted():
    from dreamer_lab.core.secrets import drop_secret, restore_secret

    body, key_id = _random(64, string.ascii_letters + string.digits + "+/"), _random(40)
    creds = {
        "type": "service_account", "private_key_id": key_id,
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    }  # fmt: skip
    state = drop_secret({"_creds": creds, "model": "m"}, "_creds")
    data = pickle.dumps(state)
    assert body.encode() not in data and key_id.encode() not in data
    restored = pickle.loads(data)
    assert restore_secret(restored, "_creds") is False and restored["_creds"] == creds
    text = scrub_text(json.dumps(creds))
    assert body not in text and "BEGIN PRIVATE KEY" in text and creds["auth_uri"] in text
    assert key_id in text  # an id, not a credential: only credential-named values go


# -- model objects pickle without their key ------------------------------------------------------
def _models(key: str) -> list[Any]:
    from dreamer_lab.embedders import OpenAIEmbedder
    from dreamer_lab.llms import OpenAI
    from dreamer_lab.trainers import TrainOpenAIFineTune

    return [
        OpenAI("gpt-4o-mini", api_key=key),
        OpenAIEmbedder("text-embedding-3-small", api_key=key),
        TrainOpenAIFineTune("ft", model_name="gpt-4o-mini", api_key=key),
    ]


def _key_of(obj: Any) -> str | None:
    if hasattr(obj, "_key"):
        return obj._key()
    return obj._OpenAIEmbedder__api_key


def test_models_pickle_without_their_key(workspace, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    key = "explicit-" + secrets.token_hex(16)
    for i, obj in enumerate(_models(key)):
        data = pickle.dumps(obj)
        assert key.encode() not in data, type(obj).__name__
        assert _key_of(pickle.loads(data)) == key  # the same process keeps the key
        (tmp_path / f"m{i}.pkl").write_bytes(data)
    # Another process: the key is read from the environment, or using it names the fix.
    code = textwrap.dedent(
        """
        import pickle, sys
        for i in range(3):
            obj = pickle.load(open(f"m{i}.pkl", "rb"))
            try:
                print(obj._key() if hasattr(obj, "_key") else obj.client and "client")
            except Exception as e:
                print(type(e).__name__, e)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 3, run.stderr[-2000:]
    for line in lines:
        assert "OPENAI_API_KEY" in line and "never saved" in line and key not in line
    env["OPENAI_API_KEY"] = other = fake_key("env")
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.stdout.strip().splitlines() == [other, "client", other], run.stderr[-2000:]


# -- the canary sweep: nothing a workflow writes holds a key ------------------------------------
CANARY_CELLS = [
    "%load_ext dreamer_lab\nimport os, uuid\nfrom dreamer_lab import DataDreamer\n"
    "from dreamer_lab.llms import OpenAI\nfrom dreamer_lab.steps import DataSource, "
    "ProcessWithPrompt\nDataDreamer('ws').start()",
    # A memoized cell holding the keys: by name, under another name, inside model objects.
    "%%dream\nOPENAI_API_KEY = os.environ['OPENAI_API_KEY']\n"
    "api_key = os.environ['CANARY_INPUT']\nkey_copy = api_key\n"
    "llm = OpenAI('gpt-4o-mini', api_key=api_key, base_url=os.environ['EXPLICIT_URL'])\n"
    "env_llm = OpenAI('gpt-4o-mini', base_url=os.environ['ENV_URL'])\n"
    "first = llm.run(['Say hi'], max_new_tokens=8)[0]\n"
    "env_first = env_llm.run(['Say hi'], max_new_tokens=8)[0]\n"
    "print('keys read:', len(api_key), len(OPENAI_API_KEY))\nfirst",
    "%%dream\ntopics = DataSource('topics', {'topic': ['cats', 'dogs']})\n"
    "gen = ProcessWithPrompt('gen', inputs={'inputs': topics.output['topic']},\n"
    "    args={'llm': llm, 'instruction': 'Write about it.', 'max_new_tokens': 8})",
    # A saved data card of the step that used the keyed model (the report shows it).
    "from dreamer_lab.cards import card_for\ncard_for(gen).save('cards/gen')",
    # After a cache hit the keys are back: new prompts reach both servers.
    "fresh = llm.run([f'ping {uuid.uuid4()}'], max_new_tokens=4)\n"
    "env_fresh = env_llm.run([f'ping {uuid.uuid4()}'], max_new_tokens=4)\n"
    "assert key_copy == api_key == os.environ['CANARY_INPUT']\n"
    "assert OPENAI_API_KEY == os.environ['OPENAI_API_KEY']\n"
    "print('fresh requests:', len(fresh), len(env_fresh))",
    # An error message about a rejected key.
    "try:\n    OpenAI('gpt-4o-mini', api_key=api_key, base_url=os.environ['ENV_URL'],\n"
    "           max_retries=0).run([f'x {uuid.uuid4()}'])\nexcept Exception as e:\n"
    "    print(type(e).__name__, e)",
]


def _files_with(folder: Path, needles: list[bytes]) -> list[str]:
    """Every file under ``folder`` whose bytes contain one of ``needles``."""
    hits = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            hits += [f"{p.relative_to(folder)}: {n[:10]!r}" for n in needles if n in data]
    return hits


def test_canary_keys_reach_no_file_output_or_log(tmp_path, monkeypatch, capfd, caplog):
    import logging

    from openai_server import FakeOpenAIServer

    from dreamer_lab.cli import main
    from dreamer_lab.runner import run_notebook

    caplog.set_level(logging.DEBUG)
    env_key = fake_key("canary-env")  # key-shaped, through OPENAI_API_KEY
    explicit = "canary-" + secrets.token_hex(16)  # not key-shaped, passed as api_key=
    needles = [env_key.encode(), explicit.encode()]
    nb = nbformat_notebook(CANARY_CELLS)
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "flow.ipynb").write_text(nb)
    with (
        FakeOpenAIServer(api_key=explicit) as explicit_srv,
        FakeOpenAIServer(api_key=env_key) as env_srv,
    ):
        monkeypatch.setenv("OPENAI_API_KEY", env_key)
        monkeypatch.setenv("CANARY_INPUT", explicit)
        monkeypatch.setenv("EXPLICIT_URL", explicit_srv.base_url)
        monkeypatch.setenv("ENV_URL", env_srv.base_url)
        monkeypatch.setenv("PYTHONPATH", str(ROOT))
        monkeypatch.delenv("DREAMER_LAB_WORKSPACE", raising=False)
        first = run_notebook(folder / "flow.ipynb", tmp_path / "run1", verbose=False)
        served = (explicit_srv.served, env_srv.served)
        second = run_notebook(folder / "flow.ipynb", tmp_path / "run2", verbose=False)
        # Both keys were used (each run), and the second run's %%dream cells were hits.
        assert served[0] >= 3 and served[1] >= 2
        assert explicit_srv.served >= served[0] + 1 and env_srv.served >= served[1] + 1
    import nbformat

    cells = nbformat.read(second["notebook"], as_version=4).cells
    stamps = [
        o.metadata["dreamer_lab"]
        for c in cells[1:3]
        for o in c.outputs
        if "dreamer_lab" in o.get("metadata", {})
    ]
    assert [s["cache_hit"] for s in stamps] == [True, True]
    text = "\n".join(o.get("text", "") for c in cells for o in c.get("outputs", []))
    assert "fresh requests: 1 1" in text and "keys read:" in text
    assert "LLMError" in text and "401" in text  # the rejected key's error was shown...
    assert main(["export-script", str(second["notebook"]), "-o", str(tmp_path / "flow.py")]) == 0
    # ...and nothing written holds a key: workspace (records, sqlite, joblib objects, locks,
    # tmp), executed notebooks, reports, cards, the exported script.
    ws_objects = list((folder / "ws").rglob("objects/*"))
    assert ws_objects and any(p.suffix == ".sqlite" for p in (folder / "ws").rglob("*"))
    assert first["html"].is_file() and any(k.startswith("card:") for k in second)
    assert _files_with(tmp_path, needles) == []
    # Logs: the kernels' and this process's output and log records.
    out, err = capfd.readouterr()
    logs = out + err + "\n".join(r.getMessage() for r in caplog.records)
    assert not any(n.decode() in logs for n in needles)
    # The sweep finds a key where there is one.
    (tmp_path / "control.bin").write_bytes(b"\x00" + needles[1] + b"\x00")
    assert _files_with(tmp_path, needles) == [f"control.bin: {needles[1][:10]!r}"]


def nbformat_notebook(cells: list[str]) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nbformat.writes(nb)
