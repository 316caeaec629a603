"""Steps over embedders, retrievers and task models (DataDreamer's names and columns).

* ``Embed``: ``texts`` -> ``texts``, ``embeddings`` (fixed-size float32 vectors).
* ``Retrieve``: ``queries`` -> ``queries``, ``results`` (``{indices, texts, scores}``).
* ``CosineSimilarity``: ``a``, ``b`` (texts or embeddings) -> ``a``, ``b``, ``similarities``.
* ``RunTaskModel``: ``texts`` -> ``texts``, ``results`` (``{label: probability}``).

The model objects are arguments, fingerprinted by their identity; every model call
goes through the request cache, so a rerun with changed rows computes only those rows.
``lazy=True`` on ``Embed``, ``Retrieve`` and ``RunTaskModel`` streams the output (an
``OutputIterableDataset``): the model runs on chunks of rows as they are read, through the
request cache, so a second pass costs no model call. ``CosineSimilarity`` refuses it.
"""

from __future__ import annotations

from typing import Any

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.operation_base import check_not_lazy
from dreamer_lab.steps.step import DataCardType, Step

_CARD_SKIP = {"embedder", "retriever", "model", "lazy"}


def _register_cards(step: Step, model: Any, args: dict[str, Any]) -> None:
    """Model name, model card, license, citations and parameters for the data card."""
    from dreamer_lab.core.secrets import redact

    name = getattr(model, "model_name", None)
    if name:
        step.register_data_card(DataCardType.MODEL_NAME, str(name))
    if getattr(model, "model_card", None):
        step.register_data_card(DataCardType.MODEL_CARD, model.model_card)
    if getattr(model, "license", None):
        step.register_data_card(DataCardType.LICENSE, model.license)
    for citation in getattr(model, "citation", None) or []:
        step.register_data_card(DataCardType.CITATION, citation)
    params = {k: redact(v, k) for k, v in sorted(args.items()) if k not in _CARD_SKIP}
    if params:
        step.register_data_card(DataCardType.PARAMETERS, params)


def _require(step: Step, value: Any, cls_path: str, arg: str, example: str) -> None:
    import importlib

    module, name = cls_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    if not isinstance(value, cls):
        raise StepInputError(
            f"{step._where()}: argument {arg!r} must be a {name} (e.g. {example}), not a "
            f"{type(value).__name__}."
        )


def _feature(step: Step, input_name: str) -> Any:
    col = step.inputs[input_name]
    features = col.step.output.dataset.features
    return None if features is None else features.get(col.column_name)


def _is_text_feature(feature: Any) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


def _texts(step: Step, input_name: str, read: bool = True) -> list[str]:
    """The input column as a list of str, or a StepInputError naming the column
    (``read=False``: only its type is checked, when known; nothing is read)."""
    feature = _feature(step, input_name)
    if feature is None:  # a lazy input whose types are not declared: checked row by row
        return [_checked_text(step, v) for v in step.inputs[input_name]] if read else []
    if not _is_text_feature(feature):
        col = step.inputs[input_name]
        raise StepInputError(
            f"{step._where()}: input {input_name!r} (column {col.column_name!r} of step "
            f"{col.step.name!r}) holds {feature}, not text. Pass a column of strings."
        )
    if not read:
        return []
    values = list(step.inputs[input_name])
    nulls = [i for i, v in enumerate(values) if v is None]
    if nulls:
        raise StepInputError(
            f"{step._where()}: input {input_name!r} has empty (None) values at rows "
            f"{nulls[:5]}. Filter them out first, e.g. with .filter()."
        )
    return values


def _arrow_column(step: Step, input_name: str) -> Any:
    col = step.inputs[input_name]
    return col.step.output.dataset.data.table.column(col.column_name).combine_chunks()


def _matrix(step: Step, input_name: str) -> Any:
    """An embeddings input column as a 2-D float32 array."""
    import numpy as np
    import pyarrow as pa

    arr = _arrow_column(step, input_name)
    if pa.types.is_fixed_size_list(arr.type) and arr.null_count == 0:
        flat = arr.flatten().to_numpy(zero_copy_only=False)
        return flat.astype(np.float32, copy=False).reshape(len(arr), arr.type.list_size)
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        rows = arr.to_pylist()
        if any(r is None for r in rows):
            raise StepInputError(
                f"{step._where()}: input {input_name!r} has missing embeddings (None)."
            )
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            raise StepInputError(
                f"{step._where()}: input {input_name!r} has embeddings of different lengths "
                f"{sorted(lengths)[:5]}; every vector must have the same length."
            )
        try:
            return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
        except (TypeError, ValueError):
            pass
    raise StepInputError(
        f"{step._where()}: input {input_name!r} holds {arr.type}, which is neither text nor "
        "embeddings (lists of numbers). Pass texts with an embedder, or Embed's "
        "'embeddings' column."
    )


def _vectors_array(vectors: list[Any], dims: int | None = None) -> Any:
    """Equal-length vectors -> an Arrow fixed-size list<float32> array."""
    import numpy as np
    import pyarrow as pa

    if vectors:
        matrix = np.vstack(vectors).astype(np.float32, copy=False)
        dims = matrix.shape[1]
        flat = pa.array(matrix.reshape(-1), type=pa.float32())
    else:
        flat = pa.array([], type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, dims or 0)


