"""Four judge partitions materialized by four concurrent `dagster asset materialize` processes on one
instance and one DuckDB file: every run succeeds and every judgment lands, none lost to the write lock.

Each run executes its steps in its own process (`in_process` executor): the processes that contend for
the DuckDB file and the instance are the four runs; a subprocess per step would add start-up time only."""

from __future__ import annotations

import subprocess

import pytest

from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.ops import (
    DAGSTER_MATERIALIZE,
    FOUR_JUDGE_MODELS,
    FOUR_JUDGES,
    IN_PROCESS,
    REPO,
    assert_every_judgment_once,
    assert_partition_runs_overlapped,
    dagster_env,
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

    assert_every_judgment_once(Warehouse(load_config(config).database_path), FOUR_JUDGES)
    assert_partition_runs_overlapped(env["DAGSTER_HOME"], FOUR_JUDGES)
