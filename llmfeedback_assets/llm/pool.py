"""A pool of worker coroutines that grows with the in-flight window.

Workers, not one task per request, keep memory flat at 100k requests: each worker takes the next request
from a shared queue. How many are needed follows the window (a request sleeping in backoff or a pause
holds a worker but not a slot, so there are more workers than slots), and the window grows as latency is
measured; the pool is topped up on a short tick, and never shrinks (workers end when the queue is empty).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

TOP_UP_S = 0.1


async def run_pool(worker: Callable[[], Awaitable[None]], target: Callable[[], int],
                   pending: Callable[[], int]) -> None:
    """Run `worker()` coroutines until all have ended, keeping `target()` of them while `pending()`
    requests wait (never more new ones than that); the first error cancels the rest and is raised."""
    running: set[asyncio.Task] = set()
    errors: list[BaseException] = []
    changed = asyncio.Event()

    def ended(task: asyncio.Task) -> None:
        running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            errors.append(task.exception())
        changed.set()

    def top_up() -> None:
        for _ in range(min(target() - len(running), pending())):
            task = asyncio.ensure_future(worker())
            running.add(task)
            task.add_done_callback(ended)

    try:
        top_up()
        while running and not errors:
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), TOP_UP_S)
            if not errors:
                top_up()
    finally:
        for task in list(running):
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
    if errors:
        raise errors[0]
