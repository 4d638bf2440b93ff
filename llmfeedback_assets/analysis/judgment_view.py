"""Judgments as a person reads them: the question, the answers, the verdict and the judge's own reply, with
the two kinds of disagreement worth a look (no Dagster here; `llmfeedback show` and the HTML browser read
this module).

The reply is the `explanation` column; rows written before that column existed fall back to the journal's
copy of the reply (by request key), so an older warehouse file still shows its explanations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..warehouse import Warehouse

# The letter of each order in terms of the pair: verdict_ab showed model_a as A, verdict_ba showed model_b.
_FIRST = {"A": "model_a", "B": "model_b", "C": "tie"}
_SECOND = {"A": "model_b", "B": "model_a", "C": "tie"}
DISAGREE_KINDS = ("judges", "orders")

_JUDGMENTS_SQL = """
SELECT j.judgment_id, j.judge_model, j.mode, j.prompt_id, j.turn, j.model_a, j.model_b, j.response_a_id,
       j.response_b_id, j.score, j.winner, j.verdict_ab, j.verdict_ba, j.parse_status, j.source,
       coalesce(j.explanation, ja.text) AS explanation,
       coalesce(j.explanation_swapped, jb.text) AS explanation_swapped
FROM judgments j
LEFT JOIN llm_journal ja ON ja.request_key = j.request_key AND ja.status = 'ok'
LEFT JOIN llm_journal jb ON jb.request_key = j.request_key_swapped AND jb.status = 'ok'
"""
_FLAG_COLUMNS = ("judgment_id, judge_model, mode, prompt_id, turn, model_a, model_b, response_a_id, "
                 "response_b_id, winner, verdict_ab, verdict_ba")
ORDER = ["prompt_id", "turn", "mode", "pair", "judge_model", "judgment_id"]


def disagreements(frame: pd.DataFrame) -> pd.DataFrame:
    """Per judgment row: `judges_disagree` (judges reached different outcomes on the same two answers of a
    prompt turn: one answer better, the other, or a tie) and `orders_disagree` (the judge's two orders of a
    pairwise judgment chose differently). Single grades are never flagged: a grade has no agreed outcome."""
    out = pd.DataFrame({"judges_disagree": False, "orders_disagree": False}, index=frame.index)
    pairwise = frame["mode"].eq("pairwise") & frame["response_b_id"].notna()
    if not pairwise.any():
        return out
    pw = frame[pairwise]
    a, b = pw["response_a_id"].astype(str), pw["response_b_id"].astype(str)
    winner = pw["winner"]
    outcome = pd.Series(np.select([winner.eq("model_a"), winner.eq("model_b"), winner.eq("tie")],
                                  [a, b, "tie"], default=""), index=pw.index)
    key = pw["prompt_id"].astype(str) + "\x1f" + pw["turn"].astype(str) + "\x1f" + pd.Series(
        np.where(a < b, a + "\x1f" + b, b + "\x1f" + a), index=pw.index)
    decided = pd.DataFrame({"key": key, "outcome": outcome, "judge": pw["judge_model"]})[outcome != ""]
    groups = decided.groupby("key").agg(outcomes=("outcome", "nunique"), judges=("judge", "nunique"))
    split = set(groups.index[(groups["outcomes"] > 1) & (groups["judges"] > 1)])
    out.loc[pw.index, "judges_disagree"] = key.isin(split) & (outcome != "")
    first, second = pw["verdict_ab"].map(_FIRST), pw["verdict_ba"].map(_SECOND)
    out.loc[pw.index, "orders_disagree"] = first.notna() & second.notna() & (first != second)
    return out


def pair_key(frame: pd.DataFrame) -> pd.Series:
    """The unordered pair of models a row judged ('' for a single grade), so judges of one pair sort
    together."""
    a, b = frame["model_a"].fillna("").astype(str), frame["model_b"].fillna("").astype(str)
    return pd.Series(np.where(a < b, a + " " + b, b + " " + a), index=frame.index).str.strip()


@dataclass(frozen=True)
class Filters:
    """What `llmfeedback show` narrows to; None (or empty) keeps everything."""

    prompt: str | None = None  # prompt id (or a prefix of one), the file's own id, or a text substring
    model: str | None = None
    judge: str | None = None  # a partition name, or an imported judge by its configured name
    disagree: str | None = None  # 'judges' or 'orders'

    def describe(self) -> str:
        return " ".join(f"--{k} {v!r}" for k, v in vars(self).items() if v)


MIN_ID_PREFIX = 6  # shorter needles would match hashes by accident ("2" starts many)


def matching_prompts(prompts: pd.DataFrame, needle: str) -> set[str]:
    """Prompts a user means by `needle`: by id (or its first characters, at least 6, as `show` prints it) or
    by the source file's own id; only when none matches that way, every prompt whose text contains it
    (case-insensitive)."""
    ids = prompts["prompt_id"].astype(str)
    hit = ids.eq(needle) | prompts["source_id"].astype(str).eq(needle)
    if len(needle) >= MIN_ID_PREFIX:
        hit |= ids.str.startswith(needle)
    by_id = prompts[hit]
    if len(by_id):
        return set(by_id["prompt_id"])
    low = needle.casefold()
    return {p.prompt_id for p in prompts.itertuples(index=False)
            if any(low in str(t).casefold() for t in (p.turns if p.turns is not None else []))}


def select(flags: pd.DataFrame, prompts: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows of `flags` (judgment ids with the small columns and the disagreement flags) that pass the
    filters, in reading order: prompt, turn, pairwise verdicts before single grades, the judges of one pair
    (or one graded answer) together."""
    keep = pd.Series(True, index=flags.index)
    if filters.prompt:
        keep &= flags["prompt_id"].isin(matching_prompts(prompts, filters.prompt))
    if filters.model:
        keep &= flags["model_a"].eq(filters.model) | flags["model_b"].eq(filters.model)
    if filters.judge:
        keep &= flags["judge_model"].isin([filters.judge, f"{filters.judge} (imported)"])
    if filters.disagree == "judges":
        keep &= flags["judges_disagree"]
    elif filters.disagree == "orders":
        keep &= flags["orders_disagree"]
    elif filters.disagree:
        raise ValueError(f"--disagree {filters.disagree!r}: expected one of {', '.join(DISAGREE_KINDS)}")
    chosen = flags[keep].assign(pair=lambda f: pair_key(f))
    return chosen.sort_values(ORDER, kind="stable").drop(columns="pair")


def judgment_flags(wh: Warehouse) -> pd.DataFrame:
    """Every judgment's ids, models and verdicts (no text) with its disagreement flags."""
    flags = wh.query(f"SELECT {_FLAG_COLUMNS} FROM judgments")
    return pd.concat([flags, disagreements(flags)], axis=1)


def judgments_with_text(wh: Warehouse, ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Judgment rows with the judge's replies (`explanation`, `explanation_swapped`); only `ids` if given."""
    if ids is None:
        return wh.query(_JUDGMENTS_SQL)
    if not len(ids):
        return wh.query(_JUDGMENTS_SQL + " WHERE false")
    return wh.query(_JUDGMENTS_SQL + " WHERE j.judgment_id IN (SELECT unnest(?))", [list(ids)])


def answers(wh: Warehouse, response_ids: Sequence[str]) -> pd.DataFrame:
    """response_id, responder_model, text of the given answers."""
    return wh.query("SELECT response_id, responder_model, text FROM responses "
                    "WHERE response_id IN (SELECT unnest(?))", [list(response_ids)])
