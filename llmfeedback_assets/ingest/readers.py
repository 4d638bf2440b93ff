"""Reading prompt files: bytes to text (UTF-8, BOM, UTF-16), JSONL lines, JSON arrays and single objects,
CSV/TSV rows, each record handed to `formats` with its file and line.

Every reader is defensive: a bad line becomes a `Rejected` (file, line, reason) and the rest of the file is
still read, so one typo never blocks a run. Only a file that cannot be read at all (or an unknown format)
raises `PromptSourceError`.

- Line endings: LF, CRLF and CR alone (old Mac files) all end a line, also mixed in one file; line numbers
  count them the same way.
- Size: a prompt whose turns and reference answers together are longer than ``max_prompt_chars``
  characters is rejected with its size and the limit (never truncated).
- File names: a name that is not valid UTF-8 is still read; its rows and rejects name the file by
  `display_path` (each bad byte written ``\\xNN``), so every stored path is valid UTF-8.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .formats import CSV_PROMPT_COLUMNS, EXPECTED_FIELDS, convert, detect, from_csv_row
from .records import (
    DEFAULT_MAX_PROMPT_CHARS,
    RAW_PREVIEW_CHARS,
    SURROGATE,
    BadRecord,
    PromptSourceError,
    Rejected,
    check_format,
    check_max_prompt_chars,
    clean_raw,
    display_path,
    prompt_size,
    size_reason,
    type_name,
)

JSON_EXTENSIONS = (".jsonl", ".json")
CSV_DELIMITERS = {".csv": ",", ".tsv": "\t"}

_JSON_WS = re.compile(r"[ \t\n\r]*")
_NEXT_OBJECT = re.compile(r",[ \t\n\r]*\{")
# A raw CR cannot occur inside a JSON string, so in JSON text every CR (alone or before LF) ends a line.
_JSON_LINE_BREAK = re.compile(r"\r\n?")
_CSV_FIELD_LIMIT = re.compile(r"field larger than field limit \((\d+)\)")


def read_prompt_file(
    path: Path, fmt: str = "auto", *, max_prompt_chars: int = DEFAULT_MAX_PROMPT_CHARS
) -> tuple[list[dict], list[Rejected]]:
    """Prompt rows (dicts with PROMPT_COLUMNS) and rejected inputs of one file.

    A prompt longer than ``max_prompt_chars`` (turns and reference answers together) is rejected. Raises
    PromptSourceError only when the file itself is missing or unreadable, ``fmt`` is unknown or
    ``max_prompt_chars`` is not a positive integer.
    """
    path = Path(path)
    check_format(path, fmt)
    check_max_prompt_chars(max_prompt_chars)
    if not path.is_file():
        raise PromptSourceError(path, "prompt file does not exist" if not path.exists() else "is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PromptSourceError(path, f"prompt file cannot be read ({exc.strerror or exc})") from exc
    reader = _FileReader(path, fmt, max_prompt_chars)
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


def _decode(data: bytes) -> str:
    # Undecodable bytes become lone surrogates, which the readers reject line by line instead of
    # failing the whole file.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")  # spreadsheet "Unicode text" exports
        except UnicodeDecodeError:
            pass
    return data.decode("utf-8-sig", errors="surrogateescape")


# -- one file's text into records and rejections ----------------------------------------------------------


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
    max_prompt_chars: int = DEFAULT_MAX_PROMPT_CHARS
    records: list[dict] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def __post_init__(self) -> None:
        # the path as stored in every row and reject: valid UTF-8 even when the file's name is not
        self.src = display_path(self.path)

    def reject(self, line: int, reason: str, raw: str = "") -> None:
        self.rejected.append(Rejected(self.src, line, reason, clean_raw(raw)))

    def add(self, line: int, where: str, row: dict, raw: str) -> None:
        """Keep one prompt row, or reject it when it is over the size limit."""
        size = prompt_size(row)
        if size > self.max_prompt_chars:
            self.reject(line, where + size_reason(size, self.max_prompt_chars), raw)
        else:
            self.records.append(row)

    # JSON / JSONL ------------------------------------------------------------------------------------
    def read_json(self, text: str, allow_array: bool) -> None:
        text = _JSON_LINE_BREAK.sub("\n", text)
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
            if SURROGATE.search(unit.raw):
                self.reject(unit.line, prefix + "not valid UTF-8", unit.raw)
                continue
            if not isinstance(unit.value, dict):
                reason = f"{prefix}expected a JSON object, got {type_name(unit.value)}"
                self.reject(unit.line, reason, unit.raw)
                continue
            if schema is None:
                schema = detect(unit.value)
                if schema is None:
                    keys = sorted(unit.value)[:8]
                    self.reject(
                        unit.line,
                        f"{prefix}unrecognised record: expected {EXPECTED_FIELDS}; got keys {keys}",
                        unit.raw,
                    )
                    continue
            # array elements are numbered by position, JSONL records by line
            fallback_id = unit.label.removeprefix("item ") if unit.label else str(unit.line)
            self.add_record(schema, unit.value, unit.line, prefix, unit.raw, fallback_id)

    def add_record(self, schema: str, rec: dict, line: int, prefix: str, raw: str, fallback_id: str) -> None:
        try:
            for label, out in convert(schema, rec, self.src, fallback_id):
                where = f"{prefix}{label}: " if label else prefix
                if isinstance(out, BadRecord):
                    self.reject(line, f"{where}{out}", raw)
                else:
                    self.add(line, where, out, raw)
        except BadRecord as bad:
            self.reject(line, f"{prefix}{bad}", raw)

    # CSV ---------------------------------------------------------------------------------------------
    def read_csv(self, text: str, delimiter: str) -> None:
        # newline="": LF, CRLF and CR alone end a line, and a quoted field keeps its own line breaks
        lines = io.StringIO(text, newline="").readlines()
        _allow_csv_fields(self.max_prompt_chars)
        header: list[str] | None = None
        columns: dict[str, int] = {}
        records = _CsvRecords(lines, delimiter)
        for start, end, row, error in records:
            line_no = start + 1
            raw = lines[start]
            if error is not None:
                too_long = _CSV_FIELD_LIMIT.search(error)
                if too_long:
                    error = (
                        f"a field is over {int(too_long[1]):,} characters; the limit is "
                        f"max_prompt_chars = {self.max_prompt_chars:,}"
                    )
                self.reject(line_no, error, raw)
                continue
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [c.strip().lower() for c in row]
                for i, name in enumerate(header):
                    columns.setdefault(name, i)
                if not any(c in columns for c in CSV_PROMPT_COLUMNS):
                    expected = ", ".join(CSV_PROMPT_COLUMNS)
                    reason = f"CSV header has no prompt column (expected one of {expected})"
                    self.reject(line_no, f"{reason}; got {header[:12]}", raw)
                    return
                continue
            if SURROGATE.search("".join(row)):
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
                self.add(line_no, "", from_csv_row(row, columns, self.src, str(line_no)), raw)
            except BadRecord as bad:
                self.reject(line_no, str(bad), raw)


# -- JSON units -------------------------------------------------------------------------------------------


def _jsonl_units(text: str) -> Iterator[_Unit]:
    for number, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            yield _Unit(number, "", line, json.loads(line))
        except (ValueError, RecursionError) as exc:
            yield _Unit(number, "", line, error=f"invalid JSON: {_json_error(exc)}")


def _json_error(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)[:200]


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
        # newlines[0] < start, not '"\n" in text[:start]': that copy per item made a one-line array of
        # 300k records quadratic
        if first_col is None and isinstance(value, dict) and newlines and newlines[0] < start:
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


# -- CSV --------------------------------------------------------------------------------------------------


def _allow_csv_fields(max_prompt_chars: int) -> None:
    """Let the csv module read a field as long as the prompt limit (its own default is 131,072), so the
    limit, not the parser, decides. The setting is process-wide; it is only ever raised."""
    wanted = min(max_prompt_chars + 1, 2**31 - 1)  # a C long everywhere
    if csv.field_size_limit() < wanted:
        csv.field_size_limit(wanted)


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
