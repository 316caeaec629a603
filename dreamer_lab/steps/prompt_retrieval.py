"""Prompting steps with retrieval (DataDreamer's names, arguments and output columns).

* ``FewShotPromptWithRetrieval``: like ``FewShotPrompt``, but each input gets the ``k``
  in-context examples whose inputs are semantically nearest to it (an
  ``EmbeddingRetriever`` over ``input_examples`` built with the ``embedder`` argument).
* ``RAGPrompt``: each prompt is preceded by the ``k`` texts a ``retriever`` finds for it.

Retrieved items appear best first, so when the context window is short the least
relevant ones are dropped. Every model call goes through the request cache: the texts
and queries are embedded through the embedder's cache and the generations through the
LLM's, so a rerun (or a changed step) recomputes only what is missing. A dry run
(``dry_run(RAGPrompt, ...)``) retrieves, because the prompts depend on what is
retrieved, but generates nothing.  With ``lazy=True`` both retrieve and generate chunk by chunk
as the rows are read (as DataDreamer's, whose retrieval is lazy too).
"""

from __future__ import annotations

from typing import Any

from dreamer_lab.core.citations import NEAREST_NEIGHBOR_CITATION, REALM_CITATION
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.prompt_base import PromptStepBase, labeled
from dreamer_lab.steps.prompt_steps import FewShotPrompt
from dreamer_lab.steps.step import DataCardType


def _check_k(step: PromptStepBase, k: Any) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise StepInputError(
            f"{step._where()}: k (how many texts to retrieve per row) must be a positive int, "
            f"got {k!r}."
        )


def _check_text_column(step: PromptStepBase, name: str, why: str) -> None:
    col = step.inputs[name]
    feature = col.step.output.dataset.features[col.column_name]
    if getattr(feature, "dtype", None) not in ("string", "large_string"):
        raise StepInputError(
            f"{step._where()}: input {name!r} must be a column of texts ({why}), but column "
            f"{col.column_name!r} of step {col.step.name!r} holds {feature}. Pass a text "
            "column, or map it to text first."
        )


def _register_retrieval_cards(step: PromptStepBase, model: Any, k: int) -> None:
    """Card fragments of the embedding side (the LLM's are registered by the base)."""
    name = getattr(model, "model_name", None)
    if name:
        step.register_data_card(DataCardType.MODEL_NAME, str(name))
    if getattr(model, "model_card", None):
        step.register_data_card(DataCardType.MODEL_CARD, model.model_card)
    if getattr(model, "license", None):
        step.register_data_card(DataCardType.LICENSE, model.license)
    for citation in getattr(model, "citation", None) or []:
        step.register_data_card(DataCardType.CITATION, citation)
    step.register_data_card("Retrieval", {"retriever": repr(model), "k": k, "order": "best first"})


class FewShotPromptWithRetrieval(FewShotPrompt):
    """Processes inputs with in-context examples; for each input, the ``k`` examples
    whose ``input_examples`` are nearest to it (cosine similarity of ``embedder``
    vectors) are included, most similar first.

    Inputs: ``input_examples``, ``output_examples``, ``inputs``. Args: ``llm``,
    ``embedder``, ``k``, ``input_label`` ("Input:"), ``output_label`` ("Output:"),
    ``max_new_tokens``, ``instruction``, ``sep`` ("\\n"), ``min_in_context_examples``,
    ``max_in_context_examples``, ``post_process``, ``lazy``, ``LLM.run`` arguments.
    Outputs: ``inputs``, ``prompts``, ``generations``.
    """

    def setup(self) -> None:
        super().setup()
        self.register_arg("embedder", help="The Embedder used to retrieve in-context examples.")
        self.register_arg("k", help="How many in-context examples to retrieve per input.")

    def _validate(self) -> None:
        from dreamer_lab.embedders.embedder import Embedder

        embedder = self.args["embedder"]
        if not isinstance(embedder, Embedder):
            raise StepInputError(
                f"{self._where()}: 'embedder' must be an Embedder such as "
                "dreamer_lab.embedders.SentenceTransformersEmbedder('all-MiniLM-L6-v2'), not "
                f"a {type(embedder).__name__}."
            )
        _check_k(self, self.args["k"])
        _check_text_column(self, "input_examples", "they are embedded to find neighbours")
        _check_text_column(self, "inputs", "they are embedded to find neighbours")

    _prompts_per_chunk = "inputs"

    def _retriever(self) -> Any:
        """An ``EmbeddingRetriever`` over the example inputs (built once per step)."""
        if "_example_retriever" not in self.__dict__:
            from dreamer_lab.retrievers import EmbeddingRetriever

            self._example_retriever = EmbeddingRetriever(
                texts=self.inputs["input_examples"], embedder=self.args["embedder"]
            )
        return self._example_retriever

    def _retrieve(self, inputs: list[str]) -> list[dict[str, Any]]:
        return list(self._retriever().run(inputs, k=self.args["k"], _step=self))

    def _prompts(self) -> list[str]:
        a = self.args
        sep = a["sep"]
        outs = self.inputs["output_examples"].to_list()
        beg = a["instruction"] + sep if a["instruction"] is not None else None
        prompts = []
        inputs = self._column("inputs")
        for x, hit in zip(inputs, self._retrieve(inputs), strict=True):
            examples = [
                labeled(a["input_label"], text) + sep + labeled(a["output_label"], outs[i])
                for text, i in zip(hit["texts"], hit["indices"], strict=True)
            ]
            prompts.append(
                self.llm.format_prompt(
                    max_new_tokens=a["max_new_tokens"],
                    beg_instruction=beg,
                    in_context_examples=examples,
                    end_instruction=labeled(a["input_label"], x) + sep + (a["output_label"] or ""),
                    sep=sep,
                    min_in_context_examples=a["min_in_context_examples"],
                    max_in_context_examples=a["max_in_context_examples"],
                )
            )
        return prompts

    def _register_cards(self) -> None:
        super()._register_cards()
        self.register_data_card(DataCardType.CITATION, NEAREST_NEIGHBOR_CITATION)
        _register_retrieval_cards(self, self._retriever(), self.args["k"])


