"""Leaderboards, external comparisons (human or other judges' votes), judge agreement and the HTML judgment
browser."""

import dagster as dg
import pandas as pd

from ...analysis.browser import BROWSER_DIR, write_browser
from ...analysis.controlled import lc_baseline
from ...analysis.evaluators import evaluator_table, load_evaluator_inputs, noise_recovery
from ...analysis.pipeline import (
    board_comparisons,
    board_groups,
    leaderboards,
    load_judgment_inputs,
    mt_bench_tables,
    read_comparison_sources,
)
from ...analysis.pipeline import judge_agreement as compute_agreement
from ...analysis.plots import (
    agreement_figure,
    board_views,
    evaluator_figure,
    evaluator_markdown,
    figure_png,
    rounded,
)
from ..automation import eager_over_judges, judge_coverage
from ..errors import one_line_failure
from ..metadata import KINDS, md_table, png_metadata, table_definition, table_metadata
from ..resources import LLMFeedbackResource

# The position-consistency share below which a judge is flagged (MT-bench reports GPT-4 at about 65%).
POSITION_CONSISTENCY_WARN = 0.6

EVALUATOR_DESCRIPTION = (
    "Judges judged: one row per judge (ours and external machine sources), best agreement with the "
    "humans first. `source`, `simulated`, `n_judgments`, `n_pairwise`, `n_single`: what the row rests "
    "on. Human votes (where `comparison_sources` has them): MT-bench agreement with and without ties "
    "(`human_agreement`, `human_agreement_no_ties`, over `human_n` matched votes), Cohen's kappa "
    "(`human_kappa`), Spearman of the two Bradley-Terry boards (`human_spearman`). The other judges, "
    "pooled: `judges_agreement`, `judges_agreement_no_ties`, `judges_kappa` over `judges_n`; "
    "Krippendorff's alpha of the panel (`alpha_all`) and without the judge (`alpha_without`). Noise: "
    "Grubbs' error variance of the judge's grades, answer length regressed out (`noise`, grade "
    "points²; the simulator's configured noise), and of its single-order verdicts (`noise_pairwise`). "
    "Bias: `position_bias` = P(first shown wins) - P(second shown wins), `position_consistency`, "
    "`prefers_first`; `length_coef` with its 95% interval (`length_coef_low`, `length_coef_high`): "
    "style control's length coefficient; where the judge also answers, `self_preference` (extra grade "
    "points to its own answers) and `self_win_rate_gain`. `parse_failure_rate`; from the request "
    "journal `n_calls`, `usd_per_1k` ($ per 1,000 judgments, simulated $ for simulated judges), "
    "`latency_p50_s`, `latency_p90_s`. On the simulator `configured_noise`, "
    "`configured_position_bias`, `configured_verbosity_bias`, `configured_self_preference` sit beside "
    "the measured values, and the metadata say whether they are recovered."
)


@dg.asset(group_name="ingest", kinds=KINDS, metadata=table_definition("external_comparisons"),
          description="External pairwise votes from `comparison_sources` (LLMFAO-style CSVs, MT-bench "
                      "judgment files), so a user's own human votes are ranked and compared with the LLM "
                      "judges.")
