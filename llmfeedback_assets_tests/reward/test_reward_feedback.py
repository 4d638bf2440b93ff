"""Ratings/rankings feedback: parsers, readers, consistency, best-of-n picks and win rates."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmfeedback_assets.reward import (
    FeedbackError,
    WinRateError,
    combine_rankings,
    comparison_pairs,
    feedback_consistency,
    parse_ranking_reply,
    parse_rating_reply,
    pick_best,
    preference_pairs,
    ranking_messages,
    ranking_table,
    rating_messages,
    rating_table,
    read_rankings,
    read_rankings_json,
    read_ratings,
    wilson_interval,
    win_rate,
    win_rate_by_rankings,
    win_rate_by_ratings,
    win_rate_frame,
)

SPARSE = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "sparse_feedback"
needs_data = pytest.mark.skipif(not SPARSE.is_dir(), reason="../shared/datasets/sparse_feedback is absent")


# -- prompts and parsers ---------------------------------------------------------------------------------


def test_rating_and_ranking_messages_carry_the_texts():
    msgs = rating_messages("Summarise.", "nan", "A short summary.")
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "Summarise." in user and "A short summary." in user
    assert "### Input" not in user  # 'nan' is an empty input
    assert "1 to 7" in user and "Rating:" in user
    msgs = ranking_messages("Translate.", "Bonjour", "Hello", "Hi there")
    user = msgs[1]["content"]
    assert user.index("Hello") < user.index("Hi there")
    assert "### Input\nBonjour" in user and "Preferred: (a)" in user


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("The answer is accurate and clear.\nRating: 6", (6, "ok")),
        ("Format is Rating: N.\nI think it is weak.\nRating: **3**", (3, "ok")),
        ("5", (5, "ok")),
        ("I would give it 4/7 overall.", (4, "fallback")),
        ("Rating: 9", (None, "out_of_range")),
        ("Rating: 0", (None, "out_of_range")),
        ("Rating: 5.5", (None, "not_integer")),
        ("A fine answer.", (None, "no_rating")),
        ("   ", (None, "empty")),
        (None, (None, "empty")),
    ],
)
def test_parse_rating_reply(reply, expected):
    assert parse_rating_reply(reply) == expected


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("(a) is more accurate.\nPreferred: (b)", ("b", "ok")),
        ("Preferred: **(A)**", ("a", "ok")),
        ("(b)", ("b", "ok")),
        ("Output (a)", ("a", "ok")),
        ("Answer (a) is clearly better.", ("a", "fallback")),
        ("(a) is long, (b) is short; hard to say.", (None, "ambiguous")),
        ("Both are fine.", (None, "no_choice")),
        ("", (None, "empty")),
    ],
)
def test_parse_ranking_reply(reply, expected):
    assert parse_ranking_reply(reply) == expected


def test_combine_rankings_both_orders():
    assert combine_rankings("a", "b") == "a"  # response1 wins in both positions
    assert combine_rankings("b", "a") == "b"
    assert combine_rankings("a", "a") == "equal"  # followed the position
    assert combine_rankings("b", "b") == "equal"
    assert combine_rankings(None, "a") is None
    with pytest.raises(FeedbackError):
        combine_rankings("c", "a")


def test_feedback_tables_keep_raw_replies_and_statuses():
    items = pd.DataFrame({"instruction": ["q1", "q2"], "input": ["", ""], "response": ["r1", "r2"]})
    rated = rating_table(items, ["Rating: 7", "no idea"])
    assert rated["score"].tolist()[0] == 7 and pd.isna(rated["score"].iloc[1])
    assert rated["parse_status"].tolist() == ["ok", "no_rating"]
    assert rated["raw_reply"].tolist() == ["Rating: 7", "no idea"]
    pairs = pd.DataFrame({"instruction": ["q"] * 3, "input": [""] * 3, "response1": ["x", "y", "z"],
                          "response2": ["u", "v", "w"]})
    ranked = ranking_table(pairs, ["Preferred: (a)", "Preferred: (a)", "garbled"],
                           ["Preferred: (b)", "Preferred: (a)", "Preferred: (b)"])
    assert ranked["ranking"].tolist() == ["a", "equal", None]
    assert ranked["parse_status_first"].tolist() == ["ok", "ok", "no_choice"]
    with pytest.raises(FeedbackError, match="replies"):
        ranking_table(pairs, ["(a)"], ["(b)"])


# -- readers ---------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_read_headerless_and_headered_csv(tmp_path):
    headerless = _write(tmp_path / "feedback_ratings_x.csv",
                        'Do it,nan,"multi\nline",6\nAgain,some input,short,3\n')
    df = read_ratings(headerless)
    assert df.columns.tolist() == ["instruction", "input", "response", "score"]
    assert df["input"].tolist() == ["", "some input"]
    assert df["response"].iloc[0] == "multi\nline"
    assert df["score"].tolist() == [6, 3]
    headered = _write(tmp_path / "ratings_x.csv", "instruction,input,response\nDo it,,r\n")
    df = read_ratings(headered)
    assert df.columns.tolist() == ["instruction", "input", "response"] and df["input"].iloc[0] == ""
    ranks = _write(tmp_path / "feedback_rankings_x.csv",
                   "q,nan,r1,r2,(a)\nq,nan,r1,r3,equal\nq,nan,r2,r3,(b)\n")
    assert read_rankings(ranks)["ranking"].tolist() == ["a", "equal", "b"]


def test_readers_name_the_bad_record(tmp_path):
    bad_score = _write(tmp_path / "feedback_ratings_bad.csv", "q,nan,r,6\nq,nan,r2,9\n")
    with pytest.raises(FeedbackError, match=r"feedback_ratings_bad.csv record 2: score '9'"):
        read_ratings(bad_score)
    bad_width = _write(tmp_path / "feedback_rankings_bad.csv", "q,nan,r1,r2,(a)\nq,nan,r1\n")
    with pytest.raises(FeedbackError, match="record 2: 3 fields"):
        read_rankings(bad_width)
    bad_label = _write(tmp_path / "feedback_rankings_lbl.csv", "q,nan,r1,r2,(c)\n")
    with pytest.raises(FeedbackError, match="record 1"):
        read_rankings(bad_label)
    with pytest.raises(FeedbackError, match="cannot read"):
        read_ratings(tmp_path / "missing.csv")


def test_read_rankings_json_splits_alpaca_prompts(tmp_path):
    prompt = ("Below is an instruction that describes a task, paired with an input that provides further "
              "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
              "Name a colour.\n\n### Input:\nThe sky\n\n### Response: ")
    path = _write(tmp_path / "rm.json",
                  json.dumps({prompt: {"sentences": [["blue", "green"], ["azure", "red"]]},
                              "Plain prompt": {"sentences": [["x", "y"]]}}))
    df = read_rankings_json(path)
    assert df[["instruction", "input", "response1", "response2", "ranking"]].values.tolist() == [
        ["Name a colour.", "The sky", "blue", "green", "a"],
        ["Name a colour.", "The sky", "azure", "red", "a"],
        ["Plain prompt", "", "x", "y", "a"],
    ]
    broken = _write(tmp_path / "broken.json", json.dumps({"p": {"sentences": [["only one"]]}}))
    with pytest.raises(FeedbackError, match=r"sentences\[0\]"):
        read_rankings_json(broken)


# -- consistency -----------------------------------------------------------------------------------------


def test_consistency_hand_computed():
    ratings = pd.DataFrame({
        "instruction": ["q"] * 4, "input": ["nan", "", "", ""],
        "response": ["r1", "r2", "r3", "r4"], "score": [6, 4, 4, 5],
    })
    rankings = pd.DataFrame({
        "instruction": ["q"] * 5, "input": [""] * 5,
        "response1": ["r1", "r2", "r3", "r4", "r1"],
        "response2": ["r2", "r3", "r4", "r1", "unrated"],
        "ranking": ["(a)", "(a)", "(b)", "(b)", "(a)"],
    })
    res = feedback_consistency(ratings, rankings)
    # implied: r1>r2 a (given a, agree); r2=r3 equal (given a); r3<r4 b (agree); r4<r1 b (agree)
    assert res.n_pairs == 4 and res.n_unmatched == 1
    assert res.rate == pytest.approx(3 / 4)
    assert res.confusion.loc["a", "a"] == 1 and res.confusion.loc["equal", "a"] == 1
    assert res.confusion.loc["b", "b"] == 2 and int(res.confusion.to_numpy().sum()) == 4
    assert res.confusion.shape == (3, 3)


def test_consistency_mismatched_files_name_both(tmp_path):
    ratings = read_ratings(_write(tmp_path / "feedback_ratings_a.csv", "q,nan,r1,6\nq,nan,r2,5\n"))
    rankings = read_rankings(_write(tmp_path / "feedback_rankings_b.csv", "other,nan,x,y,(a)\n"))
    with pytest.raises(FeedbackError) as err:
        feedback_consistency(ratings, rankings)
    assert "feedback_ratings_a.csv" in str(err.value) and "feedback_rankings_b.csv" in str(err.value)
    with pytest.raises(FeedbackError, match="missing column"):
        feedback_consistency(ratings.drop(columns="score"), rankings)


@needs_data
def test_consistency_on_the_sparse_feedback_sample_files():
    ratings = read_ratings(SPARSE / "alpaca_generation" / "feedback_ratings_sample_generation.csv")
    rankings = read_rankings(SPARSE / "alpaca_generation" / "feedback_rankings_sample_generation.csv")
    res = feedback_consistency(ratings, rankings)
    assert res.n_pairs == 117
    assert round(100 * res.rate, 2) == 56.41
    assert int(np.trace(res.confusion.to_numpy())) == 66
    # upstream consistency.py's table: rows implied by the ratings, columns given, order equal, (a), (b)
    order = ["equal", "a", "b"]
    assert res.confusion.loc[order, order].to_numpy().tolist() == [[21, 11, 7], [8, 19, 10], [9, 6, 26]]
    assert res.n_conflicting_ratings > 0  # responses rated twice: the first rating counts
    mean = feedback_consistency(ratings, rankings, repeated="mean")
    moved = int((mean.confusion.loc[order, order].to_numpy() != res.confusion.loc[order, order].to_numpy())
                .sum())
    assert moved == 4 and mean.n_pairs == 117
    with pytest.raises(FeedbackError, match="repeated must be one of"):
        feedback_consistency(ratings, rankings, repeated="last")


@needs_data
def test_json_pairs_are_the_decided_csv_rankings():
    csv_pairs = preference_pairs(read_rankings(SPARSE / "alpaca_generation" /
                                               "feedback_rankings_sample_generation.csv"), val_fraction=0.0)
    json_pairs = preference_pairs(
        read_rankings_json(SPARSE / "alpaca_generation" / "feedback_rankings_for_rm_sample.json"),
        val_fraction=0.0)
    assert csv_pairs.n_ties == 38 and len(csv_pairs.train) == 80
    as_set = lambda p: set(map(tuple, p.train[["prompt", "chosen", "rejected"]].to_numpy()))  # noqa: E731
    assert as_set(csv_pairs) == as_set(json_pairs)


@needs_data
def test_published_win_rates_from_the_feedback_files():
    out = SPARSE / "inference_model_outputs"
    by_rankings = win_rate_by_rankings(  # response1 is davinci-003, response2 the RM pick
        read_rankings(out / "feedback_rankings_davincivsratings_for_llm_eval.csv"), pick_slot="b")
    assert by_rankings.n == 46 and round(100 * by_rankings.rate, 1) == 32.6
    assert by_rankings.low < by_rankings.rate < by_rankings.high
    by_ratings = win_rate_by_ratings(read_ratings(out / "feedback_ratings_ratings_for_llm_eval.csv"),
                                     read_ratings(out / "feedback_ratings_davinci_for_llm_eval.csv"))
    assert by_ratings.n == 51 and round(100 * by_ratings.rate, 1) == 52.9
    assert (by_ratings.wins, by_ratings.ties, by_ratings.losses) == (14, 26, 11)
    # the paper's interval as its script prints it: 1.96 * scipy.stats.sem of the 1/0.5/0 outcomes
    from scipy import stats

    outcomes = [1.0] * 14 + [0.5] * 26 + [0.0] * 11
    assert by_ratings.sem_high - by_ratings.rate == pytest.approx(1.96 * stats.sem(outcomes), rel=1e-12)
    assert by_ratings.rate - by_ratings.sem_low == pytest.approx(by_ratings.sem_high - by_ratings.rate)
    table = win_rate_frame({"ratings_rm / rankings": by_rankings, "ratings_rm / ratings": by_ratings})
    assert table["n"].tolist() == [46, 51] and (table["low"] < table["rate"]).all()


# -- best-of-n and win rates -----------------------------------------------------------------------------


def test_pick_best_per_responder_and_prompt():
    cands = pd.DataFrame({
        "responder_model": ["m1", "m1", "m1", "m2", "m2"],
        "prompt_id": ["p", "p", "q", "p", "p"],
        "response": ["a", "b", "c", "d", "e"],
    })
    picks = pick_best(cands, [0.1, 0.9, -1.0, 2.0, 2.0])
    assert picks["response"].tolist() == ["b", "c", "d"]  # tie 2.0/2.0 goes to the first candidate
    assert picks["n_candidates"].tolist() == [2, 1, 2]
    assert picks["reward"].tolist() == [0.9, -1.0, 2.0]
    with pytest.raises(WinRateError, match="NaN"):
        pick_best(cands, [0.1, np.nan, 0, 0, 0])
    with pytest.raises(WinRateError, match="4 scores for 5"):
        pick_best(cands, [0.1, 0.2, 0.3, 0.4])


def test_win_rate_ties_half_and_wilson_interval():
    wr = win_rate(["win"] * 5 + ["loss"] * 5)
    # Wilson 95% for 5/10: 0.2366, 0.7634 (textbook value)
    assert wr.rate == 0.5
    assert wr.low == pytest.approx(0.2366, abs=1e-4) and wr.high == pytest.approx(0.7634, abs=1e-4)
    wr = win_rate(["win", "tie", "tie", "loss"])
    assert (wr.rate, wr.wins, wr.ties, wr.losses, wr.n) == (0.5, 1, 2, 1, 4)
    boot = win_rate([1, 1, 0, 0.5] * 10, method="bootstrap", seed=1)
    assert boot.low < boot.rate < boot.high and boot.method == "bootstrap"
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(3.8415 / (20 + 3.8415), rel=1e-4)
    assert math.isnan(wilson_interval(0, 0)[0])
    with pytest.raises(WinRateError, match="no comparisons"):
        win_rate([])
    with pytest.raises(WinRateError, match="outcome 1"):
        win_rate(["win", "draw"])


def test_win_rate_inputs_with_gaps_and_mismatches():
    picks = pd.DataFrame({"instruction": ["a", "b", "c"], "input": ["", "", ""], "score": [7, 5, None]})
    ref = pd.DataFrame({"instruction": ["a", "b", "c", "d"], "input": ["nan", "", "", ""],
                        "score": [6, 5, 4, 1]})
    wr = win_rate_by_ratings(picks, ref)
    assert (wr.n, wr.wins, wr.ties, wr.n_invalid) == (2, 1, 1, 1)
    with pytest.raises(WinRateError, match="share no prompt"):
        win_rate_by_ratings(picks.assign(instruction=["x", "y", "z"]), ref)
    with pytest.raises(WinRateError, match="more than once"):
        win_rate_by_ratings(pd.concat([picks, picks]), ref)
    ranks = pd.DataFrame({"ranking": ["(a)", "(b)", "equal", None]})
    wr = win_rate_by_rankings(ranks, pick_slot="a")
    assert (wr.wins, wr.ties, wr.losses, wr.n_invalid) == (1, 1, 1, 1)


def test_comparison_pairs_put_reference_first():
    picks = pd.DataFrame({"prompt_id": ["p", "q"], "reward_model": ["rm", "rm"], "response": ["P1", "Q1"]})
    ref = pd.DataFrame({"prompt_id": ["p", "q"], "response": ["refP", "refQ"]})
    pairs = comparison_pairs(picks, ref)
    assert pairs[["response1", "response2"]].values.tolist() == [["refP", "P1"], ["refQ", "Q1"]]


def test_consistency_from_judge_tables_counts_parse_failures():
    items = pd.DataFrame({"instruction": ["q"] * 3, "input": [""] * 3, "response": ["r1", "r2", "r3"]})
    rated = rating_table(items, ["Rating: 6", "Rating: 3", "???"])
    pairs = pd.DataFrame({"instruction": ["q"] * 3, "input": [""] * 3,
                          "response1": ["r1", "r2", "r1"], "response2": ["r2", "r3", "r3"]})
    ranked = ranking_table(pairs, ["Preferred: (a)", "(a)", "(b)"], ["Preferred: (b)", "(a)", "garbage"])
    res = feedback_consistency(rated, ranked)
    # r1-r2 is ranked a and rated 6 > 3 (agree); r2-r3 lacks r3's rating; r1-r3 has no ranking
    assert (res.rate, res.n_pairs, res.n_unmatched) == (1.0, 1, 1)
    assert (res.n_unparsed_ratings, res.n_unparsed_rankings, res.n_rankings) == (1, 1, 3)
