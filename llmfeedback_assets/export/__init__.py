"""Backfill export: the warehouse's synthetic users, chats, turns, messages and evals into a SQL database."""

from .pipeline import (
    BackfillData,
    ExportError,
    ExportReport,
    Refused,
    backfill_rows,
    count_rows,
    export_backfill,
    load_backfill_data,
    resolve_database_url,
    turn_id,
)
from .schema import product_metadata

__all__ = ["BackfillData", "ExportError", "ExportReport", "Refused", "backfill_rows", "count_rows",
           "export_backfill", "load_backfill_data", "product_metadata", "resolve_database_url", "turn_id"]
