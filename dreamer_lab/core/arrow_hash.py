"""Fingerprints of in-memory data: pyarrow, HF datasets, pandas and numpy, by content.

Part of :mod:`dreamer_lab.core.fingerprint` (which calls :func:`feed_data` for every
value it does not hash itself). Arrow data is read from its buffers, never pickled:
slicing, chunking, values under nulls and bytes past an array's end do not count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import xxhash

if TYPE_CHECKING:
    from dreamer_lab.core.fingerprint import Hasher


def feed_data(value: Any, h: Hasher, label: str) -> bool:  # noqa: C901
    """Tabular and array data (pyarrow, HF datasets, pandas, numpy) into ``h`` by content;
    False for other values."""
    from dreamer_lab.core.fingerprint import UnhashableValueError, _jsonable_config

    upd = h.update
    t = type(value)
    mod = t.__module__.split(".")[0]
    if mod == "pyarrow":
        _feed_arrow(value, h, label)
        return True
    if mod == "datasets" and hasattr(value, "data") and hasattr(value, "features"):
        upd(b"hf-dataset")
        h.feed(_jsonable_config(value.features.to_dict()), f"the features of {label}")
        table = value.data.table
        indices = getattr(value, "_indices", None)
        if indices is not None:  # after select/shuffle/filter: the rows it maps to
            table = table.take(indices.column(0))
        _feed_arrow(table, h, label)
        return True
    if mod == "datasets" and hasattr(value, "items") and hasattr(value, "num_rows"):
        upd(b"hf-datasetdict")
        for k in sorted(value):
            upd(k.encode())
            h.feed(value[k], f"{label}[{k!r}]")
        return True
    if mod == "pandas" and hasattr(value, "to_numpy"):
        import pyarrow as pa

        upd(b"pandas", t.__name__.encode())
        if t.__name__ not in ("DataFrame", "Series"):
            h.feed(list(value), label)
            return True
        frame = value if t.__name__ == "DataFrame" else value.to_frame()
        try:
            table = pa.Table.from_pandas(frame, preserve_index=True)
        except (pa.ArrowException, TypeError, ValueError) as e:
            raise UnhashableValueError(
                f"Cannot fingerprint {label}: this pandas {t.__name__} does not convert to "
                f"Arrow ({type(e).__name__}: {str(e)[:200]}). Give each column one type "
                "(e.g. df[col].astype(str))."
            ) from None
        _feed_arrow(table, h, label)
        return True
    if mod == "numpy" and hasattr(value, "dtype") and hasattr(value, "tobytes"):
        import numpy as np

        arr = np.ascontiguousarray(value)
        if arr.dtype == object:
            upd(b"np-object", repr(arr.shape).encode())
            h.feed(arr.tolist(), label)
            return True
        upd(b"ndarray", arr.dtype.str.encode(), repr(arr.shape).encode())
        upd(memoryview(arr).cast("B"))
        return True
    return False


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
    from dreamer_lab.core.fingerprint import UnhashableValueError

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

    def add(self, arr: Any) -> None:
        import numpy as np
        import pyarrow as pa

        types = pa.types
        arr = _decoded(arr)
        t = arr.type
        n = len(arr)
        start = self.n
        self.n += n
        if n == 0 or types.is_null(t):
            return
        if types.is_union(t):
            from dreamer_lab.core.fingerprint import hash_value

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
            self._add_fixed_width(bufs, off, n, _byte_width(t), valid)
        elif types.is_string(t) or types.is_binary(t):
            self._add_varwidth(bufs, off, n, np.int32, valid)
        elif types.is_large_string(t) or types.is_large_binary(t):
            self._add_varwidth(bufs, off, n, np.int64, valid)
        else:
            self._add_nested(arr, bufs, off, n, valid)

    def _add_fixed_width(self, bufs: list[Any], off: int, n: int, w: int, valid: Any) -> None:
        """Values of ``w`` bytes each, zeroed under null slots."""
        import numpy as np

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

    def _add_nested(self, arr: Any, bufs: list[Any], off: int, n: int, valid: Any) -> None:
        """Lists, maps, list views and structs: their offsets here, their values as children."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        types = pa.types
        t = arr.type
        if types.is_list(t) or types.is_large_list(t) or types.is_map(t):
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
            from dreamer_lab.core.fingerprint import UnhashableValueError

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


def _decoded(arr: Any) -> Any:
    """Encodings of other values (dictionary, run-end, extension, views): the values they
    stand for."""
    import pyarrow as pa
    import pyarrow.compute as pc

    types = pa.types
    while True:
        t = arr.type
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
            return arr


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
