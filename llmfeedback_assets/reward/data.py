"""Reward-model training data: preference pairs and rated responses split by prompt, tokenisation of
(prompt, response) pairs with truncation reporting, and the result of a training run.

Nothing here imports torch: the frames, splits and reports are plain pandas/numpy, and the tokenizer is
loaded only when a model is built or loaded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from llmfeedback_assets.embedding import encoder as embed
from llmfeedback_assets.reward.feedback import (
    RATING_MAX,
    RATING_MIN,
    clean_input,
    format_prompt,
    normalize_ranking,
)

if TYPE_CHECKING:
    from llmfeedback_assets.reward.network import RewardModel

# Backbones are local folders; never reach for the Hub (the project runs offline).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

Objective = Literal["rankings", "ratings"]
Mode = Literal["frozen", "full"]
Overlong = Literal["truncate", "drop"]
Precision = Literal["fp32", "bf16"]


class RewardModelError(ValueError):
    """A reward-model problem the user can act on: no usable data, a missing or corrupt saved model."""


# -- training data ---------------------------------------------------------------------------------------


def _source(df, what: str, default: str) -> str:
    """The frame's name for messages (`df.attrs["source"]`); anything but a DataFrame is an error."""
    if not isinstance(df, pd.DataFrame):
        raise RewardModelError(f"{what}: expected a DataFrame, got {type(df).__name__}")
    return df.attrs.get("source", default)


def _prompt_column(df: pd.DataFrame, what: str) -> pd.Series:
    if "prompt" in df.columns:
        return df["prompt"].astype(str)
    if "instruction" in df.columns:
        inputs = df["input"] if "input" in df.columns else pd.Series([""] * len(df), index=df.index)
        return pd.Series(
            [format_prompt(str(i), clean_input(x)) for i, x in zip(df["instruction"], inputs, strict=True)],
            index=df.index,
        )
    raise RewardModelError(
        f"{what}: need a 'prompt' column or 'instruction' (+ 'input'); has {list(df.columns)}")


def _normalize_winner(value) -> str | None:
    """'a'/'b'/'equal' from rankings ('(a)') or pairwise judgments ('A', 'model_a', 'tie'...)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip().lower()
    aliases = {"model_a": "a", "model_b": "b", "response1": "a", "response2": "b", "left": "a",
               "right": "b", "1": "a", "2": "b"}
    if text in aliases:
        return aliases[text]
    if text.startswith("tie"):
        return "equal"
    return normalize_ranking(text)


def _split_groups(groups: pd.Series, val_fraction: float, seed: int) -> np.ndarray:
    """A boolean validation mask that never splits one group (prompt) across train and validation."""
    if not 0.0 <= val_fraction < 1.0:
        raise RewardModelError(f"val_fraction must be in [0, 1), got {val_fraction}")
    unique = np.array(sorted(groups.unique()), dtype=object)
    if val_fraction == 0.0 or len(unique) < 2:
        return np.zeros(len(groups), dtype=bool)
    n_val = min(max(1, round(len(unique) * val_fraction)), len(unique) - 1)
    rng = np.random.default_rng(seed)
    val_groups = set(unique[rng.permutation(len(unique))[:n_val]])
    return groups.isin(val_groups).to_numpy()


def _split_by_prompt(rows: pd.DataFrame, val_fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, val): the rows of a random share of the prompts go to validation."""
    is_val = _split_groups(rows["prompt"], val_fraction, seed)
    return rows[~is_val].reset_index(drop=True), rows[is_val].reset_index(drop=True)


@dataclass
class _PromptSplit:
    """Training and validation frames that share no prompt, and how many input rows they came from."""

    train: pd.DataFrame
    val: pd.DataFrame
    n_rows: int

    def _split_summary(self, unit: str) -> dict:
        return {
            "n_rows": self.n_rows,
            f"n_train_{unit}": len(self.train),
            f"n_val_{unit}": len(self.val),
            "n_train_prompts": int(self.train["prompt"].nunique()),
            "n_val_prompts": int(self.val["prompt"].nunique()),
        }


@dataclass
class PreferencePairs(_PromptSplit):
    """Chosen/rejected pairs split by prompt. Frames have columns prompt, chosen, rejected[, margin]."""

    n_ties: int
    n_unparsed: int
    n_identical: int

    def summary(self) -> dict:
        return self._split_summary("pairs") | {
            "n_ties_dropped": self.n_ties,
            "n_unparsed_dropped": self.n_unparsed,
            "n_identical_dropped": self.n_identical,
        }


