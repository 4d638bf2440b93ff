"""Reading a user's judgments: FastChat single and pairwise fixtures (our parse beside FastChat's recorded
verdicts), real LLMFAO comparison CSVs and sparse-feedback CSVs, format detection, and every error path."""

from __future__ import annotations

import csv
import itertools
import json
import math
import warnings
from collections import Counter
from pathlib import Path

import pytest

from llmfeedback_assets.ingest import JudgmentSourceError, prompt_id, read_answers, read_judgments
from llmfeedback_assets.ranking.sources import read_mtbench_judgments
from llmfeedback_assets_tests.support.project import dataset, write_jsonl

COLUMNS = {"judge", "mode", "question_id", "turn", "model", "model_a", "model_b", "score", "winner", "raw",
           "raw_swapped", "verdict_ab", "verdict_ba", "recorded_score", "recorded_winner", "prompt_name",
           "text_a", "text_b", "model_a_id", "model_b_id", "worker", "source_file", "line", "format"}
QUOTED_A = 'The format is "[[A]]" if A is better, "[[B]]" if B is better.\n\nB answers directly.\n\n[[B]]'

jsonl = write_jsonl


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def single(qid, model, judgment, score, turn=1, prompt="single-v1"):
    return {"question_id": qid, "model": model, "judge": ["gpt-4", prompt], "user_prompt": "...",
            "judgment": judgment, "score": score, "turn": turn, "tstamp": 1.0}


def pair(qid, g1, g2, j1, j2, m1="alpaca", m2="vicuna", turn=1, prompt="pair-v2"):
    return {"question_id": qid, "model_1": m1, "model_2": m2, "g1_winner": g1, "g2_winner": g2,
            "judge": ["gpt-4", prompt], "g1_user_prompt": "...", "g1_judgment": j1, "g2_user_prompt": "...",
            "g2_judgment": j2, "turn": turn, "tstamp": 1.0}


# -- FastChat ----------------------------------------------------------------------------------------------


def test_fastchat_single_keeps_our_score_and_the_recorded_one(tmp_path):
    path = jsonl(tmp_path / "gpt-4_single.jsonl", [
        single(81, "vicuna", "Helpful and correct.\n\nRating: [[8]]", 8),
        single(82, "vicuna", "$ERROR$", -1),  # FastChat's failed call: no rating anywhere
        # FastChat takes the first [[x]], the example; our parser skips it and reads the judge's own rating
        single(83, "vicuna", "A perfect answer (e.g. [[10]]) would cite sources. This one does not.\n\n"
                             "Rating: [[6]]", 10),
        single(84, "alpaca", "Second turn fine.\nRating: [[7.5]]", 7.5, turn=2,
               prompt="single-math-v1-multi-turn"),
    ])
    df = read_judgments(path)
    assert COLUMNS <= set(df.columns)
    assert set(df["mode"]) == {"single"} and set(df["judge"]) == {"gpt-4"}
    assert set(df["format"]) == {"fastchat"}
    assert list(df["question_id"]) == ["81", "82", "83", "84"] and list(df["line"]) == [1, 2, 3, 4]
    assert list(df["model"]) == ["vicuna", "vicuna", "vicuna", "alpaca"]
    assert df["model_a"].isna().all() and df["winner"].isna().all()
    assert df["score"].tolist()[0] == 8 and math.isnan(df["score"][1])
    assert df["score"].tolist()[2:] == [6, 7.5]
    assert math.isnan(df["recorded_score"][1]) and df["recorded_score"][2] == 10
    assert list(df["turn"]) == [1, 1, 1, 2]
    assert list(df["prompt_name"]) == ["single-v1"] * 3 + ["single-math-v1-multi-turn"]
    assert df["raw"][1] == "$ERROR$" and df["raw"][2].endswith("Rating: [[6]]")


