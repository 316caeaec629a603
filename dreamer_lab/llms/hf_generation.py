"""Generation of :class:`~dreamer_lab.llms.hf_transformers.HFTransformers`: parameter
checks, batches that halve on out-of-memory errors, and decoding constrained to a JSON
schema with ``xgrammar``.

A mixin of ``HFTransformers`` (it uses the model's ``model``, ``tokenizer``,
``_full_prompt`` and ``get_max_context_length``); import the class from
:mod:`dreamer_lab.llms.hf_transformers`.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from typing import Any

from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.core.run_options import is_out_of_memory, out_of_memory_error
from dreamer_lab.errors import StepInputError
from dreamer_lab.llms.base import truncate_at_stop
from dreamer_lab.llms.structured import normalize_response_format


class HFGeneration:
    """Batched generation with a local transformers model (mixed into ``HFTransformers``)."""

    # -- generation ---------------------------------------------------------------------------
    def _validate_params(self, params: dict[str, Any]) -> None:
        super()._validate_params(params)  # the response_format itself
        greedy = params["temperature"] == 0 or params["top_p"] == 0
        if params.get("do_sample") and greedy:
            raise StepInputError(f"{self!r}: do_sample=True needs temperature > 0 and top_p > 0.")
        if normalize_response_format(params.get("response_format"), repr(self)) is not None:
            if importlib.util.find_spec("xgrammar") is None:
                raise StepInputError(
                    f"{self!r}: response_format needs the 'xgrammar' package to constrain a "
                    "local model's decoding: pip install xgrammar (or dreamer-lab[structured])."
                )
            if (params.get("num_beams") or 1) > 1:
                raise StepInputError(
                    f"{self!r}: response_format works with greedy decoding or sampling, not "
                    "beam search; drop num_beams."
                )

    def _stop_token_ids(self) -> list[int]:
        """Tokens that end a generation: the tokenizer's and the generation config's EOS."""
        ids = {self.tokenizer.eos_token_id}
        eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids.update(eos if isinstance(eos, list) else [eos])
        return sorted(i for i in ids if i is not None)

    def _grammar(self, response_format: Any) -> Any | None:
        """The xgrammar grammar for a ``run(response_format=...)`` value (``None`` for plain
        text), normalized and compiled once per format: batches look it up."""
        if response_format is None:
            return None
        key = json.dumps(response_format, sort_keys=True)
        if key in self._grammars:
            return self._grammars[key]
        import xgrammar as xgr

        model, tok, stop = self.model, self.tokenizer, self._stop_token_ids()  # before the lock
        with self._grammar_lock:
            if key in self._grammars:
                return self._grammars[key]
            rf = normalize_response_format(response_format, f"{self!r}.run()")
            if rf is None:  # {"type": "text"}
                self._grammars[key] = None
                return None
            if self._grammar_compiler is None:
                vocab = getattr(model.config.get_text_config(), "vocab_size", None)
                info = xgr.TokenizerInfo.from_huggingface(
                    tok, vocab_size=vocab, stop_token_ids=stop
                )
                self._grammar_compiler = xgr.GrammarCompiler(info)
            if rf["type"] == "json_object":
                grammar = self._grammar_compiler.compile_builtin_json_grammar()
            else:
                schema = rf["json_schema"]["schema"]
                try:
                    # No free whitespace: small models otherwise pad JSON with newlines
                    # until max_new_tokens runs out.
                    grammar = self._grammar_compiler.compile_json_schema(
                        json.dumps(schema), any_whitespace=False
                    )
                except Exception as e:  # xgrammar raises RuntimeError/ValueError variants
                    raise StepInputError(
                        f"{self!r}: cannot constrain decoding to this JSON schema ({e}). "
                        "Simplify the schema (xgrammar supports most of JSON Schema)."
                    ) from None
            self._grammars[key] = grammar
            return grammar

    def _generate_missing(
        self,
        items: list[tuple[str, str, Any]],
        params: dict[str, Any],
        batch_size: int,
        commit: Callable[[dict[str, Any]], None],
        adaptive_batch_size: bool,
    ) -> None:
        # ``items`` come longest first within each buffer (LLM.run schedules them): similar
        # lengths share a batch (less padding), and an out-of-memory error shows up early.
        i = 0
        size = batch_size
        while i < len(items):
            chunk = items[i : i + size]
            try:
                values = self._generate_batch(
                    [p for _, p, _ in chunk], params, [s for _, _, s in chunk]
                )
            except Exception as e:
                if not is_out_of_memory(e):
                    raise
                if not adaptive_batch_size:
                    raise out_of_memory_error(f"{self!r}.run()", len(chunk), e) from e
                if size == 1:
                    raise
                size = max(1, size // 2)
                self._free_memory()
                continue
            commit({k: v for (k, _, _), v in zip(chunk, values, strict=True)})
            i += len(chunk)

    def _free_memory(self) -> None:
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _generate_batch(
        self, prompts: list[str], params: dict[str, Any], seeds: list[Any]
    ) -> list[dict[str, Any]]:
        import torch

        model, tok = self.model, self.tokenizer
        texts = [self._full_prompt(p) for p in prompts]
        enc = tok(
            texts,
            return_tensors="pt",
            padding=True,
            add_special_tokens=not self._uses_template(),
        )
        device = next(model.parameters()).device
        enc = {k: v.to(device) for k, v in enc.items()}
        n = params["n"]
        sample = params["temperature"] > 0 and params["top_p"] > 0
        if "do_sample" in params:
            sample = bool(params["do_sample"])
        max_new = params["max_new_tokens"]
        if max_new is None:
            max_new = self.get_max_context_length(enc["input_ids"].shape[1]) or 256
        gen: dict[str, Any] = {
            "max_new_tokens": max_new,
            "do_sample": sample,
            "pad_token_id": tok.pad_token_id,
            "num_return_sequences": n if sample else 1,
        }
        if sample:
            gen["temperature"] = params["temperature"]
            gen["top_p"] = params["top_p"]
        else:
            gen.update(temperature=None, top_p=None, top_k=None)
        for k in ("top_k", "num_beams", "min_new_tokens", "repetition_penalty"):
            if params.get(k) is not None:
                gen[k] = params[k]
        if params.get("logit_bias"):
            gen["sequence_bias"] = {(int(t),): float(b) for t, b in params["logit_bias"].items()}
        grammar = self._grammar(params.get("response_format"))
        if grammar is not None:
            from xgrammar.contrib.hf import LogitsProcessor

            # One processor per generate() call: it tracks each row's grammar state.
            gen["logits_processor"] = [LogitsProcessor(grammar)]
        if sample:
            torch.manual_seed(int(hash_value(seeds, label="seeds")[:8], 16))
        with torch.inference_mode():
            out = model.generate(**enc, **gen)
        width = enc["input_ids"].shape[1]
        new = out[:, width:]
        eos = {*self._stop_token_ids(), tok.pad_token_id} - {None}
        results = []
        per = n if sample else 1
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        for i in range(len(prompts)):
            rows = new[i * per : (i + 1) * per]
            gens, completion = [], 0
            for row in rows:
                ids = row.tolist()
                cut = next((j for j, t in enumerate(ids) if t in eos), len(ids))
                completion += cut
                text = tok.decode(ids[:cut], skip_special_tokens=True)
                gens.append(truncate_at_stop(text, params["stop"]).strip())
            if not sample:
                gens = gens * n
            results.append(
                {
                    "g": gens,
                    "u": {
                        "prompt_tokens": int(prompt_lens[i]),
                        "completion_tokens": completion,
                        "cost": 0.0,
                    },
                }
            )
        return results
