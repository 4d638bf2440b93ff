"""Score curation (DS2, Pang et al., ICLR 2025): estimate how a judge's quality scores are corrupted, find
the scores its neighbours disagree with, propose corrected scores with a confidence, and measure how rare
each example is. Pure numpy/torch (torch loads on the first `curate`); the Dagster assets call `curate` and
`select`.

Steps and the published defaults (all keyword options of `curate`):
1. Transition matrix (HOC, see hoc.py): `hoc_rounds`=50 random samples of up to `hoc_sample_size`=50,000
   (at most 90% of the data); each sampled point's 2 nearest sampled neighbours by cosine distance give a
   label triple; the averaged triple frequencies are solved for T and the clean prior p.
2. Detection (SimiFeat-rank): `detection_epochs`=51 fresh samples; each point's `k`=10 nearest (itself
   included, its own weight set to 2 s1 - s2) vote for labels weighted by similarity; the votes are
   L2-normalised and each point scored by -log(vote share of its own label). Per class c the points with
   the highest scores are flagged, as many as the noise rate 1 - T[c,c] p[c] / p_noisy[c] (clipped to
   [0.05, 0.95]) implies. Over epochs a point's noise level is (times flagged + 1) / (times sampled + 2),
   and it is flagged when that exceeds 0.5. Its suggested score is the most frequent vote winner among
   the other classes, smoothed (count + 1) / (total + K); confidence = that share x the noise level.
3. Rareness: mean cosine distance d to the `rare_k`=10 nearest neighbours, mapped by 2 / (1 + e^-d) - 1.

Known departures from the reference code (UCSC-REAL/DS2 on Docta), all deliberate:
- No dataset doubling. The reference loads every embedding chunk twice (`load_embedding(duplicate=True)`),
  so each point's nearest "neighbour" is often its own copy at distance 0; we use each point once.
- Duplicate rows (identical embeddings, which the text-hash cache gives duplicate texts) are collapsed to
  one point by default, for the same reason; see `duplicates`.
- Neighbours come from one exact neighbour graph instead of a dense sample x sample matrix per round
  (knn.py); neighbours within a sample are identical, up to fp32 rounding of near-ties.
- Consensus counts are divided by the actual sample size (the reference divides by the configured size,
  which under-normalises data sets smaller than 1.11 x sample_size).
- The solver runs in float64 and keeps its lowest-loss iterate (the reference's "best" T is a view of the
  live parameters, so it returns the last iterate), and after the published 1501 Adam steps at lr 0.1 it
  runs `hoc_polish_steps`=500 more with a decaying rate: at a constant lr 0.1 Adam circles the optimum and
  stops ~0.006 away from it in T even on exact consensus (hoc_polish_steps=0 restores the schedule).
- Rareness averages over 10 true neighbours; the reference's top-10 includes the point itself (and its
  copy), and rounds to 4 decimals.
- A point whose weighted vote is unanimous for its own score is never flagged; the reference flags such
  points when ties put them at the class's percentile threshold (their suggestion then has confidence
  < 0.2, so curated scores do not change).
- Classes that no row has are left out of the HOC solve: their row of T is reported as the identity and
  their clean prior as 0 (not identifiable from data that never shows them).
- With `groups` (the pipeline passes the instruction's id unless curation.neighbours_from_other_instructions
  is off), answers to one instruction are never each other's neighbours; a pool with one answer per
  instruction is unaffected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .select import select as _select

DUPLICATE_POLICIES = ("collapse", "keep", "error")
MISSING_POLICIES = ("error", "skip")
OUT_OF_RANGE_POLICIES = ("error", "clip")


class CurationInputError(ValueError):
    """Bad input to `curate`: the message names the argument, the rows and what to do."""


@dataclass
class CurationResult:
    """Per-class estimates and per-row outputs (length n, aligned with the input rows)."""

    num_classes: int
    transition_matrix: np.ndarray  # (K, K): P(noisy score = j | clean score = i)
    clean_prior: np.ndarray  # (K,)
    noisy_prior: np.ndarray  # (K,): observed score frequencies
    scores: np.ndarray  # (n,) input scores (after `out_of_range="clip"`; -1 where missing)
    suggested_scores: np.ndarray  # (n,) proposed score for flagged rows, else the input score
    confidence: np.ndarray  # (n,) confidence of the proposal; 0 where nothing is proposed
    curated_scores: np.ndarray  # (n,) input score, replaced by the proposal where confidence >= threshold
    noise_level: np.ndarray  # (n,) (times flagged + 1) / (times sampled + 2)
    flagged: np.ndarray  # (n,) bool: noise level > 0.5
    rare_scores: np.ndarray  # (n,) in [0, 1); NaN only for rows skipped with missing="skip"
    used: np.ndarray  # (n,) bool: row took part (False: skipped as missing)
    representative: np.ndarray  # (n,) index of the row whose duplicate group this row belongs to
    confidence_threshold: float
    hoc_loss: float
    consensus: tuple[np.ndarray, np.ndarray, np.ndarray]
    stats: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.scores.size)

    @property
    def noise_rate(self) -> float:
        """Estimated share of corrupted scores: 1 - sum_i p_i T_ii."""
        return float(1.0 - np.sum(self.clean_prior * np.diag(self.transition_matrix)))

    def select(self, target_size: int) -> np.ndarray:
        """DS2 selection on this result: curated buckets from the top, the overflowing one by rareness.
        Duplicate rows beyond the first of each group and skipped rows are never selected."""
        eligible = self.used & (self.representative == np.arange(self.n))
        return _select(self.curated_scores, self.rare_scores, target_size, eligible=eligible,
                       num_classes=self.num_classes)

    def histogram(self, curated: bool = True) -> np.ndarray:
        """Row counts per score class (of the rows that took part), before or after curation."""
        values = (self.curated_scores if curated else self.scores)[self.used]
        return np.bincount(values, minlength=self.num_classes)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({
            "score": self.scores, "suggested_score": self.suggested_scores, "confidence": self.confidence,
            "curated_score": self.curated_scores, "noise_level": self.noise_level, "flagged": self.flagged,
            "rare_score": self.rare_scores, "used": self.used, "representative": self.representative,
        })


def _rows_preview(rows: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (f", ... ({rows.size} rows)" if rows.size > limit else "")


def _check_scores(scores, n: int, num_classes: int, out_of_range: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer scores and a mask of rows whose score is missing (NaN, None, pandas NA)."""
    if hasattr(scores, "to_numpy"):  # pandas Series, including nullable Int64 with <NA>
        try:
            scores = scores.to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise CurationInputError(f"scores must be numbers: {exc}") from None
    raw = np.asarray(scores)
    if raw.ndim != 1 or raw.shape[0] != n:
        raise CurationInputError(f"scores must be a 1-D sequence with one score per embedding row ({n}); "
                                 f"got shape {raw.shape}")
    if raw.dtype == object:
        try:
            raw = np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise CurationInputError(f"scores must be numbers: {exc}") from None
    if raw.dtype == bool or not np.issubdtype(raw.dtype, np.number):
        raise CurationInputError(f"scores must be integers in [0, {num_classes}), got dtype {raw.dtype}")
    values = raw.astype(np.float64)
    missing = np.isnan(values)
    present = ~missing
    not_whole = present & (~np.isfinite(values) | (values != np.round(values)))
    if not_whole.any():
        bad = np.flatnonzero(not_whole)
        raise CurationInputError(f"scores must be whole numbers; rows {_rows_preview(bad)} hold "
                                 f"{values[bad[:3]].tolist()}")
    outside = np.flatnonzero(present & ((values < 0) | (values >= num_classes)))
    if outside.size:
        if out_of_range == "error":
            raise CurationInputError(
                f"scores must be classes in [0, {num_classes}); rows {_rows_preview(outside)} hold "
                f"{sorted(set(values[outside].astype(int).tolist()))[:6]}. Map judge ratings with "
                f"quality.to_class, or pass out_of_range='clip' to clip them into range.")
        values[outside] = np.clip(values[outside], 0, num_classes - 1)
    out = np.zeros(n, dtype=np.int64)
    out[present] = values[present].astype(np.int64)
    return out, missing


