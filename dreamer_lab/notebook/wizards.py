"""Wizards (generation, training) and the card widget: forms that end as code.

Each widget holds form ``values``; Python derives a live ``preview``, an ``info`` line
(token estimate, errors) and the equivalent ``code`` (a ``%%dream`` cell). "Insert cell"
puts that code into the notebook, so the notebook, not widget state, is the record:
``insert()`` uses IPython's ``set_next_input`` when called from a cell, and the front end
also dispatches a bubbling ``dreamer-lab:insert-cell`` DOM event (``detail: {code, run}``)
that the Lab extension turns into a new cell.

Usage: ``from dreamer_lab.notebook import wizard, card``; ``wizard("generate")``,
``wizard("train")``, ``card()``. This module imports ``anywidget``: it is imported when a
widget is first built (``dreamer_lab.notebook.wizard`` is a lazy name), not at ``%load_ext``.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from typing import Any

import anywidget
import traitlets

from dreamer_lab.notebook.md_tree import markdown_tree
from dreamer_lab.notebook.views import STATIC
from dreamer_lab.notebook.wizard_parts import Exported, generation_parts, training_columns

PREVIEW_ROWS = 3


def _ns() -> dict[str, Any]:
    from IPython import get_ipython

    ip = get_ipython()
    return ip.user_ns if ip is not None else {}


def _steps_in(ns: dict[str, Any]) -> dict[str, Any]:
    from dreamer_lab.notebook.catalog import is_step_class

    return {k: v for k, v in ns.items() if not k.startswith("_") and is_step_class(type(v))}


def _llms_in(ns: dict[str, Any]) -> list[str]:
    base = sys.modules.get("dreamer_lab.llms.base")
    llm_cls = getattr(base, "LLM", None)
    return [k for k, v in ns.items() if llm_cls is not None and isinstance(v, llm_cls)]


def _field(name: str, label: str, kind: str, default: Any) -> dict[str, Any]:
    """A form field (``kind``: text, textarea, number, checkbox) as the front end reads it."""
    return {"name": name, "label": label, "type": kind, "default": default}


def _select(
    name: str, label: str, options: list[str], default: str | None = None
) -> dict[str, Any]:
    """A drop-down; ``default`` if it is an option, else the first option (or "")."""
    chosen = default if default in options else (options or [""])[0]
    return {"name": name, "label": label, "type": "select", "options": options, "default": chosen}


class FormWidget(anywidget.AnyWidget):
    """A keyboard-friendly form whose result is notebook code."""

    _esm = STATIC / "wizard.js"
    _css = STATIC / "dreamer.css"
    title = traitlets.Unicode("").tag(sync=True)
    #: What the preview shows: "prompts" (rendered prompts) or "card" (``preview_tree``).
    preview_kind = traitlets.Unicode("prompts").tag(sync=True)
    preview_tree: traitlets.List[Any] = traitlets.List().tag(sync=True)
    #: The outcome of the last action (export ...), one readable line.
    result = traitlets.Unicode("").tag(sync=True)
    TITLE = ""
    fields: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    values = traitlets.Dict().tag(sync=True)
    preview: traitlets.List[str] = traitlets.List().tag(sync=True)
    info = traitlets.Unicode("").tag(sync=True)
    code = traitlets.Unicode("").tag(sync=True)
    inserted = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        ns: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.ns = ns if ns is not None else _ns()
        self.fields = self.build_fields()
        defaults = {f["name"]: f.get("default", "") for f in self.fields}
        self.values = defaults | dict(values or {})
        self.title = self.TITLE
        self.observe(lambda _change: self.refresh(), names="values")
        self.on_msg(self._on_msg)
        self.refresh()
        self._watch_cells()

    def _watch_cells(self) -> None:
        """Rebuild the options after every cell, so new steps and models appear."""
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None and hasattr(ip, "events"):
            self._ip = ip
            ip.events.register("post_run_cell", self._cell_ran)

    def _cell_ran(self, *_args: Any) -> None:
        try:
            self.refresh_fields()
        except Exception:  # noqa: BLE001 - a hook must never break the user's cell
            return

    def refresh_fields(self) -> None:
        """Options from the notebook as it is now; chosen values are kept while valid."""
        fields = self.build_fields()
        if fields == self.fields:
            return
        values = dict(self.values)
        for f in fields:
            if f["type"] == "select" and values.get(f["name"]) not in f["options"]:
                values[f["name"]] = f.get("default", "")
        self.fields = fields
        self.values = values

    def close(self) -> None:
        ip = getattr(self, "_ip", None)
        if ip is not None:
            with contextlib.suppress(ValueError):
                ip.events.unregister("post_run_cell", self._cell_ran)
        super().close()

    def build_fields(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def derive(self) -> tuple[list[str], str, str]:
        """``(preview, info, code)`` for the current values."""
        raise NotImplementedError

    def set(self, **values: Any) -> None:
        self.values = {**self.values, **values}

    def refresh(self) -> None:
        from dreamer_lab.errors import DreamerError

        try:
            preview, info, code = self.derive()
        except (DreamerError, KeyError, ValueError, TypeError) as e:
            preview, info, code = [], f"{type(e).__name__}: {e}", ""
        self.preview, self.info, self.code = preview, info, code

    def insert(self, run: bool = False) -> str:
        """Put the equivalent code into the next cell (from a cell: set_next_input)."""
        from IPython import get_ipython

        if not self.code:
            raise ValueError(f"Nothing to insert: {self.info or 'fill in the form first'}")
        ip = get_ipython()
        if ip is not None:
            ip.set_next_input(self.code, replace=False)
        self.inserted = self.code
        return self.code

    def _on_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "insert" and self.code:
            self.inserted = self.code
        if isinstance(content, dict) and content.get("event") == "export":
            try:
                self.export()
            except Exception as e:  # noqa: BLE001 - shown in the widget, as text
                from dreamer_lab.core.secrets import scrub_text

                self.result = f"Export failed: {type(e).__name__}: {scrub_text(str(e))}"

    def export(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has nothing to export.")


class GenerationWizard(FormWidget):
    """Step kind, model, template with live preview and token estimate, rows."""

    TITLE = "Generate data"

    def build_fields(self) -> list[dict[str, Any]]:
        from dreamer_lab.notebook.catalog import TEMPLATE_INPUT, catalog, options_for

        kinds = []
        for name, cls in catalog({}).items():
            opts = options_for(cls)
            if not opts.trainer and (opts.template_arg() or TEMPLATE_INPUT in opts.inputs):
                kinds.append(name)
        llms = _llms_in(self.ns)
        steps = list(_steps_in(self.ns))
        dicts = [k for k, v in self.ns.items() if isinstance(v, dict) and not k.startswith("_")]
        return [
            _field("name", "Result name", "text", "generated"),
            _select("kind", "Step", kinds, "DataFromPrompt"),
            _select("llm", "Model", llms),
            _select("data", "Rows from step (Prompt)", ["", *steps]),
            _select("attributes", "Attributes (dict variable)", ["", *dicts]),
            _field("template", "Template", "textarea", ""),
            _field("n", "Rows", "number", 10),
            _field("max_new_tokens", "Max new tokens", "number", 256),
            _field("temperature", "Temperature", "number", 1.0),
            _field("top_p", "Top p", "number", 1.0),
            _field("seed", "Seed (empty: none)", "text", ""),
            _field("stop", "Stop at (text; empty: none)", "text", ""),
            _field("batch_size", "Batch size (0: the model's default)", "number", 0),
        ]

    def derive(self) -> tuple[list[str], str, str]:
        from dreamer_lab.llms.base import estimate_tokens
        from dreamer_lab.notebook.catalog import options_for, resolve_kind
        from dreamer_lab.notebook.template import interpolate

        v = self.values
        kind = str(v.get("kind") or "")
        if not kind:
            return [], "Choose a step.", ""
        opts = options_for(resolve_kind(kind, self.ns))
        template = str(v.get("template") or "")
        data = self.ns.get(str(v["data"])) if v.get("data") else None
        attrs = self.ns.get(str(v["attributes"])) if v.get("attributes") else None
        columns = list(data.output.column_names) if data is not None else []
        keep = set(columns) | (set(attrs) if isinstance(attrs, dict) else set())
        fmt = interpolate(template, keep, self.ns, where="wizard", keep_hint="a column")
        rows: list[dict[str, Any]]
        if data is not None:
            rows = data.output.dataset.select(range(min(PREVIEW_ROWS, len(data.output)))).to_list()
        elif isinstance(attrs, dict) and attrs:
            keys = list(attrs)
            combos = itertools.islice(itertools.product(*(attrs[k] for k in keys)), PREVIEW_ROWS)
            rows = [dict(zip(keys, c, strict=True)) for c in combos]
        else:
            rows = [{}]
        preview = [fmt.format_map(r) if keep else fmt for r in rows]
        n = int(v.get("n") or 0) if data is None else len(data.output)
        per_prompt = sum(estimate_tokens(p) for p in preview) / max(1, len(preview))
        new = int(v.get("max_new_tokens") or 0)
        total = int(n * (per_prompt + new))
        info = (
            f"about {total:,} tokens ({n} rows x ~{per_prompt:.0f} prompt + up to {new} new; "
            "an offline estimate). Cost: local models $0; API models: tokens x price."
        )
        parts = [str(v["data"])] if data is not None else []
        if v.get("llm"):
            parts.append(f"llm={v['llm']}")
        if data is None and "n" in opts.args:
            parts.append(f"n={int(v.get('n') or 0)}")
        if attrs is not None and "attributes" in opts.args:
            parts.append(f"attributes={v['attributes']}")
        parts += generation_parts(v, opts)
        code = f"%%dream {v.get('name') or 'generated'} = {kind}({', '.join(parts)})\n{template}"
        return preview, info, code


class TrainingWizard(FormWidget):
    """Trainer, base model, input/output columns from existing steps, LoRA, epochs."""

    TITLE = "Train a model"

    def build_fields(self) -> list[dict[str, Any]]:
        import dreamer_lab.trainers as trainers

        names = [n for n in getattr(trainers, "__all__", []) if n.startswith("Train")]
        cols, text_in, text_out = training_columns(_steps_in(self.ns))
        return [
            _field("name", "Model name", "text", "model"),
            _select("trainer", "Trainer", names, "TrainHFFineTune"),
            _field("model_name", "Base model (name, folder or smollm2)", "text", "smollm2"),
            _select("train_input", "Input column", cols, text_in),
            _select("train_output", "Output column", cols, text_out),
            _field("lora", "LoRA", "checkbox", True),
            _field("rank", "LoRA rank", "number", 8),
            _field("epochs", "Epochs", "number", 1),
        ]

    def derive(self) -> tuple[list[str], str, str]:
        v = self.values
        if not v.get("trainer"):
            return [], "Choose a trainer.", ""
        if not v.get("model_name"):
            return [], "Give the base model (a Hugging Face name or a local folder).", ""
        if not v.get("train_input") or not v.get("train_output"):
            return [], "Choose the input and output columns (run a step first).", ""
        parts = [f"model_name={str(v['model_name'])!r}"]
        head = ""
        if v.get("lora"):
            head = "from peft import LoraConfig\n\n"
            parts.append(f"peft_config=LoraConfig(r={int(v.get('rank') or 8)})")
        parts += [
            f"train_input={v['train_input']}",
            f"train_output={v['train_output']}",
            f"epochs={int(v.get('epochs') or 1)}",
        ]
        code = f"{head}%dream {v.get('name') or 'model'} = {v['trainer']}({', '.join(parts)})"
        info = f"LoRA rank {v.get('rank')}" if v.get("lora") else "full fine-tuning"
        info += f", {int(v.get('epochs') or 1)} epoch(s) on {v['train_input']}"
        if str(v["model_name"]).lower() == "smollm2":
            info += "; smollm2 is the embedded SmolLM2-135M-Instruct (offline)"
        return [], info, code


class CardWidget(FormWidget):
    """Pick a step or trained model, preview its card, edit the human sections, export,
    and publish it (rows or model, with the card) to the Hugging Face Hub."""

    TITLE = "Data or model card"
    can_publish = traitlets.Bool(True).tag(sync=True)
    publishing = traitlets.Bool(False).tag(sync=True)
    published = traitlets.Unicode("").tag(sync=True)  # the repository's URL
    publish_error = traitlets.Unicode("").tag(sync=True)

    def build_fields(self) -> list[dict[str, Any]]:
        from dreamer_lab.api import lineage

        nodes = lineage().nodes
        names = list(dict.fromkeys(n["name"] for n in nodes))
        usable = [n["name"] for n in nodes if n.get("status") not in ("failed", "running")]
        return [
            _select("target", "Step or model", names, (usable or names or [""])[-1]),
            _field("intended_use", "Intended use", "textarea", ""),
            _field("limitations", "Limitations", "textarea", ""),
            _field("path", "Export folder", "text", "card"),
            _field("repo_id", "Hub repository (name or namespace/name)", "text", ""),
            _field("private", "Private repository", "checkbox", True),
        ]

    def _publishable(self) -> tuple[str, Any]:
        """``(variable, object)`` of the notebook that made the target: publishing needs the
        step or trainer itself (its rows or weights), not only its record."""
        from dreamer_lab.errors import StepInputError

        target = self.values.get("target")
        if target in self.ns and hasattr(self.ns[target], "publish_to_hf_hub"):
            return target, self.ns[target]
        for var, obj in reversed(list(self.ns.items())):
            if getattr(obj, "name", None) == target and hasattr(obj, "publish_to_hf_hub"):
                return var, obj
        raise StepInputError(
            f"{target!r} is not a step or Hugging Face trained model in this notebook: run the "
            "cell that makes it, then publish (its card alone can be exported)."
        )

    def publish(self, token: str | None = None) -> str:
        """Publish the target with its card to the repository in the form (``private`` as
        ticked); returns the URL, also shown in the widget. Errors are shown too, then raised."""
        from dreamer_lab.core.secrets import scrub_text
        from dreamer_lab.errors import StepInputError

        v = self.values
        self.published, self.publish_error, self.publishing = "", "", True
        try:
            repo = str(v.get("repo_id") or "").strip()
            if not repo:
                raise StepInputError("Enter a Hub repository id (name or namespace/name) first.")
            _, obj = self._publishable()
            url = obj.publish_to_hf_hub(repo, private=bool(v.get("private")), token=token, **self._card_options())  # fmt: skip
        except Exception as e:
            self.publish_error = f"{type(e).__name__}: {scrub_text(str(e))}"
            raise
        finally:
            self.publishing = False
        self.published = url
        return url

    def _card_options(self) -> dict[str, str]:
        return {k: self.values[k] for k in ("intended_use", "limitations") if self.values.get(k)}

    def _on_msg(self, widget: Any, content: dict[str, Any], buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "publish":
            with contextlib.suppress(Exception):  # shown in the widget (publish_error)
                self.publish()
            return
        super()._on_msg(widget, content, buffers)

    def card(self) -> Any:
        from dreamer_lab.cards import card_for
        from dreamer_lab.core.workspace import current_workspace

        v = self.values
        target = self.ns.get(v["target"]) if v.get("target") in self.ns else v.get("target")
        return card_for(
            target,
            current_workspace(),
            intended_use=v.get("intended_use") or None,
            limitations=v.get("limitations") or None,
        )

    def _problem(self, target: str) -> str | None:
        """Why ``target`` has no card (its last run failed or is still running), or None."""
        from dreamer_lab.api import lineage

        for n in lineage().nodes:
            if n["name"] == target and n.get("status") in ("failed", "running"):
                if n["status"] == "running":
                    return f"{target!r} is still running: its card can be made when it is done."
                return (
                    f"{target!r} failed in its last run, so it has no stored result to "
                    "describe. Fix its cell and run it again, or choose another step."
                )
        return None

    def derive(self) -> tuple[list[str], str, str]:
        v = self.values
        self.preview_kind = "card"
        self.preview_tree = []
        if not v.get("target"):
            return [], "Run a step first: there is nothing to describe.", ""
        problem = self._problem(str(v["target"]))
        if problem:
            return [], problem, ""
        card = self.card()
        markdown = card.markdown
        self.preview_tree = markdown_tree(markdown)
        args = [repr(v["target"])]
        for key in ("intended_use", "limitations"):
            if v.get(key):
                args.append(f"{key}={v[key]!r}")
        code = (
            "from dreamer_lab.cards import card_for\n\n"
            f"card_for({', '.join(args)}).save({str(v.get('path') or 'card')!r})"
        )
        info = f"The {card.kind} card of {v['target']!r}: edit the sections above, then export."
        return [], info, code + self._publish_code()

    def _publish_code(self) -> str:
        """The publishing call, when a repository is entered and the target is at hand."""
        repo = str(self.values.get("repo_id") or "").strip()
        try:
            var, _ = self._publishable() if repo else ("", None)
        except ValueError:
            return ""
        if not var or not var.isidentifier():
            return ""
        opts = "".join(f", {k}={x!r}" for k, x in self._card_options().items())
        private = bool(self.values.get("private"))
        return f"\n{var}.publish_to_hf_hub({repo!r}, private={private}{opts})"

    def export(self) -> Exported:
        """Write the card's README.md and card.json into the export folder; the result says
        where (and is shown in the widget)."""
        card = self.card()
        paths = card.save(self.values.get("path") or "card")
        done = Exported(card.kind, str(self.values["target"]), paths["markdown"], paths["json"])
        self.result = str(done)
        return done


WIZARDS: dict[str, type[FormWidget]] = {"generate": GenerationWizard, "train": TrainingWizard}


def wizard(
    which: str = "generate", /, ns: dict[str, Any] | None = None, **values: Any
) -> FormWidget:
    """A generation (``"generate"``) or training (``"train"``) wizard; ``values`` prefill it."""
    if which not in WIZARDS:
        raise ValueError(f"Unknown wizard {which!r}; use 'generate' or 'train'.")
    return WIZARDS[which](ns=ns, values=values)


def card(ns: dict[str, Any] | None = None, **values: Any) -> CardWidget:
    """The card widget: preview, edit and export a data or model card."""
    return CardWidget(ns=ns, values=values)
