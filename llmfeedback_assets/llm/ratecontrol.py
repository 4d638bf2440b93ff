"""The request rate one model is sent at: the configured ceiling, cut only when 429s follow the send rate.

A 429 that announces a wait (Retry-After) is a pause: the whole model waits that long (limits.py) and the
rate stays where it is. Servers also answer 429 for reasons that have nothing to do with how fast we send
(an overloaded shard, a noisy neighbour); cutting the rate on each of those spirals down to nothing, while
the pause alone costs almost nothing because the request bucket refills during it.

The rate is cut (multiplicatively, once per overload: only requests sent after the last cut count) when
429s do follow the send rate, which shows in one of three ways:
- the server says so: a 429 without any Retry-After, or with a remaining-requests/tokens header at 0
  (`x-ratelimit-remaining-*` on OpenAI, `anthropic-ratelimit-*-remaining` on Anthropic);
- the share of 429s among the last sends is well above what background noise gives (more than 20% of at
  least 20 sends, five 429s or more; after a cut, 20 points above the share at the lower rate, counting
  at most 15 points of that as noise): at a send rate `r` over a server limit `N` it is `1 - N/r`;
- after a cut, the share rises with the rate: among the sends made while probing above the rate the
  server accepted, it is 10 points above the share among the sends made below it (three 429s or more).

A cut goes to 70% of the rate the server seems to accept (the measured send rate times the share of sends
not refused, which after a cold-start burst is much lower than the configured ceiling) and the rate then
recovers with time, not per answer: back to where the server pushed back with a time constant of one
second (95% in three), then probing above it, 25% more each second, up to the ceiling. A wrong cut costs
a few seconds; a real limit is found in a few cuts and held with a small sawtooth around it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

BETA = 0.7  # rate factor of a cut, relative to the rate the server accepted
RECOVER_S = 1.0  # time constant of the return to the rate where the server pushed back
PROBE_AFTER_S = 3.0  # then probe above it ...
PROBE_PER_S = 0.25  # ... growing by this share per second, up to the ceiling
SHARE_LIMIT = 0.2  # 429s above this share of the recent sends follow the send rate ...
MIN_SENDS = 20  # ... once this many sends were made since the last cut ...
MIN_LIMITED = 5  # ... and at least this many of them were refused
WINDOW_SENDS = 50  # the share is taken over the last this many sends
SEND_RATE_WINDOW_S = 2.0  # the measured send rate looks back this far
MAX_BACKGROUND = 0.15  # the most of the share that counts as noise once the rate was cut
PROBE_EXCESS = 0.1  # while probing, a 429 share this much above the share below the limit follows the rate
PROBE_MIN_LIMITED = 3
MIN_RATE_PER_S = 0.05  # never slower than one request every 20 s

# Headers that say the server's own budget is spent (a value of 0 means the 429 follows the send rate).
EXHAUSTED_HEADERS = ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens",
                     "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-tokens-remaining",
                     "anthropic-ratelimit-input-tokens-remaining",
                     "anthropic-ratelimit-output-tokens-remaining")


class RateControl:
    """The allowed request rate of one model over time. `clock` is injectable for tests."""

    def __init__(self, ceiling_per_s: float, clock: Callable[[], float] = time.monotonic):
        self.ceiling = ceiling_per_s
        self.clock = clock
        self.w_max = ceiling_per_s  # the rate the server accepted at the last cut
        self.cut_rate = ceiling_per_s  # the rate right after the last cut
        self.cut_at = -math.inf
        self.cuts = 0
        self.seq = 0  # sends so far; a send's number tells which overload it belongs to
        self.epoch = 0  # the first send after the last cut
        self.limited: deque[int] = deque()  # send numbers of the 429s since the last cut (the last window)
        self.first_send: float | None = None
        self.send_times: deque[float] = deque()
        # Since the last cut: sends and 429s below the accepted rate, and while probing above it.
        self.probe_from = math.inf  # the first send made above the accepted rate (the rate only rises)
        self.below = [0, 0]
        self.above = [0, 0]

    # -- the rate ----------------------------------------------------------------------------------------
    def rate(self, now: float | None = None) -> float:
        """The allowed rate now: the ceiling, or the recovery from the last cut towards it."""
        if self.cuts == 0:
            return self.ceiling
        dt = (self.clock() if now is None else now) - self.cut_at
        r = self.w_max - (self.w_max - self.cut_rate) * math.exp(-min(dt, PROBE_AFTER_S) / RECOVER_S)
        if dt > PROBE_AFTER_S:
            r *= (1.0 + PROBE_PER_S) ** min(dt - PROBE_AFTER_S, 60.0)
        return max(MIN_RATE_PER_S, min(self.ceiling, r))

    def send_rate(self, now: float) -> float | None:
        """Requests actually sent per second over the last two seconds (the bucket rate is only an upper
        bound); None in the first two seconds, when a cold-start burst makes any measure meaningless."""
        while self.send_times and self.send_times[0] < now - SEND_RATE_WINDOW_S:
            self.send_times.popleft()
        if self.first_send is None or now - self.first_send < SEND_RATE_WINDOW_S:
            return None
        return len(self.send_times) / SEND_RATE_WINDOW_S

    # -- events ------------------------------------------------------------------------------------------
    def sent(self) -> int:
        """Record one send; returns its number, to pass back with its outcome."""
        now = self.clock()
        if self.first_send is None:
            self.first_send = now
        self.send_times.append(now)
        if len(self.send_times) > 4096:  # at very high rates the window holds plenty
            self.send_times.popleft()
        self.seq += 1
        if self.cuts and self.probe_from == math.inf and self.rate(now) > self.w_max:
            self.probe_from = self.seq
        (self.above if self.seq >= self.probe_from else self.below)[0] += 1
        return self.seq

    def share(self) -> tuple[int, int]:
        """(429s, sends) over the last window of sends since the last cut."""
        while self.limited and self.limited[0] <= self.seq - WINDOW_SENDS:
            self.limited.popleft()
        return len(self.limited), min(WINDOW_SENDS, self.seq - self.epoch + 1)

    def rate_limited(self, seq: int, exhausted: bool) -> bool:
        """A 429 answered send number `seq`; `exhausted`: the server said its budget is spent (no
        Retry-After, or a remaining header at 0). Returns whether the rate was cut."""
        if seq < self.epoch:
            return False  # sent before the last cut: that overload is already answered
        self.limited.append(seq)
        side = self.above if seq >= self.probe_from else self.below
        side[1] += 1
        k, n = self.share()
        follows = exhausted or self._too_many(k, n) or self._rises_with_the_rate()
        if follows:
            self.cut(k / n if n >= MIN_SENDS // 2 else 0.0)
        return follows

    def _too_many(self, k: int, n: int) -> bool:
        """More 429s among the last sends than background noise explains. After a cut, the background is
        the share at the lower rate (which needs a few sends to be known), up to 15 points: a higher share
        there means the cut did not go far enough, not noise."""
        background = 0.0
        if self.cuts:
            if self.below[0] < MIN_SENDS:
                return False
            background = min(MAX_BACKGROUND, self.below[1] / self.below[0])
        return n >= MIN_SENDS and k >= MIN_LIMITED and k / n > SHARE_LIMIT + background

    def _rises_with_the_rate(self) -> bool:
        (n_above, k_above), (n_below, k_below) = self.above, self.below
        return (k_above >= PROBE_MIN_LIMITED
                and k_above / n_above > k_below / max(1, n_below) + PROBE_EXCESS)

    def cut(self, share: float = 0.0) -> None:
        now = self.clock()
        current = self.rate(now)
        measured = self.send_rate(now)
        sending = current if measured is None else max(MIN_RATE_PER_S, min(current, measured))
        self.w_max = max(MIN_RATE_PER_S, sending * (1.0 - min(share, 0.95)))
        self.cut_rate = max(MIN_RATE_PER_S, BETA * self.w_max)
        self.cut_at = now
        self.cuts += 1
        self.epoch = self.seq + 1
        self.limited.clear()
        self.probe_from = math.inf
        self.below, self.above = [0, 0], [0, 0]


def budget_exhausted(err: BaseException) -> bool:
    """Whether a 429 says the server's budget for us is spent: no Retry-After at all, or a remaining
    header at 0. The headers come from the SDK's status error the provider error was raised from."""
    if getattr(err, "retry_after_s", None) is None:
        return True
    headers = response_headers(err)
    if headers is None:
        return False
    for name in EXHAUSTED_HEADERS:
        value = headers.get(name)
        if value is not None and value.strip() in ("0", "0.0"):
            return True
    return False


def response_headers(err: BaseException):
    """The HTTP response headers behind a provider error (its cause or context chain), if any."""
    seen = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        headers = getattr(getattr(e, "response", None), "headers", None)
        if headers is not None:
            return headers
        e = e.__cause__ or e.__context__
    return None
