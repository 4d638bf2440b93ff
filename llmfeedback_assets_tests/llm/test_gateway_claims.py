"""Claims in one process: a run waits for keys a live run holds and uses their answers, takes over those of a
dead or silent one, and stops when its own claims were taken over."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
import threading
import time

import pytest

from llmfeedback_assets.llm import Gateway
from llmfeedback_assets.llm import claims as claims_module
from llmfeedback_assets.llm.claims import ClaimsLost
from llmfeedback_assets_tests.support.configs import config_with, fake_model, numbered_requests, server_key


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _foreign_claims(wh, gw: Gateway, reqs, *, host: str, pid: int, heartbeat_age_s: float = 0.0) -> None:
    """Claims on every request by a run of another process, as that process would have written them."""
    beat = _now() - dt.timedelta(seconds=heartbeat_age_s)
    with wh.transaction() as con:
        con.execute("INSERT INTO llm_claim_owners VALUES (?, ?, ?, '0', 'the other run', ?, ?)",
                    ["other-owner", host, pid, beat, beat])
        for req in reqs:
            con.execute("INSERT INTO llm_claims VALUES (?, 'other-owner', ?)", [gw.key_for(req), beat])


def _claims_left(wh) -> tuple[int, int]:
    return wh.count("llm_claims"), wh.count("llm_claim_owners")


def test_claims_of_a_silent_run_on_another_host_are_taken_over_after_the_lease(fake, wh, caplog):
    cfg = config_with(fake_model(fake, "gpt-a"))
    reqs = numbered_requests("gpt-a", 20)
    # a lease long enough that a loaded machine's start-up gap (measured up to ~1.5 s) cannot expire it first
    gw = Gateway(cfg, wh, claim_lease_s=3.0, claim_poll_s=0.1)
    t0 = time.monotonic()
    _foreign_claims(wh, gw, reqs, host="another-host", pid=1)  # alive as far as anyone here can tell
    with caplog.at_level(logging.INFO, logger="llmfeedback.gateway"):
        results, stats = gw.run(reqs)
    waited = time.monotonic() - t0
    assert all(r.ok for r in results)
    assert waited >= 2.9  # it waited for the lease instead of sending at once
    st = fake.stats()
    assert all(st["counts"][server_key(r)] == 1 for r in reqs) and st["received"] == 20
    assert stats.sent == 20 and stats.cache_hits == 0
    assert "waiting for their answers instead of paying twice" in caplog.text
    assert "taking over 20 request(s)" in caplog.text
    assert _claims_left(wh) == (0, 0)


def test_claims_of_a_dead_process_on_this_host_are_taken_over_at_once(fake, wh):
    cfg = config_with(fake_model(fake, "gpt-a"))
    reqs = numbered_requests("gpt-a", 10)
    dead = subprocess.Popen(["true"])
    dead.wait()
    gw = Gateway(cfg, wh, claim_lease_s=60.0, claim_poll_s=0.1)
    _foreign_claims(wh, gw, reqs, host=claims_module.HOST, pid=dead.pid)
    t0 = time.monotonic()
    results, stats = gw.run(reqs)
    assert time.monotonic() - t0 < 10  # not the 60 s lease: the pid is gone
    assert all(r.ok for r in results) and stats.sent == 10
    assert fake.stats()["received"] == 10
    assert _claims_left(wh) == (0, 0)


def test_a_waiting_run_uses_the_answers_the_claimant_journals(fake, wh, tmp_path):
    """A live claimant (another process) answers while this run waits: every answer is a cache hit."""
    cfg = config_with(fake_model(fake, "gpt-a"))
    reqs = numbered_requests("gpt-a", 12)
    gw = Gateway(cfg, wh, claim_lease_s=60.0, claim_poll_s=0.1)
    holder = subprocess.Popen(["sleep", "30"])  # stands for the claimant: alive on this host
    try:
        _foreign_claims(wh, gw, reqs, host=claims_module.HOST, pid=holder.pid)
        keys = [gw.key_for(r) for r in reqs]
        # The claimant's flush, from another process after 1 s: answers in, its claims out.
        script = (
            "import time, datetime as dt, sys\n"
            "from llmfeedback_assets.warehouse import Warehouse\n"
            "time.sleep(1.0)\n"
            "wh = Warehouse(sys.argv[1])\n"
            "now = dt.datetime.now(dt.UTC).replace(tzinfo=None)\n"
            "with wh.transaction() as con:\n"
            "    for k in sys.argv[2:]:\n"
            "        con.execute(\"INSERT INTO llm_journal VALUES (?, 'openai', 'gpt-a', 'ok', 'theirs',"
            " 1, 1, 0.0, 0.1, 1, NULL, false, ?)\", [k, now])\n"
            "    con.execute(\"DELETE FROM llm_claims WHERE owner = 'other-owner'\")\n"
        )
        writer = subprocess.Popen([sys.executable, "-c", script, str(wh.path), *keys])
        results, stats = gw.run(reqs)
        assert writer.wait(30) == 0
    finally:
        holder.kill()
        holder.wait()
    assert [r.text for r in results] == ["theirs"] * 12
    assert stats.cache_hits == 12 and stats.sent == 0
    assert fake.stats()["received"] == 0


def test_a_run_whose_claims_were_taken_over_stops(fake, wh):
    fake.configure(latency_s=0.3)
    cfg = config_with(fake_model(fake, "gpt-a", max_concurrency=2))
    reqs = numbered_requests("gpt-a", 80)  # ~12 s alone: a take-over delayed by a loaded machine still lands
    gw = Gateway(cfg, wh, claim_lease_s=1.0, journal_flush_s=0.2)

    def take_over() -> None:  # what another run does once it finds this one dead
        # once the run has registered and is sending (on a loaded machine it can take longer than a fixed
        # second to start, and a take-over before its first claim takes nothing)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (wh.count("llm_claim_owners") == 0
                                               or fake.stats()["received"] < 2):
            time.sleep(0.05)
        with wh.transaction() as con:
            con.execute("DELETE FROM llm_claims")
            con.execute("DELETE FROM llm_claim_owners")

    t = threading.Thread(target=take_over)
    t.start()
    with pytest.raises(ClaimsLost, match="took over"):
        gw.run(reqs)
    t.join()
    received = fake.stats()["received"]
    assert received < 80
    # what was sent was answered and journaled before the run stopped
    assert wh.count("llm_journal", "WHERE status = 'ok'") == received
