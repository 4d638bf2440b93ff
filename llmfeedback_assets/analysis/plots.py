"""Readable tables and figures for the leaderboards and judge agreement (shown in the UI's metadata).

Dagster-free; matplotlib is imported inside the functions (Agg canvas, no pyplot state) so that loading
the code location stays light. Builders return a `Figure` so tests can read panel titles; `figure_png`
encodes one.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

# 4 decimals keep BT scores apart (they sum to 1) without float noise such as 0.9999999999999999.
DECIMALS = 4

BOARD_NOTE = (
    "**How to read this board.** `win_rate` = wins / comparisons; `win_rate_adjusted` = (wins + ½·ties) / "
    "comparisons, so a tie counts as half a win (MT-bench's adjusted win rate). `rank` comes from the 95% "
    "bootstrap intervals of the Bradley–Terry score: rank = 1 + the number of models whose *lower* bound "
    "lies above this model's *upper* bound. Models whose intervals overlap can share a rank (\"3, 3\": "
    "both have exactly two models clearly ahead of them, and the data cannot order the two). Elo = "
    "400·log10(BT score), shifted so the compared models average 1000; 400 Elo points = 10:1 odds. "
    "`style_elo`: Elo with style held fixed (Chatbot Arena's style control: the answers' differences in "
    "length, headers, lists and bold are fitted with the strengths, so a judge that rewards length alone "
    "stops lifting long answers). `lc_win_rate`: AlpacaEval 2.0's length-controlled win rate against the "
    "baseline, the win rate the model would have if its answers were as long as the baseline's, with its "
    "standard error `lc_win_rate_se` (0 where the fit is certain, e.g. a model that never beat the "
    "baseline); \"–\" for the baseline itself."
)


def rounded(df: pd.DataFrame, decimals: int = DECIMALS) -> pd.DataFrame:
    """Float columns rounded for people (tables, previews); the warehouse keeps full precision."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(decimals)
    return out


def board_markdown(board: pd.DataFrame) -> str:
    """One board as a rounded markdown table with the note that explains its columns and ranks."""
    cols = ["rank", "model", "elo", "elo_low", "elo_high", "style_elo", "style_elo_low", "style_elo_high",
            "bt_score", "bt_low", "bt_high", "win_rate", "win_rate_adjusted", "lc_win_rate", "lc_win_rate_se",
            "mean_score_turn1", "mean_score_turn2", "n_comparisons", "true_quality"]
    view = rounded(board[[c for c in cols if c in board.columns]])
    for col in ("elo", "elo_low", "elo_high", "style_elo", "style_elo_low", "style_elo_high"):
        if col in view:  # Elo to one decimal: a point of Elo is already below any interval's width
            view[col] = view[col].round(1)
    view = view.drop(columns=[c for c in ("true_quality", "style_elo", "style_elo_low", "style_elo_high",
                                          "lc_win_rate", "lc_win_rate_se")
                              if c in view and view[c].isna().all()])
    view = view.astype(object).where(view.notna(), None)  # tabulate shows None as missingval, NaN as "nan"
    return view.to_markdown(index=False, floatfmt="g", missingval="–") + "\n\n" + BOARD_NOTE


def compared(board: pd.DataFrame) -> pd.DataFrame:
    """The models with a Bradley–Terry score (pairwise comparisons), best first."""
    return board[board["bt_score"].notna()].sort_values("bt_score", ascending=False)


