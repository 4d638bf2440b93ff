"""Bradley–Terry scores (ties as half a win each way), their Elo scale, and Newman's tie-aware model.

The fit is the maximum-likelihood estimate found with Newman's (2023) fixed-point iteration
p_i <- sum_j w_ij p_j / (p_i + p_j) / sum_j w_ji / (p_i + p_j), applied model by model (Gauss–Seidel) and
run to a tight tolerance on the aggregated pair table, so it lands on the same optimum as
`evalica.bradley_terry` (which stops at 1e-6).
Scores are normalised to sum to 1.

The maximum exists only when the "got credit against" graph is strongly connected: every split of the
models into two groups has a win or tie in both directions. Otherwise `bradley_terry` raises, unless a
`prior` (virtual ties on every compared pair) is given; a comparison graph in disconnected parts raises unless
`disconnected="per_component"`.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

from .errors import DisconnectedComparisonsError, NoFiniteScoresError, RankingError, RankingWarning
from .pairs import LEFT_RIGHT_LABELS, PairTable, aggregate

DEFAULT_TOL = 1e-10
DEFAULT_MAX_ITER = 10_000
ELO_ANCHOR = 1000.0
ELO_SCALE = 400.0

Disconnected = Literal["raise", "per_component"]


def _check_tol(tol: float, max_iter: int) -> None:
    if not (np.isfinite(tol) and tol > 0):
        raise RankingError(f"tol must be a positive number, got {tol!r}")
    if int(max_iter) < 1:
        raise RankingError(f"max_iter must be at least 1, got {max_iter!r}")


def _adjacency(i: np.ndarray, j: np.ndarray, wij: np.ndarray, wji: np.ndarray, n: int) -> list:
    """Per model m: (m, opponents, m's credit against them, their credit against m)."""
    owner = np.concatenate([i, j])
    order = np.argsort(owner, kind="stable")
    opp = np.concatenate([j, i])[order]
    won = np.concatenate([wij, wji])[order]
    lost = np.concatenate([wji, wij])[order]
    bounds = np.searchsorted(owner[order], np.arange(n + 1)).tolist()
    return [
        (m, opp[a:b], won[a:b], lost[a:b])
        for m, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        if b > a
    ]


def newman_iteration(
    i: np.ndarray,
    j: np.ndarray,
    wij: np.ndarray,
    wji: np.ndarray,
    n: int,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    init: np.ndarray | None = None,
) -> tuple[np.ndarray, int, bool]:
    """Bradley–Terry fixed point on a pair list; returns (scores summing to 1, sweeps, converged).

    Models are updated one after another (Gauss–Seidel, as evalica does): updating all at once can
    oscillate forever (two models with unequal records flip between two states). A sweep stops the run
    when no score moved by `tol`. Assumes every model has credit both ways (checked by the caller).
    """
    p = np.full(n, 1.0 / n) if init is None else np.asarray(init, dtype=np.float64) / np.sum(init)
    slices = _adjacency(i, j, wij, wji, n)
    for sweep in range(1, int(max_iter) + 1):
        prev = p.copy()
        for m, o, w_m, l_m in slices:
            r = 1.0 / (p[m] + p[o])
            p[m] = np.dot(w_m, p[o] * r) / np.dot(l_m, r)
        p /= p.sum()
        if np.max(np.abs(p - prev)) < tol:
            return p, sweep, True
    return p, int(max_iter), False


def _credit_graph_sccs(table: PairTable, wij: np.ndarray, wji: np.ndarray) -> tuple[int, np.ndarray]:
    n = table.n_models
    src = np.concatenate([table.i[wij > 0], table.j[wji > 0]])
    dst = np.concatenate([table.j[wij > 0], table.i[wji > 0]])
    from scipy.sparse import coo_matrix  # imported by the steps that rank, not when the code loads
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    return connected_components(graph, directed=True, connection="strong")


def _no_maximum_message(table: PairTable, wij: np.ndarray, wji: np.ndarray, labels: np.ndarray) -> str:
    # Condensation: an SCC with no credit flowing in is "never beaten by the rest", one with none flowing out
    # "never beat the rest".
    n_scc = labels.max() + 1
    li, lj = labels[table.i], labels[table.j]
    into = np.zeros(n_scc, bool)
    out = np.zeros(n_scc, bool)
    cross_ij = (wij > 0) & (li != lj)
    cross_ji = (wji > 0) & (li != lj)
    out[li[cross_ij]] = True
    into[lj[cross_ij]] = True
    out[lj[cross_ji]] = True
    into[li[cross_ji]] = True
    names = np.asarray(table.models, dtype=object)
    top = sorted(str(m) for m in names[np.isin(labels, np.flatnonzero(~into))])
    bottom = sorted(str(m) for m in names[np.isin(labels, np.flatnonzero(~out))])
    return (
        "Bradley–Terry scores have no finite maximum: the win/tie graph is not strongly connected "
        f"({n_scc} groups). Never beaten by the others: {top[:10]}; never beat the others: {bottom[:10]}. "
        "Pass prior=<virtual ties per compared pair> (e.g. prior=1.0) to regularise."
    )


def _fit_connected(
    table: PairTable, tol: float, max_iter: int, prior: float, tie_weight: float
) -> tuple[np.ndarray, int]:
    wij, wji = table.credit(tie_weight=tie_weight)
    if prior > 0:
        compared = table.weights.sum(axis=1) > 0
        wij = wij + prior * tie_weight * compared
        wji = wji + prior * tie_weight * compared
    if table.n_models == 1:
        return np.ones(1), 0
    n_scc, labels = _credit_graph_sccs(table, wij, wji)
    if n_scc > 1:
        raise NoFiniteScoresError(_no_maximum_message(table, wij, wji, labels))
    p, iterations, converged = newman_iteration(table.i, table.j, wij, wji, table.n_models, tol, max_iter)
    if not converged:
        warnings.warn(
            f"Bradley–Terry did not reach tol={tol} in {max_iter} iterations", RankingWarning, stacklevel=3
        )
    return p, iterations


def fit_bradley_terry(
    table: PairTable,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    prior: float = 0.0,
    disconnected: Disconnected = "raise",
    tie_weight: float = 0.5,
) -> pd.Series:
    """Bradley–Terry scores (sum 1) from an aggregated PairTable, in `table.models` order.

    With `disconnected="per_component"` each connected part is fitted on its own and scaled so it sums to its
    share of the models (scores are comparable only inside a part); `attrs["components"]` then maps each
    model to its part number (0 = largest) and a RankingWarning is issued.
    """
    _check_tol(tol, max_iter)
    if not (np.isfinite(prior) and prior >= 0):
        raise RankingError(f"prior must be a finite non-negative number, got {prior!r}")
    if disconnected not in ("raise", "per_component"):
        raise RankingError(f"disconnected must be 'raise' or 'per_component', got {disconnected!r}")
    parts = table.components()
    n = table.n_models
    if len(parts) == 1:
        p, iterations = _fit_connected(table, tol, max_iter, prior, tie_weight)
        out = pd.Series(p, index=table.models, name="bradley_terry")
        out.attrs["iterations"] = iterations
        return out
    names = [[str(m) for m in table.models[part]] for part in parts]
    if disconnected == "raise":
        shown = "; ".join(str(part[:5]) + (" ..." if len(part) > 5 else "") for part in names[:4])
        raise DisconnectedComparisonsError(
            f"the comparison graph has {len(parts)} disconnected parts, whose scores are not comparable: "
            f"{shown}. Add comparisons between the parts, rank each part separately, or pass "
            "disconnected='per_component'.",
            names,
        )
    warnings.warn(
        f"comparison graph has {len(parts)} disconnected parts (sizes {[len(p) for p in parts]}); scores are "
        "fitted per part, each part sums to its share of the models, and are comparable only inside a part",
        RankingWarning,
        stacklevel=2,
    )
    scores = np.empty(n)
    component = np.empty(n, dtype=np.int64)
    for c, part in enumerate(parts):
        p, _ = _fit_connected(table.subset(part), tol, max_iter, prior, tie_weight)
        scores[part] = p * len(part) / n
        component[part] = c
    out = pd.Series(scores, index=table.models, name="bradley_terry")
    out.attrs["components"] = dict(zip(table.models, component.tolist(), strict=True))
    return out


def bradley_terry(
    left,
    right,
    winner,
    weights=None,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    prior: float = 0.0,
    disconnected: Disconnected = "raise",
) -> pd.Series:
    """Bradley–Terry scores indexed by model name, summing to 1, sorted best first.

    `winner` is "left", "right" or "tie"; a tie counts half a win each way. `weights` (optional) scale each
    comparison and must be finite and non-negative. Same numbers as `evalica.bradley_terry` normalised to
    sum 1.
    """
    table = aggregate(left, right, winner, weights, labels=LEFT_RIGHT_LABELS)
    scores = fit_bradley_terry(table, tol=tol, max_iter=max_iter, prior=prior, disconnected=disconnected)
    return scores.sort_values(ascending=False, kind="stable")


def elo_scale(scores: pd.Series, anchor: float = ELO_ANCHOR, scale: float = ELO_SCALE) -> pd.Series:
    """Bradley–Terry scores on the Elo scale: scale·log10(score), shifted so the mean rating is `anchor`.

    Anchor: the unweighted mean over the given models is `anchor` (1000), i.e. the geometric-mean model
    sits at 1000; a 400-point gap means 10:1 odds. A score of 0 maps to -inf.
    """
    s = pd.Series(scores, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logs = scale * np.log10(s.to_numpy())
    finite = np.isfinite(logs)
    shift = anchor - (logs[finite].mean() if finite.any() else 0.0)
    return pd.Series(logs + shift, index=s.index, name="elo")


def elo_ratings(left, right, winner, weights=None, anchor: float = ELO_ANCHOR, **kwargs) -> pd.Series:
    """Bradley–Terry fit reported on the Elo scale (see `elo_scale`), best first."""
    return elo_scale(bradley_terry(left, right, winner, weights, **kwargs), anchor=anchor)


def fit_newman(
    table: PairTable, v_init: float = 0.5, tol: float = DEFAULT_TOL, max_iter: int = DEFAULT_MAX_ITER
) -> tuple[pd.Series, float]:
    """Newman's (2023) tie-aware Bradley–Terry model on a PairTable: scores (sum 1) and the tie parameter v.

    P(i beats j) = p_i / (p_i + p_j + 2v·sqrt(p_i p_j)), P(tie) = 2v·sqrt(p_i p_j) / (same denominator);
    scores and v are updated together by Newman's fixed-point equations.
    """
    _check_tol(tol, max_iter)
    if len(table.components()) > 1:
        raise DisconnectedComparisonsError(
            "the comparison graph is disconnected; Newman scores across parts are not comparable",
            [[str(m) for m in table.models[p]] for p in table.components()],
        )
    n, i, j = table.n_models, table.i, table.j
    w = table.weights
    ij_half = w[:, 0] + w[:, 2] / 2  # i's wins plus half the ties
    ji_half = w[:, 1] + w[:, 2] / 2
    ties = w[:, 2]
    n_scc, labels = _credit_graph_sccs(table, ij_half, ji_half)
    if n_scc > 1:
        raise NoFiniteScoresError(_no_maximum_message(table, ij_half, ji_half, labels))
    slices = _adjacency(i, j, ij_half, ji_half, n)
    wins = w[:, 0] + w[:, 1]
    p = np.full(n, 1.0 / n)
    v = float(v_init)
    for _ in range(int(max_iter)):
        prev, v_prev = p.copy(), v
        for m, o, a_m, l_m in slices:  # model by model, as in `newman_iteration`
            root = np.sqrt(p[m] * p[o])
            den = p[m] + p[o] + 2 * v * root
            p[m] = np.dot(a_m, (p[o] + v * root) / den) / np.dot(l_m, (1 + v * np.sqrt(p[o] / p[m])) / den)
        p /= p.sum()
        root = np.sqrt(p[i] * p[j])
        den = p[i] + p[j] + 2 * v * root
        tied = np.sum(ties * (p[i] + p[j]) / den) / 2
        decided = np.sum(wins * root / den)
        v = float(tied / decided) if decided > 0 else float("inf")
        if not np.isfinite(v):
            raise NoFiniteScoresError(
                "Newman's model: every comparison is a tie, so the tie parameter diverges"
            )
        if max(np.max(np.abs(p - prev)), abs(v - v_prev)) < tol:
            break
    else:
        warnings.warn(
            f"Newman's model did not reach tol={tol} in {max_iter} iterations", RankingWarning, stacklevel=2
        )
    return pd.Series(p, index=table.models, name="newman"), v


def newman(
    left,
    right,
    winner,
    weights=None,
    v_init: float = 0.5,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> tuple[pd.Series, float]:
    """Newman's tie-aware model from raw comparisons: (scores summing to 1 best first, tie parameter v)."""
    table = aggregate(left, right, winner, weights)
    scores, v = fit_newman(table, v_init=v_init, tol=tol, max_iter=max_iter)
    return scores.sort_values(ascending=False, kind="stable"), v
