"""Fake API keys for the tests, made at run time.

They have the shape of real keys (``sk-`` and random characters) so the redaction
code must catch them, but no key-shaped text is committed to the repository.
"""

from __future__ import annotations

import secrets


def fake_key(label: str) -> str:
    """A fresh, never-valid key such as ``sk-test-<label>-<24 hex characters>``."""
    return f"sk-test-{label}-{secrets.token_hex(12)}"
