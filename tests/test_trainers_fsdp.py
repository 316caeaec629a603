"""``fsdp``/``fsdp_config`` on the Hugging Face trainers: passed to transformers'
``TrainingArguments`` (FSDP through accelerate) where it works, refused where it would
silently do nothing.

FSDP needs several GPU processes: accelerate enables its FSDP plugin only for GPU-like
distributed types. On one process, and on CPU processes (gloo), it runs plain data
parallel and drops the plugin without a word, even though torch's own FSDP2
(``fully_shard``) works on CPU over gloo; ``test_fsdp_on_two_cpu_processes`` measures both.
No GPU here: the GPU path is checked up to the ``TrainingArguments`` transformers builds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest
from trainer_fixtures import tiny_llama  # noqa: F401

from dreamer_lab.errors import StepInputError

WRAP = {"transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]}


@pytest.fixture
def two_gpu_processes(monkeypatch):
    """What a trainer sees in one of two GPU processes (accelerate launch on 2 GPUs)."""
    import dreamer_lab.trainers.hf_base as hf_base

    monkeypatch.setattr(hf_base, "_has_gpus", lambda: True)
    monkeypatch.setattr(hf_base, "distributed_rank", lambda: (0, 2))


def _args(trainer, tmp_path, **kwargs):
    from transformers import TrainingArguments

    ctx = SimpleNamespace(checkpoint_dir=tmp_path / "ckpt")
    common = dict(has_validation=False, epochs=1, batch_size=2, learning_rate=1e-3, seed=0)
    return trainer.training_args(TrainingArguments, ctx, **common, kwargs=kwargs)


def test_fsdp_reaches_the_training_arguments(
    workspace,
    tiny_llama,  # noqa: F811
    two_gpu_processes,
    tmp_path,
):
    from dreamer_lab.trainers import TrainHFFineTune

    ft = TrainHFFineTune("sharded", model_name=str(tiny_llama), fsdp=True, fsdp_config=WRAP)
    args = _args(ft, tmp_path)
    assert args.fsdp is True and args.fsdp_config["transformer_layer_cls_to_wrap"] == [
        "LlamaDecoderLayer"
    ]
    # What transformers hands to accelerate's FullyShardedDataParallelPlugin.
    assert args.fsdp_plugin_args["transformer_cls_names_to_wrap"] == "LlamaDecoderLayer"
    assert args.fsdp_plugin_args["fsdp_version"] == 2
    assert WRAP == {"transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]}  # not mutated

    # train(fsdp=..., fsdp_config=...) wins over the constructor's, as DataDreamer's kwargs do.
    plain = TrainHFFineTune("plain", model_name=str(tiny_llama))
    assert _args(plain, tmp_path).fsdp in (None, False)
    override = _args(plain, tmp_path, fsdp=True, fsdp_config={"version": 2, **WRAP})
    assert override.fsdp is True and override.fsdp_plugin_args["fsdp_version"] == 2


@pytest.mark.parametrize(
    "kind", ["TrainHFFineTune", "TrainHFClassifier", "TrainHFDPO", "TrainHFRewardModel"]
)
def test_every_hf_trainer_passes_fsdp_on(kind, workspace, tiny_llama, two_gpu_processes, tmp_path):  # noqa: F811
    import dreamer_lab.trainers as trainers

    t = getattr(trainers, kind)("sharded", model_name=str(tiny_llama), fsdp=True)
    assert _args(t, tmp_path).fsdp is True


def test_fsdp_is_refused_where_it_would_do_nothing(workspace, tiny_llama, monkeypatch):  # noqa: F811
    from dreamer_lab.steps import DataSource
    from dreamer_lab.trainers import TrainHFFineTune, TrainHFGRPO, TrainSentenceTransformer

    model = str(tiny_llama)
    # One process: nothing to shard over; the error says what works.
    with pytest.raises(StepInputError, match=r"device=\[0, 1\].*accelerate launch"):
        TrainHFFineTune("one", model_name=model, fsdp=True)
    with pytest.raises(StepInputError, match=r"device=\[0, 1\]"):
        TrainHFGRPO("one", model_name=model, fsdp="full_shard auto_wrap")
    # CPU processes: accelerate would run them as DDP.
    for device in (["cpu", "cpu"], [0, 1]):  # [0, 1] without GPUs trains on CPU
        with pytest.raises(StepInputError, match=r"ignores FSDP there.*device=\['cpu', 'cpu'\]"):
            TrainHFFineTune("cpu", model_name=model, fsdp=True, device=device)
    import dreamer_lab.trainers.hf_base as hf_base

    with monkeypatch.context() as m:  # under accelerate launch on CPU
        m.setattr(hf_base, "distributed_rank", lambda: (0, 2))
        with pytest.raises(StepInputError, match="ignores FSDP there"):
            TrainHFFineTune("cpu", model_name=model, fsdp=True)
    # A config without fsdp would be ignored by transformers.
    with pytest.raises(StepInputError, match="fsdp_config is given but fsdp is off"):
        TrainHFFineTune("cfg", model_name=model, fsdp_config=WRAP)
    with pytest.raises(StepInputError, match="not supported by TrainSentenceTransformer"):
        TrainSentenceTransformer("st", model_name=model, fsdp=True)
    with pytest.raises(StepInputError, match="distributed_config is not supported"):
        TrainHFFineTune("dc", model_name=model, distributed_config={"timeout": 60})

    # Through train(**kwargs): refused before fingerprinting or loading anything.
    data = DataSource("pairs", {"q": ["a", "b"], "a": ["c", "d"]})
    ft = TrainHFFineTune("late", model_name=model)
    with pytest.raises(StepInputError, match=r"device=\[0, 1\]"):
        ft.train(data.output["q"], data.output["a"], epochs=1, fsdp=True)
    assert ft.fingerprint is None and not (workspace / "checkpoints").exists()


PROBE = """
import json, os, torch, torch.distributed as dist
from accelerate import Accelerator
from accelerate.utils import FullyShardedDataParallelPlugin
from torch.distributed.fsdp import fully_shard

