"""A user's own instruction-tuning pool (DS2's input), read into one de-duplicated example table (no Dagster).

Files: JSON (an array of records), JSON lines, CSV/TSV (header row) and Parquet; ``format: auto`` goes by the
suffix, and a folder is read file by file. Which columns hold the fields is decided per file, from the first
record's keys (the header, the Parquet columns), unless the source maps them (``columns``):

- instruction: ``instruction``/``prompt``/``question``; input (optional): ``input``/``context``; output:
  ``output``/``response``/``completion``/``answer`` (Alpaca: instruction/input/output, Dolly:
  instruction/context/response). Names match case-insensitively.
- a chat list, ``messages`` ``[{role, content}]`` (OpenAI, open-instruct, TRL) or ShareGPT's
  ``conversations`` ``[{from, value}]``: the first user turn is the instruction and the first assistant reply
  after it the output. System messages and later exchanges are left out (DS2 rates one instruction-response
  pair; a system prompt is the same for most of a pool and would only blur the embeddings); the result's
  notes count the records concerned.

Texts are normalised as the prompt table normalises them (line endings, outer whitespace), so an example
has the same ``example_id`` (a content hash of instruction, input and output) in every file format.
``instruction`` holds what the judge rates and the encoder embeds: the instruction, then a blank line and
the input when there is one (open-instruct's layout, and the prompt table's turn, so ``prompt_id`` is the id
the prompt table gives it); ``input`` keeps the input on its own for the Alpaca-style export.

Bad rows are handled as prompt ingestion handles them: a record that cannot be an example (invalid JSON, not
an object, a missing, empty or non-string field, over ``max_chars``) is a `Rejected` naming file, line and
field, and the rest is read. Only a source that cannot be read at all, or a pool with no example, raises
`SftSourceError`. Rows with the same content collapse to the first one.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..ids import stable_id
from .answers import source_files
from .readers import _JSON_LINE_BREAK, _allow_csv_fields, _array_units, _CsvRecords, _decode, _jsonl_units
from .records import (
    MISSING_CELL,
    SURROGATE,
    BadRecord,
    Rejected,
    clean_raw,
    display_path,
    optional_text,
    prompt_id,
    text_field,
    type_name,
)
from .sparse_feedback import parquet_records

SFT_COLUMNS = ["example_id", "prompt_id", "dataset", "instruction", "input", "output", "source"]
SFT_FORMATS = ("auto", "json", "jsonl", "csv", "parquet")
FIELDS = ("instruction", "input", "output", "messages")
SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}
INSTRUCTION_NAMES = ("instruction", "prompt", "question")
INPUT_NAMES = ("input", "context")
OUTPUT_NAMES = ("output", "response", "completion", "answer")
CHAT_NAMES = ("messages", "conversations")
USER_ROLES = ("user", "human")
ASSISTANT_ROLES = ("assistant", "gpt", "chatgpt", "bot", "model")
DEFAULT_MAX_CHARS = 100_000  # the config's max_prompt_chars: instruction, input and output together


class SftSourceError(ValueError):
    """A pool source that cannot be read at all (missing, unreadable, unknown format, no usable field)."""


@dataclass(frozen=True)
class Fields:
    """Which of a file's columns hold an example's fields: instruction/input/output, or one chat list."""

    instruction: str | None = None
    input: str | None = None
    output: str | None = None
    messages: str | None = None

    def describe(self) -> str:
        if self.messages is not None:
            return f"messages={self.messages}"
        extra = [f"input={self.input}"] if self.input else []
        return ", ".join([f"instruction={self.instruction}", *extra, f"output={self.output}"])


def detect_fields(keys: Iterable[Any], mapping: dict[str, str] | None = None, *, header: bool = False
                  ) -> Fields:
    """The fields of a file from its column names; ``mapping`` (our field -> the file's column) wins where
    given, the rest is detected. With ``header`` (CSV, Parquet: every row has the same columns) a mapped
    column the file lacks is an error; JSON records may differ, so there a record without it is rejected.
    Raises BadRecord when no instruction and output (or chat list) is found."""
    mapping = dict(mapping or {})
    keys = [str(k) for k in keys]
    lower: dict[str, str] = {}
    for k in keys:
        lower.setdefault(k.lower(), k)
    for ours, theirs in mapping.items():
        if header and theirs not in keys:
            raise BadRecord(f"columns.{ours}: the file has no column {theirs!r} (it has {keys[:12]})")

    def pick(names: tuple[str, ...]) -> str | None:
        return next((lower[n] for n in names if n in lower), None)

    if "messages" in mapping:
        return Fields(messages=mapping["messages"])
    instruction = mapping.get("instruction") or pick(INSTRUCTION_NAMES)
    output = mapping.get("output") or pick(OUTPUT_NAMES)
    if instruction and output:
        return Fields(instruction, mapping.get("input") or pick(INPUT_NAMES), output)
    chat = pick(CHAT_NAMES)
    if chat and not mapping:
        return Fields(messages=chat)
    raise BadRecord(f"cannot tell the fields from the columns {keys[:12]}: expected an instruction "
                    f"({'/'.join(INSTRUCTION_NAMES)}) and an output ({'/'.join(OUTPUT_NAMES)}), or a "
                    f"{'/'.join(CHAT_NAMES)} list; or map them with `columns:`")


# -- one record into (instruction, input, output) ---------------------------------------------------------


def _cell(value: Any) -> Any:
    """A missing Parquet/pandas value (NaN) reads as null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _required(rec: dict, name: str) -> str:
    if name not in rec:
        raise BadRecord(f"missing field '{name}'")
    return text_field(_cell(rec[name]), name)


def _from_chat(value: Any, name: str) -> tuple[str, str, set[str]]:
    """(instruction, output, what was left out) of a messages / ShareGPT conversations list."""
    if not isinstance(value, list | tuple):
        raise BadRecord(f"field '{name}' must be a list of messages, got {type_name(value)}")
    instruction = None
    left_out: set[str] = set()
    for i, msg in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(msg, dict):
            raise BadRecord(f"field '{where}' must be an object, got {type_name(msg)}")
        role_key = "role" if "role" in msg else "from" if "from" in msg else None
        text_key = "content" if "content" in msg else "value" if "value" in msg else None
        if role_key is None or text_key is None:
            raise BadRecord(f"field '{where}' needs 'role' and 'content' (or ShareGPT's 'from' and 'value')")
        role = str(msg[role_key]).strip().lower()
        if role == "system":
            left_out.add("system")
        elif instruction is None and role in USER_ROLES:
            instruction = text_field(msg[text_key], f"{where}.{text_key}")
        elif instruction is not None and role in ASSISTANT_ROLES:
            if len(value) > i + 1:
                left_out.add("later turns")
            return instruction, text_field(msg[text_key], f"{where}.{text_key}"), left_out
        elif instruction is not None and role in USER_ROLES:
            raise BadRecord(f"field '{where}': a second user turn before any assistant reply")
        elif role not in USER_ROLES and role not in ASSISTANT_ROLES:
            raise BadRecord(f"field '{where}.{role_key}': unknown role {msg[role_key]!r}")
    if instruction is None:
        raise BadRecord(f"field '{name}' has no user turn")
    raise BadRecord(f"field '{name}' has no assistant reply after the first user turn")


def example_fields(rec: dict, fields: Fields) -> tuple[str, str, str, set[str]]:
    """(instruction, input, output, left out) of one record. Raises BadRecord naming the field."""
    if fields.messages is not None:
        if fields.messages not in rec:
            raise BadRecord(f"missing field '{fields.messages}'")
        instruction, output, left_out = _from_chat(_cell(rec[fields.messages]), fields.messages)
        return instruction, "", output, left_out
    instruction = _required(rec, fields.instruction)
    extra = optional_text(_cell(rec.get(fields.input)), fields.input) if fields.input else ""
    return instruction, "" if extra in MISSING_CELL else extra, _required(rec, fields.output), set()


def prompt_text(instruction: str, extra: str) -> str:
    """What the judge and the encoder see: the instruction, a blank line and the input when there is one."""
    return f"{instruction}\n\n{extra}" if extra else instruction


# -- one file ---------------------------------------------------------------------------------------------


@dataclass
class _Pool:
    """Examples gathered over the files of every source, with the rejects and what was decided per file."""

    max_chars: int = DEFAULT_MAX_CHARS
    columns: dict[str, list] = field(default_factory=lambda: {c: [] for c in SFT_COLUMNS})
    seen: set[str] = field(default_factory=set)
    rejected: list[Rejected] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    duplicates: int = 0
    left_out: dict[str, int] = field(default_factory=dict)

    def record(self, src: str, dataset: str, number: int, rec: Any, fields: Fields, raw: Any) -> None:
        try:
            if not isinstance(rec, dict):
                raise BadRecord(f"expected a JSON object, got {type_name(rec)}")
            instruction, extra, output, left_out = example_fields(rec, fields)
        except BadRecord as bad:
            self.rejected.append(Rejected(src, number, str(bad), clean_raw(str(raw))))
            return
        size = len(instruction) + len(extra) + len(output)
        if size > self.max_chars:
            reason = f"example is {size:,} characters; the limit is max_prompt_chars = {self.max_chars:,}"
            self.rejected.append(Rejected(src, number, reason, clean_raw(str(raw))))
            return
        for what in left_out:
            self.left_out[what] = self.left_out.get(what, 0) + 1
        example_id = stable_id(instruction, extra, output)
        if example_id in self.seen:
            self.duplicates += 1
            return
        self.seen.add(example_id)
        text = prompt_text(instruction, extra)
        for col, value in zip(SFT_COLUMNS, (example_id, prompt_id([text]), dataset, text, extra, output,
                                            f"{src}:{number}"), strict=True):
            self.columns[col].append(value)

    def read_file(self, path: Path, fmt: str, mapping: dict[str, str] | None, dataset: str) -> None:
        src = display_path(path)
        kind = SUFFIXES.get(path.suffix.lower()) if fmt == "auto" else fmt
        if kind is None:
            raise SftSourceError(f"{src}: unsupported file type {path.suffix or '(no extension)'}: expected "
                                 f"{', '.join(SUFFIXES)} (or set format:)")
        if kind == "parquet":
            records: Iterator[tuple[int, Any, Any]] = ((n, rec, rec) for n, rec in
                                                        parquet_records(path, SftSourceError))
        else:
            try:
                text = _decode(path.read_bytes())
            except OSError as exc:
                raise SftSourceError(f"{src}: cannot be read ({exc.strerror or exc})") from None
            records = _csv_records(self, src, text, path.suffix.lower()) if kind == "csv" else \
                _json_records(self, src, text)
        fields = None
        seen = 0
        for number, rec, raw in records:
            seen += 1
            if fields is None and isinstance(rec, dict):  # the first object decides the file's fields
                try:
                    fields = detect_fields(rec, mapping, header=kind in ("csv", "parquet"))
                except BadRecord as bad:
                    raise SftSourceError(f"{src}:{number}: {bad}") from None
                self.files[src] = fields.describe()
            if fields is None:
                reason = f"expected a JSON object, got {type_name(rec)}"
                self.rejected.append(Rejected(src, number, reason, clean_raw(str(raw))))
            else:
                self.record(src, dataset, number, rec, fields, raw)
        if fields is None:
            self.files[src] = "no JSON object" if seen else "no records"
            if not seen:
                self.rejected.append(Rejected(src, 0, "no records in the file", ""))


def _json_records(pool: _Pool, src: str, text: str) -> Iterator[tuple[int, Any, str]]:
    """(line, value, raw) of a JSON array's elements or of JSON lines; unparseable ones are rejected here."""
    text = _JSON_LINE_BREAK.sub("\n", text)
    units = _array_units(text) if text.lstrip(" \t\n\r").startswith("[") else _jsonl_units(text)
    for unit in units:
        if unit.error is not None or SURROGATE.search(unit.raw):
            reason = unit.error if unit.error is not None else "not valid UTF-8"
            pool.rejected.append(Rejected(src, unit.line, reason, clean_raw(unit.raw)))
            continue
        yield unit.line, unit.value, unit.raw


def _csv_records(pool: _Pool, src: str, text: str, suffix: str) -> Iterator[tuple[int, dict, str]]:
    """(line, {header: cell}, raw line) of every CSV row; 'nan' cells (pandas' empty) read as empty."""
    lines = io.StringIO(text, newline="").readlines()
    _allow_csv_fields(pool.max_chars)
    header: list[str] | None = None
    records = _CsvRecords(lines, "\t" if suffix == ".tsv" else ",")
    for start, end, row, error in records:
        raw = lines[start]
        if error is not None:
            pool.rejected.append(Rejected(src, start + 1, error, clean_raw(raw)))
        elif not any(cell.strip() for cell in row):
            continue
        elif header is None:
            header = [c.strip() for c in row]
        elif len(row) != len(header):
            reason = f"row has {len(row)} fields, the header has {len(header)}"
            if end - start > 1:  # an unbalanced quote swallowed the rows after it: read them again
                reason += f" (the row runs over {end - start} lines: an unbalanced quote?)"
                records.skip_to(start + 1)
            pool.rejected.append(Rejected(src, start + 1, reason, clean_raw(raw)))
        else:
            yield start + 1, {h: ("" if c.strip() in MISSING_CELL else c) for h, c in zip(header, row,
                                                                                          strict=True)}, raw


# -- sources ----------------------------------------------------------------------------------------------


@dataclass
class SftPool:
    examples: pd.DataFrame  # columns SFT_COLUMNS, one row per distinct example, in file order
    rejected: list[Rejected]
    files: dict[str, str]  # every file read -> its fields: "instruction=..., output=..." or "messages=..."
    duplicates: int  # rows dropped because an example with the same content came first
    notes: list[str]


SftSpec = tuple[Path, str, dict[str, str] | None, str | None]  # path, format, columns, name


def read_sft_sources(sources: Iterable[SftSpec], *, max_chars: int = DEFAULT_MAX_CHARS) -> SftPool:
    """Every example of every source (a file or a folder's .json/.jsonl/.csv/.tsv/.parquet files), in order.

    ``name`` labels a source's examples (``dataset``; default each file's stem). Raises SftSourceError for a
    missing source, an unknown format, a file whose fields cannot be told, or when no example is left."""
    pool = _Pool(max_chars=max_chars)
    for path, fmt, mapping, name in sources:
        if fmt not in SFT_FORMATS:
            raise SftSourceError(f"{display_path(path)}: unknown format {fmt!r}; expected one of "
                                 f"{', '.join(SFT_FORMATS)}")
        for file in source_files(path, tuple(SUFFIXES), SftSourceError):
            pool.read_file(file, fmt, mapping, name or file.stem)
    examples = pd.DataFrame(pool.columns, columns=SFT_COLUMNS)
    if examples.empty:
        detail = "; ".join(f"{Path(r.source_file).name}:{r.line} {r.reason}" for r in pool.rejected[:3])
        raise SftSourceError(f"sft_sources: no examples in {len(pool.files)} file(s)"
                             + (f" ({len(pool.rejected)} row(s) rejected, e.g. {detail})" if detail else ""))
    notes = [f"{n} chat record(s): {what} left out (one instruction-response pair per record)"
             for what, n in sorted(pool.left_out.items())]
    return SftPool(examples, pool.rejected, pool.files, pool.duplicates, notes)
