"""Ratings vs rankings feedback, reward models, best-of-n reranking and win rates.

Frames are built in `reward.pipeline` (no Dagster). Training and reranking steps are GPU steps (pool "gpu"
and the Kubernetes GPU request) that run on the CPU where there is no GPU. Every asset here runs only when
judging.modes asks for rating or ranking feedback (`reward_step`).
"""

from collections.abc import Callable

import dagster as dg
import pandas as pd

from ... import reward
from ...config import Config
from ...reward import pipeline
from ...reward.imported import imported_feedback
from ...warehouse import empty
from ..automation import per_judge_eager
from ..errors import one_line_failure
from ..gpu import GPU_OP_TAGS, GPU_POOL
from ..metadata import KINDS, md_table, png_metadata, table_definition, table_metadata
from ..partitions import judge_model_partitions
from ..resources import LLMFeedbackResource

GROUP = "reward"
CHANCE = 0.5
FEEDBACK_MODES = {"feedback_ratings": "rating", "feedback_rankings": "ranking"}

Step = Callable[[dg.AssetExecutionContext, LLMFeedbackResource, Config], dg.MaterializeResult]


def reward_step(step: Step):
    """An asset body that runs only when the config asks for the reward loop; otherwise the materialization
    records why it was skipped. The wrapper keeps the (context, llmfeedback) signature Dagster reads, and
    fails with the one line of a configuration or input error (`one_line_failure`)."""

    def body(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
        config = llmfeedback.load()
        if not config.reward_enabled:
            context.log.info("reward loop skipped: add `rating` and/or `ranking` to judging.modes")
            return dg.MaterializeResult(
                metadata={"skipped": "neither rating nor ranking is in judging.modes"})
        return step(context, llmfeedback, config)

    body.__name__, body.__doc__ = step.__name__, step.__doc__
    return one_line_failure(body)


def _judge_feedback(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource, table: str, run
                    ) -> dg.MaterializeResult:
    """One judge's partition of a feedback table; empty for a judge that does not give this feedback."""
    config = llmfeedback.load()
    roles = config.judge_roles(context.partition_key)
    wh = llmfeedback.warehouse(config)
    if roles.imported:  # an imported judge: its recorded sparse feedback, never a model call
        recorded = wh.table("judgments", "WHERE judge_model = ?", [roles.judge])
        frame, stats = imported_feedback(table, recorded), None
        context.log.info(f"{len(frame)} {table} rows recorded in {roles.judge}'s sparse-feedback files")
    elif roles.does(FEEDBACK_MODES[table]):
        items = pipeline.turn1_items(wh.table("prompts"), wh.table("responses"))
        frame, stats = run(llmfeedback.gateway(context, config, wh), roles.judge, items,
                           config.judging.allow_self_judging)
    else:
        context.log.info(f"no {table} in this partition: {roles.judge} judges conversations only or "
                         f"{FEEDBACK_MODES[table]!r} is not in judging.modes")
        frame, stats = empty(table), None
    wh.replace_where(table, frame, {"judge_model": roles.judge})
    status = [c for c in frame.columns if c.startswith("parse_status")]
    failed = frame[status].ne("ok").any(axis=1) if len(frame) else pd.Series(dtype=bool)
    return dg.MaterializeResult(metadata=table_metadata(
        table, frame, judge=roles.judge,
        parse_failure_rate=round(float(failed.mean()) if len(frame) else 0.0, 4),
        parse_statuses=dg.MetadataValue.json({c: {str(k): int(v) for k, v in frame[c].value_counts().items()}
                                              for c in status}),
        **(stats.as_metadata() if stats else {})))


def _feedback_asset(table: str, run, description: str) -> dg.AssetsDefinition:
    """The per-judge feedback assets (ratings and rankings) differ only in their table and pipeline call."""

    @dg.asset(name=table, group_name=GROUP, kinds=KINDS, deps=["prompts", "responses", "judgments"],
              partitions_def=judge_model_partitions, metadata=table_definition(table),
              automation_condition=per_judge_eager(), description=description)
    @one_line_failure
    def _asset(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
        return _judge_feedback(context, llmfeedback, table, run)

    return _asset


feedback_ratings = _feedback_asset(
    "feedback_ratings", pipeline.rate_responses,
    "One judge's 1-7 rating (accuracy, coherence, harmlessness) of every answered first turn. Failed parses "
    "keep a row with an empty score and their parse_status; the raw reply is in llm_journal under "
    "request_key. Partitioned per judge model.")
feedback_rankings = _feedback_asset(
    "feedback_rankings", pipeline.rank_responses,
    "One judge's choice between every two responders' answers to a prompt, asked in both orders: agreement "
    "gives a/b, the same letter twice gives `equal`, a failed parse leaves the ranking empty. Partitioned "
    "per judge model.")


@dg.asset(group_name=GROUP, kinds=KINDS, deps=[feedback_ratings, feedback_rankings],
          metadata=table_definition("feedback_consistency"),
          description="Per judge: how often the ranking implied by its two ratings equals the ranking it "
                      "gave for the same pair; the 3x3 confusion table (rows: implied by ratings) in long "
                      "format.")
@reward_step
def feedback_consistency(context, llmfeedback, config) -> dg.MaterializeResult:
    wh = llmfeedback.warehouse(config)
    items = pipeline.turn1_items(wh.table("prompts"), wh.table("responses"), all_samples=True)
    table, results, skipped = pipeline.consistency_table(wh.table("feedback_ratings"),
                                                         wh.table("feedback_rankings"), items,
                                                         repeated=config.reward.repeated_ratings)
    wh.replace_table("feedback_consistency", table)
    for judge, reason in skipped.items():
        context.log.warning(f"feedback_consistency: {judge} left out: {reason}")
    md = {f"consistency_rate/{j}": float(r.rate) for j, r in results.items()}
    md.update({f"confusion/{j}": dg.MetadataValue.md(r.confusion.to_markdown()) for j, r in results.items()})
    md.update({f"n_pairs/{j}": r.n_pairs for j, r in results.items()})
    md["skipped_judges"] = dg.MetadataValue.json(skipped)
    return dg.MaterializeResult(metadata=table_metadata("feedback_consistency", table, **md))


@dg.asset(group_name=GROUP, kinds=KINDS, deps=[feedback_rankings, "judgments"],
          metadata=table_definition("preference_pairs"),
          description="Chosen/rejected pairs from the feedback rankings and the first-turn pairwise "
                      "judgments of every judge; ties, unparsed verdicts and identical answers dropped. "
                      "Split into train/val by prompt, so one prompt's pairs are never on both sides.")
@reward_step
def preference_pairs(context, llmfeedback, config) -> dg.MaterializeResult:
    wh = llmfeedback.warehouse(config)
    items = pipeline.turn1_items(wh.table("prompts"), wh.table("responses"), all_samples=True)
    table, pairs = pipeline.preference_pair_table(
        wh.table("feedback_rankings"), wh.table("judgments", "WHERE parse_status = 'ok'"), items,
        seed=config.reward.seed)
    wh.replace_table("preference_pairs", table)
    per_source = table.groupby(["source", "split"]).size().rename("pairs").reset_index()
    return dg.MaterializeResult(metadata=table_metadata(
        "preference_pairs", table, **pairs.summary(), per_source=md_table(per_source, 20)))


def _train(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource, config: Config,
           objective: str, name: str) -> dg.MaterializeResult:
    wh = llmfeedback.warehouse(config)
    items = pipeline.turn1_items(wh.table("prompts"), wh.table("responses"), all_samples=True)
    data = pipeline.training_data(wh.table("preference_pairs"), wh.table("feedback_ratings"), items)
    context.log.info(f"training {name}: {config.reward.mode} mode, {len(data.pairs.train)} train pairs, "
                     f"{len(data.ratings.train)} train ratings")
    store = pipeline.embedding_store(wh)
    result = pipeline.train(objective, config, data, store)
    s = store.total
    if config.reward.mode == "frozen":
        context.log.info(f"{name}: {s.distinct} distinct texts, {s.cached} from the embedding store, "
                         f"{s.embedded} embedded")
    path, row = pipeline.save(result, config, name, version=context.run_id, run_id=context.run_id)
    wh.upsert("reward_models", row)
    acc, corr = result.val_pairwise_accuracy, result.val_rating_correlation
    md = {"path": dg.MetadataValue.path(str(path)), "version": context.run_id,
          "loss_curve": png_metadata(reward.loss_curve_png(
              result, f"{name}: {objective} loss per training step"), f"{name} loss"),
          "card": dg.MetadataValue.md((path / "MODEL_CARD.md").read_text()),
          **{k: v for k, v in result.metrics().items() if v is not None},
          "texts_from_embedding_store": s.cached, "texts_embedded": s.embedded}
    md["val_pairwise_accuracy"] = float(acc) if acc is not None else "not measured"
    md["val_rating_correlation"] = float(corr) if corr is not None else "not measured"
    return dg.MaterializeResult(metadata=table_metadata("reward_models", row, **md))


@dg.asset(group_name=GROUP, kinds={"pytorch", "python"}, deps=[preference_pairs, feedback_ratings],
          pool=GPU_POOL, op_tags=GPU_OP_TAGS, metadata=table_definition("reward_models"),
          description="Reward model regressing sigmoid(r) on (rating - 1)/6 with mean squared error, on "
                      "every judge's ratings (reward.mode frozen: MiniLM embeddings + MLP head; full: "
                      "fine-tuned). Saved with safetensors and a model card under "
                      "models_dir/ratings_reward_model/<run id>/.")
@reward_step
def ratings_reward_model(context, llmfeedback, config) -> dg.MaterializeResult:
    return _train(context, llmfeedback, config, "ratings", pipeline.RATINGS_MODEL)


@dg.asset(group_name=GROUP, kinds={"pytorch", "python"}, deps=[preference_pairs, feedback_ratings],
          pool=GPU_POOL, op_tags=GPU_OP_TAGS, metadata=table_definition("reward_models"),
          description="Reward model trained with the pairwise loss -log sigmoid(r_chosen - r_rejected) on "
                      "the preference pairs; validated on the same held-out prompts as the ratings model. "
                      "Saved under models_dir/rankings_reward_model/<run id>/.")
@reward_step
def rankings_reward_model(context, llmfeedback, config) -> dg.MaterializeResult:
    return _train(context, llmfeedback, config, "rankings", pipeline.RANKINGS_MODEL)


@dg.asset(group_name=GROUP, kinds=KINDS, deps=["prompts", "responses"],
          metadata=table_definition("bestofn_samples"),
          description="Best-of-n candidates: every responder's reward.n answers to every first "
                      "turn at reward.sample_temperature (the sample index is part of the request key); "
                      "warns where all samples are identical.")
@reward_step
def bestofn_samples(context, llmfeedback, config) -> dg.MaterializeResult:
    wh = llmfeedback.warehouse(config)
    frame, stats = pipeline.sample_candidates(llmfeedback.gateway(context, config, wh), wh.table("prompts"),
                                              config)
    wh.replace_table("bestofn_samples", frame)
    identical = pipeline.identical_sample_groups(frame)
    if identical:
        context.log.warning(
            f"{identical} (prompt, responder) groups have {config.reward.n} identical samples: "
            "best-of-n cannot choose there (reward.sample_temperature is "
            f"{config.reward.sample_temperature}; a greedy model repeats itself)")
    return dg.MaterializeResult(metadata=table_metadata(
        "bestofn_samples", frame, n_samples=config.reward.n, identical_sample_groups=identical,
        sample_temperature=config.reward.sample_temperature,
        failed_samples=int((frame["status"] != "ok").sum()), **(stats.as_metadata() if stats else {})))


@dg.asset(group_name=GROUP, kinds={"pytorch", "python"},
          deps=[bestofn_samples, ratings_reward_model, rankings_reward_model], pool=GPU_POOL,
          op_tags=GPU_OP_TAGS, metadata=table_definition("reranked_responses"),
          description="Each reward model's (latest version) best candidate per (prompt, responder). Models "
                      "whose validation pairwise accuracy is not above chance are left out (see their "
                      "checks).")
@reward_step
def reranked_responses(context, llmfeedback, config) -> dg.MaterializeResult:
    wh = llmfeedback.warehouse(config)
    latest = pipeline.latest_models(wh)
    usable = latest[latest["val_pairwise_accuracy"].fillna(0.0) > CHANCE]
    excluded = sorted(set(latest["name"]) - set(usable["name"]))
    for name in excluded:
        context.log.warning(f"{name}: validation pairwise accuracy not above chance; not used for reranking")
    models = {r.name: reward.load_reward_model(r.path) for r in usable.itertuples(index=False)}
    versions = dict(zip(usable["name"], usable["version"], strict=True))
    cands = pipeline.candidates(wh.table("bestofn_samples"), wh.table("prompts"))
    store = pipeline.embedding_store(wh)
    table, overlong = pipeline.rerank(cands, models, versions, store)
    wh.replace_table("reranked_responses", table)
    return dg.MaterializeResult(metadata=table_metadata(
        "reranked_responses", table, candidates=len(cands), excluded_models=dg.MetadataValue.json(excluded),
        models=dg.MetadataValue.json(versions), candidates_embedded=store.total.embedded,
        candidate_embeddings_read=store.total.from_warehouse,
        **{f"overlong_candidates/{k}": int(v) for k, v in overlong.items()}))


@dg.asset(group_name=GROUP, kinds=KINDS, deps=[reranked_responses, bestofn_samples],
          metadata=table_definition("rm_win_rate"),
          description="Win rate of each reward model's picks against the reference answers (generated by "
                      "the reference model, or read from `reference_outputs`), judged by ratings and by "
                      "rankings (both orders), ties as half, with the Wilson 95% interval (low/high) and "
                      "the sparse-feedback paper's rate ± 1.96 SEM (sem_low/sem_high), n, wins, ties, losses "
                      "and unparsed counts; `__sample_0__` (no reranking) is the baseline, `__all__` pools "
                      "the responders.")
@reward_step
def rm_win_rate(context, llmfeedback, config) -> dg.MaterializeResult:
    wh = llmfeedback.warehouse(config)
    cands = pipeline.candidates(wh.table("bestofn_samples"), wh.table("prompts"))
    table, stats = pipeline.win_rates(llmfeedback.gateway(context, config, wh), config,
                                      wh.table("reranked_responses"), cands)
    wh.replace_table("rm_win_rate", table)
    pooled = table[table["responder_model"] == pipeline.ALL_RESPONDERS]
    return dg.MaterializeResult(metadata=table_metadata(
        "rm_win_rate", table, pooled=md_table(pooled, 20), per_responder=md_table(table, 60),
        reference_model=str(table["reference_model"].iloc[0]) if len(table) else "none",
        reference_answers="reference_outputs file" if config.reference_outputs else "generated",
        **{f"win_rate/{r.reward_model}/{r.method}": float(r.rate)
           for r in pooled.itertuples() if pd.notna(r.rate)},
        **(stats.as_metadata() if stats else {})))


reward_assets = [feedback_ratings, feedback_rankings, feedback_consistency, preference_pairs,
                 ratings_reward_model, rankings_reward_model, bestofn_samples, reranked_responses,
                 rm_win_rate]