_LAZY_HELP = "Stream the output (an OutputIterableDataset): the model runs as rows are read."


class _ModelStep(Step):
    """A step over a model object applied to one text input (``_input``), whole or, with
    ``lazy=True``, in chunks as the rows are read."""

    _input = "texts"

    def _prepare(self) -> None:
        """Check the arguments and register the card (before any model call)."""

    def _rows(self, texts: list[str]) -> Any:
        """The output columns for ``texts`` (a table or a dict of lists)."""
        raise NotImplementedError

    def run(self) -> Any:
        self._prepare()
        texts = _texts(self, self._input, read=not self.args.get("lazy"))
        if not self.args.get("lazy"):
            return self._rows(texts)
        from dreamer_lab.steps.lazy import lazy_chunks

        column = self.inputs[self._input]
        return lazy_chunks(
            lambda: (_checked_text(self, t) for t in column), self._rows, column.num_rows
        )


def _checked_text(step: Step, text: Any) -> str:
    if not isinstance(text, str):
        raise StepInputError(
            f"{step._where()}: input {step._input!r} has a {type(text).__name__} value "
            f"({text!r}); every row must be a text. Filter such rows out first."
        )
    return text


def _extra(args: dict[str, Any], *pop: str) -> dict[str, Any]:
    rest = dict(args)
    for k in pop:
        rest.pop(k, None)
    return rest


class Embed(_ModelStep):
    """Embed texts with an :class:`~dreamer_lab.embedders.Embedder`."""

    def setup(self) -> None:
        self.register_input("texts", help="The texts to embed.")
        self.register_arg("embedder", help="The Embedder to use.")
        self.register_arg(
            "truncate", required=False, default=False, help="Truncate inputs that are too long."
        )
        self.register_arg(
            "instruction", required=False, help="A prefix added to every text (e.g. 'query: ')."
        )
        self.register_arg("lazy", required=False, default=False, help=_LAZY_HELP)
        self.register_arg(
            "**kwargs", required=False, help="Passed to the Embedder's run() (e.g. batch_size)."
        )
        self.register_output("texts", help="The texts that were embedded.")
        self.register_output("embeddings", help="One float32 vector per text.")

    def _prepare(self) -> None:
        embedder = self.args["embedder"]
        _require(
            self,
            embedder,
            "dreamer_lab.embedders.embedder.Embedder",
            "embedder",
            "SentenceTransformersEmbedder('all-MiniLM-L6-v2')",
        )
        _register_cards(self, embedder, self.args)

    def _rows(self, texts: list[str]) -> Any:
        import pyarrow as pa

        embedder = self.args["embedder"]
        vectors = embedder.run(
            texts,
            progress_interval=self.progress_interval,
            total_num_texts=len(texts),
            _step=self,
            **_extra(self.args, "embedder", "lazy"),
        )
        dims = None if vectors else embedder.dims
        return pa.table(
            {
                "texts": pa.array(texts, type=pa.string()),
                "embeddings": _vectors_array(vectors, dims),
            }
        )