def test_fastchat_pairs_combine_both_orders_and_keep_recorded_verdicts(tmp_path):
    path = jsonl(tmp_path / "gpt-4_pair.jsonl", [
        pair(81, "model_1", "model_1", "A is better. [[A]]", "[[B]]"),
        pair(82, "error", "model_2", "I cannot decide.", "[[A]]"),
        # FastChat sees "[[A]]" anywhere in g1 and records model_1; we read the verdict line, B (model_2),
        # which agrees with g2 (A shown first there = model_2)
        pair(83, "model_1", "model_2", QUOTED_A, "[[A]]"),
        pair(84, "tie", "model_1", "[[C]]", "[[B]]"),
        pair(85, "model_2", "model_2", "[[B]]", "[[A]]", turn=2, prompt="pair-math-v1-multi-turn"),
    ])
    df = read_judgments(path)
    assert set(df["mode"]) == {"pairwise"} and df["model"].isna().all() and df["score"].isna().all()
    assert set(zip(df["model_a"], df["model_b"], strict=True)) == {("alpaca", "vicuna")}
    assert list(df["verdict_ab"]) == ["A", None, "B", "C", "B"]
    assert list(df["verdict_ba"]) == ["B", "A", "A", "B", "A"]
    assert list(df["winner"]) == ["model_a", None, "model_b", "tie", "model_b"]
    assert list(df["recorded_winner"]) == ["model_a", None, "tie", "tie", "model_b"]
    assert df["raw"][2] == QUOTED_A and df["raw_swapped"][2] == "[[A]]"
    assert list(df["turn"]) == [1, 1, 1, 1, 2] and df["prompt_name"][4] == "pair-math-v1-multi-turn"
    # the recorded verdicts agree with the ranking library's MT-bench reader (which drops the error row)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = read_mtbench_judgments(path)
    ok = df[df["recorded_winner"].notna()]
    assert list(theirs["winner"]) == list(ok["recorded_winner"])
    assert list(theirs["prompt_id"]) == list(ok["question_id"])


def test_both_orders_combine_as_fastchat_show_result(tmp_path):
    """show_result: g1 tie or g1 != g2 is a tie, else g1's winner; our parse of matching replies agrees."""
    letters_g1 = {"model_1": "[[A]]", "model_2": "[[B]]", "tie": "[[C]]"}
    letters_g2 = {"model_2": "[[A]]", "model_1": "[[B]]", "tie": "[[C]]"}
    combos = list(itertools.product(["model_1", "model_2", "tie"], repeat=2))
    path = jsonl(tmp_path / "pairs.jsonl", [pair(i, g1, g2, letters_g1[g1], letters_g2[g2])
                                            for i, (g1, g2) in enumerate(combos)])
    df = read_judgments(path)
    as_ours = {"model_1": "model_a", "model_2": "model_b", "tie": "tie"}
    expected = ["tie" if g1 == "tie" or g1 != g2 else as_ours[g1] for g1, g2 in combos]
    assert list(df["recorded_winner"]) == expected
    assert list(df["winner"]) == expected


def test_fastchat_single_prompt_pairs_and_human_votes(tmp_path):
    scored = pair(81, "tie", "tie", "Rating: [[8]]", "Rating: [[8.05]]", prompt="single-v1")
    scored.update(m1_score=8, m2_score=8.05)
    del scored["turn"]
    better = pair(82, "model_1", "model_1", "Rating: [[9]]", "Rating: [[5]]", prompt="single-v1")
    better.update(m1_score=9, m2_score=5)
    human = {"question_id": 83, "model_a": "alpaca", "model_b": "vicuna", "winner": "tie (bothbad)",
             "judge": "author_0", "turn": 2}
    df = read_judgments(jsonl(tmp_path / "mixed.jsonl", [scored, better, human]))
    assert list(df["winner"]) == ["tie", "model_a", "tie"]
    assert list(df["recorded_winner"]) == ["tie", "model_a", "tie"]
    assert list(df["turn"]) == [1, 1, 2] and list(df["judge"]) == ["gpt-4", "gpt-4", "author_0"]
    assert df["verdict_ab"].isna().all() and df["raw"][2] == "tie (bothbad)"


@pytest.mark.parametrize("change, pattern", [
    ({"g1_winner": "A"}, r"field 'g1_winner' is 'A'; expected model_1, model_2, tie or error"),
    ({"g2_winner": None}, r"field 'g2_winner' is None"),
    ({"turn": 0}, r"field 'turn' must be a positive integer, got 0"),
    ({"turn": "2"}, r"field 'turn' must be a positive integer, got '2'"),
    ({"turn": True}, r"field 'turn' must be a positive integer"),
    ({"model_2": None}, r"field 'model_2' must be a non-empty string"),
    ({"model_2": "alpaca"}, r"fields 'model_1' and 'model_2': model 'alpaca' is compared with itself"),
    ({"g1_judgment": 5}, r"field 'g1_judgment' must be a string, got number"),
    ({"judge": []}, r"field 'judge' must be a name or \[model, prompt\]"),
    ({"question_id": [81]}, r"field 'question_id' must be a non-empty string or an integer"),
])
def test_fastchat_pair_errors_name_file_line_and_field(tmp_path, change, pattern):
    bad = pair(82, "model_1", "model_1", "[[A]]", "[[B]]") | change
    path = jsonl(tmp_path / "p.jsonl", [pair(81, "model_1", "model_1", "[[A]]", "[[B]]"), bad])
    with pytest.raises(JudgmentSourceError, match=r"p\.jsonl:2: " + pattern):
        read_judgments(path)


