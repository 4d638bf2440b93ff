"""What the command line says when a user gets something slightly wrong: an unknown board name, `--config`
after the subcommand, a config whose database does not exist yet."""

from __future__ import annotations

import pandas as pd
import pytest

from llmfeedback_assets.analysis.pipeline import POOLED
from llmfeedback_assets.cli import board_name, main
from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import Warehouse, columns
from llmfeedback_assets_tests.support.project import write_config


def _board(judge: str, models: list[str]) -> pd.DataFrame:
    rows = [{c: None for c in columns("leaderboard")} | {
        "judge_model": judge, "model": m, "rank": i + 1, "bt_score": 1.0 - 0.1 * i, "elo": 1000.0 - 10 * i,
        "n_comparisons": 10, "simulated": False} for i, m in enumerate(models)]
    return pd.DataFrame(rows, columns=columns("leaderboard"))


@pytest.fixture
def project(tmp_path):
    config = write_config(tmp_path, n_prompts=2)
    wh = Warehouse(load_config(config).database_path)
    wh.replace_table("leaderboard", pd.concat([
        _board(POOLED, ["alpha", "bravo"]), _board("judge-clean", ["bravo", "alpha"]),
        _board("crowd (external)", ["alpha", "charlie"])], ignore_index=True))
    return config


def test_a_source_is_found_by_its_configured_name_and_pooled_by_default():
    boards = [POOLED, "judge-clean", "crowd (external)", "gpt-4 (imported)"]
    assert board_name(boards, None) == POOLED and board_name(boards, "pooled") == POOLED
    assert board_name(boards, "crowd") == "crowd (external)"
    assert board_name(boards, "gpt-4") == "gpt-4 (imported)"
    assert board_name(boards, "judge-clean") == "judge-clean"
    assert board_name(boards, "judge-clen") is None and board_name(["judge-clean"], None) is None


def test_config_is_accepted_after_the_subcommand_and_the_database_is_named_first(project, capsys):
    assert main(["leaderboard", "--config", str(project), "--judge", "crowd"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"database: {load_config(project).database_path}"
    assert "Leaderboard (crowd (external))" in out and "charlie" in out and "bravo" not in out
    assert main(["--config", str(project), "leaderboard"]) == 0  # before the subcommand, as before
    assert "Leaderboard (all judges pooled)" in capsys.readouterr().out


def test_an_unknown_board_lists_the_stored_ones_instead_of_calling_the_database_empty(project, capsys):
    assert main(["leaderboard", "--config", str(project), "--judge", "judge-clen"]) == 1
    captured = capsys.readouterr()
    assert "no leaderboard for 'judge-clen'" in captured.err
    assert all(name in captured.err for name in ("pooled", "'judge-clean'", "'crowd (external)'"))
    assert "empty" not in captured.out + captured.err
    assert main(["leaderboard", "--config", str(project), "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()[1:]
    assert listed == ["pooled\t2 models", "crowd (external)\t2 models", "judge-clean\t2 models"]


def test_a_missing_database_is_reported_and_not_created(tmp_path, capsys):
    config = write_config(tmp_path, n_prompts=2)
    path = load_config(config).database_path
    assert main(["leaderboard", "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == f"database: {path} (new)"
    assert f"warning: {path} does not exist yet" in captured.err and "run `make run`" in captured.err
    assert not path.exists()
    assert main(["estimate-cost", "--config", str(config)]) == 1 and not path.exists()
