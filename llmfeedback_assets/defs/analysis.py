"""External comparisons (human or other judges' votes) and judge agreement."""

import dagster as dg

from ..judging.analysis import judge_agreement as compute_agreement
from ..judging.analysis import read_comparison_sources
from .meta import table_metadata
from .resources import LLMFeedbackResource
from .spine import KINDS, judgments

# The position-consistency share below which a judge is flagged (MT-bench reports GPT-4 at about 65%).
POSITION_CONSISTENCY_WARN = 0.6


@dg.asset(group_name="ingest", kinds=KINDS,
          description="External pairwise votes from `comparison_sources` (LLMFAO-style CSVs, MT-bench judgment "
                      "files), so a user's own human votes are ranked and compared with the LLM judges.")
def comparisons(llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    frame = read_comparison_sources(config)
    llmfeedback.warehouse(config).replace_table("external_comparisons", frame)
    per_source = frame.groupby("source").size().to_dict() if len(frame) else {}
    return dg.MaterializeResult(metadata=table_metadata(
        "external_comparisons", frame, votes_per_source=dg.MetadataValue.json(per_source)))


@dg.asset(group_name="analysis", kinds=KINDS, deps=[judgments, comparisons],
          automation_condition=dg.AutomationCondition.eager(),
          check_specs=[dg.AssetCheckSpec("position_consistency_per_judge", asset="judge_agreement",
                                         description=f"warns when a judge keeps fewer than "
                                                     f"{POSITION_CONSISTENCY_WARN:.0%} of verdicts when A and B swap")],
          description="Judge-vs-judge and judge-vs-human agreement per (prompt, turn, unordered pair) with and "
                      "without ties, Cohen's kappa and leaderboard correlations; position consistency per judge "
                      "in the `position_consistency` table.")
def judge_agreement(llmfeedback: LLMFeedbackResource):
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    agreement, consistency = compute_agreement(wh.table("judgments", "WHERE parse_status = 'ok'"),
                                               wh.table("external_comparisons"))
    wh.replace_table("judge_agreement", agreement)
    wh.replace_table("position_consistency", consistency)
    low = consistency[consistency["consistency"] < POSITION_CONSISTENCY_WARN]
    yield dg.MaterializeResult(metadata=table_metadata(
        "judge_agreement", agreement,
        position_consistency=dg.MetadataValue.md(consistency.to_markdown(index=False) if len(consistency) else "-")))
    yield dg.AssetCheckResult(
        check_name="position_consistency_per_judge", passed=low.empty, severity=dg.AssetCheckSeverity.WARN,
        metadata={f"consistency/{r.judge}": float(r.consistency) for r in consistency.itertuples()})


analysis_assets = [comparisons, judge_agreement]