@pytest.mark.parametrize("record, pattern", [
    ({"question_id": 1, "model": "m", "judge": ["gpt-4", "single-v1"]}, r"missing field 'judgment'"),
    ({"question_id": 1, "judgment": "[[5]]", "judge": ["gpt-4"]}, r"missing field 'model'"),
    ({"question_id": 1, "model": "m", "judgment": "[[5]]"}, r"missing field 'judge'"),
    ({"question_id": 1, "model": "m", "judgment": "[[5]]", "judge": "j", "score": "5"},
     r"field 'score' must be a number, got '5'"),
    ({"question_id": 1, "model": "m", "judgment": "[[5]]", "judge": "j", "turn": -1}, r"field 'turn'"),
    ({"question_id": 1, "model_a": "x", "model_b": "y", "winner": "left", "judge": "h"},
     r"field 'winner' is 'left'"),
    ({"question_id": 1, "model_1": "x", "g1_winner": "tie", "g2_winner": "tie", "judge": "j"},
     r"missing field 'model_2'"),
])
def test_fastchat_single_and_human_errors(tmp_path, record, pattern):
    path = jsonl(tmp_path / "s.jsonl", [single(1, "m", "[[5]]", 5), record])
    with pytest.raises(JudgmentSourceError, match=r"s\.jsonl:2: " + pattern):
        read_judgments(path, "fastchat")


# -- LLMFAO ------------------------------------------------------------------------------------------------


def test_llmfao_crowd_and_gpt4_comparisons_real_files():
    crowd_path = dataset("llmfao/crowd-comparisons.csv")
    crowd = read_judgments(crowd_path)
    raw = list(csv.DictReader(crowd_path.open(encoding="utf-8", newline="")))
    assert len(crowd) == 8931 == len(raw)
    assert set(crowd["judge"]) == {"crowd"} and set(crowd["mode"]) == {"pairwise"}
    assert set(crowd["turn"]) == {1}
    assert list(crowd["worker"]) == [r["worker"] for r in raw] and crowd["worker"].nunique() == 124
    assert list(crowd["model_a_id"]) == [r["model_x"] for r in raw]
    assert list(crowd["model_b"]) == [r["right"] for r in raw] and list(crowd["question_id"]) == [
        r["prompt"] for r in raw]
    word = {"left": "model_a", "right": "model_b", "tie": "tie"}
    assert list(crowd["raw"]) == [r["winner"] for r in raw]
    assert list(crowd["winner"]) == [word[r["winner"]] for r in raw] == list(crowd["recorded_winner"])
    assert crowd["line"].iloc[0] == 2 and crowd["line"].iloc[-1] == 8932
    gpt4 = read_judgments(crowd_path.parent / "gpt4-comparisons.csv")
    assert len(gpt4) == 3236 and set(gpt4["judge"]) == {"gpt4"} and gpt4["worker"].isna().all()
    # every judged model and prompt is an answer in results.jsonl, by the same names and prompt ids
    answers = read_answers(crowd_path.parent / "results.jsonl")
    have = set(zip(answers["question_id"], answers["model"], strict=True))
    for side in ("model_a", "model_b"):
        assert all((q, m) in have for q, m in zip(gpt4["question_id"], gpt4[side], strict=True))


