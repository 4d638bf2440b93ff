"""MT-bench result tables as FastChat's llm_judge `show_result` prints them, plus question-level bootstrap
intervals and the per-category radar chart.

Single grades: a score of -1 (FastChat's "could not parse the rating") or NaN is dropped before any mean;
the overall score is the mean over all of a model's remaining rows (not the mean of its two turn means), and
models are sorted by it, best first. Pairwise: one row per comparison with an already combined winner; a tie
credits both models, the baseline's own row is left out of the table, and models are sorted by adjusted win
rate.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from .errors import RankingError, show

MT_BENCH_SCORE_COLUMNS = ["model", "turn1", "turn2", "overall", "n"]
MT_BENCH_PAIRWISE_COLUMNS = ["model", "win", "loss", "tie", "win_rate", "loss_rate", "win_rate_adjusted"]
MT_BENCH_BOOTSTRAP_COLUMNS = ["model", "scope", "score", "low", "high", "n"]
UNPARSED_SCORE = -1  # FastChat writes -1 when the judge's rating could not be parsed
_WINNERS = ("model_a", "model_b", "tie")


def _question_ids(values: pd.Series) -> pd.Series:
    """Question ids as strings, so 81, "81" and 81.0 (ints read back as floats) all compare equal."""

    def one(v) -> str:
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v.item() if isinstance(v, np.generic) else v)

    return pd.Series([one(v) for v in values], index=values.index, dtype=object)


def _first(mask: np.ndarray | pd.Series) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _clean_single(
    single_judgments: pd.DataFrame, need_question: bool, model_list: list[str] | None
) -> pd.DataFrame:
    """model, turn (1/2), score, question_id (str or None) of the rows FastChat keeps."""
    if not isinstance(single_judgments, pd.DataFrame):
        raise RankingError("single_judgments must be a pandas DataFrame with model, turn, score")
    required = ["model", "turn", "score"] + (["question_id"] if need_question else [])
    missing = [c for c in required if c not in single_judgments.columns]
    if missing:
        raise RankingError(
            f"single_judgments: missing columns {missing} (have {list(single_judgments.columns)})"
        )
    df = single_judgments.reset_index(drop=True)
    if df["model"].isna().any():
        raise RankingError(f"single_judgments: missing model name at row {_first(df['model'].isna())}")
    score = pd.to_numeric(df["score"], errors="coerce").astype(np.float64)
    bad = (score.isna() & df["score"].notna()) | np.isinf(score)
    if bad.any():
        row = _first(bad)
        raise RankingError(
            f"single_judgments: score {show(df['score'].iloc[row])} at row {row} is not a number"
        )
    turn = pd.to_numeric(df["turn"], errors="coerce")
    bad = ~turn.isin([1, 2])
    if bad.any():
        row = _first(bad)
        raise RankingError(f"single_judgments: turn {show(df['turn'].iloc[row])} at row {row} is not 1 or 2")
    has_qid = "question_id" in df.columns
    if has_qid and need_question and df["question_id"].isna().any():
        raise RankingError(f"single_judgments: missing question_id at row {_first(df['question_id'].isna())}")
    out = pd.DataFrame(
        {
            "model": df["model"].astype(str),
            "turn": turn.astype(np.int64),
            "score": score,
            "question_id": _question_ids(df["question_id"]) if has_qid else None,
        }
    )
    out = out[out["score"].notna() & (out["score"] != UNPARSED_SCORE)]
    if model_list is not None:
        out = out[out["model"].isin([str(m) for m in model_list])]
    return out  # indexed by input row position, for error messages


def _categories(questions: pd.DataFrame, judged: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Category of every judged row, and the categories that have judged rows in `questions` order."""
    if not isinstance(questions, pd.DataFrame):
        raise RankingError("questions must be a pandas DataFrame with question_id, category")
    missing = [c for c in ("question_id", "category") if c not in questions.columns]
    if missing:
        raise RankingError(f"questions: missing columns {missing} (have {list(questions.columns)})")
    q = questions.reset_index(drop=True)
    for col in ("question_id", "category"):
        if q[col].isna().any():
            raise RankingError(f"questions: missing {col} at row {_first(q[col].isna())}")
    qid = _question_ids(q["question_id"])
    cat = q["category"].astype(str)
    clash = [c for c in cat.unique() if c in MT_BENCH_SCORE_COLUMNS]
    if clash:
        raise RankingError(
            f"questions: category {show(clash[0])} collides with a score column {MT_BENCH_SCORE_COLUMNS}"
        )
    pairs = pd.DataFrame({"qid": qid, "cat": cat}).drop_duplicates()
    dup = pairs["qid"].duplicated(keep=False)
    if dup.any():
        row = int(pairs.index[_first(dup)])
        raise RankingError(
            f"questions: question_id {show(qid.iloc[row])} at row {row} has several categories"
        )
    lookup = pd.Series(pairs["cat"].to_numpy(), index=pairs["qid"].to_numpy())
    if judged["question_id"].isna().any():
        raise RankingError("single_judgments: question_id is needed for per-category scores")
    row_cat = judged["question_id"].map(lookup)
    if row_cat.isna().any():
        first = _first(row_cat.isna())
        raise RankingError(
            f"single_judgments: question_id {show(judged['question_id'].iloc[first])} at row "
            f"{judged.index[first]} is not in questions"
        )
    present = set(row_cat)
    return row_cat, [c for c in cat.unique() if c in present]


