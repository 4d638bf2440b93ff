"""A FastChat user's whole day: questions, two models' answers, GPT-4 single and pairwise judgments (raw
text and FastChat's recorded verdicts) imported through the config, without a single model call for
them; FastChat's show_result numbers come out of the warehouse exactly, and the imported judge sits in the
leaderboard and agreement tables beside a judge of ours."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from llmfeedback_assets.config import load_config
from llmfeedback_assets.definitions import defs
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.warehouse import Warehouse

from ..support.fastchat_project import JUDGE, MODELS, write_fastchat_project
from ..support.project import SIM_MODELS, dataset


@pytest.fixture
def fastchat_project(tmp_path: Path) -> Path:
    return write_fastchat_project(tmp_path)


def _materialize(instance, config_path: Path, selection: list[str], partition: str | None = None):
    return dg.materialize(list(defs.assets), selection=selection, partition_key=partition, instance=instance,
                          resources={"llmfeedback": LLMFeedbackResource(config_path=str(config_path))})


def _run(config_path: Path, leaderboard_metadata: dict | None = None) -> Warehouse:
    cfg = load_config(config_path)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", cfg.judge_partitions)
        _materialize(instance, config_path, ["prompts", "sim_ground_truth", "responses", "comparisons"])
        for judge in cfg.judge_partitions:
            _materialize(instance, config_path, ["judgments"], judge)
        result = _materialize(instance, config_path, ["leaderboard", "judge_agreement"])
        if leaderboard_metadata is not None:
            events = result.asset_materializations_for_node("leaderboard")
            leaderboard_metadata.update(events[0].metadata)
    return Warehouse(cfg.database_path)


def _show_result_single(path: Path) -> pd.DataFrame:
    """FastChat's show_result for single grading, written out: drop score -1, mean per turn and over all."""
    df = pd.read_json(path, lines=True)[["model", "score", "turn"]]
    df = df[df["score"] != -1]
    out = pd.DataFrame({"turn1": df[df["turn"] == 1].groupby("model")["score"].mean(),
                        "turn2": df[df["turn"] == 2].groupby("model")["score"].mean(),
                        "overall": df.groupby("model")["score"].mean()})
    return out.sort_index()


def _show_result_pairwise(path: Path, baseline: str | None = None) -> pd.DataFrame:
    """FastChat's show_result for pairwise judgments, written out: errors dropped, a tie or a flip is a
    tie; with a baseline, only its games count and its own row is left out."""
    df = pd.read_json(path, lines=True)
    df = df[(df["g1_winner"] != "error") & (df["g2_winner"] != "error")]
    if baseline is not None:
        df = df[(df["model_1"] == baseline) | (df["model_2"] == baseline)]
    rows = []
    for r in df.itertuples():
        if r.g1_winner == "tie" or r.g1_winner != r.g2_winner:
            rows += [{"model": r.model_1, "win": 0, "loss": 0, "tie": 1},
                     {"model": r.model_2, "win": 0, "loss": 0, "tie": 1}]
        else:
            win, lose = (r.model_1, r.model_2) if r.g1_winner == "model_1" else (r.model_2, r.model_1)
            rows += [{"model": win, "win": 1, "loss": 0, "tie": 0},
                     {"model": lose, "win": 0, "loss": 1, "tie": 0}]
    out = pd.DataFrame(rows).groupby("model").sum()
    total = out["win"] + out["loss"] + out["tie"]
    out["win_rate"], out["loss_rate"] = out["win"] / total, out["loss"] / total
    out["win_rate_adjusted"] = (out["win"] + 0.5 * out["tie"]) / total
    return out[out.index != baseline].sort_index()


