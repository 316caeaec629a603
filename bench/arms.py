"""One arm of one workload, in its own process: ``python bench/arms.py ARM WORKLOAD ...``.

ARM is ``ours`` (dreamer_lab), ``dd`` (DataDreamer 0.46, run with its own venv's python)
or ``plain`` (the plain libraries doing the same work). Prints one JSON line of inner
timings (seconds) and the process's peak RSS (MB); :mod:`compare` times the whole process
and runs the arms interleaved. This file imports neither dreamer_lab nor datadreamer at
module level, so that each venv can run it.

Workloads:

* ``rows WS N [again]``: an N-row in-memory dict (ids + short texts) as a source, then a
  batched ``map`` (uppercase the text) stored; run once in a fresh or an existing
  workspace; with ``again``, the same cell once more in the same process (and, for
  ``ours``, the floor of any input check: the same dict converted to Arrow and hashed).
* ``api URL N CONC``: N chat completions at most CONC in flight against a local
  OpenAI-compatible server.
* ``train WS MODEL``: SFT + LoRA (r=8, q/v) on 64 rows, validation on 16, one epoch,
  batch 8, evaluation and a checkpoint at the epoch end, the best model loaded at the end;
  the time inside transformers' ``Trainer.train`` (the loop every arm shares) apart.
* ``gen WS MODEL REPS``: 48 prompts of mixed length (36 to ~170 tokens), batch 8, greedy,
  24 new tokens, with the model loaded and warmed up. ``ours`` times ``HFTransformers.run``
  (request-cache lookups, misses and per-batch commits included: each repetition has its
  own seed, so its keys are new) and plain ``model.generate`` on the same model object,
  interleaved in one process (the order alternates each repetition) so that load hits
  both alike, each also less its time inside ``model.generate`` (what the arm adds),
  and checks that both wrote the same texts; ``dd`` times DataDreamer's ``run()`` REPS
  times (``force=True``).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

QUESTIONS = ["What color is the sky?", "Name a yellow fruit.", "Legs of a cat?", "Hi in French?"]
ANSWERS = ["Blue.", "A banana.", "Four.", "Bonjour."]


def columns(n: int) -> dict[str, list]:
    return {"id": list(range(n)), "text": [f"synthetic row number {i}" for i in range(n)]}


def upper(batch: dict[str, list]) -> dict[str, list]:
    return {"id": batch["id"], "text": [t.upper() for t in batch["text"]]}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- rows -------------------------------------------------------------------------------
def rows_ours(ws: Path, cols: dict[str, list]) -> int:
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource

    with DataDreamer(ws):
        src = DataSource("src", cols)
        out = src.map(upper, batched=True, batch_size=1000, lazy=False, name="upper")
        return len(out.output)


def rows_dd(ws: Path, cols: dict[str, list]) -> int:
    from datadreamer import DataDreamer
    from datadreamer.steps import DataSource

    with DataDreamer(str(ws), verbose=False):
        src = DataSource("src", data=cols)
        out = src.map(upper, batched=True, batch_size=1000, lazy=False, name="upper")
        return len(out.output)


def rows_plain(ws: Path, cols: dict[str, list]) -> int:
    """First run: from_dict + map + save_to_disk; later runs reload the result (no check
    that the input is the same: what a script without a cache layer does)."""
    import datasets

    datasets.disable_progress_bars()
    if (ws / "dataset_info.json").is_file():
        return datasets.load_from_disk(str(ws)).num_rows
    ds = datasets.Dataset.from_dict(cols).map(upper, batched=True, batch_size=1000)
    ds.save_to_disk(str(ws))
    return ds.num_rows


def floor_seconds(cols: dict[str, list]) -> float:
    """The least any check of in-memory input does: the dict to Arrow, the table hashed."""
    import pyarrow as pa

    from dreamer_lab.core.fingerprint import hash_value

    t = time.perf_counter()
    hash_value(pa.table(cols))
    return time.perf_counter() - t


def rows(arm: str, ws: str, n: str, *again: str) -> dict[str, Any]:
    run = {"ours": rows_ours, "dd": rows_dd, "plain": rows_plain}[arm]
    cols = columns(int(n))
    t = time.perf_counter()
    assert run(Path(ws), cols) == int(n)
    out: dict[str, Any] = {"once": time.perf_counter() - t, "peak_mb": peak_mb()}
    if again:  # best of 3, each followed (ours) by the floor, so that load hits both alike
        agains, floors = [], []
        for _ in range(3):
            t = time.perf_counter()
            run(Path(ws), cols)
            agains.append(time.perf_counter() - t)
            if arm == "ours":
                floors.append(floor_seconds(cols))
        out["again"] = min(agains)
        out["again_total"] = sum(agains)
        if floors:
            out["floor"], out["floor_total"] = min(floors), sum(floors)
    return out


# -- api --------------------------------------------------------------------------------
def api(arm: str, url: str, n: str, conc: str) -> dict[str, Any]:
    import os
    import tempfile

    prompts = [f"{arm} prompt {i} {time.time_ns()}" for i in range(int(n))]
    c, key = int(conc), os.environ["BENCH_API_KEY"]
    if arm == "plain":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from plain_clients import plain_chat_seconds

        return {"seconds": plain_chat_seconds(url, key, prompts, c)}
    # Every arm's clock starts with openai imported (plain_chat_seconds imports it before
    # its clock; ours and DataDreamer's would otherwise count ~0.3 s of import at 512 requests).
    import openai  # noqa: F401

    with tempfile.TemporaryDirectory() as d:
        if arm == "ours":
            from dreamer_lab import DataDreamer
            from dreamer_lab.llms import OpenAI

            with DataDreamer(d):
                llm = OpenAI("gpt-4o-mini", base_url=url, api_key=key, max_concurrency=c)
                t = time.perf_counter()
                llm.run(prompts, max_new_tokens=16, verbose=False)
                return {"seconds": time.perf_counter() - t}
        from datadreamer import DataDreamer
        from datadreamer.llms import OpenAI

        # DataDreamer counts tokens with tiktoken, which downloads its encodings at run
        # time; offline, count ~4 characters a token instead (patched, said in the table).
        OpenAI.count_tokens = lambda self, value: max(1, len(value) // 4)  # type: ignore[method-assign]
        with DataDreamer(d, verbose=False):
            llm = OpenAI("gpt-4o-mini", base_url=url, api_key=key)
            t = time.perf_counter()
            llm.run(prompts, max_new_tokens=16, batch_size=c)
            return {"seconds": time.perf_counter() - t}


# -- train ------------------------------------------------------------------------------
def train_rows(n: int) -> dict[str, list[str]]:
    return {
        "question": [QUESTIONS[i % 4] for i in range(n)],
        "answer": [ANSWERS[i % 4] for i in range(n)],
    }


def lora() -> Any:
    from peft import LoraConfig

    return LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])


def train_plain(ws: Path, model: str) -> None:
    """trl + peft configured as dreamer_lab's default with validation data."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, EarlyStoppingCallback
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(model)
    net = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)

    def data(n: int) -> Any:
        r = train_rows(n)
        return Dataset.from_dict(
            {
                "prompt": [[{"role": "user", "content": q}] for q in r["question"]],
                "completion": [[{"role": "assistant", "content": a}] for a in r["answer"]],
            }
        )

    args = SFTConfig(
        output_dir=str(ws),
        num_train_epochs=1,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        learning_rate=1e-3,
        seed=42,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to="none",
        disable_tqdm=True,
        logging_steps=1,
        save_strategy="epoch",
        eval_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        completion_only_loss=True,
    )
    trainer = SFTTrainer(
        model=net,
        args=args,
        train_dataset=data(64),
        eval_dataset=data(16),
        processing_class=tok,
        peft_config=lora(),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=5)],
    )
    trainer.train()
    trainer.save_model(str(ws / "final"))


