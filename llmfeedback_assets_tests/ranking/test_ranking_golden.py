"""Golden values: our fits against evalica (a dev extra) on the same synthetic comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from llmfeedback_assets.ranking import average_win_rate, bradley_terry, newman, online_elo
from llmfeedback_assets_tests.support.ranking import synthetic

evalica = pytest.importorskip("evalica", reason="evalica is a dev extra")
WIN = {"left": evalica.Winner.X, "right": evalica.Winner.Y, "tie": evalica.Winner.Draw}


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_matches_evalica_bradley_terry(seed):
    left, right, winner, _, _ = synthetic(20, 2000, seed=seed)
    ours = bradley_terry(left, right, winner)
    ref = evalica.bradley_terry(left, right, winner.map(WIN), tolerance=1e-12, limit=10_000).scores
    ref = ref / ref.sum()
    assert np.abs(ours - ref[ours.index]).max() < 1e-8
    assert list(ours.index) == list(ref.index)


def test_matches_evalica_weighted_newman_elo_awr():
    left, right, winner, _, _ = synthetic(10, 800, seed=13)
    weights = np.random.default_rng(2).uniform(0.5, 2.0, len(left))
    w = winner.map(WIN)
    ours = bradley_terry(left, right, winner, weights=weights)
    ref = evalica.bradley_terry(left, right, w, weights=weights, tolerance=1e-12, limit=10_000).scores
    assert np.abs(ours - (ref / ref.sum())[ours.index]).max() < 1e-8
    ns, v = newman(left, right, winner)
    ref_n = evalica.newman(left, right, w, tolerance=1e-12, limit=10_000)
    assert np.abs(ns - (ref_n.scores / ref_n.scores.sum())[ns.index]).max() < 1e-8
    assert v == pytest.approx(ref_n.v, abs=1e-8)
    oe = online_elo(left, right, winner)
    assert np.abs(oe - evalica.elo(left, right, w).scores[oe.index]).max() < 1e-8
    awr = average_win_rate(left, right, winner)
    assert np.abs(awr - evalica.average_win_rate(left, right, w).scores[awr.index]).max() < 1e-12
