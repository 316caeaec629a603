"""Every exception and warning dreamer_lab raises, in one hierarchy.

Rank 0: this module imports nothing from dreamer_lab (core imports its exceptions from
here). Every user-facing error is a :class:`DreamerError` (most also keep the built-in
base that callers catch: ``ValueError``, ``RuntimeError``...), every warning a
:class:`DreamerWarning`. Names follow DataDreamer's where it has one. The classes are
still importable from the modules that raise them. Each message names the problem and
the fix.
"""

from __future__ import annotations

import sqlite3
from typing import Any


class DreamerError(Exception):
    """Base class for dreamer_lab's user-facing errors."""


class DreamerWarning(UserWarning):
    """Base class for dreamer_lab's warnings."""


# -- steps ----------------------------------------------------------------------------------
class StepInputError(DreamerError, ValueError):
    """A step was given inputs, arguments or data it cannot use."""


class StepInputTypeError(StepInputError, TypeError):
    """A step input is not a step's column (also a ``TypeError``, as in DataDreamer)."""


class SourceNotFoundError(StepInputError, FileNotFoundError):
    """A data source's file, folder or split does not exist (also a ``FileNotFoundError``,
    as in DataDreamer)."""


class StepOutputError(StepInputError):
    """A step's ``run()`` returned output of the wrong shape (DataDreamer's name)."""


class StepOutputTypeError(StepOutputError, TypeError):
    """A step's ``run()`` returned a value of the wrong type (DataDreamer's name)."""


class StepFailedError(DreamerError, RuntimeError):
    """A step's ``run()`` raised; the message carries the original error."""


# -- runner.py ---------------------------------------------------------------
class NotebookRunError(DreamerError, RuntimeError):
    """A cell of the notebook failed; the message names the cell and the error."""


# -- notebook/running.py -----------------------------------------------------
class StepInterrupted(DreamerError):
    """A ``%%dream`` cell was interrupted; finished requests are kept in the request cache."""


# -- embedders/openai_embedder.py --------------------------------------------
class OpenAIEmbedderError(DreamerError, RuntimeError):
    """The endpoint could not be used (bad key, unreachable, malformed answer ...)."""


# -- cards/bibtex.py ---------------------------------------------------------
class BibTeXError(DreamerError, ValueError):
    """A citation is not well-formed BibTeX."""


# -- trainers/train_openai_finetune.py ---------------------------------------
class FineTunePendingError(DreamerError):
    """The job is still running after ``poll_timeout``; train again to resume polling."""


class FineTuneFailedError(DreamerError):
    """The API rejected the request or the fine-tuning job failed."""


# -- llms/base.py ------------------------------------------------------------
class LLMError(DreamerError, RuntimeError):
    """A model backend failed (bad key, unreachable endpoint, unknown model...)."""


class UnknownModelError(LLMError, ValueError):
    """The model name does not resolve to a model this backend can load or call."""


class PromptTooLongError(StepInputError):
    """A prompt plus ``max_new_tokens`` does not fit the model's context window."""


# -- llms/retired.py ---------------------------------------------------------
class RetiredBackendError(LLMError):
    """The backend's upstream project is gone; the message names the replacement."""


# -- llms/openai.py ----------------------------------------------------------
class BatchPendingError(LLMError):
    """A Batch API job is still running; rerun (even after a restart) to resume polling."""


# -- llms/api_llm.py ---------------------------------------------------------
class CostBudgetExceededError(LLMError):
    """Sending more requests would exceed ``max_cost``; finished requests are cached."""


# -- llms/vllm.py ------------------------------------------------------------
class VLLMUnavailableError(LLMError):
    """vLLM is not installed or no GPU is visible; raised before any model load."""


# -- llms/embedded.py --------------------------------------------------------
class EmbeddedModelError(DreamerError, RuntimeError):
    """The embedded model package is missing or cannot be converted."""


# -- llms/structured.py ------------------------------------------------------
class StructuredOutputError(LLMError):
    """Some generations do not match the requested ``response_format``.

    ``generations`` holds every generation (valid or not, in order) and ``errors`` one
    message or ``None`` per row; the generations are already in the request cache.
    """

    def __init__(self, message: str, generations: list[Any], errors: list[str | None]):
        super().__init__(message)
        self.generations = generations
        self.errors = errors


# -- notebook/parser.py ------------------------------------------------------
class DreamSyntaxError(DreamerError, ValueError):
    """The first line of a ``%%dream`` cell (or a ``%dream`` command) cannot be parsed."""


# -- core/fingerprint.py -----------------------------------------------------
class UnhashableValueError(DreamerError, TypeError):
    """Raised when a value has no deterministic fingerprint."""


# -- core/run_options.py -----------------------------------------------------
class BatchOutOfMemoryError(DreamerError, RuntimeError):
    """A batch ran out of memory and ``adaptive_batch_size=False`` forbids halving it."""


# -- core/signing.py ---------------------------------------------------------
class UntrustedObjectError(DreamerError, RuntimeError):
    """A stored object is unsigned or signed by another key; it was not loaded."""


# -- core/lineage.py ---------------------------------------------------------
class CorruptIndexWarning(DreamerWarning):
    """``lineage.sqlite`` was corrupt: it was moved to quarantine/ and rebuilt from the records."""


# -- core/sqlite_db.py -------------------------------------------------------
class CorruptDatabaseError(DreamerError, sqlite3.DatabaseError):
    """A database whose pages or values cannot be read back as written."""


# -- core/workspace.py -------------------------------------------------------
class WorkspaceError(DreamerError, RuntimeError):
    """The workspace folder cannot be used."""


# -- core/store.py -----------------------------------------------------------
class CorruptEntryWarning(DreamerWarning):
    """A workspace entry was unreadable; it was quarantined and will be recomputed."""


class CorruptEntryError(DreamerError, RuntimeError):
    """Raised internally when an entry fails validation."""


# -- core/object_store.py, core/remote_workspace.py --------------------------
class ObjectStoreError(WorkspaceError):
    """An object-storage workspace (``s3://...``) cannot be reached or used."""


class ObjectStoreWarning(DreamerWarning):
    """An object-storage workspace could not be updated (the local cache keeps the result)."""


# -- task_models/task_model.py -----------------------------------------------
class CacheOnlyMissError(DreamerError, LookupError):
    """``cache_only=True`` was passed but some inputs have no cached result."""


# -- core/hub.py -------------------------------------------------------------
class PublishError(DreamerError, RuntimeError):
    """Publishing to the Hugging Face Hub failed (offline, refused token, Hub error)."""


__all__ = [
    "DreamerError",
    "DreamerWarning",
    "StepInputError",
    "StepOutputError",
    "StepOutputTypeError",
    "StepFailedError",
    "NotebookRunError",
    "StepInterrupted",
    "OpenAIEmbedderError",
    "BibTeXError",
    "FineTunePendingError",
    "FineTuneFailedError",
    "LLMError",
    "UnknownModelError",
    "PromptTooLongError",
    "RetiredBackendError",
    "BatchPendingError",
    "CostBudgetExceededError",
    "VLLMUnavailableError",
    "EmbeddedModelError",
    "StructuredOutputError",
    "DreamSyntaxError",
    "UnhashableValueError",
    "BatchOutOfMemoryError",
    "UntrustedObjectError",
    "CorruptIndexWarning",
    "CorruptDatabaseError",
    "WorkspaceError",
    "ObjectStoreError",
    "ObjectStoreWarning",
    "CorruptEntryWarning",
    "CorruptEntryError",
    "CacheOnlyMissError",
    "PublishError",
]
