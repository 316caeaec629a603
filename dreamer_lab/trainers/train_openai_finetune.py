"""``TrainOpenAIFineTune``: supervised fine-tuning jobs on the OpenAI API (official client).

The training columns become a JSONL file of chat examples (optional system message, the
input as the user turn, the output as the assistant turn), uploaded with
``purpose="fine-tune"``; then a fine-tuning job is created and polled with backoff. The job
id is saved in the run's checkpoint folder of the workspace *before* polling starts, so a
kernel restart (or ``kill -9``) loses nothing: training again with the same data and
arguments resumes polling the same job instead of paying for a second one. Uploaded file
ids are saved as they arrive, and every job is created with a request token in its
``metadata`` (saved first): a process killed after the API created the job but before its
id was saved finds that job again by the token instead of creating another. The resulting
model name is stored in the record; ``trainer.llm()`` returns a
:class:`dreamer_lab.llms.OpenAI` for it.
"""

from __future__ import annotations

import functools
import json
import os
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dreamer_lab.core.secrets import drop_secret, register_secret, restore_secret, scrub_text
from dreamer_lab.errors import (  # noqa: F401
    DreamerError,
    FineTuneFailedError,
    FineTunePendingError,
    StepInputError,
)
from dreamer_lab.llms.openai import OpenAI
from dreamer_lab.llms.openai_client import classify_openai_error, openai_client
from dreamer_lab.llms.retry import Failure, RetryPolicy, gave_up
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import (
    HISTORY,
    ModelCardType,
    TrainCall,
    TrainContext,
    Trainer,
    TrainResult,
    read_history,
    trains,
)
from dreamer_lab.trainers.hf_base import CITATIONS
from dreamer_lab.trainers.params import own, signed, subset_signature

STATE = "openai_job.json"
REQUEST_KEY = "dreamer_lab_request"  # job metadata key holding the run's request token
MIN_EXAMPLES = 10  # the API refuses smaller training files
_DONE = ("succeeded", "failed", "cancelled")
T = TypeVar("T")
_TRAINER_OPTIONS = ("force", "verbose", "log_level")

# DataDreamer's TrainOpenAIFineTune(...): the connection arguments as the OpenAI LLM
# declares them, the job's own, then the trainer's (``**kwargs`` go to the client).
_INIT = subset_signature(
    (Trainer.__init__, OpenAI.__init__),
    (
        *["self", "name", "model_name", "system_prompt", "organization", "api_key", "base_url"],
        own("suffix", "str | None", None),
        own("poll_interval", "float", 30.0),
        own("max_poll_interval", "float", 300.0),
        own("poll_timeout", "float | None", None),
        *["max_retries", "timeout", "force", "verbose", "log_level", "kwargs"],
    ),
)


