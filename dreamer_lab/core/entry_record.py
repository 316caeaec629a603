"""``record.json`` of a stored step (see :mod:`dreamer_lab.core.store`): its bytes, which
end with an xxh3 digest of everything above them, their validation, and the fsyncs that
make an entry durable before it is renamed into place."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import xxhash

from dreamer_lab.errors import CorruptEntryError

RECORD = "record.json"


RECORD_FORMAT = 2
_FORMAT_KEY = "record_format"
_DIGEST_KEY = "record_xxh3"
_DIGEST_TAIL = re.compile(rb'([0-9a-f]{32})"\n}\n\Z')
_DIGEST_LEAD = b',\n  "record_xxh3": "'
NO_RECORD_DIGEST = "record has no digest (written by an older version)"


# -- record.json ---------------------------------------------------------------------------
def dump_record(record: dict[str, Any]) -> bytes:
    """record.json's bytes: the record, then a last line holding the xxh3 of all bytes above it.

    ``record_format`` opens the file and ``record_xxh3`` closes it, so damage to either
    marker cannot pass the record off as one written before digests existed.
    """
    body = {k: v for k, v in record.items() if k not in (_FORMAT_KEY, _DIGEST_KEY)}
    text = json.dumps(body, indent=2, sort_keys=True, default=str)
    inner = text[1:-2] if body else ""  # the members, without the braces
    sep = "," if body else ""
    head = f'{{\n  "{_FORMAT_KEY}": {RECORD_FORMAT}{sep}{inner}'.encode() + _DIGEST_LEAD
    return head + xxhash.xxh3_128(head).hexdigest().encode() + b'"\n}\n'


def parse_record(raw: bytes, fingerprint: str) -> tuple[dict[str, Any], bool]:
    """Validate record.json's bytes: ``(record, has_digest)``; raises :class:`CorruptEntryError`.

    A record without either integrity marker is an older one (``has_digest`` False); one
    with either marker must carry a digest that matches every byte before it.
    """
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CorruptEntryError(f"unreadable record.json ({e})") from None
    if not isinstance(record, dict):
        raise CorruptEntryError("record.json is not a JSON object")
    has_digest = _FORMAT_KEY in record or _DIGEST_KEY in record
    if has_digest:
        m = _DIGEST_TAIL.search(raw)
        head = raw[: m.start()] if m else b""
        if (
            m is None
            or not head.endswith(_DIGEST_LEAD)
            or record.get(_FORMAT_KEY) != RECORD_FORMAT
            or xxhash.xxh3_128(head).hexdigest() != m.group(1).decode()
        ):
            raise CorruptEntryError(
                "record.json was edited or damaged (its digest does not match its content)"
            )
        record.pop(_FORMAT_KEY, None)
        record.pop(_DIGEST_KEY, None)
    if record.get("fingerprint") != fingerprint:
        raise CorruptEntryError("record.json names another fingerprint")
    return record, has_digest


def fsync_tree(path: Path) -> None:
    """fsync every file and folder under ``path`` (and ``path`` itself)."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(root))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
