"""The curation assets (quality scores, embeddings, curated scores, selections) through Dagster's
materialize(), on the simulator, with a temp DuckDB file and the packaged MiniLM weights."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from llmfeedback_assets.config import load_config
from llmfeedback_assets.curation import pipeline as flow
from llmfeedback_assets.curation import quality
from llmfeedback_assets.defs.analysis.assets import analysis_assets
from llmfeedback_assets.defs.curation.assets import curation_assets
from llmfeedback_assets.defs.curation.checks import curation_checks
from llmfeedback_assets.defs.spine import spine_assets
from llmfeedback_assets.llm import Gateway
from llmfeedback_assets.warehouse import Warehouse, columns
from llmfeedback_assets_tests.support.dagster_runs import latest_metadata, materialize_with_config
from llmfeedback_assets_tests.support.project import write_config

ASSETS = [*spine_assets, *analysis_assets, *curation_assets, *curation_checks]
GARBAGE = "I would rather not put a number on this one."


def _materialize(instance, path, selection, partition=None, raise_on_error=True):
    return materialize_with_config(ASSETS, instance, path, selection, partition, raise_on_error)


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def _failure(result) -> str:
    return [e for e in result.all_events if e.is_step_failure][0].step_failure_data.error.to_string()


def _seed_unparseable_replies(cfg, wh: Warehouse, judge: str, n: int) -> list[str]:
    """Journal a prose reply (no rating) for the first n examples, as a judge that ignored the format would
    have answered; the gateway serves journaled answers instead of calling the model."""
    examples = flow.load_examples(wh).head(n)
    gateway = Gateway(cfg, wh)
    keys = [gateway.key_for(r) for r in flow.quality_requests(examples, judge)]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    wh.upsert("llm_journal", pd.DataFrame({
        "request_key": keys, "provider": "sim", "model": judge, "status": "ok", "text": GARBAGE,
        "input_tokens": 10, "output_tokens": 10, "cost_usd": 0.0, "latency_s": 0.0, "attempts": 1,
        "error": None, "batch": False, "created_at": now}, columns=columns("llm_journal")))
    return examples["response_id"].tolist()


def test_curation_assets_end_to_end(instance, tmp_path):
    # 15 prompts x 4 simulated responders = 60 first-turn examples
    path = write_config(tmp_path, n_prompts=15, curation={"target_size": 20},
                        judging={"modes": ["single", "pairwise", "quality"]})
    cfg = load_config(path)
    instance.add_dynamic_partitions("judge_model", cfg.judges)
    _materialize(instance, path, ["prompts", "responses", "curation_examples"])
    wh = Warehouse(cfg.database_path)
    unparsed = _seed_unparseable_replies(cfg, wh, "judge-noisy", 3)
    _seed_unparseable_replies(cfg, wh, "judge-clean", 20)

    # quality scores: unparsed replies are recorded with their status, never scored
    checks = _checks(_materialize(instance, path, ["quality_scores"], "judge-noisy"))
    assert checks == {"quality_scores_parse_failure_rate": True}
    scores = wh.table("quality_scores", "WHERE judge_model = 'judge-noisy'")
    assert len(scores) == 60 and scores["response_id"].is_unique
    bad = scores[scores["response_id"].isin(unparsed)]
    assert (bad["parse_status"] == quality.NO_JSON).all()
    assert bad[["overall", "score_class"]].isna().all().all()
    good = scores[~scores["response_id"].isin(unparsed)]
    assert (good["parse_status"] == quality.OK).all()
    assert [quality.to_class(v) for v in good["overall"]] == good["score_class"].tolist()
    assert good["score_class"].nunique() >= 3
    meta = latest_metadata(instance, "quality_scores", "judge-noisy")
    assert meta["parse_failure_rate"] == 0.05 and meta["sent"] == 57 and meta["cache_hits"] == 3
    assert sum(meta["score_histogram"].values()) == 57

    # a judge whose replies fail a third of the time trips the blocking check (rows are still written)
    result = _materialize(instance, path, ["quality_scores"], "judge-clean", raise_on_error=False)
    assert _checks(result) == {"quality_scores_parse_failure_rate": False}
    assert wh.count("quality_scores", "WHERE judge_model = 'judge-clean' AND score_class IS NULL") == 20

    # embeddings: each text once in the shared store, read back normalised, and a second run embeds nothing
    _materialize(instance, path, ["embeddings"])
    meta = latest_metadata(instance, "embeddings")
    assert (meta["new"], meta["cached"], meta["dim"]) == (60, 0, 384)
    assert meta["model"] == flow.DEFAULT_EMBEDDING_MODEL and meta["backbone"] == flow.embedding_backbone(cfg)
    x, missing = flow.load_vectors(wh, flow.load_examples(wh)["text_hash"].tolist(), meta["backbone"])
    assert not missing.any() and np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-4)
    _materialize(instance, path, ["embeddings"])
    meta = latest_metadata(instance, "embeddings")
    assert (meta["new"], meta["cached"]) == (0, 60) and wh.count("embedding_store") == 60

    # curated scores of the parsed rows; T and p in their own tables
    checks = _checks(_materialize(instance, path, ["curated_scores"], "judge-noisy"))
    assert checks == {"curated_scores_have_embeddings": True}
    curated = wh.table("curated_scores", "WHERE judge_model = 'judge-noisy'")
    assert len(curated) == 57 and not curated["response_id"].isin(unparsed).any()
    merged = curated.merge(good, on="response_id")
    assert (merged["score"] == merged["score_class"]).all()
    confident = curated["flagged"] & (curated["confidence"] >= cfg.curation.confidence_threshold)
    expected = np.where(confident, curated["suggested_score"], curated["score"])
    assert (curated["curated_score"] == expected).all()
    assert curated["rare_score"].between(0, 1).all() and curated["confidence"].between(0, 1).all()
    T = wh.table("curation_transition", "WHERE judge_model = 'judge-noisy'")
    assert len(T) == 36 and np.allclose(T.groupby("from_class")["prob"].sum(), 1.0)
    prior = wh.table("curation_prior", "WHERE judge_model = 'judge-noisy'")
    assert len(prior) == 6 and abs(prior["clean_prior"].sum() - 1) < 1e-6
    assert np.allclose(prior["noisy_prior"], np.bincount(curated["score"], minlength=6) / 57)
    meta = latest_metadata(instance, "curated_scores", "judge-noisy")
    for key in ("transition_matrix", "score_histogram"):
        assert meta[key].startswith("![") and "data:image/png;base64," in meta[key]
    assert "skipped" not in meta and meta["unscored_examples"] == 3

    # selections: judge-clean has no curated scores, so judge-noisy's are used
    for strategy in ("ds2", "random"):
        _materialize(instance, path, ["selected_dataset"], strategy)
    selected = wh.table("selected_dataset", "ORDER BY strategy, rank")
    assert selected.groupby("strategy").size().to_dict() == {"ds2": 20, "random": 20}
    assert set(selected["judge_model"]) == {"judge-noisy"}
    ds2 = selected[selected["strategy"] == "ds2"]
    left_out = curated[~curated["response_id"].isin(ds2["response_id"])]
    assert ds2["curated_score"].min() >= left_out["curated_score"].max()  # whole buckets from the top
    assert set(ds2["response_id"]) != set(selected.loc[selected["strategy"] == "random", "response_id"])
    meta = latest_metadata(instance, "selected_dataset", "ds2")
    assert meta["judge"] == "judge-noisy" and meta["size"] == 20
    assert meta["sim_true_score_selected"] > meta["sim_true_score_all"]
    lines = (tmp_path / "data" / "exports" / "selected" / "ds2.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == ds2["response_id"].tolist()
    examples = flow.load_examples(wh).set_index("response_id")
    for rec in records:
        assert set(rec) >= {"instruction", "input", "output"} and rec["input"] == ""
        assert rec["instruction"] == examples.loc[rec["id"], "instruction"]
        assert rec["output"] == examples.loc[rec["id"], "output"]

    # the other baselines straight from the flow (the asset adds only the writes)
    pool = curated.set_index("response_id")
    lengths = examples.loc[pool.index, "output"].str.len()
    longest = flow.select_examples(wh, cfg, "longest").rows["response_id"]
    assert lengths[longest].min() >= lengths.drop(longest).max()
    overall = good.set_index("response_id")["overall"]
    raw = flow.select_examples(wh, cfg, "raw_score").rows["response_id"]
    assert len(raw) == 20 and overall[raw].min() >= overall.drop(raw).max()
    diverse = flow.select_examples(wh, cfg, "diversity").rows
    assert len(diverse) == 20 and diverse["response_id"].is_unique
    x, _ = flow.load_vectors(wh, pool["text_hash"].tolist(), flow.embedding_backbone(cfg))
    where = {rid: i for i, rid in enumerate(pool.index)}

    def covering_radius(ids) -> float:  # farthest any example is from its nearest pick
        return float((1 - x @ x[[where[r] for r in ids]].T).min(axis=1).max())

    random_ids = selected.loc[selected["strategy"] == "random", "response_id"]
    assert covering_radius(diverse["response_id"]) < covering_radius(random_ids)

    # DS2's rule on the raw classes (what curation adds), DEITA's score-first filter and the whole pool
    distinct = pool[pool["duplicate_of"].isna()]
    uncurated = flow.select_examples(wh, cfg, "ds2_uncurated").rows
    assert len(uncurated) == 20 and uncurated["score"].min() >= distinct["score"].drop(
        uncurated["response_id"]).max()
    deita = flow.select_examples(wh, cfg, "deita").rows["response_id"]
    chosen = x[[where[r] for r in deita]]
    sims = chosen @ chosen.T
    assert 0 < len(deita) <= 20 and (sims[~np.eye(len(deita), dtype=bool)] <= 0.9 + 1e-6).all()
    full = flow.select_examples(wh, cfg, "full").rows
    assert set(full["response_id"]) == set(distinct.index)


def test_bad_inputs_give_clear_outcomes(instance, tmp_path):
    # 2 prompts x 4 responders = 8 examples: too few to curate. judge-noisy judges conversations only.
    path = write_config(tmp_path, n_prompts=2, judges=["judge-clean"], judging={"modes": ["quality"]},
                        synth={"judge": {"models": ["judge-noisy"]}})
    cfg = load_config(path)
    instance.add_dynamic_partitions("judge_model", [*cfg.judge_partitions, "nobody"])
    _materialize(instance, path, ["prompts", "responses", "curation_examples"])
    wh = Warehouse(cfg.database_path)

    result = _materialize(instance, path, ["quality_scores"], "nobody", raise_on_error=False)
    assert not result.success and "not a configured judge" in _failure(result)

    for judge in ("judge-clean", "judge-noisy"):
        _materialize(instance, path, ["quality_scores"], judge)
    assert wh.count("quality_scores", "WHERE judge_model = 'judge-clean'") == 8
    assert wh.count("quality_scores", "WHERE judge_model = 'judge-noisy'") == 0

    # scores without embeddings: a failure naming the judge and the count
    result = _materialize(instance, path, ["curated_scores"], "judge-clean", raise_on_error=False)
    assert not result.success
    assert "curated_scores[judge-clean]: 8 of 8 scored examples have no embedding" in _failure(result)

    # with embeddings, 8 examples are too few: an empty partition with the reason, not a crash
    _materialize(instance, path, ["embeddings"])
    for judge in ("judge-clean", "judge-noisy"):
        _materialize(instance, path, ["curated_scores"], judge)
    assert wh.count("curated_scores") == 0 and wh.count("curation_transition") == 0
    assert "needs at least" in latest_metadata(instance, "curated_scores", "judge-clean")["skipped"]
    assert "no parsed quality scores" in latest_metadata(instance, "curated_scores", "judge-noisy")["skipped"]

    # nothing curated: selection names what to materialize
    result = _materialize(instance, path, ["selected_dataset"], "ds2", raise_on_error=False)
    assert not result.success and "has curated scores" in _failure(result)
