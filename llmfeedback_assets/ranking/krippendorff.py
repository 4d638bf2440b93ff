"""Krippendorff's alpha: the reliability of several raters who each labelled some of the units.

Cohen's kappa compares two raters on the items both saw; a panel of judges (and a crowd in which each
voter saw a few pairs) needs one figure over every rater and any pattern of missing labels. Alpha is
1 − D_o / D_e, observed over expected disagreement, both read from the coincidence matrix: inside each
unit with m ≥ 2 values, every ordered pair of values from different raters adds 1 / (m − 1) to its cell,
so a unit contributes its m values once whatever its size, and units with one value count for nothing
(Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"). The difference function sets the
level: nominal (any two different labels disagree fully), ordinal (by the marginal counts between the
two ranks), interval ((c − k)²) and ratio (((c − k) / (c + k))²).

A rater may give several values to one unit (an external source with several votes on one pair): each
value is then a rater of its own, which is what the coincidence matrix counts anyway.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from .errors import RankingError

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _distances(domain: np.ndarray, totals: np.ndarray, level: Level) -> np.ndarray:
    """δ²(c, k) over the value domain (sorted for the ordered levels)."""
    if level == "nominal":
        return 1.0 - np.eye(len(domain))
    if level == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(totals)])
        lo = np.minimum.outer(np.arange(len(domain)), np.arange(len(domain)))
        hi = np.maximum.outer(np.arange(len(domain)), np.arange(len(domain)))
        between = cum[hi + 1] - cum[lo]  # Σ n_g for g from the lower rank to the higher one
        return (between - (totals[lo] + totals[hi]) / 2.0) ** 2
    x = domain.astype(np.float64)
    if level == "interval":
        return np.subtract.outer(x, x) ** 2
    if (x < 0).any():
        raise RankingError("ratio alpha needs non-negative values")
    s = np.add.outer(x, x)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(s > 0, np.subtract.outer(x, x) / s, 0.0)
    return d**2


def coincidence_matrix(units, values) -> tuple[np.ndarray, np.ndarray]:
    """(coincidences over the sorted value domain, that domain) from one row per value given.

    Missing values (None/NaN) are dropped; a unit left with fewer than two values adds nothing.
    """
    units, values = list(units), list(values)
    if len(units) != len(values):
        raise RankingError(f"units and values differ in length ({len(units)} != {len(values)})")
    frame = pd.DataFrame({"unit": units, "value": values}, dtype=object)
    frame = frame[frame["value"].notna()]
    if frame.empty:
        return np.zeros((0, 0)), np.array([])
    unit_code = pd.factorize(frame["unit"], sort=False)[0]
    try:
        domain = np.sort(pd.unique(frame["value"]))
    except TypeError as exc:
        raise RankingError(f"values must be mutually comparable: {exc}") from exc
    value_code = np.searchsorted(domain, frame["value"].to_numpy())
    n_units, n_values = int(unit_code.max()) + 1, len(domain)
    counts = np.zeros((n_units, n_values))
    np.add.at(counts, (unit_code, value_code), 1.0)
    m = counts.sum(axis=1)
    counts = counts[m >= 2]
    weights = counts / (counts.sum(axis=1, keepdims=True) - 1.0)
    o = counts.T @ weights - np.diag(weights.sum(axis=0))
    return o, domain


def alpha_from_coincidences(o: np.ndarray, domain: np.ndarray, level: Level = "nominal") -> float:
    """Alpha from a coincidence matrix; NaN when it is undefined (fewer than two pairable values, or
    every value the same, so there is no expected disagreement to compare with)."""
    if level not in LEVELS:
        raise RankingError(f"level must be one of {LEVELS}, got {level!r}")
    totals = o.sum(axis=1)
    n = totals.sum()
    if n < 2:
        return float("nan")
    delta = _distances(np.asarray(domain), totals, level)
    observed = float((o * delta).sum())
    expected = float(totals @ delta @ totals)
    if expected <= 0:
        return float("nan")
    return 1.0 - (n - 1.0) * observed / expected


def krippendorff_alpha_long(units, values, level: Level = "nominal") -> float:
    """Alpha from long data: one row per value given, `units[i]` naming the unit `values[i]` belongs to.

    Numbers for the ordered levels; any mutually comparable labels for nominal.
    """
    o, domain = coincidence_matrix(units, values)
    return alpha_from_coincidences(o, domain, level)


def krippendorff_alpha(reliability_data, level: Level = "nominal") -> float:
    """Alpha from a raters × units table (rows raters, columns units; None/NaN where a rater gave no
    value), the layout of Krippendorff's papers and of the `krippendorff` package's `reliability_data`."""
    frame = pd.DataFrame(reliability_data)
    if frame.ndim != 2 or frame.size == 0:
        raise RankingError("reliability_data must be a non-empty raters × units table")
    long = frame.stack(future_stack=True).reset_index()
    long.columns = ["rater", "unit", "value"]
    return krippendorff_alpha_long(long["unit"], long["value"], level)
