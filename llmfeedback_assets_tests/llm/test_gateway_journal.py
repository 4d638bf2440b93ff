"""The request journal: spool files, merging into DuckDB, recovery of spools left by dead processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from llmfeedback_assets.llm import journal as jmod
from llmfeedback_assets.llm.journal import Journal
from llmfeedback_assets.llm.types import ChatResult
from llmfeedback_assets.warehouse import Warehouse


def result(key: str, status: str = "ok", text: str | None = "answer") -> ChatResult:
    return ChatResult(key, "m1", status, text if status == "ok" else None, 10, 5, 0.001, 0.2, 1,
                      None if status == "ok" else "boom")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def spool_name(pid: int, start: str = "0", host: str | None = None) -> str:
    return f"{pid}-{start}-deadbeef@{host or jmod._HOST}.jsonl"


def spool_row(key: str, status: str = "ok") -> dict:
    return {"request_key": key, "provider": "openai", "model": "m1", "status": status,
            "text": "recovered" if status == "ok" else None, "input_tokens": 3, "output_tokens": 4,
            "cost_usd": 0.0, "latency_s": 0.1, "attempts": 1, "error": None, "batch": False,
            "created_at": "2026-01-01T00:00:00"}


def test_answers_are_in_the_spool_at_once_and_in_duckdb_after_flush(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    j = Journal(wh)
    j.record(result("k1"), provider="openai")
    assert [json.loads(x)["request_key"] for x in j.spool_path.read_text().splitlines()] == ["k1"]
    assert wh.count("llm_journal") == 0
    assert Journal(wh, recover=False).lookup(["k1"])["k1"]["text"] == "answer"  # another reader sees it
    assert j.flush() == 1 and wh.count("llm_journal") == 1
    j.close()
    assert not j.spool_path.exists()
    assert Journal(wh).lookup(["k1", "k2"]).keys() == {"k1"}


def test_a_timestamp_on_a_whole_second_merges_beside_fractional_ones(tmp_path, monkeypatch):
    """`datetime.isoformat()` drops the fraction at microsecond 0; pandas inferred the format from the first
    row and failed the whole flush on such a row (a 10x benchmark run lost a judge partition to it)."""
    import datetime as dt

    wh = Warehouse(tmp_path / "w.duckdb")
    j = Journal(wh)
    times = iter([dt.datetime(2026, 12, 1, 10, 0, 0, 123456), dt.datetime(2026, 12, 1, 10, 0, 1)])
    monkeypatch.setattr(jmod, "_now", lambda: next(times))
    j.record(result("k1"), provider="openai")
    j.record(result("k2"), provider="openai")
    spooled = [json.loads(x)["created_at"] for x in j.spool_path.read_text().splitlines()]
    assert spooled == ["2026-12-01T10:00:00.123456", "2026-12-01T10:00:01.000000"]
    j._pending.append(spool_row("k3"))  # a row replayed from an older version's spool: no fraction at all
    assert j.flush() == 3
    got = wh.query("SELECT request_key, created_at FROM llm_journal ORDER BY request_key")
    assert got["created_at"].dt.microsecond.tolist() == [123456, 0, 0]


def test_failures_are_replaced_by_answers_never_the_reverse(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    j = Journal(wh)
    j.record(result("k1", "failed"), provider="openai")
    j.record(result("k2", "ok"), provider="openai")
    j.flush()
    assert Journal(wh, recover=False).lookup(["k1", "k2"]).keys() == {"k2"}  # a failure is not an answer
    j.record(result("k1", "ok", "second try"), provider="openai")
    j.record(result("k2", "failed"), provider="openai")
    j.close()
    rows = wh.table("llm_journal").set_index("request_key")
    assert rows.loc["k1", "status"] == "ok" and rows.loc["k1", "text"] == "second try"
    assert rows.loc["k2", "status"] == "ok" and rows.loc["k2", "text"] == "answer"


def test_a_dead_process_spool_is_merged_and_removed_torn_line_ignored(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    spool_dir = tmp_path / "w.duckdb.journal"
    spool_dir.mkdir()
    dead = spool_dir / spool_name(dead_pid())
    dead.write_text(json.dumps(spool_row("a")) + "\n" + json.dumps(spool_row("b", "failed")) + "\n"
                    + json.dumps(spool_row("c"))[:40])  # killed mid-write
    j = Journal(wh)
    assert j.recovered == 2 and not dead.exists()
    rows = wh.table("llm_journal").set_index("request_key")
    assert sorted(rows.index) == ["a", "b"] and rows.loc["a", "text"] == "recovered"
    assert j.lookup(["a", "b", "c"]).keys() == {"a"}
    j.close()


def test_spools_of_live_processes_are_left_alone_but_read(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    spool_dir = tmp_path / "w.duckdb.journal"
    spool_dir.mkdir()
    live = spool_dir / spool_name(os.getpid(), jmod._start_time(os.getpid()))
    live.write_text(json.dumps(spool_row("x")) + "\n")
    j = Journal(wh)
    assert j.recovered == 0 and live.exists()
    assert j.lookup(["x"]).keys() == {"x"}
    j.close()


def test_a_reused_pid_does_not_keep_a_spool_alive(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    spool_dir = tmp_path / "w.duckdb.journal"
    spool_dir.mkdir()
    if jmod._start_time(os.getpid()) == "0":
        pytest.skip("no /proc start times on this system")
    reused = spool_dir / spool_name(os.getpid(), "1")  # our pid, but another process's start time
    reused.write_text(json.dumps(spool_row("y")) + "\n")
    assert Journal(wh).recovered == 1 and not reused.exists()


def test_foreign_host_spools_are_merged_once_stale(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    spool_dir = tmp_path / "w.duckdb.journal"
    spool_dir.mkdir()
    fresh = spool_dir / spool_name(12345, "99", host="other-container")
    stale = spool_dir / spool_name(12346, "99", host="old-container")
    fresh.write_text(json.dumps(spool_row("f")) + "\n")
    stale.write_text(json.dumps(spool_row("s")) + "\n")
    old = time.time() - jmod.FOREIGN_SPOOL_STALE_S - 60
    os.utime(stale, (old, old))
    j = Journal(wh)
    assert j.recovered == 1 and fresh.exists() and not stale.exists()
    assert j.lookup(["f", "s"]).keys() == {"f", "s"}
    j.close()


def test_batch_records_round_trip(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    j = Journal(wh)
    j.add_batch("batch_1", "openai", "m1", ["k1", "k2"])
    j.add_batch("batch_2", "openai", "m2", ["k3"])
    assert [b["batch_id"] for b in j.open_batches("m1")] == ["batch_1"]
    assert j.open_batches("m1")[0]["keys"] == ["k1", "k2"]
    j.close_batch("batch_1", "collected", "2/2 completed")
    assert j.open_batches("m1") == []
    row = wh.table("llm_batches").set_index("batch_id").loc["batch_1"]
    assert row["status"] == "collected" and row["detail"] == "2/2 completed"
    assert row["finished_at"] is not None
    j.close()
