"""Token buckets, the estimate-then-correct charge, the adaptive request rate (ratecontrol.py) and the
in-flight window (window.py), on a controlled clock."""

from __future__ import annotations

import asyncio

import pytest

from llmfeedback_assets.llm import limits
from llmfeedback_assets.llm.limits import ModelLimiter, TokenBucket
from llmfeedback_assets.llm.ratecontrol import RateControl
from llmfeedback_assets.llm.window import LatencyWindow


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(limits.time, "monotonic", c)
    return c


def test_bucket_starts_with_one_second_of_burst_not_a_minute(clock):
    b = TokenBucket(per_minute=600)  # 10/s
    assert b.capacity == 10 and b.level == 10
    for _ in range(10):
        assert b.wait_time(1) == 0
        b.take(1)
    assert b.wait_time(1) == pytest.approx(0.1)
    clock.t += 0.25
    assert b.wait_time(2) == 0 and b.wait_time(3) == pytest.approx(0.05)
    clock.t += 100
    assert b.wait_time(10) == 0 and b.level == 10  # never more than the burst


def test_amounts_above_capacity_wait_for_a_full_bucket_then_go_into_debt(clock):
    b = TokenBucket(per_minute=60)  # 1/s, capacity 1
    assert b.wait_time(5) == 0  # a 5-token request need not wait forever
    b.take(5)
    assert b.level == -4 and b.wait_time(1) == pytest.approx(5.0)  # the debt is repaid first


def test_charge_is_corrected_from_reported_usage(clock):
    lim = ModelLimiter(rpm=600, itpm=6000, otpm=6000, concurrency=4, max_tokens=400)

    async def go():
        async with lim.slot(est_in=50, max_tokens=400) as charge:
            assert lim.input.level == 100 - 50 and lim.output.level == 100 - 100  # estimate: max_tokens/4
            charge.settle(actual_in=70, actual_out=10)

    asyncio.run(go())
    assert lim.input.level == 100 - 70 and lim.output.level == 100 - 10
    assert lim.avg_out == pytest.approx(0.9 * 100 + 0.1 * 10)  # the next estimate learns from answers


def test_a_429_with_retry_after_pauses_the_model_but_keeps_the_rate_and_the_burst(clock):
    lim = ModelLimiter(rpm=6000, itpm=1e9, otpm=1e9, concurrency=8, max_tokens=10)
    seq = lim.control.sent()
    level = lim.requests.level
    assert not lim.rate_limited(seq, wait_s=1.0, exhausted=False)
    assert lim.paused_until == pytest.approx(clock.t + 1.0)
    assert lim.allowed_rate() == pytest.approx(100) and lim.requests.level == level


def test_an_exhausted_budget_cuts_once_per_overload_and_time_restores_the_rate(clock):
    lim = ModelLimiter(rpm=6000, itpm=1e9, otpm=1e9, concurrency=8, max_tokens=10)  # 100/s
    seqs = [lim.control.sent() for _ in range(5)]
    clock.t += 0.05
    assert lim.rate_limited(seqs[0], wait_s=0.01, exhausted=True)  # "x-ratelimit-remaining-requests: 0"
    assert lim.allowed_rate() == pytest.approx(70) and lim.requests.level <= 0  # no burst after the 429
    assert not lim.rate_limited(seqs[1], wait_s=0.01, exhausted=True)  # the same overload: counted once
    later = lim.control.sent()
    assert lim.rate_limited(later, wait_s=0.01, exhausted=True)  # sent after the cut: a new overload
    assert lim.allowed_rate() == pytest.approx(0.7 * 70)
    clock.t += 1.0
    assert 0.8 * 70 < lim.allowed_rate() < 70  # back towards where the server pushed back, in seconds
    clock.t += 2.0
    assert lim.allowed_rate() > 0.95 * 70
    clock.t += 5.0
    assert lim.allowed_rate() == pytest.approx(100)  # then probing up to the ceiling; answers play no part


def test_a_429_without_retry_after_is_a_rate_signal():
    from llmfeedback_assets.llm.ratecontrol import budget_exhausted
    from llmfeedback_assets.llm.types import ProviderError

    assert budget_exhausted(ProviderError("429", retryable=True, status=429))
    assert not budget_exhausted(ProviderError("429", retryable=True, retry_after_s=1.0, status=429))