class RAGPrompt(PromptStepBase):
    """Processes prompts with retrieved context: each prompt is preceded by the ``k``
    texts ``retriever`` finds for it (best first), each labeled ``retrieved_text_label``.

    Inputs: ``prompts``. Args: ``llm``, ``retriever`` (e.g. ``EmbeddingRetriever``),
    ``k``, ``retrieved_text_label`` ("Document:"), ``prompt_label`` ("Question:"),
    ``max_new_tokens``, ``sep`` ("\\n"), ``min_in_context_retrieved_texts``,
    ``max_in_context_retrieved_texts``, ``post_process``, ``lazy``, ``LLM.run``
    arguments, and (dreamer_lab) ``instruction``: text placed before the documents.
    Outputs: ``prompts`` (as sent, with the documents), ``generations``.
    """

    citation = REALM_CITATION

    def setup(self) -> None:
        self.register_input("prompts", help="The prompts to process with the LLM.")
        self._register_llm_arg()
        self.register_arg("retriever", help="The Retriever that finds in-context texts.")
        self.register_arg("k", help="How many texts to retrieve per prompt.")
        self.register_arg("retrieved_text_label", required=False, default="Document:")
        self.register_arg("prompt_label", required=False, default="Question:")
        self.register_arg("max_new_tokens", required=False)
        self.register_arg("sep", required=False, default="\n")
        self.register_arg("min_in_context_retrieved_texts", required=False)
        self.register_arg("max_in_context_retrieved_texts", required=False)
        self.register_arg("instruction", required=False, help="Text before the documents.")
        self.register_arg(
            "beg_instruction",
            required=False,
            help="DataDreamer's name for 'instruction' (passed through its **kwargs).",
        )
        self._register_optional_args()
        self.register_output("prompts")
        self.register_output("generations")

    def _validate(self) -> None:
        from dreamer_lab.retrievers.retriever import Retriever

        retriever = self.args["retriever"]
        if not isinstance(retriever, Retriever):
            raise StepInputError(
                f"{self._where()}: 'retriever' must be a Retriever such as "
                "EmbeddingRetriever(texts=docs.output['text'], embedder=...), not a "
                f"{type(retriever).__name__}."
            )
        _check_k(self, self.args["k"])
        _check_text_column(self, "prompts", "they are the retrieval queries")
        if not isinstance(self.args["sep"], str):
            raise StepInputError(f"{self._where()}: sep must be a str.")
        if self.args["instruction"] is not None and self.args["beg_instruction"] is not None:
            raise StepInputError(
                f"{self._where()}: pass 'instruction' or 'beg_instruction' (the same text "
                "before the documents), not both."
            )
        # The step that produced the indexed texts is a parent in the lineage.
        source = getattr(getattr(retriever, "_texts_source", None), "step", None)
        if source is not None and source not in self._extra_parents:
            self._extra_parents.append(source)

    def _prompts(self) -> list[str]:
        a = self.args
        sep = a["sep"]
        prompts = self._column("prompts")
        hits = list(a["retriever"].run(prompts, k=a["k"], _step=self))
        text = a["instruction"] if a["instruction"] is not None else a["beg_instruction"]
        beg = text + sep if text is not None else None
        return [
            self.llm.format_prompt(
                max_new_tokens=a["max_new_tokens"],
                beg_instruction=beg,
                in_context_examples=[labeled(a["retrieved_text_label"], t) for t in hit["texts"]],
                end_instruction=sep + labeled(a["prompt_label"], p),
                sep=sep,
                min_in_context_examples=a["min_in_context_retrieved_texts"],
                max_in_context_examples=a["max_in_context_retrieved_texts"],
            )
            for p, hit in zip(prompts, hits, strict=True)
        ]

    _prompts_per_chunk = "prompts"

    def _register_cards(self) -> None:
        super()._register_cards()
        _register_retrieval_cards(self, self.args["retriever"], self.args["k"])

    def _rows(self, prompts: list[str], generations: list[Any]) -> Any:
        return {"prompts": prompts, "generations": generations}


__all__ = ["FewShotPromptWithRetrieval", "RAGPrompt"]