def test_fastchat_import_reproduces_show_result_and_joins_the_tables(fastchat_project: Path):
    metadata: dict = {}
    wh = _run(fastchat_project, metadata)
    assert f"mt_bench_radar/{JUDGE}" in metadata and "mt_bench_radar/judge-clean" in metadata
    assert "data:image/png;base64," in metadata[f"mt_bench_radar/{JUDGE}"].value
    root = fastchat_project.parent / "data" / "mt_bench"

    responses = wh.table("responses")
    assert len(responses) == 2 * 4 * 2 and responses["request_key"].isna().all()
    assert set(responses["source"].map(lambda s: Path(s).name)) == {"vicuna-13b.jsonl", "llama-13b.jsonl"}
    prompts = wh.table("prompts").set_index("source_id")
    assert list(prompts.loc["111", "reference"]) == ["The area is 6.", "The radius is 2.5."]

    imported = wh.table("judgments", "WHERE judge_model = ?", [JUDGE])
    assert imported["request_key"].isna().all() and imported["raw"].notna().all()
    assert (imported["explanation"] == imported["raw"]).all()  # FastChat's judgment text is the reply
    pairs = imported[imported["mode"] == "pairwise"]
    assert len(pairs) and pairs["explanation_swapped"].notna().all()
    assert wh.count("llm_journal", "WHERE model = 'gpt-4'") == 0

    scores = wh.table("mt_bench_scores", "WHERE judge_model = ?", [JUDGE])
    got = scores.pivot(index="model", columns="scope", values="score")[["turn1", "turn2", "overall"]]
    expected = _show_result_single(root / "model_judgment" / "gpt-4_single.jsonl")
    pd.testing.assert_frame_equal(got.sort_index(), expected, check_names=False, check_exact=True)
    cats = set(scores["scope"]) - {"turn1", "turn2", "overall"}
    assert cats == {"category:writing", "category:roleplay", "category:math", "category:reasoning"}

    rates = wh.table("pairwise_win_rates", "WHERE judge_model = ? AND baseline IS NULL", [JUDGE])
    got = rates.set_index("model")[["win", "loss", "tie", "win_rate", "loss_rate", "win_rate_adjusted"]]
    expected = _show_result_pairwise(root / "model_judgment" / "gpt-4_pair.jsonl")
    pd.testing.assert_frame_equal(got.sort_index(), expected, check_names=False, check_dtype=False)

    board = wh.table("leaderboard")
    assert {JUDGE, "judge-clean"} <= set(board["judge_model"])
    assert set(board[board["judge_model"] == JUDGE]["model"]) == set(MODELS)
    agreement = wh.table("judge_agreement")
    pair = agreement[agreement[["judge_1", "judge_2"]].isin([JUDGE, "judge-clean"]).all(axis=1)]
    assert len(pair) == 1 and int(pair["n_with_ties"].iloc[0]) > 0
    consistency = wh.table("position_consistency").set_index("judge")
    # g1/g2 agree on 81/1, 82/1 (tie), 82/2, 111/1, 131/2; 111/2 has an error and is left out
    assert int(consistency.loc[JUDGE, "n_pairs"]) == 7 and int(consistency.loc[JUDGE, "n_consistent"]) == 5


def test_answers_that_match_no_question_are_rejected_with_file_and_line(fastchat_project: Path):
    stray = fastchat_project.parent / "data" / "mt_bench" / "model_answer" / "vicuna-13b.jsonl"
    with stray.open("a") as fh:
        fh.write(json.dumps({"question_id": 999, "model_id": "vicuna-13b",
                             "choices": [{"index": 0, "turns": ["an answer to nothing"]}]}) + "\n")
    wh = _run(fastchat_project)
    rejected = wh.table("rejected_inputs", "WHERE asset = 'responses'")
    assert len(rejected) == 1
    assert rejected["source_file"].iloc[0].endswith("vicuna-13b.jsonl") and rejected["line"].iloc[0] == 5
    assert "999" in rejected["reason"].iloc[0]
    assert wh.count("responses") == 16


# -- LLMFAO: results.jsonl as answers, LLMFAO's pair selection, the crowd's votes joined -----------------


def _llmfao_project(tmp_path: Path, k: int) -> Path:
    results = dataset("llmfao", "results.jsonl")
    crowd = results.parent / "crowd-comparisons.csv"
    cfg = {
        "database": str(tmp_path / "warehouse.duckdb"),
        "models": SIM_MODELS,
        "judges": ["judge-clean"],
        "answer_sources": [{"path": str(results), "format": "llmfao"}],
        "judgment_sources": [{"path": str(crowd), "format": "llmfao"}],
        "judging": {"modes": ["pairwise"], "pairs": "llmfao", "pairs_k": k},
        "leaderboard": {"bootstrap_rounds": 0},
        "root": str(tmp_path),
    }
    path = tmp_path / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_llmfao_answers_pairs_and_crowd_votes(tmp_path: Path):
    wh = _run(_llmfao_project(tmp_path, k=3))
    assert wh.count("prompts") == 19 and wh.count("responses") == 1133
    selected = wh.query("SELECT DISTINCT prompt_id, model_a, model_b FROM judgments "
                        "WHERE judge_model = 'judge-clean'")
    # LLMFAO's own selection on these results is 3,236 pairs (gpt4-comparisons.csv); ours judges exactly those
    upstream = pd.read_csv(dataset("llmfao", "gpt4-comparisons.csv"))
    assert len(selected) == len(upstream) == 3236
    chosen = {(p, frozenset((a, b))) for p, a, b in selected.itertuples(index=False)}
    crowd = wh.query("SELECT prompt_id, model_a, model_b, winner FROM judgments WHERE judge_model = ?",
                     ["crowd (imported)"])
    assert len(crowd) == 8931  # every crowd pair is one LLMFAO chose, so every vote is kept
    assert all((p, frozenset((a, b))) in chosen for p, a, b, _ in crowd.itertuples(index=False))
    board = wh.table("leaderboard", "WHERE judge_model = ?", ["crowd (imported)"]).sort_values("rank")
    top = board.iloc[0]
    # LLMFAO's published crowd leaderboard: GPT 4 first with Bradley-Terry 0.041215
    assert top["model"] == "GPT 4" and abs(top["bt_score"] - 0.041215) < 1e-4


