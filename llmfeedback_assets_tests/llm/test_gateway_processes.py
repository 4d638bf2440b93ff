"""Gateway runs in separate processes: killed with SIGKILL mid-run, and four partitions at once on one
file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def child(config: Path, db: Path, model: str, n: int, flush_s: float = 2.0) -> subprocess.Popen:
    env = dict(os.environ, **{KEY_ENV: "sk-test-key"}, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "llmfeedback_assets_tests.support.gateway_child", "--config", str(config),
         "--db", str(db), "--model", model, "--n", str(n), "--flush-s", str(flush_s)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return {"summary": json.loads(out.strip().splitlines()[-1]), "stderr": err}


def test_sigkill_loses_only_requests_in_flight(tmp_path):
    n, concurrency = 150, 4
    with FakeLLM(latency_s=0.05) as fake:  # ~80 requests/s: the kill lands well before the end
        config = tmp_path / "c.yaml"
        write_config(config, fake_model(fake, "judge-k", max_concurrency=concurrency))
        db = tmp_path / "w.duckdb"

        first = child(config, db, "judge-k", n)
        deadline = time.monotonic() + 90
        while fake.stats()["received"] < 50:
            assert first.poll() is None, first.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the child never got going"
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        assert first.returncode == -signal.SIGKILL
        at_kill = fake.stats()["received"]
        assert 50 <= at_kill < n  # really killed mid-run

        rerun = finish(child(config, db, "judge-k", n))
        st = fake.stats()

    reqs = numbered_requests("judge-k", n)
    counts = [st["counts"].get(server_key(r), 0) for r in reqs]
    assert all(c >= 1 for c in counts)
    resent = sum(c - 1 for c in counts)
    assert resent <= concurrency  # only the requests in flight at the kill were sent twice
    assert st["received"] == n + resent
    assert rerun["summary"]["cache_hits"] >= at_kill - concurrency
    assert rerun["summary"]["sent"] == n - rerun["summary"]["cache_hits"]
    wh = Warehouse(db)
    assert wh.count("llm_journal", "WHERE status = 'ok' AND model = 'judge-k'") == n
    assert list(Path(str(db) + ".journal").glob("*.jsonl")) == []  # the dead run's spool was merged


def test_four_partitions_at_once_share_one_duckdb_file(tmp_path):
    n = 80
    models = [f"judge-{c}" for c in "abcd"]
    with FakeLLM(latency_s=0.005) as fake:
        config = tmp_path / "c.yaml"
        write_config(config, *[fake_model(fake, m, max_concurrency=8) for m in models])
        db = tmp_path / "w.duckdb"
        # flush every 50 ms: four writers compete for the DuckDB lock all the time
        procs = [child(config, db, m, n, flush_s=0.05) for m in models]
        runs = [finish(p) for p in procs]
        st = fake.stats()
    for run in runs:
        assert run["summary"]["ok"] == n and run["summary"]["failed"] == 0
        assert "lock" not in run["stderr"].lower() and "Traceback" not in run["stderr"]
    assert st["received"] == 4 * n and all(c == 1 for c in st["counts"].values())
    wh = Warehouse(db)
    per_model = wh.query("SELECT model, count(*) AS n FROM llm_journal WHERE status = 'ok' GROUP BY model")
    assert dict(zip(per_model["model"], per_model["n"], strict=True)) == dict.fromkeys(models, n)
    assert list(Path(str(db) + ".journal").glob("*.jsonl")) == []
