"""MT-bench style agreement, Cohen's kappa, majority vote, position consistency, leaderboard correlation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from llmfeedback_assets.ranking import (
    AGREEMENT_COLUMNS,
    POSITION_COLUMNS,
    RankingError,
    agreement,
    cohen_kappa,
    judge_agreement_table,
    kendall_tau,
    majority_vote,
    position_consistency,
    spearman,
)


def votes(rows, judge=None):
    df = pd.DataFrame(rows, columns=["prompt_id", "turn", "model_a", "model_b", "winner"])
    if judge is not None:
        df["judge"] = judge
    return df


X = votes(
    [
        ("p1", 1, "a", "b", "model_a"),
        ("p2", 1, "a", "b", "tie"),
        ("p3", 1, "a", "b", "model_b"),
        ("p4", 1, "a", "b", "model_a"),
    ],
    "x",
)
# Y states its verdicts with the pair in the other order; p1 and p2/p3 say "a won".
Y = votes(
    [("p1", 1, "b", "a", "model_b"), ("p2", 1, "b", "a", "model_b"), ("p3", 1, "a", "b", "model_a")], "y"
)


def test_judge_vs_judge_with_and_without_ties():
    res = agreement(X, Y)
    assert res["n_keys"] == 3
    assert res["n_with_ties"] == 3 and res["agreement_with_ties"] == pytest.approx(1 / 3)
    assert res["n_without_ties"] == 2 and res["agreement_without_ties"] == pytest.approx(1 / 2)


def test_turns_are_separate_keys():
    late = votes([("p1", 2, "a", "b", "model_b")], "y")
    res = agreement(X, late)
    assert res["n_keys"] == 0 and res["n_with_ties"] == 0 and np.isnan(res["agreement_with_ties"])


def test_votes_inside_one_frame_pair_up():
    crowd = votes(
        [
            ("p1", 1, "a", "b", "model_a"),
            ("p1", 1, "b", "a", "model_b"),
            ("p1", 1, "a", "b", "tie"),
            ("p2", 1, "a", "c", "model_b"),
        ]
    )
    res = agreement(crowd)
    # p1: votes a, a, tie -> 3 pairs, 1 equal; without ties 1 pair, equal. p2 has a single vote.
    assert res["n_keys"] == 1
    assert res["n_with_ties"] == 3 and res["agreement_with_ties"] == pytest.approx(1 / 3)
    assert res["n_without_ties"] == 1 and res["agreement_without_ties"] == 1.0


def test_every_cross_pair_counts_for_multiple_votes():
    many = votes([("p1", 1, "a", "b", "model_a")] * 3 + [("p1", 1, "a", "b", "model_b")] * 2, "h")
    one = votes([("p1", 1, "a", "b", "model_a")], "g")
    res = agreement(one, many)
    assert res["n_with_ties"] == 5 and res["agreement_with_ties"] == pytest.approx(3 / 5)


def test_cohen_kappa_hand_and_sklearn():
    a = ["x", "x", "y", "y", "x", "y"]
    b = ["x", "y", "y", "y", "x", "x"]
    # po = 4/6, pe = 0.5 -> kappa = 1/3.
    assert cohen_kappa(a, b) == pytest.approx(1 / 3)
    assert cohen_kappa(a, a) == 1.0
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    u, v = rng.choice(["a", "b", "tie"], 200), rng.choice(["a", "b", "tie"], 200)
    assert cohen_kappa(u, v) == pytest.approx(metrics.cohen_kappa_score(u, v))
    with pytest.raises(RankingError, match="differ in length"):
        cohen_kappa(["a"], ["a", "b"])


def test_agreement_kappa_matches_label_lists():
    res = agreement(X, Y)
    # Matched pairs in canonical terms: (a, a), (tie, a), (b, a).
    assert res["cohen_kappa"] == pytest.approx(cohen_kappa(["a", "tie", "b"], ["a", "a", "a"]))


def test_majority_vote():
    crowd = votes(
        [
            ("p1", 1, "a", "b", "model_a"),
            ("p1", 1, "b", "a", "model_b"),
            ("p1", 1, "a", "b", "tie"),
            ("p2", 1, "a", "c", "model_b"),
            ("p2", 1, "a", "c", "model_a"),
        ]
    )
    maj = majority_vote(crowd).set_index("prompt_id")
    assert maj.loc["p1", "winner"] == "model_a" and maj.loc["p1", "model_a"] == "a"
    assert maj.loc["p2", "winner"] == "tie" and maj.loc["p2", "n_votes"] == 2


def test_judge_agreement_table_shape_and_rows():
    judgments = pd.concat([X, Y], ignore_index=True).rename(columns={"judge": "judge_model"})
    judgments["mode"] = "pairwise"
    single = judgments.iloc[:1].assign(mode="single", winner=None)
    human = votes(
        [("p1", 1, "a", "b", "model_a"), ("p1", 1, "a", "b", "model_a"), ("p3", 1, "a", "b", "tie")]
    )
    table = judge_agreement_table(pd.concat([judgments, single], ignore_index=True), human)
    assert list(table.columns) == list(AGREEMENT_COLUMNS)
    assert list(zip(table["judge_1"], table["judge_2"], table["kind"], strict=True)) == [
        ("x", "y", "judge-judge"),
        ("x", "human", "judge-human"),
        ("y", "human", "judge-human"),
        ("human", "human", "human-human"),
    ]
    xy = table.iloc[0]
    assert xy["agreement_with_ties"] == pytest.approx(1 / 3) and xy["n_without_ties"] == 2
    xh = table.iloc[1]  # p1: a vs (a, a) -> 2 agree; p3: b vs tie -> 0
    assert xh["n_with_ties"] == 3 and xh["agreement_with_ties"] == pytest.approx(2 / 3)
    hh = table.iloc[3]
    assert hh["n_with_ties"] == 1 and hh["agreement_with_ties"] == 1.0 and np.isnan(hh["spearman"])
    maj = judge_agreement_table(judgments, human, human_majority=True)
    assert list(maj["kind"]) == ["judge-judge", "judge-human", "judge-human"]
    assert maj.iloc[1]["n_with_ties"] == 2


def test_judge_agreement_table_leaderboard_correlation():
    rng = np.random.default_rng(3)
    models = [f"m{k}" for k in range(6)]
    rows = []
    for judge, noise in (("good", 0.1), ("noisy", 0.4)):
        for p in range(300):
            a, b = rng.choice(6, 2, replace=False)
            better_a = a < b if rng.random() > noise else a > b
            rows.append((f"p{p}", 1, models[a], models[b], "model_a" if better_a else "model_b", judge))
    df = pd.DataFrame(rows, columns=["prompt_id", "turn", "model_a", "model_b", "winner", "judge"])
    table = judge_agreement_table(df)
    assert table.loc[0, "n_models"] == 6 and table.loc[0, "spearman"] > 0.8


def test_position_consistency():
    df = pd.DataFrame(
        {
            "judge_model": ["j"] * 5 + ["k"],
            "verdict_ab": ["model_a", "model_a", "model_b", "tie", None, "model_b"],
            "verdict_ba": ["model_a", "model_b", "model_a", "tie", "model_a", "model_b"],
        }
    )
    pc = position_consistency(df).set_index("judge")
    assert list(pc.reset_index().columns) == list(POSITION_COLUMNS)
    assert pc.loc["j", "n_pairs"] == 4 and pc.loc["j", "n_consistent"] == 2
    assert pc.loc["j", "consistency"] == 0.5
    assert pc.loc["j", "prefers_first"] == 0.25 and pc.loc["j", "prefers_second"] == 0.25
    assert pc.loc["k", "consistency"] == 1.0
    with pytest.raises(RankingError, match=r"unknown verdict 'A' in verdict_ab at row 0"):
        position_consistency(pd.DataFrame({"judge": ["j"], "verdict_ab": ["A"], "verdict_ba": ["model_a"]}))


def test_agreement_bad_input():
    with pytest.raises(RankingError, match="unknown winner 'first'"):
        agreement(votes([("p", 1, "a", "b", "first")]), Y)
    with pytest.raises(RankingError, match="judge"):
        judge_agreement_table(votes([("p", 1, "a", "b", "model_a")]))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=3, max_size=12, unique=True), st.randoms())
def test_correlations_match_scipy(values, rnd):
    names = [f"m{k}" for k in range(len(values))]
    a = pd.Series(values, index=names)
    other = list(values)
    rnd.shuffle(other)
    b = pd.Series(other, index=names[::-1])
    common_b = b[a.index]
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, common_b).statistic)
    assert kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, common_b).statistic)
    assert spearman(a, a) == pytest.approx(1.0) and kendall_tau(a, -a) == pytest.approx(-1.0)
