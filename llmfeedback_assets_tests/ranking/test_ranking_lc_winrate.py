"""Length-controlled win rate: against alpaca-eval's own GLM (a dev extra) on synthetic annotations over the
805 AlpacaEval instruction indexes, with AlpacaEval's difficulty and gamed-baseline tables read in place
(../shared/datasets/alpaca_eval, or ALPACA_EVAL_TABLES); plus behaviour and bad-input tests needing neither.

ALPACA_EVAL_ANNOTATIONS may name a published annotations.json (an alpaca_eval checkout's
results/<model>/weighted_alpaca_eval_gpt4_turbo/): that model is then checked against alpaca-eval as well.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from scipy.stats import spearmanr

from llmfeedback_assets.ranking import (
    LC_COLUMNS,
    RankingError,
    instruction_difficulty_from,
    length_controlled_win_rate,
    length_controlled_win_rates,
)
from llmfeedback_assets.ranking.lc_winrate import _fit_l1_logistic

TABLES = Path(
    os.environ.get("ALPACA_EVAL_TABLES", Path(__file__).resolve().parents[3] / "shared/datasets/alpaca_eval")
)
N_INSTRUCTIONS = 805
# (name, strength, verbosity = answer length / baseline length, judge's pull toward the longer answer)
MODELS = [
    ("m-strong-verbose", 0.8, 2.5, 1.2),
    ("m-weak-verbose", -1.5, 2.0, 1.0),
    ("m-concise", 0.0, 0.5, 0.8),
    ("m-even", -0.5, 1.0, 0.0),
]


def annotations(name, strength, verbosity, length_pull, difficulty, seed, exact_share=0.15, baseline_len=None,
                noise=1.5):
    """One model's AlpacaEval-style rows; the preference for the model rises with its strength, the
    instruction's difficulty term and (length_pull) with how much longer its answer is than the baseline's."""
    rng = np.random.default_rng(seed)
    n = len(difficulty)
    base = baseline_len if baseline_len is not None else rng.integers(150, 2500, n)
    own = np.maximum(1, (base * verbosity * rng.lognormal(0, 0.35, n)).astype(int))
    delta = base - own
    z = strength + 0.7 * difficulty - length_pull * np.tanh(delta / delta.std()) + rng.normal(0, noise, n)
    pref = 1 + expit(z)
    exact = rng.random(n) < exact_share  # AlpacaEval mixes exact verdicts (1, 2, ties) with fractional ones
    pref[exact] = rng.choice([1.0, 2.0, 1.5, 0.0], exact.sum(), p=[0.4, 0.4, 0.15, 0.05])
    pref[rng.random(n) < 0.01] = np.nan  # a failed annotation
    return pd.DataFrame({
        "instruction": [f"instruction {i}" for i in range(n)],
        "output_1": ["b" * k for k in base],
        "generator_1": "baseline",
        "output_2": ["m" * k for k in own],
        "generator_2": name,
        "preference": pref,
    }, index=pd.RangeIndex(n))


def synthetic_difficulty(seed=7, n=N_INSTRUCTIONS) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(0, 1.2, n), name="instruction_difficulty")


@pytest.fixture(scope="module")
def tables():
    if not (TABLES / "df_gamed.csv").exists() or not (TABLES / "instruction_difficulty.csv").exists():
        pytest.skip(f"AlpacaEval's tables are not at {TABLES}")
    difficulty = pd.read_csv(TABLES / "instruction_difficulty.csv", index_col=0).squeeze("columns")
    return difficulty, pd.read_csv(TABLES / "df_gamed.csv")


@pytest.fixture(scope="module")
def alpaca_glm():
    """alpaca-eval's GLM module, reading the shared tables instead of downloading them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glm = pytest.importorskip("alpaca_eval.metrics.glm_winrate", reason="alpaca-eval is a dev extra")
    mp = pytest.MonkeyPatch()
    mp.setattr(glm, "hf_hub_download", lambda repo_id, filename, **kw: str(TABLES / filename))
    yield glm
    mp.undo()


