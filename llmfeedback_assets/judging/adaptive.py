"""Adaptive pair selection: judge in rounds and spend each round where the ranking is least certain.

All-pairs judging spends most of its calls on pairs whose order is already plain (a strong model against a
weak one). Here the pairs are picked in rounds. After each round the comparisons so far are fitted
(Bradley–Terry with a weak prior, so a few rounds already give finite scores) and bootstrapped (Poisson, a
hundred rounds: milliseconds for tens of models). For every pair of models (i, j) that gives the estimated
log-strength gap d and its bootstrap spread s. Under that uncertainty, the chance that the final ranking
orders i and j wrongly is M(σ) = E[Φ(-|Δ|/σ)] with Δ ~ N(d, s²) and σ the spread once the extra comparisons
are in; one more comparison adds p(1-p) of Fisher information (p = P(i beats j), discounted by the share of
ties), so σ shrinks as 1/σ² = 1/s² + k·p(1-p). The next round goes, comparison by comparison, to the pair
whose expected misorder falls most per judge call (greedy, with diminishing returns inside the round). This
is the expected drop of the Kendall distance to the truth, the measure the ranking is judged by: settled pairs
(|d| much larger than s) get nothing, neighbours whose intervals overlap get most, as in Chatbot Arena's
active sampling (which spends votes where one more vote shrinks an interval most).

The first round, with nothing judged yet, is a set of seeded random cycles through all models: every model
gets the same number of comparisons and the comparison graph is connected from the start.

Candidates are ``prompt_id, model_a, model_b, calls`` rows: a pair of answers to one prompt and what judging
it costs (two calls per judged turn, one per order). Inside a model pair, prompts are taken in a seeded order
fixed by (seed, prompt, pair), so which prompt a pick lands on never depends on the round it falls in.
Everything is a function of (candidates, judgments so far, settings): a rerun that gets the same verdicts (a
partition answered from the journal) picks the same rounds, and so asks for the same requests.
"""

from __future__ import annotations

import heapq
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..ids import seed_for
from ..ranking import RankingWarning, aggregate_frame, bootstrap_bradley_terry, fit_bradley_terry
from ..ranking.bt import ELO_SCALE

CANDIDATE_COLUMNS = ["prompt_id", "model_a", "model_b", "calls"]
VERDICT_COLUMNS = ["prompt_id", "model_a", "model_b", "winner"]
WINNERS = ("model_a", "model_b", "tie")
BOOTSTRAP_ROUNDS = 100  # enough to rank pairs by uncertainty; the leaderboard's intervals use its own rounds
PRIOR = 1.0  # virtual ties per compared pair: finite scores even when a model has not lost yet
UNKNOWN_SD = 4.0  # spread of a log-strength gap nothing measures yet (models in different parts, or unjudged)
AUTO_ROUNDS = 8  # without a round size, the budget is spent in about this many rounds
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def resolve_budget(budget: float, all_calls: int) -> int:
    """Judge calls allowed: a share of all-pairs' calls when 0 < budget <= 1, else a count (capped at
    all-pairs')."""
    if not (isinstance(budget, int | float) and math.isfinite(budget) and budget > 0):
        raise ValueError(f"budget must be a positive number, got {budget!r}")
    if budget <= 1:
        return int(math.floor(budget * all_calls + 1e-9))
    if not float(budget).is_integer():
        raise ValueError(f"a budget above 1 is a number of judge calls and must be whole, got {budget!r}")
    return min(int(budget), int(all_calls))


def auto_round_size(candidates: pd.DataFrame, budget_calls: int) -> int:
    """Pairs per round when none is configured: the budget in about AUTO_ROUNDS rounds, and at least one
    comparison per model."""
    if not len(candidates):
        return 1
    n_models = len(set(candidates["model_a"]) | set(candidates["model_b"]))
    per_pair = float(candidates["calls"].mean())
    return max(n_models, int(math.ceil(budget_calls / per_pair / AUTO_ROUNDS)))


@dataclass(frozen=True)
class Estimate:
    """Where the ranking stands: log-strengths, the bootstrap spread of every gap, 95% widths in Elo."""

    models: list[str]
    log_strength: np.ndarray  # (n,)
    gap_sd: np.ndarray  # (n, n) bootstrap sd of log p_i - log p_j; UNKNOWN_SD where nothing links them
    widths: pd.Series  # 95% interval width per model, Elo points (inf: not comparable yet)
    tie_share: float


