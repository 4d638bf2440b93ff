"""Dry-run cost estimates: tokens x price, journal hits free, batch at half price."""

from __future__ import annotations

import pytest

from llmfeedback_assets.llm import ChatRequest, Gateway, cost_of, estimate_cost, format_estimate
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.configs import config_with, fake_model, numbered_requests


def test_cost_of_prices_tokens_per_million_and_halves_batch(fake):
    spec = config_with(fake_model(fake, "m", price_input_per_mtok=3.0, price_output_per_mtok=15.0)).models[0]
    assert cost_of(spec, 1_000_000, 0) == 3.0
    assert cost_of(spec, 2000, 1000) == pytest.approx(0.006 + 0.015)
    assert cost_of(spec, 2000, 1000, batch=True) == pytest.approx((0.006 + 0.015) / 2)


def test_estimate_before_and_after_a_run(fake, tmp_path):
    cfg = config_with(fake_model(fake, "judge", price_input_per_mtok=2.0, price_output_per_mtok=8.0,
                                 max_tokens=400),
                      fake_model(fake, "cheap-batch", batch=True, price_input_per_mtok=2.0,
                                 price_output_per_mtok=8.0, max_tokens=400))
    wh = Warehouse(tmp_path / "w.duckdb")
    reqs = numbered_requests("judge", 10) + numbered_requests("cheap-batch", 10)
    est = estimate_cost(cfg, wh, reqs + reqs[:3])  # duplicates count once
    judge, batch = est.models
    assert (judge.model, judge.requests, judge.cached, judge.to_send) == ("judge", 10, 0, 10)
    # about four characters a token, plus a few per message
    assert judge.est_input_tokens == sum(len(r.messages[0][1]) // 4 + 4 for r in reqs[:10])
    assert judge.est_output_tokens == 10 * 100 and judge.output_tokens_basis == "max_tokens/4"
    assert judge.est_usd == pytest.approx((judge.est_input_tokens * 2 + 1000 * 8) / 1e6)
    assert judge.max_usd == pytest.approx((judge.est_input_tokens * 2 + 4000 * 8) / 1e6)
    assert batch.est_usd == pytest.approx(judge.est_usd / 2)  # same prompts, half price
    assert est.total_usd == pytest.approx(judge.est_usd + batch.est_usd)
    assert fake.stats()["received"] == 0  # a dry run sends nothing

    Gateway(cfg, wh).run(numbered_requests("judge", 6))
    est = Gateway(cfg, wh).estimate(reqs)
    judge = est.models[0]
    assert (judge.cached, judge.to_send) == (6, 4)
    assert judge.output_tokens_basis == "journal average"
    avg = wh.query("SELECT avg(output_tokens) AS a FROM llm_journal WHERE model = 'judge'")["a"].iloc[0]
    assert judge.est_output_tokens == int(4 * avg)
    meta = est.as_metadata()
    assert meta["est_requests_to_send"] == 14 and meta["est_requests_cached"] == 6
    assert meta["est_cost_usd"] == pytest.approx(est.total_usd, abs=1e-6)


def test_format_estimate_is_a_readable_table(fake, tmp_path):
    cfg = config_with(fake_model(fake, "judge", price_input_per_mtok=2.5, price_output_per_mtok=10.0))
    est = estimate_cost(cfg, Warehouse(tmp_path / "w.duckdb"),
                        [ChatRequest.of("judge", [("user", "x" * 4000)]) for _ in range(1)])
    text = format_estimate(est)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["model", "provider", "requests"]
    assert lines[2].split()[:2] == ["judge", "openai"] and lines[3].startswith("total")
    assert f"{est.total_usd:.4f}" in lines[3]
    assert "journal hits cost nothing" in text