def reference(glm, frame: pd.DataFrame, glm_name: str) -> tuple[dict, float]:
    """alpaca-eval's metrics, and the C its cross-validation chose."""
    chosen = []

    def spy(*args, **kwargs):
        model = fit(*args, **kwargs)
        chosen.append(float(model.C_[0]))
        return model

    fit = glm.fit_LogisticRegressionCV
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as mp:
        warnings.simplefilter("ignore")  # scikit-learn's deprecations of the options AlpacaEval passes
        mp.setattr(glm, "fit_LogisticRegressionCV", spy)
        out = glm.get_length_controlled_winrate(
            frame.copy(), glm_name=glm_name, save_weights_dir=None, is_warn_extreme_changes=False
        )
    return out, (chosen[0] if chosen else float("nan"))


def assert_close(ours: dict, ref: dict, lc_tol: float):
    for key in ("win_rate", "standard_error", "discrete_win_rate"):
        assert ours[key] == pytest.approx(float(ref[key]), abs=1e-9), key
    for key in ("n_wins", "n_wins_base", "n_draws", "n_total"):
        assert ours[key] == int(ref[key]), key
    lc, ref_lc = ours["length_controlled_winrate"], float(ref["length_controlled_winrate"])
    assert lc == pytest.approx(ref_lc, abs=lc_tol)
    assert ours["lc_standard_error"] == pytest.approx(float(ref["lc_standard_error"]), abs=lc_tol / 2)


# ------------------------------------------------------------------------------- against alpaca-eval
# alpaca-eval's liblinear stops at a relative tolerance of 1e-4; we solve to the optimum. At the same C the
# two agree to ~0.015 points (to 1e-7 once liblinear runs to convergence, below). Where cross-validation
# scores plateau (C from ~20 up) that tolerance also decides which C wins: the pipelines agree to ~0.07.
@pytest.mark.parametrize("k", range(len(MODELS)))
def test_matches_alpaca_eval_with_gamed_baseline(tables, alpaca_glm, k):
    difficulty, gamed = tables
    frame = annotations(*MODELS[k], difficulty.to_numpy(), seed=100 + k)
    ref, ref_c = reference(alpaca_glm, frame, "length_controlled_v1")
    ours = length_controlled_win_rate(frame, gamed_baseline=gamed)  # difficulty from the gamed table
    assert_close(ours, ref, lc_tol=0.1)
    assert_close(length_controlled_win_rate(frame, difficulty, gamed, C=ref_c), ref, lc_tol=0.02)


@pytest.mark.parametrize("k", range(len(MODELS)))
def test_matches_alpaca_eval_without_regularisation(tables, alpaca_glm, k):
    difficulty, _ = tables
    frame = annotations(*MODELS[k], difficulty.to_numpy(), seed=200 + k)
    ref, ref_c = reference(alpaca_glm, frame, "length_controlled_noreg")
    assert_close(length_controlled_win_rate(frame, instruction_difficulty=difficulty), ref, lc_tol=0.1)
    assert_close(length_controlled_win_rate(frame, difficulty, C=ref_c), ref, lc_tol=0.02)


@pytest.mark.parametrize("C", [0.36, 21.5, 1e4])
def test_same_optimum_as_liblinear_run_to_convergence(tables, alpaca_glm, C):
    difficulty, gamed = tables
    frame = annotations(*MODELS[0], difficulty.to_numpy(), seed=100)
    info = alpaca_glm.GLM_INFO["length_controlled_v1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, test, weight = alpaca_glm._get_featurized_data(
            frame, info["formula"], info["regularize_to_baseline_lambda"]
        )
        judged = train["preference"].notna()
        model = alpaca_glm.fit_LogisticRegressionCV(
            train[judged], "preference", sample_weight=weight[judged], n_splits=0, C=C, tol=1e-12,
            max_iter=100_000,
        )
    ref = model.predict_proba(test)[:, 1].mean() * 100
    ours = length_controlled_win_rate(frame, difficulty, gamed, C=C)["length_controlled_winrate"]
    assert ours == pytest.approx(ref, abs=1e-5)


