"""Deterministic fingerprints for step inputs.

One module owns the whole job of turning a Python value into a stable hash:

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

import ast
import dataclasses
import enum
import inspect
import math
import os
import struct
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

import xxhash

from dreamer_lab.core.secrets import is_secret_name

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


class UnhashableValueError(TypeError):
    """Raised when a value has no deterministic fingerprint."""


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
    hasher = Hasher()
    hasher.feed(value, label)
    return hasher.hexdigest()


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


# ---------------------------------------------------------------------------------------
# Where a module comes from decides whether its code is hashed (user code) or its
# name and version (installed libraries, standard library).
_LIB_PREFIXES = tuple(
    {
        os.path.realpath(p)
        for p in (
            sysconfig.get_paths().get("stdlib"),
            sysconfig.get_paths().get("platstdlib"),
            sysconfig.get_paths().get("purelib"),
            sysconfig.get_paths().get("platlib"),
            sys.prefix,
            sys.base_prefix,
        )
        if p
    }
)
_DREAMER_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def is_user_module(module: types.ModuleType | str | None) -> bool:
    """True for notebook cells and the user's own modules (their code is hashed)."""
    if module is None:
        return False
    if isinstance(module, str):
        if module == "__main__":
            return True
        module = sys.modules.get(module)
        if module is None:
            return False
    name = getattr(module, "__name__", "")
    if name == "__main__":
        return True
    if name == "dreamer_lab" or name.startswith("dreamer_lab."):
        return False
    file = getattr(module, "__file__", None)
    if not file:
        return False
    real = os.path.realpath(file)
    if real.startswith(_DREAMER_DIR + os.sep):
        return False
    return not any(real.startswith(prefix + os.sep) for prefix in _LIB_PREFIXES)


def _module_version(name: str) -> str:
    root = name.split(".")[0]
    mod = sys.modules.get(root)
    return str(getattr(mod, "__version__", ""))


