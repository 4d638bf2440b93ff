"""The prompt record and what can go wrong with one: the table's columns, prompt ids, rejections, field
checks and normalisation. Every format in `formats` builds its rows from these checks, so a field means
the same and fails with the same reason whatever file it came from."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ids import content_hash

PROMPT_COLUMNS = ["prompt_id", "source_file", "source_id", "category", "turns", "reference", "n_turns"]
REJECTED_COLUMNS = ["source_file", "line", "reason", "raw"]
FORMATS = ("auto", "mtbench", "llmonitor", "instruction", "csv")
# Responders see the whole conversation so far and judges grade every turn (FastChat's prompts cover two
# turns; later turns use our own template), so the cap only refuses runaway records.
MAX_TURNS = 20
DEFAULT_CATEGORY = "general"
RAW_PREVIEW_CHARS = 500
# A prompt (its turns and reference answers together, in characters) goes to every responder and judge: a
# runaway record (a whole book, a base64 blob) is rejected with its size, never truncated. The `prompts`
# asset passes the config's `max_prompt_chars`.
DEFAULT_MAX_PROMPT_CHARS = 100_000

SURROGATE = re.compile("[\ud800-\udfff]")  # bytes that were not UTF-8 come back as lone surrogates
MISSING_CELL = {"nan", "NaN", "NAN"}  # how pandas writes an empty cell (sparse_feedback CSVs)


class PromptSourceError(ValueError):
    """A prompt source cannot be used at all (missing, unreadable, or no prompts in the whole run)."""

    def __init__(self, path: str | Path, message: str):
        self.path = display_path(path)
        super().__init__(f"{self.path}: {message}")


def check_format(path: str | Path, fmt: str) -> None:
    """Raise PromptSourceError for a ``fmt`` that is not one of FORMATS."""
    if fmt not in FORMATS:
        raise PromptSourceError(path, f"unknown prompt format {fmt!r}; expected one of {', '.join(FORMATS)}")


@dataclass
class Rejected:
    """One input that could not become a prompt. ``line`` is 1-based; 0 means the whole file.

    Every text is storable (valid UTF-8, no NUL; see `display_path`), whatever it was built from.
    """

    source_file: str
    line: int
    reason: str
    raw: str

    def __post_init__(self) -> None:
        self.source_file = display_path(self.source_file)
        self.reason = storable_text(self.reason)
        self.raw = storable_text(self.raw)


class BadRecord(Exception):
    """A record that cannot become a prompt; the message names the field."""


# -- ids and rows -----------------------------------------------------------------------------------------


def prompt_id(turns: list[str]) -> str:
    """Content hash of the turns: sha256 of their canonical JSON, first 16 hex characters."""
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        raise ValueError("prompt_id needs a list of strings")
    canonical = json.dumps(turns, ensure_ascii=False, separators=(",", ":"))
    return content_hash(canonical)


def prompt_size(row: dict) -> int:
    """Characters of a prompt row's turns and reference answers together (what `max_prompt_chars` caps)."""
    return sum(map(len, row["turns"])) + sum(map(len, row["reference"]))


def size_reason(size: int, limit: int) -> str:
    return f"prompt is {size:,} characters; the limit is max_prompt_chars = {limit:,}"


