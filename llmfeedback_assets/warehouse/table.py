"""One declaration per table: it gives the DuckDB DDL, the pandera frame check run before every write, and the
column schema (with a one-line description per column) that the Dagster UI shows on each asset."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pandera loads on the first write (~0.2 s): loading the code location stays fast
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors


class WarehouseDataError(ValueError):
    """A frame that must not be written (missing columns, bad types, null or duplicate keys); nothing was
    written."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    description: str


def _is_number(v) -> bool:
    return (isinstance(v, (int, float, np.number)) and not isinstance(v, bool | np.bool_)
            or isinstance(v, bool))


# What a non-null value of an object-dtype column must be, per DuckDB type family. Typed pandas columns are
# checked by their dtype instead, so the per-value test only runs where pandas could not infer a type.
_VALUE_KINDS = {
    "VARCHAR": (lambda v: isinstance(v, str), pd.api.types.is_string_dtype),
    "DOUBLE": (_is_number, pd.api.types.is_numeric_dtype),
    "FLOAT": (_is_number, pd.api.types.is_numeric_dtype),
    "INTEGER": (_is_number, pd.api.types.is_numeric_dtype),
    "BIGINT": (_is_number, pd.api.types.is_numeric_dtype),
    "BOOLEAN": (lambda v: isinstance(v, bool | np.bool_ | int), pd.api.types.is_bool_dtype),
    "TIMESTAMP": (lambda v: isinstance(v, dt.datetime | dt.date | pd.Timestamp | np.datetime64),
                  pd.api.types.is_datetime64_any_dtype),
    "LIST": (lambda v: isinstance(v, list | tuple | np.ndarray), lambda dtype: False),
}


def _family(duckdb_type: str) -> str:
    return "LIST" if duckdb_type.endswith("[]") else duckdb_type.split("(")[0]


def _type_check(col: Column) -> pa.Check:
    """A vectorised pandera check: True per row whose value fits the column's DuckDB type (or is null), so a
    failure names the offending values."""
    import pandera.pandas as pa

    family = _family(col.type)
    value_ok, dtype_ok = _VALUE_KINDS[family]

    def check(series: pd.Series) -> pd.Series:
        if series.dtype != object:
            fits = dtype_ok(series.dtype) or (family in _NUMERIC and pd.api.types.is_bool_dtype(series.dtype))
            return series.isna() | fits
        return series.map(lambda v: _is_null(v) or bool(value_ok(v)))

    return pa.Check(check, error=f"value(s) not {col.type}", ignore_na=False)


_NUMERIC = ("DOUBLE", "FLOAT", "INTEGER", "BIGINT")


def _is_null(v) -> bool:
    if isinstance(v, list | tuple | np.ndarray):
        return False
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Table:
    """A warehouse table: its columns in storage order, an optional primary key (one column, or a tuple of
    columns) and partition column."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: str | tuple[str, ...] | None = None
    partition: str | None = None  # rewritten one partition at a time on this column

    def __post_init__(self):
        names = self.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: duplicate column names")
        for c in (*self.key_columns, self.partition):
            if c is not None and c not in names:
                raise ValueError(f"table {self.name}: {c!r} is not a column")
        for col in self.columns:
            if _family(col.type) not in _VALUE_KINDS:
                raise ValueError(f"table {self.name}.{col.name}: unsupported type {col.type}")
            if not col.description:
                raise ValueError(f"table {self.name}.{col.name}: every column needs a description")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def key_columns(self) -> tuple[str, ...]:
        if self.key is None:
            return ()
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)

    def sql_columns(self) -> list[tuple[str, str]]:
        return [(c.name, c.type) for c in self.columns]

    def ddl(self, keys: bool = True) -> str:
        """CREATE TABLE, with the primary key as a constraint unless `keys` is False (DuckLake has none)."""
        pk = self.key_columns if keys else ()
        body = ", ".join(f'"{c.name}" {c.type}' + (" PRIMARY KEY" if (c.name,) == pk else "")
                         for c in self.columns)
        if len(pk) > 1:
            body += ", PRIMARY KEY (" + ", ".join(f'"{c}"' for c in pk) + ")"
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" ({body})'

    def empty(self) -> pd.DataFrame:
        return pd.DataFrame(columns=self.column_names)

    @cached_property
    def frame_schema(self) -> pa.DataFrameSchema:
        import pandera.pandas as pa

        keys = self.key_columns
        return pa.DataFrameSchema(
            {c.name: pa.Column(None, checks=[_type_check(c)], nullable=c.name not in keys,
                               unique=(c.name,) == keys, required=True)
             for c in self.columns},
            name=self.name, strict=False, unique=list(keys) if len(keys) > 1 else None,
        )

    def validate(self, df: pd.DataFrame) -> pd.DataFrame:
        """The frame in declared column order, or WarehouseDataError naming the table, column and rows."""
        missing = [c for c in self.column_names if c not in df.columns]
        if missing:
            raise WarehouseDataError(f"{self.name}: frame lacks column(s) {missing}; nothing was written")
        frame = df[self.column_names]
        if frame.empty:
            return frame
        from pandera.errors import SchemaError, SchemaErrors

        try:
            self.frame_schema.validate(frame, lazy=True)
        except SchemaErrors as exc:
            raise WarehouseDataError(
                f"{self.name}: {_describe(exc, self.key_columns)}; nothing was written") from None
        except SchemaError as exc:  # pragma: no cover - lazy validation raises SchemaErrors
            raise WarehouseDataError(f"{self.name}: {exc}; nothing was written") from None
        return frame


_CHECK_NAMES = {"not_nullable": "row(s) without a key", "field_uniqueness": "duplicate key(s)",
                "multiple_fields_uniqueness": "duplicate key(s)"}


def _describe(exc: SchemaErrors, key: tuple[str, ...]) -> str:
    """pandera's failure cases as one line: column, what failed, how many rows, a few examples."""
    parts = []
    for (column, check), group in exc.failure_cases.groupby(["column", "check"], sort=False, dropna=False):
        what = _CHECK_NAMES.get(str(check), str(check)) if column in key else str(check)
        examples = [str(v)[:40] for v in group["failure_case"].drop_duplicates().head(3)]
        parts.append(f"{column}: {len(group)} {what} {examples}")
    return "; ".join(parts)


def declare(name: str, description: str, columns: list[tuple[str, str, str]],
            key: str | tuple[str, ...] | None = None,
            partition: str | None = None) -> Table:
    return Table(name, description, tuple(Column(*c) for c in columns), key=key, partition=partition)
