"""One hierarchy: every exception and warning class is defined in dreamer_lab.errors."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import pytest

import dreamer_lab
from dreamer_lab import errors

# Internal control flow, caught inside the module that raises it (never reaches users);
# the modules are under edit elsewhere (issue 11).
INTERNAL = {
    "dreamer_lab.server.paths.PathRefused",
    "dreamer_lab.server.views.CorruptEntry",
    "dreamer_lab.llms.api_llm.MalformedResponse",
    "dreamer_lab.llms.openai_assistant._RunFailed",
    "dreamer_lab.steps.lazy.LazyOutput",
}


def _classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(dreamer_lab.__path__, "dreamer_lab."):
        if info.name == "dreamer_lab.__main__":  # runs the CLI on import
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__.startswith("dreamer_lab")
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_error_and_warning_is_in_errors_module():
    wrong = []
    for qualname, cls in sorted(_classes().items()):
        if qualname in INTERNAL:
            continue
        if getattr(errors, cls.__name__, None) is not cls:
            wrong.append(f"{qualname}: define it in dreamer_lab/errors.py")
        base = errors.DreamerWarning if issubclass(cls, Warning) else errors.DreamerError
        if not issubclass(cls, base):
            wrong.append(f"{qualname}: must derive from {base.__name__}")
    assert not wrong, "\n".join(wrong)


def test_old_import_paths_still_work():
    from dreamer_lab.core.fingerprint import UnhashableValueError
    from dreamer_lab.core.store import CorruptEntryWarning
    from dreamer_lab.core.workspace import WorkspaceError
    from dreamer_lab.llms.base import LLMError

    assert UnhashableValueError is errors.UnhashableValueError
    assert issubclass(UnhashableValueError, TypeError)
    assert WorkspaceError is errors.WorkspaceError and issubclass(WorkspaceError, RuntimeError)
    assert issubclass(CorruptEntryWarning, UserWarning) and LLMError is errors.LLMError


def test_bad_run_output_raises_step_output_errors():
    from dreamer_lab.steps.normalize import to_dataset

    with pytest.raises(errors.StepOutputTypeError, match="cannot be stored as Arrow"):
        to_dataset([1, "a"], ["out"], "step 'x'")
    with pytest.raises(errors.StepOutputError, match="registers outputs"):
        to_dataset({"other": [1]}, ["out"], "step 'x'")
    assert issubclass(errors.StepOutputTypeError, errors.StepInputError)


def test_cli_prints_any_dreamer_error_as_one_line(monkeypatch, capsys):
    import dataclasses

    from dreamer_lab import cli

    def boom(args):
        """List steps."""
        raise errors.BibTeXError("bad entry\nsecond line")

    commands = tuple(
        dataclasses.replace(c, run=boom) if c.name == "ls" else c for c in cli.COMMANDS
    )
    monkeypatch.setattr(cli, "COMMANDS", commands)
    status = cli.main(["ls", "-w", "nowhere"])
    err = capsys.readouterr().err
    assert status != 0 and err == "error: bad entry second line\n"
