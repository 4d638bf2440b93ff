"""Style control (Chatbot Arena): Bradley–Terry with style covariates fitted jointly.

Judges reward length and markdown as well as quality, so a raw board ranks style with substance. Arena's
style-controlled board (FastChat `rating_systems.compute_style_control`) adds per comparison the normalised
difference of four style counts between the two answers to the Bradley–Terry logit and fits both together;
the model strengths are then the strengths with style held fixed, and each fitted coefficient is what one
standardised unit of that style difference is worth to the judge, in log-odds.

Arena's choices, kept here:
- counts per answer (its `add_markdown_info.py`): length; headers (lines opening with 1–6 `#` and a space);
  list items (`1. ` ordered, `- `, `* `, `+ ` unordered); bold spans (`**…**`, `__…__`); markdown is counted
  after the contents of ``` code fences are removed, exactly as Arena removes them;
- feature = (a - b) / (a + b + 1) per count (`normalise="ratio"`), then standardised over the comparisons
  (mean 0, population std 1); the mean and std are fixed from the full data, also in bootstrap rounds;
- logit = ln(10)·(θ_a - θ_b) + features·β, a tie is half a win (outcome 0.5), an L2 penalty reg/2·‖θ, β‖²
  with reg 0.5; ratings on the Elo scale are 400·θ + 1000 (the penalty centres θ at mean 0);
- the bootstrap resamples comparisons with replacement and refits (here seeded: multinomial row counts).

Differences: length counts words (`length="words"`; Arena counts tiktoken tokens, which this package does
not ship; pass "chars" or a callable for another unit); counts are of the answers given to the comparison
(Arena sums every assistant turn of a conversation: pass a multi-turn answer as one text); a feature that
never varies (for example bold in answers without markdown) has no coefficient (NaN) instead of breaking
the fit with a division by zero; and the fit is Newton's method on the same penalised likelihood (exact to
1e-10 in a few steps) instead of L-BFGS-B stopped at 100 iterations. `normalise="difference"` uses a - b
instead of the ratio, for a judge whose preference grows with the absolute difference in length.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from .bootstrap import BootstrapResult
from .errors import DisconnectedComparisonsError, RankingError, RankingWarning, show
from .pairs import LEFT_RIGHT_LABELS, aggregate_codes, check_weights, encode_winners, factorize_models

STYLE_FEATURES = ("length", "headers", "lists", "bold")
ARENA_REG = 0.5
LOG10 = float(np.log(10.0))
ELO_BASE, ELO_SCALE = 1000.0, 400.0

Normalise = Literal["ratio", "difference"]
Length = Literal["words", "chars"] | Callable[[str], float]

_CODE = re.compile("```([^`]*)```")
_HEADERS = [re.compile(rf"^#{{{k}}}\s", re.MULTILINE) for k in range(1, 7)]
_LISTS = [re.compile(r"^\s*\d+\.\s", re.MULTILINE), re.compile(r"^\s*[-*+]\s", re.MULTILINE)]
_BOLD = [re.compile(r"\*\*[^*\n]+\*\*"), re.compile(r"__[^_\n]+__")]
_OUTCOME = np.array([1.0, 0.0, 0.5])  # left won, right won, tie


def _length_of(length: Length) -> Callable[[str], float]:
    if callable(length):
        return length
    if length == "words":
        return lambda text: float(len(text.split()))
    if length == "chars":
        return lambda text: float(len(text))
    raise RankingError(f"length must be 'words', 'chars' or a callable, got {length!r}")


def markdown_counts(text: str) -> tuple[int, int, int]:
    """Arena's (headers, list items, bold spans) of one answer, code-fence contents removed first."""
    for block in _CODE.findall(text):  # Arena replaces each fence's contents, wherever they occur
        text = text.replace(block, "")
    return (
        sum(len(p.findall(text)) for p in _HEADERS),
        sum(len(p.findall(text)) for p in _LISTS),
        sum(len(p.findall(text)) for p in _BOLD),
    )


def style_counts(texts: Sequence[str], length: Length = "words", field: str = "text") -> pd.DataFrame:
    """Per answer: length, headers, lists, bold (the columns of STYLE_FEATURES); a missing text raises."""
    measure = _length_of(length)
    rows = []
    for k, text in enumerate(texts):
        if not isinstance(text, str):
            raise RankingError(f"{field}: row {k} has no answer text ({show(text)}); drop such rows first")
        rows.append((measure(text), *markdown_counts(text)))
    return pd.DataFrame(rows, columns=list(STYLE_FEATURES), dtype=np.float64)


@dataclass(frozen=True)
class StyleFeatures:
    """Standardised per-comparison style differences; `used` marks the features that vary (fitted)."""

    values: np.ndarray  # (N, F) standardised; columns of unused features are 0
    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    used: np.ndarray


