"""Checks of the synthetic-conversation area."""

import dagster as dg

from ..errors import one_line_failure
from ..metadata import md_table
from ..partitions import judge_model_partitions
from ..resources import LLMFeedbackResource


@dg.asset_check(asset="conversation_judgments", partitions_def=judge_model_partitions, blocking=True,
                description="No turn was judged by one of its own two eval models.")
@one_line_failure
def conversation_judge_took_no_part(context: dg.AssetCheckExecutionContext,
                                    llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    judge = context.partition_key
    n = llmfeedback.warehouse().count("conversation_judgments",
                                      "WHERE judge_model = ? AND (model_1 = ? OR model_2 = ?)",
                                      [judge, judge, judge])
    return dg.AssetCheckResult(passed=n == 0, metadata={"judge": judge, "self_judged_turns": n})


@dg.asset_check(asset="conversations", blocking=True,
                description="Complete conversations hold exactly their planned turns, three messages per "
                            "turn; partial ones fewer turns and a reason.")
@one_line_failure
def conversations_consistent(llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    bad = llmfeedback.warehouse().query("""
        SELECT c.conversation_id, c.status, c.n_turns, c.n_turns_planned, count(m.message_id) AS messages
        FROM conversations c LEFT JOIN conversation_messages m USING (conversation_id)
        GROUP BY ALL
        HAVING count(m.message_id) <> 3 * c.n_turns
            OR (c.status = 'complete' AND (c.n_turns <> c.n_turns_planned OR c.error IS NOT NULL))
            OR (c.status = 'partial' AND (c.n_turns >= c.n_turns_planned OR c.error IS NULL))""")
    return dg.AssetCheckResult(passed=bad.empty,
                               metadata={"inconsistent": len(bad), "examples": md_table(bad, 5)})


synth_checks = [conversation_judge_took_no_part, conversations_consistent]
