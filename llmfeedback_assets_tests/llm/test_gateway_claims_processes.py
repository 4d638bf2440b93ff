"""Overlapping gateway runs in separate processes on one warehouse pay for each request once: later runs
wait for what the first is sending; a claimant killed with SIGKILL is taken over, and only what it had on
the wire is paid twice; a run whose parent process dies stops sending. The first three hold on a DuckDB file
and on a DuckLake (no keys, snapshot isolation: claims decided by row order)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.configs import (
    KEY_ENV,
    fake_model,
    numbered_requests,
    server_key,
    write_config,
)
from llmfeedback_assets_tests.support.fake_llm import FakeLLM
from llmfeedback_assets_tests.support.lake import lake_spec

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
CHILD = [sys.executable, "-m", "llmfeedback_assets_tests.support.gateway_child"]


class Store(NamedTuple):
    """The warehouse the children share: `db` (the file, or only the spool's place on a lake), the child
    arguments that select it, and a Warehouse on it to inspect."""

    db: Path
    args: tuple[str, ...]
    wh: Warehouse


@pytest.fixture(params=["duckdb", "ducklake"])
def store(request, tmp_path) -> Iterator[Store]:
    db = tmp_path / "w.duckdb"
    if request.param == "duckdb":
        yield Store(db, (), Warehouse(db))
        return
    with lake_spec(tmp_path) as spec:
        yield Store(db, ("--lake-catalog", spec.catalog, "--lake-data", spec.data_path),
                    Warehouse(db, lake=spec))


def child(config: Path, db: Path, model: str, n: int, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, **{KEY_ENV: "sk-test-key"}, PYTHONPATH=str(REPO))
    return subprocess.Popen([*CHILD, "--config", str(config), "--db", str(db), "--model", model,
                             "--n", str(n), "--poll-s", "0.3", "--flush-s", "0.5", *extra],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def paid_twice(stats: dict, reqs) -> int:
    """Requests the server answered more than once."""
    return sum(max(0, stats["counts"].get(server_key(r), 0) - 1) for r in reqs)


def journal_ok(wh: Warehouse) -> tuple[int, int]:
    """(ok rows, distinct keys among them) in the journal table."""
    df = wh.query("SELECT count(*) AS n, count(DISTINCT request_key) AS k FROM llm_journal "
                  "WHERE status = 'ok'")
    return int(df["n"].iloc[0]), int(df["k"].iloc[0])


def claims_left(wh: Warehouse) -> tuple[int, int]:
    return wh.count("llm_claims"), wh.count("llm_claim_owners")


def wait_until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_four_staggered_runs_of_the_same_requests_pay_once(tmp_path, store):
    n = 120
    with FakeLLM(latency_s=0.4) as fake:  # ~6 s for one run at 8 in flight
        config = tmp_path / "c.yaml"
        write_config(config, fake_model(fake, "judge-s", max_concurrency=8))
        procs = []
        for _ in range(4):
            procs.append(child(config, store.db, "judge-s", n, *store.args))
            time.sleep(0.5)
        runs = [finish(p) for p in procs]
        st = fake.stats()
    reqs = numbered_requests("judge-s", n)
    print(f"[{store.wh.backend}] 4 staggered runs x {n} requests: received {st['received']}, "
          f"paid twice {paid_twice(st, reqs)}")
    assert paid_twice(st, reqs) == 0 and st["received"] == n
    for run in runs:
        assert run["ok"] == n and run["failed"] == 0
        assert run["sent"] + run["cache_hits"] == n
    assert sum(r["sent"] for r in runs) == n
    assert claims_left(store.wh) == (0, 0)
    assert journal_ok(store.wh) == (n, n)


def test_runs_of_overlapping_request_sets_started_together_pay_once(tmp_path, store):
    with FakeLLM(latency_s=0.3) as fake:
        config = tmp_path / "c.yaml"
        write_config(config, fake_model(fake, "judge-o", max_concurrency=8))
        windows = [(0, 100), (50, 100), (100, 100), (0, 200)]  # (first, n)
        procs = [child(config, store.db, "judge-o", n, "--first", str(first), *store.args)
                 for first, n in windows]
        runs = [finish(p) for p in procs]
        st = fake.stats()
    reqs = numbered_requests("judge-o", 200)
    print(f"[{store.wh.backend}] 4 overlapping runs over 200 requests: received {st['received']}, "
          f"paid twice {paid_twice(st, reqs)}")
    assert paid_twice(st, reqs) == 0 and st["received"] == 200
    assert [r["ok"] for r in runs] == [n for _, n in windows]
    assert claims_left(store.wh) == (0, 0)
    assert journal_ok(store.wh) == (200, 200)


def test_a_killed_claimant_is_taken_over_and_only_its_requests_in_flight_are_paid_twice(tmp_path, store):
    n, concurrency = 120, 4
    with FakeLLM(latency_s=0.3) as fake:  # ~9 s for one run
        config = tmp_path / "c.yaml"
        write_config(config, fake_model(fake, "judge-k", max_concurrency=concurrency))
        wh = store.wh
        first = child(config, store.db, "judge-k", n, *store.args)
        wait_until(lambda: fake.stats()["received"] >= 20, 60, "the first run never got going")
        second = child(config, store.db, "judge-k", n, *store.args)
        # the second run has claimed nothing (the first holds every key) and is waiting
        wait_until(lambda: wh.count("llm_claim_owners") == 2, 60, "the second run never showed up")
        sent_before = fake.stats()["received"]
        time.sleep(0.5)
        assert fake.stats()["received"] - sent_before <= concurrency * 3  # only the first one sends
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        at_kill = fake.stats()["received"]
        assert at_kill < n
        rerun = finish(second)
        st = fake.stats()
    reqs = numbered_requests("judge-k", n)
    twice = paid_twice(st, reqs)
    print(f"[{store.wh.backend}] claimant SIGKILLed after {at_kill} of {n} requests: paid twice {twice} "
          f"(in flight <= {concurrency})")
    assert twice <= concurrency
    assert all(st["counts"].get(server_key(r), 0) >= 1 for r in reqs)
    assert rerun["ok"] == n and rerun["cache_hits"] >= at_kill - concurrency
    assert journal_ok(wh) == (n, n)
    assert claims_left(wh) == (0, 0)


def test_a_run_whose_parent_dies_stops_sending_and_a_restart_pays_nothing_twice(tmp_path):
    n = 150
    with FakeLLM(latency_s=0.3) as fake:
        config = tmp_path / "c.yaml"
        write_config(config, fake_model(fake, "judge-p", max_concurrency=4))
        db = tmp_path / "w.duckdb"
        env = dict(os.environ, **{KEY_ENV: "sk-test-key"}, PYTHONPATH=str(REPO))
        args = [*CHILD, "--config", str(config), "--db", str(db), "--model", "judge-p", "--n", str(n),
                "--watch-parent"]
        # the parent stands for a Dagster run worker; the gateway child for its step worker
        parent = subprocess.Popen(["bash", "-c", '"$@" & wait', "bash", *args], cwd=REPO, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: fake.stats()["received"] >= 20, 60, "the child never got going")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        killed_at = time.monotonic()
        at_kill = fake.stats()["received"]
        counts = []
        while time.monotonic() - killed_at < 4:
            counts.append((time.monotonic() - killed_at, fake.stats()["received"]))
            time.sleep(0.1)
        stopped = next(t for t, c in counts if c == counts[-1][1])
        out = parent.stdout.read()  # EOF once the orphaned child has exited
        sent = counts[-1][1]
        fake.configure(latency_s=0.0)
        rerun = finish(child(config, db, "judge-p", n))
        st = fake.stats()
    reqs = numbered_requests("judge-p", n)
    print(f"parent killed after {at_kill} requests: the child sent {sent - at_kill} more and stopped "
          f"{stopped:.2f}s later ({sent} of {n}); "
          f"paid twice after the restart: {paid_twice(st, reqs)}")
    assert stopped < 2.0 and sent < n
    assert '"orphaned"' in out
    assert rerun["cache_hits"] == sent  # every answer it had on the wire was kept
    assert paid_twice(st, reqs) == 0
