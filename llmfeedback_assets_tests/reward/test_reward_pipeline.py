"""The reward assets (issue 7) through Dagster's materialize() on the simulator: ratings and rankings per
judge, their consistency, preference pairs, two reward models, best-of-n reranking and win rates.

The graph runs once per module (24 prompts, 4 responders, 2 judges, 3 samples, frozen MiniLM, 5 epochs):
with fewer prompts the reward models still beat chance across responders, but their gain within one
responder's samples (what reranking needs) is too close to its noise to assert.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from llmfeedback_assets import embedding, reward
from llmfeedback_assets.config import load_config
from llmfeedback_assets.defs.analysis.assets import analysis_assets
from llmfeedback_assets.defs.gpu import GPU_OP_TAGS, GPU_POOL
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.defs.reward.assets import (
    rankings_reward_model,
    ratings_reward_model,
    reranked_responses,
    reward_assets,
)
from llmfeedback_assets.defs.reward.checks import ratings_reward_model_above_chance, reward_checks
from llmfeedback_assets.defs.spine import spine_assets
from llmfeedback_assets.defs.spine.checks import spine_checks
from llmfeedback_assets.defs.synth.assets import synth_assets
from llmfeedback_assets.defs.synth.checks import synth_checks
from llmfeedback_assets.llm import sim
from llmfeedback_assets.reward import pipeline as reward_flow
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.project import SIM_MODELS, write_config

N_PROMPTS = 24
N_SAMPLES = 3
RESPONDERS = 4
JUDGES = ["judge-clean", "judge-noisy"]
CONVERSATION_ONLY = "bravo"  # a conversation judge: its reward feedback partitions stay empty
DOWNSTREAM = ["feedback_consistency", "preference_pairs", "ratings_reward_model", "rankings_reward_model",
              "bestofn_samples", "reranked_responses", "rm_win_rate"]
ASSETS = [*spine_assets, *analysis_assets, *reward_assets, *reward_checks]


def _materialize(instance, path, selection, partition=None):
    return dg.materialize(ASSETS, selection=selection, partition_key=partition, instance=instance,
                          resources={"llmfeedback": LLMFeedbackResource(config_path=str(path))})


def _meta(instance, key: str, partition: str | None = None) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key),
                              asset_partitions=[partition] if partition else None),
        limit=1).records
    return records[0].asset_materialization.metadata


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("reward")
    path = write_config(root, n_prompts=N_PROMPTS, models_dir=str(root / "models"),
                        judging={"modes": ["single", "pairwise", "rating", "ranking"]},
                        reward={"n": N_SAMPLES, "epochs": 5, "mode": "frozen"},
                        synth={"judge": {"models": [CONVERSATION_ONLY]}})
    cfg = load_config(path)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", cfg.judge_partitions)
        _materialize(instance, path, ["prompts", "sim_ground_truth", "responses"])
        for judge in cfg.judge_partitions:
            _materialize(instance, path, ["judgments", "feedback_ratings", "feedback_rankings"], judge)
        result = _materialize(instance, path, DOWNSTREAM)
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        yield SimpleNamespace(cfg=cfg, path=path, wh=Warehouse(cfg.database_path), instance=instance,
                              checks=checks)


def _texts(wh: Warehouse) -> pd.DataFrame:
    return reward_flow.turn1_items(wh.table("prompts"), wh.table("responses"))


def test_ratings_and_rankings_per_judge(run):
    wh = run.wh
    ratings, rankings = wh.table("feedback_ratings"), wh.table("feedback_rankings")
    assert ratings.groupby("judge_model").size().to_dict() == {j: RESPONDERS * N_PROMPTS for j in JUDGES}
    # every pair of the 4 responders per prompt, asked in both orders
    assert rankings.groupby("judge_model").size().to_dict() == {j: 6 * N_PROMPTS for j in JUDGES}
    assert _meta(run.instance, "feedback_ratings", CONVERSATION_ONLY)["dagster/row_count"].value == 0
    assert (ratings["parse_status"] == "ok").all() and ratings["score"].between(1, 7).all()
    assert (rankings[["parse_status_first", "parse_status_swapped"]] == "ok").all().all()
    # the raw replies are kept once, in the journal, under the recorded request keys
    keys = [*ratings["request_key"], *rankings["request_key_first"], *rankings["request_key_swapped"]]
    assert wh.count("llm_journal", "WHERE request_key IN (SELECT unnest(?))", [keys]) == len(set(keys))
    # both orders agree -> that letter; the same letter twice -> equal
    agree = rankings["verdict_first"] != rankings["verdict_swapped"]
    assert (rankings.loc[agree, "ranking"] == rankings.loc[agree, "verdict_first"]).all()
    assert (rankings.loc[~agree, "ranking"] == "equal").all()
    # the clean judge's ratings follow the simulator's ground truth
    items = _texts(wh).merge(ratings[ratings["judge_model"] == "judge-clean"], on="response_id")
    truth = [sim.true_score(q, a) for q, a in zip(items["question"], items["text"], strict=True)]
    assert spearmanr(items["score"], truth).statistic > 0.8


def test_feedback_consistency_is_higher_for_the_cleaner_judge(run):
    table = run.wh.table("feedback_consistency")
    assert sorted(table["judge_model"].unique()) == JUDGES
    rates = {}
    for judge, g in table.groupby("judge_model"):
        assert len(g) == 9  # the 3x3 confusion table, long format
        assert g["n"].sum() == g["n_pairs"].iloc[0] == 6 * N_PROMPTS
        diagonal = g.loc[g["implied_by_ratings"] == g["ranking_given"], "n"].sum()
        assert g["rate"].iloc[0] == pytest.approx(diagonal / g["n"].sum())
        rates[judge] = g["rate"].iloc[0]
    assert rates["judge-clean"] > rates["judge-noisy"]
    meta = _meta(run.instance, "feedback_consistency")
    assert meta["consistency_rate/judge-clean"].value == rates["judge-clean"]


def test_preference_pairs_drop_ties_and_keep_prompts_on_one_side(run):
    wh = run.wh
    pairs = wh.table("preference_pairs")
    sides = pairs.groupby("prompt_id")["split"].nunique()
    assert (sides == 1).all()
    assert set(pairs["split"]) == {"train", "val"}
    items = _texts(wh)
    texts = dict(zip(items["response_id"], items["text"], strict=True))
    rankings = wh.table("feedback_rankings", "WHERE ranking IN ('a', 'b')")
    pairwise = wh.table("judgments", "WHERE mode = 'pairwise' AND turn = 1 AND parse_status = 'ok' "
                                     "AND winner IN ('model_a', 'model_b')")
    distinct = [(rankings, "response_1_id", "response_2_id"), (pairwise, "response_a_id", "response_b_id")]
    expected = sum(int((df[a].map(texts) != df[b].map(texts)).sum()) for df, a, b in distinct)
    assert len(pairs) == expected > 0
    # orientation: a ranking "a" makes response 1 the chosen one
    oriented = pairs[pairs["source"] == "ranking"].merge(
        rankings, left_on=["judge_model", "prompt_id", "chosen_model", "rejected_model"],
        right_on=["judge_model", "prompt_id", "model_1", "model_2"])
    assert len(oriented) > 0 and (oriented["ranking"] == "a").all()
    assert (oriented["chosen_response_id"] == oriented["response_1_id"]).all()


def test_reward_models_are_saved_reloadable_and_above_chance(run):
    wh = run.wh
    models = reward_flow.latest_models(wh).set_index("name")
    assert sorted(models.index) == [reward_flow.RANKINGS_MODEL, reward_flow.RATINGS_MODEL]
    val = wh.table("preference_pairs", "WHERE split = 'val'")
    items = _texts(wh)
    text = dict(zip(items["response_id"], items["text"], strict=True))
    question = dict(zip(items["prompt_id"], items["question"], strict=True))
    prompt_of = dict(zip(items["response_id"], items["prompt_id"], strict=True))
    for name, row in models.iterrows():
        assert run.checks[f"{name}_above_chance"].passed
        assert row["val_pairwise_accuracy"] > 0.75  # measured: 0.89 (ratings), 0.89 (rankings)
        assert row["n_val_pairs"] == len(val) and row["mode"] == "frozen"
        folder = run.cfg.resolve(run.cfg.models_dir) / name / row["version"]
        assert str(folder) == row["path"]
        files = {p.name for p in folder.iterdir()}
        assert {"model.safetensors", "head.safetensors", "card.json", "MODEL_CARD.md"} <= files
        card = json.loads((folder / "card.json").read_text())
        assert card["run_id"] == row["run_id"] == row["version"]
        assert card["metrics"]["val_pairwise_accuracy"] == pytest.approx(row["val_pairwise_accuracy"])
        # the reloaded model reproduces the recorded validation accuracy on the held-out pairs
        model = reward.load_reward_model(folder)
        ids = sorted({*val["chosen_response_id"], *val["rejected_response_id"]})  # each answer scored once
        scores = reward.score(model, [question[prompt_of[i]] for i in ids], [text[i] for i in ids])
        rewards = dict(zip(ids, scores, strict=True))
        accuracy = np.mean(val["chosen_response_id"].map(rewards) > val["rejected_response_id"].map(rewards))
        assert accuracy == pytest.approx(row["val_pairwise_accuracy"], abs=1 / len(val))
        md = _meta(run.instance, name)
        assert md["loss_curve"].value.startswith("![") and "data:image/png;base64," in md["loss_curve"].value
        assert md["val_pairwise_accuracy"].value == pytest.approx(row["val_pairwise_accuracy"])
        assert md["val_rating_correlation"].value == pytest.approx(row["rating_correlation"])
        assert row["rating_correlation"] > 0.5
    for asset in (ratings_reward_model, rankings_reward_model, reranked_responses):
        assert asset.op.pool == GPU_POOL
        assert json.loads(asset.op.tags["dagster-k8s/config"]) == GPU_OP_TAGS["dagster-k8s/config"]


def test_best_of_n_picks_better_answers_than_a_random_sample(run):
    wh = run.wh
    samples = wh.table("bestofn_samples")
    assert len(samples) == RESPONDERS * N_PROMPTS * N_SAMPLES and (samples["status"] == "ok").all()
    # sampled at reward.sample_temperature (1.0), apart from the spine's greedy answers
    assert not set(samples["response_id"]) & set(wh.table("responses")["response_id"])
    distinct = samples.groupby(["prompt_id", "responder_model"])["text"].nunique()
    assert (distinct > 1).mean() > 0.9 and _meta(run.instance, "bestofn_samples")[
        "identical_sample_groups"].value == int((distinct == 1).sum())
    cands = reward_flow.candidates(samples, wh.table("prompts"))
    cands["truth"] = [sim.true_score(q, a) for q, a in zip(cands["prompt"], cands["response"], strict=True)]
    # a random pick's expectation
    random_pick = cands.groupby(["prompt_id", "responder_model"])["truth"].mean()
    picks = wh.table("reranked_responses")
    assert picks.groupby("reward_model").size().to_dict() == {
        reward_flow.RANKINGS_MODEL: RESPONDERS * N_PROMPTS, reward_flow.RATINGS_MODEL: RESPONDERS * N_PROMPTS}
    for name, p in picks.groupby("reward_model"):
        p = p.merge(cands[["response_id", "prompt_id", "responder_model", "truth"]],
                    on=["response_id", "prompt_id", "responder_model"])
        assert len(p) == RESPONDERS * N_PROMPTS  # every pick is one of its own group's candidates
        gain = p.set_index(["prompt_id", "responder_model"])["truth"] - random_pick
        # measured: +0.35 (ratings model) and +0.29 (rankings model) key points, standard error 0.07
        assert gain.mean() > 2 * gain.std() / np.sqrt(len(gain)), name


def test_each_text_is_embedded_once_across_the_graph(run):
    """Both frozen models and reranking share the embedding store: one reward model reads the answers the
    other embedded, reranking embeds only candidates no step embedded before, and every stored vector was
    embedded by exactly one step."""
    wh = run.wh
    ratings, rankings = _meta(run.instance, reward_flow.RATINGS_MODEL), _meta(run.instance,
                                                                              reward_flow.RANKINGS_MODEL)
    rerank = _meta(run.instance, "reranked_responses")
    # the two models train in one run in either order: the second reads what the first embedded (both
    # learn from the same first-turn answers)
    read = sorted(m["texts_from_embedding_store"].value for m in (ratings, rankings))
    assert read[0] == 0 and read[1] > 0
    cands = reward_flow.candidates(wh.table("bestofn_samples"), wh.table("prompts"))
    keys = {embedding.pair_hash(p, r) for p, r in zip(cands["prompt"], cands["response"], strict=True)}
    assert rerank["candidates_embedded"].value + rerank["candidate_embeddings_read"].value == len(keys)
    embedded = sum(m[k].value for m, k in ((ratings, "texts_embedded"), (rankings, "texts_embedded"),
                                           (rerank, "candidates_embedded")))
    assert wh.count("embedding_store") == embedded

    # a second reranking run (new candidates none) embeds nothing and picks the same answers
    before = wh.table("reranked_responses")
    _materialize(run.instance, run.path, ["reranked_responses"])
    again = _meta(run.instance, "reranked_responses")
    assert again["candidates_embedded"].value == 0 and wh.count("embedding_store") == embedded
    key = ["reward_model", "prompt_id", "responder_model"]
    pd.testing.assert_frame_equal(wh.table("reranked_responses").sort_values(key).reset_index(drop=True),
                                  before.sort_values(key).reset_index(drop=True))


def test_greedy_samples_are_identical_and_the_asset_says_so(tmp_path):
    """At temperature 0 the simulator, like a real model, answers the same n times: best-of-n is told."""
    path = write_config(tmp_path, n_prompts=3, judging={"modes": ["rating"]},
                        reward={"n": 3, "sample_temperature": 0.0})
    with dg.instance_for_test() as instance:
        _materialize(instance, path, ["prompts", "bestofn_samples"])
        md = _meta(instance, "bestofn_samples")
    samples = Warehouse(load_config(path).database_path).table("bestofn_samples")
    groups = samples.groupby(["prompt_id", "responder_model"])["text"].nunique()
    assert len(groups) == 3 * RESPONDERS and (groups == 1).all()
    assert md["identical_sample_groups"].value == len(groups) and md["sample_temperature"].value == 0.0


def test_win_rates_have_intervals_and_sample_sizes(run):
    table = run.wh.table("rm_win_rate")
    reference = run.cfg.responders[-1]
    assert set(table["reference_model"]) == {reference} and set(table["judge_model"]) == {"judge-clean"}
    rms = {reward_flow.RATINGS_MODEL, reward_flow.RANKINGS_MODEL, reward_flow.BASELINE_PICK}
    assert set(table["reward_model"]) == rms
    assert len(table) == len(rms) * (RESPONDERS + 1) * 2
    per = table[table["responder_model"] != reward_flow.ALL_RESPONDERS]
    assert (per["n"] == N_PROMPTS).all()
    pooled = table.loc[table["responder_model"] == reward_flow.ALL_RESPONDERS, "n"]
    assert (pooled == RESPONDERS * N_PROMPTS).all()
    assert (table["wins"] + table["ties"] + table["losses"] == table["n"]).all()
    assert (table["n_invalid"] == 0).all()
    assert ((table["low"] <= table["rate"]) & (table["rate"] <= table["high"])).all()
    assert ((table["high"] - table["low"]) > 0).all()
    # the reference's own first sample (temperature 1) against its greedy answer: not the same text, so not
    # a tie every time, and no better or worse than even (the same model)
    own = table[(table["reward_model"] == reward_flow.BASELINE_PICK) & (table["responder_model"] == reference)
                & (table["method"] == "ratings")].iloc[0]
    assert own["ties"] < own["n"] and own["low"] < 0.5 < own["high"]
    # the strongest responder beats the weakest reference whatever picks its answer
    best = table[table["responder_model"] == run.cfg.responders[0]]
    assert (best["rate"] > 0.8).all()


def test_a_model_at_chance_fails_its_blocking_check(run):
    wh = run.wh
    row = reward_flow.latest_models(wh, reward_flow.RATINGS_MODEL).iloc[0]
    wh.execute("UPDATE reward_models SET val_pairwise_accuracy = 0.5 WHERE model_id = ?", [row["model_id"]])
    try:
        result = dg.materialize(ASSETS, selection=dg.AssetSelection.checks(ratings_reward_model_above_chance),
                                instance=run.instance, raise_on_error=False,
                                resources={"llmfeedback": LLMFeedbackResource(config_path=str(run.path))})
        [check] = result.get_asset_check_evaluations()
        assert not check.passed and check.metadata["val_pairwise_accuracy"].value == 0.5
        assert not result.success  # blocking: the run fails, so `llmfeedback run` stops before reranking
    finally:
        wh.execute("UPDATE reward_models SET val_pairwise_accuracy = ? WHERE model_id = ?",
                   [float(row["val_pairwise_accuracy"]), row["model_id"]])


def test_failed_judge_calls_are_recorded_not_dropped(tmp_path):
    dead = {"name": "dead", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "max_retries": 0,
            "timeout_s": 2}
    # few enough calls (3 ratings, 3 pairs x 2 orders) that the gateway records them rather than stopping
    # the model as misconfigured (it does so after 10 failures in a row)
    path = write_config(tmp_path, n_prompts=1, models=[*SIM_MODELS, dead], judges=["dead"],
                        judging={"modes": ["rating", "ranking"]},
                        responders=["alpha", "bravo", "charlie"])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", ["dead"])
        _materialize(instance, path, ["prompts", "responses"])
        _materialize(instance, path, ["feedback_ratings", "feedback_rankings"], "dead")
        wh = Warehouse(load_config(path).database_path)
        ratings, rankings = wh.table("feedback_ratings"), wh.table("feedback_rankings")
        assert len(ratings) == 3 and len(rankings) == 3
        assert (ratings["parse_status"] == "call_failed").all() and ratings["score"].isna().all()
        assert rankings["ranking"].isna().all() and (rankings["parse_status_first"] == "call_failed").all()
        assert _meta(instance, "feedback_ratings", "dead")["parse_failure_rate"].value == 1.0


def test_reward_assets_load_with_the_rest_of_the_graph():
    defs = dg.Definitions(assets=[*spine_assets, *analysis_assets, *synth_assets, *reward_assets],
                          asset_checks=[*spine_checks, *synth_checks, *reward_checks],
                          resources={"llmfeedback": LLMFeedbackResource()})
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    groups = {graph.get(dg.AssetKey(a.key.path)).group_name for a in reward_assets}
    assert groups == {"reward"}
