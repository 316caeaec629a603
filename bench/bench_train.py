"""Training overhead: SFT + LoRA on the embedded SmolLM2-135M through dreamer_lab vs plain trl.

Both runs use the same data, LoRA config (r=8 on q_proj/v_proj), batch size, sequence
length, seed and number of optimizer steps, on CPU in float32 (bf16 and gradient
checkpointing off, as trl's defaults are 20x slower on CPU), and the same checkpointing:
a checkpoint at the end of the epoch, at most 2 kept (dreamer_lab's default, which makes
a killed run resumable), and the final adapter saved. Reported per configuration:

* whole-call wall seconds (the headline): loading the model and tokenizer, preparing the
  data, the training loop, checkpoints and saving, and for dreamer_lab also fingerprinting
  (the base model's weights digest included) and the atomic commit of the model;
* seconds per optimizer step inside the training loop (median of the logged steps),
  the part both arms share;
* the same ``train()`` call again, which dreamer_lab answers from the workspace.

Run: ``python bench/bench_train.py [steps] [repeats]`` (about 2 minutes on 2 CPU cores).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 8
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
BATCH = 4
LR = 1e-3
QUESTIONS = [
    "What color is the sky?",
    "Name a fruit that is yellow.",
    "How many legs does a cat have?",
    "What is the opposite of hot?",
    "Say hello in French.",
    "What is two plus two?",
    "Which animal barks?",
    "What do bees make?",
]
ANSWERS = ["Blue.", "A banana.", "Four.", "Cold.", "Bonjour.", "Four.", "A dog.", "Honey."]


def rows() -> dict[str, list[str]]:
    n = STEPS * BATCH
    return {
        "question": [QUESTIONS[i % len(QUESTIONS)] for i in range(n)],
        "answer": [ANSWERS[i % len(ANSWERS)] for i in range(n)],
    }


def lora():
    from peft import LoraConfig

    return LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])


def step_seconds(times: list[float]) -> float:
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return statistics.median(gaps) if gaps else float("nan")


def plain_trl(model_path: Path, out: Path) -> tuple[float, float]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
            stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    r = rows()
    data = Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": q}] for q in r["question"]],
            "completion": [[{"role": "assistant", "content": a}] for a in r["answer"]],
        }
    )
    args = SFTConfig(
        output_dir=str(out),
        max_steps=STEPS,
        per_device_train_batch_size=BATCH,
        learning_rate=LR,
        seed=42,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to="none",
        disable_tqdm=True,
        logging_steps=1,
        save_strategy="epoch",
        save_total_limit=2,
        max_length=512,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=tok,
        peft_config=lora(),
        callbacks=[Stamp()],
    )
    trainer.train()
    trainer.save_model(str(out / "final"))
    return step_seconds(stamps), time.perf_counter() - t0


def through_dreamer_lab(model_path: Path, ws: Path) -> tuple[float, float, float]:
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource
    from dreamer_lab.trainers import TrainHFFineTune

    def train():
        return TrainHFFineTune("bench", model_name=str(model_path), peft_config=lora()).train(
            train_input=data.output["question"],
            train_output=data.output["answer"],
            epochs=1,
            batch_size=BATCH,
            learning_rate=LR,
            max_steps=STEPS,
        )

    with DataDreamer(ws):
        data = DataSource("bench data", rows())
        t0 = time.perf_counter()
        trainer = train()
        wall = time.perf_counter() - t0
        times = [h["time"] for h in trainer.loss_history if "loss" in h]
        t1 = time.perf_counter()
        again = train()
        cached = time.perf_counter() - t1
        assert again.cache_hit
    return step_seconds(times), wall, cached


def main() -> None:
    import os

    from dreamer_lab.llms.embedded import embedded_model_path

    model_path = embedded_model_path()
    base: list[tuple[float, float]] = []
    ours: list[tuple[float, float, float]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        # Alternate the two so that load from other processes hits both alike; keep the best.
        for rep in range(REPEATS):
            base.append(plain_trl(model_path, Path(tmp) / f"trl{rep}"))
            ours.append(through_dreamer_lab(model_path, Path(tmp) / f"ws{rep}"))
    base_step, base_wall = min(b[0] for b in base), min(b[1] for b in base)
    ours_step, ours_wall = min(o[0] for o in ours), min(o[1] for o in ours)
    cached = min(o[2] for o in ours)
    print(
        f"SFT + LoRA r=8, SmolLM2-135M fp32, CPU, batch {BATCH}, {STEPS} steps, best of "
        f"{REPEATS} alternating runs (load average {load_before:.1f} -> {os.getloadavg()[0]:.1f})"
    )
    print(f"{'configuration':<34}{'train() wall s':>16}{'s/step (loop)':>15}")
    print(f"{'plain trl SFTTrainer + peft':<34}{base_wall:>16.2f}{base_step:>15.3f}")
    print(f"{'dreamer_lab TrainHFFineTune':<34}{ours_wall:>16.2f}{ours_step:>15.3f}")
    print(
        f"{'ours / plain':<34}{ours_wall / base_wall:>16.2f}{ours_step / base_step:>15.2f}"
        f"   (overhead {ours_wall - base_wall:+.2f} s per call)"
    )
    print(f"{'dreamer_lab, same call again':<34}{cached:>16.3f}{'cache hit':>15}")


if __name__ == "__main__":
    main()
