"""The evaluator leaderboard on the simulator: built through Dagster from five simulated judges whose noise
and biases are configured, it must find them again from the judgments alone.

Judges: three that differ only in noise (0.05, 0.2, 0.4), one verbosity-biased (noise 0.1) and one
position-biased (noise 0.3), so the measured noise must order all five, biases notwithstanding.
"""

from __future__ import annotations

import base64
import re

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from llmfeedback_assets.analysis.evaluators import rater_error_variance, self_preference_table
from llmfeedback_assets.analysis.plots import EVALUATOR_NOTE
from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import Warehouse, columns
from llmfeedback_assets_tests.support.dagster_runs import latest_metadata, materialize_with_config
from llmfeedback_assets_tests.support.project import write_config

RESPONDERS = [
    {"name": "sim-strong", "provider": "sim", "sim": {"quality": 0.85, "verbosity": 0.3}},
    {"name": "sim-good", "provider": "sim", "sim": {"quality": 0.70, "verbosity": 0.6}},
    {"name": "sim-mid", "provider": "sim", "sim": {"quality": 0.55, "verbosity": 0.2}},
    {"name": "sim-verbose", "provider": "sim", "sim": {"quality": 0.42, "verbosity": 0.95}},
    {"name": "sim-weak", "provider": "sim", "sim": {"quality": 0.30, "verbosity": 0.4}},
]
JUDGES = {
    "judge-sharp": {"noise": 0.05},
    "judge-fair": {"noise": 0.2},
    "judge-noisy": {"noise": 0.4},
    "judge-verbose": {"noise": 0.1, "verbosity_bias": 0.3},
    "judge-position": {"noise": 0.3, "position_bias": 0.3},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """40 prompts answered by five responders and judged (single grades and pairwise in both orders) by
    the five judges, then `evaluator_leaderboard` materialized: (config, instance, stored table)."""
    from llmfeedback_assets.definitions import defs

    root = tmp_path_factory.mktemp("evaluators")
    judges = [{"name": name, "provider": "sim", "price_input_per_mtok": 1.0, "price_output_per_mtok": 2.0,
               "sim_judge": spec} for name, spec in JUDGES.items()]
    path = write_config(root, n_prompts=40, models=RESPONDERS + judges,
                        responders=[m["name"] for m in RESPONDERS], judges=list(JUDGES),
                        judging={"modes": ["single", "pairwise"]},
                        leaderboard={"bootstrap_rounds": 200, "seed": 0})
    cfg = load_config(path)
    assets = list(defs.assets)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", cfg.judges)
        materialize_with_config(assets, instance, path, ["prompts", "sim_ground_truth", "responses",
                                                         "comparisons"])
        for judge in cfg.judges:
            materialize_with_config(assets, instance, path, ["judgments"], judge)
        result = materialize_with_config(assets, instance, path, ["evaluator_leaderboard"])
        assert result.success
        yield cfg, instance, Warehouse(cfg.database_path).table("evaluator_leaderboard").set_index("judge")


def test_noise_order_and_biases_recovered(project):
    _, _, table = project
    assert set(table.index) == set(JUDGES) and table["simulated"].all()
    assert list(table.sort_values("noise").index) == list(table.sort_values("configured_noise").index)
    # Grades move ±1 with the configured probability, so the error variance is that probability (a little
    # less: a grade at 1 or 10 can only move one way).
    assert (table["noise"] - table["configured_noise"]).abs().max() < 0.08
    assert table["position_bias"].idxmax() == "judge-position"
    assert table.loc["judge-position", "position_bias"] > 0.1
    assert table.drop(index="judge-position")["position_bias"].abs().max() < 0.05
    assert table["position_consistency"].idxmin() == "judge-position"
    assert table["length_coef"].idxmax() == "judge-verbose"
    others = table.drop(index="judge-verbose")
    assert table.loc["judge-verbose", "length_coef_low"] > others["length_coef"].max()


def test_agreement_cost_and_failures(project):
    _, _, table = project
    assert (table["parse_failure_rate"] == 0).all()
    assert (table["n_single"] > 0).all() and (table["n_pairwise"] > 0).all()
    assert table["human_agreement"].isna().all()  # no human votes configured
    assert table["judges_agreement"].between(0.5, 1).all()
    assert table["alpha_all"].nunique() == 1 and 0 < table["alpha_all"].iloc[0] < 1
    # The noisy and the position-biased judge pull the panel's reliability down, the sharp one holds it up.
    alpha = table["alpha_all"].iloc[0]
    assert (table.loc[["judge-noisy", "judge-position"], "alpha_without"] > alpha).all()
    assert table.loc["judge-sharp", "alpha_without"] < alpha
    assert (table["usd_per_1k"] > 0).all() and (table["latency_p50_s"] > 0).all()
    assert (table["n_calls"] == table["n_single"] + 2 * table["n_pairwise"]).all()


def test_materialization_metadata(project):
    cfg, instance, table = project
    md = latest_metadata(instance, "evaluator_leaderboard")
    assert md["dagster/row_count"] == len(JUDGES)
    assert EVALUATOR_NOTE in md["table"] and re.match(r"\|\s+judge\s+\|", md["table"])
    png = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)\)", md["plot"]).group(1))
    assert png.startswith(b"\x89PNG")
    assert md["noise_order_recovered"] is True and md["noise_spearman"] == 1.0
    assert md["position_bias_top_recovered"] is True and md["length_coef_top_recovered"] is True
    stored = Warehouse(cfg.database_path).table("evaluator_leaderboard")
    assert list(stored.columns) == columns("evaluator_leaderboard")


def test_rater_error_variance_recovers_known_variances():
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 2, 4000)
    length = rng.normal(0, 1, 4000)
    sd = {"a": 0.2, "b": 0.5, "c": 1.0, "d": 0.7}
    scores = pd.DataFrame({k: truth + rng.normal(0, s, 4000) for k, s in sd.items()})
    scores["d"] += 1.5 * length  # a length-biased rater: biased, not noisy
    est = rater_error_variance(scores, pd.DataFrame({"length": length}))
    assert np.allclose(est[list(sd)], [s**2 for s in sd.values()], atol=0.05)
    assert rater_error_variance(scores[["a", "b"]]).isna().all()  # two raters cannot be told apart


def test_self_preference_in_grade_points():
    rng = np.random.default_rng(1)
    rows = []
    for item in range(300):
        model = ["judge-1", "m2", "m3"][item % 3]
        quality = rng.integers(3, 8)
        for judge in ("judge-1", "judge-2", "judge-3"):
            bonus = 2.0 if judge == model else 0.0
            rows.append({"judge_model": judge, "mode": "single", "parse_status": "ok", "model_a": model,
                         "model_b": None, "response_a_id": f"r{item}", "winner": None,
                         "score": float(quality + bonus + (judge == "judge-1") * 0.5)})
    table = self_preference_table(pd.DataFrame(rows)).set_index("judge")
    assert table.loc["judge-1", "self_preference"] == pytest.approx(2.0, abs=1e-9)
    assert table.loc[["judge-2", "judge-3"], "self_preference"].isna().all()