def preference_pairs(df: pd.DataFrame, val_fraction: float = 0.2, seed: int = 0) -> PreferencePairs:
    """Chosen/rejected pairs from rankings or pairwise judgments, split into train/validation by prompt.

    Accepted inputs (prompt given as `prompt` or `instruction` + `input`):
    - (chosen, rejected): already-oriented pairs (e.g. `read_rankings_json`);
    - (response1, response2, ranking) with ranking a/b/equal or (a)/(b);
    - (response_a, response_b, winner) with winner a/b/model_a/model_b/tie.
    An optional `margin` column is kept. Ties, parse failures (missing verdicts) and pairs of identical
    responses are dropped and counted; no usable pair at all raises RewardModelError.
    """
    source = _source(df, "preference_pairs", "preference data")
    prompt = _prompt_column(df, source)
    if {"chosen", "rejected"} <= set(df.columns):
        winner = pd.Series(["a"] * len(df), index=df.index, dtype=object)
        first, second = df["chosen"], df["rejected"]
    elif {"response1", "response2", "ranking"} <= set(df.columns):
        first, second, winner = df["response1"], df["response2"], df["ranking"]
    elif {"response_a", "response_b", "winner"} <= set(df.columns):
        first, second, winner = df["response_a"], df["response_b"], df["winner"]
    else:
        raise RewardModelError(
            f"{source}: need columns (chosen, rejected), (response1, response2, ranking) or "
            f"(response_a, response_b, winner); has {list(df.columns)}"
        )
    try:
        verdict = winner.map(_normalize_winner)
    except ValueError as exc:
        raise RewardModelError(f"{source}: {exc}") from None
    n_unparsed = int(verdict.isna().sum())
    n_ties = int((verdict == "equal").sum())
    decided = verdict.isin(["a", "b"])
    chosen = np.where(verdict == "a", first.astype(str), second.astype(str))
    rejected = np.where(verdict == "a", second.astype(str), first.astype(str))
    out = pd.DataFrame({"prompt": prompt.to_numpy(), "chosen": chosen, "rejected": rejected})
    if "margin" in df.columns:
        out["margin"] = pd.to_numeric(df["margin"], errors="coerce").fillna(0.0).to_numpy()
    identical = decided.to_numpy() & (out["chosen"] == out["rejected"]).to_numpy()
    keep = decided.to_numpy() & ~identical
    out = out[keep].reset_index(drop=True)
    if out.empty:
        raise RewardModelError(
            f"{source}: no usable preference pairs in {len(df)} rows ({n_ties} ties, {n_unparsed} parse "
            f"failures or missing verdicts, {int(identical.sum())} identical responses)"
        )
    train, val = _split_by_prompt(out, val_fraction, seed)
    return PreferencePairs(train=train, val=val, n_rows=len(df), n_ties=n_ties, n_unparsed=n_unparsed,
                           n_identical=int(identical.sum()))


@dataclass
class RatingExamples(_PromptSplit):
    """Rated responses split by prompt. Frames have columns prompt, response, score (1–7)."""

    n_unparsed: int

    def summary(self) -> dict:
        return self._split_summary("ratings") | {"n_unparsed_dropped": self.n_unparsed}


def _require_columns(df: pd.DataFrame, needed: Sequence[str], what: str) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise RewardModelError(f"{what}: missing column(s) {missing}; has {list(df.columns)}")


def rating_examples(df: pd.DataFrame, val_fraction: float = 0.2, seed: int = 0) -> RatingExamples:
    """Rated responses (prompt or instruction+input, response, score) split by prompt. Missing scores
    (parse failures) are dropped and counted; a score outside 1–7 is an error naming the row."""
    source = _source(df, "rating_examples", "ratings")
    _require_columns(df, ("response", "score"), source)
    prompt = _prompt_column(df, source)
    score = pd.to_numeric(df["score"], errors="coerce").astype(float)
    bad = score.notna() & ~score.between(RATING_MIN, RATING_MAX)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise RewardModelError(f"{source} row {i}: score {score.iloc[i]} outside {RATING_MIN}–{RATING_MAX}")
    out = pd.DataFrame({"prompt": prompt.to_numpy(), "response": df["response"].astype(str).to_numpy(),
                        "score": score.to_numpy()})
    n_unparsed = int(out["score"].isna().sum())
    out = out.dropna(subset=["score"]).reset_index(drop=True)
    if out.empty:
        raise RewardModelError(f"{source}: no usable ratings in {len(df)} rows ({n_unparsed} parse failures)")
    train, val = _split_by_prompt(out, val_fraction, seed)
    return RatingExamples(train, val, n_rows=len(df), n_unparsed=n_unparsed)


