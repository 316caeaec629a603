"""Arrow data hashes by its logical content, not by its buffers.

Seeded random cases (hypothesis is not a dependency): equal tables (``a.equals(b)``) hash
equal however they were built (slices, concatenations, re-chunking, arrays with garbage
under null slots and past their ends, pandas, datasets), and unequal tables hash differently.
"""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa
import pytest

from dreamer_lab.core.fingerprint import hash_value

CASES = 60

_LEAF_TYPES = [
    pa.int8(),
    pa.int32(),
    pa.int64(),
    pa.uint16(),
    pa.float64(),
    pa.float32(),
    pa.bool_(),
    pa.string(),
    pa.large_string(),
    pa.binary(),
    pa.large_binary(),
    pa.timestamp("ms"),
    pa.date32(),
    pa.binary(3),
]


def random_type(rng: random.Random, depth: int = 0) -> pa.DataType:
    if depth >= 2 or rng.random() < 0.55:
        return rng.choice(_LEAF_TYPES)
    kind = rng.choice(["list", "large_list", "struct", "fixed_list"])
    if kind == "list":
        return pa.list_(random_type(rng, depth + 1))
    if kind == "large_list":
        return pa.large_list(random_type(rng, depth + 1))
    if kind == "fixed_list":
        return pa.list_(random_type(rng, depth + 1), 2)
    return pa.struct([(f"f{i}", random_type(rng, depth + 1)) for i in range(rng.randint(1, 3))])


def random_value(t: pa.DataType, rng: random.Random, null_rate: float = 0.2) -> Any:
    if rng.random() < null_rate:
        return None
    if pa.types.is_boolean(t):
        return rng.random() < 0.5
    if pa.types.is_integer(t):
        bits = t.bit_width - (1 if pa.types.is_signed_integer(t) else 0)
        lo = -(2**bits) if pa.types.is_signed_integer(t) else 0
        return rng.randint(lo, 2**bits - 1)
    if pa.types.is_floating(t):
        return rng.choice([0.5, 1.25, -3.0, 1e9, rng.uniform(-1e3, 1e3)])
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return rng.randint(0, 20_000)
    if pa.types.is_fixed_size_binary(t):
        return bytes(rng.randrange(256) for _ in range(t.byte_width))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "".join(rng.choice("abcé漢 ") for _ in range(rng.randint(0, 6)))
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 5)))
    if pa.types.is_fixed_size_list(t):
        return [random_value(t.value_type, rng) for _ in range(t.list_size)]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return [random_value(t.value_type, rng) for _ in range(rng.randint(0, 3))]
    if pa.types.is_struct(t):
        return {t.field(i).name: random_value(t.field(i).type, rng) for i in range(t.num_fields)}
    raise AssertionError(t)


