"""The judgments partition of one judge materialized by `dagster asset materialize` subprocesses against a
fake OpenAI server: two runs started 2 s apart pay for every request once, and a run killed with SIGKILL
leaves no step worker spending: it stops within a second or two, the run is marked failed, and a restart
finishes from the journal without paying twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from llmfeedback_assets.config import load_config
from llmfeedback_assets.llm.journal import process_gone
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.configs import KEY_ENV, fake_model
from llmfeedback_assets_tests.support.fake_llm import FakeLLM
from llmfeedback_assets_tests.support.ops import (
    DAGSTER_MATERIALIZE,
    REPO,
    dagster_env,
    expected_judgments,
    judgment_counts,
    prepare_inputs,
)
from llmfeedback_assets_tests.support.project import SIM_MODELS, write_config

pytestmark = pytest.mark.slow
JUDGE = "judge-remote"
CONCURRENCY = 4
MATERIALIZE = [*DAGSTER_MATERIALIZE, "-m", "llmfeedback_assets.definitions", "--select", "judgments",
               "--partition", JUDGE]  # default (multiprocess) executor: the step runs in a child process


def _project(tmp_path: Path, fake: FakeLLM) -> tuple[Path, dict, Warehouse]:
    models = [*SIM_MODELS, fake_model(fake, JUDGE, max_concurrency=CONCURRENCY)]
    # the fake server echoes instead of grading: every reply is a parse failure, which is not under test
    config = write_config(tmp_path, n_prompts=6, models=models, judges=[JUDGE],
                          judging={"max_parse_failure_rate": 1.0})
    env = dagster_env(tmp_path, config, **{KEY_ENV: "sk-test-key"})
    prepare_inputs(env)
    return config, env, Warehouse(load_config(config).database_path)


def _start(env: dict, log: Path) -> subprocess.Popen:
    # output to a file: a killed run's orphaned step worker still holds it, and nobody must have to read it
    return subprocess.Popen(MATERIALIZE, env=env, cwd=REPO, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def _runs(env: dict) -> list:
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    try:
        records = instance.get_run_records()
        return sorted((r for r in records if r.dagster_run.tags.get("dagster/partition") == JUDGE),
                      key=lambda r: r.create_timestamp)
    finally:
        instance.dispose()


def _paid_twice(stats: dict) -> int:
    return stats["received"] - stats["distinct"]


def test_two_runs_of_one_partition_started_2s_apart_pay_once(tmp_path):
    with FakeLLM(latency_s=0.3) as fake:
        config, env, wh = _project(tmp_path, fake)
        first = _start(env, tmp_path / "first.log")
        time.sleep(2.0)
        second = _start(env, tmp_path / "second.log")
        assert first.wait(240) == 0, (tmp_path / "first.log").read_text()[-3000:]
        assert second.wait(240) == 0, (tmp_path / "second.log").read_text()[-3000:]
        st = fake.stats()
    print(f"two runs 2 s apart: {st['received']} requests for {st['distinct']} distinct, "
          f"paid twice {_paid_twice(st)}")
    assert st["distinct"] > 50 and _paid_twice(st) == 0
    runs = _runs(env)
    assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
    assert runs[1].start_time < runs[0].end_time  # they really overlapped
    assert judgment_counts(wh).loc[JUDGE, "n"] == expected_judgments(wh, JUDGE)
    logs = (tmp_path / "first.log").read_text() + (tmp_path / "second.log").read_text()
    assert "waiting for their answers instead of paying twice" in logs


def test_a_killed_run_stops_spending_is_marked_failed_and_a_restart_finishes(tmp_path):
    with FakeLLM(latency_s=0.3) as fake:
        config, env, wh = _project(tmp_path, fake)
        first = _start(env, tmp_path / "first.log")
        deadline = time.monotonic() + 120
        while fake.stats()["received"] < 30:
            assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()
            time.sleep(0.05)
        step = wh.query("SELECT pid FROM llm_claim_owners")["pid"].tolist()
        assert len(step) == 1 and step[0] != first.pid  # the step worker, a child of the run process
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        at_kill = fake.stats()["received"]
        time.sleep(2.0)
        after_2s = fake.stats()["received"]
        time.sleep(1.5)
        assert fake.stats()["received"] == after_2s, "the orphaned step worker is still sending"
        deadline = time.monotonic() + 30
        while not process_gone(int(step[0]), "0"):
            assert time.monotonic() < deadline, "the orphaned step worker did not exit"
            time.sleep(0.1)
        restart = subprocess.run(MATERIALIZE, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
        assert restart.returncode == 0, restart.stdout[-3000:] + restart.stderr[-3000:]
        st = fake.stats()
    print(f"run killed after {at_kill} requests: its step sent {after_2s - at_kill} more, then stopped; "
          f"{st['received']} requests for {st['distinct']} distinct, paid twice {_paid_twice(st)}")
    assert after_2s - at_kill <= 2 * CONCURRENCY
    assert _paid_twice(st) <= CONCURRENCY  # at most what was on the wire; the step drains it, so usually 0
    runs = _runs(env)
    assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS]
    assert judgment_counts(wh).loc[JUDGE, "n"] == expected_judgments(wh, JUDGE)
    assert wh.count("llm_claims") == 0 and wh.count("llm_claim_owners") == 0
