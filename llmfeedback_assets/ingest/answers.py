"""A user's existing model answers, read into one answer table (no Dagster here).

Formats (``format``):

- ``fastchat``: FastChat llm_judge model_answer / reference_answer JSONL, ``{question_id, answer_id, model_id,
  choices: [{index, turns: [...]}], tstamp}``: one row per choice and turn. The model is the record's
  ``model_id`` (FastChat writes the answer file's stem there, the name its judgment files use); a record
  without one takes the file stem. The questions live in another file, so ``question`` is None.
- ``alpaca_eval``: a JSON array of ``{instruction, output, generator, dataset?}`` (AlpacaEval model outputs).
- ``llmfao``: LLMFAO results.jsonl ``{id, model, result, prompt, name?}`` read with the prompts.jsonl and
  models.jsonl beside it; ``model`` is the model's name, ``model_id`` its numeric LLMFAO id.
- ``sparse_feedback``: sample_generation.json, ``[{instruction, input, responses: [...]}]``; every response
  of an instruction is one choice of one model (``model`` argument, default alpaca-7b, which wrote them).
- ``auto``: from the first record's fields (see `_detect`).

A file's question text is the prompt table's turn for it: the instruction, plus ``"\\n\\n"`` and the input
when there is one (``nan`` cells count as none), normalised as the prompt table does, so ``prompt_id`` (and
``question_id`` where the file has no own id) equals the id the prompt table gives that prompt. Answer texts
are kept verbatim (only made storable); an empty answer is a row with text ``""``. Every record becomes rows
or an `AnswerSourceError` naming file, line (JSON arrays: record number) and field; nothing is dropped.
The JSON/CSV file helpers here are shared with `judgments`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ..ranking.sources import SourceFormatError, _load_model_names
from .formats import _instruction_turn
from .records import BadRecord, category_field, display_path, prompt_id, storable_text, text_field, type_name

ANSWER_COLUMNS = ["question_id", "model", "turn", "choice", "text", "question", "category", "prompt_id",
                  "model_id", "source_file", "line", "format"]
ANSWER_FORMATS = ("auto", "fastchat", "alpaca_eval", "llmfao", "sparse_feedback")
DEFAULT_SPARSE_MODEL = "alpaca-7b"  # the sparse_feedback sample generations are Alpaca-7B's
_SKIPPED_NAMES = ("README", "LICENSE")


class AnswerSourceError(ValueError):
    """An answer file that cannot be read as given; the message names the file, line or record, and field."""


# -- files shared with `judgments` -------------------------------------------------------------------------


def where(path: Path | str, number: int, array: bool = False) -> str:
    """How an error names a place: ``file:line`` for lines, ``file: record N`` in a JSON array (1-based)."""
    return f"{display_path(path)}: record {number}" if array else f"{display_path(path)}:{number}"


def source_files(path: str | Path, suffixes: tuple[str, ...], error: type[ValueError]) -> list[Path]:
    """The file, or a folder's files with these suffixes (sorted; hidden files, README, LICENSE skipped)."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise error(f"{display_path(p)}: no such file or folder")
    files = sorted(
        f for f in p.iterdir()
        if f.is_file() and f.suffix.lower() in suffixes and not f.name.startswith(".")
        and not f.name.upper().startswith(_SKIPPED_NAMES)
    )
    if not files:
        raise error(f"{display_path(p)}: the folder has no {', '.join('*' + s for s in suffixes)} files")
    return files