@one_line_failure
def comparisons(llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    frame = read_comparison_sources(config)
    llmfeedback.warehouse(config).replace_table("external_comparisons", frame)
    per_source = frame.groupby("source").size().to_dict() if len(frame) else {}
    return dg.MaterializeResult(metadata=table_metadata(
        "external_comparisons", frame, votes_per_source=dg.MetadataValue.json(per_source)))


@dg.asset(group_name="analysis", kinds=KINDS, deps=["judgments", "sim_ground_truth", comparisons],
          automation_condition=eager_over_judges(), metadata=table_definition("leaderboard"),
          description="Per judge and pooled (judge_model=`__pooled__`): Bradley-Terry scores with bootstrap "
                      "95% intervals, Elo-scale ratings, adjusted win rates and mean single-answer grades "
                      "per turn; with the simulator, the latent quality and the rank correlation with it. "
                      "Where the answers are ours (every judge and the pooled board, not external votes): "
                      "`style_elo` with its interval, Elo with style held fixed (Chatbot Arena's style "
                      "control: differences in length, headers, lists and bold fitted jointly, coefficients "
                      "in `style_coefficients`), and `lc_win_rate`, AlpacaEval 2.0's length-controlled win "
                      "rate against the baseline (`judging.baseline_model`, else the first responder; "
                      "`lc_baseline` in the metadata). Beside it: MT-bench scores per turn, overall and per "
                      "category with intervals "
                      "(`mt_bench_scores`, radar plot per judge) and FastChat's pairwise win rates "
                      "(`pairwise_win_rates`).")
@one_line_failure
def leaderboard(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    inputs = load_judgment_inputs(wh)
    board, summary, style = leaderboards(inputs, config)
    mt_scores, win_rates, radars = mt_bench_tables(inputs, config)
    wh.replace_many({"leaderboard": board, "mt_bench_scores": mt_scores, "pairwise_win_rates": win_rates,
                     "style_coefficients": style})
    md = {"summary": md_table(summary, len(summary), empty="no judgments"),
          "style_coefficients": md_table(rounded(style), len(style), empty="no answers to fit"),
          "lc_baseline": lc_baseline(config) or "none (no responders)",
          **judge_coverage(context.instance, config, set(inputs.judgments["judge_model"]))}
    comparisons = {name: board_comparisons(frame) for name, frame in board_groups(inputs)}
    for name, (table, png) in board_views(board, comparisons).items():
        md[f"board/{name}/table"] = dg.MetadataValue.md(table)
        md[f"board/{name}/plot"] = png_metadata(png, f"leaderboard {name}")
    overall = mt_scores[mt_scores["scope"] == "overall"]
    if len(overall):
        md["mt_bench_overall"] = md_table(overall[["judge_model", "model", "score", "low", "high", "n"]],
                                          len(overall))
    for judge, png in radars.items():
        md[f"mt_bench_radar/{judge}"] = png_metadata(png, f"mt_bench_radar_{judge}")
    for row in summary.itertuples(index=False):
        if pd.notna(row.kendall_tau_vs_truth):
            md[f"kendall_tau_vs_truth/{row.judge_model}"] = round(float(row.kendall_tau_vs_truth), 4)
    return dg.MaterializeResult(metadata=table_metadata("leaderboard", board, **md))


@dg.asset(group_name="analysis", kinds=KINDS, deps=["judgments", comparisons],
          automation_condition=eager_over_judges(), metadata=table_definition("judge_agreement"),
          check_specs=[dg.AssetCheckSpec("position_consistency_per_judge", asset="judge_agreement",
                                         description=f"warns when a judge keeps fewer than "
                                                     f"{POSITION_CONSISTENCY_WARN:.0%} of verdicts when A "
                                                     f"and B swap")],
          description="Judge-vs-judge and judge-vs-human agreement per (prompt, turn, unordered pair) with "
                      "and without ties, Cohen's kappa and leaderboard correlations; position consistency "
                      "per judge in the `position_consistency` table.")
@one_line_failure
def judge_agreement(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource):
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    judged = wh.table("judgments", "WHERE parse_status = 'ok'")
    agreement, consistency = compute_agreement(judged, wh.table("external_comparisons"))
    wh.replace_many({"judge_agreement": agreement, "position_consistency": consistency})
    low = consistency[consistency["consistency"] < POSITION_CONSISTENCY_WARN]
    plots = {"heatmap": png_metadata(figure_png(agreement_figure(agreement)), "judge agreement")} \
        if len(agreement) else {}
    yield dg.MaterializeResult(metadata=table_metadata(
        "judge_agreement", agreement, **plots,
        position_consistency=md_table(consistency, len(consistency), empty="-"),
        **judge_coverage(context.instance, config, set(judged["judge_model"]))))
    yield dg.AssetCheckResult(
        check_name="position_consistency_per_judge", passed=low.empty, severity=dg.AssetCheckSeverity.WARN,
        metadata={f"consistency/{r.judge}": round(float(r.consistency), 4) for r in consistency.itertuples()})


@dg.asset(group_name="analysis", kinds=KINDS, deps=["judgments", comparisons],
          automation_condition=eager_over_judges(), metadata=table_definition("evaluator_leaderboard"),
          description=EVALUATOR_DESCRIPTION)
@one_line_failure
def evaluator_leaderboard(context: dg.AssetExecutionContext,
                          llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    inputs = load_evaluator_inputs(wh, config)
    table = evaluator_table(inputs, rounds=config.leaderboard.bootstrap_rounds, seed=config.leaderboard.seed)
    wh.replace_table("evaluator_leaderboard", table)
    recovery = {k: round(v, 4) if isinstance(v, float) else v for k, v in noise_recovery(table).items()}
    plots = {"plot": png_metadata(figure_png(evaluator_figure(table)), "evaluator leaderboard")} \
        if len(table) else {}
    return dg.MaterializeResult(metadata=table_metadata(
        "evaluator_leaderboard", table, table=dg.MetadataValue.md(evaluator_markdown(table)) if len(table)
        else dg.MetadataValue.md("no judgments"), **plots, **recovery,
        **judge_coverage(context.instance, config, set(inputs.judgments["judge_model"]))))


@dg.asset(group_name="analysis", kinds={"duckdb", "html"}, deps=["prompts", "responses", "judgments"],
          automation_condition=eager_over_judges(),
          description="A static, self-contained HTML page, data/exports/browser/index.html, to read every "
                      "judgment side by side: per question the answers, each judge's verdict or grade and "
                      "its full reply; filters by judge, model and category and a 'disagreements only' "
                      "switch (judges that disagree on a pair, or a judge whose two orders disagree). Opens "
                      "from disk in any browser, without a server or network.")
@one_line_failure
def judgment_browser(llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    summary = write_browser(llmfeedback.warehouse(config), config.resolve(BROWSER_DIR) / "index.html")
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(summary.path)),
                                          **summary.as_metadata()})


analysis_assets = [comparisons, leaderboard, judge_agreement, evaluator_leaderboard, judgment_browser]