def check_max_prompt_chars(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise PromptSourceError("max_prompt_chars", f"must be a positive integer, got {limit!r}")
    return limit


def prompt_row(
    source_file: str, source_id: str, category: str, turns: list[str], reference: list[str]
) -> dict:
    """One row of the prompt table (keys exactly PROMPT_COLUMNS)."""
    return {
        "prompt_id": prompt_id(turns),
        "source_file": source_file,
        "source_id": source_id,
        "category": category,
        "turns": turns,
        "reference": reference,
        "n_turns": len(turns),
    }


# -- field checks -----------------------------------------------------------------------------------------


def _normalize(text: str) -> str:
    # Line endings and outer whitespace carry no meaning, but would change the content hash.
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def text_field(value: Any, name: str) -> str:
    """A required, non-empty string: normalised, valid UTF-8, without NUL."""
    if value is None:
        raise BadRecord(f"field '{name}' is null")
    if not isinstance(value, str):
        raise BadRecord(f"field '{name}' must be a string, got {type_name(value)}")
    if SURROGATE.search(value):
        raise BadRecord(f"field '{name}' is not valid UTF-8 text")
    if "\x00" in value:
        raise BadRecord(f"field '{name}' contains a NUL character")
    text = _normalize(value)
    if not text:
        raise BadRecord(f"field '{name}' is empty")
    return text


def optional_text(value: Any, name: str) -> str:
    """Like text_field, but null or blank is ``""``."""
    if value is None:
        return ""
    if isinstance(value, str) and not value.strip():
        return ""
    return text_field(value, name)


def turns_field(value: Any, name: str = "turns") -> list[str]:
    """One string or a list of 1 to MAX_TURNS strings."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise BadRecord(f"field '{name}' must be a list of strings, got {type_name(value)}")
    if not value:
        raise BadRecord(f"field '{name}' is empty")
    if len(value) > MAX_TURNS:
        raise BadRecord(f"field '{name}' has {len(value)} turns; at most {MAX_TURNS} are supported")
    return [text_field(t, f"{name}[{i}]") for i, t in enumerate(value)]


def reference_field(value: Any, n_turns: int, name: str = "reference") -> list[str]:
    """Reference answers, at most one per turn; ``[]`` when there are none."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise BadRecord(f"field '{name}' must be a string or a list of strings, got {type_name(value)}")
    refs = [optional_text(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if not any(refs):
        return []
    if len(refs) > n_turns:
        raise BadRecord(f"field '{name}' has {len(refs)} entries for {n_turns} turn(s)")
    return refs


def category_field(value: Any, name: str = "category") -> str:
    """Lower-cased category; DEFAULT_CATEGORY when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DEFAULT_CATEGORY
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRecord(f"field '{name}' must be a string, got {type_name(value)}")
    text = _normalize(str(value)).lower()
    if SURROGATE.search(text) or "\x00" in text:
        raise BadRecord(f"field '{name}' is not valid text")
    return text or DEFAULT_CATEGORY


def source_id_field(value: Any, name: str, fallback: str) -> str:
    """The record's own id as text; ``fallback`` (its position in the file) when it has none."""
    if value is None:
        return fallback
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRecord(f"field '{name}' must be a string or a number, got {type_name(value)}")
    text = str(value).strip()
    if SURROGATE.search(text) or "\x00" in text:
        raise BadRecord(f"field '{name}' is not valid text")
    return text or fallback


def first_key(rec: dict, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` that the record has."""
    return next((n for n in names if n in rec), None)


# -- small helpers ----------------------------------------------------------------------------------------


def type_name(value: Any) -> str:
    """The JSON name of a value's type, for reasons."""
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


def clean_raw(raw: str) -> str:
    """A short, storable copy of the offending input (valid UTF-8, no NUL)."""
    raw = raw[:RAW_PREVIEW_CHARS]
    return SURROGATE.sub("\ufffd", raw).replace("\x00", "\\x00")


def storable_text(text: str) -> str:
    """``text`` as valid UTF-8 without NUL, for DuckDB, Dagster's event log and the UI.

    A byte that was not UTF-8 (decoded with surrogateescape, as Python does for file names) is shown as
    ``\\xff``; any other lone surrogate as ``\\udXXX``; NUL as ``\\x00``. Valid text is returned unchanged.
    """
    text = str(text)
    if SURROGATE.search(text):
        try:
            data = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # lone surrogates that never were bytes
            data = text.encode("utf-8", "backslashreplace")
        text = data.decode("utf-8", "backslashreplace")
    return text.replace("\x00", "\\x00")


def display_path(path: str | os.PathLike | bytes) -> str:
    """The path as stored and shown: unchanged when its name is valid UTF-8, else with each bad byte
    written ``\\xNN`` (``b"bad\\xff.jsonl"`` is ``bad\\xff.jsonl``). Open the file with the Path itself."""
    return storable_text(os.fsdecode(path))
