"""Ratings vs rankings feedback, reward models, best-of-n reranking and win rates (issue 7).

Frames are built in `reward_flow` (no Dagster); the domain is `reward/`. Training and reranking steps are
GPU steps (pool "gpu" and the Kubernetes GPU request) that run on the CPU where there is no GPU.
"""


import dagster as dg
import pandas as pd

from .. import reward, reward_flow
from ..warehouse import columns
from .gpu import GPU_OP_TAGS, GPU_POOL
from .meta import png_metadata, table_metadata
from .partitions import judge_model_partitions
from .resources import LLMFeedbackResource
from .spine import KINDS, judgments, prompts, responses

GROUP = "reward"
CHANCE = 0.5


def _md(df: pd.DataFrame, n: int = 20) -> dg.MetadataValue:
    return dg.MetadataValue.md(df.head(n).to_markdown(index=False) if len(df) else "none")


FEEDBACK_MODES = {"feedback_ratings": "rating", "feedback_rankings": "ranking"}


def reward_enabled(config) -> bool:
    """The reward loop runs when the config asks for rating or ranking feedback (judging.modes)."""
    return bool({"rating", "ranking"} & set(config.judging.modes))


def _skipped(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    context.log.info("reward loop skipped: add `rating` and/or `ranking` to judging.modes")
    return dg.MaterializeResult(metadata={"skipped": "neither rating nor ranking is in judging.modes"})


def _judge_feedback(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource, table: str, run
                    ) -> dg.MaterializeResult:
    """One judge's partition of a feedback table; empty for a judge that only judges conversations."""
    config = llmfeedback.load()
    judge = context.partition_key
    config.require_judge_partition(judge)
    wh = llmfeedback.warehouse(config)
    if judge in config.judges and FEEDBACK_MODES[table] in config.judging.modes:
        config.check_secrets([judge])
        items = reward_flow.turn1_items(wh.table("prompts"), wh.table("responses"))
        frame, stats = run(llmfeedback.gateway(context, config, wh), judge, items,
                           config.judging.allow_self_judging)
    else:
        context.log.info(f"no {table} in this partition: {judge} judges conversations only or "
                         f"{FEEDBACK_MODES[table]!r} is not in judging.modes")
        frame, stats = pd.DataFrame(columns=columns(table)), None
    wh.replace_where(table, frame, {"judge_model": judge})
    status = [c for c in frame.columns if c.startswith("parse_status")]
    failed = frame[status].ne("ok").any(axis=1) if len(frame) else pd.Series(dtype=bool)
    return dg.MaterializeResult(metadata=table_metadata(
        table, frame, judge=judge, parse_failure_rate=round(float(failed.mean()) if len(frame) else 0.0, 4),
        parse_statuses=dg.MetadataValue.json({c: {str(k): int(v) for k, v in frame[c].value_counts().items()}
                                              for c in status}),
        **(stats.as_metadata() if stats else {})))


@dg.asset(group_name=GROUP, kinds=KINDS, deps=[prompts, responses], partitions_def=judge_model_partitions,
          description="One judge's 1-7 rating (accuracy, coherence, harmlessness) of every answered first turn. "
                      "Failed parses keep a row with an empty score and their parse_status; the raw reply is "
                      "in llm_journal under request_key. Partitioned per judge model.")
def feedback_ratings(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    return _judge_feedback(context, llmfeedback, "feedback_ratings", reward_flow.rate_responses)


@dg.asset(group_name=GROUP, kinds=KINDS, deps=[prompts, responses], partitions_def=judge_model_partitions,
          description="One judge's choice between every two responders' answers to a prompt, asked in both "
                      "orders: agreement gives a/b, the same letter twice gives `equal`, a failed parse leaves "
                      "the ranking empty. Partitioned per judge model.")
def feedback_rankings(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    return _judge_feedback(context, llmfeedback, "feedback_rankings", reward_flow.rank_responses)


@dg.asset(group_name=GROUP, kinds=KINDS, deps=[feedback_ratings, feedback_rankings],
          description="Per judge: how often the ranking implied by its two ratings equals the ranking it gave "
                      "for the same pair; the 3x3 confusion table (rows: implied by ratings) in long format.")
def feedback_consistency(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource
                         ) -> dg.MaterializeResult:
    config = llmfeedback.load()
    if not reward_enabled(config):
        return _skipped(context)
    wh = llmfeedback.warehouse(config)
    items = reward_flow.turn1_items(wh.table("prompts"), wh.table("responses"))
    table, results, skipped = reward_flow.consistency_table(wh.table("feedback_ratings"),
                                                            wh.table("feedback_rankings"), items)
    wh.replace_table("feedback_consistency", table)
    for judge, reason in skipped.items():
        context.log.warning(f"feedback_consistency: {judge} left out: {reason}")
    md = {f"consistency_rate/{j}": float(r.rate) for j, r in results.items()}
    md.update({f"confusion/{j}": dg.MetadataValue.md(r.confusion.to_markdown()) for j, r in results.items()})
    md.update({f"n_pairs/{j}": r.n_pairs for j, r in results.items()})
    md["skipped_judges"] = dg.MetadataValue.json(skipped)
    return dg.MaterializeResult(metadata=table_metadata("feedback_consistency", table, **md))


@dg.asset(group_name=GROUP, kinds=KINDS, deps=[feedback_rankings, judgments],
          description="Chosen/rejected pairs from the feedback rankings and the first-turn pairwise judgments of "
                      "every judge; ties, unparsed verdicts and identical answers dropped. Split into train/val "
                      "by prompt, so one prompt's pairs are never on both sides.")
def preference_pairs(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    if not reward_enabled(config):
        return _skipped(context)
    wh = llmfeedback.warehouse(config)
    items = reward_flow.turn1_items(wh.table("prompts"), wh.table("responses"))
    table, pairs = reward_flow.preference_pair_table(
        wh.table("feedback_rankings"), wh.table("judgments", "WHERE parse_status = 'ok'"), items,
        seed=config.reward.seed)
    wh.replace_table("preference_pairs", table)
    per_source = table.groupby(["source", "split"]).size().rename("pairs").reset_index()
    return dg.MaterializeResult(metadata=table_metadata(
        "preference_pairs", table, **pairs.summary(), per_source=_md(per_source)))


def _train(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource, objective: str, name: str
           ) -> dg.MaterializeResult:
    config = llmfeedback.load()
    if not reward_enabled(config):
        return _skipped(context)
    wh = llmfeedback.warehouse(config)
    items = reward_flow.turn1_items(wh.table("prompts"), wh.table("responses"))
    data = reward_flow.training_data(wh.table("preference_pairs"), wh.table("feedback_ratings"), items)
    context.log.info(f"training {name}: {config.reward.mode} mode, {len(data.pairs.train)} train pairs, "
                     f"{len(data.ratings.train)} train ratings")
    result = reward_flow.train(objective, config, data)
    path, row = reward_flow.save(result, config, name, version=context.run_id, run_id=context.run_id)
    wh.upsert("reward_models", row)
    acc, corr = result.val_pairwise_accuracy, result.val_rating_correlation
    md = {"path": dg.MetadataValue.path(str(path)), "version": context.run_id,
          "loss_curve": png_metadata(reward.loss_curve_png(result), f"{name} loss"),
          "card": dg.MetadataValue.md((path / "MODEL_CARD.md").read_text()),
          **{k: v for k, v in result.metrics().items() if v is not None}}
    md["val_pairwise_accuracy"] = float(acc) if acc is not None else "not measured"
    md["val_rating_correlation"] = float(corr) if corr is not None else "not measured"
    return dg.MaterializeResult(metadata=table_metadata("reward_models", row, **md))


@dg.asset(group_name=GROUP, kinds={"pytorch", "python"}, deps=[preference_pairs, feedback_ratings],
          pool=GPU_POOL, op_tags=GPU_OP_TAGS,
          description="Reward model regressing sigmoid(r) on (rating - 1)/6 with mean squared error, on every "
                      "judge's ratings (reward.mode frozen: MiniLM embeddings + MLP head; full: fine-tuned). Saved "
                      "with safetensors and a model card under models_dir/ratings_reward_model/<run id>/.")
def ratings_reward_model(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource
                         ) -> dg.MaterializeResult:
    return _train(context, llmfeedback, "ratings", reward_flow.RATINGS_MODEL)


@dg.asset(group_name=GROUP, kinds={"pytorch", "python"}, deps=[preference_pairs, feedback_ratings],
          pool=GPU_POOL, op_tags=GPU_OP_TAGS,
          description="Reward model trained with the pairwise loss -log sigmoid(r_chosen - r_rejected) on the "
                      "preference pairs; validated on the same held-out prompts as the ratings model. Saved under "
                      "models_dir/rankings_reward_model/<run id>/.")
def rankings_reward_model(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource
                          ) -> dg.MaterializeResult:
    return _train(context, llmfeedback, "rankings", reward_flow.RANKINGS_MODEL)


@dg.asset(group_name=GROUP, kinds=KINDS, deps=[prompts, responses],
          description="Best-of-n candidates: every responder's reward.n_samples answers to every first turn "
                      "(the sample index is part of the request key; sample 0 is the spine's answer).")
def bestofn_samples(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    if not reward_enabled(config):
        return _skipped(context)
    config.check_secrets(config.responders)
    wh = llmfeedback.warehouse(config)
    frame, stats = reward_flow.sample_candidates(llmfeedback.gateway(context, config, wh), wh.table("prompts"),
                                                 config)
    wh.replace_table("bestofn_samples", frame)
    return dg.MaterializeResult(metadata=table_metadata(
        "bestofn_samples", frame, n_samples=config.reward.n_samples,
        failed_samples=int((frame["status"] != "ok").sum()), **(stats.as_metadata() if stats else {})))


@dg.asset(group_name=GROUP, kinds={"pytorch", "python"},
          deps=[bestofn_samples, ratings_reward_model, rankings_reward_model], pool=GPU_POOL, op_tags=GPU_OP_TAGS,
          description="Each reward model's (latest version) best candidate per (prompt, responder). Models whose "
                      "validation pairwise accuracy is not above chance are left out (see their checks).")
def reranked_responses(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource
                       ) -> dg.MaterializeResult:
    config = llmfeedback.load()
    if not reward_enabled(config):
        return _skipped(context)
    wh = llmfeedback.warehouse(config)
    latest = reward_flow.latest_models(wh)
    usable = latest[latest["val_pairwise_accuracy"].fillna(0.0) > CHANCE]
    excluded = sorted(set(latest["name"]) - set(usable["name"]))
    for name in excluded:
        context.log.warning(f"{name}: validation pairwise accuracy not above chance; not used for reranking")
    models = {r.name: reward.load_reward_model(r.path) for r in usable.itertuples(index=False)}
    cands = reward_flow.candidates(wh.table("bestofn_samples"), wh.table("prompts"))
    table, overlong = reward_flow.rerank(cands, models, dict(zip(usable["name"], usable["version"], strict=True)))
    wh.replace_table("reranked_responses", table)
    return dg.MaterializeResult(metadata=table_metadata(
        "reranked_responses", table, candidates=len(cands), excluded_models=dg.MetadataValue.json(excluded),
        models=dg.MetadataValue.json(dict(zip(usable["name"], usable["version"], strict=True))),
        **{f"overlong_candidates/{k}": int(v) for k, v in overlong.items()}))


@dg.asset(group_name=GROUP, kinds=KINDS, deps=[reranked_responses, bestofn_samples],
          description="Win rate of each reward model's picks against the reference model's answers, judged by "
                      "ratings and by rankings (both orders), ties as half, Wilson 95% intervals, with n, wins, "
                      "ties, losses and unparsed counts; `__sample_0__` (no reranking) is the baseline and "
                      "`__all__` pools the responders.")
def rm_win_rate(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource) -> dg.MaterializeResult:
    config = llmfeedback.load()
    if not reward_enabled(config):
        return _skipped(context)
    wh = llmfeedback.warehouse(config)
    cands = reward_flow.candidates(wh.table("bestofn_samples"), wh.table("prompts"))
    table, stats = reward_flow.win_rates(llmfeedback.gateway(context, config, wh), config,
                                         wh.table("reranked_responses"), cands)
    wh.replace_table("rm_win_rate", table)
    pooled = table[table["responder_model"] == reward_flow.ALL_RESPONDERS]
    return dg.MaterializeResult(metadata=table_metadata(
        "rm_win_rate", table, pooled=_md(pooled), per_responder=_md(table, 60),
        reference_model=reward_flow.reference_model(config),
        **{f"win_rate/{r.reward_model}/{r.method}": float(r.rate) for r in pooled.itertuples() if pd.notna(r.rate)},
        **(stats.as_metadata() if stats else {})))


reward_assets = [feedback_ratings, feedback_rankings, feedback_consistency, preference_pairs, ratings_reward_model,
                 rankings_reward_model, bestofn_samples, reranked_responses, rm_win_rate]


def _beats_chance(llmfeedback: LLMFeedbackResource, name: str) -> dg.AssetCheckResult:
    if not reward_enabled(llmfeedback.load()):
        return dg.AssetCheckResult(passed=True, metadata={"skipped": "reward loop not configured"})
    row = reward_flow.latest_models(llmfeedback.warehouse(), name)
    if row.empty:
        return dg.AssetCheckResult(passed=False, metadata={"reason": f"no {name} in reward_models"})
    r = row.iloc[0]
    acc = r["val_pairwise_accuracy"]
    return dg.AssetCheckResult(passed=bool(pd.notna(acc) and acc > CHANCE), metadata={
        "val_pairwise_accuracy": float(acc) if pd.notna(acc) else "not measured",
        "n_val_pairs": int(r["n_val_pairs"]), "version": r["version"], "chance": CHANCE})


@dg.asset_check(asset=ratings_reward_model, blocking=True,
                description="The latest ratings reward model orders held-out preference pairs better than chance.")
def ratings_reward_model_above_chance(llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    return _beats_chance(llmfeedback, reward_flow.RATINGS_MODEL)


@dg.asset_check(asset=rankings_reward_model, blocking=True,
                description="The latest rankings reward model orders held-out preference pairs better than chance.")
def rankings_reward_model_above_chance(llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    return _beats_chance(llmfeedback, reward_flow.RANKINGS_MODEL)


reward_checks = [ratings_reward_model_above_chance, rankings_reward_model_above_chance]
