"""judging.pairs: adaptive: the round picker (judging/adaptive.py) on synthetic verdicts, its config keys, and
one judge partition judged in rounds through Dagster on the simulator, rerun from the journal."""

from __future__ import annotations

import itertools

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from llmfeedback_assets.config import ConfigError, load_config
from llmfeedback_assets.ids import rng_for
from llmfeedback_assets.judging import select_pairs
from llmfeedback_assets.judging.adaptive import (
    CANDIDATE_COLUMNS,
    next_round,
    random_pairs,
    resolve_budget,
    run_adaptive,
)
from llmfeedback_assets.judging.pipeline import choose_pairs
from llmfeedback_assets.ranking import bradley_terry
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.dagster_runs import latest_metadata, materialize_with_config
from llmfeedback_assets_tests.support.project import write_config

NO_JUDGMENTS = pd.DataFrame(columns=["prompt_id", "model_a", "model_b", "winner"])


def candidates(models: list[str], prompts: int, calls=lambda p: 2) -> pd.DataFrame:
    pairs = list(itertools.combinations(models, 2))
    rows = [(f"p{p:03d}", a, b, calls(p)) for p in range(prompts) for a, b in pairs]
    return pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)


def bt_judge(strength: dict[str, float], seed: int = 0):
    """Verdicts drawn from Bradley–Terry with these log-strengths, a fixed draw per (prompt, pair)."""
    def judge(pairs: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for p, a, b, _ in pairs.itertuples(index=False):
            rng = rng_for("test-verdict", seed, p, a, b)
            u = rng.random()
            p_a = 1 / (1 + np.exp(strength[b] - strength[a]))
            rows.append((p, a, b, "tie" if u > 0.85 else ("model_a" if rng.random() < p_a else "model_b")))
        return pd.DataFrame(rows, columns=["prompt_id", "model_a", "model_b", "winner"])
    return judge


def model_pairs(frame: pd.DataFrame) -> list[frozenset]:
    return [frozenset(ab) for ab in zip(frame["model_a"], frame["model_b"], strict=True)]


def test_first_round_is_connected_and_balanced():
    models = [f"m{k}" for k in range(6)]
    first = next_round(candidates(models, 10), NO_JUDGMENTS, budget_calls=1000, round_size=12, seed=3)
    assert first.stop is None and len(first.pairs) == 12 and first.calls_used == 0
    seen = pd.concat([first.pairs["model_a"], first.pairs["model_b"]]).value_counts()
    assert set(seen.index) == set(models) and seen.min() == seen.max() == 4  # two cycles, two links each
    # connected: a walk from one model reaches all
    links = model_pairs(first.pairs)
    reached, frontier = {"m0"}, ["m0"]
    while frontier:
        m = frontier.pop()
        for link in links:
            if m in link:
                other = next(iter(link - {m}))
                if other not in reached:
                    reached.add(other)
                    frontier.append(other)
    assert reached == set(models)


def test_next_round_goes_to_neighbours_whose_order_is_uncertain():
    # A ~ B and C ~ D (even odds), while A and B always beat C and D: only A-B and C-D are open questions
    models = ["A", "B", "C", "D"]
    cands = candidates(models, 60)
    rng = np.random.default_rng(0)
    rows = []
    for p in range(20):
        for a, b in itertools.combinations(models, 2):
            close = {a, b} in ({"A", "B"}, {"C", "D"})
            winner = rng.choice(["model_a", "model_b", "tie"]) if close else "model_a"
            rows.append((f"p{p:03d}", a, b, winner))
    judged = pd.DataFrame(rows, columns=["prompt_id", "model_a", "model_b", "winner"])
    step = next_round(cands, judged, budget_calls=10_000, round_size=20, seed=0)
    picked = model_pairs(step.pairs)
    assert len(picked) == 20 and step.calls_used == 2 * len(judged)
    assert sum(p in (frozenset("AB"), frozenset("CD")) for p in picked) >= 18
    keys = ["prompt_id", "model_a", "model_b"]
    asked = set(judged[keys].itertuples(index=False, name=None))
    assert not set(step.pairs[keys].itertuples(index=False, name=None)) & asked  # nothing asked twice
    # every model is compared, so every interval is finite
    assert step.widths.notna().all() and (step.widths > 0).all()


def test_budget_is_respected_with_uneven_costs_and_the_run_is_deterministic():
    models = [f"m{k:02d}" for k in range(8)]
    cands = candidates(models, 12, calls=lambda p: 4 if p % 3 == 0 else 2)  # two-turn prompts cost 4
    judge = bt_judge({m: 0.3 * k for k, m in enumerate(models)})
    budget = resolve_budget(0.3, int(cands["calls"].sum()))
    first = run_adaptive(cands, judge, budget, round_size=9, seed=1)
    assert first.stop == "budget" and first.calls_used <= budget and first.calls_used > budget - 4
    assert sum(r["calls"] for r in first.rounds) == first.calls_used and len(first.rounds) >= 3
    again = run_adaptive(cands, judge, budget, round_size=9, seed=1)
    pd.testing.assert_frame_equal(first.judged, again.judged)
    assert first.rounds == again.rounds
    other = run_adaptive(cands, judge, budget, round_size=9, seed=2)
    assert not other.judged[["prompt_id", "model_a", "model_b"]].equals(first.judged[["prompt_id", "model_a",
                                                                                     "model_b"]])


def test_target_width_stops_early_and_small_budgets_stop_at_once():
    models = [f"m{k}" for k in range(5)]
    cands = candidates(models, 20)
    judge = bt_judge({m: 0.5 * k for k, m in enumerate(models)})
    wide = run_adaptive(cands, judge, 200, round_size=10, target_width=1e6)
    assert wide.stop == "target_width" and len(wide.rounds) == 1 and wide.calls_used == 20
    assert wide.widths.max() < 1e6
    assert run_adaptive(cands, judge, 1, round_size=10).stop == "budget"  # one call buys no pair
    everything = run_adaptive(cands, judge, 10_000, round_size=50)
    assert everything.stop == "exhausted" and everything.calls_used == everything.all_calls == 400


def test_budget_shares_counts_and_random_pairs():
    assert resolve_budget(0.25, 1000) == 250 and resolve_budget(1, 1000) == 1000
    assert resolve_budget(300, 1000) == 300 and resolve_budget(5000, 1000) == 1000
    for bad in (0, -1, 12.5, float("nan")):
        with pytest.raises(ValueError):
            resolve_budget(bad, 1000)
    cands = candidates(["a", "b", "c", "d"], 10, calls=lambda p: 2 + 2 * (p % 2))
    chosen = random_pairs(cands, 37, seed=4)
    assert 33 < chosen["calls"].sum() <= 37
    pd.testing.assert_frame_equal(chosen, random_pairs(cands, 37, seed=4))


def test_run_refuses_a_judge_that_drops_pairs():
    cands = candidates(["a", "b", "c"], 4)
    with pytest.raises(ValueError, match="no row"):
        run_adaptive(cands, lambda pairs: NO_JUDGMENTS, 24, round_size=3)


def test_adaptive_is_no_fixed_selection():
    answers = pd.DataFrame({"prompt_id": ["p", "p"], "model": ["a", "b"], "text": ["x", "y"]})
    with pytest.raises(ValueError, match="picks pairs while judging"):
        select_pairs(answers, method="adaptive")
    responses = pd.DataFrame({"prompt_id": ["p"], "responder_model": ["a"], "status": ["ok"], "sample": [0],
                              "turn": [1], "text": ["x"], "source": [None], "source_line": [None]})
    assert choose_pairs(responses, "adaptive") is None  # every pair is a candidate


@pytest.mark.parametrize(("judging", "expected"), [
    ({"pairs": "adaptive", "adaptive_budget": 12.5}, "judging.adaptive_budget: Value error, a budget above"),
    ({"pairs": "adaptive", "adaptive_budget": 0}, "judging.adaptive_budget: Input should be greater than 0"),
    ({"pairs": "adaptive", "adaptive_budget": True}, "adaptive_budget must be a number"),
    ({"pairs": "adaptive", "adaptive_round_size": 0}, "judging.adaptive_round_size"),
    ({"pairs": "adaptive", "adaptive_target_width": -5}, "judging.adaptive_target_width"),
    ({"pairs": "active"}, "judging.pairs"),
])
def test_bad_adaptive_settings_are_config_errors(tmp_path, judging, expected):
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        load_config(write_config(tmp_path, judging=judging))


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_adaptive_partition_within_budget_ranks_and_reruns_from_the_journal(instance, tmp_path):
    from llmfeedback_assets.defs.spine import spine_assets

    assets = list(spine_assets)
    judging = {"modes": ["single", "pairwise"], "pairs": "adaptive", "adaptive_budget": 0.5,
               "adaptive_round_size": 12}
    path = write_config(tmp_path, n_prompts=16, judges=["judge-clean"], judging=judging)
    instance.add_dynamic_partitions("judge_model", ["judge-clean"])
    materialize_with_config(assets, instance, path, ["prompts", "sim_ground_truth", "responses"])
    materialize_with_config(assets, instance, path, ["judgments"], "judge-clean")
    md = latest_metadata(instance, "judgments", "judge-clean")
    # 16 prompts, 6 of them with two turns: 22 judged turns; 6 pairs of 4 responders, both orders
    assert md["adaptive_all_pairs_calls"] == 6 * 22 * 2 and md["adaptive_budget_calls"] == 132
    assert 120 < md["adaptive_pairwise_calls"] <= md["adaptive_budget_calls"]
    assert md["adaptive_stop"] == "budget" and md["adaptive_rounds"] == len(md["adaptive_round_log"]) >= 3
    assert md["sent"] == 4 * 22 + md["adaptive_pairwise_calls"] and md["cache_hits"] == 0  # grades + pairs
    assert set(md["adaptive_widths_elo"]) == {"alpha", "bravo", "charlie", "delta"}
    assert md["pair_selection"] == "adaptive"
    wh = Warehouse(load_config(path).database_path)
    first = wh.table("judgments", "WHERE judge_model = 'judge-clean' ORDER BY judgment_id")
    assert 2 * (first["mode"] == "pairwise").sum() == md["adaptive_pairwise_calls"]

    # the board's Bradley–Terry order from these judgments is the true one (the leaderboard asset fits the
    # same way; it is left out so this test does not depend on the analysis assets)
    pairwise = first[(first["mode"] == "pairwise") & first["winner"].notna()]
    board = bradley_terry(pairwise["model_a"], pairwise["model_b"],
                          pairwise["winner"].map({"model_a": "left", "model_b": "right", "tie": "tie"}))
    assert board.index.tolist() == ["alpha", "bravo", "charlie", "delta"]

    # a rerun asks the journal for the same rounds and pays nothing
    materialize_with_config(assets, instance, path, ["judgments"], "judge-clean")
    again = latest_metadata(instance, "judgments", "judge-clean")
    assert again["sent"] == 0 and again["cache_hits"] == again["requests"] == md["requests"]
    assert again["adaptive_round_log"] == md["adaptive_round_log"]
    pd.testing.assert_frame_equal(first, wh.table("judgments", "WHERE judge_model = 'judge-clean' "
                                                                "ORDER BY judgment_id"))

    # the adaptive requests are all-pairs' own: switching to all pairs pays only for the rest
    write_config(tmp_path, n_prompts=16, judges=["judge-clean"], judging={**judging, "pairs": "all"})
    materialize_with_config(assets, instance, path, ["judgments"], "judge-clean")
    every = latest_metadata(instance, "judgments", "judge-clean")
    assert every["cache_hits"] == 4 * 22 + md["adaptive_pairwise_calls"]
    assert every["sent"] == md["adaptive_all_pairs_calls"] - md["adaptive_pairwise_calls"]
