"""The spine: prompts -> responses -> judgments (one partition per judge model)."""

import datetime as dt

import dagster as dg

from ...analysis.pipeline import ground_truth_table
from ...ingest import incoming_files, ingest_prompt_sources
from ...judging import JudgeOptions, generate_responses, judge_responses
from ...warehouse import empty
from ..metadata import KINDS, md_table, table_definition, table_metadata
from ..partitions import judge_model_partitions
from ..resources import LLMFeedbackResource


@dg.asset(group_name="ingest", kinds=KINDS, metadata=table_definition("prompts"),
          description="Every prompt in the configured prompt sources; ids are content hashes, duplicates "
                      "merge. Bad lines land in `rejected_inputs` with file, line and reason.")
def prompts(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    sources = [(config.resolve(s.path), s.format, s.limit) for s in config.prompt_sources]
    incoming = config.resolve(config.incoming_dir)
    if incoming_files(incoming):
        sources.append((incoming, "auto", None))
    result = ingest_prompt_sources(sources, max_prompt_chars=config.max_prompt_chars)
    wh.replace_table("prompts", result.prompts)
    rejected = result.rejected_frame().assign(asset="prompts",
                                              rejected_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    wh.replace_where("rejected_inputs", rejected, {"asset": "prompts"})
    for r in result.rejected:
        context.log.warning(f"rejected {r.source_file}:{r.line}: {r.reason}")
    return dg.MaterializeResult(metadata=table_metadata(
        "prompts", result.prompts, files=dg.MetadataValue.json(result.files), rejected_lines=len(rejected),
        rejected=md_table(rejected, 20)))


@dg.asset(group_name="ingest", kinds=KINDS, metadata=table_definition("sim_ground_truth"),
          description="Ground truth of the simulated models (latent quality, judge noise and biases), so the "
                      "pipeline's recovery of it can be measured. Empty when no simulated model is "
                      "configured.")
def sim_ground_truth(llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    truth = ground_truth_table(config)
    llmfeedback.warehouse(config).replace_table("sim_ground_truth", truth)
    return dg.MaterializeResult(metadata=table_metadata("sim_ground_truth", truth, simulated=True))


@dg.asset(group_name="generation", kinds=KINDS, deps=[prompts], metadata=table_definition("responses"),
          description="Each responder's answer to each prompt; a second turn sees the first turn's answer. "
                      "Failed calls are kept with status 'failed' and the error.")
def responses(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    frame, stats = generate_responses(llmfeedback.gateway(context, config, wh), wh.table("prompts"),
                                      config.responders)
    wh.replace_table("responses", frame)
    return dg.MaterializeResult(metadata=table_metadata(
        "responses", frame, failed_responses=int((frame["status"] != "ok").sum()),
        **(stats.as_metadata() if stats else {})))


@dg.asset(group_name="judging", kinds=KINDS, deps=[prompts, responses], partitions_def=judge_model_partitions,
          automation_condition=dg.AutomationCondition.eager(), metadata=table_definition("judgments"),
          description="One judge model's verdicts: single-answer grades 1-10 per turn (reference-guided "
                      "where a reference exists) and pairwise A/B/tie asked in both orders. Partitioned per "
                      "judge.")
def judgments(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    roles = config.judge_roles(context.partition_key)
    wh = llmfeedback.warehouse(config)
    options = JudgeOptions(modes=tuple(m for m in ("single", "pairwise") if roles.does(m)),
                           allow_self_judging=config.judging.allow_self_judging)
    if options.modes:
        frame, stats = judge_responses(llmfeedback.gateway(context, config, wh), wh.table("prompts"),
                                       wh.table("responses"), roles.judge, options)
    else:  # a conversation-only judge: its partition of `judgments` stays empty
        context.log.info(f"{roles.judge} does not judge responses; no judgments in this partition")
        frame, stats = empty("judgments"), None
    wh.replace_where("judgments", frame, {"judge_model": roles.judge})
    failures = float((frame["parse_status"] != "ok").mean()) if len(frame) else 0.0
    return dg.MaterializeResult(metadata=table_metadata(
        "judgments", frame, parse_failure_rate=round(failures, 4), judge=roles.judge,
        simulated=config.model(roles.judge).is_simulated, **(stats.as_metadata() if stats else {})))
