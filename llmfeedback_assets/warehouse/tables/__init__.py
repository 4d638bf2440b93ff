"""Every warehouse table, declared once, by area. `TABLES` maps name -> Table for the whole warehouse."""

from __future__ import annotations

from ..table import Column, Table, WarehouseDataError
from . import analysis, curation, embedding, llm, reward, spine, synth

AREAS = (spine, llm, analysis, curation, embedding, reward, synth)
TABLES: dict[str, Table] = {t.name: t for area in AREAS for t in area.TABLES}


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no warehouse table {name!r}; declare it in warehouse/tables/") from None


def columns(name: str) -> list[str]:
    return table(name).column_names


def empty(name: str):
    """An empty frame with the table's columns (a partition with nothing to write)."""
    return table(name).empty()


__all__ = ["TABLES", "Column", "Table", "WarehouseDataError", "columns", "empty", "table"]
