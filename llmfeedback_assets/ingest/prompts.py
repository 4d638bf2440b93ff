"""Read prompt files of several public formats into one prompt table.

Every reader is defensive: a bad line becomes a `Rejected` (file, line, reason) and the rest of the file is
still read, so one typo never blocks a run. Only a source that cannot be read at all, or a run that ends
with no prompts, raises `PromptSourceError`, before any model is called.

Formats (``fmt``): ``mtbench`` (question_id, category, turns, reference), ``llmonitor`` (id, text, type,
slug), ``instruction`` (instruction/prompt/question with optional input/context and output/response:
Alpaca, Dolly, self-instruct incl. ``instances``, SuperNI rows and SuperNI task files with ``Definition``
and ``Instances``), ``csv`` (header row with a prompt column) and ``auto`` (file extension plus the keys
of the first usable record).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

PROMPT_COLUMNS = ["prompt_id", "source_file", "source_id", "category", "turns", "reference", "n_turns"]
REJECTED_COLUMNS = ["source_file", "line", "reason", "raw"]
FORMATS = ("auto", "mtbench", "llmonitor", "instruction", "csv")
JSON_EXTENSIONS = (".jsonl", ".json")
CSV_DELIMITERS = {".csv": ",", ".tsv": "\t"}
# Responders and judges handle one- and two-turn prompts (MT-bench style); longer dialogues are refused
# here with a clear reason rather than half-handled downstream.
MAX_TURNS = 2
DEFAULT_CATEGORY = "general"
CSV_PROMPT_COLUMNS = ("prompt", "text", "question", "instruction")
# README.md, LICENSE, LICENSE.CC-BY, COPYING-2 ... describe a dataset folder; they hold no prompts
_DOC_FILE = re.compile(r"(readme|licen[cs]e|copying|notice)([._-].*)?", re.IGNORECASE)
RAW_PREVIEW_CHARS = 500

_SURROGATE = re.compile("[\ud800-\udfff]")  # bytes that were not UTF-8 come back as lone surrogates
_JSON_WS = re.compile(r"[ \t\n\r]*")
_NEXT_OBJECT = re.compile(r",[ \t\n\r]*\{")
_MISSING_CELL = {"nan", "NaN", "NAN"}  # how pandas writes an empty cell (sparse_feedback CSVs)


class PromptSourceError(ValueError):
    """A prompt source cannot be used at all (missing, unreadable, or no prompts in the whole run)."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


@dataclass
class Rejected:
    """One input that could not become a prompt. ``line`` is 1-based; 0 means the whole file."""

    source_file: str
    line: int
    reason: str
    raw: str


@dataclass
class IngestResult:
    prompts: pd.DataFrame  # columns exactly PROMPT_COLUMNS
    rejected: list[Rejected]
    files: list[str]
    duplicates: int = 0  # prompts dropped because an identical prompt (same id) came first

    def rejected_frame(self) -> pd.DataFrame:
        """The rejects as rows for the ``rejected_inputs`` table (the caller adds ``asset``/``rejected_at``)."""
        return pd.DataFrame(
            [[r.source_file, r.line, r.reason, r.raw] for r in self.rejected], columns=REJECTED_COLUMNS
        ).astype({"line": "int64"})

    def metadata(self, preview_rows: int = 10) -> dict[str, Any]:
        """Plain values for the UI: counts, categories and markdown previews of prompts and rejects."""
        cats = self.prompts["category"].value_counts().sort_index()
        prompt_rows = [
            [r.prompt_id, r.category, r.n_turns, _short(r.turns[0], 80)]
            for r in self.prompts.head(preview_rows).itertuples()
        ]
        reject_rows = [
            [Path(r.source_file).name, r.line, _short(r.reason, 120)] for r in self.rejected[:preview_rows]
        ]
        return {
            "num_prompts": len(self.prompts),
            "num_files": len(self.files),
            "num_rejected": len(self.rejected),
            "num_duplicates": self.duplicates,
            "num_two_turn": int((self.prompts["n_turns"] > 1).sum()),
            "num_with_reference": int(self.prompts["reference"].map(len).gt(0).sum()),
            "categories": {str(k): int(v) for k, v in cats.items()},
            "preview": _markdown(["prompt_id", "category", "turns", "first turn"], prompt_rows),
            "rejected_preview": _markdown(["file", "line", "reason"], reject_rows),
        }


