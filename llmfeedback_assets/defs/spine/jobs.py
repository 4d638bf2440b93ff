"""Named jobs of the spine."""

import dagster as dg

from ..partitions import judge_model_partitions

judge_everything = dg.define_asset_job(
    "judge_everything", selection=dg.AssetSelection.keys("judgments"), partitions_def=judge_model_partitions,
    description="Judge every response with one judge model (one run per judge_model partition).",
)
# Every asset partitioned by judge_model (a test checks this list against the definitions).
PER_JUDGE_ASSETS = ("judgments", "quality_scores", "curated_scores", "feedback_ratings", "feedback_rankings",
                    "conversation_judgments")
refresh_judge_partitions = dg.define_asset_job(
    "refresh_judge_partitions", selection=dg.AssetSelection.assets(*PER_JUDGE_ASSETS),
    description="Every per-judge asset of one judge (one run per judge_model partition); the nightly "
                "schedule runs the stale ones.",
)
ingest_and_respond = dg.define_asset_job(
    "ingest_and_respond", selection=dg.AssetSelection.keys("prompts", "sim_ground_truth", "responses"),
    description="Ingest prompt sources and answer new prompts with every responder.",
)

spine_jobs = [judge_everything, refresh_judge_partitions, ingest_and_respond]
