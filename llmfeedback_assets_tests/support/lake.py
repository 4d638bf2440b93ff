"""A DuckLake for a test: a fresh PostgreSQL database as its catalog (skipped where PostgreSQL is absent)
and a data folder in the test's tmp dir."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from llmfeedback_assets.warehouse import LakeSpec, Warehouse, lake
from llmfeedback_assets_tests.support.ops import PG_HOST, PG_PORT, postgres_database


def catalog_for(db_name: str) -> str:
    return f"postgres:dbname={db_name} host={PG_HOST} port={PG_PORT} user=postgres"


@contextlib.contextmanager
def lake_spec(tmp_path: Path) -> Iterator[LakeSpec]:
    """A new, empty lake; this process's connections to it are closed before its catalog is dropped."""
    with postgres_database("llmf_lake") as db_name:
        try:
            yield LakeSpec(catalog_for(db_name), str(tmp_path / "lake_data"))
        finally:
            lake.close_all()


def lake_config(spec: LakeSpec) -> dict:
    """The `warehouse:` section of a project config for this lake."""
    return {"backend": "ducklake", "catalog": spec.catalog, "data_path": spec.data_path}


def lake_warehouse(spec: LakeSpec, tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "side.duckdb", lake=spec)