acc = Accelerator(cpu=True, fsdp_plugin=FullyShardedDataParallelPlugin(fsdp_version=2))
m = torch.nn.Linear(8, 8)
fully_shard(m)  # torch's FSDP2 itself, on the same gloo group
m(torch.randn(4, 8)).sum().backward()
# One file per process: two processes printing to one pipe can interleave their lines.
out = os.path.join(os.environ["PROBE_DIR"], f"probe{acc.process_index}.json")
with open(out, "w") as f:
    f.write(json.dumps({
    "rank": acc.process_index,
    "world": acc.num_processes,
    "backend": dist.get_backend(),
    "distributed_type": str(acc.distributed_type),
    "fsdp_plugin_kept": getattr(acc.state, "fsdp_plugin", None) is not None,
    "fully_shard_param": type(m.weight).__name__,
    "fully_shard_local_rows": m.weight.to_local().shape[0],
}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_fsdp_on_two_cpu_processes(tmp_path):
    """Measured: can accelerate shard with FSDP over two gloo CPU processes?"""
    import accelerate
    import torch

    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PROBE_DIR": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
         "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1",
         "--main_process_port", str(_free_port()), str(script)],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    probes = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("probe*.json"))]
    assert proc.returncode == 0 and len(probes) == 2, proc.stderr[-3000:]
    assert all(p["world"] == 2 and p["backend"] == "gloo" for p in probes)
    # torch's FSDP2 shards on CPU over gloo: each process holds half the rows.
    assert all(p["fully_shard_param"] == "DTensor" for p in probes)
    assert [p["fully_shard_local_rows"] for p in probes] == [4, 4]
    if not any(p["fsdp_plugin_kept"] for p in probes):
        pytest.skip(
            f"measured: accelerate {accelerate.__version__} runs two CPU processes as "
            f"{probes[0]['distributed_type']} and drops its FSDP plugin (it enables FSDP only "
            f"for GPU-like distributed types), although torch {torch.__version__}'s "
            "fully_shard works on CPU over gloo. So the trainers refuse fsdp on CPU "
            "(test_fsdp_is_refused_where_it_would_do_nothing) instead of training with DDP."
        )
    pytest.fail(
        "accelerate now keeps FSDP on CPU processes: lift the CPU refusal in "
        "trainers/hf_base.py (TrainHFBase.check_fsdp) and train a tiny model here with fsdp."
    )
