"""Released sparse feedback as the reward loop's own feedback: an imported judge's `judgments` rows read from
sparse-feedback ratings and rankings files (`judgment_sources`: CSV, JSON lines, Parquet or the reward-model
pairs JSON, see `ingest.sparse_feedback`) become its `feedback_ratings` (1–7) and `feedback_rankings`
((a)/(b)/equal) partitions, so the reward models train on them and `feedback_consistency` compares them,
exactly as recorded and in the files' order.

No Dagster here; the feedback assets call `imported_feedback` for an imported judge's partition.
"""

from __future__ import annotations

import re

import pandas as pd

from ..ids import stable_id
from ..warehouse import columns

SPARSE_PROMPT_NAME = "sparse-feedback"  # judgments.prompt_name of rows read from sparse-feedback files
_RANKING = {"model_a": "a", "model_b": "b", "tie": "equal"}
_LETTER = {"A": "a", "B": "b", "C": "equal"}
_WHERE = re.compile(r"^(?P<file>.*):(?P<line>\d+)$")


def file_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by the file and line in `source` (lines as numbers; rows without one keep their place
    after them): 'first rating' means first in the file, as upstream reads it."""
    if frame.empty or "source" not in frame.columns:
        return frame
    parts = frame["source"].astype("string").str.extract(_WHERE)
    keys = pd.DataFrame({"file": parts["file"].fillna("\uffff"),
                         "line": pd.to_numeric(parts["line"], errors="coerce").fillna(float("inf")),
                         "pos": range(len(frame))}, index=frame.index)
    return frame.loc[keys.sort_values(["file", "line", "pos"]).index]


def imported_feedback(table: str, judgments: pd.DataFrame) -> pd.DataFrame:
    """`feedback_ratings` or `feedback_rankings` rows of one imported judge from its `judgments` partition:
    the rows read from sparse-feedback files (other formats grade on another scale and are left to
    `judgments`). Every recorded judgment is a row, repeated ones included (each keyed by its file:line)."""
    rows = file_order(judgments[judgments["prompt_name"] == SPARSE_PROMPT_NAME])
    if table == "feedback_ratings":
        single = rows[rows["mode"] == "single"]
        out = pd.DataFrame({
            "rating_id": [stable_id("rating", j, r, s) for j, r, s in
                          zip(single["judge_model"], single["response_a_id"], single["source"], strict=True)],
            "judge_model": single["judge_model"], "prompt_id": single["prompt_id"],
            "responder_model": single["model_a"], "response_id": single["response_a_id"],
            "score": pd.to_numeric(single["score"]).round().astype("Int64"), "parse_status": "ok",
            "request_key": None, "source": single["source"]})
    elif table == "feedback_rankings":
        pair = rows[rows["mode"] == "pairwise"]
        out = pd.DataFrame({
            "ranking_id": [stable_id("ranking", j, a, b, s) for j, a, b, s in
                           zip(pair["judge_model"], pair["response_a_id"], pair["response_b_id"],
                               pair["source"], strict=True)],
            "judge_model": pair["judge_model"], "prompt_id": pair["prompt_id"], "model_1": pair["model_a"],
            "model_2": pair["model_b"], "response_1_id": pair["response_a_id"],
            "response_2_id": pair["response_b_id"], "verdict_first": pair["verdict_ab"].map(_LETTER),
            "verdict_swapped": None, "ranking": pair["winner"].map(_RANKING), "parse_status_first": "ok",
            "parse_status_swapped": "not asked (imported)", "request_key_first": None,
            "request_key_swapped": None, "source": pair["source"]})
    else:
        raise ValueError(f"imported_feedback: no feedback table {table!r}")
    return out.reset_index(drop=True)[columns(table)]