def test_baseline_against_itself_is_fifty(tables, alpaca_glm):
    difficulty, gamed = tables
    frame = annotations("baseline", 0.0, 1.0, 0.0, difficulty.to_numpy(), seed=3)
    frame["output_2"] = frame["output_1"]
    ours = length_controlled_win_rate(frame, gamed_baseline=gamed)
    ref, _ = reference(alpaca_glm, frame, "length_controlled_v1")
    assert ours["length_controlled_winrate"] == 50.0 == pytest.approx(float(ref["length_controlled_winrate"]))


@pytest.mark.skipif(not os.environ.get("ALPACA_EVAL_ANNOTATIONS"), reason="ALPACA_EVAL_ANNOTATIONS not set")
def test_published_annotations(tables, alpaca_glm):
    _, gamed = tables
    frame = pd.read_json(os.environ["ALPACA_EVAL_ANNOTATIONS"])
    ours = length_controlled_win_rate(frame, gamed_baseline=gamed)
    assert_close(ours, reference(alpaca_glm, frame, "length_controlled_v1")[0], lc_tol=0.2)


# -------------------------------------------------------------------------------------------- behaviour
def test_verbose_model_with_the_same_preferences_loses_lc():
    difficulty = synthetic_difficulty()
    even = annotations("m-even", 0.0, 1.0, 1.0, difficulty.to_numpy(), seed=11)
    verbose = even.assign(output_2=[s * 3 for s in even["output_2"]], generator_2="m-verbose")
    lc_even = length_controlled_win_rate(even, difficulty)
    lc_verbose = length_controlled_win_rate(verbose, difficulty)
    assert lc_verbose["win_rate"] == pytest.approx(lc_even["win_rate"])
    assert lc_verbose["length_controlled_winrate"] < lc_verbose["win_rate"] - 5
    assert lc_verbose["length_controlled_winrate"] < lc_even["length_controlled_winrate"] - 5
    assert abs(lc_even["length_controlled_winrate"] - lc_even["win_rate"]) < 3
    assert set(LC_COLUMNS) <= set(lc_even)


def test_joint_difficulty_and_the_board():
    truth = synthetic_difficulty(n=200)
    rng = np.random.default_rng(5)
    base = rng.integers(150, 2500, len(truth))  # every model answers against the same baseline answers
    specs = MODELS + [(f"m-{k}", rng.normal(), rng.uniform(0.5, 2.5), rng.uniform(0, 1)) for k in range(6)]
    frames = [
        annotations(*spec, truth.to_numpy(), seed=300 + k, baseline_len=base, noise=0.7)
        for k, spec in enumerate(specs)
    ]
    stacked = pd.concat(frames)
    estimate = instruction_difficulty_from(stacked)
    assert estimate.index.equals(pd.RangeIndex(len(truth))) and estimate.iloc[0] == 0.0
    assert spearmanr(estimate, truth).statistic > 0.8
    board = length_controlled_win_rates(stacked)
    assert list(board.columns) == LC_COLUMNS and set(board.index) == {m[0] for m in specs}
    assert board["length_controlled_winrate"].is_monotonic_decreasing
    one = length_controlled_win_rate(stacked, model="m-concise")
    alone = length_controlled_win_rate(frames[2], instruction_difficulty=estimate)
    assert one == pytest.approx(alone) and one == pytest.approx(board.loc["m-concise"].to_dict())
    # the verbose models' advantage shrinks once length is held fixed; the concise one's grows
    lc, raw = board["length_controlled_winrate"], board["win_rate"]
    assert lc["m-strong-verbose"] < raw["m-strong-verbose"] and lc["m-concise"] > raw["m-concise"]


def test_l1_fit_is_optimal():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.tanh(rng.normal(size=400)), rng.normal(size=400), np.ones(400)])
    y = expit(X @ [-1.0, 0.5, 0.3] + rng.normal(0, 1, 400))
    w = np.where(rng.random(400) < 0.3, 0.1, 1.0)
    for C in (0.005, 0.05, 1.0, 1e4):
        beta = _fit_l1_logistic(X, y, w, C)
        g = X.T @ (w * (expit(X @ beta) - y))
        lam = 1 / C
        on = beta != 0
        assert np.allclose(g[on], -lam * np.sign(beta[on]), atol=1e-6)  # stationary where non-zero
        assert np.all(np.abs(g[~on]) <= lam + 1e-6)  # no gain in leaving zero


