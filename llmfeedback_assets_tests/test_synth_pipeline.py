"""The synth assets through Dagster's materialize(), on the simulator, exporting into SQLite."""

from __future__ import annotations

import dagster as dg
import pytest

from llmfeedback_assets.config import load_config
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.defs.synth import synth_assets, synth_checks
from llmfeedback_assets.export import count_rows
from llmfeedback_assets.warehouse import Warehouse

from .test_synth import synth_config

JUDGES = ["alpha", "judge-clean", "judge-noisy"]


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _materialize(instance, path, selection, partition=None, raise_on_error=True):
    return dg.materialize([*synth_assets, *synth_checks], selection=selection, partition_key=partition,
                          instance=instance, resources={"llmfeedback": LLMFeedbackResource(config_path=str(path))},
                          raise_on_error=raise_on_error)


def _meta(instance, key: str, partition: str | None = None):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[partition] if partition else None),
        limit=1).records
    return records[0].asset_materialization.metadata


def test_synth_assets_end_to_end(instance, tmp_path):
    path = synth_config(tmp_path, generate_num_personas=2, conversations_per_persona=1, num_turns_max=2,
                        judge={"models": JUDGES, "choice_strategy": "random"})
    cfg = load_config(path)
    instance.add_dynamic_partitions("judge_model", [*cfg.judges, "alpha"])
    result = _materialize(instance, path, ["cost_estimate", "personas", "conversations"])
    assert all(c.passed for c in result.get_asset_check_evaluations())
    assert _meta(instance, "cost_estimate")["est_calls"].value > 0
    wh = Warehouse(cfg.database_path)
    n_conv = wh.count("conversations")
    assert n_conv == wh.count("personas") == _meta(instance, "conversations")["dagster/row_count"].value
    for judge in JUDGES:
        checks = _materialize(instance, path, ["conversation_judgments"], judge).get_asset_check_evaluations()
        assert [c.passed for c in checks] == [True]
    judged = wh.query("SELECT judge_model, count(*) AS n FROM conversation_judgments GROUP BY ALL")
    assert judged["n"].sum() == wh.query("SELECT sum(n_turns) AS n FROM conversations")["n"].iloc[0]
    assert len(judged) >= 2  # random strategy spreads turns over the judges
    assert wh.count("conversation_judgments", "WHERE judge_model = model_1 OR judge_model = model_2") == 0

    # a rerun of a judged partition pays for nothing and rewrites only its own rows
    before = wh.count("conversation_judgments")
    _materialize(instance, path, ["conversation_judgments"], "judge-noisy")
    meta = _meta(instance, "conversation_judgments", "judge-noisy")
    assert meta["sent"].value == 0 and wh.count("conversation_judgments") == before

    _materialize(instance, path, ["backfill_export"])
    url = cfg.export.database_url
    counts = count_rows(url)
    assert counts["chats"] == n_conv and counts["evals"] == before and counts["backfill_jobs"] == 1
    assert counts["messages"] == wh.count("conversation_messages")
    _materialize(instance, path, ["backfill_export"])
    again = count_rows(url)
    assert again == {**counts, "backfill_jobs": 2}  # a second export adds a job record and nothing else
    assert _meta(instance, "backfill_export")["inserted/messages"].value == 0


def test_a_partition_outside_every_judge_list_is_a_clear_error(instance, tmp_path):
    path = synth_config(tmp_path, generate_num_personas=0, conversations_per_persona=1, num_turns_max=1)
    instance.add_dynamic_partitions("judge_model", ["nobody"])
    _materialize(instance, path, ["personas", "conversations"])
    result = _materialize(instance, path, ["conversation_judgments"], "nobody", raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "neither a conversation judge" in failure.step_failure_data.error.to_string()


def test_a_spine_judge_outside_the_conversation_pool_gets_an_empty_partition(instance, tmp_path):
    path = synth_config(tmp_path, generate_num_personas=0, conversations_per_persona=1, num_turns_max=1,
                        judge={"models": ["judge-noisy"]})
    instance.add_dynamic_partitions("judge_model", ["judge-clean"])
    _materialize(instance, path, ["personas", "conversations"])
    _materialize(instance, path, ["conversation_judgments"], "judge-clean")
    assert _meta(instance, "conversation_judgments", "judge-clean")["turns_assigned"].value == 0
