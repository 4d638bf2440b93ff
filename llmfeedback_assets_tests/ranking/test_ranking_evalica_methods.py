"""evalica's eigenvector and PageRank methods: golden values from evalica's repository and evalica itself.

Golden values: `llmfao-golden.csv` of dustalov/evalica (commit 2ebe79e, evalica 0.4.2), computed on the
LLMFAO crowd votes that ../shared/datasets/llmfao/crowd-comparisons.csv holds (the same 8,931 rows as
evalica's llmfao.csv). The golden files hold the converged eigenvectors; evalica's default stop (tolerance
1e-6, 100 steps) lands ~2e-7 away from them, and with those settings our iterates are evalica's to rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmfeedback_assets.ranking import (
    RankingError,
    RankingWarning,
    aggregate,
    eigen_ratings,
    fit_eigen_ratings,
    fit_pagerank,
    pagerank,
    read_llmfao_comparisons,
)
from llmfeedback_assets_tests.support.ranking import synthetic

LLMFAO = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "llmfao"
SIDE = {"model_a": "left", "model_b": "right", "tie": "tie"}

# evalica's llmfao-golden.csv: the three highest scores of each method, then the lowest.
GOLDEN = {
    "eigen": [
        ("Weaver 12k", 0.5787453862482635),
        ("Dolly v2 (12B)", 0.26572197279612964),
        ("Luminous Extended", 0.19461182466856533),
        ("GPT 4", 0.045343319706166015),
    ],
    "pagerank": [
        ("Weaver 12k", 0.1456755934081896),
        ("Dolly v2 (12B)", 0.04570506048037487),
        ("command-light", 0.03153768579571687),
        ("Luminous Extended Control", 0.007929908975453754),
    ],
}


def _evalica():
    return pytest.importorskip("evalica", reason="evalica is a dev extra")


def _winners(evalica, winner: pd.Series) -> list:
    labels = {"left": evalica.Winner.X, "right": evalica.Winner.Y, "tie": evalica.Winner.Draw}
    return winner.map(labels).tolist()


@pytest.mark.skipif(not (LLMFAO / "crowd-comparisons.csv").exists(), reason="no ../shared/datasets/llmfao")
@pytest.mark.parametrize("method", ["eigen", "pagerank"])
def test_llmfao_golden_values(method):
    crowd = read_llmfao_comparisons(LLMFAO / "crowd-comparisons.csv", LLMFAO / "models.jsonl")
    fit = eigen_ratings if method == "eigen" else pagerank
    ours = fit(crowd["model_a"], crowd["model_b"], crowd["winner"].map(SIDE))
    assert ours.attrs["converged"]
    golden = GOLDEN[method]
    assert [m for m, _ in golden] == [*ours.index[:3], ours.index[-1]]
    for model, value in golden:
        assert ours[model] == pytest.approx(value, abs=1e-10)
    evalica = _evalica()
    ref = getattr(evalica, method)(
        crowd["model_a"].tolist(), crowd["model_b"].tolist(), _winners(evalica, crowd["winner"].map(SIDE)),
        tolerance=1e-14, limit=100_000, solver="naive",
    ).scores
    assert np.abs(ours - ref[ours.index]).max() < 1e-10
    assert list(ours.index) == list(ref.index)


@pytest.mark.parametrize("seed", [21, 22])
def test_matches_evalica_with_weights_and_options(seed):
    evalica = _evalica()
    left, right, winner, _, _ = synthetic(15, 1200, seed=seed)
    weights = np.random.default_rng(seed).uniform(0.2, 3.0, len(left))
    w = _winners(evalica, winner)
    common = dict(weights=weights.tolist(), tolerance=1e-13, limit=100_000, solver="naive")
    for win_weight, tie_weight in [(1.0, 0.5), (2.0, 0.0), (1.0, 1.5)]:
        ours = eigen_ratings(left, right, winner, weights, win_weight, tie_weight, tol=1e-13)
        ref = evalica.eigen(left.tolist(), right.tolist(), w, win_weight=win_weight, tie_weight=tie_weight,
                            **common).scores
        assert np.abs(ours - ref[ours.index]).max() < 1e-10
        for damping in (0.85, 0.5):
            ours = pagerank(left, right, winner, weights, damping, win_weight, tie_weight, tol=1e-13)
            ref = evalica.pagerank(left.tolist(), right.tolist(), w, damping=damping, win_weight=win_weight,
                                   tie_weight=tie_weight, **common).scores
            assert np.abs(ours - ref[ours.index]).max() < 1e-10
            assert ours.sum() == pytest.approx(1.0)


def test_evalica_default_stop_is_reproduced_step_for_step():
    """With evalica's tolerance and limit our iterates are evalica's, both solvers; its default output is
    ~1e-7 from the eigenvector that the golden files and our defaults hold."""
    evalica = _evalica()
    left, right, winner, _, _ = synthetic(12, 900, seed=23)
    w = _winners(evalica, winner)
    for method, ours_fn in (("eigen", eigen_ratings), ("pagerank", pagerank)):
        ours = ours_fn(left, right, winner, tol=1e-6, max_iter=100)
        for solver in ("naive", "pyo3"):
            ref = getattr(evalica, method)(left.tolist(), right.tolist(), w, solver=solver).scores
            assert np.abs(ours - ref[ours.index]).max() < 1e-12
        assert ours.attrs["iterations"] == getattr(evalica, method)(
            left.tolist(), right.tolist(), w, solver="naive").iterations


def test_eigen_direction_and_pagerank_order_winners():
    """evalica's eigen scores the credit conceded (the weakest first on strong data); direction="wins" and
    PageRank put the strongest first."""
    left, right, winner, strength, names = synthetic(8, 4000, seed=24, tie_share=0.05)
    truth = pd.Series(strength, index=names)
    wins = eigen_ratings(left, right, winner, direction="wins")
    conceded = eigen_ratings(left, right, winner)
    assert wins.index[0] == truth.idxmax() and conceded.index[0] == truth.idxmin()
    assert pagerank(left, right, winner).index[0] == truth.idxmax()


def test_pagerank_model_that_never_conceded_links_to_all():
    table = aggregate(["a", "a", "b"], ["b", "c", "c"], ["left", "left", "left"])
    scores = fit_pagerank(table)
    assert scores.sum() == pytest.approx(1.0) and scores.idxmax() == "a"
    evalica = pytest.importorskip("evalica")
    ref = evalica.pagerank(["a", "a", "b"], ["b", "c", "c"], [evalica.Winner.X] * 3, tolerance=1e-13,
                           limit=10_000, solver="naive").scores
    assert np.abs(scores - ref[scores.index]).max() < 1e-10


def test_bad_options_and_non_convergence():
    table = aggregate(["a", "b", "c"], ["b", "c", "a"], ["left", "tie", "right"])
    with pytest.raises(RankingError, match="damping"):
        fit_pagerank(table, damping=1.5)
    with pytest.raises(RankingError, match="tie_weight"):
        fit_eigen_ratings(table, tie_weight=-1.0)
    with pytest.raises(RankingError, match="direction"):
        fit_eigen_ratings(table, direction="losses")
    left, right, winner, _, _ = synthetic(6, 300, seed=25)
    with pytest.warns(RankingWarning, match="did not reach"):
        scores = fit_eigen_ratings(aggregate(left, right, winner), tol=1e-15, max_iter=3)
    assert not scores.attrs["converged"] and scores.attrs["iterations"] == 3
