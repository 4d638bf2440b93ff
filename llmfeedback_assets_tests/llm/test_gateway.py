"""The gateway through the real openai and anthropic SDK clients against the fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import collections

import pytest

from llmfeedback_assets.llm import ChatRequest, FatalModelError, Gateway, RunStats
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.configs import (
    KEY_ENV,
    config_with,
    fake_model,
    numbered_requests,
    server_key,
)

PROVIDERS = ["openai", "anthropic"]


def gateway(cfg, wh, **kw) -> Gateway:
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("backoff_cap_s", 0.05)
    kw.setdefault("journal_flush_s", 0.2)
    return Gateway(cfg, wh, **kw)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_answers_journal_and_rerun_sends_nothing(fake, wh, provider):
    fake.configure(api_key="sk-test-key")  # the key travels from the environment variable to the server
    cfg = config_with(fake_model(fake, "m1", provider, price_input_per_mtok=2.0, price_output_per_mtok=8.0))
    reqs = numbered_requests("m1", 30, system="be brief")
    results, stats = gateway(cfg, wh).run(reqs)
    assert [r.text for r in results] == [f"reply to: q question {i}?" for i in range(30)]
    assert all(r.ok and r.attempts == 1 and not r.cached for r in results)
    assert fake.stats()["received"] == 30
    assert stats.sent == 30 and stats.cache_hits == 0 and stats.done == 30
    assert stats.input_tokens == sum(r.input_tokens for r in results) > 0
    assert stats.cost_usd == pytest.approx((stats.input_tokens * 2.0 + stats.output_tokens * 8.0) / 1e6)
    journal = wh.table("llm_journal")
    assert len(journal) == 30 and set(journal["status"]) == {"ok"}
    row = journal.set_index("request_key").loc[results[0].request_key]
    assert row["model"] == "m1" and row["provider"] == provider and row["text"] == results[0].text
    assert row["input_tokens"] == results[0].input_tokens and row["latency_s"] > 0 and row["attempts"] == 1
    assert row["cost_usd"] == pytest.approx(results[0].cost_usd) and not row["batch"]

    again, stats2 = gateway(cfg, wh).run(reqs)
    assert fake.stats()["received"] == 30  # nothing sent
    assert stats2.cache_hits == 30 and stats2.sent == 0 and stats2.cost_usd == 0
    assert [r.text for r in again] == [r.text for r in results] and all(r.cached for r in again)


def test_duplicates_are_sent_once_and_results_keep_request_order(fake, wh):
    cfg = config_with(fake_model(fake, "m1"))
    base = numbered_requests("m1", 5)
    reqs = base + base[::-1] + [ChatRequest(model="m1", messages=base[0].messages, tag="other tag")]
    results, stats = gateway(cfg, wh).run(reqs)
    assert fake.stats()["received"] == 5
    order = [0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 0]
    assert [r.text for r in results] == [f"reply to: q question {i}?" for i in order]
    assert stats.done == stats.total == 11 and stats.sent == 5


def test_only_missing_requests_are_sent(fake, wh):
    cfg = config_with(fake_model(fake, "m1"))
    reqs = numbered_requests("m1", 20)
    gateway(cfg, wh).run(reqs[:12])
    results, stats = gateway(cfg, wh).run(reqs)
    counts = fake.stats()["counts"]
    assert all(counts[server_key(r)] == 1 for r in reqs)
    assert stats.cache_hits == 12 and stats.sent == 8 and all(r.ok for r in results)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_transient_failures_are_retried_until_answered(fake, wh, provider):
    fake.configure(script=["500", "503", "malformed", "empty", "disconnect"])
    cfg = config_with(fake_model(fake, "m1", provider, max_retries=6))
    results, stats = gateway(cfg, wh).run(numbered_requests("m1", 6))
    assert all(r.ok for r in results) and {r.attempts for r in results} == {6}
    assert [r.text for r in results] == [f"reply to: q question {i}?" for i in range(6)]
    assert stats.retries == 30 and fake.stats()["received"] == 36


@pytest.mark.parametrize("provider", PROVIDERS)
def test_timeouts_are_retried(fake, wh, provider):
    fake.configure(script=["timeout"], timeout_sleep_s=3.0)
    cfg = config_with(fake_model(fake, "m1", provider, timeout_s=0.3))
    results, _ = gateway(cfg, wh).run(numbered_requests("m1", 4))
    assert all(r.ok and r.attempts == 2 for r in results)


def test_gives_up_after_max_retries_and_a_rerun_tries_again(fake, wh):
    fake.configure(always="500")
    cfg = config_with(fake_model(fake, "m1", max_retries=2))
    reqs = numbered_requests("m1", 3)
    results, stats = gateway(cfg, wh).run(reqs)
    assert all(r.status == "failed" and r.attempts == 3 and "gave up after 3 attempts" in r.error
               for r in results)
    assert stats.failed == 3 and fake.stats()["received"] == 9
    assert set(wh.table("llm_journal")["status"]) == {"failed"}
    fake.configure(always=None)
    results, stats = gateway(cfg, wh).run(reqs)  # failures are not cache hits
    assert all(r.ok for r in results) and stats.cache_hits == 0
    journal = wh.table("llm_journal")
    assert len(journal) == 3 and set(journal["status"]) == {"ok"}  # the answer replaced the failure


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("outcome,cause", [("401", "authentication failed"), ("403", "permission denied"),
                                           ("404", "not found"),
                                           ("insufficient_quota", "insufficient quota")])
def test_fatal_errors_stop_the_run_at_once_with_a_clear_message(fake, wh, provider, outcome, cause):
    fake.configure(always=outcome)
    cfg = config_with(fake_model(fake, "judge-x", provider, max_concurrency=2))
    with pytest.raises(FatalModelError) as err:
        gateway(cfg, wh).run(numbered_requests("judge-x", 40))
    assert "judge-x" in str(err.value) and cause in str(err.value)
    st = fake.stats()
    assert st["received"] <= 4  # no retries, no further requests once the cause is known
    assert all(n == 1 for n in st["counts"].values())


def test_a_bad_request_fails_only_that_request(fake, wh):
    reqs = numbered_requests("m1", 10)
    fake.configure(scripts={server_key(reqs[3]): ["400"]})
    cfg = config_with(fake_model(fake, "m1"))
    results, stats = gateway(cfg, wh).run(reqs)
    assert [r.ok for r in results] == [i != 3 for i in range(10)]
    assert results[3].attempts == 1 and "m1" in results[3].error and "bad request" in results[3].error
    assert stats.failed == 1 and fake.stats()["received"] == 10


def test_a_model_that_rejects_every_request_is_stopped(fake, wh):
    fake.configure(always="400")
    cfg = config_with(fake_model(fake, "m1", max_concurrency=1))
    with pytest.raises(FatalModelError, match="first 10 requests were all rejected"):
        gateway(cfg, wh, bad_request_limit=10).run(numbered_requests("m1", 100))
    assert fake.stats()["received"] < 20


def _arrivals_after_429(events):
    """For each 429: (announced wait, seconds until the same request came back)."""
    by_key = collections.defaultdict(list)
    for t, _model, key, outcome, wait in events:
        by_key[key].append((t, outcome, wait))
    gaps = []
    for seq in by_key.values():
        for (t0, outcome, wait), (t1, _, _) in zip(seq, seq[1:], strict=False):
            if outcome == "429":
                gaps.append((wait, t1 - t0))
    return gaps


@pytest.mark.parametrize("provider,header", [("openai", "ms"), ("anthropic", "s")])
def test_retry_after_is_waited_exactly(fake, wh, provider, header):
    wait = 0.3 if header == "ms" else 1.0
    fake.configure(script=["429"], scripted_retry_after_s=wait, retry_after=header)
    cfg = config_with(fake_model(fake, "m1", provider))
    results, stats = gateway(cfg, wh, backoff_base_s=5.0, backoff_cap_s=5.0).run(numbered_requests("m1", 4))
    assert all(r.ok and r.attempts == 2 for r in results) and stats.rate_limited == 4
    gaps = _arrivals_after_429(fake.stats()["events"])
    assert len(gaps) == 4
    for announced, gap in gaps:
        assert announced == wait
        assert gap >= announced - 0.01  # never earlier than the server asked
        assert gap < 4.0  # and the announced wait, not the (5 s) backoff, was used


def test_server_rate_limit_429s_are_absorbed(fake, wh):
    # The server allows 10 requests/s; the client thinks it may send 100x more, so it learns from 429s.
    fake.configure(rpm=600, burst_s=0.5)
    cfg = config_with(fake_model(fake, "m1", max_concurrency=8))
    results, stats = gateway(cfg, wh).run(numbered_requests("m1", 25))
    assert all(r.ok for r in results)
    st = fake.stats()
    assert stats.rate_limited == st["by_outcome"]["429"] > 0
    assert st["received"] == 25 + st["by_outcome"]["429"]
    for announced, gap in _arrivals_after_429(st["events"]):
        assert gap >= announced - 0.01


def test_client_limits_keep_requests_under_the_configured_rate(fake, wh):
    fake.configure(latency_s=0.01)
    rpm = 1200  # 20/s, a burst of one second's worth (20) at the start
    cfg = config_with(fake_model(fake, "m1", requests_per_minute=rpm, max_concurrency=16))
    results, _ = gateway(cfg, wh).run(numbered_requests("m1", 50))
    assert all(r.ok for r in results)
    times = sorted(e[0] for e in fake.stats()["events"])
    # A token bucket of 20/s holding 20 lets at most 20 + 20*t requests through in any t seconds.
    span = times[-1] - times[0]
    assert span >= (50 - 20 - 1) / 20.0 * 0.95


def test_concurrency_cap_is_respected(fake, wh):
    fake.configure(latency_s=0.05)
    cfg = config_with(fake_model(fake, "m1", max_concurrency=3), fake_model(fake, "m2", max_concurrency=5))
    results, _ = gateway(cfg, wh).run(numbered_requests("m1", 24) + numbered_requests("m2", 30))
    assert all(r.ok for r in results)
    inflight = fake.stats()["max_inflight"]
    assert 2 <= inflight["m1"] <= 3 and 3 <= inflight["m2"] <= 5


def test_token_budget_limits_throughput(fake, wh):
    # 60,000 input tokens/min = 1,000/s with a burst of 1,000; 30 requests of ~100 tokens need >= 2 s.
    cfg = config_with(fake_model(fake, "m1", input_tokens_per_minute=60_000))
    reqs = [ChatRequest.of("m1", [{"role": "user", "content": f"{i:02d} " + "x" * 400}]) for i in range(30)]
    results, _ = gateway(cfg, wh).run(reqs)
    assert all(r.ok for r in results) and all(r.input_tokens == 100 for r in results)
    times = sorted(e[0] for e in fake.stats()["events"])
    assert times[-1] - times[0] >= 1.5  # (3,000 - 1,000) / 1,000 per s, less the first request's lag


def test_progress_is_reported_at_a_cadence_and_the_bar_shows(fake, wh, capsys):
    fake.configure(latency_s=0.05)
    cfg = config_with(fake_model(fake, "m1", max_concurrency=2, price_input_per_mtok=1000.0))
    calls: list[RunStats] = []
    snapshots = []

    def progress(st: RunStats) -> None:
        calls.append(st)
        snapshots.append((st.done, st.line()))

    gw = gateway(cfg, wh, progress=progress, progress_every_s=0.25, progress_bar=True)
    _, stats = gw.run(numbered_requests("m1", 30))  # ~0.8 s of work
    assert 3 <= len(calls) <= 2 + stats.elapsed_s / 0.25 + 1  # steady cadence, not per request
    assert snapshots[0][0] == 0 and "0/30 done" in snapshots[0][1] and "estimate $" in snapshots[0][1]
    assert snapshots[-1][0] == 30 and "30/30 done" in snapshots[-1][1]
    assert any(done < 30 for done, _ in snapshots[:-1])  # reported while running
    err = capsys.readouterr().err
    assert "llm requests" in err and "30/30" in err


def test_run_from_inside_an_event_loop(fake, wh):
    cfg = config_with(fake_model(fake, "m1"))

    async def inside():
        return gateway(cfg, wh).run(numbered_requests("m1", 3))

    results, _ = asyncio.run(inside())
    assert [r.text for r in results] == [f"reply to: q question {i}?" for i in range(3)]


def test_metadata_and_line(fake, wh):
    cfg = config_with(fake_model(fake, "m1", price_input_per_mtok=1.0, price_output_per_mtok=1.0))
    _, stats = gateway(cfg, wh).run(numbered_requests("m1", 4))
    meta = stats.as_metadata()
    assert meta["requests"] == 4 and meta["sent"] == 4 and meta["cache_hits"] == 0
    assert meta["cost_usd"] == pytest.approx((stats.input_tokens + stats.output_tokens) / 1e6, abs=1e-6)
    assert "4/4 done" in stats.line() and "cache hits 0" in stats.line()
    assert "simulated" not in stats.line() and meta["cost_kind"] == "USD"  # a real (fake-server) model


def test_simulated_dollars_are_labelled_in_the_log_line_and_the_metadata():
    stats = RunStats(total=2, done=2, cost_usd=0.5, simulated_usd=0.5)
    assert "$0.5000 simulated, not billed" in stats.line()
    assert stats.as_metadata()["cost_kind"].startswith("simulated $")
    mixed = RunStats(total=2, done=2, cost_usd=0.5, simulated_usd=0.2)
    assert "(of which $0.2000 simulated, not billed)" in mixed.line()
    assert "simulated $ 0.2000" in mixed.as_metadata()["cost_kind"]


def test_key_for_depends_on_everything_that_changes_the_answer(fake):
    cfg = config_with(fake_model(fake, "m1"), fake_model(fake, "m2"), fake_model(fake, "m3", model="m1",
                                                                                     temperature=0.7))
    gw = Gateway(cfg, Warehouse(":memory:"))
    base = ChatRequest.of("m1", [{"role": "user", "content": "hi"}])
    k = gw.key_for(base)
    assert gw.key_for(ChatRequest.of("m1", [("user", "hi")], tag="x")) == k  # tag is not part of the key
    assert gw.key_for(ChatRequest.of("m1", [("user", "hi")], temperature=0.0, max_tokens=64)) == k  # defaults
    variants = [ChatRequest.of("m2", [("user", "hi")]), ChatRequest.of("m1", [("user", "hi!")]),
                ChatRequest.of("m1", [("system", "s"), ("user", "hi")]),
                ChatRequest.of("m1", [("user", "hi")], temperature=0.5),
                ChatRequest.of("m1", [("user", "hi")], max_tokens=10),
                ChatRequest.of("m1", [("user", "hi")], sample=1),
                ChatRequest.of("m3", [("user", "hi")])]  # same model id, other default temperature
    keys = {gw.key_for(v) for v in variants}
    assert len(keys) == len(variants) and k not in keys


def test_unknown_model_and_missing_key_fail_before_any_call(fake, wh, monkeypatch):
    from llmfeedback_assets.config import ConfigError

    cfg = config_with(fake_model(fake, "m1"))
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        gateway(cfg, wh).run([ChatRequest.of("nope", [("user", "x")])])
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match=KEY_ENV):
        gateway(cfg, wh).run(numbered_requests("m1", 2))
    assert fake.stats()["received"] == 0
