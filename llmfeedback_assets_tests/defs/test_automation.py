"""Sensors, the nightly schedule, declarative automation and asset checks."""

from __future__ import annotations

import contextvars
import datetime
import json

import dagster as dg
import pytest

from llmfeedback_assets.definitions import defs
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.defs.spine.sensors import (
    judge_models_sensor,
    new_prompt_files_sensor,
    nightly_judging,
)
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.project import write_config

# Sensors and the schedule read the config through the same resource the assets use.
RESOURCES = {"llmfeedback": LLMFeedbackResource()}

UPSTREAM = ["prompts", "sim_ground_truth", "responses"]


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _materialize(instance, selection, partition=None, **kw):
    # no defs-state storage is current inside (the conftest's wrapper of dg.materialize says why)
    return dg.materialize([*defs.assets, *defs.asset_checks], selection=selection, partition_key=partition,
                          instance=instance, resources={"llmfeedback": LLMFeedbackResource()}, **kw)


def test_judge_models_sensor_adds_new_judges_and_keeps_removed_ones(instance, project):
    instance.add_dynamic_partitions("judge_model", ["judge-clean", "retired-judge"])
    result = judge_models_sensor(dg.build_sensor_context(instance=instance, resources=RESOURCES))
    assert not result.run_requests  # the automation runs the new judge's assets (test_automation_judges)
    assert result.dynamic_partitions_requests[0].partition_keys == ["judge-noisy"]
    instance.add_dynamic_partitions("judge_model", ["judge-noisy"])
    again = judge_models_sensor(dg.build_sensor_context(instance=instance, resources=RESOURCES))
    assert not again.run_requests
    assert "retired-judge" in again.skip_reason.skip_message
    assert "retired-judge" in instance.get_dynamic_partitions("judge_model")  # never deleted


def test_new_prompt_files_sensor_uses_content_hash_and_a_durable_cursor(instance, tmp_path, monkeypatch):
    path = write_config(tmp_path, incoming_dir=str(tmp_path / "incoming"))
    monkeypatch.setenv("LLMFEEDBACK_CONFIG", str(path))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "good.jsonl").write_text(
        json.dumps({"question_id": 1, "turns": ["What is new here?"]}) + "\n")
    (incoming / "bad.jsonl").write_text("{not json\n")
    first = new_prompt_files_sensor(dg.build_sensor_context(instance=instance, resources=RESOURCES))
    keys = sorted(r.run_key for r in first.run_requests)
    assert [k.split(":")[0] for k in keys] == ["bad.jsonl", "good.jsonl"]  # a bad file never blocks others
    # a restart resumes from the stored cursor: nothing new, nothing requested
    second = new_prompt_files_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor,
                                                             resources=RESOURCES))
    assert not second.run_requests
    (incoming / "good.jsonl").write_text(
        json.dumps({"question_id": 2, "turns": ["Changed question?"]}) + "\n")
    third = new_prompt_files_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor,
                                                            resources=RESOURCES))
    assert [r.run_key.split(":")[0] for r in third.run_requests] == ["good.jsonl"]
    assert third.run_requests[0].run_key != [k for k in keys if k.startswith("good")][0]


def test_incoming_files_are_ingested_and_bad_lines_recorded(instance, tmp_path, monkeypatch):
    path = write_config(tmp_path, n_prompts=2, incoming_dir=str(tmp_path / "incoming"))
    monkeypatch.setenv("LLMFEEDBACK_CONFIG", str(path))
    (tmp_path / "incoming").mkdir()
    (tmp_path / "incoming" / "new.jsonl").write_text(
        json.dumps({"question_id": 9, "turns": ["A brand new incoming prompt?"]}) + "\n{broken\n")
    _materialize(instance, ["prompts"])
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    assert wh.count("prompts") == 3
    rejected = wh.table("rejected_inputs")
    assert len(rejected) == 1 and rejected["source_file"].iloc[0].endswith("new.jsonl")
    assert rejected["line"].iloc[0] == 2


def _schedule_ctx(instance):
    return dg.build_schedule_context(instance=instance, resources=RESOURCES,
                                     repository_def=defs.get_repository_def(),
                                     scheduled_execution_time=datetime.datetime(2026, 11, 23, 2, 0))


def _nightly(instance) -> dict[str, list[str]]:
    result = nightly_judging(_schedule_ctx(instance))
    if isinstance(result, dg.SkipReason):
        return {}
    assert all(r.run_key.startswith("nightly-2026-11-23-") for r in result)
    return {r.partition_key: sorted(k.to_user_string() for k in r.asset_selection) for r in result}


def test_nightly_schedule_reruns_every_stale_per_judge_asset(instance, project):
    instance.add_dynamic_partitions("judge_model", ["judge-clean", "judge-noisy", "retired-judge"])
    _materialize(instance, UPSTREAM)
    _materialize(instance, ["judgments", "feedback_ratings", "feedback_rankings"], "judge-clean")
    rerun = ["feedback_rankings", "feedback_ratings", "judgments"]
    # never materialized: judge-noisy's; quality and conversation judgments wait for their inputs
    # (curation_examples, conversations); a removed judge never runs
    assert _nightly(instance) == {"judge-noisy": rerun}
    _materialize(instance, ["personas", "conversations"])
    assert _nightly(instance) == {"judge-clean": ["conversation_judgments"],
                                  "judge-noisy": sorted(["conversation_judgments", *rerun])}
    _materialize(instance, ["conversation_judgments"], "judge-clean")
    _materialize(instance, ["responses"])  # inputs changed: judgments and what reads them are stale again
    assert _nightly(instance)["judge-clean"] == rerun
    _materialize(instance, ["judgments"], "judge-clean")  # newer than its feedback partitions
    assert _nightly(instance)["judge-clean"] == ["feedback_rankings", "feedback_ratings"]


def _evaluate(*args, **kwargs):
    """Evaluate automation in a copy of the context: Dagster can leave its defs-state storage (bound to this
    test's temporary instance) in a context variable, which broke later tests in the same worker."""
    return contextvars.copy_context().run(dg.evaluate_automation_conditions, *args, **kwargs)


def test_declarative_automation_judges_after_new_responses(instance, project):
    instance.add_dynamic_partitions("judge_model", ["judge-clean", "judge-noisy"])
    first = _evaluate(defs, instance)
    assert first.total_requested == 0
    _materialize(instance, UPSTREAM)
    after = _evaluate(defs, instance, cursor=first.cursor)
    assert after.get_requested_partitions(dg.AssetKey("judgments")) == {"judge-clean", "judge-noisy"}


def test_checks_pass_on_a_clean_run_and_catch_self_grading(instance, tmp_path, monkeypatch):
    path = write_config(tmp_path, n_prompts=2, responders=["alpha", "judge-clean"], judges=["judge-clean"],
                        judging={"allow_self_judging": True})
    monkeypatch.setenv("LLMFEEDBACK_CONFIG", str(path))
    instance.add_dynamic_partitions("judge_model", ["judge-clean"])
    up = _materialize(instance, UPSTREAM)
    checks = {e.check_name: e.passed for e in up.get_asset_check_evaluations()}
    assert checks["prompts_unique_and_non_empty"] and checks["prompts_schema"] and checks["responses_schema"]
    res = _materialize(instance, ["judgments"], "judge-clean")
    checks = {e.check_name: e for e in res.get_asset_check_evaluations()}
    assert checks["judgments_parse_failure_rate"].passed
    assert checks["judgments_no_self_grading"].passed  # allowed by the config
    assert checks["judgments_no_self_grading"].metadata["self_graded"].value > 0
