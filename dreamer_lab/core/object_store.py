"""The object store under a workspace URL (``s3://bucket/prefix``, ``gs://``, ``az://``,
``memory://``, ``file://``): the few operations an object-storage workspace needs, on fsspec.

Every key is relative to the URL. Writes that must not overwrite use the store's conditional
writes where it has them: ``If-None-Match: *`` / ``If-Match: <etag>`` on S3 (s3fs passes them
to ``PutObject``), ``O_EXCL`` and a file lock on a local path, a lock in this process for
``memory://``. Other stores (gcs, azure through fsspec) get the same calls as read, compare,
write: correct for one writer at a time, advisory when several race (docs/scaling.md).

Credentials come from the store library's provider chain (environment variables,
``~/.aws``, instance roles ...) or ``storage_options``; their values are registered with
:mod:`dreamer_lab.core.secrets` so no message, record, card or report shows them, and this
module never writes them anywhere. fsspec and the store library are imported on first use.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import xxhash

from dreamer_lab.core.secrets import is_secret_name, register_secret, scrub_text
from dreamer_lab.errors import ObjectStoreError

DOWN_SECONDS = 30.0  # after a connection failure, operations fail fast for this long
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_CONDITIONAL_S3 = ("s3", "s3a")
_LOCAL = ("file", "local")
# storage_options names whose values are credentials, beyond the generic secret names.
_CREDENTIAL_OPTIONS = {
    "key",
    "secret",
    "token",
    "session_token",
    "aws_secret_access_key",
    "aws_session_token",
    "account_key",
    "sas_token",
    "connection_string",
    "client_secret",
    "password",
    "credentials",
}


def is_url(value: Any) -> bool:
    """Whether ``value`` names an object-storage workspace (``scheme://...``)."""
    return isinstance(value, str) and bool(_URL.match(value))


def normalize_url(url: str) -> str:
    """``url`` without a trailing slash; refuses credentials inside the URL."""
    m = _URL.match(url)
    if not m:
        raise ObjectStoreError(f"{url!r} is not an object-store URL (scheme://bucket/prefix).")
    rest = url[m.end() :]
    if "@" in rest.split("/", 1)[0] or "?" in rest or "#" in rest:
        raise ObjectStoreError(
            "The workspace URL carries credentials or options (user@, ?query); refused so they "
            "never reach a record or a log. Give credentials through the environment "
            "(AWS_ACCESS_KEY_ID, ...), the provider's config files, or "
            "DataDreamer(url, storage_options={...})."
        )
    if not rest.strip("/"):
        raise ObjectStoreError(f"{url!r} names no bucket; use e.g. s3://bucket/prefix.")
    return url.rstrip("/")


def register_credentials(options: Any, name: str = "") -> None:
    """Register every credential value inside ``storage_options`` as a secret."""
    if isinstance(options, dict):
        for k, v in options.items():
            register_credentials(v, str(k))
    elif isinstance(options, list | tuple):
        for v in options:
            register_credentials(v, name)
    elif isinstance(options, str) and options:
        low = name.lower()
        if low in _CREDENTIAL_OPTIONS or is_secret_name(low):
            register_secret(options)


def _precondition_failed(e: BaseException) -> bool:
    text = f"{type(e).__name__} {e}".lower()
    return isinstance(e, FileExistsError) or any(
        s in text for s in ("pre-condition", "precondition", "412", "conditionalrequestconflict")
    )


class ObjectStore:
    """The objects under one URL. Keys are ``/``-separated and relative to the URL."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.url = normalize_url(url)
        options = dict(storage_options or {})
        register_credentials(options)
        # fsspec reuses a filesystem per constructor arguments: one built for another endpoint
        # or credentials taken from the environment earlier in this process would be reused.
        options.setdefault("skip_instance_cache", True)
        self.scheme = _URL.match(self.url).group(1).lower()  # type: ignore[union-attr]
        try:
            from fsspec.core import url_to_fs

            self.fs, root = url_to_fs(self.url, **options)
        except ImportError as e:
            extra = {"s3": "remote", "s3a": "remote"}.get(self.scheme)
            hint = f"pip install 'dreamer-lab[{extra}]'" if extra else f"pip install {e.name}"
            raise ObjectStoreError(
                f"Cannot open {self.url}: {e}. Install the library for {self.scheme}:// ({hint})."
            ) from None
        except (ValueError, TypeError) as e:
            raise ObjectStoreError(
                f"Cannot open {self.url}: {scrub_text(str(e))}. Check storage_options."
            ) from None
        self.root = root.rstrip("/")
        self.s3 = self.scheme in _CONDITIONAL_S3
        self.local = self.scheme in _LOCAL
        self.native_conditional = self.s3 or self.local or self.scheme == "memory"
        self._cas = threading.Lock()
        self._down_until = 0.0
        self._down_reason = ""

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def where(self, key: str) -> str:
        """The URL of ``key``, for messages."""
        return f"{self.url}/{key}"

    def _up(self) -> None:
        """Fail fast while the store is known to be unreachable (each failed connection
        costs the client's retries, seconds; a workflow keeps working from its cache)."""
        if time.monotonic() < self._down_until:
            raise ObjectStoreError(
                f"{self.url} is unreachable ({self._down_reason}); not retried for "
                f"{self._down_until - time.monotonic():.0f} s more."
            )

    def _fail(self, what: str, key: str, e: BaseException) -> ObjectStoreError:
        names = " ".join(c.__name__ for c in type(e).__mro__)
        if (
            isinstance(e, ConnectionError | TimeoutError)
            or "Connect" in names
            or "Timeout" in names
        ):
            self._down_until = time.monotonic() + DOWN_SECONDS
            self._down_reason = f"{type(e).__name__} at {time.strftime('%H:%M:%S')}"
        return ObjectStoreError(
            f"Object store {what} failed for {self.where(key)}: {type(e).__name__}: "
            f"{scrub_text(str(e))}. Check that the bucket exists, the credentials (environment, "
            "~/.aws or storage_options) allow reading and writing it, and the endpoint is "
            "reachable."
        )

    # -- reads ---------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        self._up()
        try:
            return self.fs.cat_file(self.path(key))
        except FileNotFoundError:
            return None
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("read", key, e) from None

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        """The objects among ``keys`` that exist (fetched concurrently where fsspec can)."""
        self._up()
        if not keys:
            return {}
        paths = [self.path(k) for k in keys]
        try:
            got = self.fs.cat(paths, on_error="omit")
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("read", keys[0], e) from None
        if not isinstance(got, dict):  # a single path comes back as bytes
            got = {paths[0]: got}
        back = dict(zip(paths, keys, strict=True))
        out = {}
        for p, data in got.items():
            key = back.get(p) or back.get(p.lstrip("/"))
            if key is not None and isinstance(data, bytes):
                out[key] = data
        return out

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """``(bytes, version)``: the version is what :meth:`replace_if` compares."""
        self._up()
        if self.s3:
            try:
                self.fs.invalidate_cache(self.path(key))
                etag = self.fs.info(self.path(key))["ETag"]
            except FileNotFoundError:
                return None
            except Exception as e:  # noqa: BLE001 - any failure of the store library
                raise self._fail("read", key, e) from None
            data = self.get(key)
            return None if data is None else (data, etag)
        data = self.get(key)
        return None if data is None else (data, xxhash.xxh3_128(data).hexdigest())

    def exists(self, key: str) -> bool:
        self._up()
        try:
            self.fs.invalidate_cache(self.path(key))
            return bool(self.fs.exists(self.path(key)))
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("lookup", key, e) from None

    def list(self, prefix: str) -> list[str]:
        """Keys of the objects directly under ``prefix`` (a folder), sorted."""
        self._up()
        p = self.path(prefix)
        try:
            self.fs.invalidate_cache(p)
            names = self.fs.ls(p, detail=True)
        except FileNotFoundError:
            return []
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("list", prefix, e) from None
        out = []
        for info in names:
            if info.get("type") == "directory":
                continue
            name = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
            if name.startswith("."):  # a local write in progress (.name.part)
                continue
            out.append(f"{prefix}/{name}")
        return sorted(out)

    def glob(self, pattern: str) -> list[str]:
        """Keys matching ``pattern`` (``*`` within one segment)."""
        self._up()
        try:
            self.fs.invalidate_cache(self.root)
            found = self.fs.glob(self.path(pattern))
        except FileNotFoundError:
            return []
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("list", pattern, e) from None
        root = self.root.lstrip("/")
        out = []
        for p in found:
            p = str(p).lstrip("/")
            if p.startswith(root + "/"):
                out.append(p[len(root) + 1 :])
        return sorted(out)

    def get_file(self, key: str, local: Path) -> None:
        self._up()
        try:
            self.fs.get_file(self.path(key), str(local))
        except FileNotFoundError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("download", key, e) from None

    def get_files(self, pairs: list[tuple[str, Path]]) -> None:
        """Download ``(key, local path)`` pairs, concurrently where fsspec can.

        Raises FileNotFoundError naming the first key that is missing.
        """
        self._up()
        if not self.local and len(pairs) > 1:
            try:
                self.fs.get([self.path(k) for k, _ in pairs], [str(p) for _, p in pairs])
            except FileNotFoundError:
                pass  # find out which one below
            except Exception as e:  # noqa: BLE001 - any failure of the store library
                raise self._fail("download", pairs[0][0], e) from None
            else:
                return
        for key, local in pairs:
            try:
                self.get_file(key, local)
            except FileNotFoundError:
                raise FileNotFoundError(key) from None

    def put_files(self, pairs: list[tuple[Path, str]]) -> None:
        """Upload ``(local path, key)`` pairs, concurrently where fsspec can."""
        self._up()
        if self.local or len(pairs) < 2:
            for local, key in pairs:
                self.put_file(local, key)
            return
        try:
            self.fs.put([str(p) for p, _ in pairs], [self.path(k) for _, k in pairs])
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("upload", pairs[0][1], e) from None

    # -- writes --------------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> None:
        """Write (or overwrite) an object. On a local path the write is atomic."""
        self._up()
        try:
            if self.local:
                dst = Path(self.path(key))
                dst.parent.mkdir(parents=True, exist_ok=True)
                tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.part")
                tmp.write_bytes(data)
                os.replace(tmp, dst)
                return
            self.fs.pipe_file(self.path(key), data)
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("write", key, e) from None

    def put_file(self, local: Path, key: str) -> None:
        self._up()
        try:
            if self.local:
                self.put(key, Path(local).read_bytes())
                return
            self.fs.put_file(str(local), self.path(key))
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("upload", key, e) from None

    def put_new(self, key: str, data: bytes) -> str | None:
        """Create the object only if there is none: its version, or None if one exists."""
        self._up()
        p = self.path(key)
        try:
            if self.s3:
                try:
                    self.fs.pipe_file(p, data, IfNoneMatch="*")
                except OSError as e:
                    if _precondition_failed(e):
                        return None
                    raise
                self.fs.invalidate_cache(p)
                return self.fs.info(p)["ETag"]
            if self.local:
                dst = Path(p)
                dst.parent.mkdir(parents=True, exist_ok=True)
                tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.part")
                tmp.write_bytes(data)
                try:
                    os.link(tmp, dst)  # atomic, and fails when dst exists
                except FileExistsError:
                    return None
                finally:
                    tmp.unlink(missing_ok=True)
                return xxhash.xxh3_128(data).hexdigest()
            with self._cas:
                if self.native_conditional:
                    try:
                        with self.fs.open(p, "xb") as f:
                            f.write(data)
                    except FileExistsError:
                        return None
                else:  # read, compare, write: advisory where the store has no conditions
                    if self.fs.exists(p):
                        return None
                    self.fs.pipe_file(p, data)
            return xxhash.xxh3_128(data).hexdigest()
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("write", key, e) from None

    def replace_if(self, key: str, data: bytes, version: str) -> str | None:
        """Overwrite the object only if it is still at ``version``: the new version, or None."""
        self._up()
        p = self.path(key)
        try:
            if self.s3:
                try:
                    self.fs.pipe_file(p, data, IfMatch=version)
                except FileNotFoundError:
                    return None
                except OSError as e:
                    if _precondition_failed(e):
                        return None
                    raise
                self.fs.invalidate_cache(p)
                got = self.get_versioned(key)
                return got[1] if got is not None and got[0] == data else None
            lock: Any = self._cas
            if self.local:
                from filelock import FileLock

                Path(p).parent.mkdir(parents=True, exist_ok=True)
                lock = FileLock(p + ".lock")
            with lock:
                cur = self.get(key)
                if cur is None or xxhash.xxh3_128(cur).hexdigest() != version:
                    return None
                self.put(key, data)
            return xxhash.xxh3_128(data).hexdigest()
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("write", key, e) from None

    def delete(self, key: str) -> None:
        self._up()
        try:
            self.fs.rm_file(self.path(key))
        except FileNotFoundError:
            pass
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            if getattr(e, "errno", None) != errno.ENOENT:
                raise self._fail("delete", key, e) from None

    def delete_many(self, keys: list[str]) -> None:
        """Delete the objects ``keys`` (on S3 one request per 1000); missing ones are no error.

        S3 reports no per-key failure here: list afterwards to see what is left.
        """
        if not self.s3:
            for key in keys:
                self.delete(key)
            return
        self._up()
        if not keys:
            return
        try:
            self.fs.rm([self.path(k) for k in keys])
        except FileNotFoundError:
            pass
        except Exception as e:  # noqa: BLE001 - any failure of the store library
            raise self._fail("delete", keys[0], e) from None

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under ``prefix`` (best effort)."""
        with contextlib.suppress(Exception):
            self.fs.rm(self.path(prefix), recursive=True)