def _normalized_source(obj: Any) -> str | None:
    """AST dump of an object's source: comments, blank lines and indentation do not count."""
    try:
        src = inspect.getsource(obj)
    except (OSError, TypeError):
        return None
    src = textwrap.dedent(src)
    try:
        tree = ast.parse(src)
    except SyntaxError:
        # A lambda inside a larger expression: its source line may not parse alone.
        return None
    for node in ast.walk(tree):
        # Docstrings are documentation, not behaviour.
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            # Dropped, not replaced: a function with and without a docstring is the same code.
            body[:] = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _code_names(code: types.CodeType) -> tuple[set[str], list[types.CodeType]]:
    """Global names read by a code object and its nested code objects."""
    names: set[str] = set()
    codes = [code]
    stack = [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                codes.append(const)
                stack.append(const)
    return names, codes


def _code_bytes(code: types.CodeType, h: Hasher) -> None:
    """Fallback when no source exists: bytecode and constants (no line numbers)."""
    h.update(b"code", code.co_code, str(code.co_argcount).encode())
    h.update(repr(code.co_names).encode(), repr(code.co_varnames).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_bytes(const, h)
        else:
            h.feed(const, "constant")


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

    def _feed_compound(self, value: Any, label: str) -> None:  # noqa: C901
        upd = self.update
        t = type(value)
        if isinstance(value, list | tuple):
            upd(b"list" if isinstance(value, list) else b"tuple", str(len(value)).encode())
            for i, v in enumerate(value):
                self.feed(v, f"{label}[{i}]")
            return
        if isinstance(value, dict):
            upd(b"dict", str(len(value)).encode())
            items = [(hash_value(k, label=f"key of {label}"), k, v) for k, v in value.items()]
            for kh, k, v in sorted(items, key=lambda x: x[0]):
                upd(kh.encode())
                self.feed(v, f"{label}[{k!r}]")
            return
        if isinstance(value, set | frozenset):
            upd(b"set", str(len(value)).encode())
            for hx in sorted(hash_value(v, label=f"element of {label}") for v in value):
                upd(hx.encode())
            return
        mod = t.__module__.split(".")[0]
        if mod == "pyarrow":
            _feed_arrow(value, self, label)
            return
        if mod == "datasets" and hasattr(value, "data") and hasattr(value, "features"):
            upd(b"hf-dataset")
            self.feed(_jsonable_config(value.features.to_dict()), f"the features of {label}")
            table = value.data.table
            indices = getattr(value, "_indices", None)
            if indices is not None:  # after select/shuffle/filter: the rows it maps to
                table = table.take(indices.column(0))
            _feed_arrow(table, self, label)
            return
        if mod == "datasets" and hasattr(value, "items") and hasattr(value, "num_rows"):
            upd(b"hf-datasetdict")
            for k in sorted(value):
                upd(k.encode())
                self.feed(value[k], f"{label}[{k!r}]")
            return
        if mod == "pandas" and hasattr(value, "to_numpy"):
            import pyarrow as pa

            upd(b"pandas", t.__name__.encode())
            if t.__name__ not in ("DataFrame", "Series"):
                self.feed(list(value), label)
                return
            frame = value if t.__name__ == "DataFrame" else value.to_frame()
            try:
                table = pa.Table.from_pandas(frame, preserve_index=True)
            except (pa.ArrowException, TypeError, ValueError) as e:
                raise UnhashableValueError(
                    f"Cannot fingerprint {label}: this pandas {t.__name__} does not convert to "
                    f"Arrow ({type(e).__name__}: {str(e)[:200]}). Give each column one type "
                    "(e.g. df[col].astype(str))."
                ) from None
            _feed_arrow(table, self, label)
            return
        if mod == "numpy" and hasattr(value, "dtype") and hasattr(value, "tobytes"):
            import numpy as np

            arr = np.ascontiguousarray(value)
            if arr.dtype == object:
                upd(b"np-object", repr(arr.shape).encode())
                self.feed(arr.tolist(), label)
                return
            upd(b"ndarray", arr.dtype.str.encode(), repr(arr.shape).encode())
            upd(memoryview(arr).cast("B"))
            return
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


def _feed_arrow(value: Any, h: Hasher, label: str) -> None:
    """Hash Arrow data by its logical content (see :class:`_ArrowColumn`)."""
    import pyarrow as pa

    if isinstance(value, pa.RecordBatch):
        value = pa.Table.from_batches([value])
    if isinstance(value, pa.Table):
        schema = value.schema.to_string(show_field_metadata=False, show_schema_metadata=False)
        h.update(b"arrow-table", schema.encode(), str(value.num_rows).encode())
        for name, col in zip(value.column_names, value.columns, strict=True):
            h.update(_column_digest(col.chunks, f"column {name!r} of {label}"))
        return
    if isinstance(value, pa.ChunkedArray):
        h.update(b"arrow-chunked", str(value.type).encode())
        h.update(_column_digest(value.chunks, label))
        return
    if isinstance(value, pa.Array):
        h.update(b"arrow-array", str(value.type).encode())
        h.update(_column_digest([value], label))
        return
    if isinstance(value, pa.Scalar):
        h.update(b"arrow-scalar", str(value.type).encode())
        h.update(_column_digest([pa.array([value], type=value.type)], label))
        return
    raise UnhashableValueError(
        f"Cannot fingerprint {label}: unsupported pyarrow type {type(value).__qualname__}."
    )


def _column_digest(chunks: list[Any], label: str) -> bytes:
    column = _ArrowColumn(label)
    for chunk in chunks:
        column.add(chunk)
    return column.digest()


class _ArrowColumn:
    """Hashes one Arrow column's logical content, chunk by chunk.

    Equal data hashes equal however it is laid out: chunk boundaries, slice offsets,
    bytes beyond an array's length, validity bits past its end and values under null
    slots do not count. Each node keeps separate streams (null positions, values,
    end offsets rebased to the column start, one node per child), so chunks simply
    append to them. Data is hashed from its buffers without a copy, except fixed-width
    values next to nulls (zeroed under them) and the rare strings or lists that are not
    empty under a null slot.
    Dictionary, run-end encoded, view and extension arrays hash as their decoded values
    (the column's type string still tells the encodings apart). Floats hash bitwise, so
    ``-0.0`` and ``0.0`` differ (``str()`` of them differs too).
    """

    __slots__ = ("label", "n", "nulls", "values", "ends", "base", "children")

    def __init__(self, label: str) -> None:
        self.label = label
        self.n = 0  # elements seen (nulls included)
        self.nulls = xxhash.xxh3_128()  # positions of null elements (int64)
        self.values = xxhash.xxh3_128()  # fixed-width values, or the bytes of strings
        self.ends = xxhash.xxh3_128()  # end offsets of strings/lists, from the column start
        self.base = 0  # bytes (or child elements) seen so far, to rebase offsets
        self.children: dict[int, _ArrowColumn] = {}

    def digest(self) -> bytes:
        if self.n == 0:
            return b"empty"
        h = xxhash.xxh3_128()
        for part in (str(self.n).encode(), self.nulls.digest(), self.values.digest()):
            h.update(part)
        h.update(self.ends.digest())
        h.update(str(self.base).encode())
        for i, child in sorted(self.children.items()):
            if child.n:
                h.update(f"child {i}".encode())
                h.update(child.digest())
        return h.digest()

    def child(self, i: int) -> _ArrowColumn:
        c = self.children.get(i)
        if c is None:
            c = self.children[i] = _ArrowColumn(f"{self.label} (child {i})")
        return c

    def add(self, arr: Any) -> None:  # noqa: C901
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        types = pa.types
        t = arr.type
        # Encodings of other values: hash the values they stand for.
        while True:
            if types.is_dictionary(t):
                arr = arr.dictionary_decode()
            elif types.is_run_end_encoded(t):
                arr = pc.run_end_decode(arr)
            elif isinstance(t, pa.ExtensionType):
                arr = arr.storage
            elif types.is_string_view(t):
                arr = arr.cast(pa.large_string())
            elif types.is_binary_view(t):
                arr = arr.cast(pa.large_binary())
            else:
                break
            t = arr.type
        n = len(arr)
        start = self.n
        self.n += n
        if n == 0 or types.is_null(t):
            return
        if types.is_union(t):
            # Rare: hash element by element (a union has no validity bitmap of its own).
            for i, v in enumerate(arr.to_pylist()):
                self.values.update(hash_value(v, label=f"{self.label}[{start + i}]").encode())
            return
        off = arr.offset
        bufs = arr.buffers()
        # Null slots: their positions count, what lies under them does not. Fixed-width
        # values under a null count as zeros, strings and lists under a null as empty,
        # children of a null struct as nulls, children of a null fixed-size list not at all.
        valid = _bits(bufs[0], off, n) if arr.null_count else None
        if valid is not None:
            positions = np.flatnonzero(~valid).astype("<i8", copy=False)
            positions += start
            self.nulls.update(positions)
        if types.is_boolean(t):
            bits = _bits(bufs[1], off, n)
            self.values.update(bits & valid if valid is not None else bits)
        elif t.num_fields == 0 and _byte_width(t):
            w = _byte_width(t)
            values: Any = memoryview(bufs[1])[off * w : (off + n) * w]
            if valid is not None:
                unit = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}.get(w)
                if unit is not None:
                    values = np.where(valid, np.frombuffer(values, dtype=unit), 0).astype(
                        unit, copy=False
                    )
                else:
                    values = np.frombuffer(values, dtype=np.uint8).reshape(n, w).copy()
                    values[~valid] = 0
            self.values.update(values)
        elif types.is_string(t) or types.is_binary(t):
            self._add_varwidth(bufs, off, n, np.int32, valid)
        elif types.is_large_string(t) or types.is_large_binary(t):
            self._add_varwidth(bufs, off, n, np.int64, valid)
        elif types.is_list(t) or types.is_large_list(t) or types.is_map(t):
            dtype = np.int64 if types.is_large_list(t) else np.int32
            offsets = np.frombuffer(bufs[1], dtype=dtype, count=off + n + 1)[off:]
            first, last = int(offsets[0]), int(offsets[-1])
            masked = _masked_offsets(offsets, valid)
            if masked is None:
                self.child(0).add(arr.values.slice(first, last - first))
                self._add_ends(offsets, first, last)
            else:  # non-empty lists under null slots
                self.child(0).add(arr.flatten())
                self._add_ends(masked, 0, int(masked[-1]))
        elif types.is_fixed_size_list(t):
            size = t.list_size
            if valid is None:
                self.child(0).add(arr.values.slice(off * size, n * size))
            else:
                self.child(0).add(arr.flatten())
        elif types.is_list_view(t) or types.is_large_list_view(t):
            lengths = pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False)
            dtype = np.int64 if types.is_large_list_view(t) else np.int32
            ends = np.concatenate([[0], np.cumsum(lengths)]).astype(dtype)
            self.child(0).add(arr.flatten())
            self._add_ends(ends, 0, int(ends[-1]))
        elif types.is_struct(t):
            children = arr.flatten() if valid is not None else None
            for i in range(t.num_fields):
                self.child(i).add(children[i] if children is not None else arr.field(i))
        else:
            raise UnhashableValueError(
                f"Cannot fingerprint {self.label}: Arrow type {t} is not supported. "
                "Cast it to a supported type first."
            )

    def _add_varwidth(self, bufs: list[Any], off: int, n: int, dtype: Any, valid: Any) -> None:
        import numpy as np

        offsets = np.frombuffer(bufs[1], dtype=dtype, count=off + n + 1)[off:]
        first, last = int(offsets[0]), int(offsets[-1])
        masked = _masked_offsets(offsets, valid)
        if masked is None:
            if last > first:
                self.values.update(memoryview(bufs[2])[first:last])
            self._add_ends(offsets, first, last)
            return
        # Bytes under null slots: keep only the valid values' bytes.
        data = np.frombuffer(bufs[2], dtype=np.uint8, count=last - first, offset=first)
        self.values.update(data[np.repeat(valid, np.diff(offsets))])
        self._add_ends(masked, 0, int(masked[-1]))

    def _add_ends(self, offsets: Any, first: int, last: int) -> None:
        """Hash end offsets as if this chunk continued the column (no copy when aligned)."""
        import numpy as np

        ends = offsets[1:]
        shift = self.base - first
        if shift:
            # Wrap-around arithmetic in the offsets' own width: any chunking of the same
            # column gives the same bytes, even past 2**31 bytes in total.
            ends = ends + np.array(shift, dtype=np.int64).astype(ends.dtype)
        self.ends.update(np.ascontiguousarray(ends))
        self.base += last - first


def _bits(buf: Any, off: int, n: int) -> Any:
    """Bits ``off .. off + n`` of an Arrow bitmap as a numpy bool array."""
    import numpy as np

    first, shift = divmod(off, 8)
    raw = np.frombuffer(buf, dtype=np.uint8, count=(shift + n + 7) // 8, offset=first)
    return np.unpackbits(raw, bitorder="little")[shift : shift + n].view(np.bool_)


def _masked_offsets(offsets: Any, valid: Any) -> Any:
    """Offsets from 0 with every null slot empty, or None when the null slots already are."""
    import numpy as np

    if valid is None:
        return None
    lengths = np.diff(offsets)
    if not lengths[~valid].any():
        return None
    lengths[~valid] = 0
    out = np.zeros(len(offsets), dtype=offsets.dtype)
    np.cumsum(lengths, out=out[1:])
    return out


def _byte_width(t: Any) -> int:
    """Bytes per value of a fixed-width Arrow type, 0 for other types."""
    try:
        bits = t.bit_width
    except ValueError:
        return 0
    return bits // 8 if bits % 8 == 0 else 0
