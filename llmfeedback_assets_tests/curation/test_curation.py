"""Score curation (DS2): recovery of a known transition matrix, detection, exact neighbours, bad input,
selection. Synthetic data: tight clusters, one clean score per cluster, noisy scores drawn from a known T."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmfeedback_assets.curation import (
    CurationInputError,
    apply_curation,
    curate,
    hoc,
    knn,
    select,
    select_diversity,
    select_longest,
    select_random,
    select_raw_score,
)
from llmfeedback_assets.curation.core import _simifeat_rank

K = 6
PRIOR = np.array([0.10, 0.15, 0.20, 0.25, 0.20, 0.10])


def banded_transition(keep: float, k: int = K) -> np.ndarray:
    """Judge noise like LLM scores: most mass on the true score, most of the rest on the adjacent ones."""
    T = np.zeros((k, k))
    for i in range(k):
        T[i, i] = keep
        near = [j for j in (i - 1, i + 1) if 0 <= j < k]
        far = [j for j in range(k) if j != i and j not in near]
        near_share = 0.8 if far else 1.0
        T[i, near] = (1 - keep) * near_share / len(near)
        if far:
            T[i, far] = (1 - keep) * 0.2 / len(far)
    return T


def clustered(n: int, dim: int, T: np.ndarray, prior: np.ndarray, clusters: int = 300, spread: float = 0.5,
              seed: int = 0):
    """Embeddings in `clusters` tight clusters, each with one clean score; noisy scores via T."""
    rng = np.random.default_rng(seed)
    k = T.shape[0]
    centers = rng.standard_normal((clusters, dim))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    cluster_class = np.arange(clusters) % k
    clean = rng.choice(k, size=n, p=prior)
    member = np.empty(n, dtype=np.int64)
    for c in range(k):
        rows = np.flatnonzero(clean == c)
        member[rows] = rng.choice(np.flatnonzero(cluster_class == c), size=rows.size)
    x = centers[member] + spread * rng.standard_normal((n, dim)) / np.sqrt(dim)
    noisy = (rng.random(n)[:, None] > np.cumsum(T, axis=1)[clean]).sum(axis=1)
    return x.astype(np.float32), clean, noisy


@pytest.fixture(scope="module")
def recovery():
    T = banded_transition(0.7)
    x, clean, noisy = clustered(40_000, 24, T, PRIOR, seed=10)
    result = curate(x, noisy, K, seed=0)  # the published defaults: 50 rounds, 51 epochs, k = 10
    return T, x, clean, noisy, result


def test_recovers_known_transition_matrix_and_prior(recovery):
    T, _, _, _, r = recovery
    assert r.transition_matrix.shape == (K, K)
    assert np.allclose(r.transition_matrix.sum(axis=1), 1.0)
    assert np.abs(r.transition_matrix - T).max() < 0.03
    assert np.abs(r.clean_prior - PRIOR).max() < 0.02
    assert r.noise_rate == pytest.approx(0.3, abs=0.02)


def test_flags_most_corrupted_scores_and_curation_repairs_them(recovery):
    _, _, clean, noisy, r = recovery
    corrupted = clean != noisy
    assert r.flagged[corrupted].mean() > 0.9  # recall
    assert corrupted[r.flagged].mean() > 0.9  # precision
    assert (r.curated_scores == clean).mean() > 0.95 > 0.75 > (noisy == clean).mean()


def test_result_fields_are_consistent(recovery):
    _, x, _, noisy, r = recovery
    n = x.shape[0]
    for name in ("curated_scores", "suggested_scores", "confidence", "rare_scores", "flagged", "noise_level"):
        assert getattr(r, name).shape == (n,), name
    assert r.flagged.dtype == bool
    assert np.array_equal(r.flagged, r.noise_level > 0.5)
    assert np.all((r.confidence >= 0) & (r.confidence <= 1))
    assert np.all(r.confidence[~r.flagged] == 0)
    assert np.array_equal(r.curated_scores[~r.flagged], noisy[~r.flagged])
    applied = r.flagged & (r.confidence >= 0.5)
    assert np.array_equal(r.curated_scores[applied], r.suggested_scores[applied])
    assert np.array_equal(r.curated_scores[~applied], noisy[~applied])
    assert np.all(r.suggested_scores[r.flagged] != noisy[r.flagged])
    assert np.all((r.rare_scores >= 0) & (r.rare_scores < 1))
    assert r.histogram(curated=False).sum() == r.histogram().sum() == n
    assert r.stats["knn_certified_rows"] + r.stats["knn_recomputed_rows"] in (0, n)


def test_rare_scores_match_brute_force_definition(recovery):
    _, x, _, _, r = recovery
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    rows = np.arange(0, x.shape[0], 997)
    sims = xn[rows] @ xn.T
    sims[np.arange(rows.size), rows] = -np.inf
    top = -np.sort(-sims, axis=1)[:, :10]
    expected = 2.0 / (1.0 + np.exp(-(1.0 - top).mean(axis=1))) - 1.0
    assert np.allclose(r.rare_scores[rows], expected, atol=1e-5)


def test_recovers_a_random_transition_matrix():
    rng = np.random.default_rng(3)
    T = np.zeros((4, 4))
    for i in range(4):
        T[i, i] = rng.uniform(0.65, 0.85)
        T[i, np.arange(4) != i] = rng.dirichlet(np.ones(3)) * (1 - T[i, i])
    prior = np.array([0.2, 0.3, 0.3, 0.2])
    x, clean, noisy = clustered(20_000, 16, T, prior, clusters=200, seed=4)
    r = curate(x, noisy, 4, seed=1, hoc_rounds=20, detection_epochs=11)
    assert np.abs(r.transition_matrix - T).max() < 0.03
    assert np.abs(r.clean_prior - prior).max() < 0.02


def test_same_seed_same_result_and_seed_matters():
    T = banded_transition(0.75, 3)
    x, _, noisy = clustered(3000, 8, T, np.array([0.3, 0.4, 0.3]), clusters=60, seed=2)
    a = curate(x, noisy, 3, seed=5, hoc_rounds=5, detection_epochs=5)
    b = curate(x, noisy, 3, seed=5, hoc_rounds=5, detection_epochs=5)
    c = curate(x, noisy, 3, seed=6, hoc_rounds=5, detection_epochs=5)
    assert np.array_equal(a.transition_matrix, b.transition_matrix)
    assert np.array_equal(a.curated_scores, b.curated_scores)
    assert not np.array_equal(a.noise_level, c.noise_level)


# --- exact neighbours -------------------------------------------------------------------------------------

def _brute_topk(xn: np.ndarray, rows: np.ndarray, pool: np.ndarray, k: int):
    sims = xn[rows] @ xn[pool].T
    sims[pool[None, :] == rows[:, None]] = -np.inf
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return pool[order], np.take_along_axis(sims, order, axis=1)


@pytest.fixture(scope="module")
def small_cloud():
    x, _, _ = clustered(3000, 48, np.eye(3), np.ones(3) / 3, clusters=40, spread=0.8, seed=7)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("precision,candidates", [("fp32", None), ("bf16", None), ("bf16", 13)])
def test_knn_graph_is_exact(small_cloud, precision, candidates):
    xn = small_cloud
    g = knn.knn_graph(xn, 12, precision=precision, candidates=candidates, block_rows=512)
    idx, sims = _brute_topk(xn, np.arange(xn.shape[0]), np.arange(xn.shape[0]), 12)
    assert np.allclose(g.sims, sims, atol=1e-5)
    assert (g.indices == idx).mean() > 0.999  # only exact fp32 near-ties may swap places
    if precision == "bf16":
        assert g.certified_rows + g.recomputed_rows == xn.shape[0]
    if candidates == 13:  # a shortlist one longer than needed rarely certifies: a longer one is tried
        assert g.retried_rows > 0


def test_knn_graph_falls_back_to_fp32_where_bf16_cannot_separate():
    rng = np.random.default_rng(0)
    x = np.ones((600, 64)) + 0.02 * rng.standard_normal((600, 64))  # sims ~0.99, packed closer than bf16 sees
    xn = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    g = knn.knn_graph(xn, 5, precision="bf16", candidates=8)
    idx, sims = _brute_topk(xn, np.arange(600), np.arange(600), 5)
    assert g.recomputed_rows > 0
    assert np.allclose(g.sims, sims, atol=1e-6) and (g.indices == idx).mean() > 0.99


def test_bf16_error_bounds_hold():
    gen = torch.Generator().manual_seed(0)
    base = torch.nn.functional.normalize(torch.randn(300, 384, generator=gen), dim=1)
    near = torch.nn.functional.normalize(base + 0.01 * torch.randn(300, 384, generator=gen), dim=1)
    x = torch.cat([base, near, -near[:5]])
    exact = x.double() @ x.double().T
    approx = (x.bfloat16() @ x.bfloat16().T).float()
    err = (approx.double() - exact).abs()
    assert err.max().item() <= knn.bf16_error_bound(384)
    assert err.max().item() > 1e-4  # bf16 really is coarse, so the bound matters
    row_err = torch.linalg.vector_norm(x - x.bfloat16().float(), dim=1)
    bound = knn.upper_bound_outside(approx, row_err[:, None], float(row_err.max()), 384)
    assert torch.all(exact <= bound.double())  # what the certificate relies on, for every pair
    assert (bound.double() - exact).median().item() < knn.bf16_error_bound(384) / 2


def test_neighbors_in_sample_exact_including_fallback(small_cloud):
    xn = small_cloud
    n = xn.shape[0]
    rng = np.random.default_rng(0)
    sample = rng.choice(n, n // 2, replace=False)
    xt = torch.from_numpy(xn)
    want_idx, want_sims = _brute_topk(xn, sample, sample, 9)
    for width, expect_fallback in ((40, False), (12, True)):
        g = knn.knn_graph(xn, width, precision="fp32")
        idx, sims, brute = knn.neighbors_in_sample(g, xt, sample, 9)
        assert np.allclose(sims, want_sims, atol=1e-5)
        assert (idx == want_idx).mean() > 0.999
        assert (brute > 0) == expect_fallback


def _brute_topk_other_groups(xn, rows, pool, k, groups):
    sims = xn[rows] @ xn[pool].T
    sims[(pool[None, :] == rows[:, None]) | (groups[pool][None, :] == groups[rows][:, None])] = -np.inf
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return pool[order], np.take_along_axis(sims, order, axis=1)


def test_groups_keep_a_point_s_own_group_out_of_its_neighbours(small_cloud):
    """Answers to one instruction (a group) are never each other's neighbours, in the graph and in the
    brute-force fallback of a sample, and otherwise the neighbours are exact."""
    xn = small_cloud
    n = xn.shape[0]
    groups = np.arange(n) // 5  # five answers per instruction, as with five responders
    g = knn.knn_graph(xn, 12, precision="bf16", groups=groups)  # groups take the fp32 path
    assert g.precision == "fp32" and not (groups[g.indices] == groups[:, None]).any()
    idx, sims = _brute_topk_other_groups(xn, np.arange(n), np.arange(n), 12, groups)
    assert np.allclose(g.sims, sims, atol=1e-5) and (g.indices == idx).mean() > 0.999
    sample = np.random.default_rng(1).choice(n, n // 2, replace=False)
    want_idx, want_sims = _brute_topk_other_groups(xn, sample, sample, 9, groups)
    narrow = knn.knn_graph(xn, 12, precision="fp32", groups=groups)
    got_idx, got_sims, brute = knn.neighbors_in_sample(narrow, torch.from_numpy(xn), sample, 9, groups=groups)
    assert brute > 0 and np.allclose(got_sims, want_sims, atol=1e-5) and (got_idx == want_idx).mean() > 0.999


def test_curate_with_groups_notes_them_and_ignores_singletons(small_data):
    x, noisy = small_data
    n = len(noisy)
    grouped = curate(x, noisy, 3, seed=0, **FAST, groups=np.arange(n) // 4)
    assert any("other groups only" in note for note in grouped.notes)
    alone = curate(x, noisy, 3, seed=0, **FAST, groups=[f"p{i}" for i in range(n)])
    plain = curate(x, noisy, 3, seed=0, **FAST)
    assert np.array_equal(alone.curated_scores, plain.curated_scores)
    assert not any("groups" in note for note in alone.notes)
    with pytest.raises(CurationInputError, match="groups has 3 labels"):
        curate(x, noisy, 3, **FAST, groups=[1, 2, 3])


def test_graph_width_meets_the_tail_probability():
    from scipy.stats import binom

    width = knn.graph_size_for_sampling(100_000, 50_000, 9)
    f = (50_000 - 1) / (100_000 - 1)
    assert binom.cdf(8, width, f) <= 1e-4 < binom.cdf(8, width - 1, f)
    assert knn.graph_size_for_sampling(20, 18, 9) <= 19


# --- HOC solver and SimiFeat ------------------------------------------------------------------------------

def test_hoc_gradient_matches_autograd():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 5)), rng.standard_normal(5)
    c_est = (rng.random(5), rng.random((5, 5)), rng.random((5, 5, 5)))
    loss, ga, gb = hoc.hoc_loss_and_grad(a, b, c_est)
    at = torch.tensor(a, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    T, p = torch.softmax(at, 1), torch.softmax(bt, 0)
    ana = (p @ T, torch.einsum("i,ia,ib->ab", p, T, T), torch.einsum("i,ia,ib,ic->abc", p, T, T, T))
    ref = sum(torch.linalg.norm(torch.tensor(e) - q) for e, q in zip(c_est, ana, strict=True))
    ref.backward()
    assert loss == pytest.approx(ref.item())
    assert np.allclose(ga, at.grad.numpy(), atol=1e-12)
    assert np.allclose(gb, bt.grad.numpy(), atol=1e-12)


def test_hoc_solves_noise_free_consensus():
    T = banded_transition(0.7)
    c = hoc.analytical_consensus(T, PRIOR)
    sol = hoc.solve_hoc(*c)
    assert np.abs(sol.transition_matrix - T).max() < 1e-4
    assert np.abs(sol.clean_prior - PRIOR).max() < 1e-4


def test_consensus_counts_are_triple_frequencies():
    own = np.array([0, 0, 1, 1])
    first = np.array([0, 1, 1, 1])
    second = np.array([0, 1, 1, 0])
    c3 = hoc.consensus_counts(own, first, second, 2)
    assert c3[0, 0, 0] == c3[0, 1, 1] == c3[1, 1, 0] == c3[1, 1, 1] == 0.25
    c1, c2, _ = hoc.consensus_from_triples(c3)
    assert np.allclose(c1, [0.5, 0.5])
    assert np.allclose(c2, [[0.25, 0.25], [0.0, 0.5]])


def test_simifeat_flags_the_outvoted_point_not_the_unanimous_ones():
    own = np.array([0, 0, 0, 0, 1])
    nbr_labels = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 1], [1, 1, 1], [1, 1, 1]])
    sims = np.full((5, 3), 0.9) - np.array([0.0, 0.01, 0.02])
    flagged, winner = _simifeat_rank(own, nbr_labels, sims, np.array([0.25, 0.05]), 2)
    assert flagged.tolist() == [False, False, False, True, False]
    assert winner[3] == 1


# --- bad input --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_data():
    T = banded_transition(0.8, 3)
    x, clean, noisy = clustered(1500, 8, T, np.array([0.3, 0.4, 0.3]), clusters=30, seed=3)
    return x, noisy


FAST = {"hoc_rounds": 3, "detection_epochs": 3, "hoc_steps": 300}


def test_too_few_rows_is_a_clear_error():
    x = np.random.default_rng(0).standard_normal((8, 4))
    with pytest.raises(CurationInputError, match="at least 12 distinct rows"):
        curate(x, [0, 1] * 4, 2)


def test_single_score_class_is_a_clear_error(small_data):
    x, _ = small_data
    with pytest.raises(CurationInputError, match="all 1500 scores are class 2"):
        curate(x, np.full(len(x), 2), 3)


@pytest.mark.parametrize("bad,match", [
    ([3], "classes in \\[0, 3\\); rows 5 hold \\[3\\]"),
    ([-1], "rows 5 hold \\[-1\\]"),
    ([1.5], "whole numbers"),
])
def test_scores_outside_the_class_range_are_rejected(small_data, bad, match):
    x, noisy = small_data
    scores = noisy.astype(np.float64)
    scores[5] = bad[0]
    with pytest.raises(CurationInputError, match=match):
        curate(x, scores, 3, **FAST)


def test_out_of_range_clip_equals_clipping_first(small_data):
    x, noisy = small_data
    scores = noisy.copy()
    scores[:10] = 7
    clipped = curate(x, scores, 3, out_of_range="clip", **FAST)
    manual = curate(x, np.clip(scores, 0, 2), 3, **FAST)
    assert np.array_equal(clipped.transition_matrix, manual.transition_matrix)
    assert np.array_equal(clipped.curated_scores, manual.curated_scores)


def test_missing_embeddings_error_names_rows_or_are_skipped(small_data):
    x, noisy = small_data
    x = x.copy()
    x[[4, 9]] = np.nan
    x[11] = 0.0
    with pytest.raises(CurationInputError, match="embedding rows 4, 9, 11 are missing"):
        curate(x, noisy, 3, **FAST)
    r = curate(x, noisy, 3, missing="skip", **FAST)
    gone = np.array([4, 9, 11])
    assert not r.used[gone].any() and r.used.sum() == len(x) - 3
    assert np.isnan(r.rare_scores[gone]).all() and not np.isnan(np.delete(r.rare_scores, gone)).any()
    assert np.array_equal(r.curated_scores[gone], noisy[gone]) and not r.flagged[gone].any()
    assert not np.isin(gone, r.select(len(x))).any()


def test_missing_scores_are_skipped_not_scored_zero(small_data):
    x, noisy = small_data
    scores = [None if i in (0, 1) else int(s) for i, s in enumerate(noisy)]
    with pytest.raises(CurationInputError, match="score rows 0, 1 are missing"):
        curate(x, scores, 3, **FAST)
    r = curate(x, scores, 3, missing="skip", **FAST)
    assert not r.used[:2].any()
    assert r.scores[:2].tolist() == r.curated_scores[:2].tolist() == [-1, -1]
    assert r.histogram(curated=False).sum() == len(x) - 2


def test_duplicate_rows_collapse_to_the_unique_result(small_data):
    x, noisy = small_data
    dup_of = np.array([3, 3, 10, 500])
    x2 = np.concatenate([x, x[dup_of]])
    y2 = np.concatenate([noisy, noisy[dup_of]])
    unique = curate(x, noisy, 3, **FAST)
    collapsed = curate(x2, y2, 3, **FAST)
    assert np.array_equal(unique.transition_matrix, collapsed.transition_matrix)
    assert np.array_equal(collapsed.curated_scores[: len(x)], unique.curated_scores)
    assert np.array_equal(collapsed.curated_scores[len(x):], unique.curated_scores[dup_of])
    assert np.array_equal(collapsed.representative[len(x):], dup_of)
    assert not np.isin(np.arange(len(x), len(x2)), collapsed.select(len(x2))).any()
    with pytest.raises(CurationInputError, match=f"rows {len(x)}, {len(x) + 1}, {len(x) + 2}, {len(x) + 3}"):
        curate(x2, y2, 3, duplicates="error", **FAST)
    kept = curate(x2, y2, 3, duplicates="keep", **FAST)
    assert kept.stats["points"] == len(x2)


def test_conflicting_duplicate_scores_use_the_lower_mode(small_data):
    x, noisy = small_data
    x2 = np.concatenate([x, x[[0, 0]]])
    y2 = np.concatenate([noisy, [2, 1]])
    y2[0] = 1
    r = curate(x2, y2, 3, **FAST)
    # group {0, n, n+1} holds scores 1, 2, 1 -> curated as one point with score 1
    assert r.scores[len(x)] == 2 and r.curated_scores[len(x)] == r.curated_scores[0]
    y1 = noisy.copy()
    y1[0] = 1
    assert np.array_equal(r.transition_matrix, curate(x, y1, 3, **FAST).transition_matrix)


def test_classes_that_never_occur_get_identity_rows(small_data):
    x, noisy = small_data
    r = curate(x, noisy + 2, 5, **FAST)  # scores 2..4 of 0..4
    assert np.array_equal(r.transition_matrix[:2], np.eye(5)[:2])
    assert np.all(r.clean_prior[:2] == 0) and r.clean_prior.sum() == pytest.approx(1.0)
    assert any("never occur" in note for note in r.notes)
    assert set(np.unique(r.curated_scores)) <= {2, 3, 4}


@pytest.mark.parametrize("kwargs,match", [
    ({"num_classes": 1}, "num_classes"),
    ({"k": 2}, "k must be an integer >= 3"),
    ({"duplicates": "drop"}, "duplicates must be one of"),
    ({"confidence_threshold": 1.5}, "confidence_threshold"),
])
def test_bad_options_are_rejected(small_data, kwargs, match):
    x, noisy = small_data
    args = {"num_classes": 3, **kwargs}
    with pytest.raises(CurationInputError, match=match):
        curate(x, noisy, **args)


def test_bad_shapes_are_rejected(small_data):
    x, noisy = small_data
    with pytest.raises(CurationInputError, match="2-D"):
        curate(x[:, 0], noisy, 3)
    with pytest.raises(CurationInputError, match="one score per embedding row"):
        curate(x, noisy[:-1], 3)


# --- selection --------------------------------------------------------------------------------------------

def test_select_takes_whole_buckets_then_the_rarest():
    scores = np.array([5, 4, 4, 5, 3, 4, 2, 4])
    rare = np.array([0.1, 0.3, 0.9, 0.2, 0.8, 0.3, 0.5, np.nan])
    picked = select(scores, rare, 4)
    assert picked.tolist() == [0, 3, 2, 1]  # both 5s, then the rarest 4s (tie 0.3: lower index first)
    assert select(scores, rare, 6).tolist() == [0, 3, 1, 2, 5, 7]  # bucket 4 fits whole, index order
    assert select(scores, rare, 100).size == 8
    assert select(scores, rare, 0).size == 0
    assert select(scores, rare, 3, eligible=scores != 5).tolist() == [2, 1, 5]


def test_select_applies_only_confident_curations():
    scores = np.array([1, 1, 2, 0])
    suggested = np.array([2, 0, 2, 2])
    confidence = np.array([0.6, 0.9, 0.0, 0.4])
    assert apply_curation(scores, suggested, confidence).tolist() == [2, 0, 2, 0]
    picked = select(scores, np.zeros(4), 2, suggested_scores=suggested, confidence=confidence)
    assert sorted(picked.tolist()) == [0, 2]
    with pytest.raises(ValueError, match="together"):
        select(scores, np.zeros(4), 2, suggested_scores=suggested)
    with pytest.raises(ValueError, match="non-negative"):
        select(scores, np.zeros(4), -1)


def test_curation_result_select_prefers_curated_high_scores(recovery):
    _, _, clean, _, r = recovery
    picked = r.select(2000)
    assert picked.size == 2000 and np.unique(picked).size == 2000
    assert np.all(r.curated_scores[picked] == K - 1)
    assert (clean[picked] == K - 1).mean() > 0.95
    overflow = r.curated_scores == K - 1
    assert r.rare_scores[picked].min() >= np.sort(r.rare_scores[overflow])[-2000] - 1e-12


def test_baselines():
    assert sorted(select_random(10, 4, seed=1).tolist()) == sorted(set(select_random(10, 4, seed=1).tolist()))
    assert select_random(10, 4, seed=1).tolist() == select_random(10, 4, seed=1).tolist()
    assert select_random(3, 10).size == 3
    assert select_longest([5, 50, 7, 50], 3).tolist() == [1, 3, 2]
    scores = np.array([3, 9, 9, 1, 9, 5])
    top = select_raw_score(scores, 3)
    assert sorted(top.tolist()) == [1, 2, 4]
    assert select_raw_score(scores, 10, min_score=5).size == 4
    rare = np.array([0.1, 0.7, 0.3])
    assert select_diversity(2, rare_scores=rare, method="rareness").tolist() == [1, 2]


def test_kcenter_diversity_covers_every_cluster_first():
    rng = np.random.default_rng(0)
    centers = np.eye(4, 16)
    x = np.repeat(centers, 50, axis=0) + 0.01 * rng.standard_normal((200, 16))
    picked = select_diversity(4, embeddings=x, seed=3)
    assert len({int(i) // 50 for i in picked}) == 4
    with pytest.raises(ValueError, match="needs embeddings"):
        select_diversity(4)


def test_options_from_the_project_config_drive_curate(small_data):
    from llmfeedback_assets.config import CurationConfig
    from llmfeedback_assets.curation import options_from_config

    x, noisy = small_data
    opts = options_from_config(CurationConfig(num_classes=3, hoc_rounds=2, detection_epochs=2, seed=4))
    assert opts["num_classes"] == 3 and opts["hoc_rounds"] == 2 and opts["seed"] == 4
    r = curate(x, noisy, **opts, hoc_steps=200)
    frame = r.to_frame()
    assert list(frame.columns) == ["score", "suggested_score", "confidence", "curated_score", "noise_level",
                                   "flagged", "rare_score", "used", "representative"]
    assert len(frame) == len(x) and frame["curated_score"].tolist() == r.curated_scores.tolist()


def test_score_first_selection_skips_near_duplicates_of_better_rows():
    from llmfeedback_assets.curation.select import select_score_first

    # rows 0 and 1 are near duplicates (cosine ~0.995); 1 has the higher score, so 0 is skipped
    x = np.array([[1.0, 0.1, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.7, 0.7, 0.0]])
    scores = np.array([8.0, 9.0, 7.0, 7.0, 6.0])
    rare = np.array([0.0, 0.0, 0.1, 0.5, 0.0])
    assert select_score_first(scores, 5, embeddings=x, rare_scores=rare).tolist() == [1, 3, 2, 4]
    assert select_score_first(scores, 2, embeddings=x, rare_scores=rare).tolist() == [1, 3]  # rarer tie first
    # a looser threshold keeps the near duplicate; an ineligible row never comes back
    assert select_score_first(scores, 5, embeddings=x, max_similarity=1.0).tolist() == [1, 0, 2, 3, 4]
    eligible = np.array([True, False, True, True, True])
    assert select_score_first(scores, 5, embeddings=x, eligible=eligible)[0] == 0
    with pytest.raises(ValueError, match="embeddings must be"):
        select_score_first(scores, 2, embeddings=x[:3])
