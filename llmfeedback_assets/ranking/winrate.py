"""Win-rate style scores on the aggregated pair table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .pairs import I_WINS, J_WINS, TIE, PairTable, aggregate


def win_rates(table: PairTable) -> pd.DataFrame:
    """MT-bench style rates per model: win_rate = wins / n, win_rate_adjusted = (wins + ties/2) / n.

    n counts every comparison of the model (wins, losses and ties), weighted when the table is.
    """
    per = table.per_model()
    with np.errstate(divide="ignore", invalid="ignore"):
        win_rate = per["wins"] / per["n"]
        adjusted = (per["wins"] + 0.5 * per["ties"]) / per["n"]
    return pd.DataFrame(
        {
            "win_rate": win_rate,
            "win_rate_adjusted": adjusted,
            "wins": per["wins"],
            "losses": per["losses"],
            "ties": per["ties"],
            "n": per["n"],
        }
    )


def fit_average_win_rate(table: PairTable, tie_weight: float = 0.5) -> pd.Series:
    """Mean over a model's opponents of its win share against each (ties count `tie_weight`).

    Unlike the plain win rate, every opponent weighs the same however often it was met.
    """
    w = table.weights
    n_pair = w.sum(axis=1)
    ok = n_pair > 0
    share_i = (w[ok, I_WINS] + tie_weight * w[ok, TIE]) / n_pair[ok]
    share_j = (w[ok, J_WINS] + tie_weight * w[ok, TIE]) / n_pair[ok]
    n = table.n_models
    total = np.bincount(table.i[ok], share_i, n) + np.bincount(table.j[ok], share_j, n)
    opponents = np.bincount(table.i[ok], minlength=n) + np.bincount(table.j[ok], minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.Series(total / opponents, index=table.models, name="average_win_rate")


def average_win_rate(left, right, winner, weights=None) -> pd.Series:
    """Average pairwise win rate from raw comparisons ("left"/"right"/"tie"), best first."""
    return fit_average_win_rate(aggregate(left, right, winner, weights)).sort_values(
        ascending=False, kind="stable"
    )
