"""Judges judged: one row per judge with how far its verdicts can be trusted and what they cost.

A leaderboard is only as good as its judge, and the usual single figure (agreement with one reference)
mixes what a user must tell apart: noise (the judge is unreliable; more judgments help), bias (it is
reliably wrong in one direction: position, length, its own answers; more judgments do not help) and price.
Each column measures one of them from the stored data alone, so it works for real judges; on the
simulator the configured noise and biases sit beside the measured ones, to check that they are recovered.

- Agreement: MT-bench's definition (`ranking.agreement`), with the humans' pooled votes and with the
  other judges' votes pooled (every matched pair of votes with any other judge counts once), Cohen's kappa
  on the same matched pairs, and Krippendorff's alpha of the whole panel with and without the judge.
- Noise: Grubbs' estimator of a rater's error variance. With three or more judges grading the same answers,
  Var(g_i - g_j) = s_i + s_j once what the two share (the answer's quality) cancels, and the pairwise
  variances are solved for each judge's own s_i by least squares. The length of the answer is regressed
  out of each difference first, so a length-biased judge is not called noisy for being biased. In grade
  points², it is the simulator's configured noise directly (a grade moves ±1 with that probability). The
  same estimate on the per-order pairwise verdicts (+1 first shown wins, -1 second, 0 tie; order and length
  regressed out) is `noise_pairwise`, on its own scale.
- Position bias: P(first shown wins) - P(second shown wins) over every single-order verdict; each pair is
  asked in both orders, so an unbiased judge scores 0 whatever the answers.
- Length bias: the length coefficient of Arena's style control (`ranking.style_control`) on the judge's
  pairwise verdicts: log-odds per standard deviation of the normalised length difference, with model
  strengths held fixed. Longer answers also cover more in the simulator, so an unbiased judge is positive
  too; what tells a verbosity-biased judge is a coefficient above the others'.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from .. import ranking
from ..config import Config, SimJudgeSpec
from ..ranking.agreement import HUMAN, KEY, agreement_stats, canonical_votes
from ..warehouse import Warehouse, columns

TABLE = "evaluator_leaderboard"
OTHERS = "__others__"
SIDE = {"model_a": "left", "model_b": "right", "tie": "tie"}
_FIRST = {"A": 1.0, "B": -1.0, "C": 0.0}  # a verdict in the shown order's letters, as +1 / -1 / 0
SPEC_FIELDS = ("noise", "position_bias", "verbosity_bias", "self_preference")
MIN_SHARED = 10  # answers (or verdicts) two judges must share before their difference is used for noise


@dataclass
class EvaluatorInputs:
    """Everything the table reads: every judgment row (all parse statuses), answer texts by response id,
    the journaled calls of the judges (request_key, status, cost_usd, latency_s), external votes, and the
    configured judge specs of simulated judges (model, noise, position_bias, verbosity_bias,
    self_preference)."""

    judgments: pd.DataFrame
    texts: pd.Series
    journal: pd.DataFrame
    external: pd.DataFrame
    configured: pd.DataFrame


def configured_judges(config: Config) -> pd.DataFrame:
    """The simulator's judge specs for every simulated model that judges."""
    rows = []
    for m in config.models:
        if m.is_simulated and m.name in config.judges:
            j = m.sim_judge or SimJudgeSpec()
            rows.append({"model": m.name, "noise": j.noise, "position_bias": j.position_bias,
                         "verbosity_bias": j.verbosity_bias, "self_preference": j.self_preference})
    return pd.DataFrame(rows, columns=["model", *SPEC_FIELDS])


def load_evaluator_inputs(wh: Warehouse, config: Config) -> EvaluatorInputs:
    judgments = wh.table("judgments")
    texts = wh.query("SELECT response_id, text FROM responses WHERE response_id IN "
                     "(SELECT response_a_id FROM judgments UNION SELECT response_b_id FROM judgments)")
    journal = wh.query("SELECT request_key, status, cost_usd, latency_s FROM llm_journal "
                       "WHERE request_key IN "
                       "(SELECT request_key FROM judgments UNION SELECT request_key_swapped FROM judgments)")
    return EvaluatorInputs(judgments, texts.set_index("response_id")["text"], journal,
                           wh.table("external_comparisons"), configured_judges(config))


# -- statistics -------------------------------------------------------------------------------------------

