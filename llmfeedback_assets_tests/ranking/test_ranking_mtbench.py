"""MT-bench score and pairwise tables with FastChat show_result semantics, question bootstrap, radar chart."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmfeedback_assets.ranking import (
    RankingError,
    mt_bench_bootstrap,
    mt_bench_radar_png,
    mt_bench_scores,
    pairwise_win_rates,
)

MT_BENCH = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "mt_bench"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

QUESTIONS = pd.DataFrame(
    {
        "question_id": [1, 2, 3, 4, 5, 6],  # ints here, strings in the judgments
        "category": ["writing", "writing", "math", "math", "coding", "coding"],
    }
)
# Per model: (turn-1, turn-2) score of questions 1..6; -1 is FastChat's unparsed rating.
GRADES = {
    "alpha": [(9, 8), (7, -1), (6, 3), (8, -1), (10, 9), (4, -1)],
    "beta": [(5, 6), (6, 7), (3, 2), (-1, 4), (7, 7), (6, 5)],
    "gamma": [(8, 9), (9, 9), (7, 8), (6, 7), (-1, 8), (9, 10)],
}


def single_fixture() -> pd.DataFrame:
    rows = [
        {"question_id": str(q + 1), "model": m, "turn": t + 1, "score": float(pair[t]), "judge": "gpt-4"}
        for m, grades in GRADES.items()
        for q, pair in enumerate(grades)
        for t in (0, 1)
    ]
    return pd.DataFrame(rows)


def show_result_expected(df: pd.DataFrame, questions: pd.DataFrame) -> pd.DataFrame:
    """What show_result computes, written out with plain pandas (plus the category means of the radar)."""
    df = df[df["score"] != -1]
    turn1 = df[df["turn"] == 1].groupby("model")["score"].mean()
    turn2 = df[df["turn"] == 2].groupby("model")["score"].mean()
    overall = df[["model", "score"]].groupby("model")["score"].mean().sort_values(ascending=False)
    q = questions.assign(question_id=questions["question_id"].astype(str))
    cats = df.merge(q, on="question_id").groupby(["model", "category"])["score"].mean().unstack()
    out = pd.DataFrame({"turn1": turn1, "turn2": turn2, "overall": overall}).loc[overall.index]
    out["n"] = df.groupby("model").size()
    return out.join(cats[["writing", "math", "coding"]]).rename_axis("model").reset_index()


def test_scores_match_show_result_means_and_order():
    df = single_fixture()
    got = mt_bench_scores(df, QUESTIONS)
    want = show_result_expected(df, QUESTIONS)
    assert list(got.columns) == ["model", "turn1", "turn2", "overall", "n", "writing", "math", "coding"]
    assert list(got["model"]) == list(want["model"]) == ["gamma", "alpha", "beta"]
    for col in ["turn1", "turn2", "overall", "writing", "math", "coding"]:
        assert np.array_equal(got[col].to_numpy(), want[col].to_numpy()), col
    assert list(got["n"]) == list(want["n"]) == [11, 9, 11]
    # alpha lost three turn-2 grades: the overall mean is over rows, not the mean of the two turn means.
    alpha = got.set_index("model").loc["alpha"]
    assert alpha["overall"] != pytest.approx((alpha["turn1"] + alpha["turn2"]) / 2)


def test_scores_without_questions_and_id_types():
    df = single_fixture()
    plain = mt_bench_scores(df)
    assert list(plain.columns) == ["model", "turn1", "turn2", "overall", "n"]
    with_ints = df.assign(question_id=df["question_id"].astype(int))
    str_questions = QUESTIONS.assign(question_id=QUESTIONS["question_id"].astype(str))
    float_ids = df.assign(question_id=df["question_id"].astype(float))  # ints read back as floats
    base = mt_bench_scores(df, QUESTIONS)
    for judged, questions in [(with_ints, QUESTIONS), (df, str_questions), (float_ids, str_questions)]:
        pd.testing.assert_frame_equal(mt_bench_scores(judged, questions), base)


def test_nan_scores_dropped_turn2_missing_and_model_list():
    df = pd.DataFrame(
        {
            "model": ["a", "a", "a", "b", "b", "c"],
            "turn": [1, 2, 1, 1, 1, 1],
            "score": [4.0, np.nan, 6.0, -1.0, 8.0, 2.0],
        }
    )
    got = mt_bench_scores(df).set_index("model")
    assert got.loc["a", "n"] == 2 and got.loc["a", "overall"] == 5.0
    assert got["turn2"].isna().all()  # the only turn-2 row is NaN
    assert got.loc["b", "n"] == 1 and got.loc["b", "turn1"] == 8.0
    listed = mt_bench_scores(df, model_list=["c", "a"])
    assert list(listed["model"]) == ["a", "c"]


def test_all_rows_dropped_gives_empty_table():
    df = pd.DataFrame({"model": ["a"], "turn": [1], "score": [-1]})
    got = mt_bench_scores(df)
    assert got.empty and list(got.columns) == ["model", "turn1", "turn2", "overall", "n"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.drop(columns="turn"), "missing columns ['turn']"),
        (lambda d: d.assign(score=d["score"].astype(object).where(d.index != 3, "ten")), "'ten' at row 3"),
        (lambda d: d.assign(turn=d["turn"].where(d.index != 4, 3)), "turn 3 at row 4"),
        (lambda d: d.assign(question_id=d["question_id"].where(d.index != 5, "99")), "'99' at row 5"),
        (lambda d: d.assign(model=d["model"].where(d.index != 2, None)), "model name at row 2"),
    ],
)
def test_bad_single_input_names_row_and_field(change, message):
    with pytest.raises(RankingError, match=message.replace("[", r"\[").replace("]", r"\]")):
        mt_bench_scores(change(single_fixture()), QUESTIONS)


def test_bad_questions():
    clash = pd.concat([QUESTIONS, pd.DataFrame({"question_id": ["2"], "category": ["math"]})])
    with pytest.raises(RankingError, match="question_id '2' at row 1 has several categories"):
        mt_bench_scores(single_fixture(), clash)
    with pytest.raises(RankingError, match="collides"):
        mt_bench_scores(single_fixture(), QUESTIONS.assign(category="overall"))


# Hand-counted: A: 2 win, 2 loss, 1 tie; B: 1, 2, 2; C: 2, 1, 1 (row 5 has no verdict).
PAIRS = pd.DataFrame(
    [
        ("A", "B", "model_a"),
        ("A", "B", "tie"),
        ("B", "A", "model_a"),
        ("A", "C", "model_b"),
        ("B", "C", None),
        ("C", "B", "tie"),
        ("A", "C", "model_a"),
        ("B", "C", "model_b"),
    ],
    columns=["model_a", "model_b", "winner"],
)


def test_pairwise_all_pairs_hand_counted():
    got = pairwise_win_rates(PAIRS)
    assert list(got.columns) == ["model", "win", "loss", "tie", "win_rate", "loss_rate", "win_rate_adjusted"]
    assert list(got["model"]) == ["C", "A", "B"]  # adjusted 2.5/4, 2.5/5, 2/5
    rows = got.set_index("model")
    counts = rows.loc[["A", "B", "C"], ["win", "loss", "tie"]].to_numpy().tolist()
    assert counts == [[2, 2, 1], [1, 2, 2], [2, 1, 1]]
    assert rows.loc["A", "win_rate"] == 2 / 5 and rows.loc["B", "loss_rate"] == 2 / 5
    assert rows.loc["C", "win_rate_adjusted"] == 2.5 / 4


def test_pairwise_baseline_drops_its_row_and_ties_sort_by_name():
    got = pairwise_win_rates(PAIRS, baseline="A")
    # Only rows with A: B won 1, lost 1, tied 1; C won 1, lost 1. Equal adjusted rates stay in name order.
    assert list(got["model"]) == ["B", "C"]
    assert got[["win", "loss", "tie"]].to_numpy().tolist() == [[1, 1, 1], [1, 1, 0]]
    assert got["win_rate_adjusted"].tolist() == [0.5, 0.5]
    with pytest.raises(RankingError, match="baseline 'Z' is in no comparison"):
        pairwise_win_rates(PAIRS, baseline="Z")


def test_pairwise_model_list_checks_model_a_only_like_fastchat():
    got = pairwise_win_rates(PAIRS, model_list=["B"]).set_index("model")
    # Rows 3 (B beat A) and 8 (C beat B) have B as model_a; A and C are still counted as opponents.
    counts = got[["win", "loss", "tie"]].loc[["C", "B", "A"]].to_numpy().tolist()
    assert counts == [[1, 0, 0], [1, 1, 0], [0, 1, 0]]
    assert list(got.index) == ["C", "B", "A"]


def test_pairwise_sort_is_stable_for_many_equal_rates():
    names = [f"m{i:02d}" for i in range(20)]
    rows = [(a, b, "tie") for i, a in enumerate(names) for b in names[i + 1 :]]
    got = pairwise_win_rates(pd.DataFrame(rows, columns=["model_a", "model_b", "winner"]))
    assert list(got["model"]) == names and (got["win_rate_adjusted"] == 0.5).all()


def test_pairwise_bad_input():
    with pytest.raises(RankingError, match="winner 'A' at row 1"):
        pairwise_win_rates(PAIRS.assign(winner=PAIRS["winner"].where(PAIRS.index != 1, "A")))
    with pytest.raises(RankingError, match="row 0 compares model 'A' with itself"):
        pairwise_win_rates(PAIRS.assign(model_b=PAIRS["model_b"].where(PAIRS.index != 0, "A")))
    with pytest.raises(RankingError, match="missing columns"):
        pairwise_win_rates(PAIRS.drop(columns="winner"))


def synthetic(n_questions: int, models: int, seed: int, categories: list[str] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    quality = np.linspace(4, 8, models)
    rows = []
    for q in range(n_questions):
        hard = rng.normal(0, 1.5)  # question difficulty shared by both turns and all models
        for m in range(models):
            for t in (1, 2):
                score = float(np.clip(np.round(quality[m] + hard + rng.normal(0, 1.2)), 1, 10))
                rows.append((f"m{m}", q + 81, t, score))
    return pd.DataFrame(rows, columns=["model", "question_id", "turn", "score"])


def test_bootstrap_contains_point_reproducible_and_matches_scores():
    df = synthetic(30, 3, seed=1)
    df.loc[::17, "score"] = -1
    questions = pd.DataFrame({"question_id": range(81, 111), "category": ["x", "y", "z"] * 10})
    boot = mt_bench_bootstrap(df, questions, rounds=400, seed=3)
    assert list(boot.columns) == ["model", "scope", "score", "low", "high", "n"]
    scores = mt_bench_scores(df, questions).set_index("model")
    assert list(boot["model"].unique()) == list(scores.index)
    assert list(boot["scope"][:6]) == ["turn1", "turn2", "overall", "category:x", "category:y", "category:z"]
    for row in boot.itertuples():
        col = row.scope.removeprefix("category:")
        assert row.score == scores.loc[row.model, col]
        assert row.low <= row.score <= row.high and row.low < row.high
    assert (boot[boot["scope"] == "overall"].set_index("model")["n"] == scores["n"]).all()
    pd.testing.assert_frame_equal(boot, mt_bench_bootstrap(df, questions, rounds=400, seed=3))
    other = mt_bench_bootstrap(df, questions, rounds=400, seed=4)
    assert not np.array_equal(other["low"].to_numpy(), boot["low"].to_numpy())
    narrow = mt_bench_bootstrap(df, questions, rounds=400, seed=3, level=0.5)
    assert ((narrow["high"] - narrow["low"]) < (boot["high"] - boot["low"])).all()


def test_bootstrap_width_shrinks_with_questions_like_a_standard_error():
    widths = {}
    for n in (10, 160):
        df = synthetic(n, 2, seed=7)
        boot = mt_bench_bootstrap(df, rounds=2000, seed=0)
        overall = boot[boot["scope"] == "overall"].set_index("model")
        widths[n] = overall["high"] - overall["low"]
        if n == 160:
            # Percentile 95% width ≈ 2·1.96·(sd of per-question means)/sqrt(questions).
            per_q = df.groupby(["model", "question_id"])["score"].mean().groupby("model").std(ddof=0)
            assert np.allclose(widths[n], 2 * 1.96 * per_q / np.sqrt(n), rtol=0.15)
    assert (widths[160] < widths[10] / 2).all()


def test_bootstrap_moves_both_turns_of_a_question_together():
    s = np.arange(20) % 10 + 1.0
    rows = [("mirror", q, 1, s[q]) for q in range(20)] + [("mirror", q, 2, 11 - s[q]) for q in range(20)]
    rows += [("same", q, 1, s[q]) for q in range(20)] + [("same", q, 2, s[q]) for q in range(20)]
    boot = mt_bench_bootstrap(pd.DataFrame(rows, columns=["model", "question_id", "turn", "score"]), seed=2)
    got = boot.set_index(["model", "scope"])
    # Every question of "mirror" averages 5.5 over its two turns, so a question resample cannot move the
    # overall mean, though each turn alone varies; resampling rows independently would widen it.
    assert got.loc[("mirror", "overall"), "low"] == got.loc[("mirror", "overall"), "high"] == 5.5
    assert got.loc[("mirror", "turn1"), "high"] - got.loc[("mirror", "turn1"), "low"] > 1.0
    # "same" has equal turns per question: the same questions are drawn for both turns in every round.
    for bound in ("low", "high"):
        assert got.loc[("same", "turn1"), bound] == got.loc[("same", "turn2"), bound]


def test_bootstrap_zero_rounds_and_missing_scope():
    df = pd.DataFrame({"model": ["a", "a"], "question_id": [1, 2], "turn": [1, 1], "score": [3.0, 5.0]})
    got = mt_bench_bootstrap(df, rounds=0).set_index("scope")
    assert got.loc["overall", "score"] == 4.0 and np.isnan(got.loc["overall", "low"])
    assert got.loc["turn2", "n"] == 0 and np.isnan(got.loc["turn2", "score"])
    with pytest.raises(RankingError, match="question_id"):
        mt_bench_bootstrap(df.drop(columns="question_id"))
    with pytest.raises(RankingError, match="level"):
        mt_bench_bootstrap(df, level=1.5)


def test_radar_png():
    scores = mt_bench_scores(single_fixture(), QUESTIONS)
    for frame in (scores, scores.iloc[:1]):
        png = mt_bench_radar_png(frame)
        assert png.startswith(PNG_SIGNATURE) and len(png) > 5_000
    assert mt_bench_radar_png(scores, categories=["math", "coding"]).startswith(PNG_SIGNATURE)
    with pytest.raises(ValueError, match="no category columns"):
        mt_bench_radar_png(mt_bench_scores(single_fixture()))
    with pytest.raises(ValueError, match="geometry"):
        mt_bench_radar_png(scores, categories=["geometry"])


def test_real_mt_bench_questions_eighty_by_ten():
    path = MT_BENCH / "question.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not present")
    questions = pd.read_json(path, lines=True)[["question_id", "category"]]
    order = list(dict.fromkeys(questions["category"]))
    df = synthetic(len(questions), 10, seed=11)
    df["question_id"] = df["question_id"].astype(str)  # 81..160 like question.jsonl, but as strings
    df.loc[::53, "score"] = -1
    scores = mt_bench_scores(df, questions)
    assert scores.shape == (10, 5 + 8) and list(scores.columns[5:]) == order
    kept = df[df["score"] != -1].merge(questions.astype({"question_id": str}), on="question_id")
    want = kept.groupby(["model", "category"])["score"].mean().unstack()
    got = scores.set_index("model")[order].to_numpy()
    assert np.array_equal(got, want.loc[scores["model"], order].to_numpy())
    start = time.perf_counter()
    boot = mt_bench_bootstrap(df, questions, rounds=1000, seed=0)
    elapsed = time.perf_counter() - start
    assert len(boot) == 10 * (3 + 8) and boot["low"].notna().all()
    assert elapsed < 2.0, f"1000-round bootstrap took {elapsed:.2f}s"
    assert mt_bench_radar_png(scores).startswith(PNG_SIGNATURE)