class _Sim:
    """A model sending at `rate` per second on a fake clock, each send answered 429 with chance p(rate)."""

    def __init__(self, ceiling: float, seed: int = 0):
        import random

        self.t = 0.0
        self.rc = RateControl(ceiling, clock=lambda: self.t)
        self.rng = random.Random(seed)

    def run(self, seconds: float, p429, exhausted: bool = False) -> list[tuple[float, bool]]:
        """(rate, refused) per send."""
        sends = []
        end = self.t + seconds
        while self.t < end:
            rate = self.rc.rate()
            self.t += 1.0 / rate
            seq = self.rc.sent()
            refused = self.rng.random() < p429(rate)
            if refused:
                self.rc.rate_limited(seq, exhausted=exhausted)
            sends.append((rate, refused))
        return sends


@pytest.mark.parametrize("seed", range(6))
def test_random_429s_independent_of_the_rate_never_cut_it(seed):
    sim = _Sim(ceiling=10.0, seed=seed)
    sends = sim.run(600, lambda rate: 0.05)  # 6,000 sends, ~300 of them refused at random
    assert sim.rc.cuts == 0 and min(r for r, _ in sends) == 10.0


@pytest.mark.parametrize("background", [0.1, 0.2])
def test_a_wrong_cut_under_random_429s_is_recovered_from_in_seconds(background):
    sim = _Sim(ceiling=10.0)
    sim.rc.cut(0.3)  # say noise once looked like an overload
    sends = sim.run(300, lambda rate: background)
    late = [r for r, _ in sends[len(sends) // 10:]]
    assert sum(late) / len(late) > 9.5  # the share does not rise with the rate: no lasting cut


@pytest.mark.parametrize("exhausted", [True, False])
def test_429s_that_follow_the_rate_find_the_server_limit_without_a_storm(exhausted):
    sim = _Sim(ceiling=50.0)  # configured 5x above what the server allows
    limit, seconds = 10.0, 120
    sends = sim.run(seconds, lambda rate: max(0.0, 1 - limit / rate), exhausted=exhausted)
    assert sim.rc.cuts >= 1
    tail = sends[len(sends) // 3:]  # roughly the last 80 s
    accepted = sum(not refused for _, refused in tail) / (seconds * 2 / 3)
    assert accepted >= 0.85 * limit
    assert sum(refused for _, refused in tail) / len(tail) <= (0.05 if exhausted else 0.15)


def test_window_is_rate_times_latency_twice_over_capped():
    w = LatencyWindow(cap=1000)
    assert w.size(100, now=0.0) == 100  # no answer yet: the bucket's one-second burst
    for i in range(200):
        w.close(w.open(now=float(i)), now=i + 2.0)  # 2 s attempts
    assert w.latency == pytest.approx(2.0)
    assert w.size(100, now=500.0) == 401  # 2 x 100/s x 2 s + 1
    assert w.size(10, now=600.0) == 41
    assert LatencyWindow(cap=64).size(100, now=0.0) == 64


def test_window_follows_the_age_of_requests_in_flight_before_answers_come_back():
    w = LatencyWindow(cap=10_000)
    for i in range(100):
        w.open(now=i / 100)  # 100/s for one second, nothing answered yet
    assert w.size(100, now=1.0) >= 200  # already twice what is in flight: a 10 s model is not starved
    w2 = LatencyWindow(cap=10_000)
    for i in range(50):
        w2.close(w2.open(now=i / 100), now=i / 100 + 0.1)  # 0.1 s so far ...
    for i in range(50, 150):
        w2.open(now=i / 100)  # ... then the server slows down: a second and nothing back
    assert w2.size(100, now=1.5) > 100


def test_window_is_bounded_by_the_token_limits(clock):
    # 600 requests/min allowed, but 60,000 input tokens/min at ~1,000 tokens a request: 1 request/s.
    lim = ModelLimiter(rpm=600, itpm=60_000, otpm=1e9, concurrency=1000, max_tokens=10)
    lim.avg_in = 1000
    assert lim.allowed_rate() == pytest.approx(1.0)
    for _ in range(20):
        ticket = lim.window.open(clock.t)
        clock.t += 2.0
        lim.window.close(ticket, clock.t)
    assert lim.window_size() == 2 * 1 * 2 + 1


def test_slot_waits_out_the_pause_and_the_bucket():
    lim = ModelLimiter(rpm=600, itpm=1e9, otpm=1e9, concurrency=2, max_tokens=10)

    async def go():
        loop = asyncio.get_running_loop()
        lim.pause(0.2)
        t0 = loop.time()
        async with lim.slot(1, 10):
            pass
        return loop.time() - t0

    assert asyncio.run(go()) >= 0.19
