"""Contamination check: rows of an evaluation set that appear in the workspace's synthetic data.

Texts are normalized (Unicode NFKC, case-folded, punctuation removed, whitespace collapsed).
Exact matches compare normalized texts; near-exact matches compare sets of (UTF-8 byte)
n-grams (shingles) by Jaccard similarity. Candidates are found with MinHash signatures and
locality-sensitive hashing (bands), then confirmed with the exact Jaccard of the shingle
sets, so a reported similarity is never an estimate.
"""

from __future__ import annotations

import html
import os
import re
import sys
import types
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import xxhash

from dreamer_lab.core.workspace import Workspace
from dreamer_lab.errors import StepInputError

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_PRIME = (1 << 61) - 1


def normalize(text: str) -> str:
    """Lower-cased, NFKC, punctuation-free, single-spaced text."""
    t = unicodedata.normalize("NFKC", str(text)).casefold()
    return " ".join(_PUNCT.sub(" ", t).split())


def shingles(norm: str, n: int) -> set[int]:
    """Hashes (32-bit) of the n-grams (of UTF-8 bytes) of a normalized text."""
    data = norm.encode("utf-8")  # n-grams of bytes: cheap, and the same for equal texts
    if len(data) <= n:
        return {xxhash.xxh32_intdigest(data)} if data else set()
    return {xxhash.xxh32_intdigest(data[i : i + n]) for i in range(len(data) - n + 1)}


@dataclass
class ContaminationReport:
    """Matches between evaluation rows and synthetic rows.

    ``matches``: one dict per (evaluation row, synthetic row) pair with ``eval_index``,
    ``eval_text``, ``step``, ``fingerprint``, ``column``, ``row``, ``text``, ``match``
    (``exact`` or ``near``) and ``similarity`` (Jaccard of character n-grams).
    """

    eval_rows: int
    scanned_steps: list[dict[str, Any]]
    scanned_rows: int
    threshold: float
    ngram: int
    matches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def contaminated_rows(self) -> list[int]:
        """Indices of evaluation rows with at least one match."""
        return sorted({m["eval_index"] for m in self.matches})

    @property
    def rate(self) -> float:
        return len(self.contaminated_rows) / self.eval_rows if self.eval_rows else 0.0

    def __len__(self) -> int:
        return len(self.contaminated_rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "eval_rows": self.eval_rows,
            "contaminated_rows": self.contaminated_rows,
            "rate": self.rate,
            "threshold": self.threshold,
            "ngram": self.ngram,
            "scanned_steps": self.scanned_steps,
            "scanned_rows": self.scanned_rows,
            "matches": self.matches,
        }

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.matches)

    def _repr_markdown_(self) -> str:
        def esc(s: Any) -> str:
            return html.escape(" ".join(str(s).split())[:120]).replace("|", "&#124;")

        lines = [
            f"**Contamination:** {len(self)} of {self.eval_rows} evaluation rows "
            f"({self.rate:.1%}) appear in {self.scanned_rows} synthetic rows of "
            f"{len(self.scanned_steps)} steps (Jaccard ≥ {self.threshold}).",
        ]
        if self.matches:
            lines += [
                "",
                "| eval row | match | similarity | step | row | text |",
                "|---|---|---|---|---|---|",
            ]
            for m in self.matches[:50]:
                lines.append(
                    f"| {m['eval_index']} | {m['match']} | {m['similarity']:.2f} | {esc(m['step'])} "
                    f"| {m['row']} | {esc(m['text'])} |"
                )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<ContaminationReport {len(self)}/{self.eval_rows} rows contaminated, "
            f"{len(self.matches)} matches>"
        )


