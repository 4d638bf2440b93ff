"""The command lines a user types: `llmfeedback run` and `dagster asset materialize --partition <judge>`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.project import write_config

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _env(tmp_path: Path, config: Path) -> dict:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMFEEDBACK_")}
    env.update(DAGSTER_HOME=str(home), LLMFEEDBACK_CONFIG=str(config))
    return env


def _run(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_llmfeedback_run_materializes_everything_and_prints_the_leaderboard(tmp_path):
    config = write_config(tmp_path, n_prompts=4)
    proc = _run([str(BIN / "llmfeedback"), "run"], _env(tmp_path, config), tmp_path)
    assert "Leaderboard (all judges pooled)" in proc.stdout
    assert "SIMULATED" in proc.stdout
    wh = Warehouse(load_config(config).database_path)
    for table in ("prompts", "responses", "judgments", "leaderboard"):
        assert wh.count(table) > 0, table
    assert set(wh.query("SELECT DISTINCT judge_model FROM judgments")["judge_model"]) == {"judge-clean",
                                                                                          "judge-noisy"}
    assert (tmp_path / "data" / "exports" / "browser" / "index.html").stat().st_size > 10_000


def test_dagster_cli_materializes_one_judge_partition(tmp_path):
    config = write_config(tmp_path, n_prompts=3)
    env = _env(tmp_path, config)
    repo = Path(__file__).resolve().parents[2]
    sync = _run([str(BIN / "llmfeedback"), "sync-partitions"], env, repo)
    assert "judge-clean" in sync.stdout
    dagster = [str(BIN / "dagster"), "asset", "materialize", "-m", "llmfeedback_assets.definitions"]
    _run([*dagster, "--select", "prompts,sim_ground_truth,responses"], env, repo)
    _run([*dagster, "--select", "judgments", "--partition", "judge-clean"], env, repo)
    wh = Warehouse(load_config(config).database_path)
    judges = wh.query("SELECT judge_model, count(*) AS n FROM judgments GROUP BY 1")
    assert judges["judge_model"].tolist() == ["judge-clean"] and judges["n"].iloc[0] > 0


def test_bad_config_fails_with_one_clear_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("models: []\nresponders: [x]\njudges: []\nprompt_sources: []\n")
    proc = subprocess.run([str(BIN / "llmfeedback"), "run"], env=_env(tmp_path, config), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert str(config) in proc.stderr and "responders[0]: unknown model 'x'" in proc.stderr


def test_a_fastchat_user_imports_runs_and_reruns_the_imported_partition_from_the_command_line(tmp_path):
    from llmfeedback_assets_tests.support.fastchat_project import JUDGE, write_fastchat_project

    config = write_fastchat_project(tmp_path)
    env = _env(tmp_path, config)
    repo = Path(__file__).resolve().parents[1]
    proc = _run([str(BIN / "llmfeedback"), "run"], env, repo)
    assert JUDGE in proc.stdout and "vicuna-13b" in proc.stdout
    wh = Warehouse(load_config(config).database_path)
    before = wh.table("judgments", "WHERE judge_model = ?", [JUDGE]).sort_values("judgment_id")
    assert len(before) == 16 + 8 and wh.count("llm_journal", "WHERE model = 'gpt-4'") == 0
    dagster = [str(BIN / "dagster"), "asset", "materialize", "-m", "llmfeedback_assets.definitions"]
    _run([*dagster, "--select", "judgments", "--partition", JUDGE], env, repo)
    after = wh.table("judgments", "WHERE judge_model = ?", [JUDGE]).sort_values("judgment_id")
    assert after["judgment_id"].tolist() == before["judgment_id"].tolist()  # a rerun replaces, never adds
