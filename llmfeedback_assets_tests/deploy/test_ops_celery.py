"""Four judge partitions executed by two Celery workers through a real broker (RabbitMQ, else Redis), on
the PostgreSQL instance of deploy/postgres/dagster.yaml with deploy/celery_defs.py and
deploy/celery/celery.yaml. Every step runs exactly once, on one of the two workers, both workers take part,
and every judgment lands once. Skips when PostgreSQL or both brokers are unreachable on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
import yaml

from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.ops import (
    BIN,
    DAGSTER_MATERIALIZE,
    FOUR_JUDGE_MODELS,
    FOUR_JUDGES,
    REPO,
    dagster_env,
    expected_judgments,
    judgment_counts,
    port_open,
    postgres_database,
    postgres_env,
    prepare_inputs,
    require_service,
)
from llmfeedback_assets_tests.support.project import write_config

pytestmark = [pytest.mark.slow, pytest.mark.services]


def _broker() -> dict[str, str]:
    if port_open(5672):
        return {"DAGSTER_CELERY_BROKER": "pyamqp://guest:guest@127.0.0.1:5672//",
                "DAGSTER_CELERY_BACKEND": "rpc://"}
    if port_open(6379):
        return {"DAGSTER_CELERY_BROKER": "redis://127.0.0.1:6379/0",
                "DAGSTER_CELERY_BACKEND": "redis://127.0.0.1:6379/1"}
    pytest.skip("no Celery broker: neither RabbitMQ (5672) nor Redis (6379) is reachable on 127.0.0.1")


def _celery_config(tmp_path: Path, queue: str) -> Path:
    """The shipped run/worker config with a queue of this test's own, so no other worker takes its tasks."""
    cfg = yaml.safe_load((REPO / "deploy" / "celery" / "celery.yaml").read_text())
    cfg["execution"]["config"]["config_source"]["task_default_queue"] = queue
    # rpc:// reply queues expire a minute after use instead of a day.
    cfg["execution"]["config"]["config_source"]["result_expires"] = 60
    path = tmp_path / "celery.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _start_worker(name: str, config: Path, queue: str, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", str(config),
         "-n", name, "-q", queue, "--", "--concurrency=1", "--without-gossip", "--without-mingle"],
        env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(workers: dict[str, tuple[subprocess.Popen, Path]], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    pending = set(workers)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            proc, log = workers[name]
            assert proc.poll() is None, f"worker {name} exited:\n{log.read_text()[-3000:]}"
            if " ready." in log.read_text():
                pending.discard(name)
        time.sleep(0.5)
    assert not pending, f"workers never became ready: {pending}"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _delete_queue(broker: str, queue: str) -> None:
    from kombu import Connection

    try:
        with Connection(broker, connect_timeout=5) as conn:
            conn.default_channel.queue_delete(queue)
    except Exception:  # noqa: BLE001 - the queue may not exist; it is only housekeeping
        pass


def _step_workers(instance: dg.DagsterInstance, run_id: str) -> tuple[Counter, Counter, set[str]]:
    """(step successes per step, celery executions per step, worker hostnames) from the run's events."""
    successes: Counter = Counter()
    executions: Counter = Counter()
    hosts: set[str] = set()
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            successes[event.step_key] += 1
        elif event.event_type == dg.DagsterEventType.ENGINE_EVENT:
            worker = (event.engine_event_data.metadata or {}).get("Celery worker")
            if worker is not None:  # the event a worker writes when it picks up a step
                executions[event.step_key] += 1
                hosts.add(str(worker.value))
    return successes, executions, hosts


def test_two_celery_workers_judge_four_partitions_exactly_once(tmp_path, monkeypatch):
    require_service(5432, "PostgreSQL")
    broker = _broker()
    with postgres_database() as db:
        config = write_config(tmp_path, n_prompts=4, models=FOUR_JUDGE_MODELS, judges=FOUR_JUDGES)
        env = dagster_env(tmp_path, config, REPO / "deploy" / "postgres" / "dagster.yaml",
                          **postgres_env(db), **broker)
        prepare_inputs(env)

        tag = uuid.uuid4().hex[:8]
        queue = f"llmfeedback-test-{tag}"
        celery_yaml = _celery_config(tmp_path, queue)
        names = [f"w1-{tag}", f"w2-{tag}"]
        workers = {n: (_start_worker(n, celery_yaml, queue, env, tmp_path / f"{n}.log"),
                       tmp_path / f"{n}.log")
                   for n in names}
        try:
            _wait_ready(workers)
            runs = {judge: subprocess.Popen(
                [*DAGSTER_MATERIALIZE, "-m", "deploy.celery_defs", "-c", str(celery_yaml), "--select",
                 "judgments", "--partition", judge], env=env, cwd=REPO, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True) for judge in FOUR_JUDGES}
            outputs = {judge: p.communicate(timeout=300)[0] for judge, p in runs.items()}
        finally:
            for proc, _ in workers.values():
                _stop(proc)
            _delete_queue(broker["DAGSTER_CELERY_BROKER"], queue)
        for judge, p in runs.items():
            assert p.returncode == 0, f"{judge} failed:\n{outputs[judge][-3000:]}"

        wh = Warehouse(load_config(config).database_path)
        counts = judgment_counts(wh)
        assert sorted(counts.index) == sorted(FOUR_JUDGES)
        for judge in FOUR_JUDGES:
            expected = expected_judgments(wh, judge)
            assert expected > 0
            assert counts.loc[judge, "n"] == counts.loc[judge, "distinct_ids"] == expected, judge

        for key, value in postgres_env(db).items():
            monkeypatch.setenv(key, value)
        instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
        try:
            judge_runs = [r for r in instance.get_runs() if r.tags.get("dagster/partition")]
            assert sorted(r.tags["dagster/partition"] for r in judge_runs) == sorted(FOUR_JUDGES)
            all_hosts: set[str] = set()
            for r in judge_runs:
                assert r.status == dg.DagsterRunStatus.SUCCESS
                successes, executions, hosts = _step_workers(instance, r.run_id)
                assert "judgments" in successes
                assert set(successes.values()) == {1}, successes
                assert executions == successes, (executions, successes)
                all_hosts |= hosts
        finally:
            instance.dispose()
        assert {h.split("@")[0] for h in all_hosts} == set(names)
