"""Each judge's board with style held fixed: Arena's style-controlled Bradley–Terry and AlpacaEval 2.0's
length-controlled win rate against a baseline. Both need the two answers' texts, so they exist for our own
judges and the pooled board, never for external votes (which carry no answers)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import ranking
from ..config import Config
from ..warehouse import Warehouse

STYLE_COLUMNS = ["style_elo", "style_elo_low", "style_elo_high"]
LC_COLUMNS = ["lc_win_rate", "lc_win_rate_se"]


@dataclass
class AnswerTexts:
    """The answer text of every response a pairwise judgment compared, and each prompt's turns."""

    texts: pd.Series  # response_id -> text
    turns: pd.Series  # prompt_id -> list of user turns


def load_answer_texts(wh: Warehouse) -> AnswerTexts:
    texts = wh.query("""SELECT response_id, text FROM responses WHERE response_id IN (
                            SELECT response_a_id FROM judgments WHERE mode = 'pairwise'
                            UNION SELECT response_b_id FROM judgments WHERE mode = 'pairwise')""")
    turns = wh.query("SELECT prompt_id, turns FROM prompts")
    return AnswerTexts(texts.set_index("response_id")["text"], turns.set_index("prompt_id")["turns"])


def answered_pairs(judgments: pd.DataFrame, answers: AnswerTexts) -> pd.DataFrame:
    """Pairwise verdicts between two models with both answers' texts (text_a, text_b)."""
    pairs = judgments[(judgments["mode"] == "pairwise") & judgments["winner"].notna()
                      & (judgments["model_a"] != judgments["model_b"])]
    pairs = pairs.assign(text_a=pairs["response_a_id"].map(answers.texts),
                         text_b=pairs["response_b_id"].map(answers.texts))
    return pairs.dropna(subset=["text_a", "text_b"])


def lc_baseline(config: Config) -> str | None:
    """The model LC win rates are measured against: judging.baseline_model, else the first responder."""
    return config.judging.baseline_model or (config.responders[0] if config.responders else None)


def style_board(pairs: pd.DataFrame, rounds: int, seed: int
                ) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(per-model style-controlled Elo with its interval, the fitted style coefficients), or None when the
    comparisons cannot support the fit (too few, or a disconnected graph)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ranking.RankingWarning)
            fit = ranking.style_control(pairs["model_a"], pairs["model_b"], pairs["winner"], pairs["text_a"],
                                        pairs["text_b"], labels=("model_a", "model_b", "tie"), rounds=rounds,
                                        seed=seed)
    except ranking.RankingError:
        return None
    return fit.table()[["model", *STYLE_COLUMNS]], fit.coefficient_table()


def lc_annotations(pairs: pd.DataFrame, answers: AnswerTexts, baseline: str) -> pd.DataFrame:
    """AlpacaEval's annotation frame for the verdicts against `baseline`: output_1 the baseline's answer,
    output_2 the model's, preference 1 (baseline won), 2 (model won) or 1.5 (tie), one row per (prompt, turn)
    and model, labelled by prompt and turn so the instruction difficulty is shared across models."""
    against = pairs[(pairs["model_a"] == baseline) | (pairs["model_b"] == baseline)]
    if against.empty:
        return pd.DataFrame()
    first = (against["model_a"] == baseline).to_numpy()
    won_a, won_b = (against["winner"] == "model_a").to_numpy(), (against["winner"] == "model_b").to_numpy()
    preference = np.select([np.where(first, won_a, won_b), np.where(first, won_b, won_a)], [1.0, 2.0], 1.5)
    turn = against["turn"].astype(int).to_numpy()
    frame = pd.DataFrame({
        "instruction": [answers.turns[p][t - 1] for p, t in zip(against["prompt_id"], turn, strict=True)],
        "output_1": np.where(first, against["text_a"], against["text_b"]),
        "output_2": np.where(first, against["text_b"], against["text_a"]),
        "generator_1": baseline,
        "generator_2": np.where(first, against["model_b"], against["model_a"]),
        "preference": preference,
    }, index=against["prompt_id"].astype(str) + "/" + against["turn"].astype(str))
    # both orders of one pair (a judge asked twice, or several judges pooled) count as one annotation each,
    # averaged, as AlpacaEval averages its annotators
    keyed = frame.set_index("generator_2", append=True)
    first = keyed[~keyed.index.duplicated()]
    mean = keyed.groupby(level=[0, 1])["preference"].mean()
    return first.assign(preference=mean.reindex(first.index).to_numpy()).reset_index("generator_2")


def lc_board(annotations: pd.DataFrame) -> pd.DataFrame | None:
    """Per model: AlpacaEval 2.0's length-controlled win rate against the baseline and its standard error,
    as fractions (AlpacaEval's percent / 100); None when there is nothing to fit."""
    if annotations.empty:
        return None
    models = annotations["generator_2"].unique()
    difficulty = None if len(models) >= 2 else pd.Series(0.0, index=annotations.index.unique())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = ranking.length_controlled_win_rates(annotations, instruction_difficulty=difficulty)
    except ranking.RankingError:
        return None
    table = table.reset_index()
    return pd.DataFrame({"model": table["model"],
                         "lc_win_rate": table["length_controlled_winrate"] / 100.0,
                         "lc_win_rate_se": table["lc_standard_error"] / 100.0})
