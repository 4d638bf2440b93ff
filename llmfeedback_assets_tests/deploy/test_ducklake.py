"""The DuckLake backend end to end, through the command lines a user types: the whole graph on a lake (catalog
in PostgreSQL, Parquet under a data path), eight judge partitions written by eight processes at once, a
leaderboard reproduced from the snapshot its materialization recorded, and `llmfeedback migrate` between the
DuckDB file and a lake. The lake tests skip where PostgreSQL is not on 127.0.0.1:5432."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import TABLES, Warehouse
from llmfeedback_assets_tests.support.lake import lake_config, lake_spec, lake_warehouse
from llmfeedback_assets_tests.support.ops import (
    BIN,
    DAGSTER_MATERIALIZE,
    IN_PROCESS,
    REPO,
    assert_every_judgment_once,
    assert_partition_runs_overlapped,
    dagster_env,
    expected_judgments,
    judgment_counts,
    prepare_inputs,
    run,
)
from llmfeedback_assets_tests.support.project import SIM_MODELS, write_config, write_jsonl

pytestmark = pytest.mark.slow
services = pytest.mark.services  # PostgreSQL for the lake's catalog

LLMFEEDBACK = str(BIN / "llmfeedback")
MODULE = ["-m", "llmfeedback_assets.definitions"]
JUDGES = ["judge-clean", "judge-noisy"]
# Eight simulated judges, so eight judge partitions can be written at once.
EIGHT_JUDGE_MODELS = SIM_MODELS + [
    {"name": f"judge-sim{i}", "provider": "sim",
     "sim_judge": {"noise": 0.05 * i, "position_bias": 0.05 * (i % 3), "verbosity_bias": 0.04 * (i % 2)}}
    for i in range(1, 7)]
EIGHT_JUDGES = [m["name"] for m in EIGHT_JUDGE_MODELS if "sim_judge" in m]
# The whole graph on a 2-core machine: few bootstrap rounds, one reward epoch, a short curation.
SMALL = {"leaderboard": {"bootstrap_rounds": 50, "seed": 0}, "reward": {"epochs": 1, "n": 2},
         "curation": {"hoc_rounds": 5, "detection_epochs": 3, "target_size": 10}}


def _project(tmp_path: Path, warehouse: dict, n_prompts: int = 4, **overrides) -> Path:
    return write_config(tmp_path, n_prompts=n_prompts, warehouse=warehouse, **{**SMALL, **overrides})


def _cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """An `llmfeedback` command that may fail: its exit code is the caller's to check."""
    return subprocess.run([LLMFEEDBACK, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def _materialize(env: dict, select: str, partition: str | None = None) -> None:
    run([*DAGSTER_MATERIALIZE, *MODULE, "--select", select,
         *(["--partition", partition] if partition else []), *IN_PROCESS], env)


def _judge_concurrently(env: dict, judges: list[str]) -> dict[str, str]:
    """One `dagster asset materialize --select judgments --partition <judge>` process per judge, all started
    at once; every one must exit 0. Returns each process's output."""
    procs = {judge: subprocess.Popen(
        [*DAGSTER_MATERIALIZE, *MODULE, "--select", "judgments", "--partition", judge, *IN_PROCESS],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for judge in judges}
    try:
        outputs = {judge: p.communicate(timeout=600)[0] for judge, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    for judge, p in procs.items():
        assert p.returncode == 0, f"{judge} failed:\n{outputs[judge][-4000:]}"
    return outputs


def _file_tables(path: Path) -> list[str]:
    """The tables in a DuckDB file ([] when there is no file)."""
    if not path.exists():
        return []
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [n for (n,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    finally:
        con.close()


def _board(stdout: str) -> list[str]:
    """The printed tables of `llmfeedback leaderboard`: every line after its `Leaderboard (...) from ...`
    header (the header names the warehouse and, with --as-of, the snapshot)."""
    _, found, tail = stdout.partition("\nLeaderboard (")
    assert found, stdout
    lines = [line.rstrip() for line in tail.splitlines()[1:]]
    assert any(line.split()[:2] == ["rank", "model"] for line in lines if line.strip()), stdout
    return lines


def _materialization_metadata(env: dict, asset: str) -> dict[str, object]:
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    try:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        assert event is not None and event.asset_materialization is not None, asset
        return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}
    finally:
        instance.dispose()


def _sorted(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    keys = list(TABLES[name].key_columns) or {"leaderboard": ["judge_model", "model"]}[name]
    return frame.sort_values(keys).reset_index(drop=True)


def _assert_same_tables(copy: Warehouse, original: Warehouse) -> None:
    for name in ("prompts", "responses", "judgments", "sim_ground_truth", "leaderboard", "llm_journal"):
        pd.testing.assert_frame_equal(_sorted(copy.table(name), name), _sorted(original.table(name), name),
                                      obj=name)


def _migrated_counts(stdout: str) -> dict[str, tuple[int, int]]:
    """`table<TAB>n -> m` lines of `llmfeedback migrate`."""
    counts = {}
    for line in stdout.splitlines():
        name, tab, rest = line.partition("\t")
        if tab and " -> " in rest:
            src, dst = rest.split(" -> ")
            counts[name] = (int(src), int(dst))
    return counts


@services
def test_whole_graph_materializes_on_a_ducklake(tmp_path):
    started = time.monotonic()
    with lake_spec(tmp_path) as spec:
        config = _project(tmp_path, lake_config(spec))
        env = dagster_env(tmp_path, config)
        proc = run([LLMFEEDBACK, "run"], env, timeout=900)
        assert proc.stdout.startswith("warehouse: ducklake:postgres:"), proc.stdout[:300]
        assert "Leaderboard (all judges pooled) from ducklake:" in proc.stdout
        assert "SIMULATED" in proc.stdout

        # The tables are in the lake: read through a warehouse whose side-file path is somewhere else.
        wh = lake_warehouse(spec, tmp_path)
        assert wh.backend == "ducklake"
        for table in ("prompts", "responses", "leaderboard", "mt_bench_scores", "llm_journal"):
            assert wh.count(table) > 0, table
        models = set(wh.query("SELECT DISTINCT model FROM leaderboard")["model"])
        assert models == {"alpha", "bravo", "charlie", "delta"}
        counts = judgment_counts(wh)
        assert sorted(counts.index) == JUDGES
        for judge in JUDGES:
            expected = expected_judgments(wh, judge)
            assert expected > 0
            assert counts.loc[judge, "n"] == counts.loc[judge, "distinct_ids"] == expected, judge
        assert list(Path(spec.data_path).rglob("*.parquet")), "no Parquet file under the lake's data path"

        # ... and not in a DuckDB file at `database` (which only places side files such as the journal spool)
        database = load_config(config).database_path
        assert _file_tables(database) == [], f"{database} holds tables"

        md = _materialization_metadata(env, "leaderboard")
        assert md["warehouse_backend"] == "ducklake"
        assert md["warehouse_read_snapshot"] <= md["warehouse_written_snapshot"]

        # A step rerun in a new process on the existing lake, whose write changes nothing (no comparison
        # sources: an empty table replaced by no rows), succeeds; a commit that changed nothing made no
        # snapshot, so any written snapshot it records is the current one.
        before = wh.snapshot()
        _materialize(env, "comparisons")
        assert wh.snapshot() == before
        recorded = _materialization_metadata(env, "comparisons")
        assert recorded.get("warehouse_written_snapshot", before) == before
    print(f"\n[whole graph on a lake: {time.monotonic() - started:.0f}s]")


@services
def test_eight_judge_partitions_write_one_lake_at_once(tmp_path):
    started = time.monotonic()
    with lake_spec(tmp_path) as spec:
        config = _project(tmp_path, lake_config(spec), models=EIGHT_JUDGE_MODELS, judges=EIGHT_JUDGES)
        env = dagster_env(tmp_path, config)
        prepare_inputs(env)
        _judge_concurrently(env, EIGHT_JUDGES)

        assert_every_judgment_once(lake_warehouse(spec, tmp_path), EIGHT_JUDGES)
        assert _file_tables(load_config(config).database_path) == []
        assert_partition_runs_overlapped(env["DAGSTER_HOME"], EIGHT_JUDGES)
    print(f"\n[eight judges at once on a lake: {time.monotonic() - started:.0f}s]")


@services
def test_a_leaderboards_recorded_snapshot_reproduces_it_after_more_judgments_land(tmp_path):
    started = time.monotonic()
    with lake_spec(tmp_path) as spec:
        config = _project(tmp_path, lake_config(spec), n_prompts=3)
        env = dagster_env(tmp_path, config)
        wh = lake_warehouse(spec, tmp_path)

        def materialize_board() -> None:  # prompts -> responses -> judgments -> leaderboard
            _materialize(env, "prompts,sim_ground_truth,responses")
            _judge_concurrently(env, JUDGES)
            _materialize(env, "leaderboard")

        run([LLMFEEDBACK, "sync-partitions"], env)
        materialize_board()
        md = _materialization_metadata(env, "leaderboard")
        assert md["warehouse_backend"] == "ducklake"
        read, written = md["warehouse_read_snapshot"], md["warehouse_written_snapshot"]
        assert isinstance(read, int) and isinstance(written, int)
        assert read <= written
        old = run([LLMFEEDBACK, "leaderboard"], env).stdout
        old_judgments = wh.count("judgments")
        assert old_judgments == sum(expected_judgments(wh, j) for j in JUDGES) > 0
        old_prompts = wh.count("prompts")

        # More prompts: new responses, judgments and a new board.
        write_jsonl(tmp_path / "prompts" / "more.jsonl", [
            {"question_id": 100 + i, "category": "writing",
             "turns": [f"A later question {i}: describe a lighthouse keeper's day number {i}."]}
            for i in range(3)])
        materialize_board()
        assert wh.count("prompts") == old_prompts + 3
        assert wh.count("judgments") > old_judgments
        new = run([LLMFEEDBACK, "leaderboard"], env).stdout
        assert _board(new) != _board(old), "the board did not change after more judgments"
        new_md = _materialization_metadata(env, "leaderboard")
        assert new_md["warehouse_written_snapshot"] > written

        # The old snapshot prints the old board exactly; the plain command the new one.
        as_of = run([LLMFEEDBACK, "leaderboard", "--as-of", str(written)], env).stdout
        assert f"as of snapshot {written}" in as_of
        assert _board(as_of) == _board(old)
        assert _board(run([LLMFEEDBACK, "leaderboard"], env).stdout) == _board(new)

        # The snapshot the board was computed from holds exactly the judgments it was computed from.
        assert wh.at(read).count("judgments") == old_judgments
        assert wh.at(written).count("judgments") == old_judgments
        assert wh.count("judgments") > old_judgments
    print(f"\n[snapshot reproduces the board: {time.monotonic() - started:.0f}s]")


@services
def test_migrate_copies_a_file_warehouse_into_a_lake_and_back(tmp_path):
    started = time.monotonic()
    with lake_spec(tmp_path) as spec:
        # A small run on the file backend; the lake is named in the config for migrate.
        file_backend = {**lake_config(spec), "backend": "duckdb"}
        config = _project(tmp_path, file_backend, n_prompts=3)
        env = dagster_env(tmp_path, config)
        prepare_inputs(env)
        _materialize(env, "judgments", "judge-clean")
        _materialize(env, "leaderboard")
        file_wh = Warehouse(load_config(config).database_path)
        file_counts = {name: file_wh.count(name) for name in TABLES}
        for name in ("prompts", "responses", "judgments", "leaderboard", "llm_journal"):
            assert file_counts[name] > 0, name

        moved = _cli(["migrate", "--to", "ducklake"], env)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        printed = _migrated_counts(moved.stdout)
        assert printed == {n: (c, c) for n, c in file_counts.items() if c}, moved.stdout
        assert "every count matches" in moved.stdout

        lake_wh = lake_warehouse(spec, tmp_path)
        assert {name: lake_wh.count(name) for name in TABLES} == file_counts
        _assert_same_tables(lake_wh, file_wh)

        # A lake that holds rows is not overwritten without --replace; with it, replaced (not doubled).
        refused = _cli(["migrate", "--to", "ducklake"], env)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "already holds data" in refused.stderr and "--replace" in refused.stderr
        assert {name: lake_wh.count(name) for name in TABLES} == file_counts
        replaced = _cli(["migrate", "--to", "ducklake", "--replace"], env)
        assert replaced.returncode == 0, replaced.stdout + replaced.stderr
        assert {name: lake_wh.count(name) for name in TABLES} == file_counts

        # Back from the lake into a fresh file: the same tables.
        back_config = tmp_path / "back.yaml"
        back_config.write_text(config.read_text().replace(str(tmp_path / "warehouse.duckdb"),
                                                          str(tmp_path / "back" / "warehouse.duckdb")))
        back_path = load_config(back_config).database_path
        assert back_path == tmp_path / "back" / "warehouse.duckdb" and not back_path.exists()
        returned = _cli(["migrate", "--to", "duckdb", "--config", str(back_config)], env)
        assert returned.returncode == 0, returned.stdout + returned.stderr
        assert _migrated_counts(returned.stdout) == printed
        back_wh = Warehouse(back_path)
        assert {name: back_wh.count(name) for name in TABLES} == file_counts
        _assert_same_tables(back_wh, file_wh)
    print(f"\n[migrate file -> lake -> file: {time.monotonic() - started:.0f}s]")


def test_leaderboard_as_of_on_the_file_backend_says_it_needs_ducklake(tmp_path):
    config = write_config(tmp_path, n_prompts=2)
    proc = _cli(["leaderboard", "--as-of", "3"], dagster_env(tmp_path, config))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: --as-of") and "ducklake" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