def test_llmfao_fixture_errors(tmp_path):
    header = ["id", "prompt", "model_x", "model_y", "winner", "left", "right"]
    ok = write_csv(tmp_path / "mine-comparisons.csv", [header, ["0", "8", "1", "2", "left", "One", "Two"]])
    df = read_judgments(ok)
    assert df.iloc[0][["judge", "question_id", "model_a", "model_b", "winner", "model_a_id"]].tolist() == [
        "mine", "8", "One", "Two", "model_a", "1"]
    write_csv(ok, [header, ["0", "8", "1", "2", "left", "One", "Two"],
                   ["1", "8", "1", "2", "A", "One", "Two"]])
    with pytest.raises(JudgmentSourceError, match=r"mine-comparisons\.csv:3: unknown winner 'A'"):
        read_judgments(ok)
    write_csv(ok, [header, ["0", "8", "1", "1", "tie", "One", "One"]])
    with pytest.raises(JudgmentSourceError, match=r"comparisons\.csv:2: model 'One' is compared with itself"):
        read_judgments(ok)
    write_csv(ok, [header[:1] + header[2:], ["0", "1", "2", "left", "One", "Two"]])
    with pytest.raises(JudgmentSourceError, match=r"mine-comparisons\.csv:1: missing column 'prompt'"):
        read_judgments(ok)
    (tmp_path / "models.jsonl").write_text('{"id": 1, "name": "One"}\n{"id": 2, "name": "Deux"}\n')
    write_csv(ok, [header, ["0", "8", "1", "2", "left", "One", "Two"]])
    with pytest.raises(JudgmentSourceError, match=r"mine-comparisons\.csv:2: ids resolve to 'One' / 'Deux'"):
        read_judgments(ok)


# -- sparse feedback ---------------------------------------------------------------------------------------


def test_sparse_feedback_real_ratings_and_rankings_match_the_answers():
    folder = dataset("sparse_feedback/alpaca_generation")
    answers = read_answers(folder / "sample_generation.json")
    texts = set(zip(answers["question_id"], answers["text"], strict=True))
    ratings_path = folder / "feedback_ratings_sample_generation.csv"
    ratings = read_judgments(ratings_path)
    raw = list(csv.reader(ratings_path.open(encoding="utf-8", newline="")))
    assert len(ratings) == len(raw) == 99 and set(ratings["mode"]) == {"single"}
    assert list(ratings["score"]) == [float(r[3]) for r in raw] == list(ratings["recorded_score"])
    assert set(ratings["judge"]) == {"sparse-feedback"} and ratings["model"].isna().all()
    assert all(pair in texts for pair in zip(ratings["question_id"], ratings["text_a"], strict=True))
    rankings_path = folder / "feedback_rankings_sample_generation.csv"
    rankings = read_judgments(rankings_path)
    raw = list(csv.reader(rankings_path.open(encoding="utf-8", newline="")))
    assert len(rankings) == len(raw) == 118 and set(rankings["mode"]) == {"pairwise"}
    word = {"(a)": "model_a", "(b)": "model_b", "equal": "tie"}
    assert Counter(rankings["winner"]) == Counter(word[r[4]] for r in raw)
    for side in ("text_a", "text_b"):
        assert all(pair in texts for pair in zip(rankings["question_id"], rankings[side], strict=True))


def test_sparse_feedback_nan_inputs_match_alpaca_eval_outputs():
    folder = dataset("sparse_feedback/inference_model_outputs")
    outputs = {}
    for name in ("davinci003.json", "ratings_alpaca.json"):
        a = read_answers(folder / name)
        outputs.update({(q, t): m for q, t, m in zip(a["question_id"], a["text"], a["model"], strict=True)})
    raw = list(csv.reader((folder / "feedback_ratings_ratings_for_llm_eval.csv").open(encoding="utf-8")))
    assert any(r[1] == "nan" for r in raw)
    ratings = read_judgments(folder / "feedback_ratings_ratings_for_llm_eval.csv")
    assert len(ratings) == len(raw)
    # a "nan" input is no input: the question is the bare instruction, as in the AlpacaEval outputs, and the
    # CRLF line breaks of some CSV cells are read as the LF of the generations
    assert all(outputs.get(key) == "absolute_alpaca_7b_64"
               for key in zip(ratings["question_id"], ratings["text_a"], strict=True))


def test_sparse_feedback_fixture_lines_header_and_nan(tmp_path):
    rankings = write_csv(tmp_path / "rank.csv", [
        ["instruction", "input", "response1", "response2", "ranking"],
        ["Write\ntwo lines.", "nan", "one\ntwo", "uno\ndos", "(b)"],
        ["Sum.", "1, 2", "3", "4", "equal"],
    ])
    df = read_judgments(rankings)
    assert list(df["line"]) == [2, 6]  # three cells with a line break each: the first row spans lines 2-5
    assert list(df["question_id"]) == [prompt_id(["Write\ntwo lines."]), prompt_id(["Sum.\n\n1, 2"])]
    assert list(df["winner"]) == ["model_b", "tie"] and list(df["verdict_ab"]) == ["B", "C"]
    assert list(df["text_a"]) == ["one\ntwo", "3"] and list(df["text_b"]) == ["uno\ndos", "4"]
    assert list(df["raw"]) == ["(b)", "equal"]


