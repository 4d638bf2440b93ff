"""The synth assets through Dagster's materialize(), on the simulator, exporting into SQLite."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from llmfeedback_assets.config import load_config
from llmfeedback_assets.defs.export.assets import export_assets
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.defs.synth.assets import synth_assets
from llmfeedback_assets.defs.synth.checks import synth_checks
from llmfeedback_assets.export import count_rows
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.synth import synth_config

JUDGES = ["alpha", "judge-noisy"]


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _materialize(instance, path, selection, partition=None, raise_on_error=True):
    return dg.materialize([*synth_assets, *export_assets, *synth_checks], selection=selection,
                          partition_key=partition, instance=instance,
                          resources={"llmfeedback": LLMFeedbackResource(config_path=str(path))},
                          raise_on_error=raise_on_error)


def _meta(instance, key: str, partition: str | None = None):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key),
                              asset_partitions=[partition] if partition else None),
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

    exported = _materialize(instance, path, ["backfill_export"])
    url = cfg.export.database_url
    counts = count_rows(url)
    assert counts["chats"] == n_conv and counts["evals"] == before
    assert counts["synthetic_backfill_attributes"] == 1
    assert counts["chat_messages"] == wh.count("conversation_messages")
    meta = _meta(instance, "backfill_export")
    assert meta["backfill_job_id"].value == exported.run_id and meta["inserted/chats"].value == n_conv
    with sa.create_engine(url).connect() as con:  # every row names the run that created it
        assert con.execute(sa.text("SELECT DISTINCT backfill_job_id FROM chat_messages")).scalars().all() == [
            exported.run_id]


def test_judge_partitions_outside_the_conversation_pool(instance, tmp_path):
    """A spine judge that does not judge conversations gets an empty partition (`llmfeedback run` runs every
    judge partition of every partitioned asset); a key that is nobody's judge is a clear error."""
    path = synth_config(tmp_path, generate_num_personas=0, conversations_per_persona=1, num_turns_max=1,
                        judge={"models": ["judge-noisy"]})
    instance.add_dynamic_partitions("judge_model", ["judge-clean", "nobody"])
    _materialize(instance, path, ["personas", "conversations"])
    _materialize(instance, path, ["conversation_judgments"], "judge-clean")
    assert _meta(instance, "conversation_judgments", "judge-clean")["turns_assigned"].value == 0
    result = _materialize(instance, path, ["conversation_judgments"], "nobody", raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "is not a configured judge" in failure.step_failure_data.error.to_string()


def test_a_config_without_a_synth_section_runs_the_synth_assets_as_no_ops(instance, tmp_path):
    """`llmfeedback run` materializes every asset: an unused feature must not fail the whole graph."""
    from llmfeedback_assets_tests.support.project import write_config

    path = write_config(tmp_path, n_prompts=2, export={"database_url": f"sqlite:///{tmp_path / 'x.sqlite'}"})
    instance.add_dynamic_partitions("judge_model", ["judge-clean"])
    _materialize(instance, path, ["cost_estimate", "personas", "conversations", "backfill_export"])
    _materialize(instance, path, ["conversation_judgments"], "judge-clean")
    wh = Warehouse(load_config(path).database_path)
    assert wh.count("conversations") == 0 and wh.count("conversation_judgments") == 0
    assert _meta(instance, "cost_estimate")["est_calls"].value == 0
    assert _meta(instance, "backfill_export")["skipped"].value == "nothing to export"
    assert not (tmp_path / "x.sqlite").exists()