def test_fewer_neighbours_leave_crowd_votes_on_unchosen_pairs_out(tmp_path: Path):
    wh = _run(_llmfao_project(tmp_path, k=2))
    ours = wh.query("SELECT DISTINCT prompt_id, model_a, model_b FROM judgments "
                    "WHERE judge_model = 'judge-clean'")
    chosen = {(p, frozenset((a, b))) for p, a, b in ours.itertuples(index=False)}
    crowd = wh.query("SELECT prompt_id, model_a, model_b FROM judgments WHERE judge_model = ?",
                     ["crowd (imported)"])
    assert 0 < len(crowd) < 8931
    assert all((p, frozenset((a, b))) in chosen for p, a, b in crowd.itertuples(index=False))
    assert len(ours) < 3236  # k=2 picks fewer pairs: the calls grow with k * models, not models squared


def test_alpaca_eval_outputs_and_sparse_feedback_samples_and_ratings(tmp_path: Path):
    samples = dataset("sparse_feedback", "alpaca_generation", "sample_generation.json")
    davinci = dataset("sparse_feedback", "inference_model_outputs", "davinci003.json")
    cfg = {
        "database": str(tmp_path / "warehouse.duckdb"),
        "models": SIM_MODELS,
        "judges": ["judge-clean"],
        "answer_sources": [{"path": str(samples), "format": "sparse_feedback"},
                           {"path": str(davinci), "format": "alpaca_eval"}],
        "judgment_sources": [
            {"path": str(samples.parent / f"feedback_{kind}_sample_generation.csv"),
             "format": "sparse_feedback", "judge": "sparse-feedback"} for kind in ("ratings", "rankings")],
        "judging": {"modes": ["single"]},
        "leaderboard": {"bootstrap_rounds": 0},
        "root": str(tmp_path),
    }
    path = tmp_path / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(cfg))
    wh = _run(path)
    assert wh.count("prompts") == 20 + 805
    counts = wh.query("SELECT responder_model, count(*) AS n, count(DISTINCT sample) AS choices "
                      "FROM responses GROUP BY ALL").set_index("responder_model")
    assert counts.loc["alpaca-7b", "n"] == 100 and counts.loc["alpaca-7b", "choices"] == 5
    assert counts.loc["text_davinci_003", "n"] == 805
    imported = wh.table("judgments", "WHERE judge_model = 'sparse-feedback (imported)'")
    assert imported["mode"].value_counts().to_dict() == {"pairwise": 118, "single": 99}
    assert imported["score"].dropna().between(1, 7).all()
    assert wh.count("rejected_inputs", "WHERE asset LIKE 'judgments:%'") == 0
    # our judge graded every imported answer: imported responses are judged like generated ones
    assert wh.count("judgments", "WHERE judge_model = 'judge-clean'") == 20 + 805


def test_fastchat_pairwise_baseline_win_rates(fastchat_project: Path):
    raw = yaml.safe_load(fastchat_project.read_text())
    raw["judging"].update(pairs="baseline", baseline_model="llama-13b")
    fastchat_project.write_text(yaml.safe_dump(raw))
    wh = _run(fastchat_project)
    rates = wh.table("pairwise_win_rates", "WHERE judge_model = ? AND baseline = 'llama-13b'", [JUDGE])
    got = rates.set_index("model")[["win", "loss", "tie", "win_rate", "loss_rate", "win_rate_adjusted"]]
    pair_file = fastchat_project.parent / "data" / "mt_bench" / "model_judgment" / "gpt-4_pair.jsonl"
    expected = _show_result_pairwise(pair_file, baseline="llama-13b")
    assert list(got.index) == ["vicuna-13b"]
    pd.testing.assert_frame_equal(got.sort_index(), expected, check_names=False, check_dtype=False)
    ours = wh.table("judgments", "WHERE judge_model = 'judge-clean' AND mode = 'pairwise'")
    assert set(ours["model_b"]) == {"llama-13b"}  # our judge compared against the baseline only


def test_fastchat_reference_answers_attach_to_every_mt_bench_question(tmp_path: Path):
    from llmfeedback_assets.ingest.imports import build_prompt_table

    folder = dataset("mt_bench")
    result = build_prompt_table([(folder / "question.jsonl", "mtbench", None)], [],
                                [folder / "reference_answer" / "gpt-4.jsonl"], 100_000)
    assert len(result.prompts) == 80 and result.rejected == []
    refs = result.prompts.set_index("source_id")["reference"]
    expected = {str(json.loads(line)["question_id"]): json.loads(line)["choices"][0]["turns"]
                for line in (folder / "reference_answer" / "gpt-4.jsonl").read_text().splitlines()}
    assert len(expected) == 30
    assert all(list(refs[q]) == turns for q, turns in expected.items())
