"""Synthetic users and conversations, their judgments and the dry-run cost estimate."""

import dagster as dg

from ... import synth
from ...warehouse import empty
from ..automation import per_judge_eager
from ..errors import one_line_failure
from ..metadata import KINDS, md_table, table_definition, table_metadata
from ..partitions import judge_model_partitions
from ..resources import LLMFeedbackResource


@dg.asset(group_name="synth", kinds=KINDS, metadata=table_definition("personas"),
          description="Synthetic users: the configured personas plus `generate_num_personas` invented by the "
                      "persona model (invalid JSON is asked again, then recorded in `synth_rejected`), "
                      "deduplicated by description. One generic user when `use_personas` is false.")
@one_line_failure
def personas(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    gateway = llmfeedback.gateway(context, config, wh) if config.synth.generate_num_personas else None
    result = synth.build_personas(gateway, config)
    wh.replace_table("personas", result.personas)
    wh.replace_where("synth_rejected", result.rejected.assign(asset="personas"), {"asset": "personas"})
    generated = int((result.personas["source"] == "generated").sum())
    return dg.MaterializeResult(metadata=table_metadata(
        "personas", result.personas, generated=generated, requested=result.requested,
        duplicates=result.duplicates, rejected_replies=len(result.rejected) - result.duplicates,
        rejected=md_table(result.rejected[["item", "attempt", "reason"]]),
        **(result.stats.as_metadata() if result.stats else {})))


@dg.asset(group_name="synth", kinds=KINDS, deps=[personas], metadata=table_definition("conversations"),
          description="Side-by-side conversations: the user model plays each persona for a seeded number of "
                      "turns; two eval models drawn by sample_weight answer every user message; the user "
                      "replies to one answer. Messages are in `conversation_messages`. A failed call ends a "
                      "conversation as `partial` (kept, labelled, never counted as complete).")
@one_line_failure
def conversations(context: dg.AssetExecutionContext,
                  llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    result = synth.generate_conversations(llmfeedback.gateway(context, config, wh), config,
                                          wh.table("personas"))
    # One transaction: readers never see conversations without their messages.
    wh.replace_many({"conversations": result.conversations, "conversation_messages": result.messages})
    conv = result.conversations
    partial = conv[conv["status"] == synth.PARTIAL]
    for row in partial.head(20).itertuples(index=False):
        context.log.warning(f"partial conversation {row.conversation_id}: {row.error}")
    return dg.MaterializeResult(metadata=table_metadata(
        "conversations", conv, messages=len(result.messages), complete=len(conv) - len(partial),
        partial=len(partial), opening_retries=result.opening_retries,
        turns_per_conversation=dg.MetadataValue.json(
            {str(k): int(v) for k, v in conv["n_turns"].value_counts().sort_index().items()}),
        partial_reasons=md_table(partial[["conversation_id", "n_turns", "n_turns_planned", "error"]]),
        **(result.stats.as_metadata() if result.stats else {})))


@dg.asset(group_name="synth", kinds=KINDS, deps=[conversations], partitions_def=judge_model_partitions,
          metadata=table_definition("conversation_judgments"), automation_condition=per_judge_eager(),
          description="Per turn, one judge that is neither of the two eval models gives a 5-point "
                      "preference, mapped to 0-100 slider scores (score_2 = 100 - score_1). The judge of "
                      "each turn is chosen by synth.judge.choice_strategy (min_cost: cheapest by configured "
                      "price; random: seeded). Partitioned per judge model: a partition judges the turns "
                      "assigned to its judge.")
@one_line_failure
def conversation_judgments(context: dg.AssetExecutionContext,
                           llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = synth.with_judge_timeout(llmfeedback.load())
    roles = config.judge_roles(context.partition_key)
    wh = llmfeedback.warehouse(config)
    if roles.conversations:
        result = synth.judge_conversations(llmfeedback.gateway(context, config, wh), config,
                                           wh.table("conversations"), wh.table("conversation_messages"),
                                           roles.judge)
    else:  # a spine judge that does not judge conversations: its partition is empty, not an error
        context.log.info(f"{roles.judge} is not in synth.judge.models {config.conversation_judges}: "
                         "no conversation turns assigned")
        result = synth.JudgeResult(empty("conversation_judgments"), None, 0, 0, 0)
    frame = result.judgments
    wh.replace_where("conversation_judgments", frame, {"judge_model": roles.judge})
    failures = float((frame["parse_status"] != "ok").mean()) if len(frame) else 0.0
    return dg.MaterializeResult(metadata=table_metadata(
        "conversation_judgments", frame, judge=roles.judge, strategy=config.synth.judge.choice_strategy,
        turns_assigned=result.assigned, turns_total=result.turns,
        turns_without_eligible_judge=result.unjudgeable,
        parse_failure_rate=round(failures, 4), **(result.stats.as_metadata() if result.stats else {})))


@dg.asset(group_name="synth", kinds={"python"},
          description="Dry run: the expected calls, tokens and dollars of the planned synthetic generation "
                      "(personas, conversations, judgments) from the config's counts and prices, before any "
                      "call. Also `llmfeedback estimate-synth-cost`.")
@one_line_failure
def cost_estimate(llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    frame = synth.estimate_synth_cost(config)
    # A simulated model's price is whatever the config says, and nothing is billed: say so beside the sum.
    sim = {m.name for m in config.models if m.is_simulated}
    frame = frame.assign(dollars=["simulated $" if m in sim else "USD" for m in frame["model"]])
    kinds = set(frame["dollars"])
    return dg.MaterializeResult(metadata={
        "est_cost_usd": float(frame["cost_usd"].sum()) if len(frame) else 0.0,
        "est_cost_kind": "simulated $ (simulator models, nothing billed)" if kinds == {"simulated $"}
        else "mixed: simulated $ and USD (see estimate)" if len(kinds) > 1 else "USD" if kinds
        else "nothing planned",
        "est_calls": float(frame["calls"].sum()) if len(frame) else 0.0,
        "est_input_tokens": int(frame["input_tokens"].sum()) if len(frame) else 0,
        "est_output_tokens": int(frame["output_tokens"].sum()) if len(frame) else 0,
        "estimate": md_table(frame, len(frame), empty="nothing planned")})


synth_assets = [personas, conversations, conversation_judgments, cost_estimate]