def rater_error_variance(scores: pd.DataFrame, covariate: pd.DataFrame | None = None,
                         min_shared: int = MIN_SHARED) -> pd.Series:
    """Grubbs' error variance per rater from items × raters scores (NaN where not rated).

    For every two raters, the variance of their score difference over the items both scored, after a
    least-squares fit of the difference on an intercept and the `covariate` columns (items × k, aligned
    with `scores`); then s = argmin Σ (V_ij - s_i - s_j)², clipped at 0. Needs three raters linked by
    pairs with `min_shared` items each; otherwise (and for a rater in no such pair) NaN.
    """
    raters = list(scores.columns)
    rows, targets = [], []
    cov = None if covariate is None else covariate.reindex(scores.index).to_numpy(dtype=np.float64)
    for i, j in combinations(range(len(raters)), 2):
        d = (scores.iloc[:, i] - scores.iloc[:, j]).to_numpy(dtype=np.float64)
        ok = np.isfinite(d)
        x = np.ones((len(d), 1)) if cov is None else np.column_stack([np.ones(len(d)), cov])
        ok &= np.isfinite(x).all(axis=1)
        if ok.sum() < max(min_shared, x.shape[1] + 2):
            continue
        beta = np.linalg.lstsq(x[ok], d[ok], rcond=None)[0]
        resid = d[ok] - x[ok] @ beta
        row = np.zeros(len(raters))
        row[[i, j]] = 1.0
        rows.append(row)
        targets.append(float(resid @ resid) / (ok.sum() - x.shape[1]))
    out = pd.Series(np.nan, index=pd.Index(raters, name="judge"), dtype=np.float64)
    if len(rows) < 3:
        return out
    a = np.array(rows)
    seen = a.sum(axis=0) > 0
    if np.linalg.matrix_rank(a[:, seen]) < seen.sum():  # two raters alone (or a chain): not identified
        return out
    s = np.linalg.lstsq(a[:, seen], np.array(targets), rcond=None)[0]
    out[seen] = np.clip(s, 0.0, None)
    return out


def tie_rounded(scores: pd.Series, digits: int = 9) -> pd.Series:
    """Scores equal to `digits` significant digits made equal: two models with the same record get
    Bradley–Terry scores that differ only in float noise, and a rank must call them tied."""
    top = float(np.nanmax(np.abs(scores.to_numpy(dtype=np.float64)))) or 1.0
    return (scores / top).round(digits) * top


def published_rank_correlation(a: pd.Series, b: pd.Series) -> float:
    """The rank correlation as LLMFAO's leaderboard notebook prints it: Pearson's r of the integer ranks
    (pandas' average rank, truncated to int) of two score Series over their common models."""
    common = a.index.intersection(b.index)
    ra = tie_rounded(a[common]).rank(ascending=False).astype(int)
    rb = tie_rounded(b[common]).rank(ascending=False).astype(int)
    return float(np.corrcoef(ra.to_numpy(float), rb.to_numpy(float))[0, 1])


def bt_scores(votes: pd.DataFrame) -> pd.Series | None:
    """A Bradley–Terry board of votes (model_a, model_b, winner), or None when it cannot be fitted."""
    v = votes[votes["winner"].notna() & (votes["model_a"] != votes["model_b"])]
    if v["model_a"].nunique() + v["model_b"].nunique() < 2 or v.empty:
        return None
    try:
        return ranking.bradley_terry(v["model_a"], v["model_b"], v["winner"].map(SIDE))
    except ranking.RankingError:
        return None


# -- the table --------------------------------------------------------------------------------------------