def read_text(path: Path, error: type[ValueError]) -> str:
    """The file as UTF-8 text (a BOM is dropped); bad bytes are an error naming their line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{display_path(path)}: cannot be read ({exc.strerror or exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"{where(path, line)}: not UTF-8 text (byte {data[exc.start]:#04x})") from None


def json_records(path: Path, error: type[ValueError]) -> tuple[list[tuple[int, Any]], bool]:
    """((number, value) of every record, is_array): JSON lines numbered by line (blank lines skipped), a JSON
    array by 1-based record number, a single JSON object as record 1. Invalid JSON names its line."""
    text = read_text(path, error)
    head = text.lstrip()[:1]
    if head in ("[", "{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if head == "[":
                raise error(f"{where(path, exc.lineno)}: invalid JSON ({exc.msg})") from None
        else:  # a whole-file array, or one object (JSON lines with a single line included)
            if isinstance(data, list):
                return list(enumerate(data, 1)), True
            return [(1 + text[: len(text) - len(text.lstrip())].count("\n"), data)], False
    records = []
    for lineno, line in enumerate(text.split("\n"), 1):  # not splitlines: U+2028 may sit inside a string
        if not line.strip():
            continue
        try:
            records.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise error(f"{where(path, lineno)}: invalid JSON ({exc.msg})") from None
    return records, False


def csv_rows(path: Path, error: type[ValueError]) -> list[tuple[int, list[str]]]:
    """(line where the row starts, cells) of every non-blank CSV row; quoted cells may span lines."""
    reader = csv.reader(io.StringIO(read_text(path, error), newline=""))
    rows, start = [], 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise error(f"{where(path, start)}: invalid CSV ({exc})") from None
    return rows


def question_text(instruction: Any, extra: Any, names: tuple[str, str]) -> str:
    """The prompt table's turn for an instruction and its optional input ("nan" = none). Raises BadRecord."""
    return _instruction_turn(text_field(instruction, names[0]), extra, names[1])[0]


def id_field(rec: dict, name: str) -> str:
    """A required id (a string or an integer) as text. Raises BadRecord."""
    if name not in rec:
        raise BadRecord(f"missing field '{name}'")
    value = rec[name]
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise BadRecord(f"field '{name}' must be a non-empty string or an integer, got {value!r}")
    return storable_text(str(value).strip())


def name_field(value: Any, name: str) -> str:
    """A model or judge name: a non-empty string. Raises BadRecord."""
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(f"field '{name}' must be a non-empty string, got {value!r}")
    return storable_text(value.strip())


def answer_text(value: Any, name: str) -> str:
    """An answer as written (may be empty); only a non-string is an error. Raises BadRecord."""
    if not isinstance(value, str):
        raise BadRecord(f"field '{name}' must be a string, got {type_name(value)}")
    return storable_text(value)


# -- formats -----------------------------------------------------------------------------------------------


class _File:
    """One answer file being read: its path, the fallback model name and LLMFAO's companion tables."""

    def __init__(self, path: Path, model: str | None):
        self.path = path
        self.model = model
        self.prompts: dict[str, tuple[str, str | None]] = {}
        self.models: dict[str, str] | None = None


Rows = Iterator[dict]


def _row(qid: str, model: str, turn: int, choice: int, text: str, question: str | None = None,
         category: str | None = None, model_id: str | None = None) -> dict:
    return {"question_id": qid, "model": model, "turn": turn, "choice": choice, "text": text,
            "question": question, "category": category,
            "prompt_id": prompt_id([question]) if question is not None else None, "model_id": model_id}


def _fastchat(rec: dict, f: _File) -> Rows:
    qid = id_field(rec, "question_id")
    model = name_field(rec["model_id"], "model_id") if rec.get("model_id") is not None else f.path.stem
    if "choices" not in rec:
        raise BadRecord("missing field 'choices'")
    choices = rec["choices"]
    if not isinstance(choices, list) or not choices:
        raise BadRecord(f"field 'choices' must be a non-empty list, got {choices!r:.60}")
    seen: set[int] = set()
    for i, choice in enumerate(choices):
        name = f"choices[{i}]"
        if not isinstance(choice, dict):
            raise BadRecord(f"field '{name}' must be an object, got {type_name(choice)}")
        index = choice.get("index", i)
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise BadRecord(f"field '{name}.index' must be a non-negative integer, got {index!r}")
        if index in seen:
            raise BadRecord(f"field '{name}.index' repeats choice {index}")
        seen.add(index)
        if "turns" not in choice:
            raise BadRecord(f"missing field '{name}.turns'")
        turns = choice["turns"]
        if not isinstance(turns, list):
            raise BadRecord(f"field '{name}.turns' must be a list of strings, got {type_name(turns)}")
        if not turns:
            raise BadRecord(f"field '{name}.turns' is an empty list")
        for j, turn in enumerate(turns):
            yield _row(qid, model, j + 1, index, answer_text(turn, f"{name}.turns[{j}]"))


