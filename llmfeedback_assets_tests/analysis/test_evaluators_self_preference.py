"""Self-preference on the evaluator leaderboard: two simulated models both answer and judge (with
judging.allow_self_judging), one configured to favour its own answers (self_preference 0.5: +1.5 grade
points on what it wrote) and one not, beside two pure judges; all four judges have the same low noise.
Built through Dagster, the leaderboard must find the self-preferring judge again from the judgments alone.

Responders are `test_evaluators_sim`'s five; the two self-judges are two of them with a judge spec added.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from llmfeedback_assets.analysis.evaluators import self_preference_table
from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import Warehouse, columns
from llmfeedback_assets_tests.analysis.test_evaluators_sim import RESPONDERS
from llmfeedback_assets_tests.support.dagster_runs import latest_metadata, materialize_with_config
from llmfeedback_assets_tests.support.project import write_config

NOISE = 0.1
BIASED, FAIR = "sim-mid", "sim-good"  # responders that also judge: one favours itself, one does not
SELF_PREFERENCE = {BIASED: 0.5, FAIR: 0.0}
PURE = ["judge-a", "judge-b"]
JUDGES = [BIASED, FAIR, *PURE]
PRICES = {"price_input_per_mtok": 1.0, "price_output_per_mtok": 2.0}


def models() -> list[dict]:
    """The five responders, two of them also judges; then the pure judges."""
    both = [{**m, **PRICES, "sim_judge": {"noise": NOISE, "self_preference": SELF_PREFERENCE[m["name"]]}}
            if m["name"] in SELF_PREFERENCE else m for m in RESPONDERS]
    return both + [{"name": n, "provider": "sim", **PRICES, "sim_judge": {"noise": NOISE}} for n in PURE]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """20 prompts (27 turns) answered by five responders, graded and compared (both orders) by the four
    judges, then `evaluator_leaderboard` materialized: (config, instance, stored table by judge)."""
    from llmfeedback_assets.definitions import defs

    root = tmp_path_factory.mktemp("self_preference")
    path = write_config(root, n_prompts=20, models=models(), responders=[m["name"] for m in RESPONDERS],
                        judges=JUDGES, judging={"modes": ["single", "pairwise"], "allow_self_judging": True},
                        leaderboard={"bootstrap_rounds": 50, "seed": 0})
    cfg = load_config(path)
    assets = list(defs.assets)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", cfg.judges)
        materialize_with_config(assets, instance, path, ["prompts", "responses"])
        for judge in cfg.judges:
            materialize_with_config(assets, instance, path, ["judgments"], judge)
        result = materialize_with_config(assets, instance, path, ["evaluator_leaderboard"])
        assert result.success
        yield cfg, instance, Warehouse(cfg.database_path).table("evaluator_leaderboard").set_index("judge")


def test_self_judges_graded_their_own_answers(project):
    cfg, _, _ = project
    own = Warehouse(cfg.database_path).query(
        "SELECT judge_model, mode, count(*) AS n FROM judgments WHERE parse_status = 'ok' "
        "AND (model_a = judge_model OR model_b = judge_model) GROUP BY ALL")
    counts = own.set_index(["judge_model", "mode"])["n"]
    assert {(j, m) for j in SELF_PREFERENCE for m in ("single", "pairwise")} == set(counts.index)


def test_self_preference_recovered(project):
    _, _, table = project
    assert set(table.index) == set(JUDGES) and table["simulated"].all()
    assert table["configured_self_preference"].to_dict() == {**SELF_PREFERENCE, **dict.fromkeys(PURE, 0.0)}
    for col in ("self_preference", "self_win_rate_gain"):
        measured = table[col]
        assert measured[PURE].isna().all(), col  # no answers of their own to prefer
        assert measured.idxmax() == BIASED, col
        assert measured[BIASED] > 0.15 if col == "self_win_rate_gain" else measured[BIASED] > 0.75, col
        assert abs(measured[FAIR]) < measured[BIASED] / 3, col
    # +3·0.5 grade points before the ±1 noise and the 1..10 clip: about 1.5 points more than the others give.
    assert table.loc[BIASED, "self_preference"] == pytest.approx(3 * SELF_PREFERENCE[BIASED], abs=0.5)


def test_noise_recovered_despite_self_preference(project):
    """Own answers are left out of the noise estimate, so favouring them does not read as noise."""
    _, _, table = project
    assert (table["configured_noise"] == NOISE).all()
    # ~110-135 grades per judge: the estimate is within 0.1 of the configured noise for all four, and for the
    # self-preferring judge (whose own answers, were they counted, would add ~0.3) within 0.05.
    assert (table["noise"] - NOISE).abs().max() < 0.1
    assert abs(table.loc[BIASED, "noise"] - NOISE) < 0.05
    assert (table["position_bias"].abs() < 0.05).all()
    assert (table["parse_failure_rate"] == 0).all()


def test_metadata(project):
    cfg, instance, _ = project
    md = latest_metadata(instance, "evaluator_leaderboard")
    assert md["dagster/row_count"] == len(JUDGES)
    assert sorted(md["judges_covered"]) == sorted(JUDGES) and md["judges_left_out"] == {}
    # the panel differs only in self-preference, so that is the one flag recorded, and it is recovered
    flags = {k: v for k, v in md.items() if k.endswith("_recovered")}
    assert flags == {"self_preference_top_recovered": True}, flags
    assert list(Warehouse(cfg.database_path).table("evaluator_leaderboard").columns) == \
        columns("evaluator_leaderboard")


def test_another_judges_self_preference_is_not_yours():
    """Two judges that also answer, one (j1) favouring its own answers: +2 grade points, and it picks itself
    in every pair it is in. The other (j2) is fair and must measure exactly 0, although j1's grades and
    votes, taken as the reference, would make j2 look less generous to j1's answers than the others are."""
    quality = {"j1": 3, "j2": 5, "m3": 7}
    rows = []
    for item in range(30):
        for judge in ("j1", "j2", "j3"):
            for model, q in quality.items():
                rows.append({"judge_model": judge, "mode": "single", "parse_status": "ok", "prompt_id": item,
                             "turn": 1, "model_a": model, "model_b": None, "response_a_id": f"{model}{item}",
                             "winner": None, "score": float(q + 2 * (judge == model == "j1"))})
            for a, b in (("j1", "j2"), ("j1", "m3"), ("j2", "m3")):
                winner = "model_a" if judge == "j1" == a or quality[a] > quality[b] else "model_b"
                rows.append({"judge_model": judge, "mode": "pairwise", "parse_status": "ok",
                             "prompt_id": item, "turn": 1, "model_a": a, "model_b": b,
                             "response_a_id": f"{a}{item}", "winner": winner, "score": None})
    table = self_preference_table(pd.DataFrame(rows)).set_index("judge")
    assert table.loc["j1", "self_preference"] == pytest.approx(2.0, abs=1e-9)
    assert table.loc["j1", "self_win_rate_gain"] == pytest.approx(1.0, abs=1e-9)
    assert table.loc["j2", "self_preference"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["j2", "self_win_rate_gain"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["j3", ["self_preference", "self_win_rate_gain"]].isna().all()