def _votes(inputs: EvaluatorInputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every judge's pairwise votes, ours and external machine sources, as judge/prompt_id/turn/model_a/
    model_b/winner; the human votes)."""
    j = inputs.judgments
    ours = j[(j["mode"] == "pairwise") & (j["parse_status"] == "ok") & j["winner"].notna()
             & (j["model_a"] != j["model_b"])]
    ours = ours.rename(columns={"judge_model": "judge"})[["judge", "prompt_id", "turn", "model_a", "model_b",
                                                         "winner"]]
    ext = inputs.external
    machine = ext[~ext["human"].astype(bool)].rename(columns={"source": "judge"})[list(ours.columns)]
    human = ext[ext["human"].astype(bool)][["prompt_id", "turn", "model_a", "model_b", "winner"]]
    votes = pd.concat([ours, machine], ignore_index=True) if len(machine) else ours
    return votes.astype({"judge": str}), human


def _agreement_columns(votes: pd.DataFrame, human: pd.DataFrame, judges: list[str]) -> pd.DataFrame:
    canon = canonical_votes(votes) if len(votes) else pd.DataFrame(columns=KEY + ["judge", "label"])
    if len(human):
        canon = pd.concat([canon, canonical_votes(human, judge=HUMAN)], ignore_index=True)
    human_board = bt_scores(human) if len(human) else None
    panel = canon[canon["judge"] != HUMAN]
    unit = panel.groupby(KEY, sort=False).ngroup() if len(panel) else pd.Series(dtype=np.int64)
    alpha_all = ranking.krippendorff_alpha_long(unit, panel["label"]) if len(panel) else np.nan
    rows = []
    for judge in judges:
        row = {"judge": judge, "alpha_all": alpha_all}
        own = panel["judge"] == judge
        row["alpha_without"] = ranking.krippendorff_alpha_long(unit[~own], panel.loc[~own, "label"]) \
            if (~own).any() else np.nan
        if own.any() and (~own).any():
            relabelled = panel.assign(judge=np.where(own, judge, OTHERS))
            stats = agreement_stats(relabelled, judge, OTHERS)
            row.update(judges_agreement=stats["agreement_with_ties"],
                       judges_agreement_no_ties=stats["agreement_without_ties"],
                       judges_kappa=stats["cohen_kappa"], judges_n=stats["n_with_ties"])
        if own.any() and human_board is not None:
            stats = agreement_stats(canon, judge, HUMAN)
            row.update(human_agreement=stats["agreement_with_ties"],
                       human_agreement_no_ties=stats["agreement_without_ties"],
                       human_kappa=stats["cohen_kappa"], human_n=stats["n_with_ties"])
            board = bt_scores(votes[votes["judge"] == judge])
            if board is not None and len(board.index.intersection(human_board.index)) >= 2:
                row["human_spearman"] = ranking.spearman(tie_rounded(board), tie_rounded(human_board))
        rows.append(row)
    return pd.DataFrame(rows)


def _order_codes(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per single-order verdict: judge, the item (prompt, turn, first and second answer shown),
    y (+1 first shown won, -1 second, 0 tie) and both answers' response ids."""
    parts = []
    for col, first, second in (("verdict_ab", "response_a_id", "response_b_id"),
                               ("verdict_ba", "response_b_id", "response_a_id")):
        p = pairs[pairs[col].isin(list(_FIRST))]
        parts.append(pd.DataFrame({"judge": p["judge_model"].astype(str), "prompt_id": p["prompt_id"],
                                   "turn": p["turn"], "first": p[first], "second": p[second],
                                   "y": p[col].map(_FIRST).astype(float)}))
    return pd.concat(parts, ignore_index=True)


def _words(texts: pd.Series, ids: pd.Series) -> np.ndarray:
    return ids.map(texts).map(lambda t: float(len(t.split())) if isinstance(t, str) else np.nan).to_numpy()


def _noise_columns(j: pd.DataFrame, texts: pd.Series) -> pd.DataFrame:
    ok = j[j["parse_status"] == "ok"]
    single = ok[(ok["mode"] == "single") & ok["score"].notna()]
    grades = single.pivot_table(index="response_a_id", columns="judge_model", values="score",
                                aggfunc="mean") if len(single) else pd.DataFrame()
    length = pd.DataFrame({"words": _words(texts, grades.index.to_series())}, index=grades.index)
    # A judge grading its own answers is not noisy on them, only generous: they are left out.
    own = pd.DataFrame({c: single.groupby("response_a_id")["model_a"].first().reindex(grades.index) == c
                        for c in grades.columns})
    noise = rater_error_variance(grades.mask(own), length) if grades.shape[1] else pd.Series(dtype=float)
    pairs = ok[(ok["mode"] == "pairwise") & (ok["model_a"] != ok["model_b"])]
    codes = _order_codes(pairs) if len(pairs) else pd.DataFrame(columns=["judge", "prompt_id", "turn",
                                                                         "first", "second", "y"])
    wide = codes.pivot_table(index=["prompt_id", "turn", "first", "second"], columns="judge", values="y") \
        if len(codes) else pd.DataFrame()
    if len(wide):
        items = wide.index.to_frame(index=False)
        a, b = _words(texts, items["first"]), _words(texts, items["second"])
        ratio = pd.DataFrame({"length": (a - b) / (a + b + 1.0)}, index=wide.index)
        noise_pairwise = rater_error_variance(wide, ratio)
    else:
        noise_pairwise = pd.Series(dtype=float)
    position = codes.groupby("judge")["y"].mean() if len(codes) else pd.Series(dtype=float)
    out = pd.DataFrame({"noise": noise, "noise_pairwise": noise_pairwise, "position_bias": position})
    return out.rename_axis("judge").reset_index()


