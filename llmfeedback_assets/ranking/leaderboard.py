"""The leaderboard table the `leaderboard` asset stores, plus its markdown and PNG renderings."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd

from .bootstrap import Method, bootstrap_bradley_terry
from .bt import ELO_ANCHOR, ELO_SCALE, Disconnected, elo_scale, fit_bradley_terry
from .errors import NoFiniteScoresError, RankingError, RankingWarning, show
from .pairs import aggregate_frame
from .winrate import win_rates

LEADERBOARD_COLUMNS = [
    "model",
    "rank",
    "bt_score",
    "bt_low",
    "bt_high",
    "elo",
    "elo_low",
    "elo_high",
    "win_rate",
    "win_rate_adjusted",
    "mean_score_turn1",
    "mean_score_turn2",
    "n_comparisons",
]
AUTO_PRIOR = 1.0


def rank_by_intervals(low: pd.Series, high: pd.Series) -> pd.Series:
    """Rank with ties: 1 + the number of models whose lower bound is above this model's upper bound."""
    lo = low.to_numpy(dtype=np.float64)
    hi = high.to_numpy(dtype=np.float64)
    above = (lo[None, :] > hi[:, None]).sum(axis=1)
    return pd.Series(1 + above, index=low.index, name="rank")


def _mean_single_scores(single_scores: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["mean_score_turn1", "mean_score_turn2"]
    if single_scores is None or len(single_scores) == 0:
        return pd.DataFrame(columns=cols, dtype=np.float64)
    missing = [c for c in ("model", "turn", "score") if c not in single_scores.columns]
    if missing:
        raise RankingError(f"single_scores: missing columns {missing} (have {list(single_scores.columns)})")
    if single_scores["model"].isna().any():
        row = int(np.flatnonzero(single_scores["model"].isna().to_numpy())[0])
        raise RankingError(f"single_scores: missing model name at row {row}")
    score = pd.to_numeric(single_scores["score"], errors="coerce")
    bad = score.isna() & single_scores["score"].notna()
    bad |= np.isinf(score)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise RankingError(
            f"single_scores: score {show(single_scores['score'].iloc[row])} at row {row} is not a number"
        )
    turn = pd.to_numeric(single_scores["turn"], errors="coerce")
    bad_turn = ~turn.isin([1, 2])
    if bad_turn.any():
        row = int(np.flatnonzero(bad_turn.to_numpy())[0])
        raise RankingError(
            f"single_scores: turn {show(single_scores['turn'].iloc[row])} at row {row} is not 1 or 2"
        )
    # Missing grades (NaN: the judge's answer could not be parsed) are left out of the means.
    frame = pd.DataFrame(
        {"model": single_scores["model"].astype(str), "turn": turn.astype(int), "score": score}
    )
    means = frame.dropna().groupby(["model", "turn"])["score"].mean().unstack("turn")
    out = pd.DataFrame(index=frame["model"].unique())
    out["mean_score_turn1"] = means[1] if 1 in means.columns else np.nan
    out["mean_score_turn2"] = means[2] if 2 in means.columns else np.nan
    return out


def leaderboard_table(
    comparisons: pd.DataFrame,
    rounds: int = 1000,
    seed: int = 0,
    single_scores: pd.DataFrame | None = None,
    method: Method = "multinomial",
    level: float = 0.95,
    prior: float | None = None,
    disconnected: Disconnected = "raise",
) -> pd.DataFrame:
    """One row per model with Bradley–Terry scores, bootstrap intervals, Elo scale, win rates and grades.

    `comparisons`: model_a, model_b, winner in {"model_a", "model_b", "tie"} (extra columns ignored).
    `single_scores` (optional): model, turn (1 or 2), score; NaN scores are skipped.
    Columns are `LEADERBOARD_COLUMNS`. bt_* sum to 1 with a seeded `level` percentile bootstrap interval;
    elo = 400·log10(bt_score) shifted so the mean over compared models is 1000, its bounds the BT bounds on
    that same scale; rank = 1 + number of models whose bt_low is above this model's bt_high. Models with
    single scores only have NaN BT/Elo/win-rate columns, n_comparisons 0, and rank after every compared model
    (ordered among themselves by mean grade). Sorted by bt_score, then mean grade, then name.

    `prior=None` fits the plain maximum likelihood when it exists; when some model never lost (or never
    won) it adds one virtual tie per compared pair (`AUTO_PRIOR`) with a RankingWarning. A float forces it.
    """
    if not isinstance(comparisons, pd.DataFrame):
        raise RankingError("comparisons must be a pandas DataFrame with model_a, model_b, winner")
    grades = _mean_single_scores(single_scores)
    if len(comparisons) == 0:
        if len(grades) == 0:
            raise RankingError("no comparisons and no single scores: nothing to rank")
        board = pd.DataFrame(index=pd.Index([], dtype=object))
    else:
        board = _compared_models(comparisons, rounds, seed, method, level, prior, disconnected)
    models = board.index.append(pd.Index([m for m in grades.index if m not in board.index], dtype=object))
    out = board.reindex(models)
    out["mean_score_turn1"] = grades["mean_score_turn1"].reindex(models).to_numpy(dtype=np.float64)
    out["mean_score_turn2"] = grades["mean_score_turn2"].reindex(models).to_numpy(dtype=np.float64)
    out["n_comparisons"] = out.get("n_comparisons", pd.Series(dtype=np.float64)).reindex(models).fillna(0)
    out["n_comparisons"] = out["n_comparisons"].astype(np.int64)
    mean_grade = out[["mean_score_turn1", "mean_score_turn2"]].mean(axis=1)
    ranked = out.get("rank", pd.Series(dtype=np.float64)).reindex(models)
    unranked = ranked.isna().to_numpy()
    if unranked.any():
        n_ranked = int((~unranked).sum())
        g = mean_grade.to_numpy()[unranked]
        g = np.where(np.isnan(g), -np.inf, g)
        ranked.iloc[np.flatnonzero(unranked)] = n_ranked + 1 + (g[None, :] > g[:, None]).sum(axis=1)
    out["rank"] = ranked.astype(np.int64)
    out["model"] = models.astype(str)
    for col in LEADERBOARD_COLUMNS:
        if col not in out:
            out[col] = np.nan
    out["_grade"] = mean_grade.to_numpy()
    out = out.sort_values(
        ["bt_score", "_grade", "model"], ascending=[False, False, True], na_position="last", kind="stable"
    )
    return out[LEADERBOARD_COLUMNS].reset_index(drop=True)


def _compared_models(
    comparisons: pd.DataFrame,
    rounds: int,
    seed: int,
    method: Method,
    level: float,
    prior: float | None,
    disconnected: Disconnected,
) -> pd.DataFrame:
    table = aggregate_frame(comparisons)
    if prior is None:
        try:
            prior_used = 0.0
            scores = fit_bradley_terry(table, prior=0.0, disconnected=disconnected)
        except NoFiniteScoresError as exc:
            prior_used = AUTO_PRIOR
            warnings.warn(f"{exc} Using prior={AUTO_PRIOR}.", RankingWarning, stacklevel=3)
            scores = fit_bradley_terry(table, prior=prior_used, disconnected=disconnected)
    else:
        prior_used = float(prior)
        scores = fit_bradley_terry(table, prior=prior_used, disconnected=disconnected)
    boot = bootstrap_bradley_terry(
        table, scores.to_numpy(), rounds=rounds, seed=seed, method=method, level=level, prior=prior_used
    )
    if rounds > 0:
        low, high = boot.low, boot.high
        # A model that drew no comparison in every round (impossible unless rounds is tiny) keeps its point.
        low = low.fillna(scores)
        high = high.fillna(scores)
    else:
        low, high = scores.copy(), scores.copy()
    elo = elo_scale(scores)
    # Bounds go through the same affine map as the point: elo = 400·log10(score) + c with the point's c.
    c = float((elo - ELO_SCALE * np.log10(scores)).iloc[0])
    with np.errstate(divide="ignore"):
        elo_low = ELO_SCALE * np.log10(low) + c
        elo_high = ELO_SCALE * np.log10(high) + c
    rates = win_rates(table)
    board = pd.DataFrame(
        {
            "rank": rank_by_intervals(low, high),
            "bt_score": scores,
            "bt_low": low,
            "bt_high": high,
            "elo": elo,
            "elo_low": elo_low,
            "elo_high": elo_high,
            "win_rate": rates["win_rate"],
            "win_rate_adjusted": rates["win_rate_adjusted"],
            "n_comparisons": table.per_model(table.counts.astype(np.float64))["n"],
        },
        index=table.models,
    )
    board.attrs["prior"] = prior_used
    board.attrs["elo_anchor"] = ELO_ANCHOR
    return board


def _fmt(x: float, digits: int) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def leaderboard_markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """A leaderboard frame as a markdown table with intervals, for Dagster metadata."""
    missing = [c for c in LEADERBOARD_COLUMNS if c not in df.columns]
    if missing:
        raise RankingError(f"leaderboard frame is missing columns {missing}")
    lines = [
        "| rank | model | BT score [95% CI] | Elo [95% CI] | win rate | adj. win rate | score t1 | score t2 "
        "| n |",
        "|---:|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in df.itertuples(index=False):
        name = str(row.model).replace("|", "\\|")
        bt = f"{_fmt(row.bt_score, digits)} [{_fmt(row.bt_low, digits)}, {_fmt(row.bt_high, digits)}]"
        elo = f"{_fmt(row.elo, 0)} [{_fmt(row.elo_low, 0)}, {_fmt(row.elo_high, 0)}]"
        if np.isnan(row.bt_score):
            bt = elo = "–"
        lines.append(
            f"| {row.rank} | {name} | {bt} | {elo} | {_fmt(row.win_rate, 3)} | "
            f"{_fmt(row.win_rate_adjusted, 3)} | {_fmt(row.mean_score_turn1, 2)} | "
            f"{_fmt(row.mean_score_turn2, 2)} | {row.n_comparisons} |"
        )
    return "\n".join(lines)


def leaderboard_plot_png(df: pd.DataFrame, title: str = "Leaderboard") -> bytes:
    """Bradley–Terry scores with bootstrap error bars as PNG bytes (matplotlib Agg, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = df[df["bt_score"].notna()].sort_values("bt_score")
    fig = Figure(figsize=(7, max(2.0, 0.32 * len(data) + 1.2)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if len(data):
        y = np.arange(len(data))
        score = data["bt_score"].to_numpy(dtype=float)
        err = np.vstack(
            [score - data["bt_low"].to_numpy(dtype=float), data["bt_high"].to_numpy(dtype=float) - score]
        )
        ax.errorbar(score, y, xerr=np.clip(err, 0, None), fmt="o", color="tab:blue", ecolor="gray", capsize=3)
        ax.set_yticks(y, [f"{r}. {m}" for r, m in zip(data["rank"], data["model"], strict=True)])
        ax.set_xlabel("Bradley–Terry score (sums to 1), 95% bootstrap interval")
    else:
        ax.text(0.5, 0.5, "no pairwise comparisons", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    ax.set_title(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
