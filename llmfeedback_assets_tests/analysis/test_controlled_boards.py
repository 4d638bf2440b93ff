"""Every judge's board with style held fixed, on the bundled demo: the verbosity-biased judge's raw board
flatters the verbose responder, its style-controlled column (Arena) restores the true order, and each
model gets AlpacaEval 2.0's length-controlled win rate against the baseline."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from llmfeedback_assets import ranking
from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.dagster_runs import latest_metadata
from llmfeedback_assets_tests.support.project import REPO

BIASED = "sim-judge-biased"


def _demo(tmp_path, judges: list[str]):
    cfg = yaml.safe_load((REPO / "data" / "config" / "llmfeedback.yaml").read_text())
    cfg.update(database=str(tmp_path / "warehouse.duckdb"), judges=judges,
               prompt_sources=[{"path": str(REPO / "data" / "prompts")}])
    cfg["judging"]["modes"] = ["pairwise"]
    cfg["leaderboard"]["bootstrap_rounds"] = 200
    path = tmp_path / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_style_and_length_control_on_the_biased_judges_board(tmp_path):
    from llmfeedback_assets.definitions import defs
    from llmfeedback_assets.defs.resources import LLMFeedbackResource

    path = _demo(tmp_path, [BIASED])
    config = load_config(path)
    resources = {"llmfeedback": LLMFeedbackResource(config_path=str(path))}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", config.judges)

        def run(selection, partition=None):
            assert dg.materialize(list(defs.assets), selection=selection, partition_key=partition,
                                  instance=instance, resources=resources).success

        run(["prompts", "sim_ground_truth", "responses"])
        run(["judgments"], BIASED)
        run(["comparisons", "leaderboard"])
        md = latest_metadata(instance, "leaderboard")
    wh = Warehouse(config.database_path)
    board = wh.query("SELECT * FROM leaderboard WHERE judge_model = ?", [BIASED]).set_index("model")
    # the raw board cannot tell the verbose responder from the better, terser one: they share a rank
    assert board.loc["sim-verbose", "rank"] == board.loc["sim-mid", "rank"]
    # with style held fixed the true order comes back, and the two are clearly apart
    assert ranking.kendall_tau(board["style_elo"], board["true_quality"]) == pytest.approx(1.0)
    assert board.loc["sim-verbose", "style_elo_high"] < board.loc["sim-mid", "style_elo_low"]
    assert (board["style_elo_low"] <= board["style_elo"]).all()
    assert (board["style_elo"] <= board["style_elo_high"]).all()
    # the verbose responder loses the most once length is held fixed
    shift = board["style_elo"] - board["elo"]
    assert shift.idxmin() == "sim-verbose", shift

    coefficients = wh.query("SELECT * FROM style_coefficients WHERE judge_model = ?", [BIASED])
    length = coefficients.set_index("feature").loc["length"]
    assert length["low"] > 0 and length["low"] <= length["coefficient"] <= length["high"]
    assert coefficients.set_index("feature").drop(index="length")["coefficient"].isna().all()  # no markdown

    baseline = config.responders[0]
    assert np.isnan(board.loc[baseline, "lc_win_rate"])
    others = board.drop(index=baseline)
    assert others["lc_win_rate"].between(0, 1).all() and (others["lc_win_rate_se"] >= 0).all()
    # a length-controlled win rate judges the verbose responder by what it says, not how much
    raw_vs_baseline = _win_rate_against(wh, baseline, "sim-verbose")
    assert others.loc["sim-verbose", "lc_win_rate"] < raw_vs_baseline
    assert md["lc_baseline"] == baseline
    assert "style_elo" in md[f"board/{BIASED}/table"] and "lc_win_rate" in md[f"board/{BIASED}/table"]


def _win_rate_against(wh: Warehouse, baseline: str, model: str) -> float:
    rows = wh.query("""SELECT model_a, model_b, winner FROM judgments WHERE mode = 'pairwise'
                       AND ((model_a = ? AND model_b = ?) OR (model_a = ? AND model_b = ?))""",
                    [baseline, model, model, baseline])
    won = np.where(rows["model_a"] == model, rows["winner"] == "model_a", rows["winner"] == "model_b")
    return float(pd.Series(won).mean() + 0.5 * (rows["winner"] == "tie").mean())