def _check_embeddings(embeddings) -> tuple[np.ndarray, np.ndarray]:
    """Float32 L2-normalised rows and a mask of unusable rows (non-finite or zero)."""
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise CurationInputError(f"embeddings must be a 2-D (n, d) array, got shape {x.shape}")
    if x.shape[1] < 1:
        raise CurationInputError("embeddings have 0 columns")
    if not np.issubdtype(x.dtype, np.number) or x.dtype == bool:
        raise CurationInputError(f"embeddings must be numeric, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    missing = ~np.isfinite(norms) | (norms == 0)  # a NaN/inf anywhere makes the norm non-finite
    out = x / np.where(missing, 1.0, norms).astype(np.float32)[:, None]
    out[missing] = 0.0
    return out, missing


def _duplicate_groups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row the first row with a bitwise-identical embedding, and the sorted unique first rows.

    Rows are grouped by a 64-bit hash of their bytes (much faster than sorting 1.5 kB keys), then every
    row is checked bit for bit against its group's first row."""
    bits = np.ascontiguousarray(x).view(np.uint32)
    rows = bits.view(np.dtype((np.void, bits.dtype.itemsize * bits.shape[1]))).ravel()
    h = np.fromiter((hash(r.tobytes()) for r in rows), dtype=np.int64, count=rows.size)
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    rep = first[inverse.ravel()]
    moved = np.flatnonzero(rep != np.arange(x.shape[0]))
    if moved.size and not np.array_equal(bits[moved], bits[rep[moved]]):  # a hash collision: sort exactly
        _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
        rep = first[inverse.ravel()]
    return rep, np.unique(rep)


def _group_mode(labels: np.ndarray, rep: np.ndarray, num_classes: int) -> np.ndarray:
    """Most common score per duplicate group (ties to the lower score, the conservative choice)."""
    counts = np.zeros((rep.max() + 1, num_classes), dtype=np.int64)
    np.add.at(counts, (rep, labels), 1)
    return counts.argmax(axis=1)[rep]


def _min_rows(k: int, rare_k: int) -> int:
    n = 3
    while int(0.9 * n) < max(k, 3) or n - 1 < rare_k:
        n += 1
    return n


def curate(embeddings, scores, num_classes: int, seed: int = 0, *,
           hoc_rounds: int = 50, hoc_sample_size: int = 50_000, hoc_steps: int = 1501, hoc_lr: float = 0.1,
           hoc_polish_steps: int = 500,
           detection_epochs: int = 51, detection_sample_size: int = 50_000, k: int = 10, rare_k: int = 10,
           confidence_threshold: float = 0.5, duplicates: str = "collapse", missing: str = "error",
           out_of_range: str = "error", knn_precision: str = "auto", device: str | None = None,
           groups=None, progress=None) -> CurationResult:
    """Curate noisy quality scores (ints in [0, num_classes)) given one embedding row per score.

    Bad input:
    - `duplicates`: "collapse" (default) treats bitwise-identical embedding rows as one point whose score is
      the group's most common one (ties: the lower); every row of the group gets the group's outputs.
      "keep" keeps them as separate points (the reference's behaviour, which inflates agreement between a
      copy and its twin and so makes T look cleaner), "error" refuses them.
    - `missing`: rows with a non-finite or all-zero embedding, or a NaN/None score (a judge reply that did
      not parse), raise unless missing="skip", which leaves them out: their curated score is their input
      score (-1 where it is missing), confidence 0, never flagged, rare score NaN, `used` False.
    - `out_of_range`: scores outside [0, num_classes) raise unless out_of_range="clip".
    - Fewer rows than the neighbourhoods need, or a single score class, raise CurationInputError.
    `groups`: optional label per row (e.g. the instruction's id): rows of one group are never each other's
    neighbours. DS2 assumes one answer per instruction; with several (one per responder), same-instruction
    answers are each other's nearest neighbours through the instruction's words whatever their quality, and
    their votes pull every answer towards the instruction's average score.
    `progress`: optional callable(str) for log lines (the asset passes its logger).
    """
    import torch  # here, not at import: `import llmfeedback_assets.definitions` must not load torch

    from . import hoc, knn

    timings: dict[str, float] = {}
    notes: list[str] = []
    log = progress or (lambda _msg: None)
    t0 = time.perf_counter()

    if not isinstance(num_classes, int | np.integer) or num_classes < 2:
        raise CurationInputError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    num_classes = int(num_classes)
    for name, value, allowed in (("duplicates", duplicates, DUPLICATE_POLICIES),
                                 ("missing", missing, MISSING_POLICIES),
                                 ("out_of_range", out_of_range, OUT_OF_RANGE_POLICIES)):
        if value not in allowed:
            raise CurationInputError(f"{name} must be one of {allowed}, got {value!r}")
    for name, value, low in (("hoc_rounds", hoc_rounds, 1), ("hoc_sample_size", hoc_sample_size, 3),
                             ("hoc_steps", hoc_steps, 1), ("hoc_polish_steps", hoc_polish_steps, 0),
                             ("detection_epochs", detection_epochs, 1),
                             ("detection_sample_size", detection_sample_size, 3), ("k", k, 3),
                             ("rare_k", rare_k, 1)):
        if not isinstance(value, int | np.integer) or value < low:
            raise CurationInputError(f"{name} must be an integer >= {low}, got {value!r}")
    if detection_sample_size < k:
        raise CurationInputError(f"detection_sample_size ({detection_sample_size}) must hold a point and its "
                                 f"k - 1 = {k - 1} neighbours")
    if not 0.0 <= confidence_threshold <= 1.0:
        raise CurationInputError(f"confidence_threshold must be in [0, 1], got {confidence_threshold}")

    x, emb_missing = _check_embeddings(embeddings)
    n = x.shape[0]
    labels, score_missing = _check_scores(scores, n, num_classes, out_of_range)
    if emb_missing.any() or score_missing.any():
        if missing == "error":
            parts = []
            if emb_missing.any():
                parts.append(f"embedding rows {_rows_preview(np.flatnonzero(emb_missing))} are missing "
                             "(non-finite or all zero)")
            if score_missing.any():
                parts.append(f"score rows {_rows_preview(np.flatnonzero(score_missing))} are missing (NaN)")
            raise CurationInputError("; ".join(parts) + ". Embed those texts / drop unparsed judgments, or "
                                     "pass missing='skip' to curate the other rows.")
        notes.append(f"{int((emb_missing | score_missing).sum())} rows skipped as missing")
    used = ~(emb_missing | score_missing)

    representative = np.arange(n)
    work_labels = labels.copy()
    if used.any():
        used_rows = np.flatnonzero(used)
        rep_local, _ = _duplicate_groups(x[used_rows])
        n_dup = int((rep_local != np.arange(used_rows.size)).sum())
        if n_dup:
            if duplicates == "error":
                dup_rows = used_rows[rep_local != np.arange(used_rows.size)]
                raise CurationInputError(f"rows {_rows_preview(dup_rows)} repeat an earlier row's embedding "
                                         "(duplicate texts); deduplicate them or pass duplicates='collapse'")
            if duplicates == "collapse":
                representative[used_rows] = used_rows[rep_local]
                work_labels[used_rows] = _group_mode(labels[used_rows], rep_local, num_classes)
                notes.append(f"{n_dup} duplicate rows collapsed into their first occurrence")
    points = np.flatnonzero(used & (representative == np.arange(n)))  # the points we curate on
    n_points = points.size
    need = _min_rows(k, rare_k)
    if n_points < need:
        raise CurationInputError(
            f"curation needs at least {need} distinct rows with embeddings and scores "
            f"(k={k} neighbours incl. "
            f"itself inside a 90% sample, rare_k={rare_k}); got {n_points} of {n} rows")
    y = work_labels[points]
    present = np.flatnonzero(np.bincount(y, minlength=num_classes))
    if present.size < 2:
        raise CurationInputError(
            f"all {n_points} scores are class {int(present[0])}; a transition matrix needs at least two "
            "distinct score classes")
    if n_points < 1000:
        notes.append(f"only {n_points} points: T from fewer than ~1000 points is a rough estimate")
    missing_classes = sorted(set(range(num_classes)) - set(present.tolist()))
    if missing_classes:
        notes.append(f"classes {missing_classes} never occur: their T row is the identity, clean prior 0")

    gp = None
    if groups is not None:
        codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)[1].ravel()
        if len(codes) != n:
            raise CurationInputError(f"groups has {len(codes)} labels for {n} rows")
        gp = codes[points]
        largest = int(np.bincount(gp).max())
        if largest == 1:
            gp = None  # one row per group: nothing to exclude
        elif int(0.9 * n_points) - largest < max(k, rare_k):
            notes.append(f"too few groups to keep a point's own group ({largest} rows) out of its "
                         "neighbours: groups ignored")
            gp = None
        else:
            notes.append(f"neighbours come from other groups only ({int(gp.max()) + 1} groups, up to "
                         f"{largest} rows each)")
    xp = torch.from_numpy(x[points])
    rng = np.random.default_rng(seed)
    m_hoc = int(min(hoc_sample_size, int(0.9 * n_points)))
    m_det = int(min(detection_sample_size, int(0.9 * n_points)))
    width = max(rare_k,
                knn.graph_size_for_sampling(n_points, m_hoc, 2),
                knn.graph_size_for_sampling(n_points, m_det, k - 1))
    timings["prepare_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    log(f"neighbour graph: {n_points} points x {width} neighbours")
    graph = knn.knn_graph(xp, width, precision=knn_precision, device=device, groups=gp)
    timings["knn_graph_s"] = time.perf_counter() - t

    # 1. HOC consensus over random samples
    t = time.perf_counter()
    compact = np.full(num_classes, -1)
    compact[present] = np.arange(present.size)
    kc = present.size
    c3 = np.zeros((kc, kc, kc))
    member = np.zeros(n_points, dtype=bool)
    brute_rows = 0
    yc = compact[y]
    for _ in range(hoc_rounds):
        sample = rng.choice(n_points, m_hoc, replace=False)
        member[:] = False
        member[sample] = True
        nbr, _, b = knn.neighbors_in_sample(graph, xp, sample, 2, member, groups=gp)
        brute_rows += b
        c3 += hoc.consensus_counts(yc[sample], yc[nbr[:, 0]], yc[nbr[:, 1]], kc)
    c3 /= hoc_rounds
    c1, c2, _ = hoc.consensus_from_triples(c3)
    timings["hoc_consensus_s"] = time.perf_counter() - t

    t = time.perf_counter()
    sol = hoc.solve_hoc(c1, c2, c3, steps=hoc_steps, lr=hoc_lr, polish_steps=hoc_polish_steps, seed=seed)
    T = np.eye(num_classes)
    T[np.ix_(present, present)] = sol.transition_matrix
    p_clean = np.zeros(num_classes)
    p_clean[present] = sol.clean_prior
    p_noisy = np.bincount(y, minlength=num_classes) / n_points
    timings["hoc_solve_s"] = time.perf_counter() - t

    # 2. SimiFeat-rank detection
    t = time.perf_counter()
    with np.errstate(divide="ignore", invalid="ignore"):
        keep_rate = np.where(p_noisy > 0, np.diag(T) * p_clean / p_noisy, 1.0)
    noise_rate = 1.0 - np.minimum(keep_rate, 1.0)
    noise_rate = np.where(noise_rate >= 1.0, 0.95, np.where(noise_rate <= 0.0, 0.05, noise_rate))
    times_flagged = np.zeros(n_points)
    times_sampled = np.zeros(n_points)
    suggestions = np.zeros((n_points, num_classes))
    for _ in range(detection_epochs):
        sample = rng.choice(n_points, m_det, replace=False)
        member[:] = False
        member[sample] = True
        nbr, sims, b = knn.neighbors_in_sample(graph, xp, sample, k - 1, member, groups=gp)
        brute_rows += b
        flagged_local, winner = _simifeat_rank(y[sample], y[nbr], sims.astype(np.float64), noise_rate,
                                               num_classes)
        times_sampled[sample] += 1
        hit = sample[flagged_local]
        times_flagged[hit] += 1
        suggestions[hit, winner[flagged_local]] += 1
    noise_level = (times_flagged + 1.0) / (times_sampled + 2.0)
    is_flagged = noise_level > 0.5
    share = (suggestions + 1.0) / (suggestions.sum(axis=1, keepdims=True) + num_classes)
    share[np.arange(n_points), y] = -1.0
    proposal = share.argmax(axis=1)
    conf = np.where(is_flagged, share[np.arange(n_points), proposal] * noise_level, 0.0)
    proposal = np.where(is_flagged, proposal, y)
    timings["detection_s"] = time.perf_counter() - t

    # 3. Rareness over the whole data set
    t = time.perf_counter()
    dist = 1.0 - graph.sims[:, :rare_k].astype(np.float64)
    rare = 2.0 / (1.0 + np.exp(-dist.mean(axis=1))) - 1.0
    timings["rareness_s"] = time.perf_counter() - t

    # back to input rows: every row takes its representative's outputs
    slot = np.full(n, -1)
    slot[points] = np.arange(n_points)
    src = np.where(used, slot[representative], -1)
    has = src >= 0
    take = src[has]
    suggested_scores = np.where(score_missing, -1, labels)
    confidence = np.zeros(n)
    noise = np.zeros(n)
    flagged = np.zeros(n, dtype=bool)
    rare_scores = np.full(n, np.nan)
    suggested_scores[has] = proposal[take]
    confidence[has] = conf[take]
    noise[has] = noise_level[take]
    flagged[has] = is_flagged[take]
    rare_scores[has] = rare[take]
    base = np.where(has, work_labels, np.where(score_missing, -1, labels))  # -1: no score, never 0
    curated = np.where(flagged & (confidence >= confidence_threshold), suggested_scores, base)
    suggested_scores = np.where(flagged, suggested_scores, base)
    timings["total_s"] = time.perf_counter() - t0
    stats = {
        "points": int(n_points), "rows": int(n), "graph_neighbors": int(graph.n_neighbors),
        "knn_precision": graph.precision, "knn_certified_rows": graph.certified_rows,
        "knn_recomputed_rows": graph.recomputed_rows, "brute_force_rows": int(brute_rows),
        "hoc_sample_size": m_hoc, "detection_sample_size": m_det, "flagged": int(flagged.sum()),
        "curated": int((curated != base).sum()), "noise_rate_per_class": noise_rate.tolist(),
    }
    log(f"curation done in {timings['total_s']:.1f}s: {stats['flagged']} flagged, {stats['curated']} changed")
    return CurationResult(
        num_classes=num_classes, transition_matrix=T, clean_prior=p_clean, noisy_prior=p_noisy,
        scores=np.where(score_missing, -1, labels), suggested_scores=suggested_scores, confidence=confidence,
        curated_scores=curated,
        noise_level=noise, flagged=flagged, rare_scores=rare_scores, used=used, representative=representative,
        confidence_threshold=float(confidence_threshold), hoc_loss=sol.loss, consensus=(c1, c2, c3),
        stats=stats, timings=timings, notes=notes)


def _simifeat_rank(own: np.ndarray, nbr_labels: np.ndarray, nbr_sims: np.ndarray, noise_rate: np.ndarray,
                   num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One detection epoch on a sample: which points to flag and each point's vote winner.

    own (m,), nbr_labels (m, k-1), nbr_sims (m, k-1) sorted by decreasing similarity.
    """
    m = own.size
    # The point votes for its own label too; its weight 1 - (2 d1 - d2) = 2 s1 - s2 keeps it from
    # dominating (a self-distance of 0 would give it weight 1).
    self_weight = 2.0 * nbr_sims[:, 0] - nbr_sims[:, 1]
    rows = np.repeat(np.arange(m), nbr_labels.shape[1] + 1)
    cls = np.concatenate([own[:, None], nbr_labels], axis=1).ravel()
    weight = np.concatenate([self_weight[:, None], nbr_sims], axis=1).ravel()
    votes = np.bincount(rows * num_classes + cls, weights=weight, minlength=m * num_classes)
    votes = votes.reshape(m, num_classes)
    norm = np.maximum(np.linalg.norm(votes, axis=1, keepdims=True), 1e-12)
    share = votes / norm
    own_share = share[np.arange(m), own]
    score = -np.log(own_share + 1e-8)
    winner = votes.argmax(axis=1)
    unanimous = np.all((votes == 0) | (np.arange(num_classes)[None, :] == own[:, None]), axis=1)
    flagged = np.zeros(m, dtype=bool)
    for c in range(num_classes):
        in_class = own == c
        if not in_class.any():
            continue
        threshold = np.percentile(score[in_class], 100.0 * (1.0 - noise_rate[c]))
        flagged |= in_class & (score >= threshold)
    return flagged & ~unanimous, winner


def options_from_config(cfg) -> dict:
    """`curate` keyword options from the project's CurationConfig (llmfeedback_assets.config)."""
    return {"num_classes": cfg.num_classes, "seed": cfg.seed, "hoc_rounds": cfg.hoc_rounds,
            "hoc_sample_size": cfg.hoc_sample_size, "detection_epochs": cfg.detection_epochs,
            "detection_sample_size": cfg.hoc_sample_size, "k": cfg.k,
            "confidence_threshold": cfg.confidence_threshold}