def self_preference_table(j: pd.DataFrame) -> pd.DataFrame:
    """Per judge that graded or compared its own answers: how much more it gives them than the other
    judges give the same answers, beyond how much more it gives everyone's answers (grade points); and the
    same for its own model's adjusted pairwise win rate on the pairs the others also judged. Another judge's
    verdicts on its own answers are no reference: they carry that judge's own self-preference."""
    ok = j[j["parse_status"] == "ok"]
    rows = []
    single = ok[(ok["mode"] == "single") & ok["score"].notna()]
    grades = single.pivot_table(index=["response_a_id", "model_a"], columns="judge_model", values="score") \
        if len(single) else pd.DataFrame()
    pairs = ok[(ok["mode"] == "pairwise") & ok["winner"].notna() & (ok["model_a"] != ok["model_b"])]
    for judge in sorted(set(ok["judge_model"].astype(str))):
        row = {"judge": judge}
        if judge in grades.columns and grades.shape[1] > 1:
            author = grades.index.get_level_values("model_a")
            others = grades.drop(columns=judge)
            others = others.mask(pd.DataFrame({c: author == c for c in others.columns}, index=grades.index))
            gap = grades[judge] - others.mean(axis=1)
            mine = author == judge
            if mine.any() and (~mine).any():
                row["self_preference"] = float(gap[mine].mean() - gap[~mine].mean())
        party = (pairs["model_a"] == judge) | (pairs["model_b"] == judge)
        party_judged = (pairs["judge_model"] == pairs["model_a"]) | (pairs["judge_model"] == pairs["model_b"])
        own = pairs[party & ((pairs["judge_model"] == judge) | ~party_judged)]
        if len(own) and own["judge_model"].nunique() > 1:
            first = own["model_a"] == judge
            score = np.where(own["winner"] == "tie", 0.5,
                             (own["winner"] == np.where(first, "model_a", "model_b")) * 1.0)
            opponent = np.where(first, own["model_b"], own["model_a"])
            by = pd.Series(score, index=own.index).groupby(
                [own["prompt_id"], own["turn"], opponent, own["judge_model"].astype(str)]).mean().unstack()
            if judge in by.columns:
                gain = (by[judge] - by.drop(columns=judge).mean(axis=1)).dropna()
                if len(gain):
                    row["self_win_rate_gain"] = float(gain.mean())
        rows.append(row)
    return pd.DataFrame(rows, columns=["judge", "self_preference", "self_win_rate_gain"])


def _length_columns(j: pd.DataFrame, texts: pd.Series, rounds: int, seed: int) -> pd.DataFrame:
    ok = j[(j["parse_status"] == "ok") & (j["mode"] == "pairwise") & j["winner"].notna()
           & (j["model_a"] != j["model_b"])]
    rows = []
    for judge, g in ok.groupby(ok["judge_model"].astype(str)):
        ta, tb = g["response_a_id"].map(texts), g["response_b_id"].map(texts)
        g = g[ta.notna() & tb.notna()]
        if len(g) < MIN_SHARED or pd.concat([g["model_a"], g["model_b"]]).nunique() < 2:
            continue
        try:
            fit = ranking.style_control(g["model_a"], g["model_b"], g["winner"], ta[g.index], tb[g.index],
                                        labels=("model_a", "model_b", "tie"), rounds=rounds, seed=seed)
        except ranking.RankingError:  # disconnected comparisons: no common scale to hold fixed
            continue
        coef = fit.coefficient_table().set_index("feature").loc["length"]
        rows.append({"judge": judge, "length_coef": coef["coefficient"], "length_coef_low": coef["low"],
                     "length_coef_high": coef["high"]})
    return pd.DataFrame(rows, columns=["judge", "length_coef", "length_coef_low", "length_coef_high"])


def _cost_columns(j: pd.DataFrame, journal: pd.DataFrame) -> pd.DataFrame:
    keyed = pd.concat([j[["judge_model", "request_key"]],
                       j[["judge_model", "request_key_swapped"]].rename(columns={"request_key_swapped":
                                                                                 "request_key"})])
    calls = keyed.dropna().drop_duplicates().merge(journal, on="request_key")
    judged = j[j["request_key"].notna()].groupby("judge_model").size()
    rows = []
    for judge, g in calls.groupby("judge_model"):
        ok = g[g["status"] == "ok"]["latency_s"].dropna()
        rows.append({"judge": str(judge), "n_calls": len(g),
                     "usd_per_1k": 1000.0 * float(g["cost_usd"].fillna(0).sum()) / judged.get(judge, np.nan),
                     "latency_p50_s": ok.median() if len(ok) else np.nan,
                     "latency_p90_s": ok.quantile(0.9) if len(ok) else np.nan})
    return pd.DataFrame(rows, columns=["judge", "n_calls", "usd_per_1k", "latency_p50_s", "latency_p90_s"])


