"""Prompt ingestion: public prompt formats into one de-duplicated prompt table (no Dagster here)."""

from .prompts import (
    FORMATS,
    MAX_TURNS,
    PROMPT_COLUMNS,
    REJECTED_COLUMNS,
    IngestResult,
    PromptSourceError,
    Rejected,
    ingest_prompt_sources,
    prompt_id,
    read_prompt_file,
)

__all__ = [
    "FORMATS",
    "MAX_TURNS",
    "PROMPT_COLUMNS",
    "REJECTED_COLUMNS",
    "IngestResult",
    "PromptSourceError",
    "Rejected",
    "ingest_prompt_sources",
    "prompt_id",
    "read_prompt_file",
]