def _eval_texts(eval_data: Any, columns: list[str] | None) -> tuple[list[str], set[str]]:
    """The evaluation texts (one per row, columns joined) and fingerprints to exclude."""
    exclude: set[str] = set()
    col = getattr(eval_data, "column_name", None)
    step = getattr(eval_data, "step", None)
    if col is not None and step is not None:  # an OutputColumn
        exclude.add(step.fingerprint)
        return [str(v) for v in eval_data], exclude
    if hasattr(eval_data, "output") and hasattr(eval_data, "fingerprint"):  # a Step
        exclude.add(eval_data.fingerprint)
        eval_data = eval_data.output.dataset
    if hasattr(eval_data, "column_names") and hasattr(eval_data, "num_rows"):  # datasets
        eval_data = eval_data.to_dict()
    if hasattr(eval_data, "to_dict") and hasattr(eval_data, "columns"):  # pandas
        eval_data = eval_data.to_dict(orient="list")
    if isinstance(eval_data, str):
        raise StepInputError(
            "contamination(): eval_data is a single string; pass a list of texts, a dict of "
            "columns, a list of rows, a datasets.Dataset, a DataFrame or a step column."
        )
    if isinstance(eval_data, dict):
        cols = columns or [k for k, v in eval_data.items() if v and isinstance(v[0], str)]
        missing = [c for c in cols if c not in eval_data]
        if missing:
            raise StepInputError(
                f"contamination(): columns {missing} are not in eval_data (it has "
                f"{list(eval_data)}). Pass columns=[...] with existing text columns."
            )
        if not cols:
            raise StepInputError(
                "contamination(): eval_data has no text columns; pass columns=[...]."
            )
        n = len(eval_data[cols[0]])
        return [" ".join(str(eval_data[c][i]) for c in cols) for i in range(n)], exclude
    if isinstance(eval_data, Iterable):
        rows = list(eval_data)
        if rows and isinstance(rows[0], dict):
            cols = columns or [k for k, v in rows[0].items() if isinstance(v, str)]
            return [" ".join(str(r.get(c, "")) for c in cols) for r in rows], exclude
        return [str(r) for r in rows], exclude
    raise StepInputError(
        f"contamination(): cannot read eval_data of type {type(eval_data).__name__}; pass a "
        "list of texts, a dict of columns, a datasets.Dataset, a DataFrame or a step column."
    )


def _synthetic_steps(
    ws: Workspace, steps: list[str] | None, include_all: bool
) -> list[dict[str, Any]]:
    """Records of the steps to scan: named ones, or those made by (or downstream of) a model."""
    from dreamer_lab.cards.upstream import DATA_SOURCE_KINDS

    records: dict[str, dict[str, Any]] = {}
    for fp in ws.steps.fingerprints():
        try:
            records[fp] = ws.steps.read_record(fp)
        except Exception:  # noqa: BLE001 - corrupt entries are verify's business
            continue
    if steps is not None:
        wanted = set(steps)
        chosen = [r for fp, r in records.items() if r.get("name") in wanted or fp in wanted]
        unknown = wanted - {r.get("name") for r in chosen} - {r["fingerprint"] for r in chosen}
        if unknown:
            raise StepInputError(
                f"contamination(): no step named {sorted(unknown)} in {str(ws.path)!r}. "
                "`dreamer-lab ls` lists the steps."
            )
        return chosen
    if include_all:
        return list(records.values())
    synthetic: dict[str, bool] = {}

    def is_syn(fp: str, depth: int = 0) -> bool:
        if fp in synthetic:
            return synthetic[fp]
        rec = records.get(fp)
        if rec is None or depth > 1000:
            return False
        synthetic[fp] = False  # cycle guard
        own = bool((rec.get("card") or {}).get("Model Name"))
        synthetic[fp] = own or any(is_syn(p, depth + 1) for p in rec.get("parents") or [])
        return synthetic[fp]

    return [r for fp, r in records.items() if is_syn(fp) and r.get("kind") not in DATA_SOURCE_KINDS]


def _texts_of(ws: Workspace, rec: dict[str, Any]) -> Iterator[tuple[str, int, str]]:
    """(column, row, text) for every string cell of a step's output."""
    entry = ws.steps.load(rec["fingerprint"], check_data=False)
    if entry is None or not entry.has_data:
        return
    ds = entry.dataset()
    text_cols = [c for c, t in (rec.get("features") or {}).items() if "string" in t]
    for c in text_cols:
        for i, v in enumerate(ds[c]):
            if isinstance(v, str):
                yield c, i, v
            elif isinstance(v, list):
                for item in v:
                    if isinstance(item, str):
                        yield c, i, item


