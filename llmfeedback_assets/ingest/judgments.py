"""A user's existing judgments (LLM judges or people), read into one judgment table (no Dagster here).

Formats (``format``):

- ``fastchat``: FastChat llm_judge model_judgment JSONL. Single grading ``{question_id, model, judge:
  [judge_model, prompt_name], user_prompt, judgment, score, turn}``; pairwise ``{question_id, model_1,
  model_2, g1_winner, g2_winner, judge, g1_judgment, g2_judgment, turn}`` where g1 showed model_1 first
  (as A), g2 showed model_2 first, and both recorded winners are already in model_1/model_2 terms;
  pairwise records graded with a single-answer prompt (``m1_score``/``m2_score``) hold one rating per model
  in g1/g2. Human votes ``{question_id, model_a, model_b, winner, judge, turn}`` (MT-bench human
  judgments) read too, with the vote as raw and winner.
- ``llmfao``: LLMFAO comparison CSVs (crowd-, gpt4-comparisons.csv ...) through
  `ranking.sources.read_llmfao_comparisons`, ids resolved with the models.jsonl beside the file; the judge is
  the file stem without "-comparisons".
- ``sparse_feedback`` (read in `sparse_feedback`): headerless ratings CSV (instruction, input, response,
  score 1-7) or rankings CSV (instruction, input, response1, response2, ``(a)``/``(b)``/``equal``), the same
  columns by name in JSON lines or Parquet, or the reward-model pairs JSON ``{prompt: {"sentences":
  [[preferred, rejected], ...]}}``. The files do not say who wrote the responses, so model columns are None
  and ``text_a``/``text_b`` identify them; judge "sparse-feedback".
- ``auto``: JSON records with g1_winner/judgment/winner are fastchat, with instruction and score or ranking
  sparse_feedback, as is a whole-file object of ``sentences``; a CSV header with model_x and model_y is
  llmfao; a headerless CSV of 4 or 5 columns and any Parquet file are sparse_feedback.

Score and winner come from our parsers (`judging.parse`) on the raw reply wherever the file has one;
``recorded_score``/``recorded_winner`` keep what the file itself recorded, so disagreements can be counted.
Both orders combine as FastChat's show_result does: a tie in the first order or orders that disagree is a
tie. Every record becomes a row or a `JudgmentSourceError` naming file, line and field.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..judging.parse import combine_pairwise, parse_rating, parse_verdict
from ..ranking.sources import SourceFormatError, _judge_name, read_llmfao_comparisons
from . import sparse_feedback
from .answers import csv_rows, id_field, json_records, name_field, source_files, where
from .records import BadRecord, display_path, storable_text, type_name

JUDGMENT_COLUMNS = ["judge", "mode", "question_id", "turn", "model", "model_a", "model_b", "score", "winner",
                    "raw", "raw_swapped", "verdict_ab", "verdict_ba", "recorded_score", "recorded_winner",
                    "prompt_name", "text_a", "text_b", "model_a_id", "model_b_id", "worker", "source_file",
                    "line", "format", "explanation", "explanation_swapped"]
JUDGMENT_FORMATS = ("auto", "fastchat", "llmfao", "sparse_feedback")
_OBJECT_COLUMNS = [c for c in JUDGMENT_COLUMNS if c not in ("turn", "score", "recorded_score", "line")]
TIE_DELTA = 0.1  # FastChat: two single-answer ratings this close are a tie

# FastChat's recorded winners as the letter each order's reply chose (g1 showed model_1 as A, g2 model_2).
_G1_LETTER = {"model_1": "A", "model_2": "B", "tie": "C"}
_G2_LETTER = {"model_2": "A", "model_1": "B", "tie": "C"}
_HUMAN_WINNER = {"model_a": "model_a", "model_b": "model_b", "tie": "tie", "tie (bothbad)": "tie"}


class JudgmentSourceError(ValueError):
    """A judgment file that cannot be read as given; the message names the file, line or record, and field."""


def _row(**values: Any) -> dict:
    row = dict.fromkeys(JUDGMENT_COLUMNS)
    row.update(score=math.nan, recorded_score=math.nan, turn=1)
    row.update(values)
    return row


# -- FastChat JSON -----------------------------------------------------------------------------------------


def _turn(rec: dict) -> int:
    turn = rec.get("turn", 1)
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
        raise BadRecord(f"field 'turn' must be a positive integer, got {turn!r}")
    return turn


def _judge(rec: dict, loc: str) -> tuple[str, str | None]:
    """(judge model, FastChat prompt name or None) from ``judge``: [model, prompt name] or a name."""
    if "judge" not in rec:
        raise BadRecord("missing field 'judge'")
    try:
        judge = _judge_name(rec["judge"], loc)
    except SourceFormatError:
        raise BadRecord(f"field 'judge' must be a name or [model, prompt], got {rec['judge']!r}") from None
    value = rec["judge"]
    prompt = value[1] if isinstance(value, list | tuple) and len(value) > 1 else None
    return name_field(judge, "judge[0]"), (name_field(prompt, "judge[1]") if prompt is not None else None)


def _reply(rec: dict, key: str) -> str | None:
    if key not in rec:
        raise BadRecord(f"missing field '{key}'")
    value = rec[key]
    if value is not None and not isinstance(value, str):
        raise BadRecord(f"field '{key}' must be a string, got {type_name(value)}")
    return None if value is None else storable_text(value)


def _recorded_score(value: Any, name: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord(f"field '{name}' must be a number, got {value!r}")
    return math.nan if value == -1 else float(value)  # FastChat records -1 when it found no rating


def _pair_models(rec: dict, keys: tuple[str, str]) -> tuple[str, str]:
    for key in keys:
        if key not in rec:
            raise BadRecord(f"missing field '{key}'")
    a, b = (name_field(rec[k], k) for k in keys)
    if a == b:
        raise BadRecord(f"fields '{keys[0]}' and '{keys[1]}': model {a!r} is compared with itself")
    return a, b


def _fastchat_single(rec: dict, loc: str) -> dict:
    judge, prompt = _judge(rec, loc)
    if "model" not in rec:
        raise BadRecord("missing field 'model'")
    raw = _reply(rec, "judgment")
    return _row(judge=judge, mode="single", question_id=id_field(rec, "question_id"), turn=_turn(rec),
                model=name_field(rec["model"], "model"), score=_or_nan(parse_rating(raw)[0]), raw=raw,
                explanation=raw, recorded_score=_recorded_score(rec.get("score"), "score"),
                prompt_name=prompt)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _fastchat_pair(rec: dict, loc: str) -> dict:
    judge, prompt = _judge(rec, loc)
    a, b = _pair_models(rec, ("model_1", "model_2"))
    letters = []
    for key, table in (("g1_winner", _G1_LETTER), ("g2_winner", _G2_LETTER)):
        if key not in rec:
            raise BadRecord(f"missing field '{key}'")
        if rec[key] != "error" and rec[key] not in table:
            raise BadRecord(f"field '{key}' is {rec[key]!r}; expected model_1, model_2, tie or error")
        letters.append(table.get(rec[key]))
    recorded = combine_pairwise(*letters)
    values = dict(judge=judge, mode="pairwise", question_id=id_field(rec, "question_id"), turn=_turn(rec),
                  model_a=a, model_b=b, recorded_winner=recorded, prompt_name=prompt)
    if "g1_judgment" not in rec and "g2_judgment" not in rec:
        return _row(**values, winner=recorded)  # verdicts only: nothing of ours to parse
    raw, swapped = _reply(rec, "g1_judgment"), _reply(rec, "g2_judgment")
    values.update(raw=raw, raw_swapped=swapped, explanation=raw, explanation_swapped=swapped)
    if "m1_score" in rec or "m2_score" in rec:
        # A single-answer prompt graded each model on its own (g1 = model_1, g2 = model_2); FastChat calls
        # ratings within TIE_DELTA a tie.
        s1, s2 = parse_rating(raw)[0], parse_rating(swapped)[0]
        winner = None if s1 is None or s2 is None else (
            "tie" if abs(s1 - s2) <= TIE_DELTA else ("model_a" if s1 > s2 else "model_b"))
        return _row(**values, winner=winner)
    ab, ba = parse_verdict(raw)[0], parse_verdict(swapped)[0]
    return _row(**values, winner=combine_pairwise(ab, ba), verdict_ab=ab, verdict_ba=ba)


def _human(rec: dict, loc: str) -> dict:
    a, b = _pair_models(rec, ("model_a", "model_b"))
    winner = rec["winner"]
    if winner not in _HUMAN_WINNER:
        raise BadRecord(f"field 'winner' is {winner!r}; expected model_a, model_b, tie or 'tie (bothbad)'")
    judge, prompt = _judge(rec, loc)
    return _row(judge=judge, mode="pairwise", question_id=id_field(rec, "question_id"), turn=_turn(rec),
                model_a=a, model_b=b, winner=_HUMAN_WINNER[winner], recorded_winner=_HUMAN_WINNER[winner],
                raw=winner, prompt_name=prompt)


def _fastchat_kind(rec: dict) -> str | None:
    if "g1_winner" in rec or "g2_winner" in rec:
        return "pair"
    if "winner" in rec and ("model_a" in rec or "model_b" in rec):
        return "human"
    if "judgment" in rec:
        return "single"
    return None


def _read_fastchat(path: Path, records: list[tuple[int, Any]], array: bool) -> list[dict]:
    readers = {"pair": _fastchat_pair, "human": _human, "single": _fastchat_single}
    rows = []
    for number, rec in records:
        loc = where(path, number, array)
        try:
            if not isinstance(rec, dict):
                raise BadRecord(f"expected a JSON object, got {type_name(rec)}")
            kind = _fastchat_kind(rec) or "single"  # a record without judgment fails on its missing field
            rows.append(readers[kind](rec, loc) | {"line": number})
        except BadRecord as bad:
            raise JudgmentSourceError(f"{loc}: {bad} (fastchat format)") from None
    return rows


# -- LLMFAO CSV -------------------------------------------------------------------------------------------


def _read_llmfao(path: Path) -> pd.DataFrame:
    models = path.parent / "models.jsonl"
    try:
        votes = read_llmfao_comparisons(path, models if models.is_file() else None)
    except SourceFormatError as exc:
        raise JudgmentSourceError(f"{exc} (llmfao format)") from None
    # The same parse as read_llmfao_comparisons (one row per CSV row), for the ids and the words as written.
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "prompt" not in raw.columns:
        raise JudgmentSourceError(f"{where(path, 1)}: missing column 'prompt' (the prompt id of each vote)")
    prompt = raw["prompt"].str.strip()
    if (prompt == "").any():
        raise JudgmentSourceError(f"{where(path, int(np.flatnonzero(prompt == '')[0]) + 2)}: empty 'prompt'")
    n = len(raw)
    judge = path.stem.removesuffix("-comparisons") or path.stem  # gpt4-comparisons.csv: judge "gpt4"
    none = np.full(n, None, dtype=object)
    return pd.DataFrame({
        "judge": judge, "mode": "pairwise", "question_id": prompt.to_numpy(dtype=object), "turn": 1,
        "model": none, "model_a": votes["model_a"].to_numpy(dtype=object),
        "model_b": votes["model_b"].to_numpy(dtype=object), "score": math.nan,
        "winner": votes["winner"].to_numpy(dtype=object),
        "raw": raw["winner"].str.strip().to_numpy(dtype=object),
        "recorded_winner": votes["winner"].to_numpy(dtype=object), "recorded_score": math.nan,
        "model_a_id": raw["model_x"].str.strip().to_numpy(dtype=object),
        "model_b_id": raw["model_y"].str.strip().to_numpy(dtype=object),
        "worker": votes["worker"].to_numpy(dtype=object), "line": np.arange(n) + 2,
    }).reindex(columns=JUDGMENT_COLUMNS)


# -- reading ----------------------------------------------------------------------------------------------


def _detect_csv(path: Path, rows: list[tuple[int, list[str]]]) -> str:
    first = [c.strip().lower() for c in rows[0][1]] if rows else []
    if "model_x" in first and "model_y" in first:
        return "llmfao"
    if len(first) in (4, 5):
        return "sparse_feedback"
    raise JudgmentSourceError(
        f"{display_path(path)}: cannot tell the judgment format: a CSV needs a header with model_x and "
        f"model_y (llmfao) or 4/5 columns without a header (sparse_feedback); the first row has {len(first)}")


def _sparse_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([_row(**values) for values in rows])


def _read_json(path: Path, fmt: str) -> tuple[pd.DataFrame, str]:
    """A JSON file: FastChat records, sparse-feedback records by field name, or the pairs JSON."""
    records, array = json_records(path, JudgmentSourceError)
    if not records:
        raise JudgmentSourceError(f"{display_path(path)}: the file holds no judgments")
    first = records[0][1]
    if fmt in ("auto", "sparse_feedback"):
        if len(records) == 1 and not array and sparse_feedback.is_pairs_json(first):
            return _sparse_frame(sparse_feedback.read_pairs_json(path, first, JudgmentSourceError)), \
                "sparse_feedback"
        if fmt == "sparse_feedback" or sparse_feedback.named_kind(first):
            rows = sparse_feedback.read_named(path, records, JudgmentSourceError,
                                              lambda n: where(path, n, array))
            return _sparse_frame(rows), "sparse_feedback"
    if fmt == "auto" and not (isinstance(first, dict) and _fastchat_kind(first)):
        what = f"fields {sorted(map(str, first))[:12]}" if isinstance(first, dict) else type_name(first)
        raise JudgmentSourceError(
            f"{display_path(path)}: cannot tell the judgment format from the first record ({what}); "
            "expected FastChat's 'judgment' (single) or 'g1_winner'/'g2_winner' (pairwise), sparse "
            "feedback's 'instruction' with 'score' or 'ranking', or {prompt: {'sentences': [...]}}; pass "
            "format=")
    return pd.DataFrame(_read_fastchat(path, records, array)), "fastchat"


def _read_file(path: Path, fmt: str) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = csv_rows(path, JudgmentSourceError) if fmt != "llmfao" else []
        if fmt == "auto":
            fmt = _detect_csv(path, rows)
        if fmt == "fastchat":
            raise JudgmentSourceError(f"{display_path(path)}: fastchat judgments are JSON lines, not a CSV")
        frame = _read_llmfao(path) if fmt == "llmfao" else _sparse_frame(
            sparse_feedback.read_csv(path, rows, JudgmentSourceError))
    elif suffix == ".parquet":
        if fmt not in ("auto", "sparse_feedback"):
            raise JudgmentSourceError(f"{display_path(path)}: {fmt} judgments are not Parquet files (a "
                                      "Parquet file is read as sparse_feedback ratings or rankings)")
        records = sparse_feedback.parquet_records(path, JudgmentSourceError)
        fmt, frame = "sparse_feedback", _sparse_frame(sparse_feedback.read_named(
            path, records, JudgmentSourceError, lambda n: f"{display_path(path)}: row {n}"))
    else:
        if fmt == "llmfao":
            raise JudgmentSourceError(f"{display_path(path)}: llmfao judgments are CSV files")
        frame, fmt = _read_json(path, fmt)
    frame = frame.reindex(columns=JUDGMENT_COLUMNS).assign(source_file=display_path(path), format=fmt)
    for col in _OBJECT_COLUMNS:  # a column the format lacks is None, not NaN
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def read_judgments(path: str | Path, format: str = "auto") -> pd.DataFrame:
    """Every judgment in a file, or a folder's *.jsonl/*.json/*.csv/*.parquet files, as `JUDGMENT_COLUMNS`.

    judge, mode (single | pairwise), question_id (str), turn, model (single), model_a/model_b (pairwise),
    score (float, NaN without a valid rating), winner (model_a | model_b | tie, None without a verdict in
    either order), raw (the reply; pairwise: model_a shown first), raw_swapped, verdict_ab/verdict_ba (our
    parse of each order's letter, in its own shown order), recorded_score (NaN for FastChat's -1),
    recorded_winner (None for FastChat's "error"), prompt_name (FastChat's judge prompt), text_a/text_b
    (sparse_feedback response texts), model_a_id/model_b_id/worker (LLMFAO), source_file, line (1-based
    line where the record starts; JSON arrays: record number; Parquet: row number; the pairs JSON: pair
    number), format, explanation/explanation_swapped (the judge's written reply where the file carries one:
    FastChat's judgment, g1_judgment, g2_judgment; a vote or a bare letter is no explanation).
    Raises JudgmentSourceError for a missing path, an empty folder or file, an unknown format, a bad record.
    """
    if format not in JUDGMENT_FORMATS:
        raise JudgmentSourceError(f"{display_path(path)}: unknown judgment format {format!r}; expected one "
                                  f"of {', '.join(JUDGMENT_FORMATS)}")
    files = source_files(path, (".jsonl", ".json", ".csv", ".parquet"), JudgmentSourceError)
    frames = [_read_file(f, format) for f in files]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return frame.astype({"turn": "int64", "line": "int64", "score": "float64", "recorded_score": "float64"})
