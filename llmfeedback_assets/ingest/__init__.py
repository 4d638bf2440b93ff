"""Prompt ingestion: public prompt formats into one de-duplicated prompt table (no Dagster here).

`records` (columns, ids, rejections, field checks) <- `formats` (one record or CSV row of each format,
format detection) <- `readers` (one file, line by line) <- `pipeline` (sources and folders, duplicates,
the result).
"""

from .answers import AnswerSourceError, read_answers
from .judgments import JudgmentSourceError, read_judgments
from .pipeline import IngestResult, incoming_files, ingest_prompt_sources
from .readers import read_prompt_file
from .records import (
    DEFAULT_MAX_PROMPT_CHARS,
    FORMATS,
    MAX_TURNS,
    PROMPT_COLUMNS,
    REJECTED_COLUMNS,
    PromptSourceError,
    Rejected,
    display_path,
    prompt_id,
)
from .sft import SftPool, SftSourceError, read_sft_sources

__all__ = [
    "DEFAULT_MAX_PROMPT_CHARS",
    "FORMATS",
    "MAX_TURNS",
    "PROMPT_COLUMNS",
    "REJECTED_COLUMNS",
    "AnswerSourceError",
    "IngestResult",
    "JudgmentSourceError",
    "PromptSourceError",
    "Rejected",
    "SftPool",
    "SftSourceError",
    "display_path",
    "incoming_files",
    "ingest_prompt_sources",
    "prompt_id",
    "read_answers",
    "read_judgments",
    "read_prompt_file",
    "read_sft_sources",
]