def _alpaca_eval(rec: dict, f: _File) -> Rows:
    for key in ("instruction", "output"):
        if key not in rec:
            raise BadRecord(f"missing field '{key}'")
    question = question_text(rec["instruction"], rec.get("input"), ("instruction", "input"))
    if rec.get("generator") is not None:
        model = name_field(rec["generator"], "generator")
    elif f.model is not None:
        model = f.model
    else:
        raise BadRecord("missing field 'generator' (or pass model=)")
    dataset = rec.get("dataset")
    category = name_field(dataset, "dataset") if dataset is not None else None
    yield _row(prompt_id([question]), model, 1, 0, answer_text(rec["output"], "output"), question, category)


def _llmfao(rec: dict, f: _File) -> Rows:
    for key in ("model", "result", "prompt"):
        if key not in rec:
            raise BadRecord(f"missing field '{key}'")
    mid, pid = id_field(rec, "model"), id_field(rec, "prompt")
    if pid not in f.prompts:
        raise BadRecord(f"field 'prompt': prompt id {pid} is not in prompts.jsonl")
    if f.models is not None:
        if mid not in f.models:
            raise BadRecord(f"field 'model': model id {mid} is not in models.jsonl")
        model = f.models[mid]
        if rec.get("name") is not None and name_field(rec["name"], "name") != model:
            raise BadRecord(f"field 'name' is {rec['name']!r} but models.jsonl names model {mid} {model!r}")
    elif rec.get("name") is not None:
        model = name_field(rec["name"], "name")
    else:
        raise BadRecord("missing field 'name' (and there is no models.jsonl beside the file)")
    question, category = f.prompts[pid]
    yield _row(pid, model, 1, 0, answer_text(rec["result"], "result"), question, category, mid)


def _responses_key(rec: dict) -> str | None:
    return next((k for k in ("responses", "outputs") if isinstance(rec.get(k), list)), None)


def _sparse_feedback(rec: dict, f: _File) -> Rows:
    if "instruction" not in rec:
        raise BadRecord("missing field 'instruction'")
    key = _responses_key(rec)
    if key is None:
        raise BadRecord("missing field 'responses' (a list of response texts)")
    if not rec[key]:
        raise BadRecord(f"field '{key}' is an empty list")
    question = question_text(rec["instruction"], rec.get("input"), ("instruction", "input"))
    model = f.model or DEFAULT_SPARSE_MODEL
    for i, text in enumerate(rec[key]):
        yield _row(prompt_id([question]), model, 1, i, answer_text(text, f"{key}[{i}]"), question)


_CONVERTERS: dict[str, Callable[[dict, _File], Rows]] = {
    "fastchat": _fastchat, "alpaca_eval": _alpaca_eval, "llmfao": _llmfao,
    "sparse_feedback": _sparse_feedback,
}