def _bitmap(bits: list[bool], rng: random.Random) -> pa.Buffer:
    """Bits LSB first; the bits past the end (and a spare byte) are random."""
    n_bytes = (len(bits) + 7) // 8 + 1
    out = bytearray(rng.randrange(256) for _ in range(n_bytes))
    for i, b in enumerate(bits):
        if b:
            out[i // 8] |= 1 << (i % 8)
        else:
            out[i // 8] &= ~(1 << (i % 8)) & 0xFF
    return pa.py_buffer(bytes(out))


def garbage_array(values: list[Any], t: pa.DataType, rng: random.Random) -> pa.Array:
    """An array equal to ``pa.array(values, t)`` built from buffers: a random offset,
    random slots before and after it, random values under null slots (strings and lists
    of non-zero length), random validity bits past its end, all the way down."""
    pad, tail = rng.randint(0, 3), rng.randint(0, 3)
    n = len(values)
    valid = [rng.random() < 0.5 for _ in range(pad)] + [v is not None for v in values]
    valid += [rng.random() < 0.5 for _ in range(tail)]
    under = [random_value(t, rng, null_rate=0) for _ in range(pad)]
    under += [v if v is not None else random_value(t, rng, null_rate=0) for v in values]
    under += [random_value(t, rng, null_rate=0) for _ in range(tail)]
    validity = _bitmap(valid, rng)
    if pa.types.is_struct(t):
        children = [
            garbage_array([u[t.field(i).name] for u in under], t.field(i).type, rng)
            for i in range(t.num_fields)
        ]
        return pa.Array.from_buffers(t, n, [validity], offset=pad, children=children)
    if pa.types.is_fixed_size_list(t):
        flat = [x for u in under for x in u]
        child = garbage_array(flat, t.value_type, rng)
        return pa.Array.from_buffers(t, n, [validity], offset=pad, children=[child])
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        flat = [x for u in under for x in u]
        child = garbage_array(flat, t.value_type, rng)
        offsets = [0]
        for u in under:
            offsets.append(offsets[-1] + len(u))
        width = pa.int64() if pa.types.is_large_list(t) else pa.int32()
        buf = pa.array(offsets, width).buffers()[1]
        return pa.Array.from_buffers(t, n, [validity, buf], offset=pad, children=[child])
    dense = pa.array(under, type=t)  # no nulls: every slot holds a (random) value
    return pa.Array.from_buffers(t, n, [validity, *dense.buffers()[1:]], offset=pad)


def random_columns(rng: random.Random, n_rows: int) -> tuple[dict[str, list], pa.Schema]:
    fields = [pa.field(f"c{i}", random_type(rng)) for i in range(rng.randint(1, 4))]
    cols = {f.name: [random_value(f.type, rng) for _ in range(n_rows)] for f in fields}
    return cols, pa.schema(fields)


def rechunk(table: pa.Table, rng: random.Random) -> pa.Table:
    cuts = sorted(rng.sample(range(table.num_rows + 1), min(3, table.num_rows + 1)))
    bounds = [0, *cuts, table.num_rows]
    pieces = [table.slice(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)]
    return pa.concat_tables(pieces)


def test_equal_tables_hash_equal_however_built():
    rng = random.Random(1234)
    for case in range(CASES):
        n = rng.randint(0, 12)
        cols, schema = random_columns(rng, n)
        base = pa.table(cols, schema=schema)
        h = hash_value(base)
        variants: dict[str, pa.Table] = {}
        # Slices at offset 0 and at an offset, inside a bigger table.
        extra = {
            k: [random_value(f.type, rng) for _ in range(5)]
            for k, f in zip(cols, schema, strict=True)
        }
        big = pa.table({k: cols[k] + extra[k] for k in cols}, schema=schema)
        variants["slice at row 0"] = big.slice(0, n)
        big2 = pa.table({k: extra[k] + cols[k] + extra[k] for k in cols}, schema=schema)
        variants["slice at row 5"] = big2.slice(5, n)
        variants["re-chunked"] = rechunk(base, rng)
        variants["re-chunked slices"] = rechunk(big2.slice(5, n), rng)
        variants["combined chunks"] = rechunk(base, rng).combine_chunks()
        variants["garbage under nulls"] = pa.table(
            {f.name: garbage_array(cols[f.name], f.type, rng) for f in schema}, schema=schema
        )
        variants["batches"] = pa.Table.from_batches(rechunk(base, rng).to_batches(), schema)
        for what, t in variants.items():
            assert t.equals(base), (case, what)
            assert hash_value(t) == h, f"case {case}: {what} of {schema} hashes differently"


def test_arrays_and_chunked_arrays_with_garbage():
    rng = random.Random(99)
    for case in range(CASES):
        t = random_type(rng)
        values = [random_value(t, rng, null_rate=0.4) for _ in range(rng.randint(0, 10))]
        plain = pa.array(values, type=t)
        built = garbage_array(values, t, rng)
        built.validate(full=True)
        assert built.equals(plain), case
        assert hash_value(built) == hash_value(plain), f"case {case}: {t}"
        chunked = pa.chunked_array([plain[: len(values) // 2], built[len(values) // 2 :]], type=t)
        assert hash_value(chunked) == hash_value(pa.chunked_array([plain], type=t)), case


def test_unequal_tables_hash_differently():
    rng = random.Random(7)
    checked = 0
    for _ in range(CASES):
        n = rng.randint(1, 10)
        cols, schema = random_columns(rng, n)
        base = pa.table(cols, schema=schema)
        name = rng.choice(schema.names)
        row = rng.randrange(n)
        changed = {k: list(v) for k, v in cols.items()}
        for _ in range(20):
            changed[name][row] = random_value(schema.field(name).type, rng)
            other = pa.table(changed, schema=schema)
            if not other.equals(base):
                assert hash_value(other) != hash_value(base), (name, row, cols[name], changed[name])
                checked += 1
                break
    assert checked > CASES // 2


def test_nulls_empties_order_and_types_count():
    s = pa.table({"a": ["x", None, "z"]})
    assert hash_value(s) != hash_value(pa.table({"a": ["x", "", "z"]}))
    assert hash_value(pa.table({"a": [[1], None]})) != hash_value(pa.table({"a": [[1], []]}))
    assert hash_value(pa.table({"a": [None, "x"]})) != hash_value(pa.table({"a": ["x", None]}))
    ab = pa.table({"a": [1, 2], "b": ["x", "y"]})
    assert hash_value(ab) != hash_value(ab.select(["b", "a"]))
    assert hash_value(pa.table({"a": pa.array([1, 2], pa.int32())})) != hash_value(
        pa.table({"a": pa.array([1, 2], pa.int64())})
    )
    assert hash_value(pa.table({"a": ["ab", "c"]})) != hash_value(pa.table({"a": ["a", "bc"]}))
    assert hash_value(pa.table({"a": [["ab"], ["c"]]})) != hash_value(
        pa.table({"a": [["ab", "c"], []]})
    )
    assert hash_value(pa.table({"a": [1, 2]})) != hash_value(pa.table({"b": [1, 2]}))


def test_slice_at_row_zero_ignores_the_rest_of_the_parent():
    parent = pa.table({"id": list(range(10_000)), "t": [f"row {i}" for i in range(10_000)]})
    head = pa.table({"id": list(range(10)), "t": [f"row {i}" for i in range(10)]})
    assert hash_value(parent.slice(0, 10)) == hash_value(head)
    assert hash_value(parent.slice(0, 10)) != hash_value(parent.slice(0, 11))
    assert hash_value(parent["t"].chunk(0).slice(0, 10)) == hash_value(head["t"].chunk(0))


def test_bits_past_the_end_and_values_under_nulls_do_not_count():
    values = pa.array([1, 2, 3], pa.int64())
    clean = pa.array([1, None, 3], pa.int64())
    dirty = pa.Array.from_buffers(
        pa.int64(), 3, [pa.py_buffer(bytes([0b11111101])), values.buffers()[1]], null_count=1
    )
    assert dirty.equals(clean)
    assert hash_value(dirty) == hash_value(clean)
    strings = pa.array(["a", "garbage", "c"])
    dirty_s = pa.Array.from_buffers(
        pa.string(), 3, [pa.py_buffer(bytes([0b11111101])), *strings.buffers()[1:]]
    )
    assert dirty_s.equals(pa.array(["a", None, "c"]))
    assert hash_value(dirty_s) == hash_value(pa.array(["a", None, "c"]))


def test_nested_lists_of_structs():
    rows = [
        [{"k": "a", "v": [1, 2]}, {"k": None, "v": None}],
        None,
        [],
        [{"k": "b", "v": []}],
    ]
    t = pa.list_(pa.struct([("k", pa.string()), ("v", pa.list_(pa.int32()))]))
    plain = pa.array(rows, t)
    parent = pa.array([*rows, *rows], t)
    assert hash_value(parent.slice(4, 4)) == hash_value(plain)
    assert hash_value(parent.slice(0, 4)) == hash_value(plain)
    assert hash_value(garbage_array(rows, t, random.Random(3))) == hash_value(plain)
    rows2 = [list(r) if r else r for r in rows]
    rows2[3] = [{"k": "b", "v": [0]}]
    assert hash_value(pa.array(rows2, t)) != hash_value(plain)


def test_dictionary_arrays_hash_their_values():
    d1 = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 0], pa.int32()), ["a", "b"])
    d2 = pa.DictionaryArray.from_arrays(
        pa.array([1, 0, None, 1], pa.int32()), pa.array(["b", "a", "zz"])
    )
    assert d1.to_pylist() == d2.to_pylist()
    # pyarrow calls these unequal (different dictionaries); their values are the same, so
    # they hash the same (a cache keyed on what a step reads).
    assert hash_value(d1) == hash_value(d2)
    assert hash_value(d1.slice(1, 2)) == hash_value(d2.slice(1, 2))
    # Re-chunked with a different dictionary per chunk.
    t1 = pa.table({"c": pa.chunked_array([d1])})
    t2 = pa.table({"c": pa.chunked_array([d2.slice(0, 1), d2.slice(1)])})
    assert hash_value(t1) == hash_value(t2)
    # A dictionary column is not its plain column (the types differ, as for .equals()).
    plain = pa.array(["a", "b", None, "a"])
    assert not d1.equals(plain)
    assert hash_value(d1) != hash_value(plain)
    d3 = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 1], pa.int32()), ["a", "b"])
    assert hash_value(d1) != hash_value(d3)


