"""Rank correlation between two leaderboards over the models they share."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import RankingError, show


def _common(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(a, pd.Series) or not isinstance(b, pd.Series):
        raise RankingError("leaderboards must be pandas Series indexed by model name")
    for name, s in (("first", a), ("second", b)):
        if not s.index.is_unique:
            dup = s.index[s.index.duplicated()][0]
            raise RankingError(f"{name} leaderboard lists model {show(dup)} more than once")
    common = a.index.intersection(b.index)
    x = pd.to_numeric(a.reindex(common), errors="coerce").to_numpy(dtype=np.float64)
    y = pd.to_numeric(b.reindex(common), errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        raise RankingError(f"need at least 2 models scored in both leaderboards, found {int(ok.sum())}")
    return x[ok], y[ok]


def spearman(a: pd.Series, b: pd.Series) -> float:
    """Spearman's rho of two score Series over their common models (non-finite scores dropped)."""
    x, y = _common(a, b)
    from scipy import stats  # lazily: scipy.stats is slow to import and most steps never correlate

    return float(stats.spearmanr(x, y).statistic)


def kendall_tau(a: pd.Series, b: pd.Series) -> float:
    """Kendall's tau-b of two score Series over their common models (non-finite scores dropped)."""
    x, y = _common(a, b)
    from scipy import stats

    return float(stats.kendalltau(x, y).statistic)
