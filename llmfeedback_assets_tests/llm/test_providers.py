"""Provider details: error classification, Retry-After parsing, body parsing, batch result lines,
transports."""

from __future__ import annotations

import datetime as dt
import email.utils
import json

import pytest

from llmfeedback_assets.llm import ChatRequest, Gateway
from llmfeedback_assets.llm.providers import anthropic_provider as ap
from llmfeedback_assets.llm.providers import openai_provider as op
from llmfeedback_assets.llm.providers.base import classify_status_error, fast_http_client, parse_retry_after
from llmfeedback_assets.llm.types import ProviderError
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.configs import KEY_ENV, config_with, fake_model, numbered_requests
from llmfeedback_assets_tests.support.fake_llm import FakeLLM


def test_retry_after_headers():
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25  # the precise one wins
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    assert 25 <= parse_retry_after({"retry-after": email.utils.format_datetime(when, usegmt=True)}) <= 31
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


@pytest.mark.parametrize("status,body,retryable,fatal", [
    (401, "bad key", False, True), (403, "no", False, True), (404, "no model", False, True),
    (400, "context too long", False, False), (422, "bad field", False, False),
    (429, "slow down", True, False), (408, "timeout", True, False), (409, "conflict", True, False),
    (500, "oops", True, False), (502, "", True, False), (503, "", True, False),
    (529, "overloaded", True, False),
    (429, '{"error": {"code": "insufficient_quota"}}', False, True),
    (400, "Your credit balance is too low", False, True), (418, "teapot", False, False),
])
def test_status_classification(status, body, retryable, fatal):
    err = classify_status_error("judge-1", status, body, {"retry-after-ms": "120"})
    assert (err.retryable, err.fatal, err.status) == (retryable, fatal, status)
    assert "judge-1" in str(err)
    if retryable:
        assert err.retry_after_s == 0.12


