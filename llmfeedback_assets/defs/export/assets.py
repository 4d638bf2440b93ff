"""Export to a SQL database: the synthetic users and conversations as a backfill in Yupp's layout."""

import dagster as dg

from ... import export
from ..errors import one_line_failure
from ..resources import LLMFeedbackResource


@dg.asset(group_name="export", kinds={"python", "sql"},
          deps=["personas", "conversations", "conversation_judgments"],
          description="Bulk-inserts the synthetic users, chats, turns, messages and evals into "
                      "export.database_url (SQLite by default, PostgreSQL in production) in Yupp's synthetic "
                      "backfill layout: synthetic_backfill_attributes (this run as a backfill job, with its "
                      "config), users, synthetic_user_attributes, chats, turns, chat_messages and evals "
                      "(score_1, score_2 = 100 - score_1, judge_model_name). Creates the schema if absent; "
                      "idempotent (stable ids, conflicts skipped), one transaction per batch of chats, and "
                      "every row records the backfill job (this run's id) that created it.")
@one_line_failure
def backfill_export(context: dg.AssetExecutionContext,
                    llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    data = export.load_backfill_data(llmfeedback.warehouse(config))
    if data.users.empty and data.chats.empty:
        context.log.info("no synthetic users or chats in the warehouse: nothing to export")
        return dg.MaterializeResult(metadata={"skipped": "nothing to export", **{
            f"rows/{t}": 0 for t in data.counts()}})
    url = export.resolve_database_url(config.export.database_url, config.root)
    report = export.export_backfill(url, data, job_id=context.run_id, batch_size=config.export.batch_size,
                                    source=f"dagster run {context.run_id}", progress=context.log.info,
                                    attributes=export.backfill_attributes(config))
    return dg.MaterializeResult(metadata={**report.as_metadata(),
                                          **{f"rows/{t}": n for t, n in data.counts().items()}})


export_assets = [backfill_export]
