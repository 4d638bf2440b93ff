"""The one DuckDB module: every table declared once (tables/), and safe, short, retried writes (store)."""

from .store import Warehouse, WarehouseLockTimeout
from .table import Column, Table, WarehouseDataError
from .tables import TABLES, columns, empty, table

__all__ = ["TABLES", "Column", "Table", "Warehouse", "WarehouseDataError", "WarehouseLockTimeout", "columns",
           "empty", "table"]
