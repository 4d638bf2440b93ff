"""An endpoint nobody answers at fails fast with one clear error; one that answers badly is retried."""

from __future__ import annotations

import socket
import time

import pytest

from llmfeedback_assets.config import ConfigError, load_config
from llmfeedback_assets.llm import FatalModelError, Gateway
from llmfeedback_assets_tests.support.configs import config_with, fake_model, numbered_requests


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_closed_port_stops_the_model_in_seconds_with_one_clear_error(fake, wh, provider):
    url = f"http://127.0.0.1:{_closed_port()}" + ("/v1" if provider == "openai" else "")
    cfg = config_with(fake_model(fake, "judge-down", provider, base_url=url, max_retries=6, timeout_s=5.0))
    t0 = time.monotonic()
    with pytest.raises(FatalModelError) as err:
        Gateway(cfg, wh, journal_flush_s=0.2).run(numbered_requests("judge-down", 200))
    took = time.monotonic() - t0
    message = str(err.value)
    assert "judge-down" in message and url in message and "cannot reach" in message
    assert "refused" in message.lower() or "connect call failed" in message.lower()
    assert took < 10.0  # the default backoff retries for minutes before giving a request up
    assert wh.table("llm_journal").empty  # no failed rows for the partition


def test_a_name_that_does_not_resolve_stops_the_model(fake, wh):
    url = "http://no-such-host.invalid/v1"
    cfg = config_with(fake_model(fake, "judge-dns", base_url=url, timeout_s=5.0))
    with pytest.raises(FatalModelError, match="judge-dns: cannot reach http://no-such-host.invalid/v1"):
        Gateway(cfg, wh, journal_flush_s=0.2).run(numbered_requests("judge-dns", 20))


@pytest.mark.parametrize("outcome", ["disconnect", "hang"])
def test_a_server_that_accepts_connections_is_retried_not_declared_down(fake, wh, outcome):
    # Dropped connections and read timeouts come from a server that is there: they are retried, however
    # many come in a row (the OpenAI SDK's aiohttp transport even calls a dropped connection a timeout).
    fake.configure(script=[outcome] * 3, hang_s=1.0)
    cfg = config_with(fake_model(fake, "judge-flaky", max_retries=6, timeout_s=0.3))
    results, stats = Gateway(cfg, wh, backoff_base_s=0.2, backoff_cap_s=0.4,
                             journal_flush_s=0.2).run(numbered_requests("judge-flaky", 8))
    assert all(r.ok and r.attempts == 4 for r in results) and stats.retries == 24


@pytest.mark.parametrize("bad", ["localhost:8000/v1", "ftp://example.com/v1", "http://", "http://h:99999/v1"])
def test_base_url_must_be_an_http_url_with_a_host(tmp_path, bad):
    path = tmp_path / "config.yaml"
    path.write_text(f"models:\n  - {{name: m1, provider: openai, base_url: '{bad}'}}\nresponders: [m1]\n"
                    "judges: []\nprompt_sources: [{path: prompts}]\n")
    with pytest.raises(ConfigError, match=r"models\.0\.base_url: .*base_url"):
        load_config(path)