def pair_matrices(comparisons: pd.DataFrame, models: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(win fraction, battle count) matrices over `models`: cell (row, col) is the share of their battles
    the row model won (a tie counts half, as in `win_rate_adjusted`) and the number of battles."""
    c = comparisons[comparisons["model_a"].isin(models) & comparisons["model_b"].isin(models)]
    a_score = c["winner"].map({"model_a": 1.0, "model_b": 0.0, "tie": 0.5})
    long = pd.concat([
        pd.DataFrame({"row": c["model_a"], "col": c["model_b"], "score": a_score}),
        pd.DataFrame({"row": c["model_b"], "col": c["model_a"], "score": 1.0 - a_score}),
    ]).dropna()
    grouped = long.groupby(["row", "col"])["score"]
    wins = grouped.mean().unstack().reindex(index=models, columns=models)
    counts = grouped.size().unstack().reindex(index=models, columns=models).fillna(0)
    return wins, counts


def predicted_win_matrix(board: pd.DataFrame) -> pd.DataFrame:
    """Bradley–Terry's P(row beats col) = s_row / (s_row + s_col), the same as the Elo logistic
    1 / (1 + 10^((elo_col − elo_row) / 400)) on the board's Elo scale."""
    s = compared(board).set_index("model")["bt_score"].astype(float)
    p = s.to_numpy()[:, None] / (s.to_numpy()[:, None] + s.to_numpy()[None, :])
    np.fill_diagonal(p, np.nan)
    return pd.DataFrame(p, index=s.index, columns=s.index)


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _elo_panel(ax, board: pd.DataFrame) -> None:
    data = compared(board).iloc[::-1]  # best at the top
    if data.empty:
        ax.text(0.5, 0.5, "no pairwise comparisons", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    y = np.arange(len(data))
    elo = data["elo"].to_numpy(dtype=float)
    # A bound of BT score 0 is −inf Elo: draw no whisker rather than an unreadable axis.
    low = np.where(np.isfinite(data["elo_low"].to_numpy(dtype=float)), data["elo_low"], elo)
    high = np.where(np.isfinite(data["elo_high"].to_numpy(dtype=float)), data["elo_high"], elo)
    ax.errorbar(elo, y, xerr=np.clip(np.vstack([elo - low, high - elo]), 0, None), fmt="o",
                color="tab:blue", ecolor="gray", capsize=3, label="Elo")
    for yi, e in zip(y, elo, strict=True):
        ax.annotate(f"{e:.0f}", (e, yi), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    if "style_elo" in data and data["style_elo"].notna().any():
        style = data["style_elo"].to_numpy(dtype=float)
        s_err = np.vstack([style - data["style_elo_low"].to_numpy(dtype=float),
                           data["style_elo_high"].to_numpy(dtype=float) - style])
        ax.errorbar(style, y - 0.25, xerr=np.clip(np.nan_to_num(s_err), 0, None), fmt="D", color="tab:orange",
                    ecolor="tan", capsize=3, markersize=4, label="style-controlled Elo")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y, [f"{r}. {m}" for r, m in zip(data["rank"], data["model"], strict=True)])
    ax.set_ylim(-0.6, len(data) - 0.4)
    ax.set_xlabel("Elo (mean 1000), 95% bootstrap interval")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Elo with 95% intervals")


def _heatmap(ax, matrix: pd.DataFrame, title: str, fmt: str, cmap: str, vmin=None, vmax=None) -> None:
    values = matrix.to_numpy(dtype=float)
    shown = np.ma.masked_invalid(values)
    image = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    labels = [str(m) for m in matrix.index]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("column model (opponent)")
    ax.set_ylabel("row model")
    if len(labels) <= 12:
        lo = vmin if vmin is not None else 0.0
        hi = vmax if vmax is not None else (np.nanmax(values) if np.isfinite(values).any() else 1.0)
        for i in range(len(labels)):
            for j in range(len(labels)):
                if np.isfinite(values[i, j]):
                    t = (values[i, j] - lo) / ((hi - lo) or 1.0)  # where the cell sits on the colour scale
                    dark = abs(t - 0.5) > 0.3 if cmap == "RdBu" else t > 0.6
                    ax.text(j, i, format(values[i, j], fmt), ha="center", va="center", fontsize=8,
                            color="white" if dark else "black")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title)


def board_figure(board: pd.DataFrame, comparisons: pd.DataFrame | None, title: str):
    """One figure per board: Elo with intervals and, given the board's comparisons, the win-fraction,
    battle-count and predicted win-rate heat-maps (models in board order, best first)."""
    models = [str(m) for m in compared(board)["model"]]
    heatmaps = comparisons is not None and len(models) >= 2
    size = max(5.0, 0.55 * len(models) + 3.0)
    fig = _new_figure(2 * size + 1, 2 * size) if heatmaps else _new_figure(7, max(2.5, 0.35 * len(models)
                                                                                   + 1.5))
    if not heatmaps:
        _elo_panel(fig.add_subplot(1, 1, 1), board)
    else:
        wins, counts = pair_matrices(comparisons, models)
        np.fill_diagonal(counts.values, np.nan)
        _elo_panel(fig.add_subplot(2, 2, 1), board)
        _heatmap(fig.add_subplot(2, 2, 2), predicted_win_matrix(board).loc[models, models],
                 "Predicted P(row beats column), Bradley–Terry", ".2f", "RdBu", 0.0, 1.0)
        _heatmap(fig.add_subplot(2, 2, 3), wins, "Observed win fraction of row vs column (tie = ½)", ".2f",
                 "RdBu", 0.0, 1.0)
        _heatmap(fig.add_subplot(2, 2, 4), counts, "Battle count per model pair", ".0f", "Blues", 0.0)
    _title(fig, title)
    return fig


def _title(fig, title: str, note: str | None = None) -> None:
    """Figure title (and a footnote) with room kept for them: tight_layout alone lets them overlap."""
    height = fig.get_figheight()
    fig.suptitle(title, fontsize=13)
    bottom = 0.0
    if note:
        fig.text(0.5, 0.01, note, ha="center", va="bottom", fontsize=9, color="dimgray")
        bottom = 0.35 / height
    fig.tight_layout(rect=(0, bottom, 1, 1 - 0.45 / height))


def agreement_figure(agreement: pd.DataFrame):
    """Judge-vs-judge (and -human) agreement as two symmetric heat-maps: with and without ties."""
    names = sorted(set(agreement["judge_1"].astype(str)) | set(agreement["judge_2"].astype(str)))
    size = max(4.5, 0.6 * len(names) + 2.5)
    fig = _new_figure(2 * size + 1, size)
    for k, (col, label) in enumerate((("agreement_with_ties", "Agreement, ties included"),
                                      ("agreement_without_ties", "Agreement, ties excluded"))):
        m = pd.DataFrame(np.nan, index=names, columns=names)
        for row in agreement.itertuples(index=False):
            m.loc[str(row.judge_1), str(row.judge_2)] = m.loc[str(row.judge_2), str(row.judge_1)] = \
                getattr(row, col)
        ax = fig.add_subplot(1, 2, k + 1)
        _heatmap(ax, m, label, ".2f", "Greens", 0.0, 1.0)
        ax.set_xlabel("judge")
        ax.set_ylabel("judge" if k == 0 else "")
    same = agreement["judge_1"].astype(str) == agreement["judge_2"].astype(str)
    _title(fig, "Judge agreement (MT-bench definition)",
           "diagonal: agreement between different annotators of that source (human-human)" if same.any()
           else None)
    return fig


def figure_png(fig) -> bytes:
    """A figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def board_views(board: pd.DataFrame, comparisons: dict[str, pd.DataFrame],
                pooled: str = "__pooled__") -> dict[str, tuple[str, bytes]]:
    """Per stored board, by display name ("pooled", a judge, "<source> (external)"): its markdown and its
    figure as PNG. Heat-maps for the pooled board and each judge (from `comparisons`, keyed by board);
    external sources get the Elo panel only, their votes being someone else's."""
    out = {}
    for name, rows in board.groupby("judge_model", sort=False):
        name = str(name)
        shown = "pooled" if name == pooled else name
        comps = None if name.endswith(" (external)") else comparisons.get(name)
        title = f"Leaderboard: {'pooled LLM judges' if name == pooled else name}"
        fig = board_figure(rows, comps, title)
        out[shown] = (board_markdown(rows), figure_png(fig))
    return out


def _judge_bars(ax, table: pd.DataFrame, col: str, title: str, xlabel: str, configured: str | None = None,
                interval: tuple[str, str] | None = None, fmt: str = ".3g",
                extra: list[str] | None = None) -> None:
    """One horizontal bar per judge (first row at the top), its value written beside it, and the
    simulator's configured value where there is one."""
    names = [str(j) for j in table["judge"]][::-1]
    values = table[col].to_numpy(dtype=float)[::-1]
    y = np.arange(len(names))
    shown = np.nan_to_num(values)
    err = None
    if interval is not None:
        low, high = (table[c].to_numpy(dtype=float)[::-1] for c in interval)
        err = np.clip(np.nan_to_num(np.vstack([values - low, high - values])), 0, None)
    ax.barh(y, shown, xerr=err, color="tab:blue", alpha=0.75, ecolor="gray", capsize=3)
    notes = (extra or [""] * len(values))[::-1]
    for yi, v, note in zip(y, values, notes, strict=True):
        ax.annotate(("n/a" if not np.isfinite(v) else format(v, fmt)) + note, (0, yi), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8)
    if not np.isfinite(values).any() or np.nanmin(values) >= 0:
        ax.set_xlim(left=0)
    if configured is not None and configured in table.columns:
        cfg = table[configured].to_numpy(dtype=float)[::-1]
        if np.isfinite(cfg).any():
            names = [f"{n} (cfg {c:g})" if np.isfinite(c) else n for n, c in zip(names, cfg, strict=True)]
    ax.set_yticks(y, names)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title)


