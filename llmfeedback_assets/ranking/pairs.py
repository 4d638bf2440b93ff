"""Aggregate once: pairwise comparisons -> one table of unique (model pair, outcome) counts.

Every fit in this package (Bradley–Terry, Newman, win rates, the bootstrap) reads this table instead of the
raw rows, so a million comparisons among 130 models become at most 130·129/2 pairs × 3 outcomes, built in a
single vectorized numpy pass (factorize + bincount).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import RankingError, show

# Outcome columns of PairTable.counts / .weights, for the pair (i, j) with i < j.
I_WINS, J_WINS, TIE = 0, 1, 2

LEFT_RIGHT_LABELS = ("left", "right", "tie")
MODEL_AB_LABELS = ("model_a", "model_b", "tie")

_DENSE_KEY_LIMIT = 20_000_000  # bincount over n*n*3 keys while that stays this small; np.unique beyond


def _as_array(values, name: str) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """A 1-D array pd.factorize can take without copying (categoricals keep their codes)."""
    if isinstance(values, pd.Series | pd.Index):
        if isinstance(values.dtype, pd.api.extensions.ExtensionDtype):
            return values.array
        return values.to_numpy()
    if isinstance(values, pd.api.extensions.ExtensionArray):
        return values
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise RankingError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def encode_winners(winner, labels: Sequence[str] = LEFT_RIGHT_LABELS, field: str = "winner") -> np.ndarray:
    """Map winner labels (left-won, right-won, tie) to codes 0, 1, 2; unknown labels raise naming the row."""
    arr = _as_array(winner, field)
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    lookup = {label: k for k, label in enumerate(labels)}
    mapped = np.array([lookup.get(u, -1) for u in uniques], dtype=np.int8)
    out = mapped[codes] if len(uniques) else np.full(len(codes), -1, dtype=np.int8)
    out[codes < 0] = -1
    bad = np.flatnonzero(out < 0)
    if bad.size:
        first = int(bad[0])
        value = None if codes[first] < 0 else uniques[codes[first]]
        unknown = sorted({str(uniques[c]) for c in np.unique(codes[bad]) if c >= 0})
        raise RankingError(
            f"{field}: unknown label {show(value)} at row {first} ({bad.size} bad rows; unknown labels "
            f"{unknown}); expected one of {list(labels)}"
        )
    return out


def factorize_models(left, right) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Integer codes for both sides against one shared index (order of first appearance, left side first)."""
    la, ra = _as_array(left, "left"), _as_array(right, "right")
    if len(la) != len(ra):
        raise RankingError(f"left and right have different lengths ({len(la)} != {len(ra)})")
    lc, lu = pd.factorize(la, use_na_sentinel=True)
    rc, ru = pd.factorize(ra, use_na_sentinel=True)
    for name, codes in (("left", lc), ("right", rc)):
        missing = np.flatnonzero(codes < 0)
        if missing.size:
            raise RankingError(f"{name}: missing model name at row {int(missing[0])} ({missing.size} rows)")
    lu = pd.Index(np.asarray(lu, dtype=object))
    ru = pd.Index(np.asarray(ru, dtype=object))
    index = lu.append(ru).unique()
    lmap = index.get_indexer(lu)
    rmap = index.get_indexer(ru)
    return lmap[lc], rmap[rc], index