def test_openai_body_parsing():
    good = {"choices": [{"message": {"content": "hi"}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2}}
    reply = op.parse_chat_completion("m", json.dumps(good).encode())
    assert (reply.text, reply.input_tokens, reply.output_tokens) == ("hi", 7, 2)
    assert op.parse_chat_completion("m", {"choices": [{"message": {"content": "x"}}]}).input_tokens == 0
    for bad in [b'{"choices": [', b"<html>502</html>", b'{"choices": []}', b'{"error": {"message": "x"}}',
                json.dumps({"choices": [{"message": {"content": None}}]}).encode()]:
        with pytest.raises(ProviderError) as err:
            op.parse_chat_completion("m", bad)
        assert err.value.retryable and "malformed" in str(err.value)


def test_anthropic_body_parsing():
    good = {"content": [{"type": "text", "text": "a"}, {"type": "tool_use", "id": "t"},
                        {"type": "text", "text": "b"}],
            "usage": {"input_tokens": 5, "output_tokens": 3}}
    reply = ap.parse_message("m", good)
    assert (reply.text, reply.input_tokens, reply.output_tokens) == ("ab", 5, 3)
    with pytest.raises(ProviderError, match="malformed"):
        ap.parse_message("m", b'{"type": "message"}')


def test_request_bodies():
    cfg = config_with({"name": "real", "provider": "openai", "api_key_env": "K"},
                      {"name": "vllm", "provider": "openai", "base_url": "http://127.0.0.1:8000/v1"},
                      {"name": "claude", "provider": "anthropic", "api_key_env": "K", "model": "claude-x"})
    req = ChatRequest.of("x", [("system", "be fair"), ("user", "q"), ("assistant", "a"), ("user", "q2")])
    real = op.OpenAIProvider.body(cfg.model("real"), req, 0.0, 50)
    assert real["max_completion_tokens"] == 50 and "max_tokens" not in real
    assert op.OpenAIProvider.body(cfg.model("vllm"), req, 0.0, 50)["max_tokens"] == 50
    claude = ap.AnthropicProvider.body(cfg.model("claude"), req, 0.3, 50)
    assert claude["system"] == "be fair" and claude["model"] == "claude-x" and claude["temperature"] == 0.3
    assert [m["role"] for m in claude["messages"]] == ["user", "assistant", "user"]


def test_openai_batch_lines():
    def line(key: str, status: int, body: dict) -> str:
        return json.dumps({"custom_id": key, "response": {"status_code": status, "body": body}})

    ok_body = {"choices": [{"message": {"content": "yes"}}],
               "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    ok = op._batch_line("m", line("k1", 200, ok_body))
    assert ok.key == "k1" and ok.reply.text == "yes"
    server = op._batch_line("m", line("k2", 500, {}))
    assert server.error.retryable
    bad = op._batch_line("m", line("k3", 400, {}))
    assert not bad.error.retryable and not bad.error.fatal
    expired = op._batch_line("m", json.dumps({"custom_id": "k4", "response": None,
                                              "error": {"code": "batch_expired", "message": "late"}}))
    assert expired.error.retryable and "batch_expired" in str(expired.error)
    assert op._batch_line("m", "{not json") is None


def test_anthropic_batch_results():
    msg = {"content": [{"type": "text", "text": "ok"}], "usage": {"input_tokens": 1, "output_tokens": 1}}
    ok = ap._batch_result("m", {"custom_id": "a", "result": {"type": "succeeded", "message": msg}})
    assert ok.reply.text == "ok"
    invalid = ap._batch_result("m", {"custom_id": "b", "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "invalid_request_error", "message": "too long"}}}})
    assert not invalid.error.retryable and "too long" in str(invalid.error)
    api = ap._batch_result("m", {"custom_id": "c", "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "api_error", "message": "oops"}}}})
    assert api.error.retryable
    for kind in ("expired", "canceled"):
        assert ap._batch_result("m", {"custom_id": "d", "result": {"type": kind}}).error.retryable


def test_fast_transport_can_be_switched_off(monkeypatch):
    import openai

    monkeypatch.setenv("LLMFEEDBACK_HTTP", "httpx")
    assert fast_http_client(openai) is None
    monkeypatch.delenv("LLMFEEDBACK_HTTP")
    client = fast_http_client(openai)
    assert client is not None and type(client).__name__ != "AsyncClient"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_default_httpx_transport_classifies_failures_too(tmp_path, monkeypatch, provider):
    monkeypatch.setenv("LLMFEEDBACK_HTTP", "httpx")
    monkeypatch.setenv(KEY_ENV, "k")
    with FakeLLM(script=["500", "malformed", "disconnect", "timeout"], timeout_sleep_s=2.0) as fake:
        cfg = config_with(fake_model(fake, "m1", provider, timeout_s=0.3, max_retries=5))
        gw = Gateway(cfg, Warehouse(tmp_path / "w.duckdb"), backoff_base_s=0.01, backoff_cap_s=0.02)
        results, stats = gw.run(numbered_requests("m1", 3))
    assert all(r.ok and r.attempts == 5 for r in results) and stats.retries == 12


def test_the_simulator_samples_only_above_temperature_zero(tmp_path):
    """Like a real model, the simulator repeats itself at temperature 0 whatever the sample index (greedy),
    and varies by sample above it: identical best-of-n samples show instead of hiding."""
    from llmfeedback_assets.config import Config

    cfg = Config.model_validate({
        "models": [{"name": "sim-a", "provider": "sim", "sim": {"quality": 0.6, "verbosity": 0.3}}],
        "responders": ["sim-a"], "judges": [], "prompt_sources": [{"path": "prompts"}]})
    question = (("user", "Explain why the sky is blue in two sentences."),)
    reqs = [ChatRequest(model="sim-a", messages=question, sample=s, temperature=t)
            for t in (0.0, 1.0) for s in range(4)]
    results, _ = Gateway(cfg, Warehouse(tmp_path / "w.duckdb")).run(reqs)
    greedy, sampled = [r.text for r in results[:4]], [r.text for r in results[4:]]
    assert all(r.ok for r in results) and len({r.request_key for r in results}) == 8  # 8 calls, 8 keys
    assert len(set(greedy)) == 1 and len(set(sampled)) == 4
