"""The warehouse API on a DuckLake (catalog in the local PostgreSQL, Parquet in a tmp folder): keyed writes
without primary keys, partition rewrites from several processes at once, snapshots and time travel, and
migration between the file and a lake. Skipped where PostgreSQL is absent."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from llmfeedback_assets.config import WarehouseConfig
from llmfeedback_assets.warehouse import (
    LakeError,
    LakeSpec,
    Warehouse,
    WarehouseVersionError,
    lake,
    recording,
)
from llmfeedback_assets.warehouse.migrate import MigrationError, migrate
from llmfeedback_assets_tests.support.lake import lake_spec, lake_warehouse

NOW = dt.datetime(2026, 12, 1, 12, 0, 0)


def claims(keys, owner) -> pd.DataFrame:
    return pd.DataFrame({"request_key": keys, "owner": owner, "claimed_at": NOW})


def fake_judgments(judge: str, n: int, tag: str = "") -> pd.DataFrame:
    """n rows of one slice (`owner`) of the keyed claims table, standing in for one judge's partition."""
    return claims([f"{judge}-{i}{tag}" for i in range(n)], judge)


@pytest.fixture
def lake_wh(tmp_path):
    with lake_spec(tmp_path) as spec:
        yield lake_warehouse(spec, tmp_path)


def test_keyed_writes_keep_keys_unique_without_a_primary_key(lake_wh):
    wh = lake_wh
    wh.insert_new("llm_claims", claims(["a", "b"], "o1"))
    wh.insert_new("llm_claims", claims(["b", "c"], "o2"))  # b is kept as it was
    assert wh.query("SELECT request_key, owner FROM llm_claims ORDER BY 1").values.tolist() == [
        ["a", "o1"], ["b", "o1"], ["c", "o2"]]
    wh.upsert("llm_claims", claims(["a", "d"], "o3"))  # a is replaced
    assert wh.query("SELECT request_key, owner FROM llm_claims ORDER BY 1").values.tolist() == [
        ["a", "o3"], ["b", "o1"], ["c", "o2"], ["d", "o3"]]
    # the lake's table has no key constraint: uniqueness above came from the writes themselves
    keyed = wh.query("SELECT count(*) AS n FROM duckdb_constraints() WHERE database_name = 'lake' "
                     "AND constraint_type = 'PRIMARY KEY'")["n"].iloc[0]
    assert keyed == 0


def test_partition_rewrites_replace_only_their_slice(lake_wh):
    wh = lake_wh
    wh.replace_where("llm_claims", fake_judgments("j1", 5), {"owner": "j1"})
    wh.replace_where("llm_claims", fake_judgments("j2", 3), {"owner": "j2"})
    wh.replace_where("llm_claims", fake_judgments("j1", 2, "-new"), {"owner": "j1"})
    got = wh.query("SELECT owner, count(*) AS n FROM llm_claims GROUP BY 1 ORDER BY 1")
    assert got.values.tolist() == [["j1", 2], ["j2", 3]]
    assert wh.count("llm_claims", "WHERE request_key LIKE '%-new'") == 2


def _rewrite_partitions(catalog: str, data_path: str, side: str, judge: str, rounds: int) -> int:
    """Child process: rewrite this judge's slice `rounds` times (delete + insert, one transaction each)."""
    wh = Warehouse(side, lake=LakeSpec(catalog, data_path))
    for r in range(rounds):
        wh.replace_where("llm_claims", fake_judgments(judge, 50, f"-r{r}"), {"owner": judge})
    return rounds


