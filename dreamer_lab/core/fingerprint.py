"""Deterministic fingerprints for step inputs.

This module (with :mod:`.arrow_hash` for in-memory data and :mod:`.code_identity` for
code) owns the whole job of turning a Python value into a stable hash:

* plain values (None, bool, int, float, str, bytes, containers) by value;
* in-memory tabular data (pyarrow tables/arrays, HF datasets, pandas) by its logical
  content, read from the Arrow buffers (never by pickling): slicing, chunking, values
  under nulls and bytes past an array's end do not count; numpy from its buffer;
* files and folders by name and content (with an mtime/size shortcut for unchanged
  files), never by where they live (see :func:`folder_identity`);
* callables by their normalized code (comments and whitespace do not count), defaults,
  closures, the globals they read and the helpers they call, followed recursively into
  other notebook cells and the user's own modules (not by reference);
* steps and models through a ``__dreamer_fingerprint__()`` hook.

A value that cannot be hashed raises :class:`UnhashableValueError` naming the value;
there is never a random fallback. Secrets are excluded by :func:`is_secret_name` before
hashing (see :mod:`dreamer_lab.core.secrets`).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import struct
import sys
import types
import weakref
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

import xxhash

from dreamer_lab.core.arrow_hash import feed_data
from dreamer_lab.core.code_identity import (  # noqa: F401 - re-exported
    _DREAMER_DIR,
    _LIB_PREFIXES,
    _code_bytes,
    _code_names,
    _module_version,
    _normalized_source,
    is_user_module,
)
from dreamer_lab.core.secrets import is_secret_name
from dreamer_lab.errors import UnhashableValueError  # noqa: F401

__all__ = [
    "UnhashableValueError",
    "Hasher",
    "hash_value",
    "hash_file",
    "folder_identity",
    "portable_path",
    "combine",
    "register_hasher",
]

# Bump when the hashing rules change, so old entries miss instead of colliding.
FINGERPRINT_VERSION = "1"


_CUSTOM_HASHERS: list[tuple[Callable[[Any], bool], Callable[[Any, Hasher], None]]] = []


def register_hasher(predicate: Callable[[Any], bool], fn: Callable[[Any, Hasher], None]) -> None:
    """Teach the hasher a new type: ``fn(value, hasher)`` feeds ``hasher.update``."""
    _CUSTOM_HASHERS.insert(0, (predicate, fn))


def combine(*parts: str) -> str:
    """Fingerprint of an ordered sequence of fingerprints/strings."""
    h = xxhash.xxh3_128()
    for p in parts:
        b = p.encode()
        h.update(struct.pack("<Q", len(b)))
        h.update(b)
    return h.hexdigest()


def hash_value(value: Any, *, label: str = "value") -> str:
    """Return a 32-hex-digit fingerprint of ``value``.

    ``label`` names the value in error messages (e.g. ``"argument 'fn'"``).
    """
    if type(value).__name__ == "Table" and type(value).__module__.startswith("pyarrow"):
        return _table_digest(value, label)
    hasher = Hasher()
    hasher.feed(value, label)
    return hasher.hexdigest()


# Arrow tables are immutable: the same table object always has the same digest, so it is
# computed once per object while that object lives (e.g. a Dataset's fingerprint and then
# its step's input digest).
_TABLE_DIGESTS: dict[int, tuple[weakref.ref, str]] = {}


def _table_digest(table: Any, label: str) -> str:
    known = _TABLE_DIGESTS.get(id(table))
    if known is not None and known[0]() is table:
        return known[1]
    hasher = Hasher()
    hasher.feed(table, label)
    digest = hasher.hexdigest()
    key = id(table)
    _TABLE_DIGESTS[key] = (weakref.ref(table, lambda _r: _TABLE_DIGESTS.pop(key, None)), digest)
    return digest


def reuse_table_digest(source: Any, derived: Any) -> None:
    """Give ``derived`` the digest already computed for ``source`` when both hold the very
    same Arrow buffers (e.g. ``derived`` only replaced the schema metadata, which the digest
    leaves out): Arrow data is immutable, so the same buffers are the same content."""
    known = _TABLE_DIGESTS.get(id(source))
    if known is None or known[0]() is not source or not _same_buffers(source, derived):
        return
    key = id(derived)
    _TABLE_DIGESTS[key] = (weakref.ref(derived, lambda _r: _TABLE_DIGESTS.pop(key, None)), known[1])


def _same_buffers(a: Any, b: Any) -> bool:
    if a.num_rows != b.num_rows or not a.schema.remove_metadata().equals(
        b.schema.remove_metadata()
    ):
        return False

    def where(table: Any) -> list[tuple[int, int, int, int]]:
        return [
            (chunk.offset, len(chunk), buf.address, buf.size) if buf is not None else (0, 0, 0, 0)
            for col in table.columns
            for chunk in col.chunks
            for buf in chunk.buffers()
        ]

    return where(a) == where(b)


# ---------------------------------------------------------------------------------------
# Files: by content, with a (path, size, mtime_ns) -> digest shortcut per process.
_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def hash_file(path: str | os.PathLike) -> str:
    """Content digest of a file or a folder (files in sorted order, names included)."""
    p = Path(path)
    if p.is_dir():
        h = xxhash.xxh3_128()
        for child in sorted(c for c in p.rglob("*") if c.is_file()):
            rel = child.relative_to(p).as_posix().encode()
            h.update(struct.pack("<Q", len(rel)) + rel)
            h.update(hash_file(child).encode())
        return h.hexdigest()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"Cannot fingerprint {str(p)!r}: the file does not exist. Check the path."
        ) from None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    digest = _FILE_DIGESTS.get(key)
    if digest is None:
        h = xxhash.xxh3_128()
        with open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        digest = h.hexdigest()
        _FILE_DIGESTS[key] = digest
    return digest


def folder_identity(path: str | os.PathLike) -> dict[str, str]:
    """Identity of a local file or folder (a model, an adapter) that ignores where it lives.

    Inside a workspace entry (``models/<fp>/`` or ``steps/<fp>/``, content-addressed) it is
    that fingerprint and the path inside the entry; elsewhere the content digest
    (:func:`hash_file`). Never the absolute path.
    """
    from dreamer_lab.core.store import entry_fingerprint_for

    p = Path(path).expanduser()
    fp = entry_fingerprint_for(p)
    if fp is not None:
        resolved = p.resolve()
        entry = next(f for f in (resolved, *resolved.parents) if f.name == fp)
        return {"entry": fp, "path": resolved.relative_to(entry).as_posix()}
    return {"digest": hash_file(p)}


def portable_path(path: str | os.PathLike) -> str:
    """A path that does not exist (yet), written the same from any working folder: relative
    to the current folder when it is under it, else as given."""
    p = Path(path).expanduser()
    if p.is_absolute():
        try:
            return p.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return p.as_posix()
    return p.as_posix()


class Hasher:
    """Streaming, type-tagged hasher. ``feed`` accepts any supported value."""

    def __init__(self) -> None:
        self._h = xxhash.xxh3_128()
        self._h.update(FINGERPRINT_VERSION.encode())
        # id -> position for cycle detection; functions seen are hashed once.
        self._active: dict[int, int] = {}
        self._seen_funcs: dict[int, int] = {}

    def update(self, *chunks: bytes) -> None:
        for c in chunks:
            self._h.update(struct.pack("<Q", len(c)))
            self._h.update(c)

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    # -- dispatch -----------------------------------------------------------------------
    def feed(self, value: Any, label: str = "value") -> None:  # noqa: C901
        upd = self.update
        if value is None or value is Ellipsis:
            upd(b"none" if value is None else b"ellipsis")
            return
        t = type(value)
        if t is bool:
            upd(b"bool", b"1" if value else b"0")
            return
        if t is int:
            upd(b"int", str(value).encode())
            return
        if t is float:
            upd(b"float", b"nan" if math.isnan(value) else struct.pack("<d", value))
            return
        if t is str:
            upd(b"str", value.encode("utf-8", "surrogatepass"))
            return
        if t in (bytes, bytearray, memoryview):
            upd(b"bytes", bytes(value))
            return
        fp_hook = getattr(value, "__dreamer_fingerprint__", None)
        if fp_hook is not None and not isinstance(value, type):
            upd(b"fp", str(fp_hook()).encode())
            return
        for predicate, fn in _CUSTOM_HASHERS:
            if predicate(value):
                upd(b"custom", t.__qualname__.encode())
                fn(value, self)
                return
        if isinstance(value, enum.Enum):
            upd(b"enum", t.__module__.encode(), t.__qualname__.encode(), value.name.encode())
            return
        if isinstance(value, bool | int | float | str):  # subclasses (e.g. numpy scalars)
            self.feed(t.__mro__[1](value) if t.__mro__[1] is not object else str(value), label)
            return
        if isinstance(value, PurePath):
            # By name and content, never by where it lives: the same workflow run from
            # another folder gives the same fingerprint.
            if isinstance(value, Path) and value.exists():
                upd(b"path-content", value.name.encode())
                self.feed(folder_identity(value), label)
            else:
                upd(b"path", portable_path(value).encode())
            return
        key = id(value)
        if key in self._active:
            upd(b"cycle", str(self._active[key]).encode())
            return
        self._active[key] = len(self._active)
        try:
            self._feed_compound(value, label)
        finally:
            self._active.pop(key, None)

    def _feed_compound(self, value: Any, label: str) -> None:
        if not self._feed_container(value, label) and not feed_data(value, self, label):
            self._feed_object(value, label)

    def _feed_container(self, value: Any, label: str) -> bool:
        """Lists, tuples, dicts and sets, element by element; False for other values."""
        upd = self.update
        if isinstance(value, list | tuple):
            upd(b"list" if isinstance(value, list) else b"tuple", str(len(value)).encode())
            for i, v in enumerate(value):
                self.feed(v, f"{label}[{i}]")
            return True
        if isinstance(value, dict):
            upd(b"dict", str(len(value)).encode())
            items = [(hash_value(k, label=f"key of {label}"), k, v) for k, v in value.items()]
            for kh, k, v in sorted(items, key=lambda x: x[0]):
                upd(kh.encode())
                self.feed(v, f"{label}[{k!r}]")
            return True
        if isinstance(value, set | frozenset):
            upd(b"set", str(len(value)).encode())
            for hx in sorted(hash_value(v, label=f"element of {label}") for v in value):
                upd(hx.encode())
            return True
        return False

    def _feed_object(self, value: Any, label: str) -> None:  # noqa: C901
        """Code, modules, classes, dataclasses, configs and callable objects."""
        upd = self.update
        t = type(value)
        if isinstance(value, types.FunctionType | types.MethodType | functools_partial_type()):
            self._feed_callable(value, label)
            return
        if isinstance(value, types.BuiltinFunctionType):
            upd(b"builtin", str(value.__module__).encode(), value.__qualname__.encode())
            return
        if isinstance(value, types.ModuleType):
            self._feed_module(value)
            return
        if isinstance(value, type):
            self._feed_class(value, label)
            return
        if dataclasses.is_dataclass(value):
            upd(b"dataclass", t.__module__.encode(), t.__qualname__.encode())
            for f in dataclasses.fields(value):
                upd(f.name.encode())
                self.feed(getattr(value, f.name), f"{label}.{f.name}")
            return
        if t.__module__.startswith("peft") and hasattr(value, "to_dict"):
            upd(b"config", t.__qualname__.encode())
            self.feed(_jsonable_config(value.to_dict()), label)
            return
        if hasattr(value, "to_dict") and t.__name__.endswith("Config"):
            upd(b"config", t.__qualname__.encode())
            self.feed(_jsonable_config(value.to_dict()), label)
            return
        if callable(value) and is_user_module(t.__module__):
            # A callable instance of a user class: its class code and its state.
            upd(b"callable-obj")
            self._feed_class(t, label)
            self.feed(_instance_state(value, label), label)
            return
        raise UnhashableValueError(
            f"Cannot fingerprint {label} of type {t.__module__}.{t.__qualname__}. "
            "Pass plain values (str, numbers, lists, dicts), data (pyarrow, datasets, pandas, "
            "numpy), files, functions or steps; or give the object a "
            "`__dreamer_fingerprint__()` method that returns a stable string."
        )

    # -- code ---------------------------------------------------------------------------
    def _feed_callable(self, fn: Any, label: str) -> None:
        upd = self.update
        if isinstance(fn, functools_partial_type()):
            upd(b"partial")
            self.feed(fn.func, label)
            self.feed(list(fn.args), f"{label} args")
            self.feed(dict(fn.keywords), f"{label} keywords")
            return
        if isinstance(fn, types.MethodType):
            upd(b"method")
            self._feed_callable(fn.__func__, label)
            self_obj = fn.__self__
            if isinstance(self_obj, type):
                self._feed_class(self_obj, label)
            elif is_user_module(type(self_obj).__module__):
                self.feed(_instance_state(self_obj, label), f"{label}.__self__")
            else:
                upd(type(self_obj).__module__.encode(), type(self_obj).__qualname__.encode())
            return
        module = sys.modules.get(fn.__module__ or "")
        if not is_user_module(module) and fn.__module__ != "__main__":
            mod_name = fn.__module__ or ""
            upd(b"libfunc", mod_name.encode(), fn.__qualname__.encode())
            upd(_module_version(mod_name).encode())
            return
        key = id(fn)
        if key in self._seen_funcs:
            upd(b"seen-func", str(self._seen_funcs[key]).encode())
            return
        self._seen_funcs[key] = len(self._seen_funcs)
        upd(b"func", fn.__qualname__.encode())
        source = _normalized_source(fn)
        if source is not None and fn.__name__ != "<lambda>":
            upd(b"src", source.encode())
        else:
            _code_bytes(fn.__code__, self)
        self.feed(fn.__defaults__, f"defaults of {fn.__qualname__}")
        self.feed(fn.__kwdefaults__, f"keyword defaults of {fn.__qualname__}")
        if fn.__closure__:
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=False):
                upd(b"closure", name.encode())
                try:
                    contents = cell.cell_contents
                except ValueError:
                    upd(b"empty-cell")
                    continue
                self.feed(contents, f"variable {name!r} captured by {fn.__qualname__}")
        names, _ = _code_names(fn.__code__)
        g = fn.__globals__
        builtins = g.get("__builtins__", {})
        for name in sorted(names):
            if name in g:
                if is_secret_name(name):
                    upd(b"secret-global", name.encode())
                    continue
                upd(b"global", name.encode())
                self.feed(g[name], f"global {name!r} read by {fn.__qualname__}")
            elif name in (builtins if isinstance(builtins, dict) else vars(builtins)):
                upd(b"builtin-name", name.encode())
            # else: an attribute name (obj.attr); attributes are covered by their owner.

    def _feed_module(self, module: types.ModuleType) -> None:
        self.update(b"module", module.__name__.encode())
        if is_user_module(module):
            file = getattr(module, "__file__", None)
            if file and os.path.exists(file):
                self.update(hash_file(file).encode())
        else:
            self.update(_module_version(module.__name__).encode())

    def _feed_class(self, cls: type, label: str) -> None:
        self.update(b"class", cls.__module__.encode(), cls.__qualname__.encode())
        if is_user_module(cls.__module__):
            src = _normalized_source(cls)
            if src is not None:
                self.update(src.encode())
            for name, attr in sorted(vars(cls).items()):
                if isinstance(attr, types.FunctionType) and _normalized_source(cls) is None:
                    self._feed_callable(attr, f"{label}.{name}")
        else:
            self.update(_module_version(cls.__module__).encode())


def functools_partial_type() -> type:
    import functools

    return functools.partial


def _instance_state(obj: Any, label: str) -> Any:
    state = getattr(obj, "__dict__", None)
    if state is None:
        raise UnhashableValueError(
            f"Cannot fingerprint {label}: {type(obj).__qualname__} has no inspectable state. "
            "Add a `__dreamer_fingerprint__()` method."
        )
    return {k: v for k, v in state.items() if not is_secret_name(k)}


def _jsonable_config(d: dict) -> Any:
    def conv(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        if isinstance(v, list | tuple | set | frozenset):
            items = [conv(x) for x in v]
            return sorted(items, key=repr) if isinstance(v, set | frozenset) else items
        if isinstance(v, enum.Enum):
            return v.value
        if v is None or isinstance(v, bool | int | float | str):
            return v
        return repr(v)

    return conv(d)
