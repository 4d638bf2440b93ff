"""Judge agreement as MT-bench computes it, Cohen's kappa, position consistency, and the agreement table.

Votes are keyed by (prompt_id, turn, unordered model pair): the pair is put in name order and the verdict
flipped with it. For two different judges every vote of one is matched with every vote of the other on the
same key; for one judge with several votes per key (the human crowd) every unordered pair of its votes is
matched. "Without ties" drops each matched pair in which either verdict is a tie. Agreement is the share of
matched pairs with equal verdicts. Counting is done on per-key label counts, never by expanding the pairs.
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pandas as pd

from .bt import fit_bradley_terry
from .correlation import kendall_tau, spearman
from .errors import DisconnectedComparisonsError, NoFiniteScoresError, RankingError, RankingWarning, show
from .pairs import MODEL_AB_LABELS, aggregate_frame

LABELS = ("a", "b", "tie")  # after canonical ordering: a = first model in name order won
HUMAN = "human"

# Output columns, in order (the warehouse declares their types in warehouse/tables/analysis.py).
AGREEMENT_COLUMNS: tuple[str, ...] = (
    "judge_1", "judge_2", "kind", "n_keys", "n_with_ties", "agreement_with_ties", "n_without_ties",
    "agreement_without_ties", "cohen_kappa", "n_models", "spearman", "kendall_tau",
)
POSITION_COLUMNS: tuple[str, ...] = (
    "judge", "n_pairs", "n_consistent", "consistency", "prefers_first", "prefers_second",
)


def _judge_column(df: pd.DataFrame) -> str:
    for col in ("judge", "judge_model"):
        if col in df.columns:
            return col
    raise RankingError(f"judgments: need a 'judge' or 'judge_model' column (have {list(df.columns)})")


def canonical_votes(votes: pd.DataFrame, judge: str | None = None, drop_missing: bool = True) -> pd.DataFrame:
    """Votes as (key..., judge, label) with the pair in name order; label in {"a", "b", "tie"}.

    `votes` needs model_a, model_b, winner (model_a/model_b/tie); prompt_id and turn are optional (a missing
    turn is 1). `judge` names every vote's judge; otherwise a judge/judge_model column is read. Rows with a
    missing winner (unparsed verdicts) are dropped when `drop_missing`; other labels raise naming the row.
    """
    need = [c for c in ("model_a", "model_b", "winner") if c not in votes.columns]
    if need:
        raise RankingError(f"votes: missing columns {need} (have {list(votes.columns)})")
    df = votes
    if drop_missing:
        df = df[df["winner"].notna()]
    if judge is None:
        judge_values = df[_judge_column(df)].astype(str).to_numpy()
    else:
        judge_values = np.full(len(df), judge, dtype=object)
    code = df["winner"].map({k: v for v, k in enumerate(MODEL_AB_LABELS)})
    if code.isna().any():
        row = int(np.flatnonzero(code.isna().to_numpy())[0])
        raise RankingError(
            f"votes: unknown winner {show(df['winner'].iloc[row])} at row {row}; expected "
            f"{list(MODEL_AB_LABELS)}"
        )
    a = df["model_a"].astype(str).to_numpy()
    b = df["model_b"].astype(str).to_numpy()
    same = np.flatnonzero(a == b)
    if same.size:
        raise RankingError(f"votes: row {int(same[0])} compares model {show(a[same[0]])} with itself")
    swap = a > b
    code = code.to_numpy(dtype=np.int64)
    code = np.where(swap & (code < 2), 1 - code, code)
    prompt = df["prompt_id"].astype(str).to_numpy() if "prompt_id" in df.columns else np.full(len(df), "")
    turn = (
        pd.to_numeric(df["turn"], errors="coerce").fillna(1).astype(int).to_numpy()
        if "turn" in df.columns
        else np.ones(len(df), dtype=int)
    )
    return pd.DataFrame(
        {
            "prompt_id": prompt,
            "turn": turn,
            "model_1": np.where(swap, b, a),
            "model_2": np.where(swap, a, b),
            "judge": judge_values,
            "label": np.array(LABELS, dtype=object)[code],
        }
    )


KEY = ["prompt_id", "turn", "model_1", "model_2"]


def _label_counts(canon: pd.DataFrame, judge: str) -> pd.DataFrame:
    sub = canon[canon["judge"] == judge]
    counts = sub.groupby(KEY + ["label"]).size().unstack("label", fill_value=0)
    for label in LABELS:
        if label not in counts.columns:
            counts[label] = 0
    return counts[list(LABELS)].astype(np.int64)


def _contingency(canon: pd.DataFrame, judge_1: str, judge_2: str) -> tuple[np.ndarray, int]:
    """3×3 matrix of matched vote pairs (rows judge_1's label, cols judge_2's) and the number of keys."""
    c1 = _label_counts(canon, judge_1)
    if judge_1 == judge_2:
        m = c1.to_numpy()
        # Pairs of distinct votes inside a key: c c^T minus the diagonal self-pairs, halved for order.
        pairs = np.einsum("ki,kj->ij", m, m) - np.diag(m.sum(axis=0))
        keys = int((m.sum(axis=1) >= 2).sum())
        return pairs / 2.0, keys
    c2 = _label_counts(canon, judge_2)
    common = c1.index.intersection(c2.index)
    m1, m2 = c1.loc[common].to_numpy(), c2.loc[common].to_numpy()
    return np.einsum("ki,kj->ij", m1, m2).astype(np.float64), len(common)


def kappa_from_contingency(table: np.ndarray) -> float:
    """Cohen's kappa from a square contingency table of two raters' labels (NaN when undefined)."""
    t = np.asarray(table, dtype=np.float64)
    total = t.sum()
    if total <= 0:
        return float("nan")
    po = np.trace(t) / total
    pe = float((t.sum(axis=1) / total) @ (t.sum(axis=0) / total))
    if pe >= 1:
        return 1.0 if po >= 1 else float("nan")
    return float((po - pe) / (1 - pe))


def cohen_kappa(a, b) -> float:
    """Cohen's kappa of two aligned label sequences (any hashable labels)."""
    x, y = pd.Series(list(a)), pd.Series(list(b))
    if len(x) != len(y):
        raise RankingError(f"cohen_kappa: sequences differ in length ({len(x)} != {len(y)})")
    if len(x) == 0:
        raise RankingError("cohen_kappa: no labels")
    labels = pd.Index(pd.concat([x, y]).unique())
    t = np.zeros((len(labels), len(labels)))
    np.add.at(t, (labels.get_indexer(x), labels.get_indexer(y)), 1)
    return kappa_from_contingency(t)


