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

from ..support.project import SIM_MODELS, dataset

QUESTIONS = [
    (81, "writing", ["Compose a travel blog post about a trip to Hawaii.",
                     "Rewrite it so that every sentence starts with the letter A."]),
    (82, "roleplay", ["Pretend to be a pirate captain and motivate your crew.", "Now do it as a poet."]),
    (111, "math", ["What is the area of a triangle with vertices (0,0), (4,0) and (0,3)?",
                   "What is the radius of the circle circumscribing it?"]),
    (131, "reasoning", ["Which is heavier, a kilo of feathers or a kilo of steel?", "And a pound of each?"]),
]
MODELS = ["vicuna-13b", "llama-13b"]
JUDGE = "gpt-4 (imported)"


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _answer(qid: int, model: str, turn: int) -> str:
    quality = "thorough, correct and well organised" if model == "vicuna-13b" else "short"
    return f"{model} answers question {qid}, turn {turn}: a {quality} reply with steps one, two and three."


def _single_rows() -> list[dict]:
    rows = []
    for k, (qid, _, _) in enumerate(QUESTIONS):
        for model in MODELS:
            for turn in (1, 2):
                score = (8 if model == "vicuna-13b" else 4) + (k + turn) % 3 - 1
                judgment = f"The assistant's answer is adequate. Rating: [[{score}]]"
                if (qid, model, turn) == (82, "llama-13b", 2):  # FastChat could not parse this one: -1
                    judgment, score = "I am unable to provide a rating for this answer.", -1
                rows.append({"question_id": qid, "model": model,
                             "judge": ["gpt-4", "single-math-v1" if qid >= 111 else "single-v1"],
                             "user_prompt": "...", "judgment": judgment, "score": score, "turn": turn,
                             "tstamp": 1.0})
    return rows


def _verdict(winner: str, first: str) -> str:
    letter = "C" if winner == "tie" else ("A" if winner == first else "B")
    return f"After comparing both answers, my final verdict is [[{letter}]]"


def _pair_rows() -> list[dict]:
    # (g1 winner, g2 winner) per (question, turn), in model terms as FastChat records them
    plan = {(81, 1): ("model_1", "model_1"), (81, 2): ("model_1", "model_2"), (82, 1): ("tie", "tie"),
            (82, 2): ("model_1", "model_1"), (111, 1): ("model_2", "model_2"), (111, 2): ("error", "model_1"),
            (131, 1): ("model_1", "tie"), (131, 2): ("model_1", "model_1")}
    rows = []
    for (qid, turn), (g1, g2) in plan.items():
        name = {"model_1": "vicuna-13b", "model_2": "llama-13b", "tie": "tie"}
        g1_text = "No verdict here." if g1 == "error" else _verdict(name[g1], "vicuna-13b")
        rows.append({"question_id": qid, "model_1": "vicuna-13b", "model_2": "llama-13b", "g1_winner": g1,
                     "g2_winner": g2, "judge": ["gpt-4", "pair-v2" if turn == 1 else "pair-v2-multi-turn"],
                     "g1_user_prompt": "...", "g1_judgment": g1_text, "g2_user_prompt": "...",
                     "g2_judgment": _verdict(name[g2], "llama-13b"), "turn": turn, "tstamp": 1.0})
    return rows


