"""Bradley–Terry, Elo scale, online Elo, Newman and win rates: closed forms, evalica golden values,
properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmfeedback_assets.ranking import (
    aggregate,
    average_win_rate,
    bradley_terry,
    elo_ratings,
    elo_scale,
    fit_average_win_rate,
    newman,
    online_elo,
    win_rates,
)
from llmfeedback_assets_tests.support.ranking import synthetic


def score_equations_residual(left, right, winner, scores: pd.Series) -> float:
    """max |expected wins - observed wins| (ties half): zero exactly at the Bradley–Terry maximum."""
    p_l = scores[left].to_numpy()
    p_r = scores[right].to_numpy()
    credit_l = np.select([winner == "left", winner == "tie"], [1.0, 0.5], 0.0)
    exp_l = p_l / (p_l + p_r)
    frame = pd.DataFrame(
        {
            "m": np.concatenate([left, right]),
            "obs": np.concatenate([credit_l, 1 - credit_l]),
            "exp": np.concatenate([exp_l, 1 - exp_l]),
        }
    )
    g = frame.groupby("m")[["obs", "exp"]].sum()
    return float((g["obs"] - g["exp"]).abs().max())


def test_two_models_closed_form():
    # a beats b 3 times, b beats a once, one tie: odds (3.5 : 1.5).
    s = bradley_terry(["a"] * 5, ["b"] * 5, ["left", "left", "left", "right", "tie"])
    assert s.sum() == pytest.approx(1.0)
    assert s["a"] / s["b"] == pytest.approx(3.5 / 1.5, rel=1e-9)
    assert list(s.index) == ["a", "b"]


def test_fit_solves_score_equations():
    left, right, winner, _, _ = synthetic(12, 400, seed=1)
    s = bradley_terry(left, right, winner)
    assert s.sum() == pytest.approx(1.0)
    assert score_equations_residual(left, right, winner, s) < 1e-7
    assert s.is_monotonic_decreasing


def test_recovers_known_strengths():
    left, right, winner, strength, names = synthetic(8, 40_000, seed=2, tie_share=0.0)
    s = bradley_terry(left, right, winner)
    truth = pd.Series(strength / strength.sum(), index=names)
    assert np.abs(np.log(s[names] / truth[names])).max() < 0.1


def test_weights_equal_duplicated_rows():
    left, right, winner, _, _ = synthetic(6, 120, seed=3)
    weights = np.random.default_rng(0).integers(0, 4, len(left))
    weights[:6] = 1  # keep the ring
    dup = np.repeat(np.arange(len(left)), weights)
    weighted = bradley_terry(left, right, winner, weights=weights)
    repeated = bradley_terry(left[dup], right[dup], winner[dup])
    pd.testing.assert_series_equal(weighted, repeated[weighted.index], atol=1e-9, check_exact=False)


def test_swapping_sides_and_order_does_not_matter():
    left, right, winner, _, _ = synthetic(7, 300, seed=4)
    flipped = winner.map({"left": "right", "right": "left", "tie": "tie"})
    base = bradley_terry(left, right, winner)
    swapped = bradley_terry(right, left, flipped)
    perm = np.random.default_rng(1).permutation(len(left))
    shuffled = bradley_terry(left[perm], right[perm], winner[perm])
    assert np.allclose(base[swapped.index], swapped, atol=1e-9)
    assert np.allclose(base[shuffled.index], shuffled, atol=1e-9)


def test_prior_regularises_an_undefeated_model():
    s = bradley_terry(["a", "b", "a"], ["b", "c", "c"], ["left", "left", "left"], prior=1.0)
    assert list(s.index) == ["a", "b", "c"]
    assert np.all(np.isfinite(s)) and (s > 0).all()


def test_elo_scale_anchor_and_gaps():
    s = pd.Series({"a": 0.5, "b": 0.05, "c": 0.45})
    e = elo_scale(s)
    assert e.mean() == pytest.approx(1000.0)
    assert e["a"] - e["b"] == pytest.approx(400.0)  # 10:1 odds
    left, right, winner, _, _ = synthetic(5, 200, seed=5)
    direct = elo_ratings(left, right, winner)
    assert direct.mean() == pytest.approx(1000.0)
    assert list(direct.index) == list(bradley_terry(left, right, winner).index)


def test_online_elo_hand_computed():
    # Two equal players: the winner gains k/2; then an expected-score update from the new ratings.
    r = online_elo(["a", "a"], ["b", "b"], ["left", "tie"], k=32)
    first_a, first_b = 1016.0, 984.0
    expected_a = 1 / (1 + 10 ** ((first_b - first_a) / 400))
    assert r["a"] == pytest.approx(first_a + 32 * (0.5 - expected_a))
    assert r["b"] == pytest.approx(first_b + 32 * (0.5 - (1 - expected_a)))
    assert r.sum() == pytest.approx(2000.0)  # zero-sum updates


def test_online_elo_depends_on_order():
    left, right, winner = ["a", "a", "b"], ["b", "c", "c"], ["left", "right", "left"]
    forward = online_elo(left, right, winner)
    backward = online_elo(left[::-1], right[::-1], winner[::-1])
    assert not np.allclose(forward.sort_index(), backward.sort_index())


def test_newman_ties_estimate_v():
    left, right, winner, _, _ = synthetic(6, 3000, seed=6, tie_share=0.3)
    scores, v = newman(left, right, winner)
    assert scores.sum() == pytest.approx(1.0)
    assert 0.1 < v < 2.0
    bt = bradley_terry(left, right, winner)
    assert list(scores.index[:2]) == list(bt.index[:2]) or abs(scores.iloc[0] - scores.iloc[1]) < 0.01


def test_win_rates_mt_bench_definition():
    table = aggregate(["a", "a", "a", "b"], ["b", "b", "c", "c"], ["left", "tie", "right", "tie"])
    rates = win_rates(table)
    # a: 1 win, 1 tie, 1 loss -> 1/3 and (1 + 0.5)/3; c: 1 win, 1 tie -> 1/2 and 3/4.
    assert rates.loc["a", "win_rate"] == pytest.approx(1 / 3)
    assert rates.loc["a", "win_rate_adjusted"] == pytest.approx(0.5)
    assert rates.loc["c", "win_rate"] == pytest.approx(0.5)
    assert rates.loc["c", "win_rate_adjusted"] == pytest.approx(0.75)
    assert rates["n"].to_dict() == {"a": 3, "b": 3, "c": 2}


def test_average_win_rate_weighs_opponents_equally():
    # a meets b 9 times (wins all) and c once (loses): per-opponent average 0.5, raw win rate 0.9.
    left = ["a"] * 10
    right = ["b"] * 9 + ["c"]
    winner = ["left"] * 9 + ["right"]
    awr = average_win_rate(left, right, winner)
    assert awr["a"] == pytest.approx(0.5)
    assert awr["c"] == pytest.approx(1.0)
    assert fit_average_win_rate(aggregate(left, right, winner))["b"] == pytest.approx(0.0)


def test_pair_table_is_aggregated_once():
    left, right, winner, _, _ = synthetic(5, 1000, seed=7)
    table = aggregate(left, right, winner)
    assert table.n_comparisons == 1000
    assert len(table.i) <= 10 and np.all(table.i < table.j)
    frame = table.to_frame()
    assert frame["count"].sum() == 1000
    assert set(frame["outcome"]) <= {"model_a", "model_b", "tie"}


def test_categorical_input_matches_strings():
    left, right, winner, _, _ = synthetic(6, 500, seed=8)
    cat = bradley_terry(left.astype("category"), right.astype("category"), winner.astype("category"))
    plain = bradley_terry(left, right, winner)
    assert np.allclose(cat[plain.index], plain)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(3, 8), st.integers(0, 10_000), st.integers(20, 120))
def test_property_scores_are_a_distribution_at_the_maximum(n_models, seed, n_rows):
    left, right, winner, _, _ = synthetic(n_models, max(n_rows, n_models), seed=seed)
    s = bradley_terry(left, right, winner)
    assert np.all(np.isfinite(s)) and (s > 0).all()
    assert s.sum() == pytest.approx(1.0, abs=1e-12)
    assert score_equations_residual(left, right, winner, s) < 1e-6
    # A model that gains a win over everyone cannot lose score share.
    top = s.index[-1]
    others = [m for m in s.index if m != top]
    boosted = bradley_terry(
        pd.concat([left, pd.Series([top] * len(others))], ignore_index=True),
        pd.concat([right, pd.Series(others)], ignore_index=True),
        pd.concat([winner, pd.Series(["left"] * len(others))], ignore_index=True),
    )
    assert boosted[top] >= s[top] - 1e-12