def evaluator_figure(table: pd.DataFrame):
    """The evaluator leaderboard: one panel per question a user asks of a judge (does it agree, how noisy,
    how biased, how often unreadable, how dear), one bar per judge in the table's order."""
    fig = _new_figure(16, max(6.0, 0.9 * len(table) + 4.0))
    ax = fig.add_subplot(2, 3, 1)
    names = [str(j) for j in table["judge"]][::-1]
    y = np.arange(len(names))
    series = [("human_agreement", "humans, ties in"), ("human_agreement_no_ties", "humans, no ties"),
              ("judges_agreement", "other judges, ties in"),
              ("judges_agreement_no_ties", "other judges, no ties")]
    series = [(c, label) for c, label in series if table[c].notna().any()]
    height = 0.8 / max(1, len(series))
    for k, (col, label) in enumerate(series):
        ax.barh(y + (k - (len(series) - 1) / 2) * height, np.nan_to_num(table[col].to_numpy(float)[::-1]),
                height=height, label=label)
    ax.set_yticks(y, names)
    ax.set_xlim(0, 1.6)  # room on the right for the legend
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel("MT-bench agreement (share of matched votes)")
    ax.set_title("Agreement")
    if series:
        ax.legend(fontsize=7, loc="center right")
    _judge_bars(fig.add_subplot(2, 3, 2), table, "noise", "Noise (error variance of grades)",
                "grade points², length regressed out", configured="configured_noise")
    _judge_bars(fig.add_subplot(2, 3, 3), table, "position_bias", "Position bias",
                "P(first shown wins) − P(second shown wins)", configured="configured_position_bias")
    _judge_bars(fig.add_subplot(2, 3, 4), table, "length_coef", "Length bias (style control)",
                "log-odds per std of length difference, 95% interval", configured="configured_verbosity_bias",
                interval=("length_coef_low", "length_coef_high"))
    _judge_bars(fig.add_subplot(2, 3, 5), table, "parse_failure_rate", "Parse failures",
                "share of judgments without a verdict")
    latency = [f" · median {v:.3g} s/call" if np.isfinite(v) else ""
               for v in table["latency_p50_s"].astype(float)]
    _judge_bars(fig.add_subplot(2, 3, 6), table, "usd_per_1k", "Cost and latency",
                r"\$ per 1,000 judgments (simulated \$ if simulated)", fmt=".4g", extra=latency)
    _title(fig, "Evaluator leaderboard: judges judged",
           "cfg: the simulator's configured value; n/a: not measurable from the stored data")
    return fig


