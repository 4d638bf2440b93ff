"""Automation over judge partitions (issue 15), evaluated with `dg.evaluate_automation_conditions` on a test
instance that holds real materializations and runs: a failed or removed judge never blocks the boards, a
removed judge is never launched, the boards wait for pending judgments, a new judge gets every per-judge
asset, and the board names the judges it covers and leaves out."""

from __future__ import annotations

import contextvars

import dagster as dg
import pytest

from llmfeedback_assets.definitions import automation_sensor, defs
from llmfeedback_assets.defs.partitions import JUDGE_PARTITIONS_NAME
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.defs.spine.jobs import PER_JUDGE_ASSETS
from llmfeedback_assets.defs.spine.sensors import new_prompt_files_sensor, nightly_judging
from llmfeedback_assets_tests.support.project import SIM_MODELS, write_config

UNSET_KEY = "LLMF_TEST_AUTOMATION_UNSET_KEY"
KEYLESS = {"name": "judge-keyless", "provider": "openai", "model": "gpt-4o", "api_key_env": UNSET_KEY}
INPUTS = ["prompts", "sim_ground_truth", "responses", "comparisons"]
JUDGMENTS, LEADERBOARD, AGREEMENT = (dg.AssetKey(k) for k in ("judgments", "leaderboard", "judge_agreement"))


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _configure(tmp_path, monkeypatch, judges, models=SIM_MODELS):
    config = write_config(tmp_path, n_prompts=3, models=models, responders=["alpha", "bravo", "charlie"],
                          judges=judges)
    monkeypatch.setenv("LLMFEEDBACK_CONFIG", str(config))
    monkeypatch.delenv("LLMFEEDBACK_DB", raising=False)
    monkeypatch.delenv(UNSET_KEY, raising=False)


def _run(instance, selection, partition=None):
    return dg.materialize([*defs.assets, *defs.asset_checks], selection=selection, partition_key=partition,
                          instance=instance, resources={"llmfeedback": LLMFeedbackResource()},
                          raise_on_error=False)


def _evaluate(instance, cursor=None):
    """In a copy of the context: Dagster can leave its defs-state storage in a context variable."""
    return contextvars.copy_context().run(dg.evaluate_automation_conditions, defs, instance, cursor=cursor)


def _started_run(instance, job: str, partition: str | None = None, assets=None):
    """A run that has started and not yet executed its assets, as the daemon leaves one in flight."""
    return instance.create_run_for_job(
        defs.resolve_job_def(job), status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": partition} if partition else None,
        asset_selection={dg.AssetKey(a) for a in assets} if assets else None)


def test_sensors_and_schedule_start_running_and_cover_every_per_judge_asset():
    assert new_prompt_files_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert nightly_judging.default_status == dg.DefaultScheduleStatus.RUNNING
    assert automation_sensor._use_user_code_server  # the custom conditions need the code server
    graph = defs.resolve_asset_graph()
    per_judge = {k.to_user_string() for k in graph.get_all_asset_keys()
                 if getattr(graph.get(k).partitions_def, "name", None) == JUDGE_PARTITIONS_NAME}
    assert per_judge == set(PER_JUDGE_ASSETS)
    for key in per_judge:
        assert graph.get(dg.AssetKey(key)).automation_condition.get_label() == "eager (configured judges)"


def test_a_failed_or_removed_judge_never_blocks_the_boards_which_name_them(instance, tmp_path, monkeypatch):
    _configure(tmp_path, monkeypatch, ["judge-clean", "judge-keyless"], [*SIM_MODELS, KEYLESS])
    instance.add_dynamic_partitions(JUDGE_PARTITIONS_NAME, ["judge-clean", "judge-keyless", "retired-judge"])
    assert _run(instance, INPUTS).success
    assert _run(instance, ["judgments"], "judge-clean").success
    assert not _run(instance, ["judgments"], "judge-keyless").success  # a real judge without its key
    first = _evaluate(instance)

    assert _run(instance, ["judgments"], "judge-clean").success  # the healthy judge judges again
    after = _evaluate(instance, first.cursor)
    assert after.get_num_requested(LEADERBOARD) == 1 and after.get_num_requested(AGREEMENT) == 1
    assert not after.get_requested_partitions(JUDGMENTS)

    boards = _run(instance, ["leaderboard", "judge_agreement"])
    assert boards.success
    for key in ("leaderboard", "judge_agreement"):
        md = boards.asset_materializations_for_node(key)[0].metadata
        assert md["judges_covered"].value == ["judge-clean"]
        assert md["judges_left_out"].value == {"judge-keyless": "failed run",
                                               "retired-judge": "removed from config"}
        assert "judge-keyless | left out | failed run" in md["judge_coverage"].value


