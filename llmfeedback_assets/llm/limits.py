"""Per-model limits: token buckets for requests, input and output tokens per minute, an in-flight window
sized by Little's law, and pauses.

Buckets start with a small burst (one second of capacity), not a full minute, so a cold start does not
trip a server's own short-window limiter. A request is charged an estimate before it is sent and the
charge is corrected from the usage the response reports.

The configured request rate is a ceiling, not a promise. What the request bucket actually allows comes from
`ratecontrol.RateControl`: a 429 with Retry-After pauses the whole model for that long and nothing else;
the rate is cut only when 429s follow the send rate, and recovers with time, within seconds. How many
requests may be in flight comes from `window.LatencyWindow` (allowed rate x measured latency, twice over),
with `max_concurrency` as its cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from ..config import ModelSpec
from .ratecontrol import MIN_RATE_PER_S, RateControl
from .window import LatencyWindow

BURST_SECONDS = 1.0
MAX_SLEEP_S = 0.25  # a waiting sender looks again at least this often (the rate recovers meanwhile)
WINDOW_POLL_S = 0.1  # ... and a sender waiting for the window (which grows with the in-flight ages)

__all__ = ["BURST_SECONDS", "MIN_RATE_PER_S", "ModelLimiter", "TokenBucket"]


def _now() -> float:
    return time.monotonic()  # looked up at each call, so tests can patch the clock


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
    """One attempt's charge: settle it from the reported usage. `seq` and `sent_at` identify the send."""

    def __init__(self, limiter: ModelLimiter, est_in: int, est_out: int, seq: int, sent_at: float):
        self.limiter, self.est_in, self.est_out = limiter, est_in, est_out
        self.seq, self.sent_at = seq, sent_at

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
        self.control = RateControl(self.ceiling, clock=_now)
        self.requests = TokenBucket(rpm)
        self.input = TokenBucket(itpm)
        self.output = TokenBucket(otpm)
        self.window = LatencyWindow(concurrency, BURST_SECONDS)
        self.lock = asyncio.Lock()
        self._freed = asyncio.Event()
        self.paused_until = 0.0
        self.avg_out = max(1.0, max_tokens / 4)
        self.avg_in: float | None = None

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ModelLimiter:
        return cls(spec.requests_per_minute, spec.input_tokens_per_minute, spec.output_tokens_per_minute,
                   spec.max_concurrency, spec.max_tokens)

    def observe_output(self, n: int) -> None:
        self.avg_out = 0.9 * self.avg_out + 0.1 * n

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, _now() + seconds)

    def allowed_rate(self, now: float | None = None) -> float:
        """Requests per second the limits allow now: the request rate, and the token rates divided by the
        tokens a request carries."""
        now = _now() if now is None else now
        rate = self.control.rate(now)
        if self.avg_in:
            rate = min(rate, self.input.rate / self.avg_in)
        return min(rate, self.output.rate / max(1.0, self.avg_out))

    def window_size(self, now: float | None = None) -> int:
        now = _now() if now is None else now
        return self.window.size(self.allowed_rate(now), now)

    def _sync_rate(self, now: float) -> None:
        rate = self.control.rate(now)
        if rate != self.requests.rate:
            self.requests.set_rate(rate)

    def rate_limited(self, seq: int, wait_s: float | None, exhausted: bool = False) -> bool:
        """Send number `seq` was answered 429. An announced wait pauses every request to this model; the
        rate is cut only when the 429s follow the send rate (see ratecontrol). Returns whether it was cut.

        A cut also empties the request bucket, so the client does not answer the server's push-back with
        a fresh burst; a mere pause keeps it (the bucket refilling during the pause is what makes a pause
        cost almost nothing)."""
        if wait_s:
            self.pause(wait_s)
        cut = self.control.rate_limited(seq, exhausted)
        if cut:
            self._sync_rate(_now())
            self.requests.take(max(0.0, self.requests.level))
        return cut

    @contextlib.asynccontextmanager
    async def slot(self, est_in: int, max_tokens: int) -> AsyncIterator[_Charge]:
        """Wait for a place in the window and for capacity, charge the estimate, and yield the charge to
        settle from the usage. The attempt's duration feeds the window's latency average."""
        est_out = int(min(max_tokens, self.avg_out))
        self.avg_in = est_in if self.avg_in is None else 0.9 * self.avg_in + 0.1 * est_in
        async with self.lock:  # one waiter at a time keeps the order fair
            while True:
                now = _now()
                self._sync_rate(now)
                if self.window.inflight >= self.window.size(self.allowed_rate(now), now):
                    self._freed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._freed.wait(), WINDOW_POLL_S)
                    continue
                wait = max(self.paused_until - now, self.requests.wait_time(1),
                           self.input.wait_time(est_in), self.output.wait_time(est_out))
                if wait <= 0:
                    break
                await asyncio.sleep(min(wait, MAX_SLEEP_S))
            self.requests.take(1)
            self.input.take(est_in)
            self.output.take(est_out)
            ticket = self.window.open(now)
            seq = self.control.sent()
        try:
            yield _Charge(self, est_in, est_out, seq, now)
        except Exception:
            self._release(ticket, measured=True)  # a failed attempt held its slot too
            raise
        except BaseException:
            self._release(ticket, measured=False)  # cancelled: says nothing about the server
            raise
        else:
            self._release(ticket, measured=True)

    def _release(self, ticket: int, measured: bool) -> None:
        self.window.close(ticket, _now(), measured)
        self._freed.set()
