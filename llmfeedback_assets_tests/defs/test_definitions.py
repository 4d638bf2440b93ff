"""The code location loads: every asset, check, job, sensor and schedule resolves, as `dagster dev` needs."""

from __future__ import annotations

import dagster as dg

from llmfeedback_assets.definitions import defs


def test_definitions_load_and_every_job_resolves():
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    jobs = {j.name for j in repo.get_all_jobs()}
    assert {"judge_everything", "ingest_and_respond", "refresh_analysis", "curate_and_select",
            "select_training_data", "train_reward_models"} <= jobs
    assert {s.name for s in repo.sensor_defs} >= {"new_prompt_files_sensor", "judge_models_sensor"}
    assert [s.name for s in repo.schedule_defs] == ["nightly_judging"]


def test_groups_and_gpu_steps():
    graph = defs.resolve_asset_graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"ingest", "generation", "judging", "analysis", "synth", "curation", "reward"} <= groups
    gpu = sorted(k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).pools == {"gpu"})
    assert {"embeddings", "ratings_reward_model", "rankings_reward_model"} <= set(gpu)
    judged = [k for k in graph.get_all_asset_keys()
              if isinstance(graph.get(k).partitions_def, dg.DynamicPartitionsDefinition)]
    assert {k.to_user_string() for k in judged} >= {"judgments", "quality_scores", "curated_scores",
                                                     "feedback_ratings", "feedback_rankings",
                                                     "conversation_judgments"}


def test_every_table_asset_declares_its_columns_with_descriptions():
    """The UI shows each table asset's column schema before its first run: the definition carries it, taken
    from the one declaration of the table (warehouse/tables)."""
    from llmfeedback_assets.warehouse import TABLES

    graph = defs.resolve_asset_graph()
    declared = {}
    for key in graph.get_all_asset_keys():
        md = graph.get(key).metadata
        if "dagster/column_schema" in md:
            table_name = str(md["dagster/table_name"]).rsplit(".", 1)[-1]
            declared[key.to_user_string()] = (table_name, md["dagster/column_schema"])
    without = sorted(k.to_user_string() for k in graph.get_all_asset_keys())
    without = [k for k in without if k not in declared]
    # none of these writes a warehouse table
    assert without == ["backfill_export", "cost_estimate", "judgment_browser"]
    for asset, (table_name, schema) in declared.items():
        want = TABLES[table_name]
        assert [(c.name, c.type, c.description) for c in schema.columns] == [
            (c.name, c.type, c.description) for c in want.columns], asset
        assert all(c.description for c in schema.columns), asset
    written = {t for t, _ in declared.values()}
    # Tables written beside another (messages with conversations, T and prior with curated scores, ...) are
    # described by that asset's docs; every other table is some asset's own.
    assert set(TABLES) - written == {"rejected_inputs", "llm_journal", "llm_batches", "llm_claims",
                                     "llm_claim_owners", "position_consistency",
                                     "curation_transition", "curation_prior", "conversation_messages",
                                     "synth_rejected", "mt_bench_scores", "pairwise_win_rates",
                                     "style_coefficients"}


def test_loading_the_code_location_imports_no_heavy_library():
    """Every Dagster step process loads the code location: torch, transformers, matplotlib, sklearn and scipy
    are imported only inside the steps that use them, and DuckDB, pandera and SQLAlchemy on first use."""
    import subprocess
    import sys

    heavy = ("torch", "transformers", "matplotlib", "sklearn", "scipy", "duckdb", "pandera", "sqlalchemy")
    code = ("import sys, llmfeedback_assets.definitions; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "", f"importing the definitions imported {proc.stdout.strip()}"
