"""Bad input to the ranking library: each case gets a clear error or a documented, warned treatment."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from llmfeedback_assets.ranking import (
    DisconnectedComparisonsError,
    NoFiniteScoresError,
    RankingError,
    RankingWarning,
    bradley_terry,
    kendall_tau,
    leaderboard_table,
    online_elo,
    spearman,
)


def test_unknown_winner_label_names_row_and_label():
    with pytest.raises(RankingError, match=r"unknown label 'win' at row 1"):
        bradley_terry(["a", "b"], ["b", "a"], ["left", "win"])


def test_missing_winner_is_an_error_not_a_tie():
    with pytest.raises(RankingError, match="row 0"):
        bradley_terry(["a", "b"], ["b", "a"], [None, "left"])


def test_self_comparison_is_rejected():
    with pytest.raises(RankingError, match=r"row 1: model 'b' is compared with itself"):
        bradley_terry(["a", "b"], ["b", "b"], ["left", "tie"])


def test_empty_input_is_rejected():
    with pytest.raises(RankingError, match="empty"):
        bradley_terry([], [], [])
    with pytest.raises(RankingError, match="nothing to rank"):
        leaderboard_table(pd.DataFrame(columns=["model_a", "model_b", "winner"]))


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_bad_weights_are_rejected(bad):
    with pytest.raises(RankingError, match=r"weights: value .* at row 2"):
        bradley_terry(["a", "b", "a"], ["b", "a", "b"], ["left", "left", "tie"], weights=[1.0, 1.0, bad])


def test_weights_length_and_all_zero():
    with pytest.raises(RankingError, match="one value per comparison"):
        bradley_terry(["a", "b"], ["b", "a"], ["left", "left"], weights=[1.0])
    with pytest.raises(RankingError, match="all weights are zero"):
        bradley_terry(["a", "b"], ["b", "a"], ["left", "right"], weights=[0.0, 0.0])


def test_missing_model_name():
    with pytest.raises(RankingError, match=r"right: missing model name at row 0"):
        bradley_terry(["a"], [None], ["left"])


def test_disconnected_graph_raises_with_parts():
    with pytest.raises(DisconnectedComparisonsError, match="2 disconnected parts") as info:
        bradley_terry(["a", "b", "c", "d"], ["b", "a", "d", "c"], ["left", "tie", "left", "tie"])
    assert sorted(map(sorted, info.value.components)) == [["a", "b"], ["c", "d"]]


def test_disconnected_per_component_is_warned_and_documented():
    with pytest.warns(RankingWarning, match="disconnected parts"):
        s = bradley_terry(
            ["a", "b", "c", "d", "e"],
            ["b", "a", "d", "c", "d"],
            ["left", "tie", "left", "tie", "tie"],
            disconnected="per_component",
        )
    assert s.sum() == pytest.approx(1.0)
    assert not s.isna().any()
    comp = s.attrs["components"]
    assert comp["c"] == comp["d"] == comp["e"] == 0 and comp["a"] == comp["b"] == 1
    # Inside a part the usual odds hold: a has 1.5 credit against b's 0.5.
    assert s["a"] / s["b"] == pytest.approx(3.0)
    assert s[["a", "b"]].sum() == pytest.approx(2 / 5)


def test_undefeated_model_raises_without_prior():
    with pytest.raises(NoFiniteScoresError, match=r"Never beaten by the others: \['a'\]"):
        bradley_terry(["a", "a", "b"], ["b", "c", "c"], ["left", "left", "tie"])


def test_leaderboard_falls_back_to_prior_with_warning():
    comp = pd.DataFrame(
        {"model_a": ["x", "x", "y"], "model_b": ["y", "z", "z"], "winner": ["model_a", "model_a", "tie"]}
    )
    with pytest.warns(RankingWarning, match="Using prior=1.0"):
        board = leaderboard_table(comp, rounds=50)
    assert board["model"].iloc[0] == "x"
    assert np.isfinite(board[["bt_score", "bt_low", "bt_high", "elo"]].to_numpy()).all()


def test_leaderboard_bad_columns_and_labels():
    with pytest.raises(RankingError, match=r"missing columns \['winner'\]"):
        leaderboard_table(pd.DataFrame({"model_a": ["a"], "model_b": ["b"]}))
    with pytest.raises(RankingError, match="unknown label 'left'"):
        leaderboard_table(pd.DataFrame({"model_a": ["a"], "model_b": ["b"], "winner": ["left"]}))
    comp = pd.DataFrame({"model_a": ["a", "b"], "model_b": ["b", "a"], "winner": ["model_a", "model_a"]})
    with pytest.raises(RankingError, match=r"single_scores: turn 3 at row 0"):
        leaderboard_table(
            comp, rounds=0, single_scores=pd.DataFrame({"model": ["a"], "turn": [3], "score": [5]})
        )
    with pytest.raises(RankingError, match=r"single_scores: score 'ten' at row 0"):
        leaderboard_table(
            comp, rounds=0, single_scores=pd.DataFrame({"model": ["a"], "turn": [1], "score": ["ten"]})
        )


def test_bad_bootstrap_settings():
    comp = pd.DataFrame({"model_a": ["a", "b"], "model_b": ["b", "a"], "winner": ["model_a", "model_a"]})
    with pytest.raises(RankingError, match="method"):
        leaderboard_table(comp, method="jackknife")
    with pytest.raises(RankingError, match="rounds"):
        leaderboard_table(comp, rounds=-1)


def test_correlations_need_two_common_models():
    with pytest.raises(RankingError, match="at least 2"):
        spearman(pd.Series({"a": 1.0, "b": 2.0}), pd.Series({"a": 1.0, "c": 2.0}))
    with pytest.raises(RankingError, match="more than once"):
        kendall_tau(pd.Series([1.0, 2.0], index=["a", "a"]), pd.Series({"a": 1.0}))


def test_online_elo_rejects_bad_input():
    with pytest.raises(RankingError, match="compared with itself"):
        online_elo(["a"], ["a"], ["left"])
    with pytest.raises(RankingError, match="unknown label"):
        online_elo(["a"], ["b"], ["draw"])


def test_no_nan_scores_ever_come_back_silently():
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankingWarning)
        for _ in range(30):
            n = int(rng.integers(2, 6))
            m = int(rng.integers(1, 12))
            left = rng.integers(0, n, m)
            right = (left + rng.integers(1, n, m)) % n
            winner = rng.choice(["left", "right", "tie"], m)
            try:
                s = bradley_terry([f"m{k}" for k in left], [f"m{k}" for k in right], winner)
            except RankingError:
                continue
            assert np.isfinite(s).all() and s.sum() == pytest.approx(1.0)
