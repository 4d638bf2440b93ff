"""What a person reads in the UI: each table asset's column schema (with descriptions) on its definition, and
row counts, previews, tables and plots on every materialization."""

from __future__ import annotations

import base64

import dagster as dg
import pandas as pd

from ..analysis.plots import rounded
from ..warehouse import table

# The kinds badge of every asset that writes a DuckDB table from Python.
KINDS = {"duckdb", "python"}


def column_schema(name: str) -> dg.TableSchema:
    """The declared columns of a warehouse table, each with its DuckDB type and one-line description."""
    return dg.TableSchema(columns=[dg.TableColumn(c.name, c.type, description=c.description)
                                   for c in table(name).columns])


def table_definition(name: str) -> dict:
    """Definition metadata of an asset that writes table `name`: the UI shows it before the first run."""
    return {"dagster/column_schema": column_schema(name), "dagster/table_name": f"duckdb.main.{name}",
            "table_description": table(name).description}


def table_metadata(name: str, df: pd.DataFrame, preview_rows: int = 10, **extra) -> dict:
    """Materialization metadata of a table write: row count, column schema and a preview."""
    preview = rounded(df.head(preview_rows))
    for col in preview.columns:
        if preview[col].dtype == object:
            preview[col] = preview[col].map(_short)
    md = {
        "dagster/row_count": dg.MetadataValue.int(len(df)),
        "dagster/table_name": f"duckdb.main.{name}",
        "dagster/column_schema": column_schema(name),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "(empty)"),
    }
    md.update(extra)
    return md


def md_table(df: pd.DataFrame, n: int = 10, empty: str = "none") -> dg.MetadataValue:
    """The first `n` rows of a frame as a markdown table, floats rounded for people (see `rounded`)."""
    return dg.MetadataValue.md(rounded(df.head(n)).to_markdown(index=False) if len(df) else empty)


def _short(v, n: int = 60):
    s = str(v) if v is not None else ""
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def png_metadata(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG (plot, heat-map, loss curve) shown inline in the UI's metadata panel."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")
