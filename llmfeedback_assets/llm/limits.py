"""Per-model limits: a concurrency cap and token buckets for requests, input and output tokens per minute.

Buckets start with a small burst (one second of capacity), not a full minute, so a cold start does not
trip a server's own short-window limiter. A request is charged an estimate before it is sent and the
charge is corrected from the usage the response reports.

The configured request rate is a ceiling, not a promise: the server's real limit may be lower (a shared
key, a lower tier, a stale config). On a 429 the whole model pauses for the announced wait and the request
rate halves; every answer raises it again by 5% up to the ceiling. So a correct config loses almost nothing
to a stray 429, and a wrong one converges on the server's real rate instead of releasing a thundering herd
after every pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from ..config import ModelSpec

BURST_SECONDS = 1.0
DECREASE = 0.5  # rate factor after a 429
INCREASE = 1.05  # rate factor after an answer
MIN_RATE_PER_S = 0.05  # never slower than one request every 20 s


class TokenBucket:
    def __init__(self, per_minute: float, burst_seconds: float = BURST_SECONDS):
        self.burst_seconds = burst_seconds
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, amount: float) -> float:
        """Seconds until `amount` can be taken (amounts above capacity wait for a full bucket)."""
        self._refill()
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float) -> None:
        self._refill()
        self.level -= amount  # may go negative: debt is repaid before the next request

    def give_back(self, amount: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level + amount)

    def set_rate(self, per_second: float) -> None:
        self._refill()
        self.rate = per_second
        self.capacity = max(1.0, per_second * self.burst_seconds)
        self.level = min(self.level, self.capacity)


class _Charge:
    def __init__(self, limiter: ModelLimiter, est_in: int, est_out: int):
        self.limiter, self.est_in, self.est_out = limiter, est_in, est_out

    def settle(self, actual_in: int, actual_out: int) -> None:
        lim = self.limiter
        if actual_in < self.est_in:
            lim.input.give_back(self.est_in - actual_in)
        else:
            lim.input.take(actual_in - self.est_in)
        if actual_out < self.est_out:
            lim.output.give_back(self.est_out - actual_out)
        else:
            lim.output.take(actual_out - self.est_out)
        if actual_out:
            lim.observe_output(actual_out)


class ModelLimiter:
    def __init__(self, rpm: float, itpm: float, otpm: float, concurrency: int, max_tokens: int):
        self.ceiling = rpm / 60.0
        self.requests = TokenBucket(rpm)
        self.input = TokenBucket(itpm)
        self.output = TokenBucket(otpm)
        self.sem = asyncio.Semaphore(concurrency)
        self.lock = asyncio.Lock()
        self.paused_until = 0.0
        self.last_decrease = float("-inf")
        self.avg_out = max(1.0, max_tokens / 4)

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ModelLimiter:
        return cls(spec.requests_per_minute, spec.input_tokens_per_minute, spec.output_tokens_per_minute,
                   spec.max_concurrency, spec.max_tokens)

    def observe_output(self, n: int) -> None:
        self.avg_out = 0.9 * self.avg_out + 0.1 * n

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def answered(self) -> None:
        """A request got through: creep back towards the configured rate."""
        if self.requests.rate < self.ceiling:
            self.requests.set_rate(min(self.ceiling, self.requests.rate * INCREASE))

    def rate_limited(self, wait_s: float, sent_at: float | None = None) -> None:
        """The server said 429: every request to this model waits, then restarts at half the rate.

        Only a request sent after the last decrease lowers the rate again: the 429s of one overload arrive
        together and must count once. Emptying the request bucket keeps the client from answering the pause
        with a fresh burst."""
        self.pause(wait_s)
        if sent_at is None or sent_at >= self.last_decrease:
            self.requests.set_rate(max(MIN_RATE_PER_S, self.requests.rate * DECREASE))
            self.last_decrease = time.monotonic()
        self.requests.take(max(0.0, self.requests.level))

    @contextlib.asynccontextmanager
    async def slot(self, est_in: int, max_tokens: int) -> AsyncIterator[_Charge]:
        """Wait for capacity, charge the estimate, and yield the charge to settle from the usage."""
        est_out = int(min(max_tokens, self.avg_out))
        async with self.sem:
            async with self.lock:  # one waiter at a time keeps the order fair
                while True:
                    wait = max(self.paused_until - time.monotonic(), self.requests.wait_time(1),
                               self.input.wait_time(est_in), self.output.wait_time(est_out))
                    if wait <= 0:
                        break
                    await asyncio.sleep(wait)
                self.requests.take(1)
                self.input.take(est_in)
                self.output.take(est_out)
            yield _Charge(self, est_in, est_out)