class TrainOpenAIFineTune(Trainer):
    """Fine-tune an OpenAI model (or any server with the same API) on input/output columns.

    Args:
        model_name: the base model, e.g. ``"gpt-4o-mini-2024-07-18"``.
        system_prompt: a system message added to every training example (and to the
            :meth:`llm` built from the result).
        api_key: defaults to ``$OPENAI_API_KEY``; never stored, fingerprinted or shown.
        base_url: an OpenAI-compatible endpoint (part of the run's identity).
        suffix: up to 64 characters added to the fine-tuned model's name.
        poll_interval, max_poll_interval: seconds between status checks; the interval grows
            by half each time nothing changed, up to ``max_poll_interval``.
        poll_timeout: stop waiting after this many seconds with
            :class:`FineTunePendingError` (the job keeps running; train again to resume).
        max_retries: retries of each request on 429 (honouring ``Retry-After``), 5xx,
            connection errors and malformed answers (the package's one retry policy).
    """

    kind = "TrainOpenAIFineTune"
    version = "1"
    trains_in_every_process = False  # one job, created by the main process
    consumes = frozenset(
        {"truncate", "epochs", "batch_size", "learning_rate_multiplier", "seed", "callbacks"}
    )

    @signed(_INIT)
    def __init__(
        self,
        name: str,
        model_name: str,
        system_prompt: str | None,
        organization: str | None,
        api_key: str | None,
        base_url: str | None,
        suffix: str | None,
        poll_interval: float,
        max_poll_interval: float,
        poll_timeout: float | None,
        max_retries: int,
        timeout: float,
        **options: Any,
    ):
        """The arguments are in ``__signature__``: the OpenAI LLM's connection arguments and
        the trainer's own (``force``, ``verbose``, ``log_level``) where those declare them."""
        kwargs = {k: options.pop(k) for k in list(options) if k not in _TRAINER_OPTIONS}
        super().__init__(name, **options)
        if not isinstance(model_name, str) or not model_name.strip():
            raise StepInputError(
                f"{self._where()}: model_name must be an OpenAI model name such as "
                "'gpt-4o-mini-2024-07-18'."
            )
        if suffix is not None and len(suffix) > 64:
            raise StepInputError(f"{self._where()}: suffix is limited to 64 characters.")
        self.model_name = model_name
        self.system_prompt = system_prompt
        self.organization = organization
        self._api_key = api_key
        register_secret(api_key)  # redacted wherever it would appear
        self._key_not_restored = False
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.suffix = suffix
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.poll_timeout = poll_timeout
        self.max_retries = int(max_retries)
        self.timeout = timeout
        self.client_kwargs = kwargs
        self._rng = random.Random()

    # -- identity -------------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "endpoint": (self.base_url or "https://api.openai.com/v1").rstrip("/"),
            "system_prompt": self.system_prompt,
            "suffix": self.suffix,
        }

    def _card(self) -> dict[str, list[Any]]:
        card: dict[str, list[Any]] = {
            ModelCardType.MODEL_NAME: [self.model_name],
            ModelCardType.CITATION: [CITATIONS["datadreamer"]],
        }
        if not self.base_url:
            card[ModelCardType.LICENSE] = ["https://openai.com/policies/terms-of-use"]
        return card

    # -- pickling: never the key ------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return drop_secret(self.__dict__, "_api_key")

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["_key_not_restored"] = restore_secret(state, "_api_key")
        self.__dict__.update(state)

    def _key(self) -> str:
        key = self._api_key or os.environ.get("OPENAI_API_KEY")
        if not key and getattr(self, "_key_not_restored", False):
            raise StepInputError(
                f"{self._where()} was restored from a saved copy (a %%dream cache hit or a "
                "pickle), and API keys are never saved. Set the OPENAI_API_KEY environment "
                "variable, or create the trainer again with api_key=..."
            )
        if not key:
            raise StepInputError(
                f"{self._where()}: no API key. Set the OPENAI_API_KEY environment variable (or "
                "pass api_key=...; keys are never stored in the workspace)."
            )
        register_secret(key)
        return key

    # -- training -------------------------------------------------------------------------
    @trains(
        "_run_job",
        ("input", "output"),
        (
            "truncate",
            own("epochs", "int | str | None", None),
            own("batch_size", "int | str | None", None),
            own("learning_rate_multiplier", "float | str | None", None),
            own("seed", "int | None", 42),
        ),
    )
    def train(self, *args: Any, **kwargs: Any) -> TrainOpenAIFineTune:
        """Upload the examples, run the job (or resume polling it); returns ``self``.

        ``epochs``, ``batch_size`` and ``learning_rate_multiplier`` default to the API's
        ``"auto"``; ``truncate`` is accepted for DataDreamer compatibility (the API
        truncates over-long examples itself).
        """

    def _prepare(self, call: TrainCall) -> TrainCall:
        rows = len(call.data["train_input"])  # type: ignore[arg-type]
        if rows < MIN_EXAMPLES:
            raise StepInputError(
                f"{self._where()}: OpenAI fine-tuning needs at least {MIN_EXAMPLES} training "
                f"examples; got {rows}. Generate more rows before training."
            )
        self._key()  # fail before any upload when there is no key
        return call

    def _examples(self, cols: dict[str, OutputColumn]) -> bytes:
        lines = []
        for x, y in zip(cols["input"].to_list(), cols["output"].to_list(), strict=True):
            messages = (
                []
                if self.system_prompt is None
                else [{"role": "system", "content": self.system_prompt}]
            )
            messages += [
                {"role": "user", "content": str(x)},
                {"role": "assistant", "content": str(y)},
            ]
            lines.append(json.dumps({"messages": messages}, ensure_ascii=False))
        return ("\n".join(lines) + "\n").encode()

    def _client(self) -> Any:
        return openai_client(
            api_key=self._key(),
            base_url=self.base_url,
            organization=self.organization,
            timeout=self.timeout,
            asynchronous=False,
            **self.client_kwargs,
        )

    def _api(self, send: Callable[[], T]) -> T:
        """One API request under the package's retry policy (the client never retries)."""
        policy = RetryPolicy(
            classify_openai_error, self._refused, self._gave_up, self.max_retries, rng=self._rng
        )
        return policy.call(send)

    def _run_job(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        state_path = ctx.checkpoint_dir / STATE
        state = _read_json(state_path)
        client = self._client()
        try:
            if not state.get("job_id"):
                state = self._create_job(client, call, state, state_path)
                self._save_state(state_path, state)  # before polling: a restart resumes this job
            job = self._poll(client, ctx, state, state_path)
        except DreamerError:
            raise
        except Exception as e:  # noqa: BLE001 - anything else, without the key
            raise FineTuneFailedError(
                f"{self._where()}: {type(e).__name__}: {scrub_text(str(e))[:300]}"
            ) from None
        if job.status != "succeeded":
            state_path.unlink(missing_ok=True)  # the next run creates a new job
            if getattr(self, "_checkpoint_mirror", None) is not None:
                self._checkpoint_mirror.delete_state(STATE)
            err = getattr(job, "error", None)
            detail = scrub_text(str(getattr(err, "message", None) or "no detail given"))
            code = getattr(err, "code", None)
            raise FineTuneFailedError(
                f"{self._where()}: fine-tuning job {job.id} {job.status}"
                + (f" ({code})" if code else "")
                + f": {detail}. Fix the cause and train again; a new job will be created."
            )
        info = {
            "job_id": job.id,
            "fine_tuned_model": job.fine_tuned_model,
            "base_model": job.model,
            "training_file": state.get("training_file"),
            "validation_file": state.get("validation_file"),
            "result_files": list(job.result_files or []),
            "trained_tokens": job.trained_tokens,
        }
        ctx.final_dir.mkdir(parents=True, exist_ok=True)
        (ctx.final_dir / "openai_model.json").write_text(json.dumps(info, indent=1))
        metrics = {"trained_tokens": job.trained_tokens}
        losses = [h["loss"] for h in read_history(ctx.checkpoint_dir / HISTORY) if "loss" in h]
        if losses:
            metrics["train_loss"] = losses[-1]
        return TrainResult(metrics=metrics, extra={"openai": info})

    def _save_state(self, path: Path, state: dict[str, Any]) -> None:
        """Write the job's state; in an object-storage workspace also to the bucket, at once,
        so another machine resumes this job instead of paying for a second one."""
        _write_json(path, state)
        mirror = getattr(self, "_checkpoint_mirror", None)
        if mirror is not None:
            mirror.put_state(path)

    def _create_job(
        self, client: Any, call: TrainCall, state: dict[str, Any], state_path: Path
    ) -> dict:
        """Upload the files and create the job, saving each id as it arrives; ``state`` is
        what an interrupted earlier attempt saved (reused, so nothing is paid twice)."""
        resuming = bool(state.get("request"))
        if not resuming:
            state = {"request": uuid.uuid4().hex, "training_file": None, "validation_file": None}
            self._save_state(state_path, state)
        for split, key in (("train", "training_file"), ("validation", "validation_file")):
            cols = call.columns(split)
            if cols is not None and not state.get(key):
                examples = (f"{split}.jsonl", self._examples(cols))
                send = functools.partial(client.files.create, file=examples, purpose="fine-tune")
                upload = self._api(send)
                state[key] = upload.id
                self._save_state(state_path, state)
        job = self._find_job(client, state["request"]) if resuming else None
        if job is None:
            hp = {
                k: v
                for k, v in (
                    ("n_epochs", call["epochs"]),
                    ("batch_size", call["batch_size"]),
                    ("learning_rate_multiplier", call["learning_rate_multiplier"]),
                )
                if v is not None
            }
            extra = call.options(self.consumes)
            metadata = {**(extra.pop("metadata", None) or {}), REQUEST_KEY: state["request"]}
            job = self._api(
                lambda: client.fine_tuning.jobs.create(
                    model=self.model_name,
                    training_file=state["training_file"],
                    validation_file=state["validation_file"],
                    method={"type": "supervised", "supervised": {"hyperparameters": hp}},
                    suffix=self.suffix,
                    seed=call["seed"],
                    metadata=metadata,
                    **extra,
                )
            )
        state.update(job_id=job.id, created=time.time(), seen_events=[])
        return state

    def _find_job(self, client: Any, token: str) -> Any | None:
        """The job an interrupted attempt created with request ``token``, if any."""
        page = self._api(
            lambda: client.fine_tuning.jobs.list(limit=100, metadata={REQUEST_KEY: token})
        )
        for job in page.data:  # checked here too: some compatible servers ignore the filter
            if (getattr(job, "metadata", None) or {}).get(REQUEST_KEY) == token:
                return job
        return None

    def _poll(self, client: Any, ctx: TrainContext, state: dict, state_path: Path) -> Any:
        start = time.monotonic()
        interval = self.poll_interval
        last_status = None
        while True:
            job = self._api(lambda: client.fine_tuning.jobs.retrieve(state["job_id"]))
            self._report_events(client, ctx, state, state_path)
            if job.status in _DONE:
                return job
            if job.status != last_status:
                last_status, interval = job.status, self.poll_interval
            else:
                interval = min(interval * 1.5, self.max_poll_interval)
            ctx.reporter.state["job_status"] = job.status
            ctx.reporter.write(force=True)
            waited = time.monotonic() - start
            if self.poll_timeout is not None and waited >= self.poll_timeout:
                raise FineTunePendingError(
                    f"{self._where()}: fine-tuning job {job.id} is still {job.status} after "
                    f"{waited:.0f}s. Nothing is lost: train again with the same data (also after "
                    "a kernel restart) to resume polling this job."
                )
            delay = interval * self._rng.uniform(0.9, 1.1)
            if self.poll_timeout is not None:
                delay = min(delay, max(0.0, self.poll_timeout - waited))
            time.sleep(delay)

    def _report_events(self, client: Any, ctx: TrainContext, state: dict, path: Path) -> None:
        """Log new job events (metrics events become loss history) in time order."""
        seen = set(state.get("seen_events") or [])
        page = self._api(lambda: client.fine_tuning.jobs.list_events(state["job_id"], limit=100))
        new = [e for e in page.data if e.id not in seen]
        for e in sorted(new, key=lambda e: e.created_at):
            d = e.data if isinstance(e.data, dict) else {}
            if getattr(e, "type", None) == "metrics" and "step" in d:
                entry = {"step": d["step"], "event": e.message}
                if "train_loss" in d:
                    entry["loss"] = d["train_loss"]
                entry.update({k: v for k, v in d.items() if k not in ("step", "train_loss")})
                ctx.reporter.log(entry)
                ctx.reporter.step(int(d["step"]), d.get("total_steps"))
            else:
                ctx.reporter.log({"event": scrub_text(str(e.message)), "level": e.level})
            seen.add(e.id)
        if new:
            state["seen_events"] = sorted(seen)
            self._save_state(path, state)

    def _refused(self, f: Failure) -> DreamerError:
        """The error of a request the API refused (not retried)."""
        where = self._where()
        if f.kind in ("auth", "permission"):
            return StepInputError(
                f"{where}: the API key was rejected ({f.status}). Check the OPENAI_API_KEY "
                "environment variable (or api_key=) and the organization; nothing was trained."
            )
        return FineTuneFailedError(
            f"{where}: the API refused the request ({f.status}): "
            f"{scrub_text(f.detail).rstrip('.')}. "
            "Check model_name and the training data."
        )

    def _gave_up(self, f: Failure) -> DreamerError:
        """The error of a request still failing after ``max_retries`` retries: the job, if
        one was created, keeps running (pending) unless the answers were unreadable."""
        where = f"{self._where()} at {self._identity()['endpoint']}"
        message = gave_up(f, where, self.max_retries + 1, "Wait a little")
        if f.kind == "malformed":
            return FineTuneFailedError(message)
        return FineTunePendingError(
            f"{message} A job already created is saved and train() resumes it."
        )

    # -- results ------------------------------------------------------------------------
    @property
    def fine_tuned_model(self) -> str:
        """The name of the fine-tuned model (``ft:...``)."""
        return str(self.record["openai"]["fine_tuned_model"])

    @property
    def model(self) -> str:
        """DataDreamer's name for :attr:`fine_tuned_model`."""
        return self.fine_tuned_model

    @property
    def job_id(self) -> str:
        return str(self.record["openai"]["job_id"])

    def llm(self, **kwargs: Any) -> Any:
        """A :class:`dreamer_lab.llms.OpenAI` for the fine-tuned model (same endpoint/key)."""
        from dreamer_lab.llms import OpenAI

        opts: dict[str, Any] = dict(
            system_prompt=self.system_prompt,
            organization=self.organization,
            api_key=self._api_key,
            base_url=self.base_url,
        )
        opts.update(kwargs)
        return OpenAI(self.fine_tuned_model, **opts)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(value, indent=1))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
