"""Bootstrap confidence intervals for Bradley–Terry scores by reweighting the aggregated pair table.

Resampling N comparisons with replacement is the same as drawing the count of every (pair, outcome) cell
from a multinomial over the cells (method="multinomial"); the Poisson bootstrap gives every comparison a
Poisson(1) weight, i.e. Poisson(count) per cell (method="poisson"). Either way a round never touches the raw
rows, and rounds are fitted in fixed-size batches on dense (batch, n, n) credit matrices, warm-started from
the full-data fit, so working memory depends on the batch size and not on the number of rounds. What is kept
per round is one score per model (rounds × models × 8 bytes), needed for exact percentiles.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from .errors import RankingError
from .pairs import I_WINS, J_WINS, TIE, PairTable

Method = Literal["multinomial", "poisson"]

BOOT_TOL = 1e-8  # absolute, on scores summing to 1: far below any reported digit of an interval
BOOT_MAX_ITER = 1_000
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


class PoissonSampler:
    """Exact Poisson(k) draws for the integer counts k of the cells, by Walker's alias method.

    Cells sharing a count share one table over 0..k + 10·sqrt(k) + 30 (the mass beyond is below 1e-20), and a
    draw costs one uniform, two lookups and a compare: about half of numpy's general Poisson sampler, which
    is the largest cost of a bootstrap round. With too many distinct counts it defers to `rng.poisson`.
    """

    def __init__(self, counts: np.ndarray, max_tables: int = 2_000):
        self.counts = np.asarray(counts, dtype=np.int64)
        values, inverse = np.unique(self.counts, return_inverse=True)
        self.use_alias = len(values) <= min(max_tables, max(1, len(self.counts) // 4))
        self.groups: list[tuple[np.ndarray, float, np.ndarray, np.ndarray]] = []
        if not self.use_alias:
            return
        from scipy import stats  # scipy.stats takes ~0.4 s to import: only the steps that bootstrap pay it

        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(values) + 1))
        for g, lam in enumerate(values.tolist()):
            top = int(lam + 10 * np.sqrt(lam) + 30)
            pmf = stats.poisson.pmf(np.arange(top + 1), lam)
            prob, alias = _alias_table(pmf / pmf.sum())
            self.groups.append((order[bounds[g] : bounds[g + 1]], float(top + 1), prob, alias))

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if not self.use_alias:
            return rng.poisson(self.counts, size=(size, len(self.counts)))
        out = np.empty((size, len(self.counts)), dtype=np.int64)
        for cells, width, prob, alias in self.groups:
            u = rng.random((size, len(cells)))
            u *= width
            idx = u.astype(np.int64)
            u -= idx  # the fractional part is a fresh uniform for the accept test
            out[:, cells] = np.where(u < prob[idx], idx, alias[idx])
        return out


def _alias_table(pmf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias table: column k keeps itself with probability prob[k], else yields alias[k]."""
    k = len(pmf)
    scaled = pmf * k
    prob = np.ones(k)
    alias = np.arange(k)
    small = [i for i in range(k) if scaled[i] < 1.0]
    large = [i for i in range(k) if scaled[i] >= 1.0]
    while small and large:
        s_i, l_i = small.pop(), large.pop()
        prob[s_i] = scaled[s_i]
        alias[s_i] = l_i
        scaled[l_i] -= 1.0 - scaled[s_i]
        (small if scaled[l_i] < 1.0 else large).append(l_i)
    return prob, alias


def _draw_counts(
    rng: np.random.Generator,
    method: Method,
    counts: np.ndarray,
    total: int,
    size: int,
    sampler: PoissonSampler | None = None,
) -> np.ndarray:
    """(size, C) resampled counts of the C non-empty cells.

    Poisson: independent Poisson(count) per cell. Multinomial: the same Poisson draw, then corrected to
    exactly `total` comparisons — independent Poissons conditioned on their sum are multinomial, so removing
    the surplus items uniformly at random (or adding the shortfall as fresh categorical draws) leaves an exact
    Multinomial(total, count/total) sample at the cost of ~sqrt(total) extra draws instead of one binomial
    per cell.
    """
    x = (sampler or PoissonSampler(counts)).draw(rng, size)
    if method == "poisson":
        return x
    cdf = np.cumsum(counts)
    for r in range(size):
        row = x[r]
        surplus = int(row.sum()) - total
        if surplus > 0:
            drop = rng.choice(total + surplus, surplus, replace=False)
            np.subtract.at(row, np.searchsorted(np.cumsum(row), drop, side="right"), 1)
        elif surplus < 0:
            np.add.at(row, np.searchsorted(cdf, rng.integers(0, total, -surplus), side="right"), 1)
    return x


