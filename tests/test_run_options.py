"""The run options every model backend shares (dreamer_lab/core/run_options.py): each one
acts on LLM.run, Embedder.run, EmbeddingRetriever.run and HFClassificationTaskModel.run,
and so do cache_folder_path, DataDreamer(verbose=, log_level=) and the steps' lazy."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
from tiny_models import build_tiny_llama
from trainer_fixtures import tiny_bert  # noqa: F401

from dreamer_lab import DataDreamer
from dreamer_lab.core.run_options import BatchOutOfMemoryError, RunOptions
from dreamer_lab.embedders import Embedder
from dreamer_lab.errors import StepInputError
from dreamer_lab.llms.base import LLM
from dreamer_lab.retrievers import EmbeddingRetriever

LOGGER = logging.getLogger("dreamer_lab")


class FakeLLM(LLM):
    """Upper-cases prompts; records every batch and the logger level it ran at."""

    backend_name = "fake_llm"

    def __init__(self, sort: bool = False, fail_after: int | None = None, **kw: Any):
        super().__init__("fake", **kw)
        self.sorts_prompts_by_length = sort
        self.fail_after = fail_after
        self.batches: list[list[str]] = []
        self.levels: list[int] = []

    def _generate_batch(self, prompts, params, seeds):
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            raise RuntimeError("killed")
        self.batches.append(list(prompts))
        self.levels.append(LOGGER.getEffectiveLevel())
        LOGGER.debug("fake batch")
        return [{"g": [p.upper()], "u": {}} for p in prompts]


class FakeEmbedder(Embedder):
    """Vectors from text lengths; records batches; runs out of memory above ``fits``."""

    backend_name = "fake_embedder"

    def __init__(self, fits: int | None = None, **kw: Any):
        super().__init__("fake", **kw)
        self.fits = fits
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
        if self.fits is not None and len(texts) > self.fits:
            raise RuntimeError("CUDA out of memory (simulated)")
        self.batches.append(list(texts))
        return [np.array([len(t), 1.0], dtype=np.float32) for t in texts]


PROMPTS = ["aa", "a", "aaaa", "aaa", "aaaaaa", "aaaaa", "b", "bbbbbbb"]


def _progress_lines(caplog, what: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if f" {what} (" in r.getMessage()]


@pytest.fixture
def quiet_logger():
    """The dreamer_lab logger at WARNING (restored after)."""
    before = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    yield LOGGER
    LOGGER.setLevel(before)


# -- batch_scheduler_buffer_size -----------------------------------------------------------
def test_buffer_size_sorts_within_each_buffer():
    opts = RunOptions(batch_size=2, batch_scheduler_buffer_size=4)
    assert opts.buffer_size == 4
    assert opts.schedule([3, 1, 2, 0, 9, 7], key=lambda x: x) == [0, 1, 2, 3, 7, 9]
    assert RunOptions(batch_size=2, batch_scheduler_buffer_size=3).buffer_size == 4  # rounded
    assert RunOptions(batch_size=3).buffer_size == 1002  # max(10 * 3, 1000), rounded up
    for same in (2, 1, -1):  # one batch per buffer, or DataDreamer's "no sorting"
        opts = RunOptions(batch_size=2, batch_scheduler_buffer_size=same)
        assert opts.buffer_size is None and opts.schedule([3, 1, 2], key=lambda x: x) == [3, 1, 2]


def test_llm_batches_follow_the_buffer_size(workspace):
    llm = FakeLLM(sort=True)
    out = llm.run(PROMPTS, batch_size=2, batch_scheduler_buffer_size=4, verbose=False)
    assert out == [p.upper() for p in PROMPTS]  # order restored
    # Each buffer of 4 is sorted longest first, then cut into batches of 2.
    assert llm.batches == [["aaaa", "aaa"], ["aa", "a"], ["bbbbbbb", "aaaaaa"], ["aaaaa", "b"]]
    llm.batches.clear()
    llm.run(PROMPTS, batch_size=2, batch_scheduler_buffer_size=2, force=True, verbose=False)
    assert llm.batches == [PROMPTS[i : i + 2] for i in range(0, 8, 2)]  # sorting disabled
    llm.batches.clear()
    llm.run(PROMPTS, batch_size=2, force=True, verbose=False)  # default: one big buffer
    assert [len(p) for b in llm.batches for p in b] == sorted(map(len, PROMPTS), reverse=True)
    for bad in (0, "4", 2.5):
        with pytest.raises(StepInputError, match="batch_scheduler_buffer_size must be"):
            llm.run(PROMPTS, batch_scheduler_buffer_size=bad)
    with pytest.raises(StepInputError, match="batch_size must be a positive int"):
        llm.run(PROMPTS, batch_size=0)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama") / "model")


def _recording_hf(path: Any, fits: int | None = None) -> tuple[Any, list[list[str]]]:
    """An HFTransformers whose batches are recorded (and fail above ``fits`` prompts)."""
    import torch

    from dreamer_lab.llms import HFTransformers

    llm = HFTransformers(str(path))
    batches: list[list[str]] = []

    def generate(prompts, params, seeds):
        if fits is not None and len(prompts) > fits:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        batches.append(list(prompts))
        return [{"g": [str(len(p))], "u": {}} for p in prompts]

    llm._generate_batch = generate  # type: ignore[method-assign]
    return llm, batches


def test_hf_transformers_sorts_by_full_prompt_within_buffers(workspace, tiny_llama):
    llm, batches = _recording_hf(tiny_llama)
    llm.run(PROMPTS, batch_size=2, batch_scheduler_buffer_size=4, verbose=False)
    full = {p: len(llm._full_prompt(p)) for p in PROMPTS}
    assert [set(b) for b in batches] == [
        {"aaaa", "aaa"},
        {"aa", "a"},
        {"bbbbbbb", "aaaaaa"},
        {"aaaaa", "b"},
    ]
    assert all(full[b[0]] >= full[b[1]] for b in batches)  # longest first
    batches.clear()
    llm.run(PROMPTS, batch_size=2, batch_scheduler_buffer_size=2, force=True, verbose=False)
    assert batches == [PROMPTS[i : i + 2] for i in range(0, 8, 2)]


# -- adaptive_batch_size -------------------------------------------------------------------
def test_hf_transformers_adaptive_batch_size_false_raises_the_oom_clearly(workspace, tiny_llama):
    llm, batches = _recording_hf(tiny_llama, fits=2)
    with pytest.raises(BatchOutOfMemoryError, match="adaptive_batch_size=False") as e:
        llm.run(PROMPTS, batch_size=4, adaptive_batch_size=False, verbose=False)
    assert "a batch of 4 ran out of memory" in str(e.value) and "Lower batch_size" in str(e.value)
    assert type(e.value.__cause__).__name__ == "OutOfMemoryError" and batches == []
    out = llm.run(PROMPTS, batch_size=4, verbose=False)  # adaptive (default): halves
    assert out == [str(len(p)) for p in PROMPTS]
    assert {len(b) for b in batches} == {2}


def test_task_model_adaptive_batch_size(workspace):
    emb = FakeEmbedder(fits=2)
    with pytest.raises(BatchOutOfMemoryError, match="adaptive_batch_size=False"):
        emb.run(PROMPTS, batch_size=4, adaptive_batch_size=False, verbose=False)
    assert emb.batches == []
    vectors = emb.run(PROMPTS, batch_size=4, verbose=False)
    assert [v[0] for v in vectors] == [len(p) for p in PROMPTS]
    assert {len(b) for b in emb.batches} == {2}


# -- progress_interval, verbose, log_level -------------------------------------------------
def test_progress_interval_and_verbose_control_the_progress_lines(workspace, caplog):
    caplog.set_level(logging.INFO, logger="dreamer_lab")
    FakeLLM().run(PROMPTS, batch_size=2, progress_interval=0)
    lines = _progress_lines(caplog, "prompts")
    assert lines[0].startswith("FakeLLM fake: 2/8 prompts (25%)") and len(lines) == 4
    assert lines[-1].startswith("FakeLLM fake: 8/8 prompts (100%)")
    for quiet in ({"progress_interval": None}, {"progress_interval": 3600}, {"verbose": False}):
        caplog.clear()
        FakeLLM().run(PROMPTS, batch_size=2, force=True, **{"progress_interval": 0, **quiet})
        assert _progress_lines(caplog, "prompts") == [], quiet
    with pytest.raises(StepInputError, match="progress_interval must be"):
        FakeLLM().run(PROMPTS, progress_interval=-1)
    with pytest.raises(StepInputError, match="verbose must be True, False or None"):
        FakeLLM().run(PROMPTS, verbose="yes")


def test_verbose_true_shows_progress_lines_on_a_quiet_logger(workspace, caplog, quiet_logger):
    caplog.set_level(logging.INFO, logger="dreamer_lab")  # caplog's handler takes INFO
    quiet_logger.setLevel(logging.WARNING)  # the logger does not
    FakeLLM().run(PROMPTS, batch_size=4, progress_interval=0)
    assert _progress_lines(caplog, "prompts") == []
    FakeLLM().run(PROMPTS, batch_size=4, progress_interval=0, verbose=True, force=True)
    assert len(_progress_lines(caplog, "prompts")) == 2
    assert quiet_logger.level == logging.WARNING  # restored


def test_log_level_sets_the_logger_level_during_the_call(workspace, quiet_logger):
    llm = FakeLLM()
    llm.run(PROMPTS, batch_size=8, log_level=logging.DEBUG, verbose=False)
    llm.run(PROMPTS, batch_size=8, log_level="error", verbose=False, force=True)
    assert llm.levels == [logging.DEBUG, logging.ERROR]
    assert quiet_logger.level == logging.WARNING
    with pytest.raises(StepInputError, match="not a logging level"):
        llm.run(PROMPTS, log_level="loudest")
    assert len(llm.levels) == 2  # refused before generating


def test_embedder_and_retriever_progress_and_log_level(workspace, caplog, quiet_logger):
    caplog.set_level(logging.INFO, logger="dreamer_lab")
    quiet_logger.setLevel(logging.WARNING)
    emb = FakeEmbedder()
    emb.run(PROMPTS, batch_size=2, progress_interval=0, verbose=True)
    assert len(_progress_lines(caplog, "texts")) == 4
    caplog.clear()
    emb.run(PROMPTS, batch_size=2, progress_interval=0, verbose=False, force=True)
    emb.run(PROMPTS, batch_size=2, progress_interval=None, verbose=True, force=True)
    assert _progress_lines(caplog, "texts") == []
    retriever = EmbeddingRetriever(["x", "yy", "zzz"], embedder=FakeEmbedder())
    queries = [f"query {i}" for i in range(8)]  # not cached yet
    retriever.run(queries, batch_size=4, progress_interval=0, verbose=True)
    assert len(_progress_lines(caplog, "texts")) == 2  # the 8 queries, 2 batches
    caplog.clear()
    new = ["q1", "q2", "q3", "q4"]
    retriever.run(new, log_level=logging.INFO, progress_interval=0, verbose=None)
    assert len(_progress_lines(caplog, "texts")) == 1
    with pytest.raises(ValueError, match="not a logging level"):
        retriever.run(PROMPTS, log_level="loudest")


def test_buffer_size_reaches_the_embedder_through_the_retriever(workspace):
    emb = FakeEmbedder()
    retriever = EmbeddingRetriever(["x", "yy", "zzz"], embedder=emb)
    _ = retriever.embeddings
    emb.batches.clear()
    retriever.run(PROMPTS, batch_size=2, batch_scheduler_buffer_size=4, verbose=False)
    # Each buffer of 4 queries sorted shortest first (the embedders' order).
    assert emb.batches == [["a", "aa"], ["aaa", "aaaa"], ["b", "aaaaa"], ["aaaaaa", "bbbbbbb"]]
    emb.batches.clear()
    emb.fits = 1
    with pytest.raises(BatchOutOfMemoryError):
        retriever.run(["new1", "new2"], batch_size=2, adaptive_batch_size=False, verbose=False)


# -- total_num_* ---------------------------------------------------------------------------
def test_totals_are_checked_against_the_inputs(workspace):
    llm = FakeLLM()
    assert llm.run((p for p in PROMPTS), total_num_prompts=8, verbose=False)[0] == "AA"
    with pytest.raises(StepInputError, match="total_num_prompts=5, but 8 prompts were given"):
        llm.run((p for p in PROMPTS), total_num_prompts=5)
    with pytest.raises(StepInputError, match="an int >= 0"):
        llm.run(PROMPTS, total_num_prompts="8")
    emb = FakeEmbedder()
    with pytest.raises(ValueError, match="total_num_texts=3, but 8 texts were given"):
        emb.run(iter(PROMPTS), total_num_texts=3)
    assert len(emb.run(iter(PROMPTS), total_num_texts=8, verbose=False)) == 8
    retriever = EmbeddingRetriever(["x", "yy"], embedder=emb)
    with pytest.raises(ValueError, match="total_num_queries=1, but 2 queries were given"):
        retriever.run(iter(["q1", "q2"]), total_num_queries=1)
    assert len(retriever.run(iter(["q1", "q2"]), k=1, total_num_queries=2, verbose=False)) == 2


# -- HFClassificationTaskModel -------------------------------------------------------------
class _Recording:
    """Wraps a classifier model: records each batch's token counts, runs out of memory
    above ``fits`` rows."""

    def __init__(self, model: Any, fits: int | None = None):
        self.model, self.fits, self.batches = model, fits, []

    def __call__(self, **enc):
        import torch

        if self.fits is not None and enc["input_ids"].shape[0] > self.fits:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        self.batches.append(enc["attention_mask"].sum(dim=1).tolist())
        return self.model(**enc)

    def parameters(self):
        return self.model.parameters()


def test_classifier_run_options(workspace, tiny_bert, caplog):  # noqa: F811
    from dreamer_lab.task_models import HFClassificationTaskModel

    texts = ["good", "bad film", "a great movie", "awful", "fine", "not bad at all"]
    clf = HFClassificationTaskModel(str(tiny_bert))
    want = clf.run(texts, batch_size=1, verbose=False)
    rec = _Recording(clf.model, fits=2)
    clf.__dict__["model"] = rec
    with pytest.raises(BatchOutOfMemoryError, match="adaptive_batch_size=False"):
        clf.run(texts, batch_size=4, adaptive_batch_size=False, force=True, verbose=False)
    got = clf.run(texts, batch_size=4, force=True, verbose=False)  # halves to fit
    assert [len(b) for b in rec.batches] == [2, 2, 2]
    assert all(g == pytest.approx(w, abs=1e-4) for g, w in zip(got, want, strict=True))
    tokens = {t: len(clf.tokenizer(t)["input_ids"]) for t in texts}
    rec.fits, rec.batches = None, []
    clf.run(texts, batch_size=2, batch_scheduler_buffer_size=2, force=True, verbose=False)
    assert rec.batches == [[tokens[t] for t in texts[i : i + 2]] for i in (0, 2, 4)]  # as given
    rec.batches = []
    clf.run(texts, batch_size=2, force=True, verbose=False)  # sorted by length in the buffer
    by_length = sorted(texts, key=len)
    assert rec.batches == [[tokens[t] for t in by_length[i : i + 2]] for i in (0, 2, 4)]
    with pytest.raises(ValueError, match="total_num_texts=2, but 6 texts were given"):
        clf.run(texts, total_num_texts=2)
    caplog.set_level(logging.INFO, logger="dreamer_lab")
    clf.run(texts, batch_size=3, progress_interval=0, verbose=True, force=True)
    assert len(_progress_lines(caplog, "texts")) == 2


# -- cache_folder_path ---------------------------------------------------------------------
def test_llm_cache_folder_path_holds_the_requests_and_resumes(workspace, tmp_path):
    folder = tmp_path / "my_cache"
    killed = FakeLLM(cache_folder_path=str(folder), fail_after=2)
    with pytest.raises(RuntimeError, match="killed"):
        killed.run(PROMPTS, batch_size=2, verbose=False)
    assert (folder / "fake_llm.sqlite").exists()
    assert not (workspace / "requests" / "fake_llm.sqlite").exists()
    with DataDreamer(tmp_path / "other_workspace"):  # another workspace, same cache folder
        resumed = FakeLLM(cache_folder_path=str(folder))
        assert resumed.run(PROMPTS, batch_size=2, verbose=False) == [p.upper() for p in PROMPTS]
        assert resumed.batches == [PROMPTS[4:6], PROMPTS[6:8]]  # only what was missing
        assert resumed.dry_run(PROMPTS).num_cached == 8
    plain = FakeLLM()  # no cache_folder_path: the workspace's cache, which is empty
    plain.run(PROMPTS, batch_size=8, verbose=False)
    assert plain.batches == [PROMPTS]


def test_retriever_cache_folder_path_holds_the_vectors(workspace, tmp_path):
    folder = tmp_path / "index_cache"
    emb = FakeEmbedder()
    retriever = EmbeddingRetriever(["x", "yy", "zzz"], embedder=emb, cache_folder_path=folder)
    first = retriever.run(["yy"], k=1, verbose=False)
    assert first[0]["texts"] == ["yy"]
    assert (folder / "fake_embedder.sqlite").exists()
    assert not (workspace / "requests" / "fake_embedder.sqlite").exists()
    with DataDreamer(tmp_path / "other_workspace"):
        again = FakeEmbedder()
        retriever = EmbeddingRetriever(["x", "yy", "zzz"], embedder=again, cache_folder_path=folder)
        assert retriever.run(["yy"], k=1, verbose=False) == first
        assert again.batches == []  # index and query vectors came from the folder


# -- DataDreamer(verbose=, log_level=, **kwargs) --------------------------------------------
def test_datadreamer_session_logging(tmp_path, caplog, quiet_logger):
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['hf_log'\]"):
        DataDreamer(tmp_path / "ws", hf_log=True)
    with pytest.raises(ValueError, match="not a logging level"):
        DataDreamer(tmp_path / "ws", log_level="loudest")
    with DataDreamer(tmp_path / "ws", log_level="debug"):
        assert quiet_logger.level == logging.DEBUG
    assert quiet_logger.level == logging.WARNING
    caplog.set_level(logging.INFO, logger="dreamer_lab")
    quiet_logger.setLevel(logging.WARNING)
    with DataDreamer(tmp_path / "loud", verbose=True):
        assert quiet_logger.level == logging.INFO
        FakeLLM().run(PROMPTS, batch_size=4, progress_interval=0)
    assert len(_progress_lines(caplog, "prompts")) == 2
    caplog.clear()
    quiet_logger.setLevel(logging.INFO)
    with DataDreamer(tmp_path / "quiet", verbose=False):
        FakeLLM().run(PROMPTS, batch_size=4, progress_interval=0)  # the session's verbose
        assert _progress_lines(caplog, "prompts") == []
        FakeLLM().run(PROMPTS, batch_size=4, progress_interval=0, verbose=True, force=True)
        assert len(_progress_lines(caplog, "prompts")) == 2  # the run's own wins


# -- lazy ------------------------------------------------------------------------------------
def test_prompt_and_embedding_steps_refuse_lazy(workspace):
    from dreamer_lab.steps import (
        CosineSimilarity,
        DataSource,
        Embed,
        ProcessWithPrompt,
        Retrieve,
        RunTaskModel,
    )

    src = DataSource("src", {"text": ["a", "bb"]})
    llm, emb = FakeLLM(), FakeEmbedder()
    retriever = EmbeddingRetriever(["x"], embedder=emb)
    texts = {"texts": src.output["text"]}
    cases = [
        (CosineSimilarity, {"a": src.output["text"], "b": src.output["text"]}, {"embedder": emb}),
    ]
    for cls, inputs, args in cases:
        with pytest.raises(StepInputError, match="lazy outputs are not supported yet; omit lazy="):
            cls(cls.__name__, inputs=inputs, args={**args, "lazy": True})
    assert llm.batches == [] and emb.batches == []
    # Prompting steps stream (tests/test_prompt_lazy.py)
    streamed = ProcessWithPrompt(
        "streamed",
        inputs={"inputs": src.output["text"]},
        args={"llm": llm, "instruction": "Go", "lazy": True},
    )
    assert [r["inputs"] for r in streamed.output] == ["a", "bb"]
    # Embed, Retrieve and RunTaskModel stream instead (tests/test_lazy_outputs.py)
    lazy = Embed("lazy", inputs=texts, args={"embedder": emb, "lazy": True})
    assert [r["texts"] for r in lazy.output] == ["a", "bb"]
    assert (
        Retrieve(
            "r", inputs={"queries": src.output["text"]}, args={"retriever": retriever, "lazy": True}
        ).output.num_rows
        == 2
    )
    with pytest.raises(StepInputError, match="must be a TaskModel"):  # checked before any call
        RunTaskModel("t", inputs=texts, args={"model": "no model", "lazy": True})
    args = {"llm": llm, "instruction": "Go", "lazy": False}
    assert ProcessWithPrompt("ok", inputs={"inputs": src.output["text"]}, args=args).output.num_rows