@pytest.fixture
def fastchat_project(tmp_path: Path) -> Path:
    data = tmp_path / "data" / "mt_bench"
    _jsonl(data / "question.jsonl", [{"question_id": q, "category": c, "turns": t} for q, c, t in QUESTIONS])
    for model in MODELS:
        _jsonl(data / "model_answer" / f"{model}.jsonl", [
            {"question_id": q, "answer_id": f"{model}-{q}", "model_id": model,
             "choices": [{"index": 0, "turns": [_answer(q, model, 1), _answer(q, model, 2)]}], "tstamp": 1.0}
            for q, _, _ in QUESTIONS])
    _jsonl(data / "reference_answer" / "gpt-4.jsonl", [
        {"question_id": 111, "answer_id": "r111", "model_id": "gpt-4",
         "choices": [{"index": 0, "turns": ["The area is 6.", "The radius is 2.5."]}]},
        {"question_id": 131, "answer_id": "r131", "model_id": "gpt-4",
         "choices": [{"index": 0, "turns": ["They weigh the same.", "They weigh the same too."]}]}])
    _jsonl(data / "model_judgment" / "gpt-4_single.jsonl", _single_rows())
    _jsonl(data / "model_judgment" / "gpt-4_pair.jsonl", _pair_rows())
    cfg = {
        "database": str(tmp_path / "warehouse.duckdb"),
        "models": SIM_MODELS,
        "responders": [],
        "judges": ["judge-clean"],
        "prompt_sources": [{"path": "data/mt_bench/question.jsonl", "format": "mtbench"}],
        "answer_sources": [{"path": "data/mt_bench/model_answer", "format": "fastchat"}],
        "reference_answers": [{"path": "data/mt_bench/reference_answer/gpt-4.jsonl"}],
        "judgment_sources": [{"path": "data/mt_bench/model_judgment/gpt-4_single.jsonl"},
                             {"path": "data/mt_bench/model_judgment/gpt-4_pair.jsonl"}],
        "judging": {"modes": ["single", "pairwise"]},
        "leaderboard": {"bootstrap_rounds": 50},
        "root": str(tmp_path),
    }
    path = tmp_path / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _materialize(instance, config_path: Path, selection: list[str], partition: str | None = None):
    return dg.materialize(list(defs.assets), selection=selection, partition_key=partition, instance=instance,
                          resources={"llmfeedback": LLMFeedbackResource(config_path=str(config_path))})


def _run(config_path: Path) -> Warehouse:
    cfg = load_config(config_path)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", cfg.judge_partitions)
        _materialize(instance, config_path, ["prompts", "sim_ground_truth", "responses", "comparisons"])
        for judge in cfg.judge_partitions:
            _materialize(instance, config_path, ["judgments"], judge)
        _materialize(instance, config_path, ["leaderboard", "judge_agreement"])
    return Warehouse(cfg.database_path)


def _show_result_single(path: Path) -> pd.DataFrame:
    """FastChat's show_result for single grading, written out: drop score -1, mean per turn and over all."""
    df = pd.read_json(path, lines=True)[["model", "score", "turn"]]
    df = df[df["score"] != -1]
    out = pd.DataFrame({"turn1": df[df["turn"] == 1].groupby("model")["score"].mean(),
                        "turn2": df[df["turn"] == 2].groupby("model")["score"].mean(),
                        "overall": df.groupby("model")["score"].mean()})
    return out.sort_index()


def _show_result_pairwise(path: Path) -> pd.DataFrame:
    """FastChat's show_result for pairwise judgments, written out: errors dropped, a tie or a flip is a
    tie."""
    df = pd.read_json(path, lines=True)
    df = df[(df["g1_winner"] != "error") & (df["g2_winner"] != "error")]
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
    return out.sort_index()


def test_fastchat_import_reproduces_show_result_and_joins_the_tables(fastchat_project: Path):
    wh = _run(fastchat_project)
    root = fastchat_project.parent / "data" / "mt_bench"

    responses = wh.table("responses")
    assert len(responses) == 2 * 4 * 2 and responses["request_key"].isna().all()
    assert set(responses["source"].map(lambda s: Path(s).name)) == {"vicuna-13b.jsonl", "llama-13b.jsonl"}
    prompts = wh.table("prompts").set_index("source_id")
    assert list(prompts.loc["111", "reference"]) == ["The area is 6.", "The radius is 2.5."]

    imported = wh.table("judgments", "WHERE judge_model = ?", [JUDGE])
    assert imported["request_key"].isna().all() and imported["raw"].notna().all()
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
