"""An Arrow table is hashed once per object: the digest is reused only for the very same
immutable buffers, never for other data, and forgotten when the table is freed."""

from __future__ import annotations

import gc

import pyarrow as pa

from dreamer_lab.core import arrow_hash, fingerprint
from dreamer_lab.core.fingerprint import hash_value, reuse_table_digest


def _counting(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = arrow_hash._feed_arrow

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(arrow_hash, "_feed_arrow", counted)
    return calls


def test_same_table_is_read_once_and_gives_the_same_digest(monkeypatch):
    calls = _counting(monkeypatch)
    table = pa.table({"id": list(range(1000)), "text": [f"row {i}" for i in range(1000)]})
    first = hash_value(table)
    assert hash_value(table) == first and len(calls) == 1
    fingerprint._TABLE_DIGESTS.clear()
    assert hash_value(table) == first  # computed again from the buffers: the same


def test_reuse_only_for_the_same_buffers(monkeypatch):
    table = pa.table({"x": [1, 2, 3]})
    digest = hash_value(table)
    relabelled = table.replace_schema_metadata({b"k": b"v"})
    reuse_table_digest(table, relabelled)
    calls = _counting(monkeypatch)
    assert hash_value(relabelled) == digest and calls == []
    other = pa.table({"x": [1, 2, 4]})  # same schema and length, other data
    reuse_table_digest(table, other)
    assert hash_value(other) != digest and len(calls) == 1


def test_a_freed_table_is_forgotten():
    table = pa.table({"x": list(range(10))})
    hash_value(table)
    key = id(table)
    assert key in fingerprint._TABLE_DIGESTS
    del table
    gc.collect()
    assert key not in fingerprint._TABLE_DIGESTS
