"""From stored judgments to leaderboards (per judge and pooled) and, with the simulator, to how well they
recover the ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import ranking
from ..config import Config, SimJudgeSpec, SimResponderSpec
from ..warehouse import Warehouse, columns
from . import controlled

POOLED = "__pooled__"

def ground_truth_table(config: Config) -> pd.DataFrame:
    rows = []
    for m in config.models:
        if not m.is_simulated:
            continue
        r, j = m.sim or SimResponderSpec(), m.sim_judge or SimJudgeSpec()
        role = "+".join(x for x, on in (("responder", m.name in config.responders),
                                        ("judge", m.name in config.judges)) if on) or "unused"
        rows.append({"model": m.name, "role": role, "quality": r.quality, "verbosity": r.verbosity,
                     "noise": j.noise, "position_bias": j.position_bias, "verbosity_bias": j.verbosity_bias,
                     "self_preference": j.self_preference})
    return pd.DataFrame(rows, columns=columns("sim_ground_truth"))


@dataclass
class JudgmentInputs:
    judgments: pd.DataFrame
    truth: pd.DataFrame
    external: pd.DataFrame
    categories: pd.DataFrame | None = None  # prompt_id, category
    answers: controlled.AnswerTexts | None = None  # the compared answers' texts, for style and LC control


def load_judgment_inputs(wh: Warehouse) -> JudgmentInputs:
    return JudgmentInputs(wh.table("judgments", "WHERE parse_status = 'ok'"), wh.table("sim_ground_truth"),
                          wh.table("external_comparisons"),
                          wh.query("SELECT prompt_id, category FROM prompts"),
                          controlled.load_answer_texts(wh))


def board_comparisons(judgments: pd.DataFrame) -> pd.DataFrame:
    """The pairwise comparisons a board ranks from: model_a, model_b, winner, prompt_id, turn."""
    # Two answers of one model (sparse-feedback rankings compare samples of one model) say nothing about
    # how models rank.
    pairs = judgments[(judgments["mode"] == "pairwise") & judgments["winner"].notna()
                      & (judgments["model_a"] != judgments["model_b"])]
    return pairs[["model_a", "model_b", "winner", "prompt_id", "turn"]]


def board_groups(inputs: JudgmentInputs) -> list[tuple[str, pd.DataFrame]]:
    """(board name, its judgments) per judge, pooled over our judges and per external source."""
    groups = [(str(j), g) for j, g in inputs.judgments.groupby("judge_model")]
    if groups:
        groups.append((POOLED, inputs.judgments))
    external = inputs.external.assign(mode="pairwise", score=np.nan, judge_model=inputs.external["source"])
    return groups + [(f"{name} (external)", frame) for name, frame in external.groupby("source")]


def _board(judgments: pd.DataFrame, rounds: int, seed: int) -> pd.DataFrame:
    single = judgments[(judgments["mode"] == "single") & judgments["score"].notna()]
    comps = board_comparisons(judgments)
    scores = single.rename(columns={"model_a": "model"})[["model", "turn", "score"]]
    if comps.empty and scores.empty:
        return pd.DataFrame()
    return ranking.leaderboard_table(comps, rounds=rounds, seed=seed, single_scores=scores)


def leaderboards(inputs: JudgmentInputs, config: Config) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One leaderboard per judge plus the pooled one (with style-controlled Elo and length-controlled win
    rates where the answers are known), a per-judge summary with the rank correlation against the
    simulator's latent quality where every ranked model is simulated, and the fitted style coefficients."""
    truth = inputs.truth.set_index("model")["quality"] if len(inputs.truth) else pd.Series(dtype=float)
    boards, summary, coefficients = [], [], []
    for judge, frame in board_groups(inputs):
        board = _board(frame, config.leaderboard.bootstrap_rounds, config.leaderboard.seed)
        if board.empty:
            continue
        board.insert(0, "judge_model", judge)
        board, coef = _with_style_and_length_control(board, frame, inputs, config)
        if coef is not None:
            coefficients.append(coef.assign(judge_model=judge))
        board["true_quality"] = board["model"].map(truth).astype(float)
        judges = frame["judge_model"].unique()
        simulated = bool(board["true_quality"].notna().all()) and all(_is_sim(config, j) for j in judges)
        board["simulated"] = simulated
        tau = np.nan
        if board["true_quality"].notna().sum() >= 3:
            est = board.set_index("model")["bt_score"].dropna()
            tau = ranking.kendall_tau(est, board.set_index("model")["true_quality"])
        summary.append({"judge_model": judge, "models": len(board),
                        "pairwise_judgments": int((frame["mode"] == "pairwise").sum()),
                        "single_judgments": int((frame["mode"] == "single").sum()),
                        "kendall_tau_vs_truth": tau, "simulated": simulated})
        boards.append(board)
    board = pd.concat(boards, ignore_index=True) if boards else pd.DataFrame(columns=columns("leaderboard"))
    coef = (pd.concat(coefficients, ignore_index=True) if coefficients
            else pd.DataFrame(columns=columns("style_coefficients")))
    return board[columns("leaderboard")], pd.DataFrame(summary), coef[columns("style_coefficients")]


