"""The plain-library baseline arm shared by the API benchmarks: ``openai.AsyncOpenAI`` under
an ``asyncio.Semaphore``, no cache, no retries unless asked."""

from __future__ import annotations

import asyncio
import time


def plain_chat_seconds(
    base_url: str, key: str, prompts: list[str], conc: int, *, max_retries: int = 0
) -> float:
    """Seconds to send one chat completion per prompt, at most ``conc`` in flight
    (``max_retries=2`` is the library's default, as a plain script gets it)."""
    import openai

    async def go() -> None:
        client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=max_retries)
        sem = asyncio.Semaphore(conc)

        async def one(prompt: str) -> None:
            async with sem:
                await client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=16,
                )

        await asyncio.gather(*(one(p) for p in prompts))
        await client.close()

    t = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - t
