"""The evaluator leaderboard on LLMFAO (../shared/datasets/llmfao, read in place; skipped when absent).

Published (LLMFAO's leaderboard notebook, "Correlations"): the rank correlation of the human (crowd) board
with GPT-4's is 0.730918 and with GPT-3.5 Turbo Instruct's ("GPT-3") 0.716610, each board a Bradley–Terry
fit of the *-crowd-comparisons.csv votes. The notebook correlates integer ranks (pandas' average rank cast to
int); Claude v1 and Jurassic 2 Ultra have the same record on GPT-3.5's board, so their scores differ only in
float noise and must tie, as they did there. The table's Spearman (average ranks, not truncated) gives
0.730918 and 0.715703.
"""

from __future__ import annotations

import pandas as pd
import pytest

from llmfeedback_assets.analysis.evaluators import (
    SPEC_FIELDS,
    EvaluatorInputs,
    bt_scores,
    evaluator_table,
    published_rank_correlation,
)
from llmfeedback_assets.ranking import judge_agreement_table, read_llmfao_comparisons
from llmfeedback_assets.warehouse import columns, empty
from llmfeedback_assets_tests.support.project import dataset

PUBLISHED = {"gpt-4": 0.730918, "gpt-3.5": 0.716610}


def _source(name: str, source: str, human: bool) -> pd.DataFrame:
    frame = read_llmfao_comparisons(dataset("llmfao", name), dataset("llmfao", "models.jsonl"))
    frame = frame.assign(turn=1, source=source, human=human, prompt_id=frame["prompt_id"].astype(str))
    return frame[columns("external_comparisons")]


@pytest.fixture(scope="module")
def external() -> pd.DataFrame:
    return pd.concat([_source("crowd-comparisons.csv", "crowd", True),
                      _source("gpt4-crowd-comparisons.csv", "gpt-4", False),
                      _source("gpt3-crowd-comparisons.csv", "gpt-3.5", False)], ignore_index=True)


@pytest.fixture(scope="module")
def table(external) -> pd.DataFrame:
    inputs = EvaluatorInputs(empty("judgments"), pd.Series(dtype=object),
                             pd.DataFrame(columns=["request_key", "status", "cost_usd", "latency_s"]),
                             external, pd.DataFrame(columns=["model", *SPEC_FIELDS]))
    return evaluator_table(inputs).set_index("judge")


def test_published_human_rank_correlations_reproduced(external, table):
    human = bt_scores(external[external["human"]])
    for judge, published in PUBLISHED.items():
        board = bt_scores(external[external["source"] == judge])
        assert len(board) == len(human) == 59
        assert published_rank_correlation(human, board) == pytest.approx(published, abs=5e-7)
        # The table's Spearman keeps average ranks (no truncation): within 0.001 of the notebook's figure.
        assert table.loc[judge, "human_spearman"] == pytest.approx(published, abs=1e-3)


def test_agreement_columns_equal_the_agreement_table(external, table):
    machine = external[~external["human"]].rename(columns={"source": "judge"})
    reference = judge_agreement_table(machine, external[external["human"]]).set_index(["judge_1", "judge_2"])
    for judge in PUBLISHED:
        row = reference.loc[(judge, "human")]
        assert table.loc[judge, "human_agreement"] == pytest.approx(row["agreement_with_ties"], abs=1e-12)
        assert table.loc[judge, "human_agreement_no_ties"] == pytest.approx(row["agreement_without_ties"],
                                                                            abs=1e-12)
        assert table.loc[judge, "human_kappa"] == pytest.approx(row["cohen_kappa"], abs=1e-12)
        assert table.loc[judge, "human_n"] == row["n_with_ties"]
    pair = reference.loc[("gpt-3.5", "gpt-4")]
    assert table.loc["gpt-4", "judges_agreement"] == pytest.approx(pair["agreement_with_ties"], abs=1e-12)
    # GPT-4 agrees with the crowd more than GPT-3.5 does, as LLMFAO found; the table puts it first.
    assert list(table.index) == ["gpt-4", "gpt-3.5"]
    assert (table["source"] == "external").all() and table["alpha_all"].between(0, 1).all()
