"""Token buckets, the estimate-then-correct charge and the adaptive request rate, on a controlled clock."""

from __future__ import annotations

import asyncio

import pytest

from llmfeedback_assets.llm import limits
from llmfeedback_assets.llm.limits import ModelLimiter, TokenBucket


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


def test_a_429_pauses_the_model_halves_the_rate_once_per_overload_and_answers_restore_it(clock):
    lim = ModelLimiter(rpm=6000, itpm=1e9, otpm=1e9, concurrency=8, max_tokens=10)
    sent = clock()
    clock.t += 0.05
    lim.rate_limited(0.5, sent_at=sent)
    assert lim.paused_until == pytest.approx(clock.t + 0.5)
    assert lim.requests.rate == pytest.approx(50) and lim.requests.level <= 0  # no burst after the pause
    lim.rate_limited(0.5, sent_at=sent)  # another 429 from the same overload: counted once
    assert lim.requests.rate == pytest.approx(50)
    clock.t += 1
    lim.rate_limited(0.5, sent_at=clock.t - 0.01)  # a request sent after the decrease: a new overload
    assert lim.requests.rate == pytest.approx(25)
    for _ in range(200):
        lim.answered()
    assert lim.requests.rate == pytest.approx(100)  # back to the ceiling, never above


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
