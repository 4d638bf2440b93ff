"""Checks on the spine: red lights a person wants to see, blocking where downstream assets must not run."""

import dagster as dg

from ..checks import parse_failure_result, schema_check
from ..errors import one_line_failure
from ..partitions import judge_model_partitions
from ..resources import LLMFeedbackResource


@dg.asset_check(asset="prompts", blocking=True, description="Prompt ids are unique and every turn has text.")
@one_line_failure
def prompts_unique_and_non_empty(llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    wh = llmfeedback.warehouse()
    stats = wh.query("""
        SELECT count(*) AS n, count(DISTINCT prompt_id) AS ids,
               count(*) FILTER (WHERE n_turns = 0 OR list_bool_or([trim(t) = '' FOR t IN turns])) AS empty
        FROM prompts""").iloc[0]
    n, ids, empty = int(stats["n"]), int(stats["ids"]), int(stats["empty"])
    return dg.AssetCheckResult(passed=bool(n > 0 and ids == n and empty == 0),
                               metadata={"prompts": n, "duplicate_ids": n - ids, "empty_prompts": empty})


@dg.asset_check(asset="judgments", partitions_def=judge_model_partitions, blocking=True,
                description="Share of judge replies that could not be parsed stays under "
                            "judging.max_parse_failure_rate; a judge that stops following the format is "
                            "caught.")
@one_line_failure
def judgments_parse_failure_rate(context: dg.AssetCheckExecutionContext,
                                 llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    config = llmfeedback.load()
    row = llmfeedback.warehouse(config).query(
        "SELECT count(*) AS n, count(*) FILTER (WHERE parse_status <> 'ok') AS bad FROM judgments "
        "WHERE judge_model = ?", [context.partition_key]).iloc[0]
    return parse_failure_result(config, context.partition_key, int(row["n"]), int(row["bad"]))


@dg.asset_check(asset="judgments", partitions_def=judge_model_partitions, blocking=True,
                description="No judge graded its own responses (unless judging.allow_self_judging).")
@one_line_failure
def judgments_no_self_grading(context: dg.AssetCheckExecutionContext,
                              llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    config = llmfeedback.load()
    judge = context.partition_key
    n = llmfeedback.warehouse(config).count(
        "judgments", "WHERE judge_model = ? AND (model_a = ? OR model_b = ?)", [judge, judge, judge])
    return dg.AssetCheckResult(passed=n == 0 or config.judging.allow_self_judging,
                               metadata={"judge": judge, "self_graded": n,
                                         "allowed": config.judging.allow_self_judging})


spine_checks = [prompts_unique_and_non_empty, judgments_parse_failure_rate, judgments_no_self_grading,
                schema_check("prompts"), schema_check("responses")]
