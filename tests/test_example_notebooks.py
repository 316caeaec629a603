"""The example notebooks in notebooks/ run headless (``run_notebook``) and produce what they
promise: a dry run with a cost estimate and a guarded live section (api_models), preference
pairs and a DPO-trained LoRA adapter (dpo_alignment), retrieval, RAG and retrieved few-shot
prompts (rag_fewshot). Each runs in a fresh copy, so its ``dreamer_workspace`` is new."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from openai_server import API_KEY, FakeOpenAIServer

from dreamer_lab.core.workspace import open_workspace

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

pytestmark = pytest.mark.slow


def _run(name: str, folder: Path, monkeypatch, **parameters: Any) -> dict[str, Path]:
    from dreamer_lab.runner import run_notebook

    if not (folder / name).exists():
        shutil.copy(NOTEBOOKS / name, folder / name)
    monkeypatch.setenv("DREAMER_LAB_SIGNING_KEY_FILE", str(folder / "signing.key"))
    monkeypatch.delenv("DREAMER_LAB_WORKSPACE", raising=False)
    out = folder / f"run{len(list(folder.glob('run*')))}"
    return run_notebook(folder / name, out, parameters=parameters, verbose=False)


def _text(paths: dict[str, Path]) -> str:
    """Every stream and text/plain output of the executed notebook, in order."""
    nb = nbformat.read(paths["notebook"], as_version=4)
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            assert o.output_type != "error", o.get("evalue")
            parts.append(o.get("text") or o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _rows(folder: Path, step_name: str) -> dict[str, list[Any]]:
    from dreamer_lab.cards.upstream import resolve

    ws = open_workspace(folder / "dreamer_workspace")
    return ws.steps.load(resolve(step_name, ws)).dataset().to_dict()


def _names(folder: Path) -> set[str]:
    ws = open_workspace(folder / "dreamer_workspace")
    return {ws.steps.read_record(fp)["name"] for fp in ws.steps.fingerprints()}


def test_api_models_dry_run_offline_then_live_against_a_compatible_server(tmp_path, monkeypatch):
    from dreamer_lab.llms.openai import PRICES

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    text = _text(_run("api_models.ipynb", tmp_path, monkeypatch))
    m = re.search(
        r"40 of 40 requests to send, ~(\d+) prompt \+ (\d+) completion tokens, "
        r"estimated cost \$(\d+\.\d{4})",
        text,
    )
    assert m, text[:2000]
    prompt_tokens, completion_tokens = int(m.group(1)), int(m.group(2))
    assert completion_tokens == 40 * 24  # rows x max_new_tokens
    price_in, price_out = PRICES["gpt-4o-mini"]
    cost = (prompt_tokens * price_in + completion_tokens * price_out) / 1e6
    assert float(m.group(3)) == pytest.approx(cost, abs=1e-4)
    assert "vLLM: 40 requests, estimated cost $0.0000" in text
    assert "SKIPPED the live section: OPENAI_API_KEY is not set" in text
    assert _names(tmp_path) == {"products"}  # a dry run stores (and sends) nothing

    # The same notebook pointed at an OpenAI-compatible server (the local test double).
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with FakeOpenAIServer(latency=0.02, idle_timeout=60) as server:
        text = _text(_run("api_models.ipynb", tmp_path, monkeypatch, base_url=server.base_url))
        assert server.served == 40
    assert "SKIPPED" not in text
    assert re.search(r"live: 40 requests sent \(0 from the cache\), \d+ prompt \+ \d+", text)
    rows = _rows(tmp_path, "taglines")
    assert len(rows["generations"]) == 40
    assert all(g.startswith("echo: Input: A ") for g in rows["generations"])


def test_dpo_alignment_trains_a_lora_adapter_on_judged_pairs(tmp_path, monkeypatch):
    text = _text(_run("dpo_alignment.ipynb", tmp_path, monkeypatch))
    m = re.search(r"the judge preferred the careful answer in (\d) of 8 pairs", text)
    assert m, text[:2000]
    pairs = _rows(tmp_path, "preference pairs")
    judged = _rows(tmp_path, "judged pairs")
    assert len(pairs["prompt"]) == 8
    for j, a, b, chosen, rejected in zip(
        judged["judgements"], judged["a"], judged["b"], pairs["chosen"], pairs["rejected"],
        strict=True,
    ):  # fmt: skip
        assert (chosen, rejected) == ((a, b) if j == "Response A" else (b, a))
    ws = open_workspace(tmp_path / "dreamer_workspace")
    [fp] = ws.models.fingerprints()
    record = ws.models.read_record(fp)
    assert record["kind"] == "TrainHFDPO"
    model = ws.models.path(fp) / "model"
    assert (model / "adapter_config.json").is_file()  # LoRA: only the adapter is stored
    assert not list(model.glob("model*.safetensors"))
    losses = [h["loss"] for h in record["history"] if "loss" in h]
    assert len(losses) == 2  # 8 pairs, batch 4, 1 epoch
    assert record["card"]["Model Name"] == ["HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert 'base_model: "HuggingFaceTB/SmolLM2-135M-Instruct"' in text  # quoted YAML value


def test_rag_fewshot_retrieves_the_right_documents_and_examples(tmp_path, monkeypatch):
    text = _text(_run("rag_fewshot.ipynb", tmp_path, monkeypatch))
    assert "8 vectors of 384 dimensions" in text
    hits = _rows(tmp_path, "retrieved documents")
    top = [r["texts"][0] for r in hits["results"]]
    assert top == [
        "The Echo headphones last 30 hours on a single charge.",
        "Returns are accepted within 30 days if the product is unused.",
        "The Zephyr kettle holds 1.7 liters and boils water in three minutes.",
        "Our support team answers emails from Monday to Friday, 9:00 to 17:00.",
    ]
    assert all(len(r["texts"]) == 2 for r in hits["results"])  # k=2
    rag = _rows(tmp_path, "rag answers")
    for prompt, result, question in zip(
        rag["prompts"], hits["results"], hits["queries"], strict=True
    ):
        docs = [f"Document: {t}" for t in result["texts"]]
        assert prompt.index(docs[0]) < prompt.index(docs[1]) < prompt.index(question)
    shots = _rows(tmp_path, "retrieved few-shot labels")
    # The flickering lamp gets its k=2 nearest labeled examples, a broken kettle among them.
    first = shots["prompts"][0]
    assert first.count("Review:") == 3 and first.endswith(
        "Review: The lamp flickers and broke in a month.\nSentiment:"
    )
    assert "Review: The kettle stopped working after a week." in first
    assert set(shots["generations"]) <= {"positive", "negative"}  # one label word each