def agreement_stats(canon: pd.DataFrame, judge_1: str, judge_2: str) -> dict:
    """MT-bench agreement between two judges (or one judge with itself) on canonical votes."""
    t, keys = _contingency(canon, judge_1, judge_2)
    n_with = t.sum()
    n_without = t[:2, :2].sum()
    # Without ties the 2×2 block is what is left; with ties all nine cells count.
    return {
        "n_keys": keys,
        "n_with_ties": int(round(n_with)),
        "agreement_with_ties": float(np.trace(t) / n_with) if n_with else float("nan"),
        "n_without_ties": int(round(n_without)),
        "agreement_without_ties": float((t[0, 0] + t[1, 1]) / n_without) if n_without else float("nan"),
        "cohen_kappa": kappa_from_contingency(t),
    }


def agreement(votes_1: pd.DataFrame, votes_2: pd.DataFrame | None = None) -> dict:
    """Agreement of two vote frames (each one judge), or of the votes inside one frame when `votes_2` is None.

    Returns n_keys, n_with_ties, agreement_with_ties, n_without_ties, agreement_without_ties, cohen_kappa.
    """
    if votes_2 is None:
        return agreement_stats(canonical_votes(votes_1, judge="x"), "x", "x")
    canon = pd.concat([canonical_votes(votes_1, judge="1"), canonical_votes(votes_2, judge="2")])
    return agreement_stats(canon, "1", "2")