def _round_weights(
    table: PairTable,
    method: Method,
    size: int,
    rng: np.random.Generator,
    cells: np.ndarray,
    unit: np.ndarray | None,
    sampler: PoissonSampler | None = None,
) -> np.ndarray:
    """(size, P, 3) reweighted outcome totals for `size` rounds (`unit` None: unweighted table)."""
    drawn = _draw_counts(rng, method, table.counts.ravel()[cells], table.n_comparisons, size, sampler)
    out = np.zeros((size, table.counts.size))
    out[:, cells] = drawn if unit is None else drawn * unit
    return out.reshape(size, len(table.i), 3)


def _dense_credit(
    table: PairTable,
    drawn: np.ndarray,
    cells: np.ndarray,
    unit: np.ndarray | None,
    tie_weight: float,
    prior_credit: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(credit, credit_t), both (n, B, n), from (B, C) resampled cell counts: credit[i, b, j] is i's credit
    against j in round b and credit_t[i, b, j] is j's credit against i, so both of model i's sums read one
    contiguous block."""
    b, n, n_pairs = drawn.shape[0], table.n_models, len(table.i)
    per_cell = np.ascontiguousarray(drawn.T, dtype=np.float64)  # (C, B): one row per cell
    if unit is not None:
        per_cell *= unit[:, None]
    pair, outcome = np.divmod(cells, 3)
    wij = np.zeros((n_pairs, b))
    wji = np.zeros((n_pairs, b))
    wij[pair[outcome == I_WINS]] = per_cell[outcome == I_WINS]
    wji[pair[outcome == J_WINS]] = per_cell[outcome == J_WINS]
    ties = outcome == TIE
    half = tie_weight * per_cell[ties]
    wij[pair[ties]] += half  # at most one tie cell per pair, so no index repeats
    wji[pair[ties]] += half
    wij += prior_credit[:, None]
    wji += prior_credit[:, None]
    credit = np.zeros((n, b, n))
    credit[table.i, :, table.j] = wij
    credit[table.j, :, table.i] = wji
    credit_t = np.zeros((n, b, n))
    credit_t[table.j, :, table.i] = wij
    credit_t[table.i, :, table.j] = wji
    return credit, credit_t


def newman_dense_batch(
    credit: np.ndarray,
    init: np.ndarray,
    tol: float = BOOT_TOL,
    max_iter: int = BOOT_MAX_ITER,
    credit_t: np.ndarray | None = None,
) -> np.ndarray:
    """Bradley–Terry fits of a batch of dense credit matrices laid out (n, B, n); returns (B, n) scores.

    Gauss–Seidel over models, vectorized across the B rounds; scores sum to 1 and models without
    comparisons in a round come back NaN. A round whose maximum does not exist (a model that never lost)
    takes Zermelo's update for the undefeated model and stops at `max_iter`, so its extreme scores enter the
    percentiles instead of failing the run. Once half the active rounds have converged the batch is
    compacted to the rest. `credit_t` is credit transposed per round (built here when not given).
    """
    n, b, _ = credit.shape
    w = credit
    wt = np.ascontiguousarray(credit.transpose(2, 1, 0)) if credit_t is None else credit_t
    won = w.sum(axis=2).T  # (B, n)
    pres = (won + wt.sum(axis=2).T) > 0
    out = np.full((b, n), np.nan)
    p = np.broadcast_to(np.asarray(init, dtype=np.float64), (b, n)).copy()
    p /= p.sum(axis=1, keepdims=True)
    active = np.arange(b)
    finished = np.zeros(b, dtype=bool)
    r = np.empty_like(p)
    for _ in range(int(max_iter)):
        prev = p.copy()
        for m in range(n):
            np.add(p, p[:, m : m + 1] + 1e-200, out=r)  # the tiny term keeps 1/r finite when both are 0
            np.reciprocal(r, out=r)
            den = np.einsum("bj,bj->b", wt[m], r)
            r *= p
            num = np.einsum("bj,bj->b", w[m], r)
            if den.all():
                p[:, m] = num / den
                continue
            # An undefeated model in some round: Zermelo's update (credit / sum n_ij / (p_i + p_j)) instead.
            np.add(p, p[:, m : m + 1] + 1e-200, out=r)
            np.reciprocal(r, out=r)
            zermelo = won[:, m] / np.maximum(np.einsum("bj,bj->b", w[m] + wt[m], r), 1e-300)
            with np.errstate(divide="ignore", invalid="ignore"):
                p[:, m] = np.where(den > 0, num / den, np.where(pres[:, m], zermelo, p[:, m]))
        p /= p.sum(axis=1, keepdims=True)
        delta = np.where(pres, np.abs(p - prev), 0.0).max(axis=1)
        newly = (delta < tol) & ~finished
        if newly.any():
            out[active[newly]] = np.where(pres[newly], p[newly], np.nan)
            finished |= newly
            if finished.all():
                return out
            if 2 * finished.sum() >= len(finished):
                keep = ~finished
                active, finished = active[keep], finished[keep]
                w, wt = np.ascontiguousarray(w[:, keep]), np.ascontiguousarray(wt[:, keep])
                won, pres, p = won[keep], pres[keep], p[keep]
                r = np.empty_like(p)
    rest = ~finished
    out[active[rest]] = np.where(pres[rest], p[rest], np.nan)
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
    n_jobs: int = 1,
) -> BootstrapResult:
    """Seeded bootstrap of Bradley–Terry scores over `rounds` reweightings of `table`.

    `init` is the full-data fit (warm start, and the relative scale of parts that a resample disconnects).
    Weighted tables are resampled by comparison count; each cell keeps its mean weight per comparison.
    Batch k draws from its own generator spawned from `seed`, so results depend on (seed, batch_size) and
    not on `n_jobs` (threads running batches side by side; numpy releases the GIL in the heavy loops).
    """
    if int(rounds) < 0:
        raise RankingError(f"rounds must be >= 0, got {rounds!r}")
    if method not in ("multinomial", "poisson"):
        raise RankingError(f"method must be 'multinomial' or 'poisson', got {method!r}")
    if not 0 < level < 1:
        raise RankingError(f"level must be between 0 and 1, got {level!r}")
    if int(n_jobs) < 1:
        raise RankingError(f"n_jobs must be at least 1, got {n_jobs!r}")
    rounds = int(rounds)
    n = table.n_models
    init = np.asarray(init, dtype=np.float64)
    samples = np.full((rounds, n), np.nan)
    if rounds == 0:
        return BootstrapResult(samples, table.models, level)
    flat_counts = table.counts.ravel()
    cells = np.flatnonzero(flat_counts)
    unit = table.weights.ravel()[cells] / flat_counts[cells]
    unit = None if np.array_equal(unit, np.ones_like(unit)) else unit
    prior_credit = prior * tie_weight * (table.counts.sum(axis=1) > 0)
    dense = n <= _DENSE_MAX_MODELS
    if batch_size is None:
        batch_size = max(1, min(256, _BATCH_BYTES // (8 * n * n))) if dense else 1
    starts = list(range(0, rounds, int(batch_size)))
    sampler = PoissonSampler(flat_counts[cells])
    generators = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(starts))]

    def run(k: int) -> None:
        start = starts[k]
        size = min(int(batch_size), rounds - start)
        if dense:
            drawn = _draw_counts(
                generators[k], method, flat_counts[cells], table.n_comparisons, size, sampler
            )
            credit, credit_t = _dense_credit(table, drawn, cells, unit, tie_weight, prior_credit)
            del drawn
            samples[start : start + size] = newman_dense_batch(credit, init, tol, max_iter, credit_t)
            return
        from .bt import newman_iteration  # many models: one sparse fit per round, same equations

        w = _round_weights(table, method, size, generators[k], cells, unit, sampler)
        for r in range(size):
            wij = w[r, :, I_WINS] + tie_weight * w[r, :, TIE] + prior_credit
            wji = w[r, :, J_WINS] + tie_weight * w[r, :, TIE] + prior_credit
            seen = np.bincount(np.concatenate([table.i, table.j]), np.concatenate([wij + wji] * 2), n) > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                p, _, _ = newman_iteration(table.i, table.j, wij, wji, n, tol, max_iter, init=init)
            samples[start + r] = np.where(seen & np.isfinite(p), p, np.nan)

    if n_jobs == 1 or len(starts) == 1:
        for k in range(len(starts)):
            run(k)
    else:
        with ThreadPoolExecutor(max_workers=int(n_jobs)) as pool:
            list(pool.map(run, range(len(starts))))
    return BootstrapResult(_renormalise_present(samples), table.models, level)
