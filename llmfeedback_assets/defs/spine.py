"""The spine: prompts -> responses -> judgments (one partition per judge model) -> leaderboard."""


import datetime as dt

import dagster as dg
import pandas as pd

from .. import ranking
from ..ingest import ingest_prompt_sources
from ..judging import JudgeOptions, generate_responses, judge_responses
from ..judging.analysis import ground_truth_table, leaderboards, load_judgment_inputs
from ..warehouse import columns
from .meta import png_metadata, table_metadata
from .partitions import judge_model_partitions
from .resources import LLMFeedbackResource

KINDS = {"duckdb", "python"}


@dg.asset(group_name="ingest", kinds=KINDS,
          description="Every prompt in the configured prompt sources; ids are content hashes, duplicates merge. "
                      "Bad lines land in `rejected_inputs` with file, line and reason.")
def prompts(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    sources = [(config.resolve(s.path), s.format, s.limit) for s in config.prompt_sources]
    incoming = config.resolve(config.incoming_dir)
    if incoming.is_dir() and any(p.is_file() and not p.name.startswith(".") for p in incoming.iterdir()):
        sources.append((incoming, "auto", None))
    result = ingest_prompt_sources(sources)
    wh.replace_table("prompts", result.prompts)
    rejected = result.rejected_frame().assign(asset="prompts",
                                              rejected_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    wh.replace_where("rejected_inputs", rejected, {"asset": "prompts"})
    for r in result.rejected:
        context.log.warning(f"rejected {r.source_file}:{r.line}: {r.reason}")
    return dg.MaterializeResult(metadata=table_metadata(
        "prompts", result.prompts, files=dg.MetadataValue.json(result.files), rejected_lines=len(rejected),
        rejected=dg.MetadataValue.md(rejected.head(20).to_markdown(index=False) if len(rejected) else "none")))


@dg.asset(group_name="ingest", kinds=KINDS,
          description="Ground truth of the simulated models (latent quality, judge noise and biases), so the "
                      "pipeline's recovery of it can be measured. Empty when no simulated model is configured.")
def sim_ground_truth(llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    truth = ground_truth_table(config)
    llmfeedback.warehouse(config).replace_table("sim_ground_truth", truth)
    return dg.MaterializeResult(metadata=table_metadata("sim_ground_truth", truth, simulated=True))


@dg.asset(group_name="generation", kinds=KINDS, deps=[prompts],
          description="Each responder's answer to each prompt; a second turn sees the first turn's answer. "
                      "Failed calls are kept with status 'failed' and the error.")
def responses(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    config.check_secrets(config.responders)
    wh = llmfeedback.warehouse(config)
    prompt_table = wh.table("prompts")
    frame, stats = generate_responses(llmfeedback.gateway(context, config, wh), prompt_table, config.responders)
    wh.replace_table("responses", frame)
    usage = stats.as_metadata() if stats else {}
    return dg.MaterializeResult(metadata=table_metadata(
        "responses", frame, failed_responses=int((frame["status"] != "ok").sum()), **usage))


@dg.asset(group_name="judging", kinds=KINDS, deps=[prompts, responses], partitions_def=judge_model_partitions,
          automation_condition=dg.AutomationCondition.eager(),
          description="One judge model's verdicts: single-answer grades 1-10 per turn (reference-guided where a "
                      "reference exists) and pairwise A/B/tie asked in both orders. Partitioned per judge.")
def judgments(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    judge = context.partition_key
    config.require_judge_partition(judge)
    config.check_secrets([judge])
    wh = llmfeedback.warehouse(config)
    options = JudgeOptions(modes=tuple(m for m in config.judging.modes if m in ("single", "pairwise")),
                           allow_self_judging=config.judging.allow_self_judging)
    if judge in config.judges:
        frame, stats = judge_responses(llmfeedback.gateway(context, config, wh), wh.table("prompts"),
                                       wh.table("responses"), judge, options)
    else:  # a conversation-only judge: its partition of `judgments` stays empty
        context.log.info(f"{judge} judges conversations only; no response judgments in this partition")
        frame, stats = pd.DataFrame(columns=columns("judgments")), None
    wh.replace_where("judgments", frame, {"judge_model": judge})
    failures = float((frame["parse_status"] != "ok").mean()) if len(frame) else 0.0
    return dg.MaterializeResult(metadata=table_metadata(
        "judgments", frame, parse_failure_rate=round(failures, 4), judge=judge,
        simulated=config.model(judge).is_simulated, **(stats.as_metadata() if stats else {})))


@dg.asset(group_name="analysis", kinds=KINDS, deps=[judgments, sim_ground_truth, "comparisons"],
          automation_condition=dg.AutomationCondition.eager(),
          description="Per judge and pooled (judge_model='__pooled__'): Bradley-Terry scores with bootstrap 95% "
                      "intervals, Elo-scale ratings, adjusted win rates and mean single-answer grades per turn; "
                      "with the simulator, the latent quality and the rank correlation with it.")
def leaderboard(llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    board, summary = leaderboards(load_judgment_inputs(wh), config)
    wh.replace_table("leaderboard", board)
    pooled = board[board["judge_model"] == "__pooled__"]
    md = {"summary": dg.MetadataValue.md(summary.to_markdown(index=False) if len(summary) else "no judgments")}
    if len(pooled):
        md["leaderboard"] = dg.MetadataValue.md(ranking.leaderboard_markdown(pooled))
        md["plot"] = png_metadata(ranking.leaderboard_plot_png(pooled, "pooled judges"), "leaderboard")
    for row in summary.itertuples(index=False):
        if pd.notna(row.kendall_tau_vs_truth):
            md[f"kendall_tau_vs_truth/{row.judge_model}"] = float(row.kendall_tau_vs_truth)
    return dg.MaterializeResult(metadata=table_metadata("leaderboard", board, **md))


spine_assets = [prompts, sim_ground_truth, responses, judgments, leaderboard]