EVALUATOR_NOTE = (
    "**How to read this table.** One row per judge, best agreement with the humans first (else with the "
    "other judges). *Agreement* is MT-bench's: the share of matched votes (same question, turn and pair) "
    "that agree, with ties and without the pairs where either side said tie; `kappa` corrects it for chance. "
    "`human_spearman`: the judge's and the humans' Bradley–Terry boards, rank-correlated. `alpha_all` is "
    "Krippendorff's alpha of the whole panel; `alpha_without` the panel's alpha without this judge (higher "
    "than `alpha_all`: the judge pulls the panel's reliability down). `noise`: the judge's own error "
    "variance in grade points² (Grubbs: from the grade differences between judges on the same answers, "
    "answer length regressed out); `noise_pairwise` the same on verdicts. `position_bias`: P(first shown "
    "wins) − P(second shown wins), 0 is fair; `position_consistency`: same verdict in both orders. "
    "`length_coef`: style control's length coefficient (log-odds per std of length difference, quality held "
    "fixed), compare across judges. `self_preference`: extra grade points to its own answers. "
    "`usd_per_1k`: $ per 1,000 judgments (simulated $ for simulated judges); latency in seconds per call. "
    "`cfg_*`: the simulator's configured values, to check the measured ones against."
)

_EVALUATOR_VIEW = {
    "judge": "judge", "human_agreement": "human_agree", "human_agreement_no_ties": "human_agree_no_ties",
    "human_kappa": "human_kappa", "human_spearman": "human_spearman", "judges_agreement": "judges_agree",
    "judges_agreement_no_ties": "judges_agree_no_ties", "judges_kappa": "judges_kappa",
    "alpha_all": "alpha_all", "alpha_without": "alpha_without", "noise": "noise",
    "noise_pairwise": "noise_pairwise", "position_bias": "position_bias",
    "position_consistency": "position_consistency", "length_coef": "length_coef",
    "self_preference": "self_preference", "parse_failure_rate": "parse_fail", "usd_per_1k": "usd_per_1k",
    "latency_p50_s": "latency_p50_s", "configured_noise": "cfg_noise",
    "configured_position_bias": "cfg_position", "configured_verbosity_bias": "cfg_verbosity",
    "configured_self_preference": "cfg_self",
}


def evaluator_markdown(table: pd.DataFrame) -> str:
    """The evaluator leaderboard as a rounded markdown table (columns with no value for any judge left
    out) and the note that explains its columns."""
    view = rounded(table[list(_EVALUATOR_VIEW)].rename(columns=_EVALUATOR_VIEW))
    view = view[[c for c in view.columns if c == "judge" or view[c].notna().any()]]
    return view.to_markdown(index=False, floatfmt="g") + "\n\n" + EVALUATOR_NOTE