def train_lab(arm: str, ws: Path, model: str) -> bool:
    """``TrainHFFineTune`` of dreamer_lab or DataDreamer; True when answered from cache."""
    if arm == "ours":
        from dreamer_lab import DataDreamer
        from dreamer_lab.steps import DataSource
        from dreamer_lab.trainers import TrainHFFineTune
    else:
        from datadreamer import DataDreamer
        from datadreamer.steps import DataSource
        from datadreamer.trainers import TrainHFFineTune
    with DataDreamer(str(ws)):
        tr = DataSource("train", data=train_rows(64))
        va = DataSource("validation", data=train_rows(16))
        extra = {"device": "cpu", "dtype": "float32"} if arm == "dd" else {}
        trainer = TrainHFFineTune("sft", model_name=model, peft_config=lora(), **extra)
        trainer.train(
            train_input=tr.output["question"],
            train_output=tr.output["answer"],
            validation_input=va.output["question"],
            validation_output=va.output["answer"],
            epochs=1,
            batch_size=8,
            learning_rate=1e-3,
        )
        return bool(getattr(trainer, "cache_hit", False))


def for_transformers4(model: str, folder: Path) -> str:
    """A view of ``model`` that DataDreamer's transformers 4 loads (setup, not timed): the
    same files linked, ``tokenizer_class`` of transformers 5 (``TokenizersBackend``) named
    as the fast tokenizer it is."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in Path(model).iterdir():
        if f.name == "tokenizer_config.json":
            cfg = json.loads(f.read_text())
            cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
            (folder / f.name).write_text(json.dumps(cfg))
        elif not (folder / f.name).exists():
            (folder / f.name).symlink_to(f)
    return str(folder)


def train(arm: str, ws: str, model: str) -> dict[str, Any]:
    import torch  # imports are not the training's cost; the whole process is timed too
    import transformers
    import trl  # noqa: F401

    if arm == "dd":
        model = for_transformers4(model, Path(ws).parent / "dd-model")
    # The training loop every arm shares (transformers' Trainer.train, callbacks included)
    # is timed apart: what each arm adds around it is the rest.
    loop = {"seconds": 0.0}
    real = transformers.Trainer.train

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return real(self, *args, **kwargs)
        finally:
            loop["seconds"] += time.perf_counter() - t

    transformers.Trainer.train = timed  # type: ignore[method-assign]
    torch.manual_seed(0)
    use = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = use.ru_utime + use.ru_stime
    t = time.perf_counter()
    if arm == "plain":
        train_plain(Path(ws), model)
    else:
        train_lab(arm, Path(ws), model)
    seconds = time.perf_counter() - t
    use = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "loop_seconds": loop["seconds"],
        "outside_seconds": seconds - loop["seconds"],
        "cpu_seconds": use.ru_utime + use.ru_stime - cpu0,
        "peak_mb": peak_mb(),
    }


# -- gen --------------------------------------------------------------------------------
TOPICS = ["the sea", "a city", "winter", "a cat", "music", "trees", "the moon", "bread"]
FACTS = [
    "The harbour was quiet before dawn, and the fishing boats rocked against the pier.",
    "Old maps of the region show a river where there is now a long straight road.",
    "In the spring the market sells radishes, early lettuce and bunches of wild garlic.",
    "The library keeps its oldest books in a cold room that visitors cannot enter.",
    "Every evening a bell rings twice from the tower on the hill above the town.",
    "A narrow staircase leads from the square down to the stones along the water.",
]
GEN_PROMPTS, GEN_BATCH, GEN_NEW_TOKENS = 48, 8, 24


def gen_prompts(n: int = GEN_PROMPTS) -> list[str]:
    """``n`` prompts from a bare question to 8 sentences of context (36 to ~170 tokens
    with the chat template), lengths interleaved."""
    out = []
    for i in range(n):
        k = (i * 5) % 9  # 0..8 sentences of context, in a mixed order
        context = " ".join(FACTS[(i + j) % len(FACTS)] for j in range(k))
        ask = f"Write one sentence about {TOPICS[i % len(TOPICS)]}."
        out.append(f"{context}\n\n{ask}" if context else ask)
    return out


def plain_generate(model: Any, tok: Any, prompts: list[str], batch: int, new: int) -> list[str]:
    """What a script does with plain transformers: the chat template, one tokenization,
    batches of similar token length (longest first), ``generate``, decode, order restored."""
    import torch

    texts = [
        tok.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        for p in prompts
    ]
    ids = tok(texts, add_special_tokens=False)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    out: list[str] = [""] * len(prompts)
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        enc = tok.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
        with torch.inference_mode():
            seqs = model.generate(
                **enc, max_new_tokens=new, do_sample=False, pad_token_id=tok.pad_token_id
            )
        for i, row in zip(idx, seqs[:, enc["input_ids"].shape[1] :], strict=True):
            out[i] = tok.decode(row, skip_special_tokens=True).strip()
    return out


def gen(arm: str, ws: str, model: str, reps: str) -> dict[str, Any]:
    import os

    import torch

    prompts, n = gen_prompts(), int(reps)
    threads = os.environ.get("BENCH_TORCH_THREADS")  # e.g. 1 on a shared, loaded machine
    if threads:
        torch.set_num_threads(int(threads))
    if arm == "dd":
        return gen_dd(ws, model, prompts, n)
    from dreamer_lab import DataDreamer
    from dreamer_lab.llms import HFTransformers

    times: dict[str, list[float]] = {
        f"{a}{k}": [] for a in ("ours", "plain") for k in ("", "_outside", "_cpu")
    }
    with DataDreamer(ws):
        llm = HFTransformers(model)
        kw = {"max_new_tokens": GEN_NEW_TOKENS, "temperature": 0, "batch_size": GEN_BATCH}

        def ours(rep: int) -> list[str]:
            return llm.run(prompts, seed=rep, verbose=False, **kw)

        def plain(rep: int) -> list[str]:
            return plain_generate(llm.model, llm.tokenizer, prompts, GEN_BATCH, GEN_NEW_TOKENS)

        # Warm-up (model load, first-call allocations) on a few prompts, not timed.
        llm.run(prompts[:GEN_BATCH], seed=-1, verbose=False, **kw)
        plain_generate(llm.model, llm.tokenizer, prompts[:GEN_BATCH], GEN_BATCH, 4)
        # Time inside model.generate too: the rest of each run is what the arm adds.
        net, real, inside = llm.model, llm.model.generate, [0.0]

        def generate(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                inside[0] += time.perf_counter() - t

        net.generate = generate
        texts = {}
        for rep in range(n):
            order = ("ours", "plain") if rep % 2 == 0 else ("plain", "ours")
            for name in order:
                inside[0] = 0.0
                t, cpu = time.perf_counter(), time.process_time()
                texts[name] = (ours if name == "ours" else plain)(rep)
                times[name].append(time.perf_counter() - t)
                times[f"{name}_cpu"].append(time.process_time() - cpu)
                times[f"{name}_outside"].append(times[name][-1] - inside[0])
        if texts["ours"] != texts["plain"]:
            diff = [i for i, (a, b) in enumerate(zip(*texts.values(), strict=True)) if a != b]
            raise AssertionError(f"ours and plain generate differ at prompts {diff[:5]}")
    return {**times, "threads": torch.get_num_threads(), "peak_mb": peak_mb()}


def gen_dd(ws: str, model: str, prompts: list[str], n: int) -> dict[str, Any]:
    import torch
    from datadreamer import DataDreamer
    from datadreamer.llms import HFTransformers

    times = []
    model = for_transformers4(model, Path(ws).parent / "dd-model")
    # DataDreamer picks chat templates by model name and knows none for a local folder:
    # give it the model's own (what the other arms render), or it sends raw prompts.
    template = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        "Face<|im_end|>\n<|im_start|>user\n{{prompt}}<|im_end|>\n<|im_start|>assistant\n"
    )
    with DataDreamer(ws, verbose=False):
        llm = HFTransformers(
            model, chat_prompt_template=template, device="cpu", dtype=torch.float32
        )
        kw = {"max_new_tokens": GEN_NEW_TOKENS, "top_p": 0.0, "batch_size": GEN_BATCH}
        llm.run(prompts[:GEN_BATCH], force=True, **kw)  # warm-up, not timed
        for _ in range(n):
            t = time.perf_counter()
            texts = llm.run(prompts, force=True, **kw)
            times.append(time.perf_counter() - t)
        if sum(bool(x.strip()) for x in texts) < len(texts) // 2:
            raise AssertionError(f"DataDreamer wrote mostly empty texts: {texts[:3]}")
    return {"dd": times, "peak_mb": peak_mb()}


if __name__ == "__main__":
    import logging
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.disable(logging.WARNING)
    result = {"rows": rows, "api": api, "train": train, "gen": gen}[sys.argv[2]](
        sys.argv[1], *sys.argv[3:]
    )
    print("ARM-RESULT " + json.dumps(result))
