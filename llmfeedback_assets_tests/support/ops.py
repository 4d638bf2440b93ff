"""Helpers for the operations tests (test_ops_*.py): subprocess runs on a temp instance, service probes,
a fresh PostgreSQL database per test, and the number of judgments a judge must produce."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.project import SIM_MODELS

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAGSTER_MATERIALIZE = [str(BIN / "dagster"), "asset", "materialize"]

# Four simulated judges, so four judge partitions can run at once.
FOUR_JUDGES = ["judge-clean", "judge-noisy", "judge-lenient", "judge-harsh"]
FOUR_JUDGE_MODELS = SIM_MODELS + [
    {"name": "judge-lenient", "provider": "sim", "sim_judge": {"noise": 0.1, "position_bias": 0.1}},
    {"name": "judge-harsh", "provider": "sim", "sim_judge": {"noise": 0.2, "verbosity_bias": 0.3}},
]

PG_HOST, PG_PORT = "127.0.0.1", 5432


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_service(port: int, name: str) -> None:
    if not port_open(port):
        pytest.skip(f"{name} is not reachable on 127.0.0.1:{port}")


def dagster_env(tmp_path: Path, config: Path, instance_yaml: Path | None = None, **extra: str) -> dict:
    """Environment for a CLI run: a temp DAGSTER_HOME holding `instance_yaml` (default: the repo's)."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(instance_yaml or REPO / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMFEEDBACK_", "DAGSTER_"))}
    # The venv's bin first: dagster-celery starts `celery`, dagster dev starts `dagster-webserver`.
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env.update(DAGSTER_HOME=str(home), LLMFEEDBACK_CONFIG=str(config), PYTHONPATH=str(REPO),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def run(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


IN_PROCESS = ["--config-json", '{"execution": {"config": {"in_process": {}}}}']


def prepare_inputs(env: dict) -> None:
    """Register the judge partitions and materialize everything the judgments read (in one process:
    this is setup, not the thing under test)."""
    run([str(BIN / "llmfeedback"), "sync-partitions"], env)
    run([*DAGSTER_MATERIALIZE, "-m", "llmfeedback_assets.definitions", "--select",
         "prompts,sim_ground_truth,responses", *IN_PROCESS], env)


def expected_judgments(wh: Warehouse, judge: str) -> int:
    """Rows one judge must write under the default modes (single + pairwise), counted from the inputs:
    per prompt and turn, k responders (not the judge) answered every turn so far -> k grades, k(k-1)/2
    pairs."""
    prompts = wh.query("SELECT prompt_id, n_turns FROM prompts")
    ok = wh.query("SELECT prompt_id, responder_model, turn FROM responses "
                  "WHERE status = 'ok' AND sample = 0 AND responder_model <> ?", [judge])
    answered = ok.groupby(["prompt_id", "responder_model"])["turn"].apply(set).to_dict()
    total = 0
    for p in prompts.itertuples(index=False):
        for t in range(1, int(p.n_turns) + 1):
            k = sum(1 for (pid, _), turns in answered.items()
                    if pid == p.prompt_id and set(range(1, t + 1)) <= turns)
            total += k + k * (k - 1) // 2
    return total


def judgment_counts(wh: Warehouse) -> pd.DataFrame:
    """Per judge: rows and distinct judgment ids."""
    return wh.query("SELECT judge_model, count(*) AS n, count(DISTINCT judgment_id) AS distinct_ids "
                    "FROM judgments GROUP BY 1 ORDER BY 1").set_index("judge_model")


@contextlib.contextmanager
def postgres_database(prefix: str = "llmf_test") -> Iterator[str]:
    """A new, empty PostgreSQL database (trust auth, user postgres), dropped afterwards; the test is skipped
    where PostgreSQL is absent."""
    require_service(PG_PORT, "PostgreSQL")
    with new_postgres_database(prefix) as name:
        yield name


@contextlib.contextmanager
def new_postgres_database(prefix: str, host: str = PG_HOST, port: int = PG_PORT,
                          user: str = "postgres") -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped (with its sessions) afterwards (benchmarks use it too)."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host=host, port=port, user=user, dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def assert_every_judgment_once(wh: Warehouse, judges: list[str]) -> None:
    """Each judge holds exactly the judgments its inputs call for, each judgment id once."""
    counts = judgment_counts(wh)
    assert sorted(counts.index) == sorted(judges)
    for judge in judges:
        expected = expected_judgments(wh, judge)
        assert expected > 0
        assert counts.loc[judge, "n"] == expected, judge
        assert counts.loc[judge, "distinct_ids"] == expected, judge


def assert_partition_runs_overlapped(dagster_home: str, judges: list[str]) -> None:
    """One successful run per judge partition in the instance, and at least two in progress at once."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(dagster_home)
    try:
        runs = [r for r in instance.get_run_records() if r.dagster_run.tags.get("dagster/partition")]
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in runs) == sorted(judges)
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        overlapping = [(a, b) for a in runs for b in runs if a is not b
                       and a.start_time < b.start_time < a.end_time]
        assert overlapping, "no two runs were in progress at the same time"
    finally:
        instance.dispose()


def postgres_env(db_name: str) -> dict[str, str]:
    """The variables deploy/postgres/dagster.yaml reads."""
    return {"DAGSTER_PG_HOST": PG_HOST, "DAGSTER_PG_PORT": str(PG_PORT), "DAGSTER_PG_USERNAME": "postgres",
            "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": db_name}