def _score_table(judged: pd.DataFrame, row_cat: pd.Series | None, cats: list[str]) -> pd.DataFrame:
    by_model = judged.groupby("model")["score"]
    out = pd.DataFrame({"overall": by_model.mean(), "n": by_model.size()})
    turns = judged.groupby(["model", "turn"])["score"].mean().unstack("turn")
    for t in (1, 2):
        out[f"turn{t}"] = turns[t] if t in turns.columns else np.nan
    if row_cat is not None:
        per_cat = judged.assign(category=row_cat).groupby(["model", "category"])["score"].mean().unstack()
        for c in cats:
            out[c] = per_cat[c]
    out["model"] = out.index.astype(str)
    out["n"] = out["n"].astype(np.int64)
    # groupby leaves models in name order; a stable sort keeps that order among equal scores, as pandas'
    # sort_values does for FastChat's small tables.
    out = out.sort_values("overall", ascending=False, kind="stable")
    return out[MT_BENCH_SCORE_COLUMNS + cats].reset_index(drop=True)


def mt_bench_scores(
    single_judgments: pd.DataFrame,
    questions: pd.DataFrame | None = None,
    *,
    model_list: list[str] | None = None,
) -> pd.DataFrame:
    """FastChat's single-grading table: one row per model, best overall score first.

    `single_judgments`: model, turn (1 or 2), score, and question_id when `questions` is given (FastChat's
    `*_single.jsonl` read as a frame fits). Scores of -1 or NaN are dropped; `model_list` keeps only those
    models, as show_result's --model-list does. Columns: model, turn1, turn2 (NaN without turn-2 rows),
    overall (mean of all kept rows), n (kept rows), then with `questions` (question_id, category) one column
    per judged category, in `questions` order: the mean over both turns of that category's rows.
    Question ids are compared as strings, so ints and strings mix.
    """
    judged = _clean_single(single_judgments, need_question=questions is not None, model_list=model_list)
    row_cat, cats = (None, []) if questions is None else _categories(questions, judged)
    table = _score_table(judged, row_cat, cats)
    table.attrs["categories"] = list(cats)
    return table