def _detect(path: Path, first: Any) -> str:
    """The format from the first record's fields."""
    if isinstance(first, dict):
        if "choices" in first:
            return "fastchat"
        if "result" in first and "prompt" in first:
            return "llmfao"
        if "instruction" in first and _responses_key(first):
            return "sparse_feedback"
        if "generator" in first or ("instruction" in first and "output" in first):
            return "alpaca_eval"
        what = f"fields {sorted(map(str, first))[:12]}"
    else:
        what = f"a {type_name(first)}"
    raise AnswerSourceError(
        f"{display_path(path)}: cannot tell the answer format from the first record ({what}); expected "
        "'choices' (fastchat), 'result' and 'prompt' (llmfao), 'instruction' with 'responses' "
        "(sparse_feedback) or 'generator'/'output' (alpaca_eval); pass format="
    )


def _load_llmfao_tables(f: _File) -> None:
    prompts_file, models_file = f.path.parent / "prompts.jsonl", f.path.parent / "models.jsonl"
    if not prompts_file.is_file():
        raise AnswerSourceError(f"{display_path(f.path)}: LLMFAO results need prompts.jsonl beside them "
                                f"({display_path(prompts_file)} is missing)")
    records, array = json_records(prompts_file, AnswerSourceError)
    for number, rec in records:
        try:
            if not isinstance(rec, dict):
                raise BadRecord(f"expected a JSON object, got {type_name(rec)}")
            pid = id_field(rec, "id")
            if "text" not in rec:
                raise BadRecord("missing field 'text'")
            kind = rec.get("type")
            category = category_field(kind) if kind is not None else None
            f.prompts[pid] = (text_field(rec["text"], "text"), category)
        except BadRecord as bad:
            raise AnswerSourceError(f"{where(prompts_file, number, array)}: {bad}") from None
    if models_file.is_file():
        try:
            f.models = _load_model_names(models_file)
        except SourceFormatError as exc:
            raise AnswerSourceError(str(exc)) from None


def _read_file(path: Path, fmt: str, model: str | None) -> list[dict]:
    records, array = json_records(path, AnswerSourceError)
    if not records:
        raise AnswerSourceError(f"{display_path(path)}: the file holds no answers")
    fmt = _detect(path, records[0][1]) if fmt == "auto" else fmt
    f = _File(path, model)
    if fmt == "llmfao":
        _load_llmfao_tables(f)
    convert, shown, rows = _CONVERTERS[fmt], display_path(path), []
    for number, rec in records:
        try:
            if not isinstance(rec, dict):
                raise BadRecord(f"expected a JSON object, got {type_name(rec)}")
            for row in convert(rec, f):
                row.update(source_file=shown, line=number, format=fmt)
                rows.append(row)
        except BadRecord as bad:
            raise AnswerSourceError(f"{where(path, number, array)}: {bad} ({fmt} format)") from None
    return rows


def read_answers(path: str | Path, format: str = "auto", *, model: str | None = None) -> pd.DataFrame:
    """Every answer in a file, or in a folder's *.jsonl/*.json files, as rows of `ANSWER_COLUMNS`.

    question_id (str), model, turn (1-based), choice (0-based), text, question (None unless the file carries
    the question), category (None when unknown), prompt_id (the prompt table's id of the question, None
    without one), model_id (LLMFAO's numeric model id as text, else None), source_file, line (1-based line,
    or record number in a JSON array), format. ``model`` names the model of files that do not: AlpacaEval
    outputs without ``generator`` and sparse_feedback generations (default alpaca-7b).
    Raises AnswerSourceError for a missing path, an empty folder or file, an unknown format, a bad record.
    """
    if format not in ANSWER_FORMATS:
        raise AnswerSourceError(f"{display_path(path)}: unknown answer format {format!r}; expected one of "
                                f"{', '.join(ANSWER_FORMATS)}")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise AnswerSourceError(f"{display_path(path)}: model must be a non-empty string, got {model!r}")
    model = model.strip() if model is not None else None
    rows = [row for f in source_files(path, (".jsonl", ".json"), AnswerSourceError)
            for row in _read_file(f, format, model)]
    frame = pd.DataFrame(rows, columns=ANSWER_COLUMNS)
    return frame.astype({"turn": "int64", "choice": "int64", "line": "int64"})