class _Bad(Exception):
    """A record that cannot become a prompt; the message names the field."""


# -- ids and field checks --------------------------------------------------------------------------------


def prompt_id(turns: list[str]) -> str:
    """Content hash of the turns: sha256 of their canonical JSON, first 16 hex characters."""
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        raise ValueError("prompt_id needs a list of strings")
    canonical = json.dumps(turns, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _normalize(text: str) -> str:
    # Line endings and outer whitespace carry no meaning, but would change the content hash.
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _text(value: Any, name: str) -> str:
    if value is None:
        raise _Bad(f"field '{name}' is null")
    if not isinstance(value, str):
        raise _Bad(f"field '{name}' must be a string, got {_type(value)}")
    if _SURROGATE.search(value):
        raise _Bad(f"field '{name}' is not valid UTF-8 text")
    if "\x00" in value:
        raise _Bad(f"field '{name}' contains a NUL character")
    text = _normalize(value)
    if not text:
        raise _Bad(f"field '{name}' is empty")
    return text


def _optional_text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and not value.strip():
        return ""
    return _text(value, name)


def _turns(value: Any, name: str = "turns") -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _Bad(f"field '{name}' must be a list of strings, got {_type(value)}")
    if not value:
        raise _Bad(f"field '{name}' is empty")
    if len(value) > MAX_TURNS:
        raise _Bad(f"field '{name}' has {len(value)} turns; at most {MAX_TURNS} are supported")
    return [_text(t, f"{name}[{i}]") for i, t in enumerate(value)]


def _reference(value: Any, n_turns: int, name: str = "reference") -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _Bad(f"field '{name}' must be a string or a list of strings, got {_type(value)}")
    refs = [_optional_text(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if not any(refs):
        return []
    if len(refs) > n_turns:
        raise _Bad(f"field '{name}' has {len(refs)} entries for {n_turns} turn(s)")
    return refs


def _category(value: Any, name: str = "category") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DEFAULT_CATEGORY
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Bad(f"field '{name}' must be a string, got {_type(value)}")
    text = _normalize(str(value)).lower()
    if _SURROGATE.search(text) or "\x00" in text:
        raise _Bad(f"field '{name}' is not valid text")
    return text or DEFAULT_CATEGORY


def _source_id(value: Any, name: str, fallback: str) -> str:
    if value is None:
        return fallback
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Bad(f"field '{name}' must be a string or a number, got {_type(value)}")
    text = str(value).strip()
    if _SURROGATE.search(text) or "\x00" in text:
        raise _Bad(f"field '{name}' is not valid text")
    return text or fallback


def _first_key(rec: dict, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in rec), None)


def _row(source_file: str, source_id: str, category: str, turns: list[str], reference: list[str]) -> dict:
    return {
        "prompt_id": prompt_id(turns),
        "source_file": source_file,
        "source_id": source_id,
        "category": category,
        "turns": turns,
        "reference": reference,
        "n_turns": len(turns),
    }


# -- record schemas --------------------------------------------------------------------------------------
# Each converter turns one JSON object into prompts. It yields (label, row-or-_Bad) so that one bad
# instance of a multi-instance record (self-instruct, SuperNI task) does not discard its siblings.

Converted = Iterator[tuple[str, dict | _Bad]]


def _from_mtbench(rec: dict, src: str, fallback_id: str) -> Converted:
    if "turns" not in rec:
        raise _Bad("missing field 'turns'")
    turns = _turns(rec["turns"])
    ref = _reference(rec.get("reference"), len(turns))
    key = _first_key(rec, ("question_id", "id"))
    sid = _source_id(rec.get(key) if key else None, key or "question_id", fallback_id)
    yield "", _row(src, sid, _category(rec.get("category")), turns, ref)


def _from_llmonitor(rec: dict, src: str, fallback_id: str) -> Converted:
    if "text" not in rec:
        raise _Bad("missing field 'text'")
    turns = [_text(rec["text"], "text")]
    cat_key = _first_key(rec, ("type", "category"))
    category = _category(rec.get(cat_key) if cat_key else None, cat_key or "type")
    key = _first_key(rec, ("id", "slug"))
    sid = _source_id(rec.get(key) if key else None, key or "id", fallback_id)
    yield "", _row(src, sid, category, turns, [])


def _instruction_turn(instruction: str, extra: Any, name: str) -> list[str]:
    extra_text = _optional_text(extra, name)
    if extra_text.lower() in _MISSING_CELL:
        extra_text = ""
    return [f"{instruction}\n\n{extra_text}" if extra_text else instruction]


def _single_reference(value: Any, name: str) -> list[str]:
    # SuperNI lists every acceptable output; the first one serves as the reference answer.
    if isinstance(value, list):
        value = next((v for v in value if not (isinstance(v, str) and not v.strip())), None)
    return _reference(value, 1, name)


def _from_instruction(rec: dict, src: str, fallback_id: str) -> Converted:
    if "Definition" in rec and "Instances" in rec:
        yield from _from_superni_task(rec, src)
        return
    key = _first_key(rec, ("instruction", "prompt", "question"))
    if key is None:
        raise _Bad("missing field 'instruction'")
    instruction = _text(rec[key], key)
    category = _category(rec.get("category"))
    sid = _source_id(rec.get("id"), "id", fallback_id)
    instances = rec.get("instances")
    if isinstance(instances, list) and "input" not in rec:
        # self-instruct seed tasks: one instruction, several (input, output) instances
        if not instances:
            raise _Bad("field 'instances' is empty")
        for i, inst in enumerate(instances):
            name = f"instances[{i}]"
            try:
                if not isinstance(inst, dict):
                    raise _Bad(f"field '{name}' must be an object, got {_type(inst)}")
                turns = _instruction_turn(instruction, inst.get("input"), f"{name}.input")
                ref = _single_reference(inst.get("output"), f"{name}.output")
                yield name, _row(src, f"{sid}#{i}", category, turns, ref)
            except _Bad as bad:
                yield name, bad
        return
    extra_key = _first_key(rec, ("input", "context"))
    turns = _instruction_turn(instruction, rec.get(extra_key) if extra_key else None, extra_key or "input")
    ref_key = _first_key(rec, ("output", "response", "reference"))
    ref = _single_reference(rec.get(ref_key), ref_key) if ref_key else []
    yield "", _row(src, sid, category, turns, ref)


def _from_superni_task(rec: dict, src: str) -> Converted:
    definition = rec["Definition"]
    if isinstance(definition, list):
        if not all(isinstance(d, str) for d in definition):
            raise _Bad("field 'Definition' must be a string or a list of strings")
        definition = "\n".join(definition)
    instruction = _text(definition, "Definition")
    instances = rec["Instances"]
    if not isinstance(instances, list) or not instances:
        raise _Bad("field 'Instances' must be a non-empty list")
    cats = rec.get("Categories")
    category = _category(cats[0] if isinstance(cats, list) and cats else None, "Categories")
    for i, inst in enumerate(instances):
        name = f"Instances[{i}]"
        try:
            if not isinstance(inst, dict):
                raise _Bad(f"field '{name}' must be an object, got {_type(inst)}")
            turns = _instruction_turn(instruction, inst.get("input"), f"{name}.input")
            ref = _single_reference(inst.get("output"), f"{name}.output")
            sid = _source_id(inst.get("id"), f"{name}.id", str(i + 1))
            yield name, _row(src, sid, category, turns, ref)
        except _Bad as bad:
            yield name, bad


_CONVERTERS = {"mtbench": _from_mtbench, "llmonitor": _from_llmonitor, "instruction": _from_instruction}
_EXPECTED_FIELDS = "'turns' (mtbench), 'instruction'/'prompt'/'question' (instruction) or 'text' (llmonitor)"


def _detect(rec: dict) -> str | None:
    # Order matters: Alpaca dumps carry a formatted 'text' besides 'instruction'.
    if "turns" in rec:
        return "mtbench"
    if any(k in rec for k in ("instruction", "prompt", "question")) or (
        "Definition" in rec and "Instances" in rec
    ):
        return "instruction"
    if "text" in rec:
        return "llmonitor"
    return None


# -- file level ------------------------------------------------------------------------------------------


@dataclass
class _Unit:
    """One parsed (or unparseable) top-level JSON value with its position."""

    line: int
    label: str  # "" for a JSONL line, "item 3" for an array element
    raw: str
    value: Any = None
    error: str | None = None


@dataclass
class _FileReader:
    path: Path
    fmt: str
    records: list[dict] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def src(self) -> str:
        return str(self.path)

    def reject(self, line: int, reason: str, raw: str = "") -> None:
        self.rejected.append(Rejected(self.src, line, reason, _clean_raw(raw)))

    # JSON / JSONL ------------------------------------------------------------------------------------
    def read_json(self, text: str, allow_array: bool) -> None:
        stripped = text.lstrip(" \t\n\r")  # JSON whitespace only, as the array scanner expects
        if allow_array and stripped.startswith("["):
            units: list[_Unit] = list(_array_units(text))
        elif allow_array and "\n" in text.strip():
            # A pretty-printed single object (e.g. a SuperNI task file) spans many lines; JSONL does not.
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                units = list(_jsonl_units(text))
            else:
                first_line = text[: len(text) - len(stripped)].count("\n") + 1
                units = [_Unit(first_line, "", text, value)]
        else:
            units = list(_jsonl_units(text))
        schema = None if self.fmt == "auto" else self.fmt
        for unit in units:
            prefix = f"{unit.label}: " if unit.label else ""
            if unit.error is not None:
                self.reject(unit.line, prefix + unit.error, unit.raw)
                continue
            if _SURROGATE.search(unit.raw):
                self.reject(unit.line, prefix + "not valid UTF-8", unit.raw)
                continue
            if not isinstance(unit.value, dict):
                self.reject(unit.line, f"{prefix}expected a JSON object, got {_type(unit.value)}", unit.raw)
                continue
            if schema is None:
                schema = _detect(unit.value)
                if schema is None:
                    keys = sorted(unit.value)[:8]
                    self.reject(
                        unit.line,
                        f"{prefix}unrecognised record: expected {_EXPECTED_FIELDS}; got keys {keys}",
                        unit.raw,
                    )
                    continue
            # array elements are numbered by position, JSONL records by line
            fallback_id = unit.label.removeprefix("item ") if unit.label else str(unit.line)
            self.convert(schema, unit.value, unit.line, prefix, unit.raw, fallback_id)

    def convert(self, schema: str, rec: dict, line: int, prefix: str, raw: str, fallback_id: str) -> None:
        try:
            for label, out in _CONVERTERS[schema](rec, self.src, fallback_id):
                where = f"{prefix}{label}: " if label else prefix
                if isinstance(out, _Bad):
                    self.reject(line, f"{where}{out}", raw)
                else:
                    self.records.append(out)
        except _Bad as bad:
            self.reject(line, f"{prefix}{bad}", raw)

    # CSV ---------------------------------------------------------------------------------------------
    def read_csv(self, text: str, delimiter: str) -> None:
        lines = io.StringIO(text, newline="").readlines()
        header: list[str] | None = None
        columns: dict[str, int] = {}
        records = _CsvRecords(lines, delimiter)
        for start, end, row, error in records:
            line_no = start + 1
            raw = lines[start]
            if error is not None:
                self.reject(line_no, error, raw)
                continue
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [c.strip().lower() for c in row]
                for i, name in enumerate(header):
                    columns.setdefault(name, i)
                if not any(c in columns for c in CSV_PROMPT_COLUMNS):
                    self.reject(
                        line_no,
                        f"CSV header has no prompt column (expected one of {', '.join(CSV_PROMPT_COLUMNS)}); "
                        f"got {header[:12]}",
                        raw,
                    )
                    return
                continue
            if _SURROGATE.search("".join(row)):
                self.reject(line_no, "not valid UTF-8", raw)
                continue
            if len(row) != len(header):
                reason = f"row has {len(row)} fields, the header has {len(header)}"
                if end - start > 1:
                    reason += f" (the row runs over {end - start} lines: an unbalanced quote?)"
                    records.skip_to(start + 1)
                self.reject(line_no, reason, raw)
                continue
            try:
                self.records.append(self.csv_row(row, columns, str(line_no)))
            except _Bad as bad:
                self.reject(line_no, str(bad), raw)

    def csv_row(self, row: list[str], columns: dict[str, int], line_id: str) -> dict:
        def cell(*names: str) -> tuple[str, str | None]:
            for name in names:
                if name in columns:
                    value = row[columns[name]]
                    return name, ("" if value.strip() in _MISSING_CELL else value)
            return names[0], None

        main_name, main = cell(*CSV_PROMPT_COLUMNS)
        first = _text(main, main_name)
        extra_name, extra = cell("input", "context")
        turns = _instruction_turn(first, extra, extra_name)
        second_name, second = cell("turn2", "second_turn")
        if second is not None and second.strip():
            turns.append(_text(second, second_name))
        ref_name, ref = cell("reference", "answer")
        id_name, sid = cell("id", "question_id")
        _, category = cell("category", "type")
        return _row(
            self.src,
            _source_id(sid, id_name, line_id),
            _category(category),
            turns,
            _reference(ref, len(turns), ref_name),
        )


def _jsonl_units(text: str) -> Iterator[_Unit]:
    for number, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            yield _Unit(number, "", line, json.loads(line))
        except (ValueError, RecursionError) as exc:
            yield _Unit(number, "", line, error=f"invalid JSON: {_json_error(exc)}")


def _array_units(text: str) -> Iterator[_Unit]:
    """Elements of a top-level JSON array, each with the line it starts on.

    After a broken element the scan resumes at the next ``, {`` (at the column of the first element when
    the array is pretty-printed), so the elements after a typo are still read. Best effort: a stray '['
    that turns the following elements into one valid nested list still swallows them.
    """
    decoder = json.JSONDecoder()
    newlines = [m.start() for m in re.finditer("\n", text)]

    def line_of(pos: int) -> int:
        return bisect.bisect_right(newlines, pos - 1) + 1

    def column_of(pos: int) -> int:
        return pos - (text.rfind("\n", 0, pos) + 1)

    def skip_ws(pos: int) -> int:
        return _JSON_WS.match(text, pos).end()

    def resync(after: int) -> int | None:
        # prefer an object at the indent of the items; a garbled first item can fake that indent, so
        # fall back to the nearest candidate
        nearest = None
        for m in _NEXT_OBJECT.finditer(text, after):
            brace = m.end() - 1
            if first_col is None or column_of(brace) == first_col:
                return brace
            nearest = brace if nearest is None else nearest
        return nearest

    pos = skip_ws(0) + 1  # past "["
    first_col: int | None = None
    item = 0
    n = len(text)
    while True:
        pos = skip_ws(pos)
        if pos >= n:
            yield _Unit(line_of(n), "", "", error="JSON array is not closed with ']'")
            return
        if text[pos] == "]":
            rest = skip_ws(pos + 1)
            nxt = resync(pos) if rest < n else None
            if nxt is not None:
                # a stray ']' inside a broken item: report it and keep reading the items after it
                yield _Unit(line_of(pos), "", text[pos : pos + RAW_PREVIEW_CHARS], error="unexpected ']'")
                pos = nxt
                continue
            if rest < n:
                yield _Unit(
                    line_of(rest),
                    "",
                    text[rest : rest + RAW_PREVIEW_CHARS],
                    error="extra data after the JSON array",
                )
            return
        item += 1
        start = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            yield _Unit(
                line_of(start),
                f"item {item}",
                text[start : start + RAW_PREVIEW_CHARS],
                error=f"invalid JSON: {_json_error(exc)}",
            )
            nxt = resync(start)  # the match always ends past start, so the scan moves on
            if nxt is None:
                return
            pos = nxt
            continue
        if first_col is None and isinstance(value, dict) and "\n" in text[:start]:
            line_start = text.rfind("\n", 0, start) + 1
            if not text[line_start:start].strip():  # an object opening its own line sets the indent
                first_col = start - line_start
        yield _Unit(line_of(start), f"item {item}", text[start:end], value)
        pos = skip_ws(end)
        if pos < n and text[pos] == ",":
            pos += 1
        elif pos < n and text[pos] not in "]{":
            # '{' right after an item (a forgotten comma) is simply read as the next item
            yield _Unit(
                line_of(pos),
                "",
                text[pos : pos + RAW_PREVIEW_CHARS],
                error="expected ',' or ']' after an array item",
            )
            # an unclosed quote turns the separator and the next item's opening into one string:
            # look for the next item from the start of that string
            nxt = resync(pos if isinstance(value, dict) else start)
            if nxt is None:
                return
            pos = nxt


class _CsvRecords:
    """(first line index, end line index, fields, error) per CSV record.

    A record that does not parse, or spans several lines with the wrong number of fields (usually an
    unbalanced quote that swallowed the following rows), is reported for its first line only and parsing
    restarts on the next line (``skip_to``), so the rows after it survive.
    """

    def __init__(self, lines: list[str], delimiter: str):
        self.lines = lines
        self.delimiter = delimiter
        self.skip_to(0)

    def skip_to(self, pos: int) -> None:
        self.feeder = _LineFeeder(self.lines, pos)
        self.reader = csv.reader(self.feeder, delimiter=self.delimiter, strict=True)

    def __iter__(self) -> _CsvRecords:
        return self

    def __next__(self) -> tuple[int, int, list[str], str | None]:
        start = self.feeder.pos
        try:
            row = next(self.reader)
        except csv.Error as exc:
            self.skip_to(start + 1)
            return start, start + 1, [], f"invalid CSV: {exc}"
        return start, self.feeder.pos, row, None


class _LineFeeder:
    """Hands csv.reader one line at a time so the caller knows where each record started."""

    def __init__(self, lines: list[str], pos: int):
        self.lines = lines
        self.pos = pos

    def __iter__(self) -> _LineFeeder:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


def _decode(data: bytes) -> str:
    # Undecodable bytes become lone surrogates, which the readers reject line by line instead of
    # failing the whole file.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")  # spreadsheet "Unicode text" exports
        except UnicodeDecodeError:
            pass
    return data.decode("utf-8-sig", errors="surrogateescape")


def read_prompt_file(path: Path, fmt: str = "auto") -> tuple[list[dict], list[Rejected]]:
    """Prompt rows (dicts with PROMPT_COLUMNS) and rejected inputs of one file.

    Raises PromptSourceError only when the file itself is missing or unreadable or ``fmt`` is unknown.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise PromptSourceError(path, f"unknown prompt format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise PromptSourceError(path, "prompt file does not exist" if not path.exists() else "is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PromptSourceError(path, f"prompt file cannot be read ({exc.strerror or exc})") from exc
    reader = _FileReader(path, fmt)
    ext = path.suffix.lower()
    if fmt == "csv" or (fmt == "auto" and ext in CSV_DELIMITERS):
        container = "csv"
    elif ext in CSV_DELIMITERS:
        reader.reject(0, f"format {fmt!r} expects a JSON or JSONL file, not {ext}")
        return reader.records, reader.rejected
    elif ext in JSON_EXTENSIONS or fmt != "auto":
        container = "json"
    else:
        reader.reject(
            0, f"unsupported file type {ext or '(no extension)'}: expected .jsonl, .json, .csv or .tsv"
        )
        return reader.records, reader.rejected
    text = _decode(data)
    if not text.strip():
        reader.reject(0, "file is empty")
    elif container == "csv":
        reader.read_csv(text, CSV_DELIMITERS.get(ext, ","))
    else:
        reader.read_json(text, allow_array=ext != ".jsonl")
    return reader.records, reader.rejected


# -- sources ---------------------------------------------------------------------------------------------


def _skipped(name: str) -> bool:
    return name.startswith(".") or _DOC_FILE.fullmatch(name) is not None


def _source_files(path: Path) -> list[Path]:
    """The files of one configured source: the file itself, or every file under the folder, sorted."""
    if not path.exists():
        raise PromptSourceError(path, "prompt source does not exist")
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise PromptSourceError(path, "prompt source is neither a file nor a folder")
    try:
        os.listdir(path)
    except OSError as exc:
        raise PromptSourceError(path, f"prompt folder cannot be read ({exc.strerror or exc})") from exc
    found: list[Path] = []
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        found.extend(Path(root) / n for n in names if not _skipped(n))
    return sorted(found, key=lambda p: p.relative_to(path).parts)


def ingest_prompt_sources(sources: list[tuple[Path, str, int | None]]) -> IngestResult:
    """Read every source (file or folder, format, limit) into one de-duplicated prompt table.

    ``limit`` caps the distinct prompts taken from that source (in file order). A prompt already taken
    from an earlier source or file is merged: the first occurrence is kept. Raises PromptSourceError for a
    missing/unreadable source or when the run yields no prompt at all.
    """
    if not sources:
        raise PromptSourceError("prompt_sources", "no prompt sources configured")
    rows: list[dict] = []
    seen: set[str] = set()
    rejected: list[Rejected] = []
    files: list[str] = []
    duplicates = 0
    for source in sources:
        path, fmt, limit = source
        path = Path(path)
        if fmt not in FORMATS:
            raise PromptSourceError(
                path, f"unknown prompt format {fmt!r}; expected one of {', '.join(FORMATS)}"
            )
        if limit is not None and limit <= 0:
            raise PromptSourceError(path, f"limit must be positive, got {limit}")
        taken: set[str] = set()
        for file in _source_files(path):
            if limit is not None and len(taken) >= limit:
                break
            files.append(str(file))
            try:
                records, bad = read_prompt_file(file, fmt)
            except PromptSourceError as exc:
                if file == path:
                    raise
                rejected.append(Rejected(str(file), 0, str(exc), ""))
                continue
            rejected.extend(bad)
            for rec in records:
                if limit is not None and len(taken) >= limit:
                    break
                pid = rec["prompt_id"]
                if pid in taken or pid in seen:
                    duplicates += 1
                    taken.add(pid)
                    continue
                taken.add(pid)
                seen.add(pid)
                rows.append(rec)
    if not rows:
        where = ", ".join(str(s[0]) for s in sources)
        detail = "; ".join(f"{Path(r.source_file).name}:{r.line} {r.reason}" for r in rejected[:3])
        more = f" ({len(rejected)} input(s) rejected, e.g. {detail})" if rejected else ""
        raise PromptSourceError(where, f"no prompts found in {len(files)} file(s){more}")
    frame = pd.DataFrame(rows, columns=PROMPT_COLUMNS).astype({"n_turns": "int64"})
    return IngestResult(prompts=frame, rejected=rejected, files=files, duplicates=duplicates)


# -- small helpers ---------------------------------------------------------------------------------------


def _type(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


def _json_error(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)[:200]


def _clean_raw(raw: str) -> str:
    """A short, storable copy of the offending input (valid UTF-8, no NUL)."""
    raw = raw[:RAW_PREVIEW_CHARS]
    return _SURROGATE.sub("\ufffd", raw).replace("\x00", "\\x00")


def _short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _markdown(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
