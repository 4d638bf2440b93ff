"""A judge run on the PostgreSQL instance of deploy/postgres/dagster.yaml: partitions, runs and events
live in PostgreSQL, and the judge run goes through the queued run coordinator and the daemon, as runs
launched from the UI, sensors and backfills do. Skips when PostgreSQL is not on 127.0.0.1:5432."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from dagster import DagsterEventType as E

from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.ops import (
    BIN,
    IN_PROCESS,
    PG_HOST,
    PG_PORT,
    REPO,
    dagster_env,
    expected_judgments,
    judgment_counts,
    postgres_database,
    postgres_env,
    prepare_inputs,
    run,
)
from llmfeedback_assets_tests.support.project import write_config

pytestmark = [pytest.mark.slow, pytest.mark.services]
MODULE = ["-m", "llmfeedback_assets.definitions"]


def _pg(db: str, sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg2

    con = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname=db)
    try:
        with con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        con.close()


def _wait_for_run(db: str, run_id: str, daemon: subprocess.Popen, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    status = "missing"
    while time.monotonic() < deadline:
        rows = _pg(db, "SELECT status FROM runs WHERE run_id = %s", (run_id,))
        status = rows[0][0] if rows else "missing"
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        assert daemon.poll() is None, f"the daemon exited:\n{daemon.stdout.read()[-3000:]}"
        time.sleep(1)
    return status


def test_judge_run_queued_and_stored_in_postgres(tmp_path):
    with postgres_database() as db:
        config = write_config(tmp_path, n_prompts=4)
        env = dagster_env(tmp_path, config, REPO / "deploy" / "postgres" / "dagster.yaml", **postgres_env(db))
        prepare_inputs(env)

        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", *MODULE], env=env, cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        try:
            launched = run([str(BIN / "dagster"), "job", "launch", *MODULE, "-j", "judge_everything",
                            "--tags", json.dumps({"dagster/partition": "judge-clean"}), *IN_PROCESS], env)
            run_id = next(r for (r,) in _pg(db, "SELECT run_id FROM runs WHERE pipeline_name = %s",
                                            ("judge_everything",)))
            status = _wait_for_run(db, run_id, daemon)
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()
        assert status == "SUCCESS", launched.stdout[-2000:]

        # The judge's rows landed in DuckDB, once each.
        wh = Warehouse(load_config(config).database_path)
        counts = judgment_counts(wh)
        assert list(counts.index) == ["judge-clean"]
        assert counts.loc["judge-clean", "n"] == counts.loc["judge-clean", "distinct_ids"] \
            == expected_judgments(wh, "judge-clean")

        # Dagster's state is in PostgreSQL: partitions, runs, and the judge run's path through the queue.
        partitions = {k for (k,) in _pg(db, "SELECT partition FROM dynamic_partitions "
                                            "WHERE partitions_def_name = 'judge_model'")}
        assert partitions == {"judge-clean", "judge-noisy"}
        statuses = dict(_pg(db, "SELECT run_id, status FROM runs"))
        assert statuses[run_id] == "SUCCESS"
        assert list(statuses.values()).count("SUCCESS") >= 2  # and the run that materialized the inputs
        stored = [e for (e,) in _pg(db, "SELECT dagster_event_type FROM event_logs WHERE run_id = %s "
                                        "AND dagster_event_type IS NOT NULL "
                                        "ORDER BY id", (run_id,))]
        events = [E(e).name for e in stored]  # the table keeps legacy names (PIPELINE_START ...)
        for kind in ("RUN_ENQUEUED", "RUN_STARTING", "RUN_START", "ASSET_MATERIALIZATION", "RUN_SUCCESS"):
            assert kind in events, kind
        # Queued by `dagster job launch`, then handed to a run worker by the daemon.
        assert events.index("RUN_ENQUEUED") < events.index("RUN_STARTING") < events.index("RUN_START")
        materialized = _pg(db, "SELECT partition FROM event_logs WHERE run_id = %s "
                               "AND dagster_event_type = 'ASSET_MATERIALIZATION'", (run_id,))
        assert materialized == [("judge-clean",)]
        # ... and nowhere else: no SQLite run or event storage was created under DAGSTER_HOME.
        home = tmp_path / "dagster_home"
        assert not list(home.rglob("*.db")), list(home.rglob("*.db"))
