"""Data selection: DS2's rule and the baselines it is compared with.

Every function returns row indices in selection order (no repeats), at most `target_size` of them; when
fewer rows are eligible than requested, all eligible rows are returned (never padded).
"""

from __future__ import annotations

import numpy as np


def _check_target(target_size) -> int:
    if isinstance(target_size, bool) or not isinstance(target_size, int | np.integer) or target_size < 0:
        raise ValueError(f"target_size must be a non-negative integer, got {target_size!r}")
    return int(target_size)


def _eligible_mask(eligible, n: int) -> np.ndarray:
    if eligible is None:
        return np.ones(n, dtype=bool)
    mask = np.asarray(eligible, dtype=bool)
    if mask.shape != (n,):
        raise ValueError(f"eligible must be a boolean mask of length {n}, got shape {mask.shape}")
    return mask


def apply_curation(scores, suggested_scores, confidence, threshold: float = 0.5) -> np.ndarray:
    """Scores with each proposal of confidence >= threshold applied (DS2 uses 0.5)."""
    scores = np.asarray(scores)
    suggested = np.asarray(suggested_scores)
    conf = np.asarray(confidence, dtype=np.float64)
    if not (scores.shape == suggested.shape == conf.shape) or scores.ndim != 1:
        raise ValueError(f"scores, suggested_scores and confidence must be 1-D of one length; got "
                         f"{scores.shape}, {suggested.shape}, {conf.shape}")
    return np.where(np.nan_to_num(conf, nan=0.0) >= threshold, suggested, scores)


def select(scores, rare_scores, target_size: int, *, suggested_scores=None, confidence=None,
           confidence_threshold: float = 0.5, eligible=None, num_classes: int | None = None) -> np.ndarray:
    """DS2 selection: optionally apply curations (confidence >= threshold), then take whole score buckets
    from the highest score down; the bucket that would overflow `target_size` contributes its rarest rows
    (highest rare score first; ties to the lower row index; NaN rareness counts as least rare).

    Within a bucket taken whole rows come in index order.
    """
    target = _check_target(target_size)
    s = np.asarray(scores)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    if (suggested_scores is None) != (confidence is None):
        raise ValueError("pass suggested_scores and confidence together (or neither)")
    if suggested_scores is not None:
        s = apply_curation(s, suggested_scores, confidence, confidence_threshold)
    if not np.issubdtype(s.dtype, np.integer):
        if not np.all(np.isfinite(s)) or np.any(s != np.round(s)):
            raise ValueError("scores must be whole numbers (score classes)")
        s = s.astype(np.int64)
    rare = np.asarray(rare_scores, dtype=np.float64)
    if rare.shape != s.shape:
        raise ValueError(f"rare_scores must match scores in length ({s.size}), got shape {rare.shape}")
    mask = _eligible_mask(eligible, s.size)
    if num_classes is not None and mask.any() and (s[mask].min() < 0 or s[mask].max() >= num_classes):
        raise ValueError(f"scores must lie in [0, {num_classes})")
    chosen: list[np.ndarray] = []
    left = target
    for value in np.unique(s[mask])[::-1]:
        if left <= 0:
            break
        bucket = np.flatnonzero(mask & (s == value))
        if bucket.size <= left:
            chosen.append(bucket)
            left -= bucket.size
        else:
            key = np.where(np.isnan(rare[bucket]), -np.inf, rare[bucket])
            order = np.lexsort((bucket, -key))  # rarest first, then lower index
            chosen.append(bucket[order[:left]])
            left = 0
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


def select_random(n: int, target_size: int, *, seed: int = 0, eligible=None) -> np.ndarray:
    """Uniform random subset (the random baseline)."""
    target = _check_target(target_size)
    pool = np.flatnonzero(_eligible_mask(eligible, int(n)))
    rng = np.random.default_rng(seed)
    return rng.permutation(pool)[:target]


def select_longest(lengths, target_size: int, *, eligible=None) -> np.ndarray:
    """Longest completions first ("Long Is More for Alignment", Zhao et al. 2024); ties to lower index."""
    target = _check_target(target_size)
    lens = np.asarray(lengths, dtype=np.float64)
    if lens.ndim != 1 or not np.all(np.isfinite(lens)):
        raise ValueError("lengths must be a 1-D array of finite numbers")
    mask = _eligible_mask(eligible, lens.size)
    pool = np.flatnonzero(mask)
    order = np.lexsort((pool, -lens[pool]))
    return pool[order[:target]]