@dataclass(frozen=True)
class NextRound:
    """The next round's pairs (empty: stop, and `stop` says why) and the state it was chosen from."""

    pairs: pd.DataFrame
    stop: str | None  # None, "budget", "target_width" or "exhausted"
    calls_used: int  # calls of the candidates judged so far
    widths: pd.Series  # 95% interval widths (Elo points) before this round; empty before any judgment


def _key(prompt_id, a, b) -> tuple[str, str, str]:
    a, b = str(a), str(b)
    return (str(prompt_id), a, b) if a <= b else (str(prompt_id), b, a)


def check_candidates(candidates: pd.DataFrame) -> pd.DataFrame:
    """Candidates with the expected columns, one row per (prompt, unordered pair), positive calls."""
    missing = [c for c in CANDIDATE_COLUMNS if c not in candidates.columns]
    if missing:
        raise ValueError(f"candidates: missing column(s) {missing}; have {list(candidates.columns)}")
    keys = [_key(*t) for t in zip(candidates["prompt_id"], candidates["model_a"], candidates["model_b"],
                                  strict=True)]
    if len(set(keys)) != len(keys):
        raise ValueError("candidates: a (prompt, pair) is listed twice")
    if any(a == b for _, a, b in keys):
        raise ValueError("candidates: a model is paired with itself")
    calls = pd.to_numeric(candidates["calls"], errors="coerce")
    if calls.isna().any() or (calls < 1).any():
        raise ValueError("candidates: calls must be whole numbers >= 1")
    return candidates[CANDIDATE_COLUMNS].reset_index(drop=True)


