"""The whole graph through Dagster's materialize() on the simulator, with a temp DuckDB file."""

from __future__ import annotations

import dagster as dg
import pytest

from llmfeedback_assets.analysis.pipeline import POOLED
from llmfeedback_assets.config import load_config
from llmfeedback_assets.definitions import defs
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.warehouse import Warehouse

UPSTREAM = ["prompts", "sim_ground_truth", "responses", "comparisons"]


def _materialize(instance, config_path, selection, partition=None, raise_on_error=True):
    return dg.materialize(
        list(defs.assets), selection=selection, partition_key=partition, instance=instance,
        resources={"llmfeedback": LLMFeedbackResource(config_path=str(config_path))},
        raise_on_error=raise_on_error,
    )


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _run_all(instance, config_path):
    cfg = load_config(config_path)
    instance.add_dynamic_partitions("judge_model", cfg.judges)
    _materialize(instance, config_path, UPSTREAM)
    for judge in cfg.judges:
        _materialize(instance, config_path, ["judgments"], judge)
    _materialize(instance, config_path, ["leaderboard", "judge_agreement"])
    return cfg, Warehouse(cfg.database_path)


def test_whole_graph_on_the_simulator(instance, project):
    cfg, wh = _run_all(instance, project)
    assert wh.count("prompts") == 10
    # 4 responders x (10 first turns + 4 second turns)
    assert wh.count("responses", "WHERE status = 'ok'") == 4 * 14
    per_judge = wh.query("SELECT judge_model, mode, count(*) AS n FROM judgments GROUP BY ALL")
    assert set(per_judge["judge_model"]) == set(cfg.judges)
    counts = per_judge.set_index(["judge_model", "mode"])["n"]
    assert counts[("judge-clean", "single")] == 4 * 14
    assert counts[("judge-clean", "pairwise")] == 6 * 14
    assert wh.count("judgments", "WHERE parse_status <> 'ok'") == 0
    # reference-guided grading where a reference exists (prompts 0, 4, 8 have one for turn 1)
    assert wh.count("judgments", "WHERE reference_used AND turn = 1 AND mode = 'single' "
                                 "AND judge_model = 'judge-clean'") == 3 * 4
    board = wh.table("leaderboard")
    assert set(board["judge_model"]) == {*cfg.judges, POOLED}
    pooled = board[board["judge_model"] == POOLED]
    assert abs(pooled["bt_score"].sum() - 1) < 1e-9
    assert (pooled["bt_low"] <= pooled["bt_score"]).all() and (pooled["bt_score"] <= pooled["bt_high"]).all()
    assert pooled["simulated"].all()
    agreement = wh.table("judge_agreement")
    assert agreement[["judge_1", "judge_2", "kind"]].values.tolist() == [
        ["judge-clean", "judge-noisy", "judge-judge"]]
    assert 0 < agreement["agreement_with_ties"].iloc[0] <= agreement["agreement_without_ties"].iloc[0] <= 1
    consistency = wh.table("position_consistency").set_index("judge")["consistency"]
    # the position-biased judge keeps fewer verdicts when A and B are swapped
    assert consistency["judge-clean"] > consistency["judge-noisy"]


def test_leaderboard_recovers_the_true_ranking(instance, tmp_path, monkeypatch):
    from scipy.stats import kendalltau

    from llmfeedback_assets_tests.support.project import write_config

    path = write_config(tmp_path, n_prompts=30, judges=["judge-clean"])
    cfg, wh = _run_all(instance, path)
    board = wh.table("leaderboard", "WHERE judge_model = 'judge-clean'")
    tau = kendalltau(board["bt_score"], board["true_quality"]).statistic
    assert tau >= 0.8
    events = instance.get_latest_materialization_event(dg.AssetKey("leaderboard"))
    md = events.asset_materialization.metadata
    assert md["kendall_tau_vs_truth/judge-clean"].value >= 0.8


def test_rerun_of_a_finished_partition_sends_nothing(instance, project):
    cfg, wh = _run_all(instance, project)
    _materialize(instance, project, ["judgments"], "judge-clean")
    mat = instance.get_latest_materialization_event(
        dg.AssetKey("judgments")).asset_materialization  # latest is judge-clean's rerun
    assert mat.partition == "judge-clean"
    assert mat.metadata["sent"].value == 0
    assert mat.metadata["cache_hits"].value == mat.metadata["requests"].value > 0


def test_unknown_judge_partition_is_a_clear_error(instance, project):
    instance.add_dynamic_partitions("judge_model", ["not-a-judge"])
    _materialize(instance, project, UPSTREAM)
    result = _materialize(instance, project, ["judgments"], "not-a-judge", raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "not a configured judge" in failure.step_failure_data.error.to_string()


def test_failed_model_calls_are_recorded_not_dropped(instance, tmp_path, monkeypatch):
    """A responder whose server is unreachable: every call is retried, then stored as failed."""
    from llmfeedback_assets_tests.support.project import SIM_MODELS, write_config

    dead = {"name": "dead", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "max_retries": 1,
            "timeout_s": 2}
    path = write_config(tmp_path, n_prompts=3, models=[*SIM_MODELS, dead], responders=["alpha", "dead"],
                        judges=["judge-clean"])
    _materialize(instance, path, UPSTREAM)
    wh = Warehouse(load_config(path).database_path)
    failed = wh.table("responses", "WHERE responder_model = 'dead'")
    assert len(failed) == 4 and (failed["status"] == "failed").all()
    assert failed["error"].str.len().min() > 0
    assert wh.count("responses", "WHERE responder_model = 'alpha' AND status = 'ok'") == 4
    journal = wh.query("SELECT status, attempts FROM llm_journal WHERE model = 'dead'")
    assert (journal["status"] == "failed").all() and (journal["attempts"] == 2).all()


def test_external_human_votes_are_ranked_and_compared(instance, tmp_path):
    from llmfeedback_assets_tests.support.project import dataset, write_config

    crowd = dataset("llmfao", "crowd-comparisons.csv")
    gpt4 = dataset("llmfao", "gpt4-crowd-comparisons.csv")
    models = dataset("llmfao", "models.jsonl")
    path = write_config(tmp_path, n_prompts=2, judges=["judge-clean"], comparison_sources=[
        {"path": str(crowd), "name": "crowd", "human": True, "models_jsonl": str(models)},
        {"path": str(gpt4), "name": "gpt-4", "human": False, "models_jsonl": str(models)}])
    cfg, wh = _run_all(instance, path)
    board = wh.table("leaderboard", "WHERE judge_model = 'crowd (external)' ORDER BY bt_score DESC")
    assert board["model"].iloc[0] == "GPT 4"
    assert abs(board["bt_score"].iloc[0] - 0.041218) < 1e-5
    assert not board["simulated"].any()
    agreement = wh.table("judge_agreement").set_index(["judge_1", "judge_2"])
    row = agreement.loc[("gpt-4", "human")]
    assert row["kind"] == "judge-human" and row["n_keys"] > 2000
    assert abs(row["spearman"] - 0.731) < 0.002