# ------------------------------------------------------------------------------------------- bad input
@pytest.fixture
def frame():
    return annotations("m", 0.0, 1.0, 0.5, synthetic_difficulty(n=40).to_numpy(), seed=1, exact_share=0)


def test_missing_column_is_named(frame):
    with pytest.raises(RankingError, match=r"missing columns \['output_2'\]"):
        length_controlled_win_rate(frame.drop(columns="output_2"), synthetic_difficulty(n=40))


def test_bad_preference_names_the_row(frame):
    frame.loc[17, "preference"] = 3.0
    with pytest.raises(RankingError, match=r"column 'preference' must be in \[1, 2\].*row 17 has 3\.0"):
        length_controlled_win_rate(frame, synthetic_difficulty(n=40))
    frame["preference"] = frame["preference"].astype(object)
    frame.loc[17, "preference"] = "left"
    with pytest.raises(RankingError, match=r"row 17 has 'left'"):
        length_controlled_win_rate(frame, synthetic_difficulty(n=40))


def test_missing_answer_text_names_the_row(frame):
    frame.loc[5, "output_1"] = None
    with pytest.raises(RankingError, match=r"column 'output_1' must hold the answer text.*row 5 has None"):
        length_controlled_win_rate(frame, synthetic_difficulty(n=40))


def test_difficulty_must_cover_every_row(frame):
    with pytest.raises(RankingError, match=r"instruction_difficulty: no value for row 39 .*1 rows lack one"):
        length_controlled_win_rate(frame, synthetic_difficulty(n=39))
    with pytest.raises(RankingError, match=r"instruction_difficulty: entry 3 is nan"):
        length_controlled_win_rate(frame, synthetic_difficulty(n=40).where(lambda s: s.index != 3))


def test_difficulty_needs_a_source(frame):
    with pytest.raises(RankingError, match=r"joint estimate needs annotations of several models"):
        length_controlled_win_rate(frame)
    two = pd.concat([frame, frame.assign(generator_2="m2")])
    with pytest.raises(RankingError, match=r"'generator_2' holds 2 models \(m, m2\); name the one"):
        length_controlled_win_rate(two, synthetic_difficulty(n=40))
    with pytest.raises(RankingError, match=r"model 'm3' is not in column 'generator_2'"):
        length_controlled_win_rate(two, synthetic_difficulty(n=40), model="m3")
    with pytest.raises(RankingError, match=r"model 'm' has several rows labelled 0"):
        instruction_difficulty_from(pd.concat([two, frame.iloc[:1]]))
    shifted = frame.assign(generator_2="m2", instruction=np.roll(frame["instruction"], 1))
    with pytest.raises(RankingError, match=r"rows labelled 0 hold different instructions"):
        instruction_difficulty_from(pd.concat([frame, shifted]))
    with pytest.raises(RankingError, match=r"C: the inverse L1 strength must be a positive number, got 0"):
        length_controlled_win_rate(frame, synthetic_difficulty(n=40), C=0)


def test_bad_gamed_table_is_named(frame):
    gamed = pd.DataFrame({"preference": [0.2, 1.4], "index": [0, 1], "std_delta_len": [0.1, -0.3],
                          "instruction_difficulty": [0.0, 0.5], "not_gamed_baseline": [False, False]})
    with pytest.raises(RankingError, match=r"column 'preference' must be a probability in \[0, 1\]; row 1"):
        length_controlled_win_rate(frame, synthetic_difficulty(n=40), gamed)
    with pytest.raises(RankingError, match=r"gamed_baseline: missing columns \['std_delta_len'\]"):
        length_controlled_win_rate(frame, synthetic_difficulty(n=40), gamed.drop(columns="std_delta_len"))
