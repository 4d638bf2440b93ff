"""Batch mode through the real SDK clients: OpenAI Batch API and Anthropic Message Batches on the fake
server."""

from __future__ import annotations

import pytest

from llmfeedback_assets.llm import BatchPending, FatalModelError, Gateway
from llmfeedback_assets_tests.support.configs import (
    config_with,
    fake_model,
    numbered_requests,
    server_key,
)

PROVIDERS = ["openai", "anthropic"]


def batch_config(fake, provider, **kw):
    return config_with(fake_model(fake, "bj", provider, batch=True, price_input_per_mtok=4.0,
                                  price_output_per_mtok=10.0, **kw))


def gateway(cfg, wh, **kw) -> Gateway:
    kw.setdefault("batch_poll_s", 0.02)
    kw.setdefault("backoff_base_s", 0.01)
    return Gateway(cfg, wh, **kw)


def completions(stats: dict) -> int:
    return sum(n for path, n in stats["by_path"].items() if path in ("POST /v1/chat/completions",
                                                                       "POST /v1/messages"))


def batches_created(stats: dict) -> int:
    return sum(n for path, n in stats["by_path"].items() if path in ("POST /v1/batches",
                                                                       "POST /v1/messages/batches"))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_batch_answers_at_half_price_and_rerun_sends_nothing(fake, wh, provider):
    cfg = batch_config(fake, provider)
    reqs = numbered_requests("bj", 12, system="judge fairly")
    results, stats = gateway(cfg, wh).run(reqs)
    assert [r.text for r in results] == [f"reply to: q question {i}?" for i in range(12)]
    st = fake.stats()
    assert completions(st) == 0 and batches_created(st) == 1 and len(st["batch_counts"]) == 12
    assert stats.batches_submitted == 1 and stats.sent == 12
    full_price = (stats.input_tokens * 4.0 + stats.output_tokens * 10.0) / 1e6
    assert stats.cost_usd == pytest.approx(full_price / 2)
    journal = wh.table("llm_journal")
    assert len(journal) == 12 and journal["batch"].all() and set(journal["status"]) == {"ok"}
    # custom_id is the request key: each answer landed on its own request
    assert set(journal["request_key"]) == {r.request_key for r in results}
    batches = wh.table("llm_batches")
    assert list(batches["status"]) == ["collected"] and batches["n_requests"].iloc[0] == 12

    again, stats2 = gateway(cfg, wh).run(reqs)
    assert fake.stats()["by_path"] == st["by_path"]  # not one more call of any kind
    assert stats2.cache_hits == 12 and [r.text for r in again] == [r.text for r in results]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_only_expired_and_errored_items_are_resubmitted(fake, wh, provider):
    cfg = batch_config(fake, provider)
    reqs = numbered_requests("bj", 10)
    keys = [server_key(r) for r in reqs]
    fake.configure(scripts={keys[0]: ["expired"], keys[1]: ["expired", "500"], keys[2]: ["500"],
                            keys[3]: ["400"]})
    results, stats = gateway(cfg, wh).run(reqs)
    assert [r.ok for r in results] == [i != 3 for i in range(10)]
    assert "bad request" in results[3].error and "bj" in results[3].error
    st = fake.stats()
    assert batches_created(st) == 3  # the first batch, then {0, 1, 2}, then {1}
    assert [st["batch_counts"][k] for k in keys] == [2, 3, 2, 1, 1, 1, 1, 1, 1, 1]
    assert results[1].attempts == 3 and results[4].attempts == 1
    assert stats.batches_submitted == 3 and stats.failed == 1


def test_batch_items_give_up_after_max_retries(fake, wh):
    cfg = batch_config(fake, "openai", max_retries=1)
    reqs = numbered_requests("bj", 3)
    fake.configure(scripts={server_key(reqs[0]): ["expired"] * 5})
    results, _ = gateway(cfg, wh).run(reqs)
    assert not results[0].ok and "gave up after 2 batch submissions" in results[0].error
    assert results[1].ok and results[2].ok
    assert fake.stats()["batch_counts"][server_key(reqs[0])] == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stopped_batch_run_is_resumed_without_resubmitting(fake, wh, provider):
    cfg = batch_config(fake, provider)
    reqs = numbered_requests("bj", 8)
    fake.configure(batch_hold=True)
    with pytest.raises(BatchPending) as err:
        gateway(cfg, wh, batch_wait_s=0.2).run(reqs)
    assert len(err.value.batch_ids) == 1 and err.value.batch_ids[0] in str(err.value)
    open_batches = wh.table("llm_batches")
    assert list(open_batches["status"]) == ["submitted"]
    assert sorted(open_batches["request_keys"].iloc[0]) == sorted(Gateway(cfg, wh).key_for(r) for r in reqs)

    fake.release_batches()
    # a later run wanting more requests collects the open batch and submits only the new ones
    more = reqs + numbered_requests("bj", 3, prefix="new")
    results, stats = gateway(cfg, wh).run(more)
    assert all(r.ok for r in results) and stats.batches_resumed == 1 and stats.batches_submitted == 1
    st = fake.stats()
    assert batches_created(st) == 2 and all(n == 1 for n in st["batch_counts"].values())
    assert len(st["batch_counts"]) == 11
    assert set(wh.table("llm_batches")["status"]) == {"collected"}


def test_answers_of_an_earlier_batch_are_kept_even_when_not_asked_for_now(fake, wh):
    cfg = batch_config(fake, "openai")
    reqs = numbered_requests("bj", 6)
    fake.configure(batch_hold=True)
    with pytest.raises(BatchPending):
        gateway(cfg, wh, batch_wait_s=0.1).run(reqs)
    fake.release_batches()
    gateway(cfg, wh).run(reqs[:2])  # collects the whole batch
    _, stats = gateway(cfg, wh).run(reqs)
    assert stats.cache_hits == 6 and batches_created(fake.stats()) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_batch_with_a_bad_key_fails_fast(fake, wh, provider):
    fake.configure(api_key="the-right-key")
    with pytest.raises(FatalModelError, match="bj.*authentication failed"):
        gateway(batch_config(fake, provider), wh).run(numbered_requests("bj", 4))
    st = fake.stats()
    first_call = "POST /v1/files" if provider == "openai" else "POST /v1/messages/batches"
    assert st["batches"] == {} and st["by_path"] == {first_call: 1}  # one rejected call, nothing retried


def test_a_batch_the_provider_no_longer_knows_is_resubmitted(fake, wh):
    from llmfeedback_assets.llm.journal import Journal

    cfg = batch_config(fake, "openai")
    reqs = numbered_requests("bj", 4)
    journal = Journal(wh)
    journal.add_batch("batch_deleted_long_ago", "openai", "bj", [Gateway(cfg, wh).key_for(r) for r in reqs])
    journal.close()
    results, stats = gateway(cfg, wh).run(reqs)
    assert all(r.ok for r in results) and stats.batches_resumed == 1 and stats.batches_submitted == 1
    status = wh.table("llm_batches").set_index("batch_id")["status"]
    assert status["batch_deleted_long_ago"] == "lost" and (status == "collected").sum() == 1
