"""Online (sequential) Elo: the classic chess update, one comparison at a time in the given order.

Unlike the Bradley–Terry fit this depends on the order of the rows, so it reads the raw comparisons and not
the aggregated pair table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .errors import RankingError, show
from .pairs import LEFT_RIGHT_LABELS, check_weights, encode_winners, factorize_models


def online_elo(
    left,
    right,
    winner,
    weights=None,
    initial: float = 1000.0,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    tie_weight: float = 0.5,
) -> pd.Series:
    """Sequential Elo ratings (every model starts at `initial`; k=4 as in Chatbot Arena), best first.

    Each row moves both ratings by k·weight·(actual − expected), expected = 1 / (1 + base^((r_o − r)/scale));
    a tie scores `tie_weight` for both sides.
    """
    for name, value in (("initial", initial), ("k", k), ("scale", scale), ("base", base)):
        if not np.isfinite(value):
            raise RankingError(f"{name} must be finite, got {value!r}")
    if scale <= 0 or base <= 1:
        raise RankingError("scale must be > 0 and base > 1")
    lc, rc, index = factorize_models(left, right)
    if len(lc) == 0:
        raise RankingError("no comparisons: the input is empty")
    outcome = encode_winners(winner, LEFT_RIGHT_LABELS)
    if len(outcome) != len(lc):
        raise RankingError(f"winner has {len(outcome)} rows but left/right have {len(lc)}")
    same = np.flatnonzero(lc == rc)
    if same.size:
        raise RankingError(f"row {int(same[0])}: model {show(index[lc[same[0]]])} is compared with itself")
    w = check_weights(weights, len(lc))
    actual_left = np.array([1.0, 0.0, tie_weight])[outcome]
    actual_right = np.array([0.0, 1.0, tie_weight])[outcome]
    ratings = [float(initial)] * len(index)
    log_base = math.log(base) / scale
    exp = math.exp
    rows = zip(lc.tolist(), rc.tolist(), actual_left.tolist(), actual_right.tolist(), w.tolist(), strict=True)
    for a, b, sa, sb, wt in rows:  # a Python loop: each update depends on the previous one
        ra, rb = ratings[a], ratings[b]
        expected = 1.0 / (1.0 + exp((rb - ra) * log_base))
        ratings[a] = ra + k * wt * (sa - expected)
        ratings[b] = rb + k * wt * (sb - (1.0 - expected))
    return pd.Series(ratings, index=index, name="online_elo").sort_values(ascending=False, kind="stable")
