"""Metadata helpers: what a person reads in the UI for every table asset."""

from __future__ import annotations

import base64

import dagster as dg
import pandas as pd

from ..warehouse import TABLES


def table_metadata(table: str, df: pd.DataFrame, preview_rows: int = 10, **extra) -> dict:
    preview = df.head(preview_rows).copy()
    for col in preview.columns:
        if preview[col].dtype == object:
            preview[col] = preview[col].map(lambda v: _short(v))
    md = {
        "dagster/row_count": dg.MetadataValue.int(len(df)),
        "dagster/table_name": f"duckdb.main.{table}",
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, typ.replace(" PRIMARY KEY", "")) for name, typ in TABLES[table]]
        ),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "(empty)"),
    }
    md.update(extra)
    return md


def _short(v, n: int = 60):
    s = str(v) if v is not None else ""
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def png_metadata(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG (plot, heat-map, loss curve) shown inline in the UI's metadata panel."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")
