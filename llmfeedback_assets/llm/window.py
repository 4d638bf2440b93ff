"""How many requests one model may have in flight: Little's law on the measured latency.

Requests in flight = request rate x time each one takes. The rate is the lowest the limits allow (the
request bucket's current rate, and the token buckets' rates divided by the tokens a request carries); the
time is an average over recent attempts (every attempt holds its slot while it waits, 429s and timeouts
included). The window is twice that product, so latency swings and the burst after a pause do not starve
the buckets; the configured `max_concurrency` is only an upper cap.

Before answers come back the latency is unknown, so the window starts at the request bucket's burst and
follows the age of the requests in flight: twice the median age is the latency when it is constant, and a
lower bound on it while nothing has come back yet, so a 10 s model is sent at the full rate from the first
second instead of waiting ten seconds to learn. A slower server is noticed the same way, before its first
slow answer arrives.
"""

from __future__ import annotations

import itertools
import math

MARGIN = 2.0  # window = MARGIN x rate x latency
MIN_WINDOW = 2
LATENCY_ALPHA = 0.05  # weight of the newest attempt in the latency average
RECOMPUTE_S = 0.02  # the window is recomputed at most this often


class LatencyWindow:
    """Tracks the attempts in flight and their durations; `size(rate)` is the window."""

    def __init__(self, cap: int, burst_seconds: float = 1.0):
        self.cap = max(1, cap)
        self.burst_seconds = burst_seconds
        self.latency: float | None = None  # average seconds an attempt holds its slot
        self.samples = 0
        self._sent: dict[int, float] = {}  # ticket -> send time, in send order
        self._tickets = itertools.count()
        self._cached = (-math.inf, 0.0, 0)  # (when, rate, size)

    @property
    def inflight(self) -> int:
        return len(self._sent)

    def open(self, now: float) -> int:
        ticket = next(self._tickets)
        self._sent[ticket] = now
        return ticket

    def close(self, ticket: int, now: float, measured: bool = True) -> None:
        sent = self._sent.pop(ticket, None)
        if sent is None or not measured:
            return
        took = max(0.0, now - sent)
        old = took if self.latency is None else self.latency
        self.latency = (1 - LATENCY_ALPHA) * old + LATENCY_ALPHA * took
        self.samples += 1

    def median_age(self, now: float) -> float:
        n = len(self._sent)
        if n == 0:
            return 0.0
        sent = next(itertools.islice(self._sent.values(), n // 2, None))  # dicts keep send order
        return max(0.0, now - sent)

    def latency_estimate(self, now: float) -> float:
        return max(self.latency or 0.0, 2.0 * self.median_age(now))

    def size(self, rate_per_s: float, now: float) -> int:
        """The window for an allowed rate of `rate_per_s` requests per second."""
        when, rate, size = self._cached
        if 0 <= now - when < RECOMPUTE_S and abs(rate - rate_per_s) <= 0.01 * rate:
            return size
        want = MARGIN * rate_per_s * self.latency_estimate(now) + 1
        if self.samples == 0:
            want = max(want, rate_per_s * self.burst_seconds)  # the bucket's burst, before any answer
        size = int(min(self.cap, max(MIN_WINDOW, math.ceil(want))))
        self._cached = (now, rate_per_s, size)
        return size