def pairs_from_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """All within-prompt pairs of differently rated responses, the higher-rated one chosen."""
    rows = []
    for prompt, group in ratings.groupby("prompt", sort=False):
        items = list(zip(group["response"], group["score"], strict=True))
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                (ri, si), (rj, sj) = items[i], items[j]
                if si != sj and ri != rj:
                    rows.append((prompt, ri, rj) if si > sj else (prompt, rj, ri))
    return pd.DataFrame(rows, columns=["prompt", "chosen", "rejected"])


def restrict_to_unseen(df: pd.DataFrame | None, train_prompts: set[str], what: str) -> pd.DataFrame | None:
    """Rated rows whose prompt was not trained on (so a figure on them is a validation figure)."""
    if df is None:
        return None
    _require_columns(df, ("response", "score"), what)
    prompt = _prompt_column(df, what)
    return df[~prompt.isin(train_prompts).to_numpy()].assign(prompt=prompt[~prompt.isin(train_prompts)])


# -- tokenisation ----------------------------------------------------------------------------------------


@dataclass
class TruncationReport:
    """How many (prompt, response) texts exceeded the model's maximum length, and what was done."""

    max_length: int
    policy: str
    n_texts: int = 0
    n_overlong: int = 0
    n_dropped_examples: int = 0


def load_tokenizer(path: str):
    """The tokenizer of a local backbone or saved model, with a pad token (decoders ship without one)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:  # decoder-only backbones (GPT-2, Llama) ship without one
        tok.pad_token = tok.eos_token or tok.unk_token
    if tok.pad_token is None:
        raise RewardModelError(f"tokenizer at {path} has no pad, eos or unk token to pad with")
    return tok


def encode(tok, prompts: Sequence[str], responses: Sequence[str], max_length: int):
    """Token ids (truncated, longest side first) and whether each text was longer than max_length."""
    prompts, responses = list(prompts), list(responses)
    if not prompts:
        return [], [], np.zeros(0, dtype=bool)
    overlong = embed.token_counts(tok, [prompts, responses]) > max_length
    ids, type_ids = embed.tokenize_chunked(tok, [prompts, responses], max_length)
    return ids, type_ids, overlong


# -- the result of training ------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """A trained reward model with what a person needs to judge it."""

    model: RewardModel
    objective: Objective
    mode: Mode
    curves: dict[str, list[tuple[int, float]]]
    val_pairwise_accuracy: float | None
    val_rating_correlation: float | None
    n_val_pairs: int
    n_val_ratings: int
    truncation: TruncationReport
    data: dict
    config: dict
    train_seconds: float
    embed_seconds: float
    examples_per_s: float
    notes: list[str] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)  # wall time of every optimizer step
    cpu_seconds: float = 0.0  # process CPU time of embedding + training (all threads)
    # the objective's metrics (e.g. pairwise accuracy, reward margin) per step (train_*) and epoch (val_*)
    metric_curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def metrics(self) -> dict:
        last = {k: (v[-1][1] if v else None) for k, v in self.curves.items()}
        return {
            "val_pairwise_accuracy": self.val_pairwise_accuracy,
            "val_rating_correlation_spearman": self.val_rating_correlation,
            "n_val_pairs": self.n_val_pairs,
            "n_val_ratings": self.n_val_ratings,
            "final_train_loss": last.get("train_loss"),
            "final_val_loss": last.get("val_loss"),
            "train_seconds": round(self.train_seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "train_examples_per_s": round(self.examples_per_s, 2),
        }

    def card(self) -> dict:
        return {"objective": self.objective, "mode": self.mode, "data": self.data,
                "truncation": asdict(self.truncation), "metrics": self.metrics(), "config": self.config,
                "notes": self.notes}
