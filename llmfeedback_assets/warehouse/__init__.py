"""DuckDB warehouse: schemas and safe, short, retried writes."""

from .schema import TABLES, columns, register_table
from .store import Warehouse, WarehouseLockTimeout

__all__ = ["TABLES", "Warehouse", "WarehouseLockTimeout", "columns", "register_table"]