def test_concurrent_partition_rewrites_from_four_processes_all_land(lake_wh, tmp_path):
    """A delete and an insert into one table from two transactions conflict on DuckLake 1.5.5; the writes
    run again on the new snapshot, so no process fails and every slice holds its last rewrite."""
    spec = lake_wh.lake
    lake_wh.ensure_schema()
    judges = [f"judge-{i}" for i in range(4)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        jobs = [(spec.catalog, spec.data_path, str(tmp_path / f"s{i}.duckdb"), j, 6)
                for i, j in enumerate(judges)]
        done = pool.starmap(_rewrite_partitions, jobs)
    assert done == [6] * 4
    got = lake_wh.query("SELECT owner, count(*) AS n, count(DISTINCT request_key) AS d, "
                        "bool_and(request_key LIKE '%-r5') AS last FROM llm_claims GROUP BY 1 ORDER BY 1")
    assert got["owner"].tolist() == judges
    assert got["n"].tolist() == [50] * 4 and got["d"].tolist() == [50] * 4 and got["last"].all()


def test_snapshots_are_recorded_and_time_travel_reads_the_past(lake_wh):
    wh = lake_wh
    with recording() as log:
        wh.append("llm_claims", claims(["a"], "o1"))
        first = log.written[-1]
        wh.append("llm_claims", claims(["b"], "o1"))
        second = log.written[-1]
        assert second > first
        assert wh.count("llm_claims") == 2
    md = log.metadata()
    assert md["warehouse_backend"] == "ducklake"
    assert md["warehouse_written_snapshot"] == second and md["warehouse_read_snapshot"] == second
    assert wh.snapshot() == second
    past = wh.at(first)
    assert past.count("llm_claims") == 1 and past.snapshot() == first
    with pytest.raises(PermissionError, match="read-only"):
        past.append("llm_claims", claims(["c"], "o1"))
    assert wh.count("llm_claims") == 2


def test_the_file_backend_counts_a_content_version_and_refuses_time_travel(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    with recording() as log:
        wh.append("llm_claims", claims(["a"], "o1"))
        wh.append("llm_claims", claims(["b"], "o1"))
        wh.count("llm_claims")
    assert log.written == [log.written[0], log.written[0] + 1]
    assert log.metadata()["warehouse_read_snapshot"] == log.written[-1] == wh.snapshot()
    assert log.metadata()["warehouse_backend"] == "duckdb"
    with pytest.raises(ValueError, match="ducklake"):
        wh.at(1)


def test_migrate_copies_file_to_lake_and_back_with_counts_checked(lake_wh, tmp_path):
    src = Warehouse(tmp_path / "src.duckdb")
    src.append("llm_claims", claims([f"k{i}" for i in range(30)], "o1"))
    src.upsert("llm_claim_owners", pd.DataFrame([{"owner": "o1", "host": "h", "pid": 1, "proc_start": "0",
                                                  "label": "x", "started_at": NOW, "heartbeat_at": NOW}]))
    counts = migrate(src, lake_wh)
    assert counts["llm_claims"] == (30, 30) and counts["llm_claim_owners"] == (1, 1)
    assert lake_wh.count("llm_claims") == 30
    with pytest.raises(MigrationError, match="already holds data"):
        migrate(src, lake_wh)
    back = Warehouse(tmp_path / "back.duckdb")
    assert migrate(lake_wh, back)["llm_claims"] == (30, 30)
    pd.testing.assert_frame_equal(back.table("llm_claims", "ORDER BY request_key"),
                                  src.table("llm_claims", "ORDER BY request_key"))
    with pytest.raises(MigrationError, match="one of each"):
        migrate(src, back)


def test_a_lake_that_cannot_be_opened_says_which_without_its_password(tmp_path):
    spec = LakeSpec("postgres:dbname=nowhere host=127.0.0.1 port=1 user=postgres password=hunter2",
                    str(tmp_path / "d"))
    assert "hunter2" not in spec.describe() and "password=***" in spec.describe()
    with pytest.raises(LakeError) as err:
        Warehouse(tmp_path / "s.duckdb", lake=spec).count("llm_claims")
    assert "cannot open ducklake:postgres:dbname=nowhere" in str(err.value)
    assert "hunter2" not in str(err.value)
    lake.close_all()


def test_the_warehouse_config_needs_a_catalog_and_data_path_and_no_password():
    assert WarehouseConfig().backend == "duckdb"
    with pytest.raises(ValidationError, match="warehouse.catalog and warehouse.data_path"):
        WarehouseConfig(backend="ducklake")
    with pytest.raises(ValidationError, match="PGPASSWORD"):
        WarehouseConfig(backend="ducklake", catalog="postgres:dbname=x password=y", data_path="d")
    cfg = WarehouseConfig(backend="ducklake", catalog="postgres:dbname=x", data_path=str(Path("d")))
    assert cfg.metadata_schema is None


def test_a_file_from_a_newer_duckdb_names_the_conversion_script(tmp_path, monkeypatch):
    """Projects set up before the pin to DuckDB 1.5.5 hold files in DuckDB 2's storage format: opening one
    says how to convert it instead of a storage error. (The error is DuckDB 1.5.5's own words for a file
    written by 2.0.1; a 2.x file cannot be made here without DuckDB 2.)"""
    import duckdb

    path = tmp_path / "w.duckdb"
    path.write_bytes(b"")

    def newer(*args, **kwargs):
        raise duckdb.IOException("IO Error: Trying to read a database file with version number 999, but we "
                                 "can only read versions between 64 and 68.\nThe database file was created "
                                 "with an newer version of DuckDB.")

    monkeypatch.setattr(duckdb, "connect", newer)
    with pytest.raises(WarehouseVersionError, match="scripts/convert_duckdb_file.sh") as err:
        Warehouse(path, lock_timeout_s=5).query("SELECT 1")
    assert str(path) in str(err.value) and "newer DuckDB" in str(err.value)


def test_a_corrupt_file_fails_at_once_instead_of_waiting_for_a_lock(tmp_path):
    """DuckDB's checksum error names a "block": it is not the single-writer lock, so it is not retried."""
    path = tmp_path / "w.duckdb"
    Warehouse(path).count("llm_claims")
    with path.open("r+b") as fh:
        fh.seek(12)
        fh.write((999).to_bytes(8, "little"))
    t0 = time.monotonic()
    with pytest.raises(Exception, match="checksum"):
        Warehouse(path, lock_timeout_s=60).table("llm_claims")
    assert time.monotonic() - t0 < 30
