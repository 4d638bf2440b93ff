"""Orphaned step workers: a gateway run whose parent process (the Dagster run worker) is gone stops sending,
keeps the answers already on the wire, and reports itself; STARTED runs whose worker process is gone are
marked failed by the next step that builds a gateway."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from llmfeedback_assets.defs.resources import WORKER_TAG, fail_dead_runs
from llmfeedback_assets.llm import Gateway
from llmfeedback_assets.llm import claims as claims_module
from llmfeedback_assets.llm.claims import RunOrphaned
from llmfeedback_assets.llm.journal import HOST, process_start_time
from llmfeedback_assets_tests.support.configs import config_with, fake_model, numbered_requests


def test_a_step_whose_parent_is_already_gone_sends_nothing(fake, wh):
    cfg = config_with(fake_model(fake, "gpt-a"))
    told = []
    gw = Gateway(cfg, wh, parent_pid=os.getppid() + 1_000_000, on_orphaned=told.append)
    with pytest.raises(RunOrphaned, match="is gone"):
        gw.run(numbered_requests("gpt-a", 5))
    assert fake.stats()["received"] == 0
    assert len(told) == 1 and "is gone" in told[0]


def test_an_orphaned_run_stops_sending_and_journals_what_was_on_the_wire(fake, wh, monkeypatch):
    fake.configure(latency_s=0.4)
    cfg = config_with(fake_model(fake, "gpt-a", max_concurrency=4))
    reqs = numbered_requests("gpt-a", 60)  # ~6 s alone
    parent = os.getppid()
    gw = Gateway(cfg, wh, parent_pid=parent)
    box: dict = {}

    def run() -> None:
        try:
            gw.run(reqs)
        except BaseException as exc:  # noqa: BLE001 - checked below
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    while fake.stats()["received"] < 10:
        time.sleep(0.02)
    monkeypatch.setattr(claims_module.os, "getppid", lambda: 1)  # re-parented: the parent died
    stopped_at = time.monotonic()
    t.join(30)
    assert isinstance(box.get("error"), RunOrphaned)
    assert time.monotonic() - stopped_at < 3
    sent = fake.stats()["received"]
    assert sent < 60
    assert wh.count("llm_journal", "WHERE status = 'ok'") == sent  # in-flight answers were kept
    assert wh.count("llm_claims") == 0 and wh.count("llm_claim_owners") == 0

    monkeypatch.setattr(claims_module.os, "getppid", lambda: parent)
    fake.configure(latency_s=0.0)
    results, stats = Gateway(cfg, wh).run(reqs)  # the restart resumes from the journal
    assert all(r.ok for r in results)
    assert stats.cache_hits == sent
    assert all(c == 1 for c in fake.stats()["counts"].values())  # nothing paid twice


def test_started_runs_whose_worker_is_gone_are_marked_failed():
    gone = subprocess.Popen(["true"])
    gone.wait()
    me = os.getpid()
    with dg.instance_for_test() as instance:
        dead = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED,
                                   tags={WORKER_TAG: f"{HOST}/{gone.pid}/0"})
        alive = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED,
                                    tags={WORKER_TAG: f"{HOST}/{me}/{process_start_time(me)}"})
        reused = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED,  # pid reused since
                                     tags={WORKER_TAG: f"{HOST}/{me}/1"})
        elsewhere = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED,
                                        tags={WORKER_TAG: f"another-host/{gone.pid}/0"})
        untagged = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED)
        finished = create_run_for_test(instance, status=dg.DagsterRunStatus.SUCCESS,
                                       tags={WORKER_TAG: f"{HOST}/{gone.pid}/0"})
        marked = fail_dead_runs(instance, exclude=alive.run_id)
        assert sorted(r for r, _ in marked) == sorted([dead.run_id, reused.run_id])
        assert "is gone" in marked[0][1]
        status = {r.run_id: instance.get_run_by_id(r.run_id).status
                  for r in (dead, alive, reused, elsewhere, untagged, finished)}
        assert status == {dead.run_id: dg.DagsterRunStatus.FAILURE, alive.run_id: dg.DagsterRunStatus.STARTED,
                          reused.run_id: dg.DagsterRunStatus.FAILURE,
                          elsewhere.run_id: dg.DagsterRunStatus.STARTED,
                          untagged.run_id: dg.DagsterRunStatus.STARTED,
                          finished.run_id: dg.DagsterRunStatus.SUCCESS}
        assert fail_dead_runs(instance) == []  # each is marked once
