"""Real data: the LLMFAO crowd and GPT judgments (../shared/datasets/llmfao), skipped when absent.

Published figures (LLMFAO): crowd Bradley–Terry with ties as half wins ranks GPT 4 first at 0.041215
(evalica 0.4.2: 0.041218); Spearman between the human and GPT-4 leaderboards 0.731. Files used for the
correlation: crowd-comparisons.csv (8,931 crowd votes) and gpt4-crowd-comparisons.csv (GPT-4 on the same 2,139
pairs); both leaderboards are Bradley–Terry fits over all 59 models those files contain.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmfeedback_assets.ranking import (
    bradley_terry,
    judge_agreement_table,
    leaderboard_table,
    read_llmfao_comparisons,
    spearman,
)

LLMFAO = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "llmfao"

pytestmark = pytest.mark.skipif(
    not (LLMFAO / "crowd-comparisons.csv").exists(), reason="../shared/datasets/llmfao is absent"
)

SIDE = {"model_a": "left", "model_b": "right", "tie": "tie"}


def load(name: str) -> pd.DataFrame:
    return read_llmfao_comparisons(LLMFAO / name, LLMFAO / "models.jsonl")


def fit(df: pd.DataFrame) -> pd.Series:
    return bradley_terry(df["model_a"], df["model_b"], df["winner"].map(SIDE))


def test_crowd_leaderboard_matches_published_and_evalica():
    crowd = load("crowd-comparisons.csv")
    assert len(crowd) == 8931
    scores = fit(crowd)
    assert scores.index[0] == "GPT 4"
    assert abs(scores["GPT 4"] - 0.041215) < 1e-5
    assert list(scores.index[:3]) == ["GPT 4", "Platypus-2 Instruct (70B)", "command"]
    evalica = pytest.importorskip("evalica")
    winners = crowd["winner"].map(
        {"model_a": evalica.Winner.X, "model_b": evalica.Winner.Y, "tie": evalica.Winner.Draw}
    )
    ref = evalica.bradley_terry(crowd["model_a"], crowd["model_b"], winners).scores
    ref = ref / ref.sum()
    assert np.abs(scores - ref[scores.index]).max() < 1e-6


def test_human_vs_gpt4_spearman_reproduces_published():
    human = fit(load("crowd-comparisons.csv"))
    gpt4 = fit(load("gpt4-crowd-comparisons.csv"))
    assert len(human) == len(gpt4) == 59
    assert round(spearman(human, gpt4), 3) == 0.731


def brute_force_agreement(a: pd.DataFrame, b: pd.DataFrame | None) -> tuple[float, float]:
    """MT-bench's definition written as plain loops over votes, to check the vectorized table."""

    def keyed(df):
        out = defaultdict(list)
        for row in df.itertuples(index=False):
            x, y, w = row.model_a, row.model_b, row.winner
            if x > y:
                x, y, w = y, x, {"model_a": "model_b", "model_b": "model_a"}.get(w, w)
            out[(row.prompt_id, x, y)].append(w)
        return out

    ka = keyed(a)
    pairs = []
    if b is None:
        for vs in ka.values():
            pairs += list(combinations(vs, 2))
    else:
        kb = keyed(b)
        for key, vs in ka.items():
            pairs += [(u, v) for u in vs for v in kb.get(key, [])]
    with_ties = np.mean([u == v for u, v in pairs])
    no_ties = [u == v for u, v in pairs if u != "tie" and v != "tie"]
    return float(with_ties), float(np.mean(no_ties))


def test_agreement_gpt4_gpt35_crowd():
    crowd = load("crowd-comparisons.csv")
    gpt4 = load("gpt4-crowd-comparisons.csv").assign(judge="gpt-4")
    gpt3 = load("gpt3-crowd-comparisons.csv").assign(judge="gpt-3.5")
    judged = pd.concat([gpt4, gpt3], ignore_index=True)
    table = judge_agreement_table(judged, crowd).set_index(["judge_1", "judge_2"])
    for (j1, j2), frame_1, frame_2 in [
        (("gpt-3.5", "gpt-4"), gpt3, gpt4),
        (("gpt-4", "human"), gpt4, crowd),
        (("gpt-3.5", "human"), gpt3, crowd),
        (("human", "human"), crowd, None),
    ]:
        row = table.loc[(j1, j2)]
        with_ties, without = brute_force_agreement(frame_1, frame_2)
        assert row["agreement_with_ties"] == pytest.approx(with_ties, abs=1e-12)
        assert row["agreement_without_ties"] == pytest.approx(without, abs=1e-12)
    assert table.loc[("gpt-3.5", "gpt-4"), "n_keys"] == 2139
    # The human-vs-GPT-4 leaderboard correlation in the table is the published one.
    assert round(table.loc[("gpt-4", "human"), "spearman"], 3) == 0.731
    majority = judge_agreement_table(judged, crowd, human_majority=True).set_index(["judge_1", "judge_2"])
    assert majority.loc[("gpt-4", "human"), "n_with_ties"] == 2139
    # Dropping ties removes the most contested calls, so agreement rises for every pairing.
    assert (majority["agreement_without_ties"] > majority["agreement_with_ties"]).all()


def test_crowd_leaderboard_table():
    crowd = load("crowd-comparisons.csv")
    board = leaderboard_table(crowd, rounds=200, seed=0)
    assert board.loc[0, "model"] == "GPT 4" and board.loc[0, "rank"] == 1
    assert board["n_comparisons"].sum() == 2 * len(crowd)
    top = board.iloc[0]
    assert top["bt_low"] < top["bt_score"] < top["bt_high"]
    assert (board["rank"] >= 1).all() and board["rank"].max() < len(board)
