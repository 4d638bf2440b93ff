"""API keys are checked in one place, the gateway: for the models a run asks for, before anything is sent."""

from __future__ import annotations

import pytest

from llmfeedback_assets.config import ConfigError
from llmfeedback_assets.llm import ChatRequest, Gateway
from llmfeedback_assets_tests.support.configs import KEY_ENV, config_with, fake_model, numbered_requests

SIM = {"name": "sim-model", "provider": "sim"}


def test_a_missing_key_fails_the_whole_run_before_any_request_is_sent(fake, wh, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    cfg = config_with(SIM, fake_model(fake, "remote", "openai"), fake_model(fake, "claude", "anthropic"),
                      fake_model(fake, "batched", "openai", batch=True))
    reqs = [r for model in ("sim-model", "remote", "claude", "batched") for r in numbered_requests(model, 3)]
    with pytest.raises(ConfigError) as err:
        Gateway(cfg, wh).run(reqs)
    assert str(err.value) == (f"missing API key(s): remote needs ${KEY_ENV}; claude needs ${KEY_ENV}; "
                              f"batched needs ${KEY_ENV}")
    assert fake.stats()["received"] == 0 and not fake.stats()["by_path"]  # no call, no batch job
    assert wh.count("llm_journal") == 0  # not even the simulated model, which needs no key, was asked


def test_only_the_models_a_run_asks_for_need_a_key(fake, wh, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    cfg = config_with(SIM, fake_model(fake, "remote", "openai"))
    results, stats = Gateway(cfg, wh).run(numbered_requests("sim-model", 3))
    assert all(r.ok for r in results) and stats.sent == 3
    with pytest.raises(ConfigError, match=f"remote needs \\${KEY_ENV}"):
        Gateway(cfg, wh).run([ChatRequest.of("remote", [("user", "hi")])])
    assert fake.stats()["received"] == 0


def test_an_empty_run_checks_nothing(fake, wh, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    results, stats = Gateway(config_with(fake_model(fake, "remote")), wh).run([])
    assert results == [] and stats.total == 0


def test_a_caller_about_to_make_several_runs_can_check_all_their_models_first(fake, wh, monkeypatch):
    cfg = config_with(SIM, fake_model(fake, "remote"))
    gw = Gateway(cfg, wh)
    assert list(gw.check(["sim-model", "remote", "sim-model"])) == ["sim-model", "remote"]
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        gw.check(["sim-model", "nope"])
    monkeypatch.delenv(KEY_ENV)
    assert gw.check(["sim-model"])["sim-model"].provider == "sim"
    with pytest.raises(ConfigError, match=f"missing API key\\(s\\): remote needs \\${KEY_ENV}"):
        gw.check(["sim-model", "remote"])
    assert fake.stats()["received"] == 0
