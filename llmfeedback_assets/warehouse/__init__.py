"""DuckDB warehouse: schemas and safe, short, retried writes."""

from .schema import TABLES, columns, register_table
from .store import Warehouse, WarehouseDataError, WarehouseLockTimeout

__all__ = ["TABLES", "Warehouse", "WarehouseDataError", "WarehouseLockTimeout", "columns", "register_table"]
