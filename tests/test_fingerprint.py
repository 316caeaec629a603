"""Fingerprints: stable for equal inputs, sensitive to real changes, blind to cosmetics."""

from __future__ import annotations

import importlib
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fake_keys import fake_key
from IPython.core.interactiveshell import InteractiveShell

from dreamer_lab.core.fingerprint import UnhashableValueError, hash_file, hash_value


def test_plain_values_are_stable_and_distinct():
    assert hash_value({"a": 1, "b": [1, 2]}) == hash_value({"b": [1, 2], "a": 1})
    assert hash_value([1, 2]) != hash_value((1, 2))
    assert hash_value(1) != hash_value(1.0) != hash_value("1")
    assert hash_value(True) != hash_value(1)
    assert hash_value({1, 2, 3}) == hash_value({3, 2, 1})
    assert len(hash_value(None)) == 32


def test_arrow_pandas_numpy_hash_by_content():
    t1 = pa.table({"a": list(range(1000)), "b": [str(i) for i in range(1000)]})
    t2 = pa.table({"a": list(range(1000)), "b": [str(i) for i in range(1000)]})
    t3 = pa.table({"a": list(range(1000)), "b": [str(i) for i in range(999)] + ["x"]})
    assert hash_value(t1) == hash_value(t2) != hash_value(t3)
    # A slice hashes like the same rows built directly.
    assert hash_value(t1.slice(10, 5)) == hash_value(
        pa.table({"a": list(range(10, 15)), "b": [str(i) for i in range(10, 15)]})
    )
    df = pd.DataFrame({"a": [1, 2]})
    assert (
        hash_value(df)
        == hash_value(pd.DataFrame({"a": [1, 2]}))
        != hash_value(pd.DataFrame({"a": [1, 3]}))
    )
    assert hash_value(np.arange(5)) != hash_value(np.arange(5).astype("float64"))


def test_files_hash_by_content_not_mtime(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("hello")
    b.write_text("hello")
    assert hash_file(a) == hash_file(b)
    b.write_text("hello!")
    assert hash_file(a) != hash_file(b)


def test_unhashable_value_names_the_value():
    class Opaque:
        __slots__ = ()

    with pytest.raises(
        UnhashableValueError, match="argument 'thing'.*Opaque.*__dreamer_fingerprint__"
    ):
        hash_value(Opaque(), label="argument 'thing'")


def test_dreamer_fingerprint_hook():
    class Model:
        def __init__(self, name):
            self.name = name

        def __dreamer_fingerprint__(self):
            return f"model:{self.name}"

    assert hash_value(Model("a")) == hash_value(Model("a")) != hash_value(Model("b"))


@pytest.fixture
def shell():
    sh = InteractiveShell.instance()
    yield sh
    sh.reset()


def _fp(shell, name):
    return hash_value(shell.user_ns[name])


def test_notebook_function_comments_and_whitespace_do_not_count(shell):
    shell.run_cell("def f(row):\n    return {'y': row['x'] * 2}\n")
    before = _fp(shell, "f")
    shell.run_cell(
        "def f(row):\n    # doubled, as the paper does\n\n    return {'y':   row['x'] * 2}  # ok\n"
    )
    assert _fp(shell, "f") == before
    shell.run_cell("def f(row):\n    return {'y': row['x'] * 3}\n")
    assert _fp(shell, "f") != before


def test_globals_and_helpers_in_other_cells_count(shell):
    shell.run_cell("SCALE = 2")
    shell.run_cell("def helper(x):\n    return x * SCALE")
    shell.run_cell("def f(row):\n    return {'y': helper(row['x'])}")
    first = _fp(shell, "f")
    shell.run_cell("SCALE = 3")
    assert _fp(shell, "f") != first, "a global read by a helper changed"
    shell.run_cell("SCALE = 2")
    assert _fp(shell, "f") == first, "reverting finds the earlier fingerprint"
    shell.run_cell("def helper(x):\n    return x * SCALE + 1")
    assert _fp(shell, "f") != first, "a helper in another cell changed"


def test_closures_count():
    def make(k):
        return lambda x: x * k

    assert hash_value(make(2)) == hash_value(make(2)) != hash_value(make(3))


def test_user_module_helpers_are_hashed_by_code(tmp_path, monkeypatch):
    mod = tmp_path / "my_helpers.py"
    mod.write_text("def clean(s):\n    return s.strip()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_helpers

    def f(row):
        return {"t": my_helpers.clean(row["t"])}

    before_f, before_clean = hash_value(f), hash_value(my_helpers.clean)
    mod.write_text("def clean(s):\n    return s.strip().lower()\n")
    importlib.reload(my_helpers)
    assert hash_value(my_helpers.clean) != before_clean
    assert hash_value(f) != before_f, "editing a user module used through a module global is a miss"
    sys.modules.pop("my_helpers", None)


def test_secrets_never_enter_fingerprints(shell):
    shell.run_cell(
        f"OPENAI_API_KEY = {fake_key('a')!r}\ndef call(x):\n    return (OPENAI_API_KEY, x)"
    )
    a = _fp(shell, "call")
    shell.run_cell(f"OPENAI_API_KEY = {fake_key('b')!r}")
    assert _fp(shell, "call") == a


def test_library_functions_hash_by_name_and_version():
    import json

    assert hash_value(json.dumps) == hash_value(json.dumps) != hash_value(json.loads)


def test_class_instances_from_user_code(tmp_path, monkeypatch):
    src = textwrap.dedent(
        """
        class Scaler:
            def __init__(self, k):
                self.k = k
            def __call__(self, row):
                return {"y": row["x"] * self.k}
        """
    )
    (tmp_path / "scalers.py").write_text(src)
    monkeypatch.syspath_prepend(str(tmp_path))
    import scalers

    assert (
        hash_value(scalers.Scaler(2))
        == hash_value(scalers.Scaler(2))
        != hash_value(scalers.Scaler(3))
    )
    sys.modules.pop("scalers", None)


def test_mixed_type_dataframe_raises_naming_the_value():
    with pytest.raises(UnhashableValueError, match="argument 'df'.*pandas DataFrame.*column"):
        hash_value(pd.DataFrame({"a": [1, "x"]}), label="argument 'df'")
