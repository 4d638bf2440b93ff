"""Checks of the curation area."""

import dagster as dg

from ...curation import pipeline
from ..checks import parse_failure_result
from ..errors import one_line_failure
from ..partitions import judge_model_partitions
from ..resources import LLMFeedbackResource


@dg.asset_check(asset="quality_scores", partitions_def=judge_model_partitions, blocking=True,
                description="Share of quality-judge replies without a usable overall rating stays under "
                            "judging.max_parse_failure_rate.")
@one_line_failure
def quality_scores_parse_failure_rate(context: dg.AssetCheckExecutionContext,
                                      llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    config = llmfeedback.load()
    frame = llmfeedback.warehouse(config).query(
        "SELECT parse_status FROM quality_scores WHERE judge_model = ?", [context.partition_key])
    unparsed = int((~frame["parse_status"].isin(pipeline.SCORED)).sum())
    return parse_failure_result(config, context.partition_key, len(frame), unparsed)


@dg.asset_check(asset="curated_scores", partitions_def=judge_model_partitions, blocking=True,
                description="Every curated row has an embedding in the cache (same text hash and model).")
@one_line_failure
def curated_scores_have_embeddings(context: dg.AssetCheckExecutionContext,
                                   llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    judge = context.partition_key
    row = llmfeedback.warehouse().query("""
        SELECT count(*) AS n, count(*) FILTER (WHERE e.text_hash IS NULL) AS missing
        FROM curated_scores c
        LEFT JOIN embedding_store e ON e.text_hash = c.text_hash AND e.backbone = c.embedding_model
        WHERE c.judge_model = ?""", [judge]).iloc[0]
    return dg.AssetCheckResult(passed=int(row["missing"]) == 0, metadata={
        "judge": judge, "curated_rows": int(row["n"]), "without_embedding": int(row["missing"])})


curation_checks = [quality_scores_parse_failure_rate, curated_scores_have_embeddings]
