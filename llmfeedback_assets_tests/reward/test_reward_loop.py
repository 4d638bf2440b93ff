"""The whole issue-7 loop on the project's offline simulator: collect ratings and rankings with the reward
templates, measure their consistency, train a rankings reward model, rerank best-of-n samples and measure
the win rate against a reference model by ratings and by rankings."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from llmfeedback_assets.config import ModelSpec, SimJudgeSpec, SimResponderSpec
from llmfeedback_assets.llm import sim
from llmfeedback_assets.reward import (
    comparison_pairs,
    feedback_consistency,
    ranking_messages,
    ranking_table,
    rating_messages,
    rating_table,
    rerank_best_of_n,
    train_rankings_reward_model,
    win_rate_by_rankings,
    win_rate_by_ratings,
)

JUDGE = ModelSpec(name="sim-judge", provider="sim", sim_judge=SimJudgeSpec(noise=0.1))
QUESTIONS = [f"Question {i}: how should a small team plan project number {i}?" for i in range(16)]


def _chat(spec: ModelSpec, messages: list[dict], key: str) -> str:
    return sim.simulate(spec, [(m["role"], m["content"]) for m in messages], key)


def _answers(spec: ModelSpec, n: int, tag: str) -> pd.DataFrame:
    rows = [(q, "", spec.name, s, sim.simulate(spec, [("user", q)], f"{tag}|{q}|{s}"))
            for q in QUESTIONS for s in range(n)]
    return pd.DataFrame(rows, columns=["instruction", "input", "responder_model", "sample_index", "response"])


def _rate(df: pd.DataFrame, tag: str) -> pd.DataFrame:
    replies = [_chat(JUDGE, rating_messages(r.instruction, r.input, r.response), f"{tag}|{i}")
               for i, r in enumerate(df.itertuples())]
    return rating_table(df, replies)


def _rank(pairs: pd.DataFrame, tag: str) -> pd.DataFrame:
    first = [_chat(JUDGE, ranking_messages(p.instruction, p.input, p.response1, p.response2), f"{tag}|1|{i}")
             for i, p in enumerate(pairs.itertuples())]
    swapped = [_chat(JUDGE, ranking_messages(p.instruction, p.input, p.response2, p.response1),
                     f"{tag}|2|{i}") for i, p in enumerate(pairs.itertuples())]
    return ranking_table(pairs, first, swapped)


@pytest.fixture(scope="module")
def feedback():
    responders = [ModelSpec(name=f"sim-q{int(q * 10)}", provider="sim",
                            sim=SimResponderSpec(quality=q, verbosity=0.3)) for q in (0.2, 0.5, 0.8)]
    cands = pd.concat([_answers(m, 2, "train") for m in responders], ignore_index=True)
    ratings = _rate(cands, "rate")
    pairs = pd.DataFrame(
        [(q, "", a, b) for q, g in cands.groupby("instruction")
         for a, b in itertools.combinations(g["response"], 2)],
        columns=["instruction", "input", "response1", "response2"])
    return cands, ratings, _rank(pairs, "rank")


def test_feedback_from_the_simulated_judge(feedback):
    cands, ratings, rankings = feedback
    assert (ratings["parse_status"] == "ok").all() and ratings["score"].between(1, 7).all()
    assert rankings["ranking"].notna().all() and set(rankings["ranking"]) <= {"a", "b", "equal"}
    res = feedback_consistency(ratings, rankings)
    assert res.n_pairs == len(rankings) == 16 * 15  # 6 responses per prompt: 15 pairs each
    assert int(res.confusion.to_numpy().sum()) == res.n_pairs
    # a low-noise judge mostly agrees with itself, but coarse 1-7 ratings tie where rankings decide
    assert 0.6 < res.rate < 1.0
    assert res.confusion.loc["equal"].sum() > res.confusion.loc["equal", "equal"]


def test_reward_model_best_of_n_and_win_rates(feedback):
    cands, ratings, rankings = feedback
    rm = train_rankings_reward_model(rankings, mode="frozen", epochs=30, max_length=128, seed=0,
                                     eval_ratings=ratings)
    assert rm.val_pairwise_accuracy >= 0.75  # chance 0.5; measured 0.93 on 45 held-out pairs
    assert rm.val_rating_correlation > 0.6

    mid = ModelSpec(name="sim-q5", provider="sim", sim=SimResponderSpec(quality=0.5, verbosity=0.3))
    samples = _answers(mid, 4, "bestofn")  # best-of-4 from the middle responder
    picks = rerank_best_of_n(samples, {"rankings_rm": rm})
    assert len(picks) == len(QUESTIONS) and (picks["n_candidates"] == 4).all()

    def truth(df: pd.DataFrame) -> np.ndarray:
        return np.array([sim.true_score(q, a)
                         for q, a in zip(df["instruction"], df["response"], strict=True)])

    assert truth(picks).mean() > truth(samples).mean() + 0.5  # the reward model picks better answers

    reference = _answers(mid, 1, "reference")  # the reference model: the same responder, one sample
    by_rankings = win_rate_by_rankings(_rank(comparison_pairs(picks, reference), "wr"), pick_slot="b")
    by_ratings = win_rate_by_ratings(_rate(picks, "wr-pick"), _rate(reference, "wr-ref"))
    assert by_rankings.n == by_ratings.n == len(QUESTIONS)
    assert truth(picks).mean() > truth(reference).mean()
    assert by_rankings.rate > 0.5  # the ranking judge sees the better picks
    # the coarse 1-7 scale calls many of the same comparisons even: ratings and rankings disagree
    assert by_ratings.ties > by_rankings.ties
    for wr in (by_rankings, by_ratings):
        assert 0.0 <= wr.low <= wr.rate <= wr.high <= 1.0
        assert wr.wins + wr.ties + wr.losses == wr.n
