"""Signed joblib objects: a pickle is loaded only if this user's key signed it, for this place.

Unpickling runs code, so a workspace entry that someone else planted (or edited) must
never be loaded blindly. Every object file is stored with an HMAC-SHA256 under a per-user
key kept outside the workspace (``~/.config/dreamer_lab/signing.key``, mode 0600, or
``$DREAMER_LAB_SIGNING_KEY_FILE``). The signed message is domain-separated and binds the
object to where it belongs: ``(entry fingerprint, object name, SHA-256 of the bytes)``, so a
validly signed object copied (with its ``.sig``) into another entry, or under another
name, is refused. Signature files read ``v2:<hex>``; older bare-hex signatures (over the
bytes alone, not bound to an entry) are refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
import struct
from pathlib import Path
from typing import Any

from filelock import FileLock

from dreamer_lab.errors import UntrustedObjectError  # noqa: F401

SIG_SUFFIX = ".sig"


def key_path() -> Path:
    env = os.environ.get("DREAMER_LAB_SIGNING_KEY_FILE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "dreamer_lab" / "signing.key"


def signing_key() -> bytes:
    """The per-user signing key, created on first use."""
    path = key_path()
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not path.exists():
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            os.replace(tmp, path)
    return bytes.fromhex(path.read_text().strip())


SIG_VERSION = "v2"
_DOMAIN = b"dreamer_lab signed object v2\x00"


def _message(data: bytes, entry: str, name: str) -> bytes:
    """The signed message: domain, then length-prefixed entry and name, then SHA-256(data)."""
    parts = [_DOMAIN]
    for field in (entry.encode(), name.encode()):
        parts += [struct.pack("<Q", len(field)), field]
    parts.append(hashlib.sha256(data).digest())
    return b"".join(parts)


def sign(data: bytes, *, entry: str = "", name: str = "") -> str:
    """The signature (``v2:<hex>``) of ``data`` as object ``name`` of entry ``entry``."""
    mac = hmac.new(signing_key(), _message(data, entry, name), hashlib.sha256).hexdigest()
    return f"{SIG_VERSION}:{mac}"


def check_signature(
    data: bytes, sig_file: Path, *, entry: str = "", name: str = "", shown: Path | None = None
) -> None:
    """Raise :class:`UntrustedObjectError` unless ``sig_file`` signs ``data`` for (entry, name)."""
    where = shown or sig_file.with_suffix("")
    fix = (
        "Loading a pickle runs code. If you trust this workspace, open it with "
        "DataDreamer(path, trust=True); otherwise recompute the step (force=True)."
    )
    try:
        sig = sig_file.read_text().strip()
    except FileNotFoundError:
        raise UntrustedObjectError(
            f"Refusing to load {where}: it has no signature, so it was not written by "
            f"dreamer_lab under your key (it may have been planted). {fix}"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise UntrustedObjectError(
            f"Refusing to load {where}: unreadable signature ({e}). {fix}"
        ) from e
    if not sig.startswith(SIG_VERSION + ":"):
        raise UntrustedObjectError(
            f"Refusing to load {where}: its signature is in an older format that does not bind "
            f"the object to its entry, so it may have been copied from elsewhere. {fix}"
        )
    if not hmac.compare_digest(sign(data, entry=entry, name=name), sig):
        raise UntrustedObjectError(
            f"Refusing to load {where}: its signature does not match your key for this entry "
            f"and name (the file was modified, copied from another entry or renamed, or "
            f"another user wrote it). {fix}"
        )


def dump_signed(obj: Any, path: Path, *, entry: str = "", name: str = "") -> None:
    """Write ``obj`` with joblib to ``path`` and its signature to ``path.sig``.

    ``entry`` and ``name`` (the entry's fingerprint and the object's name) are bound into
    the signature; :func:`load_signed` must be given the same ones.
    """
    import joblib

    buf = io.BytesIO()
    joblib.dump(obj, buf)
    data = buf.getvalue()
    path.write_bytes(data)
    Path(str(path) + SIG_SUFFIX).write_text(sign(data, entry=entry, name=name))


def load_signed(path: Path, *, trust: bool = False, entry: str = "", name: str = "") -> Any:
    """Load an object written by :func:`dump_signed`, refusing unsigned, foreign or moved files."""
    data = path.read_bytes()
    if not trust:
        check_signature(data, Path(str(path) + SIG_SUFFIX), entry=entry, name=name, shown=path)
    return load_bytes(data)


def load_bytes(data: bytes) -> Any:
    """Unpickle joblib bytes (only after their signature was checked, or under trust)."""
    import joblib

    return joblib.load(io.BytesIO(data))