def _with_style_and_length_control(board: pd.DataFrame, frame: pd.DataFrame, inputs: JudgmentInputs,
                                   config: Config) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The board with its style_elo and lc_win_rate columns (NaN where they cannot be computed: external
    votes carry no answers) and the style coefficients it was fitted with."""
    board = board.assign(**{c: np.nan for c in controlled.STYLE_COLUMNS + controlled.LC_COLUMNS})
    if inputs.answers is None or str(board["judge_model"].iloc[0]).endswith(" (external)"):
        return board, None
    pairs = controlled.answered_pairs(frame, inputs.answers)
    if pairs.empty:
        return board, None
    style = controlled.style_board(pairs, config.leaderboard.bootstrap_rounds, config.leaderboard.seed)
    coef = None
    if style is not None:
        table, coef = style
        board = board.drop(columns=controlled.STYLE_COLUMNS).merge(table, on="model", how="left")
    baseline = controlled.lc_baseline(config)
    lc = None if baseline is None else controlled.lc_board(
        controlled.lc_annotations(pairs, inputs.answers, baseline))
    if lc is not None:
        board = board.drop(columns=controlled.LC_COLUMNS).merge(lc, on="model", how="left")
    return board, coef


def mt_bench_tables(inputs: JudgmentInputs,
                    config: Config) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, bytes]]:
    """Per judge: MT-bench scores (turn 1, turn 2, overall, per category) with bootstrap intervals, FastChat
    show_result pairwise win rates (against the baseline under judging.pairs: baseline, and against all),
    and a category radar plot (PNG) per judge with categories."""
    scores, rates, radars = [], [], {}
    categories = inputs.categories if inputs.categories is not None else pd.DataFrame(columns=["prompt_id",
                                                                                               "category"])
    questions = categories.rename(columns={"prompt_id": "question_id"})
    lb = config.leaderboard
    for judge, frame in inputs.judgments.groupby("judge_model"):
        single = frame[(frame["mode"] == "single") & frame["score"].notna()]
        if len(single):
            single = single.rename(columns={"model_a": "model", "prompt_id": "question_id"})
            long = ranking.mt_bench_bootstrap(single[["model", "turn", "score", "question_id"]], questions,
                                              rounds=lb.bootstrap_rounds, seed=lb.seed)
            scores.append(long.assign(judge_model=judge))
            wide = ranking.mt_bench_scores(single[["model", "turn", "score", "question_id"]], questions)
            if len(questions) and questions["category"].nunique() > 1:
                radars[str(judge)] = ranking.mt_bench_radar_png(wide, title=f"MT-bench categories: {judge}")
        pairs = frame[(frame["mode"] == "pairwise") & (frame["model_a"] != frame["model_b"])]
        if len(pairs):
            against_baseline = config.judging.pairs == "baseline"
            baselines = [None] + ([config.judging.baseline_model] if against_baseline else [])
            for baseline in baselines:
                table = ranking.pairwise_win_rates(pairs[["model_a", "model_b", "winner"]], baseline=baseline)
                rates.append(table.assign(judge_model=judge, baseline=baseline))
    score_cols, rate_cols = columns("mt_bench_scores"), columns("pairwise_win_rates")
    score = pd.concat(scores, ignore_index=True)[score_cols] if scores else pd.DataFrame(columns=score_cols)
    rate = pd.concat(rates, ignore_index=True)[rate_cols] if rates else pd.DataFrame(columns=rate_cols)
    return score, rate, radars


def _is_sim(config: Config, model: str) -> bool:
    return any(m.name == model and m.is_simulated for m in config.models)


# -- external comparisons and judge agreement ---------------------------------------------------------------

def read_comparison_sources(config: Config) -> pd.DataFrame:
    """Every configured external comparison file as one frame in the `external_comparisons` schema."""
    from ..ranking.sources import read_llmfao_comparisons, read_mtbench_judgments

    frames = []
    for src in config.comparison_sources:
        path = config.resolve(src.path)
        if src.format == "llmfao":
            models = config.resolve(src.models_jsonl) if src.models_jsonl else None
            df = read_llmfao_comparisons(path, models)
            df["turn"] = 1
        else:
            df = read_mtbench_judgments(path)
            df["worker"] = df["judge"] if src.human else None
        df["source"] = src.name
        df["human"] = src.human
        df["prompt_id"] = df["prompt_id"].astype(str)
        frames.append(df)
    cols = columns("external_comparisons")
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


_AB = {"A": "model_a", "B": "model_b", "C": "tie"}
_BA = {"A": "model_b", "B": "model_a", "C": "tie"}


def judge_agreement(judgments: pd.DataFrame, external: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MT-bench style agreement between every pair of judges (ours and external non-human sources) and
    with the pooled human votes, plus position consistency of our judges (who were asked in both orders)."""
    pairs = judgments[judgments["mode"] == "pairwise"].copy()
    pairs["verdict_ab"] = pairs["verdict_ab"].map(_AB)
    pairs["verdict_ba"] = pairs["verdict_ba"].map(_BA)
    # votes are keyed by model pair: two answers of one model (sparse-feedback rankings) have no place there
    votes = pairs[pairs["model_a"] != pairs["model_b"]]
    votes = votes[["judge_model", "prompt_id", "turn", "model_a", "model_b", "winner"]]
    machine = external[~external["human"].astype(bool)].rename(columns={"source": "judge_model"})
    votes = pd.concat([votes, machine[votes.columns]], ignore_index=True)
    human = external[external["human"].astype(bool)][["prompt_id", "turn", "model_a", "model_b", "winner"]]
    if votes.empty and human.empty:  # single grades only: nothing to agree on
        agreement = pd.DataFrame(columns=columns("judge_agreement"))
    else:
        agreement = ranking.judge_agreement_table(votes, human if len(human) else None)
    consistency = ranking.position_consistency(pairs.rename(columns={"judge_model": "judge"}))
    return agreement, consistency