def majority_vote(votes: pd.DataFrame) -> pd.DataFrame:
    """One verdict per (prompt_id, turn, pair): the most frequent label, a tie when the top labels tie.

    Returns model_a, model_b (name order), winner, prompt_id, turn, n_votes.
    """
    canon = canonical_votes(votes, judge="crowd")
    counts = _label_counts(canon, "crowd")
    m = counts.to_numpy()
    top = m.max(axis=1, keepdims=True)
    winners = np.where((m == top).sum(axis=1) > 1, 2, m.argmax(axis=1))
    idx = counts.index.to_frame(index=False)
    return pd.DataFrame(
        {
            "model_a": idx["model_1"].to_numpy(),
            "model_b": idx["model_2"].to_numpy(),
            "winner": np.array(MODEL_AB_LABELS, dtype=object)[winners],
            "prompt_id": idx["prompt_id"].to_numpy(),
            "turn": idx["turn"].to_numpy(),
            "n_votes": m.sum(axis=1),
        }
    )


def _leaderboard(votes: pd.DataFrame) -> pd.Series | None:
    try:
        table = aggregate_frame(votes)
        try:
            return fit_bradley_terry(table)
        except NoFiniteScoresError:
            return fit_bradley_terry(table, prior=1.0)
    except DisconnectedComparisonsError as exc:
        warnings.warn(f"no leaderboard correlation: {exc}", RankingWarning, stacklevel=3)
        return None


def _as_votes(df: pd.DataFrame, judge_col: str | None) -> pd.DataFrame:
    out = pd.DataFrame({"model_a": df["model_a"], "model_b": df["model_b"], "winner": df["winner"]})
    for col in ("prompt_id", "turn"):
        if col in df.columns:
            out[col] = df[col]
    if judge_col is not None:
        out["judge"] = df[judge_col].astype(str)
    return out


