"""Four judge partitions materialized by four concurrent `dagster asset materialize` processes on one
instance and one DuckDB file: every run succeeds and every judgment lands, none lost to the write lock.

Each run executes its steps in its own process (`in_process` executor): the processes that contend for
the DuckDB file and the instance are the four runs; a subprocess per step would add start-up time only."""

from __future__ import annotations

import subprocess

import dagster as dg
import pytest

from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.ops import (
    DAGSTER_MATERIALIZE,
    FOUR_JUDGE_MODELS,
    FOUR_JUDGES,
    IN_PROCESS,
    REPO,
    dagster_env,
    expected_judgments,
    judgment_counts,
    prepare_inputs,
)
from llmfeedback_assets_tests.support.project import write_config

pytestmark = pytest.mark.slow


def test_four_judge_partitions_run_concurrently_and_every_row_lands(tmp_path):
    config = write_config(tmp_path, n_prompts=6, models=FOUR_JUDGE_MODELS, judges=FOUR_JUDGES)
    env = dagster_env(tmp_path, config)
    prepare_inputs(env)

    procs = {judge: subprocess.Popen(
        [*DAGSTER_MATERIALIZE, "-m", "llmfeedback_assets.definitions", "--select", "judgments",
         "--partition", judge, *IN_PROCESS],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for judge in FOUR_JUDGES}
    outputs = {judge: p.communicate(timeout=300)[0] for judge, p in procs.items()}
    for judge, p in procs.items():
        assert p.returncode == 0, f"{judge} failed:\n{outputs[judge][-3000:]}"
        assert "WarehouseLockTimeout" not in outputs[judge]

    wh = Warehouse(load_config(config).database_path)
    counts = judgment_counts(wh)
    assert sorted(counts.index) == sorted(FOUR_JUDGES)
    for judge in FOUR_JUDGES:
        expected = expected_judgments(wh, judge)
        assert expected > 0
        assert counts.loc[judge, "n"] == expected, judge
        assert counts.loc[judge, "distinct_ids"] == expected, judge

    # All four are recorded as successes, and runs really were in progress at the same time.
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    try:
        runs = [r for r in instance.get_run_records() if r.dagster_run.tags.get("dagster/partition")]
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in runs) == sorted(FOUR_JUDGES)
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        overlapping = [(a, b) for a in runs for b in runs if a is not b
                       and a.start_time < b.start_time < a.end_time]
        assert overlapping, "no two runs were in progress at the same time"
    finally:
        instance.dispose()
