"""evalica's linear-algebra rankings, eigenvector and PageRank, on the aggregated pair table.

Both read evalica's credit matrix M, M[i, j] = win_weight·(i's wins over j) + tie_weight·(their ties), and
run evalica's power iteration: start at 1/n, multiply, divide by the Euclidean norm, stop when the iterate
moves by less than `tol` (Euclidean). The product is taken over the pair list (two bincounts), never as a
dense n×n matrix, so a table of a few thousand pairs among many models costs O(pairs) per step.

Defaults run to a tight tolerance, so the result is the eigenvector itself: evalica's golden files hold it
(to 1e-15), while evalica's own default stop (tol 1e-6, 100 steps) leaves ~2e-7 on the table. With
`tol=1e-6, max_iter=100` the iterates are evalica's (its "naive" solver) to rounding.

Direction. evalica's `eigen` iterates s ← Mᵀs: a model's score is the score-weighted credit its opponents
took from it, so on evalica's golden data the weakest model comes first (food: Tacos, best by win rate,
last). That is kept as the default so switching users get the same numbers; `direction="wins"` iterates
s ← Ms (a model scores by the credit it took from strong opponents, Keener's direction). PageRank needs no
such option: each model hands its losses to the models that beat it, so winners come first.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

from .bt import DEFAULT_MAX_ITER, DEFAULT_TOL, _check_tol
from .errors import RankingError, RankingWarning
from .pairs import I_WINS, J_WINS, LEFT_RIGHT_LABELS, TIE, PairTable, aggregate

Direction = Literal["evalica", "wins"]
DEFAULT_DAMPING = 0.85


def _credit(table: PairTable, win_weight: float, tie_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """M[i, j] and M[j, i] for every pair (i < j) of the table."""
    for name, value in (("win_weight", win_weight), ("tie_weight", tie_weight)):
        if not (np.isfinite(value) and value >= 0):
            raise RankingError(f"{name} must be a finite non-negative number, got {value!r}")
    w = table.weights
    ties = tie_weight * w[:, TIE]
    return win_weight * w[:, I_WINS] + ties, win_weight * w[:, J_WINS] + ties


def _power_iteration(step, n: int, tol: float, max_iter: int) -> tuple[np.ndarray, int, bool]:
    """evalica's loop: s0 = 1/n; s ← step(s) / ‖step(s)‖₂ (left as is when the norm is 0), NaN → tol."""
    s = np.full(n, 1.0 / n)
    for iteration in range(1, int(max_iter) + 1):
        new = step(s)
        norm = float(np.sqrt(new @ new))
        if norm != 0.0:
            new /= norm
        new = np.nan_to_num(new, nan=tol)
        moved = float(np.sqrt((new - s) @ (new - s)))
        s = new
        if moved < tol:
            return s, iteration, True
    return s, int(max_iter), False


def _finish(scores: np.ndarray, table: PairTable, name: str, iterations: int, converged: bool, tol: float,
            max_iter: int) -> pd.Series:
    if not converged:
        warnings.warn(f"{name} did not reach tol={tol} in {max_iter} iterations", RankingWarning,
                      stacklevel=3)
    out = pd.Series(scores, index=table.models, name=name)
    out.attrs.update(iterations=iterations, converged=converged)
    return out


def fit_eigen_ratings(
    table: PairTable,
    win_weight: float = 1.0,
    tie_weight: float = 0.5,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    direction: Direction = "evalica",
) -> pd.Series:
    """The principal eigenvector of evalica's credit matrix (unit Euclidean norm), in `table.models` order.

    `direction="evalica"` reproduces `evalica.eigen` (s ← Mᵀs, see the module note: higher means more credit
    conceded to strong models); `"wins"` iterates s ← Ms. `attrs` holds `iterations` and `converged`.
    """
    _check_tol(tol, max_iter)
    if direction not in ("evalica", "wins"):
        raise RankingError(f"direction must be 'evalica' or 'wins', got {direction!r}")
    n, i, j = table.n_models, table.i, table.j
    m_ij, m_ji = _credit(table, win_weight, tie_weight)
    if direction == "wins":  # (Ms)_i = Σ_j M[i, j] s_j: the transpose of evalica's product
        m_ij, m_ji = m_ji, m_ij

    def step(s: np.ndarray) -> np.ndarray:  # (Mᵀs)_j = Σ_i M[i, j] s_i, over the pair list
        return np.bincount(j, m_ij * s[i], n) + np.bincount(i, m_ji * s[j], n)

    scores, iterations, converged = _power_iteration(step, n, tol, max_iter)
    return _finish(scores, table, "eigen", iterations, converged, tol, max_iter)


def fit_pagerank(
    table: PairTable,
    damping: float = DEFAULT_DAMPING,
    win_weight: float = 1.0,
    tie_weight: float = 0.5,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> pd.Series:
    """PageRank scores (sum 1) of the graph where each model links to those that took credit from it.

    evalica's Google matrix G = damping·T + (1 - damping)/n, T[j, i] = M[i, j] / Σ_i M[i, j]: model j's
    losses split among the models that beat it; a model that conceded nothing links to all n uniformly.
    The eigenvector of G (evalica's iteration) is divided by its sum, as `evalica.pagerank` does.
    """
    _check_tol(tol, max_iter)
    if not (np.isfinite(damping) and 0.0 <= damping <= 1.0):
        raise RankingError(f"damping must be between 0 and 1, got {damping!r}")
    n, i, j = table.n_models, table.i, table.j
    m_ij, m_ji = _credit(table, win_weight, tie_weight)
    conceded = np.bincount(j, m_ij, n) + np.bincount(i, m_ji, n)  # row sums of T before normalising
    dangling = conceded == 0
    inv = np.divide(1.0, conceded, out=np.zeros(n), where=~dangling)

    def step(s: np.ndarray) -> np.ndarray:  # (Gᵀs)_i = damping·Σ_j T[j, i] s_j + (1 - damping)/n·Σ_j s_j
        share = s * inv
        linked = np.bincount(i, m_ij * share[j], n) + np.bincount(j, m_ji * share[i], n)
        spread = s[dangling].sum() / n
        return damping * (linked + spread) + (1.0 - damping) / n * s.sum()

    scores, iterations, converged = _power_iteration(step, n, tol, max_iter)
    total = scores.sum()
    if total != 0:
        scores = scores / total
    return _finish(scores, table, "pagerank", iterations, converged, tol, max_iter)


def eigen_ratings(
    left,
    right,
    winner,
    weights=None,
    win_weight: float = 1.0,
    tie_weight: float = 0.5,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    direction: Direction = "evalica",
) -> pd.Series:
    """`evalica.eigen` from raw comparisons ("left"/"right"/"tie"), highest first; see `fit_eigen_ratings`."""
    table = aggregate(left, right, winner, weights, labels=LEFT_RIGHT_LABELS)
    scores = fit_eigen_ratings(table, win_weight, tie_weight, tol, max_iter, direction)
    return scores.sort_values(ascending=False, kind="stable")


def pagerank(
    left,
    right,
    winner,
    weights=None,
    damping: float = DEFAULT_DAMPING,
    win_weight: float = 1.0,
    tie_weight: float = 0.5,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> pd.Series:
    """`evalica.pagerank` from raw comparisons ("left"/"right"/"tie"): scores summing to 1, best first."""
    table = aggregate(left, right, winner, weights, labels=LEFT_RIGHT_LABELS)
    scores = fit_pagerank(table, damping, win_weight, tie_weight, tol, max_iter)
    return scores.sort_values(ascending=False, kind="stable")