def judge_agreement_table(
    judgments: pd.DataFrame, human: pd.DataFrame | None = None, human_majority: bool = False
) -> pd.DataFrame:
    """Agreement between every pair of judges, each judge and the humans, and the humans among themselves.

    `judgments`: judge (or judge_model), prompt_id, turn, model_a, model_b, winner (model_a/model_b/tie);
    rows whose `mode` column is present and not "pairwise" are ignored, rows without a winner dropped.
    `human`: the same without the judge column (all votes pooled as "human", MT-bench style); with
    `human_majority` the humans are first reduced to one majority verdict per key (no human-human row then).

    Columns (`AGREEMENT_COLUMNS`): judge_1, judge_2, kind (judge-judge, judge-human,
    human-human), n_keys (keys both rated), n_with_ties / agreement_with_ties, n_without_ties /
    agreement_without_ties (matched vote pairs), cohen_kappa (3 labels, on the matched pairs), n_models,
    spearman, kendall_tau (between the two Bradley–Terry leaderboards over their common models, the human one
    fitted on every human vote; NaN on the human-human row and where a leaderboard cannot be fitted, with a
    RankingWarning).
    """
    jdf = judgments
    if "mode" in jdf.columns:
        jdf = jdf[jdf["mode"].astype(str) == "pairwise"]
    jdf = jdf[jdf["winner"].notna()] if "winner" in jdf.columns else jdf
    judge_col = _judge_column(jdf) if len(jdf.columns) else "judge"
    parts = [canonical_votes(jdf)] if len(jdf) else []
    judges = sorted(pd.unique(jdf[judge_col].astype(str))) if len(jdf) else []
    if HUMAN in judges and human is not None:
        raise RankingError(f"a judge is literally named {HUMAN!r}; rename it so human votes stay apart")
    human_votes = None
    if human is not None and len(human):
        human_votes = majority_vote(human) if human_majority else human[human["winner"].notna()]
        parts.append(canonical_votes(human_votes, judge=HUMAN))
    if not parts:
        raise RankingError("judge_agreement_table: no pairwise judgments")
    canon = pd.concat(parts, ignore_index=True)
    boards = {j: _leaderboard(_as_votes(jdf[jdf[judge_col].astype(str) == j], None)) for j in judges}
    if human_votes is not None:  # the human leaderboard always uses every human vote
        boards[HUMAN] = _leaderboard(_as_votes(human[human["winner"].notna()], None))
    rows = []
    pairs = [(a, b, "judge-judge") for a, b in combinations(judges, 2)]
    if human_votes is not None:
        pairs += [(j, HUMAN, "judge-human") for j in judges]
        if not human_majority:
            pairs.append((HUMAN, HUMAN, "human-human"))
    for j1, j2, kind in pairs:
        row = {"judge_1": j1, "judge_2": j2, "kind": kind, **agreement_stats(canon, j1, j2)}
        b1, b2 = boards.get(j1), boards.get(j2)
        row["n_models"] = 0
        row["spearman"] = row["kendall_tau"] = float("nan")
        if j1 != j2 and b1 is not None and b2 is not None:
            common = b1.index.intersection(b2.index)
            row["n_models"] = len(common)
            if len(common) >= 2:
                row["spearman"] = spearman(b1, b2)
                row["kendall_tau"] = kendall_tau(b1, b2)
        rows.append(row)
    cols = list(AGREEMENT_COLUMNS)
    out = pd.DataFrame(rows, columns=cols)
    return out.astype(
        {"n_keys": "int64", "n_with_ties": "int64", "n_without_ties": "int64", "n_models": "int64"}
    )


_VERDICTS = {"model_a": 0, "model_b": 1, "tie": 2}


def position_consistency(
    df: pd.DataFrame, first: str = "verdict_ab", second: str = "verdict_ba"
) -> pd.DataFrame:
    """Per judge, the share of pairs whose verdict survives swapping the two answers.

    `first` is the verdict with model_a shown first, `second` with model_b shown first, both in model terms
    (model_a / model_b / tie). Rows missing either verdict are skipped. prefers_first is the share of pairs
    where the judge picked whichever answer was shown first both times (prefers_second likewise).
    Columns: `POSITION_COLUMNS`.
    """
    judge_col = _judge_column(df)
    need = [c for c in (first, second) if c not in df.columns]
    if need:
        raise RankingError(f"position_consistency: missing columns {need} (have {list(df.columns)})")
    sub = df[df[first].notna() & df[second].notna()]
    codes = []
    for col in (first, second):
        c = sub[col].map(_VERDICTS)
        if c.isna().any():
            row = int(np.flatnonzero(c.isna().to_numpy())[0])
            raise RankingError(
                f"position_consistency: unknown verdict {show(sub[col].iloc[row])} in {col} at row "
                f"{row}; expected {list(_VERDICTS)}"
            )
        codes.append(c.to_numpy(dtype=np.int64))
    ab, ba = codes
    frame = pd.DataFrame(
        {
            "judge": sub[judge_col].astype(str).to_numpy(),
            "consistent": ab == ba,
            "first": (ab == 0) & (ba == 1),
            "second": (ab == 1) & (ba == 0),
        }
    )
    g = frame.groupby("judge", sort=True)
    out = pd.DataFrame(
        {
            "n_pairs": g.size(),
            "n_consistent": g["consistent"].sum(),
            "consistency": g["consistent"].mean(),
            "prefers_first": g["first"].mean(),
            "prefers_second": g["second"].mean(),
        }
    ).reset_index()
    return out[list(POSITION_COLUMNS)].astype({"n_pairs": "int64", "n_consistent": "int64"})
