"""The lease and the object-store operations it relies on, on stores that need no server:
``memory://`` (conditional writes under a lock in this process) and ``file://`` (``O_EXCL``
links and a file lock), plus an object-storage workspace on ``file://`` shared by two caches."""

from __future__ import annotations

import threading
import time
import uuid

import pytest


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path):
    from dreamer_lab.core.object_store import ObjectStore

    if request.param == "memory":
        return ObjectStore(f"memory://lease-tests/{uuid.uuid4().hex}")
    return ObjectStore(f"file://{tmp_path}/bucket")


def test_conditional_writes(store):
    v1 = store.put_new("a.json", b"one")
    assert v1 is not None
    assert store.put_new("a.json", b"two") is None  # exists: not overwritten
    assert store.get("a.json") == b"one"
    assert store.replace_if("a.json", b"three", "stale-version") is None
    v2 = store.replace_if("a.json", b"three", v1)
    assert v2 is not None and store.get("a.json") == b"three"
    assert store.get_versioned("a.json") == (b"three", v2)
    assert store.get("missing") is None and store.get_versioned("missing") is None


def test_one_holder_at_a_time_and_release_hands_over(store):
    from dreamer_lab.core.lease import Lease

    order: list[str] = []
    first = Lease(store, "leases/fp.json", ttl=30, poll=0.05)
    first.acquire()

    def second() -> None:
        with Lease(store, "leases/fp.json", ttl=30, poll=0.05):
            order.append("second")

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)
    order.append("first")  # the second is still waiting
    first.release()
    t.join(10)
    assert order == ["first", "second"]


def test_a_dead_holder_is_taken_over_after_ttl(store):
    from dreamer_lab.core.lease import Lease

    dead = Lease(store, "leases/fp.json", ttl=1.0, poll=0.05)
    dead.acquire()
    dead._stop.set()  # the holder stops renewing (a killed process) and never releases
    dead._thread.join()
    t0 = time.monotonic()
    with Lease(store, "leases/fp.json", ttl=1.0, poll=0.05) as taker:
        waited = time.monotonic() - t0
        assert taker.took_over_from == dead.holder
    assert 0.9 <= waited < 10


def test_a_renewing_holder_is_not_taken_over(store):
    from dreamer_lab.core.lease import Lease

    holder = Lease(store, "leases/fp.json", ttl=0.6, poll=0.05)
    holder.acquire()
    got = threading.Event()

    def waiter() -> None:
        with Lease(store, "leases/fp.json", ttl=0.6, poll=0.05):
            got.set()

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    assert not got.wait(2.0), "a live holder (renewing every ttl/3) was taken over"
    assert not holder.lost and holder.renewals >= 3
    holder.release()
    assert got.wait(10)
    t.join(10)


def test_file_url_workspace_shared_by_two_caches(tmp_path):
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource

    url = f"file://{tmp_path}/shared"
    fps = []
    for cache in ("a", "b"):
        with DataDreamer(url, cache_dir=tmp_path / cache):
            src = DataSource("numbers", {"x": [1, 2, 3]})
            out = src.map(lambda row: {"y": row["x"] * 3}, name="tripled")
            assert out.output["y"].to_list() == [3, 6, 9]
            assert out.cache_hit is (cache == "b")  # the second cache did no work
            fps.append(out.fingerprint)
    assert fps[0] == fps[1]
    assert (tmp_path / "shared" / "steps" / out.fingerprint / "record.json").is_file()


def test_a_cache_folder_belongs_to_one_url(tmp_path):
    from dreamer_lab import DataDreamer
    from dreamer_lab.errors import WorkspaceError

    with DataDreamer(f"file://{tmp_path}/one", cache_dir=tmp_path / "cache"):
        pass
    with pytest.raises(WorkspaceError, match="belongs to file://"):
        DataDreamer(f"file://{tmp_path}/two", cache_dir=tmp_path / "cache").start()


def test_dreamer_lab_workspace_may_name_a_url(tmp_path, monkeypatch):
    from dreamer_lab.core.workspace import current_workspace
    from dreamer_lab.steps import DataSource

    monkeypatch.setenv("DREAMER_LAB_WORKSPACE", f"file://{tmp_path}/bucket")
    monkeypatch.setenv("DREAMER_LAB_REMOTE_CACHE", str(tmp_path / "caches"))
    step = DataSource("numbers", {"x": [1, 2]})  # no DataDreamer block: the default workspace
    ws = current_workspace()
    assert ws.url == f"file://{tmp_path}/bucket" and ws.path.parent == tmp_path / "caches"
    assert (tmp_path / "bucket" / "steps" / step.fingerprint / "record.json").is_file()


def test_force_replaces_the_entry_in_the_bucket(tmp_path):
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource

    url = f"file://{tmp_path}/bucket"
    with DataDreamer(url, cache_dir=tmp_path / "a"):
        first = DataSource("numbers", {"x": [1, 2, 3]})
    record = tmp_path / "bucket" / "steps" / first.fingerprint / "record.json"
    old = record.read_bytes()
    with DataDreamer(url, cache_dir=tmp_path / "b"):
        again = DataSource("numbers", {"x": [1, 2, 3]}, force=True)
        assert not again.cache_hit
    assert record.read_bytes() != old  # the new commit, not the first one
    aside = list((tmp_path / "bucket" / "quarantine" / "steps").glob(f"{first.fingerprint}.*"))
    assert len(aside) == 1 and (aside[0] / "record.json").read_bytes() == old
    assert "force=True" in (aside[0] / "QUARANTINE_REASON.txt").read_text()
    # A new machine gets the new commit. (A cache that holds the old one keeps serving it:
    # caches are not re-checked on a hit, as entries are otherwise immutable.)
    with DataDreamer(url, cache_dir=tmp_path / "c"):
        assert DataSource("numbers", {"x": [1, 2, 3]}).cache_hit
    cached = tmp_path / "c" / "steps" / first.fingerprint / "record.json"
    assert cached.read_bytes() == record.read_bytes()