@pytest.mark.parametrize("rows, pattern", [
    ([["Q\nq", "nan", "r\nr", "6"], ["Q", "nan", "r", "9"]], r"r\.csv:4: field 'score' \(column 4\).*'9'"),
    ([["Q", "nan", "r", "6"], ["Q", "nan", "r", "six"]], r"r\.csv:2: field 'score' \(column 4\).*'six'"),
    ([["Q", "nan", "a", "b", "(a)"], ["Q", "nan", "a", "b", "(c)"]], r"r\.csv:2: field 'ranking'.*'\(c\)'"),
    ([["Q", "nan", "r", "6"], ["Q", "nan", "r", "extra", "6"]], r"r\.csv:2: 5 columns where the file's"),
    ([["Q", "nan", "r", "6"], ["", "nan", "r", "6"]], r"r\.csv:2: field 'instruction' is empty"),
])
def test_sparse_feedback_errors_name_the_line(tmp_path, rows, pattern):
    with pytest.raises(JudgmentSourceError, match=pattern):
        read_judgments(write_csv(tmp_path / "r.csv", rows))


# -- detection and paths -----------------------------------------------------------------------------------


def test_auto_detection_over_a_folder(tmp_path):
    folder = tmp_path / "judgments"
    jsonl(folder / "a_single.jsonl", [single(1, "m", "[[5]]", 5)])
    jsonl(folder / "b_pair.jsonl", [pair(1, "tie", "tie", "[[C]]", "[[C]]")])
    write_csv(folder / "c_ratings.csv", [["Q", "nan", "r", "6"]])
    write_csv(folder / "d_rankings.csv", [["Q", "", "a", "b", "(a)"]])
    write_csv(folder / "e-comparisons.csv", [["prompt", "model_x", "model_y", "winner", "left", "right"],
                                             ["8", "1", "2", "right", "One", "Two"]])
    (folder / ".hidden.csv").write_text("x")
    df = read_judgments(folder)
    assert list(df["format"]) == ["fastchat", "fastchat", "sparse_feedback", "sparse_feedback", "llmfao"]
    assert list(df["mode"]) == ["single", "pairwise", "single", "pairwise", "pairwise"]
    assert list(df["judge"]) == ["gpt-4", "gpt-4", "sparse-feedback", "sparse-feedback", "e"]
    assert list(df["winner"]) == [None, "tie", None, "model_a", "model_b"]
    assert df["score"].tolist()[0] == 5 and df["score"].tolist()[2] == 6


def test_detection_and_path_errors(tmp_path):
    with pytest.raises(JudgmentSourceError, match="no such file or folder"):
        read_judgments(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(JudgmentSourceError, match=r"empty: the folder has no"):
        read_judgments(tmp_path / "empty")
    questions = jsonl(tmp_path / "question.jsonl", [{"question_id": 81, "turns": ["q"]}])
    with pytest.raises(JudgmentSourceError, match=r"question\.jsonl: cannot tell the judgment format"):
        read_judgments(questions)
    inputs = write_csv(tmp_path / "inputs.csv", [["instruction", "input", "response"], ["Q", "nan", "r"]])
    with pytest.raises(JudgmentSourceError, match=r"inputs\.csv: cannot tell the judgment format.*has 3"):
        read_judgments(inputs)
    with pytest.raises(JudgmentSourceError, match=r"inputs\.csv:2: 3 columns; sparse_feedback judgments"):
        read_judgments(inputs, "sparse_feedback")
    with pytest.raises(JudgmentSourceError, match=r"inputs\.csv: fastchat judgments are JSON lines"):
        read_judgments(inputs, "fastchat")
    with pytest.raises(JudgmentSourceError, match=r"question\.jsonl: llmfao judgments are CSV files"):
        read_judgments(questions, "llmfao")
    with pytest.raises(JudgmentSourceError, match=r"unknown judgment format 'csv'"):
        read_judgments(questions, "csv")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(single(1, "m", "[[5]]", 5)) + "\n{oops\n")
    with pytest.raises(JudgmentSourceError, match=r"broken\.jsonl:2: invalid JSON"):
        read_judgments(broken)
