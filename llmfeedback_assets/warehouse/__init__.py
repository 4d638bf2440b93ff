"""The one warehouse module: every table declared once (tables/), and safe, short, retried writes (store) on
the DuckDB file or a DuckLake (lake)."""

from .lake import LakeError, LakeSpec
from .store import SnapshotLog, Warehouse, WarehouseLockTimeout, WarehouseVersionError, recording
from .table import Column, Table, WarehouseDataError
from .tables import TABLES, columns, empty, table

__all__ = ["TABLES", "Column", "LakeError", "LakeSpec", "SnapshotLog", "Table", "Warehouse",
           "WarehouseDataError", "WarehouseLockTimeout", "WarehouseVersionError", "columns", "empty",
           "recording", "table"]