def check_weights(weights, n: int) -> np.ndarray:
    """Row weights as float64; negative, NaN or infinite weights raise naming the first bad row."""
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise RankingError(f"weights must have one value per comparison ({n}), got shape {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        first = int(bad[0])
        raise RankingError(
            f"weights: value {show(w[first])} at row {first} is not a finite non-negative number "
            f"({bad.size} bad rows)"
        )
    return w


@dataclass(frozen=True)
class PairTable:
    """Unique model pairs (i < j) with comparison counts and summed weights per outcome.

    `counts[k, o]` is the number of comparisons of pair k with outcome o (I_WINS, J_WINS, TIE) and
    `weights[k, o]` their summed weight (equal to counts when no weights were given).
    """

    models: pd.Index
    i: np.ndarray
    j: np.ndarray
    counts: np.ndarray
    weights: np.ndarray

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n_comparisons(self) -> int:
        return int(self.counts.sum())

    def credit(
        self, weights: np.ndarray | None = None, tie_weight: float = 0.5
    ) -> tuple[np.ndarray, np.ndarray]:
        """Win credit of i over j and of j over i per pair; ties count `tie_weight` of a win each way.

        `weights` may be (P, 3) or a batch (B, P, 3) of reweighted outcome totals (the bootstrap).
        """
        w = self.weights if weights is None else weights
        wij = w[..., I_WINS] + tie_weight * w[..., TIE]
        wji = w[..., J_WINS] + tie_weight * w[..., TIE]
        return wij, wji

    def per_model(self, weights: np.ndarray | None = None) -> pd.DataFrame:
        """Wins, losses, ties and comparisons per model (weighted totals)."""
        w = self.weights if weights is None else weights
        n = self.n_models
        wins = np.bincount(self.i, w[:, I_WINS], n) + np.bincount(self.j, w[:, J_WINS], n)
        losses = np.bincount(self.i, w[:, J_WINS], n) + np.bincount(self.j, w[:, I_WINS], n)
        ties = np.bincount(self.i, w[:, TIE], n) + np.bincount(self.j, w[:, TIE], n)
        return pd.DataFrame(
            {"wins": wins, "losses": losses, "ties": ties, "n": wins + losses + ties}, index=self.models
        )

    def to_frame(self) -> pd.DataFrame:
        """Long form: one row per (model_a, model_b, outcome) with a non-zero count, model_a < model_b in
        index order."""
        k, o = np.nonzero(self.counts)
        names = np.asarray(self.models, dtype=object)
        outcome = np.array(["model_a", "model_b", "tie"], dtype=object)[o]
        return pd.DataFrame(
            {
                "model_a": names[self.i[k]],
                "model_b": names[self.j[k]],
                "outcome": outcome,
                "count": self.counts[k, o].astype(np.int64),
                "weight": self.weights[k, o],
            }
        )

    def components(self) -> list[np.ndarray]:
        """Connected parts of the comparison graph (pairs with positive weight), largest first."""
        n = self.n_models
        has = self.weights.sum(axis=1) > 0
        from scipy.sparse import coo_matrix  # imported by the steps that rank, not when the code loads
        from scipy.sparse.csgraph import connected_components

        graph = coo_matrix((np.ones(int(has.sum())), (self.i[has], self.j[has])), shape=(n, n))
        n_comp, labels = connected_components(graph, directed=False)
        parts = [np.flatnonzero(labels == c) for c in range(n_comp)]
        return sorted(parts, key=lambda p: (-len(p), int(p[0])))

    def subset(self, members: np.ndarray) -> PairTable:
        """The table restricted to pairs inside `members` (model codes), re-indexed to 0..len(members)-1."""
        remap = np.full(self.n_models, -1, dtype=np.int64)
        remap[members] = np.arange(len(members))
        keep = (remap[self.i] >= 0) & (remap[self.j] >= 0)
        return PairTable(
            self.models[members],
            remap[self.i[keep]],
            remap[self.j[keep]],
            self.counts[keep],
            self.weights[keep],
        )


def aggregate_codes(
    lc: np.ndarray, rc: np.ndarray, outcome: np.ndarray, index: pd.Index, weights: np.ndarray | None = None
) -> PairTable:
    """Build the PairTable from integer codes; `outcome` 0 = left won, 1 = right won, 2 = tie."""
    n_rows = len(lc)
    if n_rows == 0:
        raise RankingError("no comparisons: the input is empty")
    w = check_weights(weights, n_rows)
    same = np.flatnonzero(lc == rc)
    if same.size:
        first = int(same[0])
        raise RankingError(
            f"row {first}: model {show(index[lc[first]])} is compared with itself ({same.size} such rows); "
            "drop self-comparisons before ranking"
        )
    n = len(index)
    swap = lc > rc
    i = np.where(swap, rc, lc).astype(np.int64)
    j = np.where(swap, lc, rc).astype(np.int64)
    # In (i, j) orientation a left win is a j-win when the row was swapped; ties stay ties.
    o = outcome.astype(np.int64)
    o = np.where(swap & (o < 2), 1 - o, o)
    pair_key = i * n + j
    if n * n * 3 <= _DENSE_KEY_LIMIT:
        key = pair_key * 3 + o
        counts_full = np.bincount(key, minlength=n * n * 3).reshape(n * n, 3)
        weights_full = (
            counts_full.astype(np.float64)
            if weights is None
            else np.bincount(key, w, minlength=n * n * 3).reshape(n * n, 3)
        )
        present = np.flatnonzero(counts_full.sum(axis=1))
        counts = counts_full[present]
        wsum = weights_full[present]
        pairs = present
    else:
        pairs, inverse = np.unique(pair_key, return_inverse=True)
        key = inverse * 3 + o
        counts = np.bincount(key, minlength=len(pairs) * 3).reshape(-1, 3)
        wsum = (
            counts.astype(np.float64)
            if weights is None
            else np.bincount(key, w, minlength=len(pairs) * 3).reshape(-1, 3)
        )
    if not np.isfinite(wsum).all():
        raise RankingError("weights: summed weights overflow to infinity; rescale the weights")
    if wsum.sum() <= 0:
        raise RankingError("no comparisons: all weights are zero")
    return PairTable(index, pairs // n, pairs % n, counts.astype(np.int64), wsum.astype(np.float64))


def aggregate(left, right, winner, weights=None, labels: Sequence[str] = LEFT_RIGHT_LABELS) -> PairTable:
    """Reduce comparisons to the PairTable in one vectorized pass.

    `winner` holds `labels` = (left-won, right-won, tie), by default ("left", "right", "tie").
    """
    lc, rc, index = factorize_models(left, right)
    outcome = encode_winners(winner, labels)
    if len(outcome) != len(lc):
        raise RankingError(f"winner has {len(outcome)} rows but left/right have {len(lc)}")
    return aggregate_codes(lc, rc, outcome, index, weights)


def aggregate_frame(comparisons: pd.DataFrame, weights=None) -> PairTable:
    """PairTable from a frame with model_a, model_b, winner in {model_a, model_b, tie}."""
    missing = [c for c in ("model_a", "model_b", "winner") if c not in comparisons.columns]
    if missing:
        raise RankingError(f"comparisons: missing columns {missing} (have {list(comparisons.columns)})")
    return aggregate(
        comparisons["model_a"], comparisons["model_b"], comparisons["winner"], weights, labels=MODEL_AB_LABELS
    )