def test_tables_from_pandas_and_datasets():
    pd = pytest.importorskip("pandas")
    datasets = pytest.importorskip("datasets")
    cols = {"id": [3, 1, 2], "x": [0.5, None, 2.0], "ok": [True, False, True]}
    reference = pa.table(cols)
    via_pandas = pa.Table.from_pandas(pd.DataFrame(cols), preserve_index=False)
    via_datasets = datasets.Dataset.from_dict(cols).data.table
    for t in (via_pandas, via_datasets):
        assert t.equals(reference)
        assert hash_value(t) == hash_value(reference)
    # A Dataset with an indices mapping (select/shuffle) hashes the rows it maps to.
    ds = datasets.Dataset.from_dict(cols)
    picked = ds.select([2, 0])
    assert hash_value(picked) == hash_value(
        datasets.Dataset.from_dict({k: [v[2], v[0]] for k, v in cols.items()})
    )
    assert hash_value(picked) != hash_value(ds.select([0, 2]))
    shuffled = ds.select([1, 2, 0])
    assert hash_value(shuffled) != hash_value(ds)
    assert hash_value(shuffled) == hash_value(shuffled.flatten_indices())


def test_scalars():
    assert hash_value(pa.scalar(1)) == hash_value(pa.scalar(1)) != hash_value(pa.scalar(2))
    assert hash_value(pa.scalar("a")) != hash_value(pa.scalar(None, pa.string()))
