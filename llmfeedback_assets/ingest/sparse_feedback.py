"""The sparse_feedback judgment format in the three shapes its data comes in (no Dagster here):

- the released CSVs, headerless (a header row is skipped): ratings ``instruction, input, response, score``
  (1-7) and rankings ``instruction, input, response1, response2, ranking`` (``(a)``/``(b)``/``equal``);
- the same columns by name in a JSON lines file or a Parquet file (an export of the full data), one record
  or row per judgment;
- ``feedback_rankings_for_rm_sample.json``, ``{prompt: {"sentences": [[preferred, rejected], ...]}}`` with
  the prompt in the Alpaca template: each pair is a ranking ``(a)``, the preferred response shown first.

The files do not say who wrote the responses, so rows carry the texts (``text_a``/``text_b``) and the
import matches them to the answers of the prompt, the same way whatever the shape. Each reader returns the
values of one `judgments.read_judgments` row per judgment, with ``line``: the file line (CSV, JSON lines),
the record number (JSON array), the row number (Parquet, 1-based) or the pair number in file order (the
pairs JSON, which is one line). A bad record raises ``error`` naming file, place and field.
"""

from __future__ import annotations

import math
import numbers
import re
from pathlib import Path
from typing import Any

from .answers import question_text, where
from .records import BadRecord, display_path, prompt_id, storable_text, type_name

SPARSE_JUDGE = "sparse-feedback"
SPARSE_PROMPT_NAME = "sparse-feedback"  # judgments.prompt_name of these rows: the reward loop reads them
SPARSE_SCALE = (1.0, 7.0)
RATING_FIELDS = ("instruction", "input", "response", "score")
RANKING_FIELDS = ("instruction", "input", "response1", "response2", "ranking")
_RANKING = {"(a)": ("A", "model_a"), "(b)": ("B", "model_b"), "equal": ("C", "tie")}
# Alpaca's prompt template as the pairs JSON keys its prompts (with or without an input); the non-greedy
# instruction stops at the first "### Input:" or "### Response:" block that leads to the end.
_ALPACA = re.compile(r"### Instruction:\n(?P<instruction>.*?)\n\n(?:### Input:\n(?P<input>.*?)\n\n)?"
                     r"### Response:\s*\Z", re.DOTALL)


def _text(value: Any, label: str) -> str:
    # CSV writers on Windows store a response's line breaks as CRLF; the generations they came from have LF
    # (6 of 83 rated responses in sparse_feedback's feedback_ratings_ratings_for_llm_eval.csv).
    if not isinstance(value, str):
        raise BadRecord(f"{label} must be a string, got {type_name(value)}")
    return storable_text(value.replace("\r\n", "\n").replace("\r", "\n"))


def _no_input(value: Any) -> Any:
    """A missing input: None, NaN (a pandas export's empty cell) or "nan" (handled by question_text)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _values(instruction: Any, extra: Any, responses: list[tuple[Any, str]], mark: Any, mark_label: str
            ) -> dict:
    """One judgment: a rating when one response is given, else a ranking of two. Labels name the fields
    in errors ("field 'score' (column 4)")."""
    question = question_text(instruction, _no_input(extra), ("instruction", "input"))
    texts = [_text(value, label) for value, label in responses]
    values = dict(judge=SPARSE_JUDGE, question_id=prompt_id([question]), text_a=texts[0],
                  prompt_name=SPARSE_PROMPT_NAME)
    if len(texts) == 1:
        score = _score(mark, mark_label)
        return values | dict(mode="single", score=score, recorded_score=score, raw=str(mark))
    if not isinstance(mark, str) or mark.strip().lower() not in _RANKING:
        raise BadRecord(f"{mark_label} is {mark!r}; expected (a), (b) or equal")
    letter, winner = _RANKING[mark.strip().lower()]
    return values | dict(mode="pairwise", text_b=texts[1], winner=winner, recorded_winner=winner,
                         verdict_ab=letter, raw=mark)


def _score(mark: Any, label: str) -> float:
    score = math.nan
    if isinstance(mark, str):
        try:
            score = float(mark.strip())
        except ValueError:
            pass
    elif isinstance(mark, numbers.Number) and not isinstance(mark, bool | complex):  # Decimal too
        score = float(mark)
    if not SPARSE_SCALE[0] <= score <= SPARSE_SCALE[1]:  # NaN fails too
        raise BadRecord(f"{label} must be a number from 1 to 7, got {mark!r}")
    return score


# -- the released CSVs: columns by position ---------------------------------------------------------------


def read_csv(path: Path, rows: list[tuple[int, list[str]]], error: type[ValueError]) -> list[dict]:
    """Headerless ratings (4 columns) or rankings (5 columns) rows, as `answers.csv_rows` reads them."""
    if rows and [c.strip().lower() for c in rows[0][1][:2]] == ["instruction", "input"]:
        rows = rows[1:]  # the optional header row
    if not rows:
        raise error(f"{display_path(path)}: the file holds no judgments")
    n = len(rows[0][1])
    if n not in (4, 5):
        raise error(f"{where(path, rows[0][0])}: {n} columns; sparse_feedback judgments have 4 (instruction, "
                    "input, response, score) or 5 (instruction, input, response1, response2, ranking)")
    names = RATING_FIELDS if n == 4 else RANKING_FIELDS
    out = []
    for line, cells in rows:
        try:
            if len(cells) != n:
                raise BadRecord(f"{len(cells)} columns where the file's first row has {n}")
            named = [f"field '{name}' (column {i + 1})" for i, name in enumerate(names)]
            responses = list(zip(cells[2:-1], named[2:-1], strict=True))
            out.append(_values(cells[0], cells[1], responses, cells[-1], named[-1]) | {"line": line})
        except BadRecord as bad:
            raise error(f"{where(path, line)}: {bad} (sparse_feedback format)") from None
    return out


# -- an export of the full data: columns by name ----------------------------------------------------------


def named_kind(rec: Any) -> tuple[str, ...] | None:
    """The fields of a ratings or rankings record (JSON object or Parquet row), or None for neither."""
    if not isinstance(rec, dict) or "instruction" not in rec:
        return None
    if "response1" in rec or "response2" in rec or "ranking" in rec:
        return RANKING_FIELDS
    return RATING_FIELDS if "response" in rec or "score" in rec else None


def read_named(path: Path, records: list[tuple[int, Any]], error: type[ValueError], place) -> list[dict]:
    """Records with the CSV's columns as fields; the first record decides ratings or rankings. ``place``
    names a record's number in errors (``file:line``, ``file: record N``, ``file: row N``)."""
    if not records:
        raise error(f"{display_path(path)}: the file holds no judgments")
    number, first = records[0]
    fields = named_kind(first)
    if fields is None:
        got = f"fields {sorted(map(str, first))[:12]}" if isinstance(first, dict) else type_name(first)
        raise error(f"{place(number)}: expected the fields {', '.join(RATING_FIELDS)} (ratings) or "
                    f"{', '.join(RANKING_FIELDS)} (rankings), got {got} (sparse_feedback format)")
    out = []
    for number, rec in records:
        try:
            if not isinstance(rec, dict):
                raise BadRecord(f"expected an object, got {type_name(rec)}")
            for name in fields:
                if name not in rec and name != "input":
                    raise BadRecord(f"missing field '{name}'")
            responses = [(rec[name], f"field '{name}'") for name in fields[2:-1]]
            out.append(_values(rec["instruction"], rec.get("input"), responses, rec[fields[-1]],
                               f"field '{fields[-1]}'") | {"line": number})
        except BadRecord as bad:
            raise error(f"{place(number)}: {bad} (sparse_feedback format)") from None
    return out