def evaluator_table(inputs: EvaluatorInputs, rounds: int = 200, seed: int = 0) -> pd.DataFrame:
    """One row per judge (ours and external machine sources), columns `columns("evaluator_leaderboard")`,
    best first by agreement with the humans where there are human votes, else with the other judges."""
    j = inputs.judgments
    votes, human = _votes(inputs)
    ours = sorted(set(j["judge_model"].astype(str)))
    judges = ours + sorted(set(votes["judge"]) - set(ours))
    base = pd.DataFrame({"judge": judges, "source": ["judged" if x in ours else "external" for x in judges]})
    counts = j.groupby(j["judge_model"].astype(str)).agg(
        n_judgments=("judgment_id", "size"),
        n_pairwise=("mode", lambda m: int((m == "pairwise").sum())),
        n_single=("mode", lambda m: int((m == "single").sum())),
        parse_failure_rate=("parse_status", lambda s: float((s != "ok").mean())))
    ext_counts = votes[~votes["judge"].isin(ours)].groupby("judge").size()
    counts = pd.concat([counts, pd.DataFrame({"n_judgments": ext_counts, "n_pairwise": ext_counts})])
    consistency = pd.DataFrame(columns=["judge", "position_consistency", "prefers_first"])
    pairs = j[(j["mode"] == "pairwise") & (j["parse_status"] == "ok")].copy()
    if len(pairs):
        pairs["verdict_ab"] = pairs["verdict_ab"].map({"A": "model_a", "B": "model_b", "C": "tie"})
        pairs["verdict_ba"] = pairs["verdict_ba"].map({"A": "model_b", "B": "model_a", "C": "tie"})
        pc = ranking.position_consistency(pairs.rename(columns={"judge_model": "judge"}))
        consistency = pc.rename(columns={"consistency": "position_consistency"})[list(consistency.columns)]
    configured = inputs.configured.rename(columns={"model": "judge", **{
        c: f"configured_{c}" for c in SPEC_FIELDS}})
    table = base.merge(counts.rename_axis("judge").reset_index(), on="judge", how="left")
    for part in (_agreement_columns(votes, human, judges), consistency,
                 _noise_columns(j, inputs.texts) if len(j) else None,
                 _length_columns(j, inputs.texts, rounds, seed), self_preference_table(j),
                 _cost_columns(j, inputs.journal), configured):
        if part is not None and len(part):
            table = table.merge(part.astype({"judge": str}), on="judge", how="left")
    table["simulated"] = table["judge"].isin(set(inputs.configured["model"]))
    cols = columns(TABLE)
    for col in cols:
        if col not in table.columns:
            table[col] = np.nan
    table = table[cols]
    key = table["human_agreement"].fillna(table["judges_agreement"])
    table = table.assign(_key=key).sort_values(["_key", "judge"], ascending=[False, True], na_position="last")
    out = table.drop(columns="_key").reset_index(drop=True)
    ints = ["n_judgments", "n_pairwise", "n_single", "human_n", "judges_n", "n_calls"]
    for col in ints:
        out[col] = pd.to_numeric(out[col]).fillna(0).astype("int64")
    return out


def noise_recovery(table: pd.DataFrame) -> dict:
    """On the simulator: whether the measured noise orders the simulated judges as configured (Spearman
    and exact order), and the same for position bias, verbosity bias and self-preference (the judge
    configured highest is the one measured highest)."""
    sim = table[table["simulated"].astype(bool) & table["noise"].notna()]
    out: dict = {}
    if len(sim) >= 2 and sim["configured_noise"].nunique() > 1:
        out["noise_spearman"] = ranking.spearman(sim.set_index("judge")["noise"],
                                                 sim.set_index("judge")["configured_noise"])
        by_measured = list(sim.sort_values("noise")["judge"])
        by_configured = list(sim.sort_values("configured_noise")["judge"])
        out["noise_order_recovered"] = by_measured == by_configured
    sim = table[table["simulated"].astype(bool)]
    for measured, configured in (("position_bias", "configured_position_bias"),
                                 ("length_coef", "configured_verbosity_bias"),
                                 ("self_preference", "configured_self_preference")):
        s = sim[sim[measured].notna()]
        if len(s) >= 2 and s[configured].nunique() > 1:
            out[f"{measured}_top_recovered"] = bool(
                s.loc[s[measured].idxmax(), "judge"] == s.loc[s[configured].idxmax(), "judge"])
    return out
