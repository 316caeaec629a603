"""Shared fixtures: an isolated workspace per test, offline Hugging Face libraries."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _signing_key(tmp_path_factory, monkeypatch):
    """Each test session signs with its own key, never the user's."""
    key_dir = tmp_path_factory.getbasetemp() / "signing"
    monkeypatch.setenv("DREAMER_LAB_SIGNING_KEY_FILE", str(key_dir / "signing.key"))


@pytest.fixture(autouse=True, scope="session")
def _remote_cache(tmp_path_factory):
    """Object-storage workspaces cache under the session's temp folder, never ~/.cache (and
    servers started by module fixtures, created after this, list only those)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DREAMER_LAB_REMOTE_CACHE", str(tmp_path_factory.mktemp("remote_cache")))
        yield


@pytest.fixture(autouse=True)
def _no_session_left_open(request):
    """A test that leaves a DataDreamer session open would send the next tests' steps into
    its workspace: the stack of open sessions is put back, and the test fails, named."""
    from dreamer_lab.core import workspace as ws

    before = list(ws._stack)
    yield
    with ws._lock:
        after = list(ws._stack)
        ws._stack[:] = before
    if after != before:
        opened = [w for w in after if not any(w is b for b in before)]
        pytest.fail(
            f"{request.node.nodeid} left the open DataDreamer sessions changed (opened and not "
            f"closed: {opened}); close a session with `with DataDreamer(...):` or `.stop()` in "
            "a `finally`.",
            pytrace=False,
        )


@pytest.fixture
def workspace(tmp_path):
    """An open DataDreamer session in a fresh folder; yields the folder path."""
    from dreamer_lab import DataDreamer

    path = tmp_path / "ws"
    with DataDreamer(path):
        yield path
