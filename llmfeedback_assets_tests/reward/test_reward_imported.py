"""Released sparse feedback (the sparse_feedback repository's sample files, read in place) as an imported
judge's feedback_ratings / feedback_rankings partitions: no model call, every recorded row kept in file order,
feedback_consistency equal to upstream's consistency.py table, and the reward models train on the pairs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from llmfeedback_assets.definitions import defs
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.warehouse import Warehouse

from ..support.project import SIM_MODELS, dataset

JUDGE = "sparse-feedback (imported)"


def _materialize(instance, path: Path, selection: list[str], partition: str | None = None):
    # without the checks: on 20 instructions the reward models need not beat chance (their blocking checks)
    result = dg.materialize(list(defs.assets or []) + list(defs.asset_checks or []),
                            selection=dg.AssetSelection.assets(*selection).without_checks(),
                            partition_key=partition, instance=instance,
                            resources={"llmfeedback": LLMFeedbackResource(config_path=str(path))},
                            raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sparse")
    samples = dataset("sparse_feedback", "alpaca_generation", "sample_generation.json")
    cfg = {
        "database": str(root / "warehouse.duckdb"), "models": SIM_MODELS, "judges": ["judge-clean"],
        "models_dir": str(root / "models"),
        "answer_sources": [{"path": str(samples), "format": "sparse_feedback"}],
        "judgment_sources": [
            {"path": str(samples.parent / f"feedback_{kind}_sample_generation.csv"),
             "format": "sparse_feedback", "judge": "sparse-feedback"} for kind in ("ratings", "rankings")],
        "judging": {"modes": ["rating", "ranking"]},
        "reward": {"epochs": 2, "mode": "frozen"},
        "leaderboard": {"bootstrap_rounds": 0},
    }
    path = root / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", ["judge-clean", JUDGE])
        _materialize(instance, path, ["prompts", "sim_ground_truth", "responses"])
        _materialize(instance, path, ["judgments", "feedback_ratings", "feedback_rankings"], JUDGE)
        _materialize(instance, path, ["feedback_consistency", "preference_pairs", "ratings_reward_model",
                                      "rankings_reward_model"])
        yield Warehouse(root / "warehouse.duckdb")


def test_recorded_feedback_becomes_the_imported_judges_partitions_without_a_call(run):
    ratings = run.table("feedback_ratings", "WHERE judge_model = ?", [JUDGE])
    rankings = run.table("feedback_rankings", "WHERE judge_model = ?", [JUDGE])
    assert len(ratings) == 99 and len(rankings) == 118  # every row of the two files, repeats included
    assert ratings["score"].between(1, 7).all() and (ratings["parse_status"] == "ok").all()
    assert ratings["source"].str.contains(r"feedback_ratings_sample_generation\.csv:\d+$").all()
    assert set(rankings["ranking"]) == {"a", "b", "equal"} and rankings["model_1"].eq("alpaca-7b").all()
    assert run.count("llm_journal") == 0  # no model was asked for any of it


def test_consistency_is_upstreams_table(run):
    table = run.table("feedback_consistency", "WHERE judge_model = ?", [JUDGE])
    cells = table.set_index(["implied_by_ratings", "ranking_given"])["n"]
    order = ["equal", "a", "b"]
    assert [[int(cells[(i, g)]) for g in order] for i in order] == [[21, 11, 7], [8, 19, 10], [9, 6, 26]]
    assert table["n_pairs"].iloc[0] == 117 and table["rate"].iloc[0] == pytest.approx(66 / 117)


def test_reward_models_train_on_the_released_pairs(run):
    pairs = run.table("preference_pairs", "WHERE judge_model = ?", [JUDGE])
    rankings = run.table("feedback_rankings", "WHERE judge_model = ? AND ranking IN ('a', 'b')", [JUDGE])
    distinct = rankings.drop_duplicates(["response_1_id", "response_2_id"])
    assert len(pairs) == len(distinct) and pairs["pair_id"].is_unique
    assert (pairs["chosen_model"] == "alpaca-7b").all()  # one model's samples, as upstream ranks them
    models = run.table("reward_models").set_index("name")
    assert models.loc["rankings_reward_model", "n_train"] == (pairs["split"] == "train").sum()
    assert models.loc["ratings_reward_model", "n_train"] > 0


def _win_rates_against_a_file(tmp_path: Path, references: list[dict], questions: list[str]):
    import json

    import pandas as pd

    from llmfeedback_assets.config import load_config
    from llmfeedback_assets.ingest.records import prompt_id
    from llmfeedback_assets.llm import Gateway
    from llmfeedback_assets.reward import pipeline as reward_flow

    (tmp_path / "reference.json").write_text(json.dumps(references))
    cfg = {"database": str(tmp_path / "w.duckdb"), "models": SIM_MODELS, "responders": ["alpha"],
           "judges": ["judge-clean"], "prompt_sources": [{"path": "prompts"}],
           "judging": {"modes": ["rating", "ranking"]},
           "reference_outputs": {"path": "reference.json", "format": "alpaca_eval"}}
    (tmp_path / "llmfeedback.yaml").write_text(yaml.safe_dump(cfg))
    config = load_config(tmp_path / "llmfeedback.yaml")
    ids = [f"r{i}" for i in range(2 * len(questions))]
    cands = pd.DataFrame({"prompt_id": [prompt_id([q]) for q in questions for _ in range(2)],
                          "responder_model": "alpha", "response_id": ids,
                          "sample": [0, 1] * len(questions),
                          "prompt": [q for q in questions for _ in range(2)],
                          "response": [f"A careful answer number {i}." for i in range(2 * len(questions))]})
    picks = cands.loc[cands["sample"] == 1, ["prompt_id", "responder_model", "response_id", "sample"]].assign(
        reward_model="ratings_reward_model")  # as reranked_responses holds them
    wh = Warehouse(config.database_path)
    table, _ = reward_flow.win_rates(Gateway(config, wh), config, picks, cands)
    return table, wh


def test_win_rates_against_reference_outputs_read_from_a_file(tmp_path):
    questions = ["Name a prime number.", "What is the capital of France?", "Describe a sunset."]
    refs = [{"instruction": q, "output": f"The reference answer to: {q}", "generator": "ref-writer"}
            for q in questions[:2]]  # the third prompt has no reference: left out, not generated
    table, wh = _win_rates_against_a_file(tmp_path, refs, questions)
    assert set(table["reference_model"]) == {"ref-writer"}
    assert (table["n"] + table["n_invalid"] == 2).all()
    # both intervals, labelled: Wilson stays in [0, 1]; the paper's ± 1.96 SEM is symmetric around the rate
    valid = table[table["n"] > 1]
    assert ((valid["low"] >= 0) & (valid["high"] <= 1)).all()
    assert ((valid["sem_high"] - valid["rate"]) - (valid["rate"] - valid["sem_low"])).abs().max() < 1e-12
    journal = wh.table("llm_journal")
    assert set(journal["model"]) == {"judge-clean"}  # no reference answer was generated


def test_reference_outputs_of_several_models_need_a_name(tmp_path):
    refs = [{"instruction": "Name a prime number.", "output": "2", "generator": g} for g in ("x", "y")]
    with pytest.raises(Exception, match="set reference_outputs.model"):
        _win_rates_against_a_file(tmp_path, refs, ["Name a prime number."])


def test_davinci003_outputs_are_the_reference_as_upstream_compares(tmp_path):
    import json

    import pandas as pd

    from llmfeedback_assets.config import load_config
    from llmfeedback_assets.ingest.records import prompt_id
    from llmfeedback_assets.reward import pipeline as reward_flow

    davinci = dataset("sparse_feedback", "inference_model_outputs", "davinci003.json")
    records = json.loads(davinci.read_text())
    (tmp_path / "llmfeedback.yaml").write_text(yaml.safe_dump({
        "models": SIM_MODELS, "responders": ["alpha"], "judges": ["judge-clean"],
        "prompt_sources": [{"path": "prompts"}], "reference_outputs": {"path": str(davinci)}}))
    config = load_config(tmp_path / "llmfeedback.yaml")
    asked = [r["instruction"] for r in records[:30]] + ["A prompt davinci-003 never saw."]
    prompts = pd.DataFrame({"prompt_id": [prompt_id([q]) for q in asked], "prompt": asked})
    ref, name = reward_flow.reference_outputs(config, prompts)
    assert name == records[0]["generator"] and len(ref) == 30
    assert ref["response"].tolist() == [r["output"] for r in records[:30]]