def estimate(judged: pd.DataFrame, models: list[str], seed: int = 0,
             bootstrap_rounds: int = BOOTSTRAP_ROUNDS) -> Estimate | None:
    """Fit and bootstrap the comparisons so far (rows with a winner); None when there are none."""
    comp = judged[judged["winner"].isin(WINNERS)]
    if not len(comp):
        return None
    table = aggregate_frame(comp[["model_a", "model_b", "winner"]].astype({"model_a": str, "model_b": str}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankingWarning)
        fit = fit_bradley_terry(table, prior=PRIOR, disconnected="per_component")
    boot = bootstrap_bradley_terry(table, fit.to_numpy(), rounds=bootstrap_rounds, method="poisson",
                                   seed=seed, prior=PRIOR)
    index = {m: k for k, m in enumerate(models)}
    n = len(models)
    logs = np.full((boot.samples.shape[0], n), np.nan)
    log_strength = np.zeros(n)
    seen = [index[str(m)] for m in table.models]
    with np.errstate(divide="ignore"):
        logs[:, seen] = np.log(boot.samples)
        log_strength[seen] = np.log(fit.to_numpy())
    logs[~np.isfinite(logs)] = np.nan
    diffs = logs[:, :, None] - logs[:, None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: models never compared
        sd = np.nanstd(diffs, axis=0)
        elo = (logs - np.nanmean(logs, axis=1, keepdims=True)) * ELO_SCALE / math.log(10)
        widths = np.nanquantile(elo, 0.975, axis=0) - np.nanquantile(elo, 0.025, axis=0)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, UNKNOWN_SD)
    widths = np.where(np.isfinite(widths), widths, np.inf)
    parts = fit.attrs.get("components")
    if parts is not None:  # gaps across parts are unknown, and so is the ranking as a whole
        part = np.array([parts.get(m, -1) for m in models])
        sd = np.where(part[:, None] == part[None, :], sd, UNKNOWN_SD)
        widths[:] = np.inf
    unseen = np.setdiff1d(np.arange(n), seen)
    sd[unseen, :] = UNKNOWN_SD
    sd[:, unseen] = UNKNOWN_SD
    widths[unseen] = np.inf
    ties = float((comp["winner"] == "tie").mean())
    return Estimate(models, log_strength, sd, pd.Series(widths, index=models, name="width_elo"), ties)


def _misorder(sigma: float, d: float, s: float) -> float:
    """E[Φ(-|Δ|/σ)] for Δ ~ N(d, s²): the chance the final order of the pair is wrong (Gauss–Hermite)."""
    from scipy.special import ndtr

    delta = np.abs(d + s * _NODES)
    return float(_WEIGHTS @ ndtr(-delta / max(sigma, 1e-12)))


def next_round(candidates: pd.DataFrame, judged: pd.DataFrame, budget_calls: int, round_size: int,
               target_width: float | None = None, seed: int = 0,
               bootstrap_rounds: int = BOOTSTRAP_ROUNDS) -> NextRound:
    """The next round of candidates to judge, given everything judged so far.

    `judged` has a row per judged turn (``prompt_id, model_a, model_b, winner``; winner model_a, model_b,
    tie, or missing for a failed call); a candidate with any row counts as asked and its calls as spent.
    The round holds at most `round_size` candidates and never takes the calls spent past `budget_calls`;
    with `target_width` (Elo points) it stops once every model's 95% interval is that narrow.
    """
    candidates = check_candidates(candidates)
    if round_size < 1:
        raise ValueError(f"round_size must be >= 1, got {round_size!r}")
    asked = {_key(*t) for t in zip(judged["prompt_id"], judged["model_a"], judged["model_b"], strict=True)}
    keys = [_key(*t) for t in zip(candidates["prompt_id"], candidates["model_a"], candidates["model_b"],
                                  strict=True)]
    calls = candidates["calls"].astype(int).tolist()
    used = sum(c for k, c in zip(keys, calls, strict=True) if k in asked)
    todo = [r for r, k in enumerate(keys) if k not in asked]
    models = sorted({m for _, a, b in keys for m in (a, b)})
    est = estimate(judged, models, seed_for("adaptive-bootstrap", seed, used), bootstrap_rounds)
    widths = est.widths if est is not None else pd.Series(dtype=float, name="width_elo")

    def stop(reason: str) -> NextRound:
        return NextRound(candidates.iloc[[]], reason, used, widths)

    if not todo:
        return stop("exhausted")
    left = budget_calls - used
    if left < min(calls[r] for r in todo):
        return stop("budget")
    if target_width is not None and est is not None and float(widths.max()) <= target_width:
        return stop("target_width")
    queues = _queues(todo, keys, seed)
    if est is None:
        picked = _cycles(queues, models, calls, left, round_size, seed)
    else:
        picked = _greedy(queues, est, calls, left, round_size)
    if not picked:
        return stop("budget")
    return NextRound(candidates.iloc[sorted(picked)].reset_index(drop=True), None, used, widths)


def _queues(todo: list[int], keys: list[tuple[str, str, str]], seed: int) -> dict[tuple[str, str], list[int]]:
    """Unasked candidate rows per model pair, in a seeded order fixed by (seed, prompt, pair), reversed so
    pop() gives the next."""
    out: dict[tuple[str, str], list[int]] = {}
    for r in todo:
        out.setdefault(keys[r][1:], []).append(r)
    for rows in out.values():
        rows.sort(key=lambda r: seed_for("adaptive-order", seed, *keys[r]), reverse=True)
    return out


def _cycles(queues, models, calls, left, round_size, seed) -> list[int]:
    """The first round: seeded random cycles through all models, one candidate per edge, until full."""
    rng = np.random.default_rng(seed_for("adaptive-start", seed))
    picked: list[int] = []
    while len(picked) < round_size:
        order = [models[k] for k in rng.permutation(len(models))]
        edges = [(order[k], order[(k + 1) % len(order)]) for k in range(len(order) if len(order) > 2 else 1)]
        took = 0
        for a, b in edges:
            q = queues.get((a, b) if a <= b else (b, a))
            if not q or calls[q[-1]] > left or len(picked) >= round_size:
                continue
            r = q.pop()
            picked.append(r)
            left -= calls[r]
            took += 1
        if not took:
            break
    return picked


def _greedy(queues, est: Estimate, calls, left, round_size) -> list[int]:
    """Fill the round one candidate at a time with the pair whose expected misorder falls most per call."""
    index = {m: k for k, m in enumerate(est.models)}
    state = {}
    heap = []
    for pair in sorted(queues):
        i, j = index[pair[0]], index[pair[1]]
        d, s = float(est.log_strength[i] - est.log_strength[j]), float(est.gap_sd[i, j])
        p = 1.0 / (1.0 + math.exp(-max(min(d, 30.0), -30.0)))
        info = max(p * (1 - p) * (1.0 - est.tie_share), 1e-6)  # Fisher information of one comparison
        state[pair] = [d, s, 1.0 / s**2, info, _misorder(s, d, s)]
        heapq.heappush(heap, (-_gain(state[pair], calls[queues[pair][-1]]), pair))
    picked: list[int] = []
    while heap and len(picked) < round_size:
        _, pair = heapq.heappop(heap)
        q = queues[pair]
        r = q[-1]
        if calls[r] > left:
            continue  # this pair's next prompt no longer fits; cheaper ones elsewhere still may
        q.pop()
        picked.append(r)
        left -= calls[r]
        st = state[pair]
        st[2] += calls[r] / 2 * st[3]  # k turns judged, one comparison each
        st[4] = _misorder(1.0 / math.sqrt(st[2]), st[0], st[1])
        if q:
            heapq.heappush(heap, (-_gain(st, calls[q[-1]]), pair))
    return picked


def _gain(st: list[float], cost: int) -> float:
    """Expected drop of the pair's misorder chance per judge call if its next candidate (cost calls, i.e.
    cost/2 turns) is judged."""
    d, s, precision, info, now = st
    after = _misorder(1.0 / math.sqrt(precision + cost / 2 * info), d, s)
    return (now - after) / cost


def random_pairs(candidates: pd.DataFrame, budget_calls: int, seed: int = 0) -> pd.DataFrame:
    """A seeded random subset of the candidates within `budget_calls` (the baseline adaptive must beat)."""
    candidates = check_candidates(candidates)
    rng = np.random.default_rng(seed_for("random-pairs", seed))
    picked, left = [], budget_calls
    for r in rng.permutation(len(candidates)):
        c = int(candidates.at[int(r), "calls"])
        if c <= left:
            picked.append(int(r))
            left -= c
    return candidates.iloc[sorted(picked)].reset_index(drop=True)


@dataclass
class AdaptiveResult:
    """What an adaptive run did: the verdict of every judged row (VERDICT_COLUMNS), one summary per round,
    why it stopped, the calls spent against the budget and all pairs', and the final 95% widths."""

    judged: pd.DataFrame
    rounds: list[dict] = field(default_factory=list)
    stop: str = ""
    calls_used: int = 0
    all_calls: int = 0
    budget_calls: int = 0
    widths: pd.Series = field(default_factory=lambda: pd.Series(dtype=float, name="width_elo"))


def run_adaptive(candidates: pd.DataFrame, judge: Callable[[pd.DataFrame], pd.DataFrame], budget_calls: int,
                 round_size: int | None = None, target_width: float | None = None, seed: int = 0,
                 bootstrap_rounds: int = BOOTSTRAP_ROUNDS) -> AdaptiveResult:
    """Judge round after round until the budget, the target width or the candidates run out.

    `judge(pairs)` judges a round's candidates and returns their rows (``prompt_id, model_a, model_b,
    winner`` and anything else, one row per judged turn); every candidate it was given must come back.
    """
    candidates = check_candidates(candidates)
    size = round_size or auto_round_size(candidates, budget_calls)
    frames: list[pd.DataFrame] = []
    judged = pd.DataFrame(columns=VERDICT_COLUMNS)
    result = AdaptiveResult(judged, all_calls=int(candidates["calls"].sum()), budget_calls=int(budget_calls))
    while True:
        step = next_round(candidates, judged, budget_calls, size, target_width, seed, bootstrap_rounds)
        result.widths, result.calls_used = step.widths, step.calls_used
        if step.stop:
            result.stop = step.stop
            break
        got = judge(step.pairs)
        back = {_key(*t) for t in zip(got["prompt_id"], got["model_a"], got["model_b"], strict=True)}
        lost = [k for k in (_key(*t) for t in step.pairs[["prompt_id", "model_a", "model_b"]].itertuples(
            index=False)) if k not in back]
        if lost:
            raise ValueError(f"judge returned no row for {len(lost)} of the round's pairs, e.g. {lost[0]}")
        frames.append(got[VERDICT_COLUMNS].astype(object))
        judged = pd.concat(frames, ignore_index=True)
        result.rounds.append({"round": len(result.rounds) + 1, "pairs": len(step.pairs),
                              "calls": int(step.pairs["calls"].sum()),
                              "max_width_elo_before": _finite_max(step.widths)})
    result.judged = judged
    return result


def _finite_max(widths: pd.Series) -> float | None:
    if not len(widths):
        return None
    top = float(widths.max())
    return round(top, 1) if math.isfinite(top) else None
