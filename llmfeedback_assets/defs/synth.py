"""Synthetic users and conversations, their judgments, the dry-run cost estimate and the SQL backfill."""


import dagster as dg
import pandas as pd

from .. import export, synth
from ..config import ConfigError
from ..warehouse import Warehouse, columns
from .meta import table_metadata
from .partitions import judge_model_partitions
from .resources import LLMFeedbackResource

KINDS = {"duckdb", "python"}


def _replace_tables(wh: Warehouse, frames: dict[str, pd.DataFrame]) -> None:
    """Rewrite several tables in ONE transaction, so readers never see conversations without messages."""
    wh.replace_many(frames)


def _md(df: pd.DataFrame, n: int = 10) -> dg.MetadataValue:
    return dg.MetadataValue.md(df.head(n).to_markdown(index=False) if len(df) else "none")


@dg.asset(group_name="synth", kinds=KINDS,
          description="Synthetic users: the configured personas plus `generate_num_personas` invented by the "
                      "persona model (invalid JSON is asked again, then recorded in `synth_rejected`), "
                      "deduplicated by description. One generic user when `use_personas` is false.")
def personas(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    gateway = llmfeedback.gateway(context, config, wh) if config.synth.generate_num_personas else None
    result = synth.build_personas(gateway, config)
    _replace_tables(wh, {"personas": result.personas})
    wh.replace_where("synth_rejected", result.rejected.assign(asset="personas"), {"asset": "personas"})
    generated = int((result.personas["source"] == "generated").sum())
    return dg.MaterializeResult(metadata=table_metadata(
        "personas", result.personas, generated=generated, requested=result.requested,
        duplicates=result.duplicates, rejected_replies=len(result.rejected) - result.duplicates,
        rejected=_md(result.rejected[["item", "attempt", "reason"]]),
        **(result.stats.as_metadata() if result.stats else {})))


@dg.asset(group_name="synth", kinds=KINDS, deps=[personas],
          description="Side-by-side conversations: the user model plays each persona for a seeded number of "
                      "turns; two eval models drawn by sample_weight answer every user message; the user replies "
                      "to one answer. Messages are in `conversation_messages`. A failed call ends a conversation "
                      "as `partial` (kept, labelled, never counted as complete).")
def conversations(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    result = synth.generate_conversations(llmfeedback.gateway(context, config, wh), config, wh.table("personas"))
    _replace_tables(wh, {"conversations": result.conversations, "conversation_messages": result.messages})
    conv = result.conversations
    partial = conv[conv["status"] == synth.PARTIAL]
    for row in partial.head(20).itertuples(index=False):
        context.log.warning(f"partial conversation {row.conversation_id}: {row.error}")
    return dg.MaterializeResult(metadata=table_metadata(
        "conversations", conv, messages=len(result.messages), complete=len(conv) - len(partial),
        partial=len(partial), opening_retries=result.opening_retries,
        turns_per_conversation=dg.MetadataValue.json(
            {str(k): int(v) for k, v in conv["n_turns"].value_counts().sort_index().items()}),
        partial_reasons=_md(partial[["conversation_id", "n_turns", "n_turns_planned", "error"]]),
        **(result.stats.as_metadata() if result.stats else {})))


@dg.asset(group_name="synth", kinds=KINDS, deps=[conversations], partitions_def=judge_model_partitions,
          description="Per turn, one judge that is neither of the two eval models gives a 5-point preference, "
                      "mapped to 0-100 slider scores (score_2 = 100 - score_1). The judge of each turn is chosen "
                      "by synth.judge.choice_strategy (min_cost: cheapest by configured price; random: seeded). "
                      "Partitioned per judge model: a partition judges the turns assigned to its judge.")
def conversation_judgments(context: dg.AssetExecutionContext,
                           llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = synth.with_judge_timeout(llmfeedback.load())
    judge = context.partition_key
    pool = synth.judge_pool(config)
    if judge not in pool and judge not in config.judges:
        raise ConfigError(f"judge_model partition {judge!r} is neither a conversation judge ({pool}) nor a "
                          f"configured judge ({config.judges}) in {config.source}")
    wh = llmfeedback.warehouse(config)
    if judge in pool:
        config.check_secrets([judge])
        result = synth.judge_conversations(llmfeedback.gateway(context, config, wh), config,
                                           wh.table("conversations"), wh.table("conversation_messages"), judge)
    else:  # a spine judge that does not judge conversations: its partition is empty, not an error
        context.log.info(f"{judge} is not in synth.judge.models {pool}: no conversation turns assigned")
        result = synth.JudgeResult(pd.DataFrame(columns=columns("conversation_judgments")), None, 0, 0, 0)
    frame = result.judgments
    wh.replace_where("conversation_judgments", frame, {"judge_model": judge})
    failures = float((frame["parse_status"] != "ok").mean()) if len(frame) else 0.0
    return dg.MaterializeResult(metadata=table_metadata(
        "conversation_judgments", frame, judge=judge, strategy=config.synth.judge.choice_strategy,
        turns_assigned=result.assigned, turns_total=result.turns, turns_without_eligible_judge=result.unjudgeable,
        parse_failure_rate=round(failures, 4), **(result.stats.as_metadata() if result.stats else {})))


@dg.asset(group_name="synth", kinds={"python"},
          description="Dry run: the expected calls, tokens and dollars of the planned synthetic generation "
                      "(personas, conversations, judgments) from the config's counts and prices, before any call. "
                      "Also `llmfeedback estimate-synth-cost`.")
def cost_estimate(llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    frame = synth.estimate_synth_cost(llmfeedback.load())
    return dg.MaterializeResult(metadata={
        "est_cost_usd": float(frame["cost_usd"].sum()) if len(frame) else 0.0,
        "est_calls": float(frame["calls"].sum()) if len(frame) else 0.0,
        "est_input_tokens": int(frame["input_tokens"].sum()) if len(frame) else 0,
        "est_output_tokens": int(frame["output_tokens"].sum()) if len(frame) else 0,
        "estimate": dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "nothing planned")})


@dg.asset(group_name="export", kinds={"python", "sql"}, deps=[personas, conversations, conversation_judgments],
          description="Bulk-inserts synthetic users, chats, turns, messages and evals into export.database_url "
                      "(SQLite by default, PostgreSQL in production), creating the schema if absent. Idempotent "
                      "(stable ids, conflicts skipped), one transaction per batch of chats, and every row records "
                      "the backfill job (this run's id) that created it.")
def backfill_export(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    data = export.load_backfill_data(llmfeedback.warehouse(config))
    if data.users.empty and data.chats.empty:
        context.log.info("no synthetic users or chats in the warehouse: nothing to export")
        return dg.MaterializeResult(metadata={"skipped": "nothing to export", **{
            f"rows/{t}": 0 for t in data.counts()}})
    url = export.resolve_database_url(config.export.database_url, config.root)
    report = export.export_backfill(url, data, job_id=context.run_id, batch_size=config.export.batch_size,
                                    source=f"dagster run {context.run_id}", progress=context.log.info)
    return dg.MaterializeResult(metadata={**report.as_metadata(),
                                          **{f"rows/{t}": n for t, n in data.counts().items()}})


synth_assets = [personas, conversations, conversation_judgments, cost_estimate, backfill_export]


@dg.asset_check(asset=conversation_judgments, partitions_def=judge_model_partitions, blocking=True,
                description="No turn was judged by one of its own two eval models.")
def conversation_judge_took_no_part(context: dg.AssetCheckExecutionContext,
                                    llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    judge = context.partition_key
    n = llmfeedback.warehouse().count("conversation_judgments",
                                      "WHERE judge_model = ? AND (model_1 = ? OR model_2 = ?)", [judge, judge, judge])
    return dg.AssetCheckResult(passed=n == 0, metadata={"judge": judge, "self_judged_turns": n})


@dg.asset_check(asset=conversations, blocking=True,
                description="Complete conversations hold exactly their planned turns, three messages per turn; "
                            "partial ones fewer turns and a reason.")
def conversations_consistent(llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    bad = llmfeedback.warehouse().query("""
        SELECT c.conversation_id, c.status, c.n_turns, c.n_turns_planned, count(m.message_id) AS messages
        FROM conversations c LEFT JOIN conversation_messages m USING (conversation_id)
        GROUP BY ALL
        HAVING count(m.message_id) <> 3 * c.n_turns
            OR (c.status = 'complete' AND (c.n_turns <> c.n_turns_planned OR c.error IS NOT NULL))
            OR (c.status = 'partial' AND (c.n_turns >= c.n_turns_planned OR c.error IS NULL))""")
    return dg.AssetCheckResult(passed=bad.empty, metadata={"inconsistent": len(bad), "examples": _md(bad, 5)})


synth_checks = [conversation_judge_took_no_part, conversations_consistent]