def style_features(counts_left: pd.DataFrame, counts_right: pd.DataFrame,
                   normalise: Normalise = "ratio") -> StyleFeatures:
    """Arena's features from the two sides' counts: normalised difference, then standardised."""
    if normalise not in ("ratio", "difference"):
        raise RankingError(f"normalise must be 'ratio' or 'difference', got {normalise!r}")
    if list(counts_left.columns) != list(counts_right.columns) or len(counts_left) != len(counts_right):
        raise RankingError("style counts of the two sides must have the same columns and rows")
    a = counts_left.to_numpy(dtype=np.float64)
    b = counts_right.to_numpy(dtype=np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise RankingError("style counts must be finite numbers")
    diff = a - b
    if normalise == "ratio":
        diff = diff / (a + b + 1.0)
    mean, std = diff.mean(axis=0), diff.std(axis=0)
    used = std > 1e-12 * np.maximum(1.0, np.abs(mean))
    values = np.zeros_like(diff)
    values[:, used] = (diff[:, used] - mean[used]) / std[used]
    return StyleFeatures(values, tuple(str(c) for c in counts_left.columns), mean, std, used)


@dataclass
class _Design:
    """One style-control problem: model codes per comparison, outcomes and the fitted feature columns."""

    a: np.ndarray
    b: np.ndarray
    y: np.ndarray
    x: np.ndarray
    n_models: int

    def __post_init__(self):
        self.pair = self.a * self.n_models + self.b


def _loss(d: _Design, params: np.ndarray, w: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    from scipy.special import log_expit  # imported by the steps that rank, not when the code loads

    m = d.n_models
    eta = LOG10 * (params[d.a] - params[d.b]) + d.x @ params[m:]
    loss = -np.dot(w, d.y * log_expit(eta) + (1.0 - d.y) * log_expit(-eta)) + 0.5 * reg * params @ params
    return float(loss), eta


def _fit(d: _Design, w: np.ndarray, reg: float = ARENA_REG, tol: float = 1e-10, max_iter: int = 100,
         init: np.ndarray | None = None) -> tuple[np.ndarray, int, bool]:
    """Penalised Bradley–Terry with covariates by Newton's method with backtracking: parameters
    (θ in log10 units for the n models, then β per feature column), iterations, converged.

    With reg = 0 the strengths are defined up to a common shift: the step is the least-squares solution,
    which keeps their mean where it started (0).
    """
    from scipy.special import expit

    m, k = d.n_models, d.x.shape[1]
    params = np.zeros(m + k) if init is None else np.array(init, dtype=np.float64)
    loss, eta = _loss(d, params, w, reg)
    for iteration in range(1, int(max_iter) + 1):
        p = expit(eta)
        r = w * (p - d.y)
        v = w * p * (1.0 - p)
        grad = reg * params
        grad[:m] += LOG10 * (np.bincount(d.a, r, m) - np.bincount(d.b, r, m))
        grad[m:] += d.x.T @ r
        hess = np.zeros((m + k, m + k))
        cross = np.bincount(d.pair, v, m * m).reshape(m, m)
        cross += cross.T
        hess[:m, :m] = LOG10**2 * (np.diag(cross.sum(axis=1)) - cross)
        vx = v[:, None] * d.x
        for f in range(k):
            col = LOG10 * (np.bincount(d.a, vx[:, f], m) - np.bincount(d.b, vx[:, f], m))
            hess[:m, m + f] = hess[m + f, :m] = col
        hess[m:, m:] = d.x.T @ vx
        hess[np.diag_indices_from(hess)] += reg
        if reg > 0:
            step = np.linalg.solve(hess, grad)
        else:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        t, slope = 1.0, float(grad @ step)
        for _ in range(40):
            trial = params - t * step
            new_loss, new_eta = _loss(d, trial, w, reg)
            if new_loss <= loss - 1e-4 * t * slope or t < 1e-9:
                break
            t /= 2
        params, loss, eta = trial, new_loss, new_eta
        if np.max(np.abs(t * step)) < tol:
            return params, iteration, True
    return params, int(max_iter), False


@dataclass(frozen=True)
class StyleControlResult:
    """Strengths with style held fixed, the fitted style coefficients, and their bootstrap intervals.

    `elo`: Arena's scale 400·θ + 1000 (mean 1000), best first; `scores`: the same strengths as Bradley–Terry
    scores summing to 1 (comparable with `bradley_terry`); `coefficients`: log-odds per standardised unit of
    each feature (NaN: the feature never varied); `feature_std`: that unit in the normalised difference's own
    units, so `coefficients / feature_std` is log-odds per unit of difference (per word with "difference").
    """

    elo: pd.Series
    scores: pd.Series
    coefficients: pd.Series
    feature_mean: pd.Series
    feature_std: pd.Series
    elo_bootstrap: BootstrapResult
    coefficient_bootstrap: BootstrapResult
    n_comparisons: int
    iterations: int

    def table(self) -> pd.DataFrame:
        """One row per model, best first: style_elo with its interval and style_score."""
        low, high = self.elo_bootstrap.low, self.elo_bootstrap.high
        return pd.DataFrame({
            "model": self.elo.index,
            "style_elo": self.elo.to_numpy(),
            "style_elo_low": low[self.elo.index].to_numpy(),
            "style_elo_high": high[self.elo.index].to_numpy(),
            "style_score": self.scores[self.elo.index].to_numpy(),
        })

    def coefficient_table(self) -> pd.DataFrame:
        """One row per style feature: coefficient, its interval, and the unit (feature_std)."""
        names = self.coefficients.index
        return pd.DataFrame({
            "feature": names,
            "coefficient": self.coefficients.to_numpy(),
            "low": self.coefficient_bootstrap.low[names].to_numpy(),
            "high": self.coefficient_bootstrap.high[names].to_numpy(),
            "feature_std": self.feature_std[names].to_numpy(),
        })


def _side_counts(side, n: int, length: Length, field: str) -> pd.DataFrame:
    counts = side if isinstance(side, pd.DataFrame) else style_counts(list(side), length, field)
    if len(counts) != n:
        raise RankingError(f"{field} has {len(counts)} rows but there are {n} comparisons")
    return counts.reset_index(drop=True)


def style_control(
    left,
    right,
    winner,
    style_left,
    style_right,
    weights=None,
    *,
    labels: Sequence[str] = LEFT_RIGHT_LABELS,
    normalise: Normalise = "ratio",
    length: Length = "words",
    reg: float = ARENA_REG,
    rounds: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    method: Literal["multinomial", "poisson"] = "multinomial",
    tol: float = 1e-10,
    max_iter: int = 100,
) -> StyleControlResult:
    """Arena's style-controlled Bradley–Terry from raw comparisons, with seeded bootstrap intervals.

    `winner` holds `labels` (left won, right won, tie); `style_left`/`style_right` are the two answers' texts
    (counted with `style_counts`) or per-row count frames with the same columns (STYLE_FEATURES or other
    counts). `weights` scale each comparison. A comparison graph in disconnected parts raises: their
    strengths are not comparable.
    Bootstrap rounds depend only on (seed, method, number of comparisons): two fits of the same comparisons
    with one seed resample the same rows, so their per-round figures can be compared pairwise.
    """
    lc, rc, index = factorize_models(left, right)
    outcome = encode_winners(winner, labels)
    n, m = len(lc), len(index)
    if len(outcome) != n:
        raise RankingError(f"winner has {len(outcome)} rows but left/right have {n}")
    w = check_weights(weights, n)
    table = aggregate_codes(lc, rc, outcome, index, w)  # checks self-comparisons and empty input
    parts = table.components()
    if len(parts) > 1:
        raise DisconnectedComparisonsError(
            f"the comparison graph has {len(parts)} disconnected parts; style-controlled strengths across "
            "parts are not comparable", [[str(x) for x in table.models[p]] for p in parts])
    if not (np.isfinite(reg) and reg >= 0):
        raise RankingError(f"reg must be a finite non-negative number, got {reg!r}")
    if method not in ("multinomial", "poisson") or int(rounds) < 0 or not 0 < level < 1:
        raise RankingError(f"bad bootstrap settings: method={method!r}, rounds={rounds!r}, level={level!r}")
    feats = style_features(_side_counts(style_left, n, length, "style_left"),
                           _side_counts(style_right, n, length, "style_right"), normalise)
    d = _Design(lc.astype(np.int64), rc.astype(np.int64), _OUTCOME[outcome], feats.values[:, feats.used], m)
    params, iterations, converged = _fit(d, w, reg, tol, max_iter)
    if not converged:
        warnings.warn(f"style control did not reach tol={tol} in {max_iter} iterations", RankingWarning,
                      stacklevel=2)
    theta = params[:m] - params[:m].mean()
    rng = np.random.default_rng(seed)
    elo_rounds = np.full((int(rounds), m), np.nan)
    coef_rounds = np.full((int(rounds), len(feats.names)), np.nan)
    for r in range(int(rounds)):
        drawn = rng.multinomial(n, np.full(n, 1.0 / n)) if method == "multinomial" else rng.poisson(1.0, n)
        boot, _, _ = _fit(d, w * drawn, reg, 1e-8, max_iter, init=params)
        present = (np.bincount(lc, drawn, m) + np.bincount(rc, drawn, m)) > 0
        theta_r = boot[:m] - boot[:m][present].mean()  # a model no comparison drew in stays out
        elo_rounds[r] = np.where(present, ELO_BASE + ELO_SCALE * theta_r, np.nan)
        coef_rounds[r, feats.used] = boot[m:]
    names = pd.Index(feats.names)
    coefficients = np.full(len(names), np.nan)
    coefficients[feats.used] = params[m:]
    elo = pd.Series(ELO_BASE + ELO_SCALE * theta, index=index, name="style_elo")
    scores = np.power(10.0, theta - theta.max())
    return StyleControlResult(
        elo=elo.sort_values(ascending=False, kind="stable"),
        scores=pd.Series(scores / scores.sum(), index=index, name="style_score"),
        coefficients=pd.Series(coefficients, index=names, name="coefficient"),
        feature_mean=pd.Series(feats.mean, index=names, name="feature_mean"),
        feature_std=pd.Series(feats.std, index=names, name="feature_std"),
        elo_bootstrap=BootstrapResult(elo_rounds, index, level),
        coefficient_bootstrap=BootstrapResult(coef_rounds, names, level),
        n_comparisons=n,
        iterations=iterations,
    )
