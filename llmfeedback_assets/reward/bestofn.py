"""Best-of-n reranking with reward models and win rates against a reference model.

Each responder samples n responses per prompt; each reward model picks the response it scores highest; a
judge then compares every pick with the reference model's response, once by rating both (higher rating
wins) and once by ranking the two (asked in both orders). Ties count as half a win.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from llmfeedback_assets.embedding import EmbeddingStore
from llmfeedback_assets.reward.data import TrainResult
from llmfeedback_assets.reward.feedback import clean_input, format_prompt, normalize_ranking

if TYPE_CHECKING:
    from llmfeedback_assets.reward.network import RewardModel

Z_95 = 1.959963984540054


class WinRateError(ValueError):
    """Inputs that cannot give a win rate (no overlap, duplicates, unknown outcomes)."""


def _default_keys(df: pd.DataFrame) -> list[str]:
    if "prompt_id" in df.columns:
        keys = ["prompt_id"]
    elif "instruction" in df.columns:
        keys = ["instruction", "input"] if "input" in df.columns else ["instruction"]
    elif "prompt" in df.columns:
        keys = ["prompt"]
    else:
        raise WinRateError(
            f"need a prompt key: prompt_id, instruction(+input) or prompt; has {list(df.columns)}")
    return (["responder_model"] if "responder_model" in df.columns else []) + keys


def pick_best(candidates_df: pd.DataFrame, scores: Sequence[float] | np.ndarray, *,
              by: Sequence[str] | None = None) -> pd.DataFrame:
    """Per prompt (and per responder when a `responder_model` column exists) the highest-scored candidate.

    Returns those rows with `reward` (the winning score) and `n_candidates`. Equal top scores go to the
    first candidate in input order, so the pick is deterministic.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) != len(candidates_df):
        raise WinRateError(f"pick_best: {len(scores)} scores for {len(candidates_df)} candidates")
    if len(scores) == 0:
        raise WinRateError("pick_best: no candidates")
    if not np.isfinite(scores).all():
        raise WinRateError(f"pick_best: {int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    keys = list(by) if by is not None else _default_keys(candidates_df)
    df = candidates_df.reset_index(drop=True).assign(reward=scores, _order=np.arange(len(scores)))
    for k in keys:
        if k not in df.columns:
            raise WinRateError(f"pick_best: no column {k!r} to group by")
    grouped = df.groupby(keys, sort=False, dropna=False)
    counts = grouped["reward"].transform("size")
    best = df.assign(n_candidates=counts).sort_values(["reward", "_order"], ascending=[False, True])
    best = best.drop_duplicates(keys, keep="first").sort_values("_order")
    return best.drop(columns="_order").reset_index(drop=True)


def _prompts_of(df: pd.DataFrame) -> list[str]:
    if "prompt" in df.columns:
        return df["prompt"].astype(str).tolist()
    if "instruction" in df.columns:
        inputs = df["input"] if "input" in df.columns else [""] * len(df)
        return [format_prompt(str(i), clean_input(x)) for i, x in zip(df["instruction"], inputs, strict=True)]
    raise WinRateError(f"candidates need a 'prompt' or 'instruction' column; has {list(df.columns)}")


def rerank_best_of_n(candidates: pd.DataFrame, reward_models: Mapping[str, RewardModel | TrainResult], *,
                     by: Sequence[str] | None = None, batch_size: int = 32,
                     store: EmbeddingStore | None = None) -> pd.DataFrame:
    """The reranked_responses table: for every reward model, its pick per (responder, prompt).

    `candidates`: one row per sampled response (response, a prompt key, optionally responder_model,
    sample_index). Output columns: reward_model, the candidate's columns, reward, n_candidates; the frame's
    attrs["n_overlong"] gives, per reward model, how many candidates were truncated to fit.
    Frozen models read the candidates' embeddings from `store` (default: one shared by the models of this
    call), so models on one backbone cost one embedding pass over the candidates the store lacks.
    """
    if "response" not in candidates.columns:
        raise WinRateError(f"candidates need a 'response' column; has {list(candidates.columns)}")
    if not reward_models:
        raise WinRateError("rerank_best_of_n: no reward models given")
    # torch loads here, only when reranking
    from llmfeedback_assets.reward.network import as_model, count_overlong, score

    store = store if store is not None else EmbeddingStore()
    prompts = _prompts_of(candidates)
    responses = candidates["response"].astype(str).tolist()
    frames, overlong, counted = [], {}, {}
    for name, model in reward_models.items():
        picks = pick_best(candidates, score(model, prompts, responses, batch_size=batch_size, store=store),
                          by=by)
        frames.append(picks.assign(reward_model=name))
        same = as_model(model).embedding_backbone  # same tokenizer and max length: count once
        if not same or same not in counted:
            n = count_overlong(model, prompts, responses)
            counted[same or name] = n
        overlong[name] = counted[same or name]
    out = pd.concat(frames, ignore_index=True)
    out = out[["reward_model"] + [c for c in out.columns if c != "reward_model"]]
    out.attrs["n_overlong"] = overlong
    return out


# -- win rates -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WinRate:
    """Share of comparisons the pick wins against the reference, ties counted half, with a 95% interval."""

    rate: float
    low: float
    high: float
    n: int
    wins: int
    ties: int
    losses: int
    method: str = "wilson"
    n_invalid: int = 0
    # the sparse-feedback paper's interval, rate ± 1.96·SEM of the outcomes (scipy.stats.sem, ddof 1): what
    # its win-rate scripts print; it can leave [0, 1] and is NaN for one comparison
    sem_low: float = math.nan
    sem_high: float = math.nan

    def as_dict(self) -> dict:
        return asdict(self)


_OUTCOME_VALUES = {"win": 1.0, "tie": 0.5, "loss": 0.0}


def _outcome_values(outcomes: Iterable) -> np.ndarray:
    values = []
    for i, o in enumerate(outcomes):
        if isinstance(o, str):
            v = _OUTCOME_VALUES.get(o.strip().lower())
        else:
            v = float(o) if o is not None else None
            v = v if v in (0.0, 0.5, 1.0) else None
        if v is None:
            raise WinRateError(f"outcome {i}: {o!r} is not win/tie/loss or 1/0.5/0")
        values.append(v)
    return np.asarray(values, dtype=np.float64)


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion successes/n (successes may be fractional: half-ties)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (float(max(0.0, center - half)), float(min(1.0, center + half)))


def win_rate(outcomes: Iterable, *, method: str = "wilson", n_boot: int = 2000, seed: int = 0,
             n_invalid: int = 0) -> WinRate:
    """Win rate of a pick against a reference from outcomes "win"/"tie"/"loss" (or 1/0.5/0).

    Interval: `wilson` (default) is the Wilson score interval on the half-tie rate with n comparisons. A tie
    (0.5) varies less than a Bernoulli outcome, so treating the rate as binomial is slightly conservative
    when there are ties. `bootstrap`: the 2.5/97.5 percentiles of `n_boot` resampled rates (seeded).
    """
    values = _outcome_values(outcomes)
    n = len(values)
    if n == 0:
        raise WinRateError("win_rate: no comparisons (all missing or unparsed?)")
    wins, ties = int((values == 1.0).sum()), int((values == 0.5).sum())
    rate = float(values.mean())
    if method == "wilson":
        low, high = wilson_interval(values.sum(), n)
    elif method == "bootstrap":
        rng = np.random.default_rng(seed)
        means = values[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        low, high = (float(x) for x in np.quantile(means, [0.025, 0.975]))
    else:
        raise WinRateError(f"win_rate: method must be 'wilson' or 'bootstrap', got {method!r}")
    half = 1.96 * float(values.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan  # upstream's 1.96
    return WinRate(rate=rate, low=low, high=high, n=n, wins=wins, ties=ties, losses=n - wins - ties,
                   method=method, n_invalid=n_invalid, sem_low=rate - half, sem_high=rate + half)


def win_rate_frame(rates: Mapping[str, WinRate]) -> pd.DataFrame:
    """One row per named win rate (e.g. "rankings_rm / by ratings"): rate, 95% interval and sample sizes."""
    rows = [{"name": name, **wr.as_dict()} for name, wr in rates.items()]
    cols = ["name", "rate", "low", "high", "sem_low", "sem_high", "n", "wins", "ties", "losses", "n_invalid",
            "method"]
    return pd.DataFrame(rows, columns=cols)


def _key_columns(a: pd.DataFrame, b: pd.DataFrame, on: Sequence[str] | None) -> list[str]:
    if on is not None:
        return list(on)
    for keys in (["prompt_id"], ["instruction", "input"], ["prompt"]):
        if all(k in a.columns and k in b.columns for k in keys):
            return keys
    raise WinRateError(f"no shared prompt key: {list(a.columns)} vs {list(b.columns)}")


def _keyed(df: pd.DataFrame, keys: list[str], what: str) -> pd.DataFrame:
    missing = [c for c in keys + ["score"] if c not in df.columns]
    if missing:
        raise WinRateError(f"{what} ({df.attrs.get('source', what)}): missing column(s) {missing}")
    out = df[keys + ["score"]].copy()
    if "input" in keys:
        out["input"] = out["input"].map(clean_input)
    dupes = out.duplicated(keys)
    if dupes.any():
        raise WinRateError(
            f"{what} ({df.attrs.get('source', what)}): {int(dupes.sum())} prompts rated more than once; "
            "a win rate needs one pick and one reference response per prompt"
        )
    out["score"] = pd.to_numeric(out["score"], errors="coerce")
    return out


def outcomes_from_ratings(picks: pd.DataFrame, reference: pd.DataFrame, *, on: Sequence[str] | None = None
                          ) -> tuple[pd.Series, int]:
    """win/tie/loss per prompt rated in both tables (pick's rating vs the reference's), and the number of
    matched prompts dropped because a rating is missing (a parse failure)."""
    keys = _key_columns(picks, reference, on)
    p = _keyed(picks, keys, "pick ratings")
    r = _keyed(reference, keys, "reference ratings")
    m = p.merge(r, on=keys, suffixes=("_pick", "_ref"))
    if m.empty:
        raise WinRateError(
            f"pick ratings ({picks.attrs.get('source', 'picks')}, {len(picks)} rows) and reference ratings "
            f"({reference.attrs.get('source', 'reference')}, {len(reference)} rows) share no prompt on {keys}"
        )
    valid = m["score_pick"].notna() & m["score_ref"].notna()
    m = m[valid]
    outcome = np.where(m["score_pick"] > m["score_ref"], "win",
                       np.where(m["score_pick"] < m["score_ref"], "loss", "tie"))
    return pd.Series(outcome, index=m.index, name="outcome"), int((~valid).sum())


def outcomes_from_rankings(rankings: pd.DataFrame, *, pick_slot: str = "b") -> tuple[pd.Series, int]:
    """win/tie/loss from rankings of (reference, pick) pairs; `pick_slot` says which response is the pick
    ("b": response2). Missing rankings (parse failures) are dropped and counted."""
    if pick_slot not in ("a", "b"):
        raise WinRateError(f"pick_slot must be 'a' or 'b', got {pick_slot!r}")
    if "ranking" not in rankings.columns:
        raise WinRateError(f"rankings ({rankings.attrs.get('source', 'rankings')}): no 'ranking' column")
    try:
        verdict = rankings["ranking"].map(normalize_ranking)
    except ValueError as exc:
        raise WinRateError(f"rankings ({rankings.attrs.get('source', 'rankings')}): {exc}") from None
    valid = verdict.notna()
    v = verdict[valid]
    outcome = np.where(v == "equal", "tie", np.where(v == pick_slot, "win", "loss"))
    return pd.Series(outcome, index=v.index, name="outcome"), int((~valid).sum())


def win_rate_by_ratings(picks: pd.DataFrame, reference: pd.DataFrame, *, on: Sequence[str] | None = None,
                        method: str = "wilson") -> WinRate:
    """Win rate when the judge rated the pick and the reference response separately (1–7)."""
    outcomes, n_invalid = outcomes_from_ratings(picks, reference, on=on)
    return win_rate(outcomes, method=method, n_invalid=n_invalid)


def win_rate_by_rankings(rankings: pd.DataFrame, *, pick_slot: str = "b", method: str = "wilson") -> WinRate:
    """Win rate when the judge ranked (reference, pick) pairs."""
    outcomes, n_invalid = outcomes_from_rankings(rankings, pick_slot=pick_slot)
    return win_rate(outcomes, method=method, n_invalid=n_invalid)


def comparison_pairs(picks: pd.DataFrame, reference: pd.DataFrame, *, on: Sequence[str] | None = None
                     ) -> pd.DataFrame:
    """Pairs for the ranking judge: response1 = the reference's response, response2 = the pick
    (so `pick_slot="b"`). Both frames need `response`; prompts present in only one are left out."""
    keys = _key_columns(picks, reference, on)
    for what, df in (("picks", picks), ("reference", reference)):
        if "response" not in df.columns:
            raise WinRateError(f"{what}: missing column 'response'")
    extra = [c for c in ("reward_model", "responder_model") if c in picks.columns]
    ref = reference[keys + ["response"]].rename(columns={"response": "response1"})
    if ref.duplicated(keys).any():
        raise WinRateError("reference: more than one response per prompt")
    m = picks[keys + extra + ["response"]].rename(columns={"response": "response2"}).merge(ref, on=keys)
    if m.empty:
        raise WinRateError(f"picks and reference responses share no prompt on {keys}")
    cols = keys + extra + ["response1", "response2"]
    return m[cols].reset_index(drop=True)