class Retrieve(_ModelStep):
    """Retrieve the ``k`` best texts for each query with a :class:`Retriever`."""

    def setup(self) -> None:
        self.register_input("queries", help="The queries to retrieve results for.")
        self.register_arg("retriever", help="The Retriever to use.")
        self.register_arg("k", required=False, default=5, help="How many results per query.")
        self.register_arg("lazy", required=False, default=False, help=_LAZY_HELP)
        self.register_arg("**kwargs", required=False, help="Passed to the Retriever's run().")
        self.register_output("queries", help="The queries.")
        self.register_output(
            "results", help="Per query: {'indices': [...], 'texts': [...], 'scores': [...]}."
        )

    _input = "queries"

    def _prepare(self) -> None:
        retriever = self.args["retriever"]
        _require(
            self,
            retriever,
            "dreamer_lab.retrievers.retriever.Retriever",
            "retriever",
            "EmbeddingRetriever(texts=..., embedder=...)",
        )
        k = self.args["k"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise StepInputError(f"{self._where()}: k must be a positive int, got {k!r}.")
        _register_cards(self, retriever, self.args)

    def _rows(self, queries: list[str]) -> Any:
        results = self.args["retriever"].run(
            queries,
            k=self.args["k"],
            progress_interval=self.progress_interval,
            total_num_queries=len(queries),
            _step=self,
            **_extra(self.args, "retriever", "lazy", "k"),
        )
        return {"queries": queries, "results": list(results)}


class RunTaskModel(_ModelStep):
    """Run texts through a :class:`~dreamer_lab.task_models.TaskModel` (e.g. a classifier)."""

    def setup(self) -> None:
        self.register_input("texts", help="The texts to process with the TaskModel.")
        self.register_arg("model", help="The TaskModel to use.")
        self.register_arg(
            "truncate", required=False, default=False, help="Truncate inputs that are too long."
        )
        self.register_arg("lazy", required=False, default=False, help=_LAZY_HELP)
        self.register_arg("**kwargs", required=False, help="Passed to the TaskModel's run().")
        self.register_output("texts", help="The texts processed.")
        self.register_output("results", help="The TaskModel's result per text.")

    def _prepare(self) -> None:
        model = self.args["model"]
        _require(
            self,
            model,
            "dreamer_lab.task_models.task_model.TaskModel",
            "model",
            "HFClassificationTaskModel('path/to/classifier')",
        )
        _register_cards(self, model, self.args)

    def _rows(self, texts: list[str]) -> Any:
        results = self.args["model"].run(
            texts,
            progress_interval=self.progress_interval,
            total_num_texts=len(texts),
            _step=self,
            **_extra(self.args, "model", "lazy"),
        )
        return {"texts": texts, "results": list(results)}


class CosineSimilarity(Step):
    """Cosine similarity of row pairs ``a[i]``, ``b[i]``.

    ``a`` and ``b`` are embeddings (e.g. ``Embed``'s ``embeddings``) or texts, which are
    embedded with the ``embedder`` argument (through its request cache). Computed with
    numpy on the CPU (``device`` is accepted for DataDreamer scripts and ignored).
    ``lazy=True`` is refused before anything runs (the similarities need whole columns).
    """

    def _bind_args(self, args: dict[str, Any]) -> dict[str, Any]:
        bound = super()._bind_args(args)
        check_not_lazy(bound.get("lazy", False), self._where())
        return bound

    def setup(self) -> None:
        self.register_input("a", help="Embeddings or texts.")
        self.register_input("b", help="Embeddings or texts (same number of rows as 'a').")
        self.register_arg(
            "similarity_batch_size",
            required=False,
            default=100,
            help="Rows per similarity computation.",
        )
        self.register_arg("device", required=False, help="Accepted; computed on the CPU.")
        self.register_arg(
            "embedder", required=False, help="The Embedder for 'a' or 'b' when they are texts."
        )
        self.register_arg(
            "lazy",
            required=False,
            default=False,
            help="Refused: the similarities need whole columns.",
        )
        self.register_arg(
            "**kwargs", required=False, help="Passed to the Embedder's run() (e.g. truncate)."
        )
        self.register_output("a", help="The 'a' inputs.")
        self.register_output("b", help="The 'b' inputs.")
        self.register_output("similarities", help="Cosine similarity of each (a, b) pair.")

    def _vectors(self, name: str, embedder: Any, extra: dict[str, Any]) -> Any:
        import numpy as np

        if not _is_text_feature(_feature(self, name)):
            return _matrix(self, name)
        if embedder is None:
            raise StepInputError(
                f"{self._where()}: input {name!r} holds texts, so the step needs an embedder: "
                "pass args={'embedder': SentenceTransformersEmbedder('all-MiniLM-L6-v2')} or "
                "embed the texts first with Embed."
            )
        texts = _texts(self, name)
        vectors = embedder.run(texts, _step=None, **extra)
        if not vectors:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack(vectors).astype(np.float32, copy=False)

    def run(self) -> Any:
        import numpy as np
        import pyarrow as pa

        embedder = self.args.get("embedder")
        if embedder is not None:
            _require(
                self,
                embedder,
                "dreamer_lab.embedders.embedder.Embedder",
                "embedder",
                "SentenceTransformersEmbedder('all-MiniLM-L6-v2')",
            )
            if not any(_is_text_feature(_feature(self, n)) for n in ("a", "b")):
                raise StepInputError(
                    f"{self._where()}: 'a' and 'b' are already embeddings; do not pass an "
                    "embedder (remove args['embedder'])."
                )
            _register_cards(self, embedder, self.args)
        batch = self.args["similarity_batch_size"]
        if not isinstance(batch, int) or batch < 1:
            raise StepInputError(
                f"{self._where()}: similarity_batch_size must be a positive int, got {batch!r}."
            )
        extra = _extra(self.args, "similarity_batch_size", "device", "embedder", "lazy")
        a = self._vectors("a", embedder, extra)
        b = self._vectors("b", embedder, extra)
        if len(a) and a.shape[1] != b.shape[1]:
            raise StepInputError(
                f"{self._where()}: 'a' has {a.shape[1]}-dimensional vectors but 'b' has "
                f"{b.shape[1]}; embed both with the same model."
            )
        sims = np.empty(len(a), dtype=np.float64)
        for start in range(0, len(a), batch):
            x = a[start : start + batch].astype(np.float64)
            y = b[start : start + batch].astype(np.float64)
            denom = np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), 1e-12)
            sims[start : start + batch] = np.einsum("ij,ij->i", x, y) / denom
            self.progress = min(1.0, (start + batch) / max(1, len(a)))
        return pa.table(
            {
                "a": _arrow_column(self, "a"),
                "b": _arrow_column(self, "b"),
                "similarities": pa.array(sims, type=pa.float64()),
            }
        )


__all__ = ["Embed", "Retrieve", "CosineSimilarity", "RunTaskModel"]
