"""Bootstrap intervals, interval ranks and the leaderboard table / markdown / PNG."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import llmfeedback_assets.ranking.bootstrap as bootstrap_module
from llmfeedback_assets.ranking import (
    LEADERBOARD_COLUMNS,
    aggregate,
    bootstrap_bradley_terry,
    bradley_terry,
    fit_bradley_terry,
    leaderboard_markdown,
    leaderboard_plot_png,
    leaderboard_table,
    rank_by_intervals,
)
from llmfeedback_assets.ranking.bootstrap import PoissonSampler, _draw_counts, newman_dense_batch
from llmfeedback_assets.ranking.bt import newman_iteration
from llmfeedback_assets_tests.support.ranking import synthetic


def as_frame(left, right, winner) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model_a": left,
            "model_b": right,
            "winner": winner.map({"left": "model_a", "right": "model_b", "tie": "tie"}),
        }
    )


def test_rank_by_overlapping_intervals():
    low = pd.Series({"a": 0.5, "b": 0.4, "c": 0.1, "d": 0.05})
    high = pd.Series({"a": 0.7, "b": 0.6, "c": 0.3, "d": 0.45})
    ranks = rank_by_intervals(low, high)
    # c: a's and b's lower bounds lie above its upper bound; d overlaps b (0.4 < 0.45) but not a.
    assert ranks.to_dict() == {"a": 1, "b": 1, "c": 3, "d": 2}


def test_dense_batch_kernel_matches_sparse_fit():
    left, right, winner, _, _ = synthetic(15, 900, seed=21)
    table = aggregate(left, right, winner)
    wij, wji = table.credit()
    sparse, _, ok = newman_iteration(table.i, table.j, wij, wji, table.n_models, tol=1e-12)
    credit = np.zeros((table.n_models, 1, table.n_models))
    credit[table.i, 0, table.j] = wij
    credit[table.j, 0, table.i] = wji
    dense = newman_dense_batch(credit, np.ones(table.n_models), tol=1e-12)
    assert ok and np.abs(dense[0] - sparse).max() < 1e-10


def test_bootstrap_is_seeded_and_covers_the_point():
    left, right, winner, _, _ = synthetic(10, 1500, seed=22)
    table = aggregate(left, right, winner)
    point = fit_bradley_terry(table)
    a = bootstrap_bradley_terry(table, point, rounds=200, seed=5)
    b = bootstrap_bradley_terry(table, point, rounds=200, seed=5)
    c = bootstrap_bradley_terry(table, point, rounds=200, seed=6)
    threaded = bootstrap_bradley_terry(table, point, rounds=200, seed=5, n_jobs=2)
    assert np.array_equal(a.samples, b.samples) and np.array_equal(a.samples, threaded.samples)
    assert not np.array_equal(a.samples, c.samples)
    assert np.allclose(a.samples.sum(axis=1), 1.0)
    assert ((a.low <= point) & (point <= a.high)).all()
    assert (a.low < a.high).all()


def test_bootstrap_rounds_are_real_refits():
    # Each round equals a direct fit on the resampled comparisons, rebuilt row by row from the same draw.
    left, right, winner, _, _ = synthetic(6, 300, seed=23)
    table = aggregate(left, right, winner)
    point = fit_bradley_terry(table)
    boot = bootstrap_bradley_terry(table, point, rounds=3, seed=9, batch_size=3)
    cells = np.flatnonzero(table.counts.ravel())
    rng = np.random.default_rng(np.random.SeedSequence(9).spawn(1)[0])
    draws = _draw_counts(rng, "multinomial", table.counts.ravel()[cells], table.n_comparisons, 3)
    names = np.asarray(table.models, dtype=object)
    pair, outcome = np.divmod(cells, 3)
    for r in range(3):
        reps = draws[r]
        assert reps.sum() == 300
        lft = np.repeat(names[table.i[pair]], reps)
        rgt = np.repeat(names[table.j[pair]], reps)
        win = np.repeat(np.array(["left", "right", "tie"])[outcome], reps)
        direct = bradley_terry(lft, rgt, win)
        assert np.abs(boot.samples[r] - direct[table.models].to_numpy()).max() < 1e-6


@pytest.mark.parametrize("max_tables", [2_000, 0])  # alias tables, and numpy's sampler as the fallback
def test_poisson_sampler_matches_the_poisson_law(max_tables):
    counts = np.repeat([1, 7, 40], 20)
    sampler = PoissonSampler(counts, max_tables=max_tables)
    assert sampler.use_alias == (max_tables > 0)
    x = sampler.draw(np.random.default_rng(1), 5_000)
    assert x.shape == (5_000, 60) and x.dtype == np.int64
    for lam in (1, 7, 40):
        draws = x[:, counts == lam].ravel()
        assert abs(draws.mean() - lam) < 4 * np.sqrt(lam / draws.size)
        assert abs(draws.var() / lam - 1) < 0.03
        # Frequencies of the central values against the pmf (chi-square, 99.9% critical value).
        support = np.arange(max(0, lam - 2 * int(np.sqrt(lam)) - 1), lam + 2 * int(np.sqrt(lam)) + 2)
        observed = np.array([(draws == k).sum() for k in support])
        expected = stats.poisson.pmf(support, lam) * draws.size
        chi2 = ((observed - expected) ** 2 / expected).sum()
        assert chi2 < stats.chi2.ppf(0.999, len(support))


@pytest.mark.parametrize("total", [10, 400])
def test_multinomial_draw_has_multinomial_moments(total):
    counts = np.array([5, 3, 2]) * (total // 10)
    p = counts / total
    x = _draw_counts(np.random.default_rng(0), "multinomial", counts, total, 40_000)
    assert (x.sum(axis=1) == total).all() and (x >= 0).all()
    assert np.allclose(x.mean(axis=0), total * p, rtol=0.02)
    cov = np.cov(x.T)
    expected = total * (np.diag(p) - np.outer(p, p))
    assert np.allclose(cov, expected, rtol=0.05, atol=0.05 * total * 0.25)


def test_sparse_path_for_many_models_matches_dense(monkeypatch):
    left, right, winner, _, _ = synthetic(12, 800, seed=28)
    table = aggregate(left, right, winner)
    point = fit_bradley_terry(table)
    dense = bootstrap_bradley_terry(table, point, rounds=20, seed=4, batch_size=5)
    monkeypatch.setattr(bootstrap_module, "_DENSE_MAX_MODELS", 5)
    sparse = bootstrap_bradley_terry(table, point, rounds=20, seed=4, batch_size=5)
    assert np.abs(dense.samples - sparse.samples).max() < 1e-6


def test_poisson_and_multinomial_intervals_agree_roughly():
    left, right, winner, _, _ = synthetic(8, 4000, seed=24)
    table = aggregate(left, right, winner)
    point = fit_bradley_terry(table)
    m = bootstrap_bradley_terry(table, point, rounds=300, seed=1, method="multinomial")
    p = bootstrap_bradley_terry(table, point, rounds=300, seed=1, method="poisson")
    width_m, width_p = m.high - m.low, p.high - p.low
    assert np.all(np.abs(width_m / width_p - 1) < 0.35)


def test_interval_covers_truth_on_synthetic_data():
    # No random ties: they would pull every score towards equal, away from the generating strengths.
    left, right, winner, strength, names = synthetic(10, 6000, seed=25, tie_share=0.0)
    board = leaderboard_table(as_frame(left, right, winner), rounds=300, seed=3)
    truth = pd.Series(strength / strength.sum(), index=names)
    covered = (board["bt_low"].to_numpy() <= truth[board["model"]].to_numpy()) & (
        truth[board["model"]].to_numpy() <= board["bt_high"].to_numpy()
    )
    assert covered.mean() >= 0.8


def test_bootstrap_working_memory_does_not_grow_with_rounds():
    left, right, winner, _, _ = synthetic(40, 5000, seed=26)
    table = aggregate(left, right, winner)
    point = fit_bradley_terry(table)
    peaks = {}
    for rounds in (64, 512):
        tracemalloc.start()
        bootstrap_bradley_terry(table, point, rounds=rounds, seed=0, batch_size=32)
        peaks[rounds] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    kept = (512 - 64) * table.n_models * 8  # the per-round scores that are kept for the percentiles
    assert peaks[512] - peaks[64] < 2.5 * kept + 64 * 1024


def test_leaderboard_table_columns_order_and_values():
    left, right, winner, _, _ = synthetic(6, 600, seed=27)
    comp = as_frame(left, right, winner)
    comp["prompt_id"] = "p1"
    comp["turn"] = 1
    grades = pd.DataFrame(
        {
            "model": ["model-000", "model-000", "model-001", "newcomer", "newcomer", "late"],
            "turn": [1, 2, 1, 1, 2, 2],
            "score": [8.0, 6.0, 7.0, 9.0, np.nan, 4.0],
        }
    )
    board = leaderboard_table(comp, rounds=200, seed=1, single_scores=grades)
    assert list(board.columns) == LEADERBOARD_COLUMNS
    assert len(board) == 8 and board["model"].is_unique
    compared = board[board["n_comparisons"] > 0]
    assert compared["bt_score"].sum() == pytest.approx(1.0)
    assert compared["bt_score"].is_monotonic_decreasing
    assert (compared["bt_low"] <= compared["bt_score"]).all() and (
        compared["bt_score"] <= compared["bt_high"]
    ).all()
    assert compared["elo"].mean() == pytest.approx(1000.0)
    assert ((compared["elo_low"] <= compared["elo"]) & (compared["elo"] <= compared["elo_high"])).all()
    ref = bradley_terry(left, right, winner)
    assert np.allclose(compared.set_index("model")["bt_score"][ref.index], ref)
    row0 = board.set_index("model").loc["model-000"]
    assert row0["mean_score_turn1"] == 8.0 and row0["mean_score_turn2"] == 6.0
    assert np.isnan(board.set_index("model").loc["model-001", "mean_score_turn2"])
    assert (
        row0["n_comparisons"] == ((comp["model_a"] == "model-000") | (comp["model_b"] == "model-000")).sum()
    )
    # Grade-only models: NaN BT columns, ranked after all compared models, better grade first.
    tail = board.tail(2)
    assert list(tail["model"]) == ["newcomer", "late"]
    assert tail[["bt_score", "bt_low", "elo", "win_rate"]].isna().all().all()
    assert list(tail["rank"]) == [7, 8] and (tail["n_comparisons"] == 0).all()
    assert board["rank"].dtype == np.int64 and board["n_comparisons"].dtype == np.int64


def test_leaderboard_only_single_scores():
    grades = pd.DataFrame({"model": ["a", "b", "b"], "turn": [1, 1, 2], "score": [5.0, 7.0, 9.0]})
    board = leaderboard_table(pd.DataFrame(columns=["model_a", "model_b", "winner"]), single_scores=grades)
    assert list(board["model"]) == ["b", "a"] and list(board["rank"]) == [1, 2]
    assert list(board.columns) == LEADERBOARD_COLUMNS


def test_leaderboard_without_rounds_ranks_by_point():
    comp = pd.DataFrame(
        {
            "model_a": ["a", "a", "b", "b"],
            "model_b": ["b", "b", "c", "c"],
            "winner": ["model_a", "tie", "model_a", "tie"],
        }
    )
    board = leaderboard_table(comp, rounds=0)
    assert list(board["model"]) == ["a", "b", "c"] and list(board["rank"]) == [1, 2, 3]
    assert (board["bt_low"] == board["bt_score"]).all()


def test_markdown_and_png():
    comp = pd.DataFrame(
        {
            "model_a": ["a|x", "a|x", "b", "b"],
            "model_b": ["b", "b", "c", "c"],
            "winner": ["model_a", "tie", "model_a", "tie"],
        }
    )
    grades = pd.DataFrame({"model": ["solo"], "turn": [1], "score": [6.5]})
    board = leaderboard_table(comp, rounds=50, single_scores=grades)
    md = leaderboard_markdown(board)
    lines = md.splitlines()
    assert len(lines) == 2 + len(board)
    assert lines[2].startswith("| 1 | a\\|x | ") and "[" in lines[2]
    assert "| solo | – | – |" in md and "6.50" in md
    png = leaderboard_plot_png(board, "test board")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    empty = leaderboard_plot_png(board[board["bt_score"].isna()], "nothing")
    assert empty[:4] == b"\x89PNG"
