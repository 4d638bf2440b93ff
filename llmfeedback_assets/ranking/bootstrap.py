"""Bootstrap confidence intervals for Bradley–Terry scores by reweighting the aggregated pair table.

Resampling N comparisons with replacement is the same as drawing the count of every (pair, outcome) cell
from a multinomial over the cells (method="multinomial"); the Poisson bootstrap gives every comparison a
Poisson(1) weight, i.e. Poisson(count) per cell (method="poisson"). Either way a round never touches the raw
rows, and rounds are fitted in fixed-size batches on dense (batch, n, n) credit matrices, warm-started from
the full-data fit, so working memory depends on the batch size and not on the number of rounds. What is kept
per round is one score per model (rounds × models × 8 bytes), needed for exact percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from .errors import RankingError
from .pairs import I_WINS, J_WINS, TIE, PairTable

Method = Literal["multinomial", "poisson"]

BOOT_TOL = 1e-9
BOOT_MAX_ITER = 2_000
_BATCH_BYTES = 24 * 2**20  # per dense (batch, n, n) float64 buffer
_DENSE_MAX_MODELS = 1_500


@dataclass(frozen=True)
class BootstrapResult:
    """Per-round scores (rounds × models, NaN where a model drew no comparison) and percentile bounds."""

    samples: np.ndarray
    models: pd.Index
    level: float

    @property
    def low(self) -> pd.Series:
        return self._quantile((1 - self.level) / 2, "low")

    @property
    def high(self) -> pd.Series:
        return self._quantile(1 - (1 - self.level) / 2, "high")

    def _quantile(self, q: float, name: str) -> pd.Series:
        if self.samples.shape[0] == 0:
            return pd.Series(np.nan, index=self.models, name=name)
        cols = self.samples
        values = np.full(cols.shape[1], np.nan)
        seen = ~np.isnan(cols).all(axis=0)
        if seen.any():
            values[seen] = np.nanquantile(cols[:, seen], q, axis=0)
        return pd.Series(values, index=self.models, name=name)


def _round_weights(
    table: PairTable,
    method: Method,
    size: int,
    rng: np.random.Generator,
    cells: np.ndarray,
    probs: np.ndarray,
    unit: np.ndarray,
) -> np.ndarray:
    """(size, P, 3) reweighted outcome totals for `size` rounds."""
    counts = table.counts.ravel()[cells]
    if method == "multinomial":
        drawn = rng.multinomial(table.n_comparisons, probs, size=size).astype(np.float64)
    else:
        drawn = rng.poisson(counts, size=(size, len(cells))).astype(np.float64)
    out = np.zeros((size, table.counts.size))
    out[:, cells] = drawn * unit
    return out.reshape(size, len(table.i), 3)


def _dense_credit(table: PairTable, w: np.ndarray, tie_weight: float, prior_credit: np.ndarray) -> np.ndarray:
    """(n, B, n) credit: out[i, b, j] = credit of model i against j in round b (row i contiguous per round)."""
    b, n = w.shape[0], table.n_models
    wij = w[..., I_WINS] + tie_weight * w[..., TIE] + prior_credit
    wji = w[..., J_WINS] + tie_weight * w[..., TIE] + prior_credit
    credit = np.zeros((n, b, n))
    credit[table.i, :, table.j] = wij.T
    credit[table.j, :, table.i] = wji.T
    return credit


def newman_dense_batch(
    credit: np.ndarray, init: np.ndarray, tol: float = BOOT_TOL, max_iter: int = BOOT_MAX_ITER
) -> np.ndarray:
    """Bradley–Terry fits of a batch of dense credit matrices laid out (n, B, n); returns (B, n) scores.

    Gauss–Seidel over models, vectorized across the B rounds; scores sum to 1 and models without
    comparisons in a round come back NaN. A round whose maximum does not exist (a model that never lost)
    takes Zermelo's update for the undefeated model and stops at `max_iter`, so its extreme scores enter the
    percentiles instead of failing the run. Converged rounds leave the active batch.
    """
    n, b, _ = credit.shape
    w = credit
    wt = np.ascontiguousarray(credit.transpose(2, 1, 0))  # wt[i, b, j] = credit of j against i
    won = w.sum(axis=2)  # (n, B)
    pres = (won + wt.sum(axis=2)) > 0
    out = np.full((b, n), np.nan)
    # p is kept as (n, B) so p[m] is one contiguous row per model.
    p = np.broadcast_to(np.asarray(init, dtype=np.float64)[:, None], (n, b)).copy()
    p /= p.sum(axis=0, keepdims=True)
    active = np.arange(b)
    for _ in range(int(max_iter)):
        prev = p.copy()
        pt = p.T  # (B, n) view, updated in place through p
        for m in range(n):
            r = pt + pt[:, m : m + 1]
            np.maximum(r, 1e-200, out=r)
            np.reciprocal(r, out=r)
            den = np.einsum("bj,bj->b", wt[m], r)
            num = np.einsum("bj,bj,bj->b", w[m], pt, r)
            ok = den > 0
            if ok.all():
                p[m] = num / den
                continue
            zermelo = won[m] / np.maximum(np.einsum("bj,bj->b", w[m] + wt[m], r), 1e-300)
            with np.errstate(divide="ignore", invalid="ignore"):
                p[m] = np.where(ok, num / den, np.where(pres[m], zermelo, p[m]))
        p /= p.sum(axis=0, keepdims=True)
        delta = np.where(pres, np.abs(p - prev), 0.0).max(axis=0)
        done = delta < tol
        if done.any():
            out[active[done]] = np.where(pres[:, done], p[:, done], np.nan).T
            keep = ~done
            if not keep.any():
                return out
            active = active[keep]
            w, wt, won, pres, p = (np.ascontiguousarray(x[:, keep]) for x in (w, wt, won, pres, p))
    out[active] = np.where(pres, p, np.nan).T
    return out


def _renormalise_present(scores: np.ndarray) -> np.ndarray:
    return scores / np.nansum(scores, axis=1, keepdims=True)


def bootstrap_bradley_terry(
    table: PairTable,
    init: pd.Series | np.ndarray,
    rounds: int = 1000,
    seed: int = 0,
    method: Method = "multinomial",
    level: float = 0.95,
    prior: float = 0.0,
    tie_weight: float = 0.5,
    tol: float = BOOT_TOL,
    max_iter: int = BOOT_MAX_ITER,
    batch_size: int | None = None,
) -> BootstrapResult:
    """Seeded bootstrap of Bradley–Terry scores over `rounds` reweightings of `table`.

    `init` is the full-data fit (warm start, and the relative scale of parts that a resample disconnects).
    Weighted tables are resampled by comparison count; each cell keeps its mean weight per comparison.
    """
    if int(rounds) < 0:
        raise RankingError(f"rounds must be >= 0, got {rounds!r}")
    if method not in ("multinomial", "poisson"):
        raise RankingError(f"method must be 'multinomial' or 'poisson', got {method!r}")
    if not 0 < level < 1:
        raise RankingError(f"level must be between 0 and 1, got {level!r}")
    n = table.n_models
    init = np.asarray(init, dtype=np.float64)
    samples = np.full((int(rounds), n), np.nan)
    if rounds == 0:
        return BootstrapResult(samples, table.models, level)
    rng = np.random.default_rng(seed)
    flat_counts = table.counts.ravel()
    cells = np.flatnonzero(flat_counts)
    probs = flat_counts[cells] / flat_counts[cells].sum()
    unit = table.weights.ravel()[cells] / flat_counts[cells]
    prior_credit = prior * tie_weight * (table.counts.sum(axis=1) > 0)
    if batch_size is None:
        batch_size = max(1, min(256, _BATCH_BYTES // (8 * n * n)))
    if n <= _DENSE_MAX_MODELS:
        for start in range(0, int(rounds), batch_size):
            size = min(batch_size, int(rounds) - start)
            w = _round_weights(table, method, size, rng, cells, probs, unit)
            credit = _dense_credit(table, w, tie_weight, prior_credit)
            samples[start : start + size] = newman_dense_batch(credit, init, tol, max_iter)
    else:  # many models: one sparse fit per round (same equations, pair-list kernel)
        from .bt import newman_iteration

        for r in range(int(rounds)):
            w = _round_weights(table, method, 1, rng, cells, probs, unit)[0]
            wij = w[:, I_WINS] + tie_weight * w[:, TIE] + prior_credit
            wji = w[:, J_WINS] + tie_weight * w[:, TIE] + prior_credit
            seen = np.bincount(np.concatenate([table.i, table.j]), np.concatenate([wij + wji] * 2), n) > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                p, _, _ = newman_iteration(table.i, table.j, wij, wji, n, tol, max_iter, init=init)
            samples[r] = np.where(seen & np.isfinite(p), p, np.nan)
    return BootstrapResult(_renormalise_present(samples), table.models, level)
