"""Copy a warehouse between backends (the DuckDB file and a DuckLake), every declared table, row counts
checked: how a project moves to a lake when one machine is no longer enough, and back."""

from __future__ import annotations

import time

import duckdb

from . import lake
from .store import Warehouse
from .tables import TABLES


class MigrationError(RuntimeError):
    pass


def migrate(source: Warehouse, target: Warehouse, replace: bool = False) -> dict[str, tuple[int, int]]:
    """Copy every table of `source` into `target` (one is a file, the other a lake) in one transaction on
    the target. Returns {table: (rows in source, rows in target)}. A target that already holds rows is
    refused unless `replace` (its tables are emptied first); differing counts roll the copy back."""
    if (source.lake is None) == (target.lake is None):
        raise MigrationError("migrate copies between the DuckDB file and a DuckLake: one of each")
    target._writable()
    source.ensure_schema()
    target.ensure_schema()
    file_wh, lake_wh = (source, target) if source.lake is None else (target, source)
    db = duckdb.connect(config={"autoload_known_extensions": False, "autoinstall_known_extensions": False})
    try:
        lake.attach(db, lake_wh.lake, "lk", lake_wh.as_of)
        with file_wh._turn(shared=file_wh is source, deadline=time.monotonic() + file_wh.lock_timeout_s):
            db.execute(f"ATTACH {lake._quote(str(file_wh.path))} AS fl" + (" (READ_ONLY)" if file_wh is source
                                                                            else ""))
            src, dst = ("fl", "lk") if file_wh is source else ("lk", "fl")
            return _copy(db, src, dst, replace)
    finally:
        db.close()


def _copy(db: duckdb.DuckDBPyConnection, src: str, dst: str, replace: bool) -> dict[str, tuple[int, int]]:
    def count(catalog: str, name: str) -> int:
        return int(db.execute(f'SELECT count(*) FROM {catalog}.main."{name}"').fetchone()[0])

    occupied = {n: c for n in TABLES if (c := count(dst, n))}
    if occupied and not replace:
        shown = ", ".join(f"{n} ({c} rows)" for n, c in sorted(occupied.items())[:5])
        raise MigrationError(f"the target already holds data: {shown}; pass --replace to overwrite it")
    counts: dict[str, tuple[int, int]] = {}
    db.execute("BEGIN TRANSACTION")
    try:
        for name, table in TABLES.items():
            cols = ", ".join(f'"{c}"' for c in table.column_names)
            db.execute(f'DELETE FROM {dst}.main."{name}"')
            db.execute(f'INSERT INTO {dst}.main."{name}" ({cols}) SELECT {cols} FROM {src}.main."{name}"')
            counts[name] = (count(src, name), count(dst, name))
        wrong = {n: c for n, c in counts.items() if c[0] != c[1]}
        if wrong:
            raise MigrationError(f"row counts differ after the copy, nothing was kept: {wrong}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return counts