def select_raw_score(scores, target_size: int, *, min_score=None, seed: int = 0, eligible=None) -> np.ndarray:
    """Raw judge scores, uncurated (AlpaGasus-style filter): keep rows with score >= `min_score` if given,
    highest score first, ties broken at random (seeded)."""
    target = _check_target(target_size)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    mask = _eligible_mask(eligible, s.size) & ~np.isnan(s)
    if min_score is not None:
        mask &= s >= min_score
    pool = np.flatnonzero(mask)
    tiebreak = np.random.default_rng(seed).random(pool.size)
    order = np.lexsort((tiebreak, -s[pool]))
    return pool[order[:target]]


def select_diversity(target_size: int, *, embeddings=None, rare_scores=None, method: str = "kcenter",
                     seed: int = 0, eligible=None, block_rows: int = 65536) -> np.ndarray:
    """Diversity only, ignoring quality scores.

    method="kcenter": greedy k-center (farthest point first) on cosine distance from a random start; cost
    O(n * d * target_size), fine for thousands of picks. method="rareness": the rarest rows by DS2's
    rare score (needs `rare_scores`), O(n log n).
    """
    target = _check_target(target_size)
    if method == "rareness":
        if rare_scores is None:
            raise ValueError("method='rareness' needs rare_scores")
        rare = np.asarray(rare_scores, dtype=np.float64)
        pool = np.flatnonzero(_eligible_mask(eligible, rare.size) & ~np.isnan(rare))
        order = np.lexsort((pool, -rare[pool]))
        return pool[order[:target]]
    if method != "kcenter":
        raise ValueError(f"method must be 'kcenter' or 'rareness', got {method!r}")
    if embeddings is None:
        raise ValueError("method='kcenter' needs embeddings")
    import torch

    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D, got shape {x.shape}")
    mask = _eligible_mask(eligible, x.shape[0]) & np.isfinite(x).all(axis=1)
    norms = np.linalg.norm(x, axis=1)
    mask &= norms > 0
    pool = np.flatnonzero(mask)
    if target == 0 or pool.size == 0:
        return np.zeros(0, dtype=np.int64)
    xt = torch.from_numpy(x[pool] / norms[pool, None])
    best = torch.full((pool.size,), float("inf"))  # distance to the nearest chosen centre
    rng = np.random.default_rng(seed)
    current = int(rng.integers(pool.size))
    chosen = []
    with torch.inference_mode():
        for _ in range(min(target, pool.size)):
            chosen.append(current)
            best[current] = -1.0
            for s in range(0, pool.size, block_rows):
                d = 1.0 - xt[s:s + block_rows] @ xt[current]
                torch.minimum(best[s:s + block_rows], d, out=best[s:s + block_rows])
            current = int(best.argmax())
    return pool[np.asarray(chosen, dtype=np.int64)]


def select_score_first(scores, target_size: int, *, embeddings, max_similarity: float = 0.9,
                       rare_scores=None, eligible=None) -> np.ndarray:
    """DEITA-style selection (Liu et al. 2024, "Repr Filter"): rows from the highest score down (ties: rarer
    first, then lower index), each kept only if its cosine similarity to every row kept so far is at most
    `max_similarity` (DEITA's threshold 0.9), until `target_size` rows are kept or the pool ends. Near
    duplicates of a better example are skipped, so the subset can be smaller than the target."""
    target = _check_target(target_size)
    s = np.asarray(scores, dtype=np.float64)
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != s.size:
        raise ValueError(f"embeddings must be (len(scores), dim), got shape {x.shape} for {s.size} scores")
    rare = np.zeros(s.size) if rare_scores is None else np.nan_to_num(np.asarray(rare_scores, float), nan=-1)
    pool = np.flatnonzero(_eligible_mask(eligible, s.size) & np.isfinite(s))
    order = pool[np.lexsort((pool, -rare[pool], -s[pool]))]
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    kept: list[int] = []
    for i in order:
        if len(kept) >= target:
            break
        if not kept or float((unit[kept] @ unit[i]).max()) <= max_similarity:
            kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)
