"""Leaderboard and agreement figures: valid PNGs, the panels a reader expects, rounded tables."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from llmfeedback_assets import ranking
from llmfeedback_assets.analysis.plots import (
    BOARD_NOTE,
    agreement_figure,
    board_figure,
    board_markdown,
    figure_png,
    pair_matrices,
    predicted_win_matrix,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _comparisons(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    strength = {"alpha": 2.0, "bravo": 1.0, "charlie": 0.0, "delta": -1.0}
    names = list(strength)
    rows = []
    for _ in range(n):
        a, b = rng.choice(names, 2, replace=False)
        p = 1 / (1 + np.exp(strength[b] - strength[a]))
        u = rng.random()
        rows.append((a, b, "tie" if abs(u - p) < 0.05 else "model_a" if u < p else "model_b"))
    return pd.DataFrame(rows, columns=["model_a", "model_b", "winner"])


def _titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_board_figure_has_the_four_panels_and_encodes_to_png():
    comps = _comparisons()
    board = ranking.leaderboard_table(comps, rounds=50, seed=0)
    fig = board_figure(board, comps, "Leaderboard: judge-x")
    assert _titles(fig) == ["Elo with 95% intervals", "Predicted P(row beats column), Bradley–Terry",
                            "Observed win fraction of row vs column (tie = ½)", "Battle count per model pair"]
    assert fig.get_suptitle() == "Leaderboard: judge-x"
    assert figure_png(fig).startswith(PNG)


def test_external_board_shows_elo_only():
    board = ranking.leaderboard_table(_comparisons(), rounds=20, seed=0)
    fig = board_figure(board, None, "Leaderboard: crowd (external)")
    assert _titles(fig) == ["Elo with 95% intervals"]
    assert figure_png(fig).startswith(PNG)


def test_matrices_match_their_definitions():
    comps = pd.DataFrame({"model_a": ["x", "x", "y", "x"], "model_b": ["y", "y", "x", "z"],
                          "winner": ["model_a", "tie", "model_a", "model_b"]})
    wins, counts = pair_matrices(comps, ["x", "y", "z"])
    assert wins.loc["x", "y"] == 0.5 and wins.loc["y", "x"] == 0.5  # x won 1, tied 1, lost 1 of 3
    assert counts.loc["x", "y"] == counts.loc["y", "x"] == 3 and counts.loc["x", "z"] == 1
    assert wins.loc["z", "x"] == 1.0 and np.isnan(wins.loc["y", "z"])
    board = pd.DataFrame({"model": ["x", "y"], "bt_score": [0.75, 0.25]})
    p = predicted_win_matrix(board)
    assert p.loc["x", "y"] == 0.75 and p.loc["y", "x"] == 0.25 and np.isnan(p.loc["x", "x"])


def test_board_markdown_is_rounded_and_explained():
    board = ranking.leaderboard_table(_comparisons(), rounds=50, seed=0).assign(true_quality=np.nan)
    board.loc[0, "win_rate_adjusted"] = 0.9999999999999999
    text = board_markdown(board)
    assert "0.9999999999999999" not in text
    assert not re.search(r"\d\.\d{5,}", text)
    assert BOARD_NOTE in text and "win_rate_adjusted" in text and '"3, 3"' in text
    assert "true_quality" not in text  # no simulator truth, no empty column


def test_agreement_heatmap():
    agreement = pd.DataFrame({"judge_1": ["a", "a", "b"], "judge_2": ["b", "human", "human"],
                              "agreement_with_ties": [0.6, 0.5, 0.4],
                              "agreement_without_ties": [0.8, 0.7, 0.65]})
    fig = agreement_figure(agreement)
    assert _titles(fig) == ["Agreement, ties included", "Agreement, ties excluded"]
    assert figure_png(fig).startswith(PNG)


def test_loss_curve_has_a_title():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from llmfeedback_assets.reward import loss_curve_png

    before = set(plt.get_fignums())
    png = loss_curve_png({"train": [0.7, 0.5, 0.4]}, "rankings_reward_model: rankings loss")
    assert png.startswith(PNG) and set(plt.get_fignums()) == before