def pairwise_win_rates(
    pairwise: pd.DataFrame,
    baseline: str | None = None,
    model_list: list[str] | None = None,
) -> pd.DataFrame:
    """FastChat's pairwise table (show_result --mode pairwise-baseline / pairwise-all).

    `pairwise`: model_a, model_b, winner in model_a/model_b/tie (None/NaN = FastChat's "error": dropped).
    As in show_result, `model_list` keeps the rows whose model_a (FastChat's model_1) is listed — model_b is
    not checked — and `baseline` keeps the rows that involve it and then leaves the baseline's own row out.
    Every kept row credits both models: a win and a loss, or a tie each. Columns: model, win, loss, tie,
    win_rate = win / n, loss_rate = loss / n, win_rate_adjusted = (win + tie/2) / n, sorted by the adjusted
    rate, best first (equal rates in name order).
    """
    if not isinstance(pairwise, pd.DataFrame):
        raise RankingError("pairwise must be a pandas DataFrame with model_a, model_b, winner")
    missing = [c for c in ("model_a", "model_b", "winner") if c not in pairwise.columns]
    if missing:
        raise RankingError(f"pairwise: missing columns {missing} (have {list(pairwise.columns)})")
    df = pairwise.reset_index(drop=True)
    for col in ("model_a", "model_b"):
        if df[col].isna().any():
            raise RankingError(f"pairwise: missing {col} at row {_first(df[col].isna())}")
    bad = df["winner"].notna() & ~df["winner"].isin(_WINNERS)
    if bad.any():
        row = _first(bad)
        raise RankingError(
            f"pairwise: winner {show(df['winner'].iloc[row])} at row {row} is not one of {list(_WINNERS)}"
        )
    a, b = df["model_a"].astype(str), df["model_b"].astype(str)
    same = a == b
    if same.any():
        row = _first(same)
        raise RankingError(f"pairwise: row {row} compares model {show(a.iloc[row])} with itself")
    keep = df["winner"].notna()
    if model_list is not None:
        keep &= a.isin([str(m) for m in model_list])
    if baseline is not None:
        involved = (a == str(baseline)) | (b == str(baseline))
        if not involved.any():
            raise RankingError(f"pairwise: baseline {show(baseline)} is in no comparison")
        keep &= involved
    a, b, w = a[keep].to_numpy(), b[keep].to_numpy(), df["winner"][keep].to_numpy()
    models = np.concatenate([a, b])
    a_won, b_won, tied = (w == "model_a"), (w == "model_b"), (w == "tie")
    counts = pd.DataFrame(
        {
            "model": models,
            "win": np.concatenate([a_won, b_won]).astype(np.int64),
            "loss": np.concatenate([b_won, a_won]).astype(np.int64),
            "tie": np.concatenate([tied, tied]).astype(np.int64),
        }
    )
    out = counts.groupby("model")[["win", "loss", "tie"]].sum()
    if baseline is not None:
        out = out[out.index != str(baseline)]
    n = (out["win"] + out["loss"] + out["tie"]).astype(np.float64)
    out["win_rate"] = out["win"] / n
    out["loss_rate"] = out["loss"] / n
    out["win_rate_adjusted"] = (out["win"] + 0.5 * out["tie"]) / n
    out["model"] = out.index.astype(str)
    out = out.sort_values("win_rate_adjusted", ascending=False, kind="stable")
    return out[MT_BENCH_PAIRWISE_COLUMNS].reset_index(drop=True)


def mt_bench_bootstrap(
    single_judgments: pd.DataFrame,
    questions: pd.DataFrame | None = None,
    rounds: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    *,
    model_list: list[str] | None = None,
) -> pd.DataFrame:
    """Percentile intervals for the `mt_bench_scores` means by resampling questions with replacement.

    A round draws as many questions as were judged (with replacement) and recomputes every mean from the
    rows of the drawn questions, so both turns of a question — and every model's answer to it — move together
    (a cluster bootstrap; per-row resampling would treat the two turns as independent and the intervals as
    narrower than they are). All rounds are one matrix product of the (rounds × questions) draw counts with
    per-question sums. Long table `MT_BENCH_BOOTSTRAP_COLUMNS`: model, scope ("turn1", "turn2", "overall",
    "category:<name>"), score (the point estimate), low, high, n (rows behind the point); models in
    `mt_bench_scores` order. A scope without rows is NaN with n 0; rounds=0 gives NaN bounds.
    """
    if int(rounds) < 0:
        raise RankingError(f"rounds must be >= 0, got {rounds!r}")
    if not 0 < level < 1:
        raise RankingError(f"level must be between 0 and 1, got {level!r}")
    judged = _clean_single(single_judgments, need_question=True, model_list=model_list)
    row_cat, cats = (None, []) if questions is None else _categories(questions, judged)
    point = _score_table(judged, row_cat, cats)
    models = point["model"].to_numpy()
    scopes = ["turn1", "turn2", "overall"] + [f"category:{c}" for c in cats]
    qids, q_code = np.unique(judged["question_id"].to_numpy(dtype=str), return_inverse=True)
    m_code = pd.Index(models).get_indexer(judged["model"])
    n_m, n_q, n_s = len(models), len(qids), len(scopes)
    # Scope membership of every row: (scopes, rows).
    member = [judged["turn"].to_numpy() == 1, judged["turn"].to_numpy() == 2, np.ones(len(judged), bool)]
    if row_cat is not None:
        member += [row_cat.to_numpy() == c for c in cats]
    member = np.vstack(member)
    cell = m_code * n_q + q_code
    score = judged["score"].to_numpy(dtype=np.float64)
    sums = np.vstack([np.bincount(cell, score * mk, n_m * n_q) for mk in member]).reshape(n_s * n_m, n_q)
    cnts = np.vstack([np.bincount(cell, mk, n_m * n_q) for mk in member]).reshape(n_s * n_m, n_q)
    rounds = int(rounds)
    low, high = np.full(n_s * n_m, np.nan), np.full(n_s * n_m, np.nan)
    if rounds > 0 and n_q > 0:
        rng = np.random.default_rng(seed)
        drawn = rng.integers(0, n_q, size=(rounds, n_q))
        times = np.bincount((drawn + n_q * np.arange(rounds)[:, None]).ravel(), minlength=rounds * n_q)
        times = times.reshape(rounds, n_q).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            means = (times @ sums.T) / (times @ cnts.T)  # (rounds, scopes·models); NaN when no row was drawn
        tail = (1 - level) / 2
        bounds = _percentiles(means, [tail, 1 - tail])
        low, high = bounds[0], bounds[1]
    point_col = {"turn1": "turn1", "turn2": "turn2", "overall": "overall"}
    point_col.update({f"category:{c}": c for c in cats})
    n_rows = cnts.sum(axis=1).astype(np.int64)
    out = pd.DataFrame(
        {
            "model": np.tile(models, n_s),
            "scope": np.repeat(scopes, n_m),
            "score": np.concatenate([point[point_col[s]].to_numpy(dtype=np.float64) for s in scopes]),
            "low": low,
            "high": high,
            "n": n_rows,
        }
    )
    empty = out["n"] == 0
    out.loc[empty, ["low", "high"]] = np.nan
    # model-major order: all scopes of the best model first.
    order = np.lexsort((np.repeat(np.arange(n_s), n_m), np.tile(np.arange(n_m), n_s)))
    return out.iloc[order].reset_index(drop=True)[MT_BENCH_BOOTSTRAP_COLUMNS]


