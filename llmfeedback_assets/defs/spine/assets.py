"""The spine: prompts -> responses -> judgments (one partition per judge model)."""

import datetime as dt

import dagster as dg
import pandas as pd

from ...analysis.pipeline import ground_truth_table
from ...ingest import REJECTED_COLUMNS, incoming_files
from ...ingest.imports import build_prompt_table, import_answers
from ...judging import generate_responses
from ...judging.spine import judge_partition, response_frame
from ...warehouse import empty
from ..automation import per_judge_eager
from ..errors import one_line_failure
from ..metadata import KINDS, md_table, table_definition, table_metadata
from ..partitions import judge_model_partitions
from ..resources import LLMFeedbackResource


def reject_rows(rejected: list, asset: str) -> pd.DataFrame:
    """Rejected inputs as `rejected_inputs` rows of one asset."""
    frame = pd.DataFrame([[r.source_file, r.line, r.reason, r.raw] for r in rejected],
                         columns=REJECTED_COLUMNS)
    return frame.astype({"line": "int64"}).assign(asset=asset,
                                                  rejected_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))


@dg.asset(group_name="ingest", kinds=KINDS, metadata=table_definition("prompts"),
          description="Every prompt in the configured prompt sources; ids are content hashes, duplicates "
                      "merge. Bad lines land in `rejected_inputs` with file, line and reason.")
@one_line_failure
def prompts(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    sources = [(config.resolve(s.path), s.format, s.limit) for s in config.prompt_sources]
    incoming = config.resolve(config.incoming_dir)
    if incoming_files(incoming):
        sources.append((incoming, "auto", None))
    result = build_prompt_table(sources, [(config.resolve(s.path), s.format) for s in config.answer_sources],
                                [config.resolve(r.path) for r in config.reference_answers],
                                config.max_prompt_chars)
    wh.replace_table("prompts", result.prompts)
    rejected = reject_rows(result.rejected, "prompts")
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
@one_line_failure
def sim_ground_truth(llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    truth = ground_truth_table(config)
    llmfeedback.warehouse(config).replace_table("sim_ground_truth", truth)
    return dg.MaterializeResult(metadata=table_metadata("sim_ground_truth", truth, simulated=True))


@dg.asset(group_name="generation", kinds=KINDS, deps=[prompts], metadata=table_definition("responses"),
          description="Each responder's answers to each prompt (generation.num_choices per prompt; a later "
                      "turn "
                      "sees the earlier turns' answers) and every imported answer (answer_sources), labelled "
                      "with its file. Failed calls are kept with status 'failed' and the error.")
@one_line_failure
def responses(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    prompt_table = wh.table("prompts")
    generated, stats = (generate_responses(llmfeedback.gateway(context, config, wh), prompt_table,
                                           config.responders, config.generation.num_choices,
                                           config.generation.temperature_for)
                        if config.responders else (empty("responses"), None))
    imported, rejected = import_answers([(config.resolve(s.path), s.format) for s in config.answer_sources],
                                        prompt_table, config.responders)
    frame = response_frame(generated, imported)
    wh.replace_table("responses", frame)
    rejects = reject_rows(rejected, "responses")
    wh.replace_where("rejected_inputs", rejects, {"asset": "responses"})
    for r in rejected[:50]:
        context.log.warning(f"rejected {r.source_file}:{r.line}: {r.reason}")
    return dg.MaterializeResult(metadata=table_metadata(
        "responses", frame, failed_responses=int((frame["status"] != "ok").sum()),
        imported_answers=len(imported), rejected_lines=len(rejects), rejected=md_table(rejects, 20),
        **(stats.as_metadata() if stats else {})))


@dg.asset(group_name="judging", kinds=KINDS, deps=[prompts, responses], partitions_def=judge_model_partitions,
          automation_condition=per_judge_eager(), metadata=table_definition("judgments"),
          description="One judge model's verdicts: single-answer grades 1-10 per turn (reference-guided "
                      "where a reference exists) and pairwise A/B/tie asked in both orders. Partitioned per "
                      "judge.")
@one_line_failure
def judgments(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    roles = config.judge_roles(context.partition_key)
    wh = llmfeedback.warehouse(config)

    def gateway():  # only a model judge opens one: an imported partition calls no model
        return llmfeedback.gateway(context, config, wh)

    result = judge_partition(config, roles, wh.table("prompts"), wh.table("responses"), gateway)
    wh.replace_where("judgments", result.frame, {"judge_model": roles.judge})
    if roles.imported:
        wh.replace_where("rejected_inputs", reject_rows(result.rejected, f"judgments:{roles.judge}"),
                         {"asset": f"judgments:{roles.judge}"})
    for line in result.log:
        context.log.info(line)
    frame = result.frame
    failures = float((frame["parse_status"] != "ok").mean()) if len(frame) else 0.0
    return dg.MaterializeResult(metadata=table_metadata(
        "judgments", frame, parse_failure_rate=round(failures, 4), judge=roles.judge,
        simulated=config.is_simulated_judge(roles.judge), **result.metadata))
