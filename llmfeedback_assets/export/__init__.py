"""Backfill export: the warehouse's synthetic users, chats, turns, messages and evals into a SQL database, in
Yupp's synthetic-backfill layout.

Names resolve on first use (PEP 562): SQLAlchemy (~0.15 s) loads in the export step, not when the Dagster
code location loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

_FROM_PIPELINE = ("BackfillData", "ExportError", "ExportReport", "Refused", "backfill_rows", "count_rows",
                  "export_backfill", "load_backfill_data", "resolve_database_url", "turn_id")
__all__ = ["BackfillData", "ExportError", "ExportReport", "Refused", "backfill_attributes", "backfill_rows",
           "count_rows", "export_backfill", "load_backfill_data", "product_metadata", "resolve_database_url",
           "turn_id"]

if TYPE_CHECKING:
    from .job import backfill_attributes
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


def __getattr__(name: str):
    if name in _FROM_PIPELINE:
        from . import pipeline

        return getattr(pipeline, name)
    if name == "product_metadata":
        from .schema import product_metadata

        return product_metadata
    if name == "backfill_attributes":
        from .job import backfill_attributes

        return backfill_attributes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