def _percentiles(samples: np.ndarray, qs: list[float]) -> np.ndarray:
    """(len(qs), columns) quantiles over rounds, ignoring NaN rounds; all-NaN columns stay NaN."""
    out = np.full((len(qs), samples.shape[1]), np.nan)
    nan = np.isnan(samples)
    full = ~nan.any(axis=0)
    if full.any():
        out[:, full] = np.quantile(samples[:, full], qs, axis=0)
    partial = ~full & ~nan.all(axis=0)
    if partial.any():
        out[:, partial] = np.nanquantile(samples[:, partial], qs, axis=0)
    return out


def mt_bench_radar_png(
    scores: pd.DataFrame,
    categories: list[str] | None = None,
    title: str = "MT-bench score by category",
) -> bytes:
    """Per-category scores of every model on a 0–10 radar (polar axes), as PNG bytes (matplotlib Agg).

    `scores` is an `mt_bench_scores` table; `categories` defaults to its category columns (every numeric
    column besides model/turn1/turn2/overall/n). Raises RankingError (a ValueError) when there are none.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(scores, pd.DataFrame) or "model" not in scores.columns:
        raise RankingError("scores must be an mt_bench_scores frame with a model column")
    if categories is None:
        numeric = [c for c in scores.columns if pd.api.types.is_numeric_dtype(scores[c])]
        categories = [c for c in numeric if c not in MT_BENCH_SCORE_COLUMNS]
    categories = [str(c) for c in categories]
    if not categories:
        raise RankingError("scores have no category columns: pass questions to mt_bench_scores")
    missing = [c for c in categories if c not in scores.columns]
    if missing:
        raise RankingError(f"scores: no column for categories {missing} (have {list(scores.columns)})")
    if len(scores) == 0:
        raise RankingError("scores: no models to plot")
    angles = np.linspace(0, 2 * np.pi, len(categories), endpoint=False)
    loop = np.append(angles, angles[:1])
    fig = Figure(figsize=(8, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1, projection="polar")
    ax.set_theta_offset(np.pi / 2)  # first category at the top, going clockwise like FastChat's figure
    ax.set_theta_direction(-1)
    values = scores[categories].to_numpy(dtype=np.float64)
    for model, row in zip(scores["model"].astype(str), values, strict=True):
        closed = np.append(row, row[:1])
        (line,) = ax.plot(loop, closed, linewidth=1.5, label=model)
        ax.fill(loop, np.nan_to_num(closed), alpha=0.08, color=line.get_color())
    ax.set_xticks(angles, [c.upper() if c == "stem" else c[:1].upper() + c[1:] for c in categories])
    ax.set_ylim(0, 10)
    ax.set_yticks([2, 4, 6, 8, 10])
    ax.set_title(title, pad=20)
    ax.legend(loc="upper left", bbox_to_anchor=(1.08, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