def parquet_records(path: Path, error: type[ValueError]) -> list[tuple[int, dict]]:
    """(1-based row number, {column: value}) of every row of a Parquet file, in file order."""
    import duckdb  # here: loading the code location does not need it

    try:
        con = duckdb.connect()
        try:
            cur = con.execute("SELECT * FROM read_parquet(?, file_row_number = true) "
                              "ORDER BY file_row_number", [str(path)])
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        finally:
            con.close()
    except duckdb.Error as exc:
        raise error(f"{display_path(path)}: cannot be read as Parquet ({str(exc).splitlines()[0]})") from None
    keep = [i for i, name in enumerate(names) if name != "file_row_number"]
    return [(n, {names[i]: row[i] for i in keep}) for n, row in enumerate(rows, 1)]


# -- the reward-model pairs JSON --------------------------------------------------------------------------


def is_pairs_json(rec: Any) -> bool:
    """Whether a whole-file JSON object looks like ``{prompt: {"sentences": [...]}}``."""
    if not isinstance(rec, dict) or not rec or "instruction" in rec:
        return False
    first = next(iter(rec.values()))
    return isinstance(first, dict) and "sentences" in first


def split_prompt(prompt: str) -> tuple[str, str | None]:
    """(instruction, input or None) of an Alpaca-template prompt; a prompt without the template is the
    instruction itself, so a file keyed by plain instructions reads too."""
    m = _ALPACA.search(prompt)
    return (m.group("instruction"), m.group("input")) if m else (prompt, None)


def read_pairs_json(path: Path, data: dict, error: type[ValueError]) -> list[dict]:
    """Every [preferred, rejected] pair as a ranking "(a)" with the preferred response first, in file
    order; ``line`` numbers the pairs 1, 2, ... across the file (the file is a single line)."""
    out, number = [], 0
    for i, (prompt, entry) in enumerate(data.items(), 1):
        place = f"{display_path(path)}: prompt {i} ({prompt[:60]!r}...)"
        try:
            pairs = entry.get("sentences") if isinstance(entry, dict) else None
            if not isinstance(pairs, list):
                raise BadRecord("expected an object with a 'sentences' list of [preferred, rejected] pairs, "
                                f"got {type_name(entry) if not isinstance(entry, dict) else sorted(entry)}")
            instruction, extra = split_prompt(prompt)
            for j, pair in enumerate(pairs):
                name = f"sentences[{j}]"
                if not isinstance(pair, list) or len(pair) != 2:
                    raise BadRecord(f"field '{name}' must be [preferred, rejected], got {pair!r:.80}")
                number += 1
                responses = [(pair[0], f"field '{name}[0]'"), (pair[1], f"field '{name}[1]'")]
                row = _values(instruction, extra, responses, "(a)", name)
                out.append(row | {"raw": None, "line": number})  # the file records no reply
        except BadRecord as bad:
            raise error(f"{place}: {bad} (sparse_feedback format)") from None
    if not out:
        raise error(f"{display_path(path)}: the file holds no judgments")
    return out