class _MinHashIndex:
    """The evaluation rows, by normalized text (exact matches) and by MinHash LSH bands
    of their n-gram shingles (near matches)."""

    def __init__(self, texts: list[str], threshold: float, ngram: int, num_perm: int, bands: int):
        import numpy as np

        self.threshold, self.ngram, self.bands = threshold, ngram, bands
        norms = [normalize(t) for t in texts]
        self.exact: dict[str, list[int]] = {}
        for i, n in enumerate(norms):
            if n:
                self.exact.setdefault(n, []).append(i)
        rng = np.random.default_rng(0x5EED)
        self.a = rng.integers(1, 1 << 32, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint64)
        self.rows_per_band = num_perm // bands
        self.shingles = [shingles(n, ngram) for n in norms]
        self.buckets: dict[bytes, list[int]] = {}
        for i, sh in enumerate(self.shingles):
            if sh:
                for key in self.band_keys(sh):
                    self.buckets.setdefault(key, []).append(i)

    def band_keys(self, sh: set[int]) -> list[bytes]:
        import numpy as np

        x = np.fromiter(sh, dtype=np.uint64, count=len(sh))
        sig = ((np.outer(self.a, x) + self.b[:, None]) % _PRIME).min(axis=1)
        r = self.rows_per_band
        return [bytes([k]) + sig[k * r : (k + 1) * r].tobytes() for k in range(self.bands)]

    def matches(self, norm: str) -> dict[int, tuple[str, float]]:
        """Evaluation row -> ``("exact", 1.0)`` or ``("near", similarity)`` for ``norm``."""
        found: dict[int, tuple[str, float]] = {}
        for i in self.exact.get(norm, []):
            found[i] = ("exact", 1.0)
        sh = shingles(norm, self.ngram)
        candidates: set[int] = set()
        for key in self.band_keys(sh):
            candidates.update(self.buckets.get(key, ()))
        for i in candidates - found.keys():
            inter = len(sh & self.shingles[i])
            sim = inter / len(sh | self.shingles[i])
            if sim >= self.threshold:
                found[i] = ("near", sim)
        return found


def contamination(
    eval_data: Any,
    workspace: str | os.PathLike | Workspace | None = None,
    *,
    columns: list[str] | None = None,
    threshold: float = 0.8,
    ngram: int = 5,
    steps: list[str] | None = None,
    include_all: bool = False,
    num_perm: int = 64,
    bands: int = 16,
) -> ContaminationReport:
    """Report evaluation rows that appear, exactly or nearly, in the workspace's synthetic rows.

    Args:
        eval_data: a list of texts, a list of row dicts, a dict of columns, a
            ``datasets.Dataset``, a pandas DataFrame, a step, or a step column.
        workspace: the workspace to scan (default: the current one).
        columns: which text columns of ``eval_data`` form a row's text (default: all).
        threshold: minimum Jaccard similarity of n-grams for a near match.
        ngram: the n of the n-grams (of the UTF-8 bytes of the normalized text).
        steps: scan only these steps (names or fingerprints); by default every step that
            used a model or descends from one (data sources are user data, not synthetic).
        include_all: scan every step, data sources included.
    """
    from dreamer_lab.cards.upstream import as_workspace

    if not 0 < threshold <= 1:
        raise StepInputError(f"contamination(): threshold must be in (0, 1], got {threshold}.")
    if ngram < 1 or num_perm % bands:
        raise StepInputError(
            "contamination(): ngram must be >= 1 and num_perm a multiple of bands."
        )
    ws = as_workspace(workspace)
    texts, exclude = _eval_texts(eval_data, columns)
    index = _MinHashIndex(texts, threshold, ngram, num_perm, bands)
    recs = [r for r in _synthetic_steps(ws, steps, include_all) if r["fingerprint"] not in exclude]
    report = ContaminationReport(
        eval_rows=len(texts),
        scanned_steps=[{"name": r.get("name"), "fingerprint": r["fingerprint"]} for r in recs],
        scanned_rows=0,
        threshold=threshold,
        ngram=ngram,
    )
    seen: set[tuple[int, str, str, int]] = set()
    for rec in recs:
        for column, row, text in _texts_of(ws, rec):
            report.scanned_rows += 1
            norm = normalize(text)
            if not norm:
                continue
            found = index.matches(norm)
            for i, (kind, sim) in found.items():
                key = (i, rec["fingerprint"], column, row)
                if key in seen:
                    continue
                seen.add(key)
                report.matches.append(
                    {
                        "eval_index": i,
                        "eval_text": texts[i],
                        "step": rec.get("name"),
                        "fingerprint": rec["fingerprint"],
                        "column": column,
                        "row": row,
                        "text": text,
                        "match": kind,
                        "similarity": round(sim, 4),
                    }
                )
    report.matches.sort(
        key=lambda m: (m["eval_index"], -m["similarity"], m["step"] or "", m["row"])
    )
    return report


class _CallableModule(types.ModuleType):
    """``dreamer_lab.contamination(...)`` works even after ``import dreamer_lab.contamination``
    (which binds the package attribute to this module)."""

    def __call__(self, *args: Any, **kwargs: Any) -> ContaminationReport:
        return contamination(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