def test_a_new_judge_gets_every_per_judge_asset_and_a_removed_one_nothing(instance, tmp_path, monkeypatch):
    _configure(tmp_path, monkeypatch, ["judge-clean", "judge-noisy"])  # judge-noisy was just added
    instance.add_dynamic_partitions(JUDGE_PARTITIONS_NAME, ["judge-clean", "retired-judge"])
    assert _run(instance, [*INPUTS, "curation_examples", "personas", "conversations"]).success
    instance.report_runless_asset_event(dg.AssetMaterialization("embeddings"))  # stands in for the encoder
    first = _evaluate(instance)

    instance.add_dynamic_partitions(JUDGE_PARTITIONS_NAME, ["judge-noisy"])  # as judge_models_sensor does
    added = _evaluate(instance, first.cursor)
    for key in PER_JUDGE_ASSETS:
        assert added.get_requested_partitions(dg.AssetKey(key)) == {"judge-noisy"}, key

    quiet = _evaluate(instance, added.cursor)  # a tick later (its runs are not simulated here)
    assert _run(instance, ["responses"]).success  # new responses: every configured judge re-judges
    rejudge = _evaluate(instance, quiet.cursor)
    assert rejudge.get_requested_partitions(JUDGMENTS) == {"judge-clean", "judge-noisy"}
    for result in (first, added, quiet, rejudge):
        assert not any("retired-judge" in result.get_requested_partitions(dg.AssetKey(k))
                       for k in PER_JUDGE_ASSETS)


def test_the_boards_wait_for_pending_judgments(instance, tmp_path, monkeypatch):
    _configure(tmp_path, monkeypatch, ["judge-clean", "judge-noisy"])
    instance.add_dynamic_partitions(JUDGE_PARTITIONS_NAME, ["judge-clean", "judge-noisy"])
    assert _run(instance, INPUTS).success
    for judge in ("judge-clean", "judge-noisy"):
        assert _run(instance, ["judgments"], judge).success
    cursor = _evaluate(instance).cursor

    ingest = _started_run(instance, "ingest_and_respond", assets=["responses"])  # new prompts being answered
    assert _run(instance, ["sim_ground_truth"]).success
    answering = _evaluate(instance, cursor)
    assert answering.get_num_requested(LEADERBOARD) == 0 and not answering.get_requested_partitions(JUDGMENTS)

    assert _run(instance, ["responses"]).success
    instance.report_run_failed(ingest)
    judging = _evaluate(instance, answering.cursor)  # judgments are requested; the boards wait for them
    assert judging.get_requested_partitions(JUDGMENTS) == {"judge-clean", "judge-noisy"}
    assert judging.get_num_requested(LEADERBOARD) == 0 and judging.get_num_requested(AGREEMENT) == 0

    noisy = _started_run(instance, "judge_everything", "judge-noisy")
    assert _run(instance, ["judgments"], "judge-clean").success
    one_left = _evaluate(instance, judging.cursor)
    assert one_left.get_num_requested(LEADERBOARD) == 0  # judge-noisy is still judging

    instance.report_run_failed(noisy)  # its run ends (failed: its earlier judgments stay on the board)
    done = _evaluate(instance, one_left.cursor)
    assert done.get_num_requested(LEADERBOARD) == 1 and done.get_num_requested(AGREEMENT) == 1
