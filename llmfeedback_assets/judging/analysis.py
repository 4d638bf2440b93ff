"""From stored judgments to leaderboards (per judge and pooled) and, with the simulator, to how well they
recover the ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import ranking
from ..config import Config, SimJudgeSpec, SimResponderSpec
from ..warehouse import Warehouse, columns

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


def load_judgment_inputs(wh: Warehouse) -> JudgmentInputs:
    return JudgmentInputs(wh.table("judgments", "WHERE parse_status = 'ok'"), wh.table("sim_ground_truth"))


def _board(judgments: pd.DataFrame, rounds: int, seed: int) -> pd.DataFrame:
    pairs = judgments[(judgments["mode"] == "pairwise") & judgments["winner"].notna()]
    single = judgments[(judgments["mode"] == "single") & judgments["score"].notna()]
    comps = pairs[["model_a", "model_b", "winner", "prompt_id", "turn"]]
    scores = single.rename(columns={"model_a": "model"})[["model", "turn", "score"]]
    if comps.empty and scores.empty:
        return pd.DataFrame()
    return ranking.leaderboard_table(comps, rounds=rounds, seed=seed, single_scores=scores)


def leaderboards(inputs: JudgmentInputs, config: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One leaderboard per judge plus the pooled one, and a per-judge summary with the rank correlation
    against the simulator's latent quality where every ranked model is simulated."""
    truth = inputs.truth.set_index("model")["quality"] if len(inputs.truth) else pd.Series(dtype=float)
    boards, summary = [], []
    groups = [(j, g) for j, g in inputs.judgments.groupby("judge_model")]
    if len(groups) > 1:
        groups.append((POOLED, inputs.judgments))
    elif groups:
        groups.append((POOLED, groups[0][1]))
    for judge, frame in groups:
        board = _board(frame, config.leaderboard.bootstrap_rounds, config.leaderboard.seed)
        if board.empty:
            continue
        board.insert(0, "judge_model", judge)
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
    return board[columns("leaderboard")], pd.DataFrame(summary)


def _is_sim(config: Config, model: str) -> bool:
    return any(m.name == model and m.is_simulated for m in config.models)
