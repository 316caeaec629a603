"""Signed joblib objects: a pickle is loaded only if this user's key signed it.

Unpickling runs code, so a workspace entry that someone else planted (or edited) must
never be loaded blindly. Every object file is stored with an HMAC-SHA256 of its bytes
under a per-user key kept outside the workspace (``~/.config/dreamer_lab/signing.key``,
mode 0600, or ``$DREAMER_LAB_SIGNING_KEY_FILE``).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
from pathlib import Path
from typing import Any

from filelock import FileLock

SIG_SUFFIX = ".sig"


class UntrustedObjectError(RuntimeError):
    """A stored object is unsigned or signed by another key; it was not loaded."""


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


def _sign(data: bytes) -> str:
    return hmac.new(signing_key(), data, hashlib.sha256).hexdigest()


def dump_signed(obj: Any, path: Path) -> None:
    """Write ``obj`` with joblib to ``path`` and its signature to ``path.sig``."""
    import joblib

    buf = io.BytesIO()
    joblib.dump(obj, buf)
    data = buf.getvalue()
    path.write_bytes(data)
    Path(str(path) + SIG_SUFFIX).write_text(_sign(data))


def load_signed(path: Path, *, trust: bool = False) -> Any:
    """Load an object written by :func:`dump_signed`, refusing unsigned or foreign files."""
    import joblib

    data = path.read_bytes()
    sig_file = Path(str(path) + SIG_SUFFIX)
    if not trust:
        if not sig_file.exists():
            raise UntrustedObjectError(
                f"Refusing to load {path}: it has no signature, so it was not written by "
                "dreamer_lab under your key (it may have been planted). Loading a pickle runs "
                "code. If you trust this workspace, open it with DataDreamer(path, trust=True)."
            )
        expected = _sign(data)
        if not hmac.compare_digest(expected, sig_file.read_text().strip()):
            raise UntrustedObjectError(
                f"Refusing to load {path}: its signature does not match your key (the file "
                "was modified, or another user wrote it). Loading a pickle runs code. If you "
                "trust this workspace, open it with DataDreamer(path, trust=True)."
            )
    return joblib.load(io.BytesIO(data))
