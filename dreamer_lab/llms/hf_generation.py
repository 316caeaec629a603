"""Generation of :class:`~dreamer_lab.llms.hf_transformers.HFTransformers`: parameter
checks, batches that halve on out-of-memory errors, and decoding constrained to a JSON
schema with ``xgrammar``.

A mixin of ``HFTransformers`` (it uses the model's ``model``, ``tokenizer``,
``_full_prompt`` and ``get_max_context_length``); import the class from
:mod:`dreamer_lab.llms.hf_transformers`.

Each rendered prompt of a run is tokenized once: the context-length check tokenizes the
prompts in batches and keeps their token ids (up to :data:`TOKEN_MEMO_BUDGET` tokens), the
batch order (longest first, by tokens) and the batches themselves use them, and the
memo is emptied when the run's generation ends (or the next run starts).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.core.run_options import is_out_of_memory, out_of_memory_error
from dreamer_lab.errors import StepInputError
from dreamer_lab.llms.base import truncate_at_stop
from dreamer_lab.llms.structured import normalize_response_format

#: Token ids kept between a run's length check and its batches (beyond: tokenized again).
TOKEN_MEMO_BUDGET = 250_000
_CHECK_CHUNK = 1024  # prompts tokenized in one tokenizer call by the length check


class HFGeneration:
    """Batched generation with a local transformers model (mixed into ``HFTransformers``)."""

    # One run's prompts: prompt -> rendered text, rendered text -> token ids (no special
    # tokens added). Empty read-only mappings until a run fills them.
    _rendered: Mapping[str, str] = MappingProxyType({})
    _token_memo: Mapping[str, list[int]] = MappingProxyType({})
    _token_memo_size: int = 0

    # -- tokens, once per prompt and run -------------------------------------------------
    def _forget_tokens(self) -> None:
        for name in ("_rendered", "_token_memo", "_token_memo_size"):
            self.__dict__.pop(name, None)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)  # a replica (Ray executor) starts without the memo
        for name in ("_rendered", "_token_memo", "_token_memo_size"):
            state.pop(name, None)
        return state

    def _check_prompts(self, prompts: list[Any], max_new_tokens: int | None) -> None:
        self._forget_tokens()  # a new run (a concurrent run of this model tokenizes again)
        if all(isinstance(p, str) for p in prompts):
            self._remember_tokens(list(dict.fromkeys(prompts)))
        super()._check_prompts(prompts, max_new_tokens)

    def _generate_scheduled(self, *args: Any, **kwargs: Any) -> None:
        try:
            super()._generate_scheduled(*args, **kwargs)
        finally:
            self._forget_tokens()

    def _remember_tokens(self, prompts: list[str]) -> None:
        """Render and tokenize ``prompts`` in batches into the run's memo, while it holds
        less than :data:`TOKEN_MEMO_BUDGET` tokens (the rest are handled one by one)."""
        tok = self.tokenizer
        rendered: dict[str, str] = {}
        memo: dict[str, list[int]] = {}
        size = 0
        for start in range(0, len(prompts), _CHECK_CHUNK):
            if size >= TOKEN_MEMO_BUDGET:
                break
            chunk = prompts[start : start + _CHECK_CHUNK]
            texts = [self._full_prompt(p) for p in chunk]
            ids = tok(texts, add_special_tokens=False)["input_ids"]
            for prompt, text, row in zip(chunk, texts, ids, strict=True):
                rendered[prompt] = text
                memo[text] = row
                size += len(row)
        self._rendered, self._token_memo, self._token_memo_size = rendered, memo, size

    def count_tokens(self, value: str) -> int:
        """Tokens of ``value`` (no special tokens added): the run's memo, else the tokenizer."""
        ids = self._token_memo.get(value)
        if ids is None:
            ids = self.tokenizer(value, add_special_tokens=False)["input_ids"]
        return len(ids)

    def _prompt_length(self, prompt: str) -> int:
        return self.count_tokens(self._full_prompt(prompt))

    def _encode_batch(self, texts: list[str], device: Any) -> dict[str, Any]:
        """``input_ids`` and ``attention_mask`` of a batch, padded on the tokenizer's side:
        from the run's memo when it holds every prompt of a chat-templated batch (what the
        tokenizer would return), else from the tokenizer."""
        import torch

        tok = self.tokenizer
        known = [self._token_memo.get(t) for t in texts]
        templated = self._uses_template()  # chat templates carry their special tokens
        if (
            not templated
            or any(ids is None for ids in known)
            or "token_type_ids" in tok.model_input_names
        ):
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=not templated)
            return {k: v.to(device) for k, v in enc.items()}
        width = max(len(ids) for ids in known)
        input_ids = torch.full((len(texts), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(texts), width), dtype=torch.long)
        left = tok.padding_side == "left"
        for i, ids in enumerate(known):
            cols = slice(width - len(ids), width) if left else slice(0, len(ids))
            input_ids[i, cols] = torch.tensor(ids, dtype=torch.long)
            mask[i, cols] = 1
        return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}

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
        enc = self._encode_batch(texts, next(model.parameters()).device)
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
