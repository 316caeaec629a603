"""``VLLM``: offline generation with an in-process ``vllm.LLM`` engine (needs a GPU).

Model resolution, chat templates, system prompts, token counting, the context window
and the model identity are :class:`~dreamer_lab.llms.HFTransformers`'; only the engine
differs. Prompts are rendered and tokenized here and handed to vLLM as token ids (so no
second BOS token is added), in chunks of ``batch_size`` prompts (default 256; vLLM
schedules each chunk with continuous batching) committed to the request cache as each
chunk finishes. Every row gets its own ``SamplingParams`` seed (from the run's seed, the
row's seed and its prompt), so sampling is reproducible per row whatever the batching.
``device=[0, 1]`` runs tensor parallel over those GPUs.

A rerun whose requests are all cached needs neither vLLM nor a GPU. When a request must
be generated, vLLM and a GPU are checked before anything is loaded. Without a local GPU,
run vLLM's OpenAI-compatible server where the GPU is and use
``OpenAI(model_name, base_url="http://HOST:8000/v1")`` (``ParallelLLM`` over several
servers); see docs/providers.md.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

from dreamer_lab.core.citations import VLLM_CITATION
from dreamer_lab.errors import (
    StepInputError,
    VLLMUnavailableError,  # noqa: F401
)
from dreamer_lab.llms.base import AUTO, LLMError, truncate_at_stop
from dreamer_lab.llms.hf_transformers import HFTransformers

_NO_GPU_FIX = (
    "Run this on a machine with an NVIDIA GPU and `pip install vllm`. Without a local GPU, "
    "start vLLM's OpenAI-compatible server where a GPU is (`vllm serve MODEL`) and use "
    "OpenAI(MODEL, base_url='http://HOST:8000/v1', api_key='none') instead (ParallelLLM "
    "over several servers); see docs/providers.md. Cached requests need neither."
)


def parse_vllm_devices(device: Any) -> list[int] | None:
    """GPU indices for ``device`` (``None``: one GPU, vLLM's default; ``"cpu"``: a CPU
    build of vLLM, returned as ``None`` with no GPU check)."""
    if device is None:
        return [0]
    items = device if isinstance(device, list | tuple) else [device]
    out: list[int] = []
    for d in items:
        s = str(d)
        if isinstance(d, int) and not isinstance(d, bool) and d >= 0:
            out.append(d)
        elif s.startswith("cuda:") and s[5:].isdigit():
            out.append(int(s[5:]))
        elif s == "cuda":
            out.append(0)
        elif s == "cpu" and len(items) == 1:
            return None
        else:
            raise StepInputError(
                f"VLLM: device entry {d!r} is not a GPU index (0, 1, ...), 'cuda:N', or a lone "
                "'cpu'. Example: device=[0, 1] runs tensor parallel over GPUs 0 and 1."
            )
    if not out or len(set(out)) != len(out):
        raise StepInputError(f"VLLM: device={device!r} must name distinct GPUs, e.g. [0, 1].")
    return out


def engine_environment(
    devices: list[int], visible: int, cuda_initialized: bool, current: str | None
) -> dict[str, str]:
    """Environment the engine needs so that vLLM's workers use ``devices``.

    ``visible`` GPUs are visible now (``current`` is ``$CUDA_VISIBLE_DEVICES``, if set).
    Devices ``0..k-1`` need nothing; others are selected with ``CUDA_VISIBLE_DEVICES``,
    which only works before this process has initialized CUDA.
    """
    if max(devices) >= visible:
        raise VLLMUnavailableError(
            f"VLLM: device={devices} asks for GPU {max(devices)}, but only {visible} "
            f"{'GPU is' if visible == 1 else 'GPUs are'} visible"
            + (f" (CUDA_VISIBLE_DEVICES={current!r})" if current is not None else "")
            + ". Pass indices below that count."
        )
    if devices == list(range(len(devices))):
        return {}
    if cuda_initialized:
        raise VLLMUnavailableError(
            f"VLLM: device={devices} needs CUDA_VISIBLE_DEVICES set before CUDA starts, and "
            "this process has already used CUDA. Restart the kernel and create the VLLM "
            "object before any other GPU work, or set CUDA_VISIBLE_DEVICES yourself and use "
            "device=[0, 1, ...]."
        )
    physical = [p.strip() for p in current.split(",")] if current else None
    chosen = [physical[i] if physical else str(i) for i in devices]
    return {"CUDA_VISIBLE_DEVICES": ",".join(chosen)}


def _vllm_installed() -> bool:
    if "vllm" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):
        return False


def _gpu_state() -> tuple[int, bool]:
    """(GPUs visible, whether this process has initialized CUDA); no CUDA context made."""
    try:
        import torch
    except ImportError:
        return 0, False
    return torch.cuda.device_count(), torch.cuda.is_initialized()


class VLLM(HFTransformers):
    """A causal LM served by an in-process vLLM engine (DataDreamer's arguments).

    Args:
        model_name: hub name (from the local cache) or a local model folder.
        chat_prompt_template, system_prompt, revision, trust_remote_code, dtype:
            as for :class:`~dreamer_lab.llms.HFTransformers`.
        device: a GPU index, ``"cuda:N"``, or a list of them (tensor parallel over those
            GPUs); ``"cpu"`` for a CPU build of vLLM.
        quantization: vLLM's quantization method (``"awq"``, ``"gptq"``, ``"fp8"`` ...);
            ``"awq"`` is picked for model names containing ``-awq``.
        swap_space: CPU swap space per GPU in GiB.
        max_context_length: context window (default: the model config's); passed to vLLM
            as ``max_model_len``.
        **kwargs: more ``vllm.LLM`` arguments (``gpu_memory_utilization``,
            ``tensor_parallel_size``, ``enforce_eager`` ...). They do not change what the
            model generates, so they are not part of its identity.

    ``run()`` accepts ``top_k``, ``min_p``, ``presence_penalty``, ``frequency_penalty`` and
    ``min_new_tokens`` besides the common arguments; ``batch_size`` (default 256) is the
    number of prompts per engine call and per cache commit.
    """

    backend_name = "vllm"
    extra_generation_kwargs = frozenset(
        {"top_k", "min_p", "presence_penalty", "frequency_penalty", "min_new_tokens"}
    )

    def __init__(
        self,
        model_name: str,
        chat_prompt_template: str | None = AUTO,
        system_prompt: str | None = AUTO,
        revision: str | None = None,
        trust_remote_code: bool = False,
        device: int | str | list[int | str] | None = None,
        dtype: Any = None,
        quantization: str | None = None,
        swap_space: int = 1,
        cache_folder_path: str | None = None,
        max_context_length: int | None = None,
        **kwargs: Any,
    ):
        devices = parse_vllm_devices(device)
        super().__init__(
            model_name,
            chat_prompt_template=chat_prompt_template,
            system_prompt=system_prompt,
            revision=revision,
            trust_remote_code=trust_remote_code,
            dtype=dtype,
            cache_folder_path=cache_folder_path,
            max_context_length=max_context_length,
        )
        self.device = device
        self.devices = devices
        self.quantization = quantization
        if quantization is None and "-awq" in str(model_name).lower():
            self.quantization = "awq"
        self.swap_space = swap_space
        self.engine_kwargs = dict(kwargs)

    def _identity(self) -> dict[str, Any]:
        return {**super()._identity(), "engine": "vllm", "vllm_quantization": self.quantization}

    @property
    def citation(self) -> list[str] | None:
        return [*(super().citation or []), VLLM_CITATION]

    # -- engine ---------------------------------------------------------------------------------
    def check_available(self) -> None:
        """Raise :class:`VLLMUnavailableError` unless vLLM is installed and the requested
        GPUs are visible (loads nothing)."""
        installed = _vllm_installed()
        if self.devices is None:  # a CPU build of vLLM: no GPU to check
            if not installed:
                raise VLLMUnavailableError(f"{self!r}: vLLM is not installed. {_NO_GPU_FIX}")
            return
        visible, initialized = _gpu_state()
        if visible == 0 or not installed:
            missing = [
                *([] if installed else ["vLLM is not installed"]),
                *(["no GPU is visible"] if visible == 0 else []),
            ]
            raise VLLMUnavailableError(
                f"{self!r}: {' and '.join(missing)} (vLLM has no CPU wheel; its engine needs "
                f"an NVIDIA GPU). {_NO_GPU_FIX}"
            )
        engine_environment(
            self.devices, visible, initialized, os.environ.get("CUDA_VISIBLE_DEVICES")
        )

    def engine_arguments(self) -> dict[str, Any]:
        """The keyword arguments given to ``vllm.LLM``."""
        dtype = self.dtype
        if dtype is None:
            dtype = "auto"
        elif not isinstance(dtype, str):
            dtype = str(dtype).replace("torch.", "")
        kw: dict[str, Any] = {
            "model": self._path,
            "tokenizer": self._path,
            "revision": self._revision(),
            "tokenizer_revision": self._revision(),
            "trust_remote_code": self.trust_remote_code,
            "dtype": dtype,
            "quantization": self.quantization,
            "swap_space": self.swap_space,
            "tensor_parallel_size": len(self.devices or [0]),
        }
        if self.max_context_length is not None:
            kw["max_model_len"] = int(self.max_context_length)
        kw.update(self.engine_kwargs)
        return kw

    def _load_model(self) -> Any:
        self.check_available()
        env: dict[str, str] = {}
        if self.devices is not None:
            visible, initialized = _gpu_state()
            env = engine_environment(
                self.devices, visible, initialized, os.environ.get("CUDA_VISIBLE_DEVICES")
            )
        import vllm

        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return vllm.LLM(**self.engine_arguments())
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def unload_model(self) -> None:
        self._model = None
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch comes with transformers
            pass

    # -- generation -------------------------------------------------------------------------------
    def run(self, prompts: Any, *args: Any, batch_size: int = 256, **kwargs: Any) -> Any:
        return super().run(prompts, *args, batch_size=batch_size, **kwargs)

    def _validate_params(self, params: dict[str, Any]) -> None:
        if params.get("response_format") is not None:  # pragma: no cover - not accepted
            raise StepInputError(f"{self!r}: response_format is not supported by VLLM.")

    def _generate_missing(
        self,
        items: list[tuple[str, str, Any]],
        params: dict[str, Any],
        batch_size: int,
        commit: Callable[[dict[str, Any]], None],
        adaptive_batch_size: bool,
    ) -> None:
        self.check_available()  # before the engine or any GPU work
        # ``items`` come longest first within each batch_scheduler_buffer_size (LLM.run).
        for i in range(0, len(items), batch_size):
            chunk = items[i : i + batch_size]
            values = self._generate_batch(
                [p for _, p, _ in chunk], params, [s for _, _, s in chunk]
            )
            commit({k: v for (k, _, _), v in zip(chunk, values, strict=True)})

    def sampling_arguments(self, params: dict[str, Any], seed: Any) -> dict[str, Any]:
        """The keyword arguments of one row's ``vllm.SamplingParams``; ``seed`` (the run's
        and the row's seed, and the prompt) sets the row's sampling seed."""
        from dreamer_lab.core.fingerprint import hash_value

        sample = params["temperature"] > 0 and params["top_p"] > 0
        kw: dict[str, Any] = {
            "n": params["n"] if sample else 1,
            "max_tokens": params["max_new_tokens"],
            "temperature": params["temperature"] if sample else 0.0,
            "top_p": params["top_p"] if sample else 1.0,
            "stop": list(params["stop"]) or None,
        }
        if sample:
            kw["seed"] = int(hash_value(seed, label="seed")[:8], 16)
        if params.get("repetition_penalty") is not None:
            kw["repetition_penalty"] = float(params["repetition_penalty"])
        if params.get("logit_bias"):
            kw["logit_bias"] = {int(t): float(b) for t, b in params["logit_bias"].items()}
        for ours, theirs in (
            ("top_k", "top_k"),
            ("min_p", "min_p"),
            ("presence_penalty", "presence_penalty"),
            ("frequency_penalty", "frequency_penalty"),
            ("min_new_tokens", "min_tokens"),
        ):
            if params.get(ours) is not None:
                kw[theirs] = params[ours]
        return kw

    def _generate_batch(
        self, prompts: list[str], params: dict[str, Any], seeds: list[Any]
    ) -> list[dict[str, Any]]:
        import vllm

        engine, tok = self.model, self.tokenizer
        special = not self._uses_template()  # a chat template already has its BOS
        inputs = [
            {"prompt_token_ids": tok(self._full_prompt(p), add_special_tokens=special)["input_ids"]}
            for p in prompts
        ]
        sampling = [
            vllm.SamplingParams(**self.sampling_arguments(params, [s, str(p)]))
            for s, p in zip(seeds, prompts, strict=True)
        ]
        outputs = engine.generate(inputs, sampling, use_tqdm=False)
        if len(outputs) != len(prompts):
            raise LLMError(
                f"{self!r}: vLLM returned {len(outputs)} results for {len(prompts)} prompts."
            )
        results = []
        for inp, out in zip(inputs, outputs, strict=True):
            choices = list(out.outputs)
            texts = [truncate_at_stop(c.text, params["stop"]).strip() for c in choices]
            if len(texts) == 1 and params["n"] > 1:
                texts = texts * params["n"]  # greedy: the same text n times, like HF
            results.append(
                {
                    "g": texts,
                    "u": {
                        "prompt_tokens": len(inp["prompt_token_ids"]),
                        "completion_tokens": sum(len(c.token_ids) for c in choices),
                        "cost": 0.0,
                    },
                }
            )
        return results


__all__ = ["VLLM", "VLLMUnavailableError", "engine_environment", "parse_vllm_devices"]
