"""The in-flight window through the real SDK clients: Little's law on the measured latency, bounded by the
request and token limits, with `max_concurrency` only as a cap (bench/bench_gateway.py has the full-size
rows at 0.1 s, 2 s and 10 s)."""

from __future__ import annotations

import pytest

from llmfeedback_assets.config import LOCAL_MAX_CONCURRENCY, REMOTE_MAX_CONCURRENCY, ModelSpec
from llmfeedback_assets.llm import ChatRequest, Gateway
from llmfeedback_assets_tests.support.configs import config_with, fake_model, numbered_requests


def _served_per_s(events, skip_s: float) -> float:
    t0 = min(e[0] for e in events)
    ok = sorted(e[0] for e in events if e[3] == "ok" and e[0] >= t0 + skip_s)
    return (len(ok) - 1) / (ok[-1] - ok[0])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_slow_answers_get_a_window_of_rate_times_latency(fake, wh, provider):
    # 50 requests/s at 1 s a request needs ~50 in flight; the old fixed 16 gave 16/s.
    fake.configure(latency_s=1.0)
    spec = fake_model(fake, "judge-slow", provider, requests_per_minute=3000)
    spec.pop("max_concurrency")  # the default cap, far out of the way
    results, _ = Gateway(config_with(spec), wh, journal_flush_s=0.5).run(numbered_requests("judge-slow", 200))
    assert all(r.ok for r in results)
    st = fake.stats()
    assert _served_per_s(st["events"], skip_s=1.0) >= 0.9 * 50
    assert 40 <= st["max_inflight"]["judge-slow"] <= 2 * 50 * 1.0 + 10  # Little's law, not the cap


def test_the_window_is_bounded_by_the_token_limits(fake, wh):
    # ~100 input tokens a request at 60,000 tokens/min: 10 requests/s, though 100/s are allowed.
    fake.configure(latency_s=0.5)
    spec = fake_model(fake, "judge-tok", requests_per_minute=6000, input_tokens_per_minute=60_000,
                      max_concurrency=500)
    reqs = [ChatRequest.of("judge-tok", [("user", f"{i:03d} " + "x" * 380)]) for i in range(50)]
    results, _ = Gateway(config_with(spec), wh, journal_flush_s=0.5).run(reqs)
    assert all(r.ok for r in results)
    # 10/s x 0.5 s, plus the token bucket's one-second burst at the start; not 100/s x 0.5 s, nor 500
    assert fake.stats()["max_inflight"]["judge-tok"] <= 10 * 0.5 + 10 + 4


def test_max_concurrency_is_a_cap_with_a_high_default_except_for_local_models():
    assert ModelSpec(name="a", provider="openai").max_concurrency == REMOTE_MAX_CONCURRENCY >= 1000
    assert ModelSpec(name="a", provider="anthropic").max_concurrency == REMOTE_MAX_CONCURRENCY
    assert ModelSpec(name="t", provider="transformers").max_concurrency == LOCAL_MAX_CONCURRENCY  # batch size
    assert ModelSpec(name="t", provider="transformers", max_concurrency=64).max_concurrency == 64
