"""Committing a folder to a Hugging Face Hub repository (datasets and trained models).

One commit through ``huggingface_hub`` (``create_repo``, ``create_branch``,
``create_commit``): the library asks the Hub which files it already holds (the
"preupload" call returns their object ids) and leaves identical files out, so publishing
unchanged data again uploads nothing and makes no commit. Files under ``managed``
prefixes that the folder no longer has (a split that was dropped) are deleted in the same
commit. The token is only passed to ``HfApi``: it is never written to a file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dreamer_lab.core.secrets import scrub_text
from dreamer_lab.errors import PublishError, StepInputError

# The Hub's repository names: letters, digits, '-', '_', '.', at most 96 characters.
_NAME = r"[A-Za-z0-9](?:[\w.\-]{0,94}[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"^(?:{_NAME}/)?{_NAME}$")
# What ``publish_to_hf_hub`` forwards to ``HfApi.create_commit``.
COMMIT_OPTIONS = ("commit_message", "commit_description", "create_pr", "parent_commit")
# The card's editable sections, which ``publish_to_hf_hub`` also accepts.
CARD_OPTIONS = ("intended_use", "limitations")


def check_repo_id(repo_id: Any, where: str) -> str:
    """``repo_id`` if it is a Hub repository id (``name`` or ``namespace/name``)."""
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise StepInputError(
            f"{where}: {repo_id!r} is not a Hub repository id. Pass 'name' or "
            "'namespace/name' (letters, digits, '-', '_' and '.')."
        )
    return repo_id


def check_commit_options(options: dict[str, Any], where: str) -> dict[str, Any]:
    """Keyword arguments for ``create_commit``; anything else is refused by name."""
    unknown = sorted(set(options) - set(COMMIT_OPTIONS))
    if unknown:
        raise StepInputError(
            f"{where}: unknown option(s) {unknown} for publish_to_hf_hub. Options passed on "
            f"to the commit: {', '.join(COMMIT_OPTIONS)}; for the card: {', '.join(CARD_OPTIONS)}."
        )
    return dict(options)


def _api(token: str | None) -> Any:
    from huggingface_hub import HfApi, constants

    if constants.is_offline_mode():
        raise PublishError(
            "Publishing needs the Hugging Face Hub, but offline mode is on (HF_HUB_OFFLINE or "
            "TRANSFORMERS_OFFLINE is set). Unset it in the environment before starting Python."
        )
    return HfApi(token=token)


def _full_repo_id(api: Any, repo_id: str) -> str:
    """``namespace/name``: a bare name goes to the token's user, as DataDreamer does."""
    if "/" in repo_id:
        return repo_id
    return f"{api.whoami()['name']}/{repo_id}"


def _operations(api: Any, folder: Path, repo_id: str, repo_type: str, revision: str | None, managed: tuple[str, ...]) -> list[Any]:  # fmt: skip
    """Additions for every file of ``folder``; deletions of remote files under ``managed``
    prefixes that the folder does not have."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    ops: list[Any] = [
        CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(folder / rel)) for rel in local
    ]
    if managed:
        remote = api.list_repo_files(repo_id, repo_type=repo_type, revision=revision)
        stale = [f for f in remote if f.startswith(managed) and f not in set(local)]
        ops += [CommitOperationDelete(path_in_repo=f) for f in sorted(stale)]
    return ops


def publish_folder(
    folder: str | Path,
    repo_id: str,
    *,
    repo_type: str,
    branch: str | None = None,
    private: bool = False,
    token: str | None = None,
    managed: tuple[str, ...] = (),
    commit_message: str = "Pushed by dreamer_lab",
    **commit_options: Any,
) -> str:
    """Commit ``folder`` to ``repo_id`` (created if missing, ``private`` then) on ``branch``
    (created from the default branch if missing); returns the repository's URL.

    ``private`` applies when the repository is created; an existing repository keeps its
    visibility. Hub errors become :class:`~dreamer_lab.errors.PublishError` naming the
    repository, with any secret removed from the message.
    """
    from huggingface_hub.errors import HfHubHTTPError

    api = _api(token)
    try:
        repo_id = _full_repo_id(api, repo_id)
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        if branch:
            api.create_branch(repo_id, branch=branch, repo_type=repo_type, exist_ok=True)
        ops = _operations(api, Path(folder), repo_id, repo_type, branch, managed)
        api.create_commit(
            repo_id,
            ops,
            commit_message=commit_message,
            repo_type=repo_type,
            revision=branch,
            **commit_options,
        )
    except (HfHubHTTPError, ValueError) as e:
        raise PublishError(_failure(e, repo_id, repo_type)) from None
    return f"{url}/tree/{quote(branch, safe='')}" if branch else str(url)


def _failure(e: Exception, repo_id: str, repo_type: str) -> str:
    """What went wrong and what to do: the Hub's message, secrets removed."""
    status = getattr(getattr(e, "response", None), "status_code", None)
    hint = {
        401: "The token was refused: pass token=... or log in (`hf auth login`).",
        403: "The token may not write to this namespace: use a write token, or your own.",
        404: "The repository or branch was not found for this token.",
    }.get(status or 0, "")
    if isinstance(e, ValueError) and not status:
        hint = "The Hub refused the files; if it names README.md, please report it."
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    first = " ".join(lines)[:600] or type(e).__name__
    return (
        f"Publishing to the Hub {repo_type} repository {repo_id!r} failed: "
        f"{scrub_text(first)}. {hint}"
    ).rstrip()
