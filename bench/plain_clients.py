"""The plain-library baseline arm shared by the API benchmarks: ``openai.AsyncOpenAI`` under
an ``asyncio.Semaphore``, no cache, no retries."""

from __future__ import annotations

import asyncio
import time


def plain_chat_seconds(base_url: str, key: str, prompts: list[str], conc: int) -> float:
    """Seconds to send one chat completion per prompt, at most ``conc`` in flight."""
    import openai

    async def go() -> None:
        client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)
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
